/* nested_et.c - an instance watched by another instance (or by poll):
 * readiness propagates outward, and an EPOLLET item of the inner instance
 * still reports one event per edge.
 *
 * Why: event loops nest instances (libraries with their own loop, glib
 * sources, an epoll fd handed to poll()).  Under the shim an inner
 * instance that has been polled from outside is "observed": the helper
 * thread polls its items too, concurrently with the program's own
 * epoll_wait on it.  The kernel's contract does not change: one write,
 * one edge, one report.  Part 1 is a transcript of the nesting itself.
 * Part 2 repeats the racy moment (the first write right after the inner
 * instance became observed, the helper thread having been started in the
 * parent before fork) in 1000 child processes and counts the children in
 * which the ET item was reported twice for one write (uepoll 0.1.0 did so
 * in about 1% of them).
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "shimtest.h"

static void transcript(void)
{
	int p[2], q[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ST_OK(pipe2(q, O_NONBLOCK | O_CLOEXEC));
	int inner = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int outer = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("inner: add p IN|ET", st_ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 0x1));
	st_step("inner: add q IN", st_ctl(inner, EPOLL_CTL_ADD, q[0], EPOLLIN, 0x2));
	st_step("outer: add inner", st_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 0x10));
	st_step("inner: add outer (a loop)", st_ctl(inner, EPOLL_CTL_ADD, outer, EPOLLIN, 0x20));
	st_wait("outer: wait, nothing", outer, 0);
	st_write1(p[1], 'x');
	st_wait("outer: after writing p", outer, ST_SOON);
	st_wait("inner: wait", inner, ST_SOON);
	st_wait("inner: wait again (ET)", inner, 0);
	st_wait("outer: wait again", outer, 0);
	st_write1(q[1], 'y');
	st_wait("outer: after writing q", outer, ST_SOON);
	struct pollfd pfd = {inner, POLLIN, 0};
	st_step("poll on inner", poll(&pfd, 1, ST_SOON));
	st_note("poll revents = %s", st_bits((uint32_t)pfd.revents));
	st_wait("inner: wait", inner, ST_SOON);
	st_wait("inner: wait again (LT)", inner, 0);
	st_step("drain q", st_drain(q[0]));
	st_wait("outer: after draining q", outer, 0);
	pfd.revents = 0;
	st_step("poll on inner, nothing", poll(&pfd, 1, 0));
	st_step("drain p", st_drain(p[0]));
	st_write1(p[1], 'z');
	st_wait("outer: after a new write to p", outer, ST_SOON);
	st_wait("inner: wait", inner, ST_SOON);
	st_wait("inner: wait again (ET)", inner, 0);
	close(outer);
	close(inner);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

/* One run of the racy moment; exit status 0 if the edge was reported
 * exactly once, 1 if twice, 2 if never. */
static int race_once(void)
{
	int p[2], sv[2];
	struct epoll_event out[8];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ST_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
	int inner = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int outer = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	ST_OK(st_ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 0x1));
	ST_OK(st_ctl(inner, EPOLL_CTL_ADD, sv[0], EPOLLIN, 0x2));
	ST_OK(st_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 0x3));
	ST_OK(epoll_wait(inner, out, 8, 1));  /* nothing: times out */
	ST_OK(epoll_wait(outer, out, 8, 0));  /* nothing; inner is observed */
	st_write1(p[1], 'x');
	int n1 = epoll_wait(inner, out, 8, ST_SOON);
	int n2 = epoll_wait(inner, out, 8, 0); /* ET, no I/O since */
	if (n1 != 1)
		return 2;
	return n2 == 0 ? 0 : 1;
}

int main(void)
{
	st_note("-- nesting");
	transcript();
	st_note("-- 1000 children: one write, one report");
	int counts[4] = {0, 0, 0, 0};
	for (int i = 0; i < 1000; i++) {
		pid_t pid = (pid_t)ST_OK(fork());
		if (pid == 0)
			_exit(race_once());
		int status;
		ST_OK(waitpid(pid, &status, 0));
		int k = WIFEXITED(status) && WEXITSTATUS(status) <= 2 ? WEXITSTATUS(status) : 3;
		counts[k]++;
	}
	st_note("children with one report = %d", counts[0]);
	st_note("children with a double report = %d", counts[1]);
	st_note("children with no report = %d", counts[2]);
	st_note("children that failed otherwise = %d", counts[3]);
	return 0;
}
