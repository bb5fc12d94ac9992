/* integration/shim/signal_storm.c - epoll calls from a signal handler on
 * the instance that the interrupted code is using.
 *
 * Natively each epoll call is one system call, and the handler runs
 * between two of them.  Under the shim a call takes user-space locks (the
 * instance's mutex across its zero-timeout poll, the wake-up path's
 * spinlocks): a handler that needs the lock its own thread holds would
 * wait forever, so the shim delivers a handler only when its thread holds
 * none (interpose/hooks_signal.cpp).
 *
 * A 100 us interval timer (SIGALRM) interrupts a loop of MOD, ADD, DEL and
 * zero-timeout waits for 2 s; its handler does a MOD and a zero-timeout
 * wait on the same instance.  The transcript holds what must be the same
 * natively and under the shim: every call returned what it should, the
 * handler ran, and the loop ended (a deadlock hangs it: compare.sh's bound
 * fails the test).
 */
#include <sys/eventfd.h>
#include "shimtest.h"

static int ep, efd;
static volatile sig_atomic_t handler_runs, handler_bad;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xa1};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev) != 0)
		handler_bad = 1;
	struct epoll_event out[4];
	int n = epoll_wait(ep, out, 4, 0);
	if (n != 1 || (out[0].data.u64 != 0xa1 && out[0].data.u64 != 0xb1))
		handler_bad = 1;
	handler_runs++;
	errno = saved;
}

int main(void)
{
	ep = ST_OK(epoll_create1(EPOLL_CLOEXEC));
	efd = ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC)); /* always readable */
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xb1};
	ST_OK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));

	st_alarm_storm(on_alarm, 0, 100);

	long rounds = 0, bad = 0;
	for (double end = st_now() + 2; st_now() < end; rounds++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0xb1};
		if (epoll_ctl(ep, EPOLL_CTL_MOD, efd, &e) != 0)
			bad++;
		e.data.u64 = 0xc1;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) != 0)
			bad++;
		struct epoll_event out[4];
		int n = epoll_wait(ep, out, 4, 0);
		if (n != 1) /* only the eventfd is ready; the pipe is empty */
			bad++;
		if (epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) != 0)
			bad++;
	}
	st_alarm_storm(NULL, 0, 0);
	fprintf(stderr, "shimtest: %ld rounds, %d handler runs\n", rounds, (int)handler_runs);
	st_step("loop ended with rounds", rounds > 0);
	st_step("calls in the loop that failed", bad);
	st_step("the handler ran", handler_runs > 0);
	st_step("calls in the handler that failed", handler_bad);
	return 0;
}
