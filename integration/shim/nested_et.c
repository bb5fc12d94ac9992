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
 * Part 2 repeats one edge 4 x 25000 times on an observed inner instance
 * (write, wait, wait again with timeout 0, drain), each quarter in a
 * fresh child process, and counts the rounds in which the ET item was
 * reported twice for one write (uepoll 0.1.0 did so in up to a few percent
 * of them, more on a loaded machine: the helper's poll saw the byte too
 * and queued the item again after the program's wait had reported it).
 */
#include <fcntl.h>
#include <poll.h>
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

/* The steady state of an observed instance: ROUNDS times, write one
 * byte, wait (one report), wait with timeout 0 (no new data: nothing),
 * drain to EAGAIN (which re-arms the edge).  Counts the rounds whose
 * second wait reported the item again, and those whose first did not.
 * Runs in a child process of its own (a fresh helper thread), PHASES
 * times; the parent adds the counts up. */
#define ROUNDS 25000
#define PHASES 4

static void steady_state(int report)
{
	int p[2];
	char buf[16];
	struct epoll_event out[8];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	int inner = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int outer = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	ST_OK(st_ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 0x1));
	ST_OK(st_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 0x3));
	ST_OK(epoll_wait(outer, out, 8, 0)); /* inner is observed from now on */
	int doubles = 0, missed = 0;
	for (int i = 0; i < ROUNDS; i++) {
		st_write1(p[1], 'x');
		if (epoll_wait(inner, out, 8, ST_SOON) != 1)
			missed++;
		if (epoll_wait(inner, out, 8, 0) != 0)
			doubles++;
		while (read(p[0], buf, sizeof buf) > 0) {
		}
	}
	dprintf(report, "%d %d\n", doubles, missed);
	/* _exit: a normal exit with the helper running is exit_observed.c's
	 * subject. */
	_exit(0);
}

int main(void)
{
	st_note("-- nesting");
	transcript();
	st_note("-- one write, one report: %d phases of %d rounds", PHASES, ROUNDS);
	long doubles = 0, missed = 0;
	for (int k = 0; k < PHASES; k++) {
		char line[64];
		st_phase_line(k, steady_state, line, sizeof line);
		long d, m;
		if (sscanf(line, "%ld %ld", &d, &m) != 2)
			ST_DIE("phase %d: bad report", k);
		doubles += d;
		missed += m;
	}
	st_note("rounds with a double report = %ld", doubles);
	st_note("rounds with no report = %ld", missed);
	return 0;
}
