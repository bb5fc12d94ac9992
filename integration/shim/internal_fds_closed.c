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
 *
 * The third phase then gives every free number to files of its own
 * (socketpairs with 4 bytes waiting in one end), the shim's old numbers
 * included: the shim must never read or write them as its own (a stray
 * drain would take bytes, a stray kick would add some).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "inline_syscall.h"
#include "shimtest.h"

static int g_ep;

/* The refill phase: pairs[i][0] has 4 bytes waiting from pairs[i][1]. */
static int pairs[200][2];
static int npairs;

static void refill(void)
{
	while (npairs < 200 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pairs[npairs]) == 0) {
		ST_OK(write(pairs[npairs][1], "abcd", 4));
		npairs++;
	}
	st_step("refilled some", npairs > 10);
	/* Room for what the rest needs (and for the shim's own fds). */
	for (int i = 0; i < 5; i++) {
		npairs--;
		close(pairs[npairs][0]);
		close(pairs[npairs][1]);
	}
}

static void check_pairs(void)
{
	int bad = 0;
	for (int i = 0; i < npairs; i++) {
		int in0 = -1, in1 = -1;
		ioctl(pairs[i][0], FIONREAD, &in0);
		ioctl(pairs[i][1], FIONREAD, &in1);
		bad += in0 != 4 || in1 != 0;
	}
	st_note("socketpairs read or written by someone else = %d", bad);
}

static void run(int mode)
{
	int threads = mode >= 1;
	if (mode == 2)
		st_limit_nofile(256);
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
	if (mode == 2)
		refill();
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
	if (mode == 2) {
		/* The helper again (its control fd was lost), and a wait that
		 * blocks until a thread's write wakes it. */
		struct pollfd pf2 = {g_ep, POLLIN, 0};
		st_step("poll the new instance", poll(&pf2, 1, ST_SOON));
		st_drain(p[0]);
		if (pthread_create(&t, NULL, st_wait_thread, (void *)(intptr_t)g_ep))
			ST_DIE("pthread_create");
		usleep(20000);
		st_write1(p[1], 'z');
		pthread_join(t, NULL);
		st_drain(p[0]);
		check_pairs();
	}
	st_step("close new pipe", close(p[0]));
	st_wait("nothing left", g_ep, 0);
	st_step("close new instance", close(g_ep));
}

int main(void)
{
	for (int k = 0; k < 3; k++) {
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
