/* internal_fds_closed.c - every fd above 2 closed by system calls no
 * interposer sees (inline syscall instructions), the shim's own fds
 * included.
 *
 * Why: a program may close all its fds without libc (its own syscall
 * stubs, a static helper).  Natively nothing of epoll lives in fds the
 * program did not open: a new instance then works.  Under the shim its
 * internal fds (per-thread wake-up eventfds, the helper's: a poll() on
 * the instance starts the helper first) are gone too;
 * the shim must notice and recreate them, never wait unbounded (issue 11
 * item 3b: the next close() hung in helper_wait_poll_leaves).  Each
 * phase runs in a child bounded by alarm().
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "inline_syscall.h"
#include "shimtest.h"

static int g_ep;

static void run(int threads)
{
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xc1));
	st_write1(p[1], 'x');
	st_wait("ready", ep, ST_SOON);
	/* poll() on the instance: from now on the shim's helper thread keeps
	 * its fake fd right, sleeping on an internal fd of its own. */
	struct pollfd pf = {ep, POLLIN, 0};
	st_step("poll the instance", poll(&pf, 1, ST_SOON));
	st_drain(p[0]);
	st_step("poll the instance, drained", poll(&pf, 1, 0));
	struct rlimit rl;
	ST_OK(getrlimit(RLIMIT_NOFILE, &rl));
	int closed = 0;
	for (long fd = 3; fd < (long)rl.rlim_cur; fd++)
		closed += inline_close((int)fd) == 0;
	st_step("closed some", closed > 0);
	struct epoll_event evs[ST_MAXEV];
	st_events("wait on the closed epoll fd", epoll_wait(ep, evs, ST_MAXEV, 0), evs);
	st_step("close the closed epoll fd", close(ep));
	g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("new instance add", st_ctl(g_ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xc2));
	pthread_t t;
	if (threads && pthread_create(&t, NULL, st_wait_thread, (void *)(intptr_t)g_ep))
		ST_DIE("pthread_create");
	st_write1(p[1], 'y');
	if (threads)
		pthread_join(t, NULL);
	st_wait("main wait", g_ep, ST_SOON);
	st_step("close new pipe", close(p[0]));
	st_wait("nothing left", g_ep, 0);
	st_step("close new instance", close(g_ep));
}

int main(void)
{
	for (int k = 0; k < 2; k++) {
		pid_t pid = (pid_t)ST_OK(fork());
		if (pid == 0) {
			alarm(15);
			run(k);
			fflush(stdout);
			_exit(0);
		}
		int status;
		ST_OK(waitpid(pid, &status, 0));
		st_note("child %d: %s %d", k, WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	return 0;
}
