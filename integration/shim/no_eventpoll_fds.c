/* no_eventpoll_fds.c - under the shim no kernel epoll instance exists.
 *
 * Why: the point of uepoll is that epoll is answered in user space; a
 * code path that fell through to the kernel's epoll_create (a missed
 * entry point, a fallback) would still "work" and pass every comparison.
 * This program creates instances every way a program can (epoll_create,
 * epoll_create1 with and without EPOLL_CLOEXEC, nested, dup'ed, in a
 * forked child, in several threads, with items and waits), then counts
 * its fds whose /proc/self/fd link is "anon_inode:[eventpoll]".  Not a
 * comparison: ctest checks the native transcript
 * (no_eventpoll_fds.native.txt: 7 such fds in the parent, 8 in the child,
 * showing that the count works) and the uepoll one
 * (no_eventpoll_fds.uepoll.txt: 0, and at least as many
 * anon_inode:[eventfd] fds as the program has epoll fds).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

#include "shimtest.h"

#define THREADS 2

static void *thread_main(void *arg)
{
	int *out = arg;
	*out = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev[2];
	if (*out >= 0)
		(void)epoll_wait(*out, ev, 2, 0);
	return NULL;
}

/* The program holds `fds` epoll fds: how many are kernel instances, and
 * are there at least as many eventfds (what the shim makes instead; the
 * program itself makes none)? */
static void counts(const char *who, int fds)
{
	st_note("%s: anon_inode:[eventpoll] fds = %d", who, st_count_fd_links("anon_inode:[eventpoll]"));
	st_note("%s: at least %d anon_inode:[eventfd] fds = %d", who, fds,
		st_count_fd_links("anon_inode:[eventfd]") >= fds);
}

int main(void)
{
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	int a = (int)ST_OK(epoll_create(1));
	int b = (int)ST_OK(epoll_create1(0));
	int c = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int d = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	ST_OK(st_ctl(a, EPOLL_CTL_ADD, p[0], EPOLLIN, 1));
	ST_OK(st_ctl(b, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 2));
	ST_OK(st_ctl(c, EPOLL_CTL_ADD, a, EPOLLIN, 3)); /* nested */
	ST_OK(st_ctl(d, EPOLL_CTL_ADD, p[1], EPOLLOUT, 4));
	st_write1(p[1], 'x');
	struct epoll_event ev[4];
	ST_OK(epoll_wait(c, ev, 4, ST_SOON));
	ST_OK(epoll_wait(d, ev, 4, ST_SOON));
	int e = (int)ST_OK(dup(a));
	(void)e;
	int t[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&th[i], NULL, thread_main, &t[i]) != 0)
			ST_DIE("pthread_create");
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		if (t[i] < 0)
			ST_DIE("epoll_create1 in a thread");
	}
	st_note("instances created = %d (one of them with 2 fds)", 4 + THREADS);
	counts("parent", 4 + THREADS + 1);
	pid_t pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		int f = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
		ST_OK(st_ctl(f, EPOLL_CTL_ADD, p[0], EPOLLIN, 5));
		ST_OK(epoll_wait(f, ev, 4, ST_SOON));
		ST_OK(epoll_wait(a, ev, 4, ST_SOON));
		counts("child, after one more instance", 4 + THREADS + 2);
		/* _exit: a normal exit with the helper thread running is
		 * exit_observed.c's subject, not this test's. */
		_exit(0);
	}
	int status;
	ST_OK(waitpid(pid, &status, 0));
	st_step("child exit status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	fflush(stdout);
	_exit(0);
}
