/* cancel_wait.c - pthread_cancel of a thread blocked in epoll_wait,
 * epoll_pwait, epoll_pwait2.
 *
 * Why: the three are cancellation points in glibc; natively a blocked
 * waiter is cancelled and joins, and its cleanup handlers run.  A
 * cancelled waiter must leave nothing behind: another thread then uses the
 * same instance (ctl + wait) normally.  100 rounds of cancel-then-reuse,
 * with one waiter and with two (a leader and a follower under the shim),
 * for each call; epoll_pwait with a full signal mask.  Then what is not a
 * plain deferred cancel:
 *   - a waiter of asynchronous cancel type is cancelled in the wait too;
 *   - a waiter with cancellation disabled keeps waiting and gets its
 *     event, and the cancel stays pending for its next cancellation point;
 *   - syscall(SYS_epoll_pwait2) is not a cancellation point (glibc's
 *     syscall() is not one): the waiter gets its event and is cancelled at
 *     its next pthread_testcancel; with asynchronous type it is cancelled
 *     in the wait.
 * A join that does not come within a generous bound is reported and the
 * program exits (no hang).
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>

#include "shimtest.h"

enum wait_kind { WAIT, PWAIT_MASKED, PWAIT2, SYSCALL_PWAIT2 };

static int g_ep;
static enum wait_kind g_kind;
static int g_async;              /* waiters switch to asynchronous type */
static volatile int g_cleanups;  /* cleanup handlers that ran */

static int wait_once(int timeout_ms, struct epoll_event *evs)
{
	sigset_t full, none;
	sigfillset(&full);
	sigemptyset(&none);
	struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	struct timespec *tsp = timeout_ms < 0 ? NULL : &ts;
	switch (g_kind) {
	case WAIT:
		return epoll_wait(g_ep, evs, 4, timeout_ms);
	case PWAIT_MASKED:
		return epoll_pwait(g_ep, evs, 4, timeout_ms, &full);
	case PWAIT2:
		return epoll_pwait2(g_ep, evs, 4, tsp, &none);
	case SYSCALL_PWAIT2:
		return (int)syscall(SYS_epoll_pwait2, g_ep, evs, 4, tsp, NULL, 8);
	}
	return -1;
}

static void count_cleanup(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&g_cleanups, 1, __ATOMIC_SEQ_CST);
}

static void *waiter(void *arg)
{
	(void)arg;
	struct epoll_event evs[4];
	pthread_cleanup_push(count_cleanup, NULL);
	if (g_async)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	for (;;)
		wait_once(-1, evs);
	pthread_cleanup_pop(0);
	return NULL;
}

/* Joins t within 10 s; 1 if it was cancelled. */
static int join_bounded(pthread_t t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	void *ret = NULL;
	int r = pthread_timedjoin_np(t, &ret, &ts);
	if (r != 0) {
		printf("join: %s\n", r == ETIMEDOUT ? "timed out (waiter never cancelled)" : "failed");
		fflush(stdout);
		_exit(3);
	}
	return ret == PTHREAD_CANCELED;
}

/* The waiters are blocked when the instance's wait has someone in it:
 * there is no portable way to see that, so give them time to get there
 * (a late cancel is still a cancel: the result does not depend on it). */
static void let_block(void)
{
	struct timespec ts = {0, 2000000};
	nanosleep(&ts, NULL);
}

/* The instance after the waiters are gone: ADD, an event, a wait that
 * reports it, DEL, nothing left.  1 if all of it went as natively. */
static int reuse(int efd)
{
	uint64_t one = 1, v;
	struct epoll_event ev;
	int ok = st_ctl(g_ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0x91) == 0;
	ok = ok && write(efd, &one, sizeof one) == sizeof one;
	ok = ok && epoll_wait(g_ep, &ev, 1, ST_SOON) == 1 && ev.data.u64 == 0x91;
	ok = ok && read(efd, &v, sizeof v) == sizeof v;
	ok = ok && st_ctl(g_ep, EPOLL_CTL_DEL, efd, 0, 0) == 0;
	ok = ok && epoll_wait(g_ep, &ev, 1, 0) == 0;
	return ok;
}

/* rounds x (create nw waiters, let them block, cancel, join, reuse). */
static void cancel_rounds(const char *name, int nw, int rounds)
{
	int efd = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	int cancelled = 0, reused = 0;
	g_cleanups = 0;
	for (int round = 0; round < rounds; round++) {
		pthread_t t[2];
		for (int i = 0; i < nw; i++)
			if (pthread_create(&t[i], NULL, waiter, NULL))
				ST_DIE("pthread_create");
		let_block();
		for (int i = 0; i < nw; i++)
			pthread_cancel(t[i]);
		for (int i = 0; i < nw; i++)
			cancelled += join_bounded(t[i]);
		reused += reuse(efd);
	}
	printf("%s, %d waiter%s%s: cancelled %d of %d, cleanups %d, instance reused %d of %d\n", name, nw,
	       nw > 1 ? "s" : "", g_async ? " (asynchronous type)" : "", cancelled, nw * rounds, g_cleanups,
	       reused, rounds);
	close(efd);
}

/* A waiter that is not cancelled in its wait: it records the wait's
 * result and a second wait's, then acts on the pending cancel at
 * pthread_testcancel.  It calls no other cancellation point: glibc 2.36
 * loses the cancel of a later thread that reuses the stack of one
 * cancelled inside a cancellable call (seen natively in this test), and
 * under the shim even syscall(SYS_read) is glibc's read(). */
static int g_efd;
static char g_result[128];

static void *waiter_not_cancelled_in_wait(void *arg)
{
	int disable = arg != NULL;
	struct epoll_event evs[4];
	if (disable)
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	int n = wait_once(-1, evs);
	int e = errno;
	/* The thread's waits still work: the event is still there. */
	int again = wait_once(0, evs);
	snprintf(g_result, sizeof g_result, "wait = %d%s%s data=%llx, again = %d", n, n < 0 ? " " : "",
		 n < 0 ? st_errname(e) : "", n > 0 ? (unsigned long long)evs[0].data.u64 : 0ULL, again);
	if (disable)
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	pthread_testcancel();
	return NULL;
}

/* Cancel a waiter that must not be cancelled in its wait (disabled, or a
 * wait that is no cancellation point), then give it its event. */
static void cancel_not_in_wait(const char *name, int disable, int rounds)
{
	g_efd = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	ST_OK(st_ctl(g_ep, EPOLL_CTL_ADD, g_efd, EPOLLIN, 0x92));
	int cancelled = 0, as_native = 0;
	for (int round = 0; round < rounds; round++) {
		pthread_t t;
		g_result[0] = 0;
		if (pthread_create(&t, NULL, waiter_not_cancelled_in_wait, disable ? &t : NULL))
			ST_DIE("pthread_create");
		let_block();
		pthread_cancel(t);
		let_block(); /* a wait that (wrongly) acted on it would be gone by now */
		uint64_t one = 1, v;
		if (write(g_efd, &one, sizeof one) != sizeof one)
			ST_DIE("write");
		cancelled += join_bounded(t);
		if (read(g_efd, &v, sizeof v) != sizeof v)
			ST_DIE("read");
		if (strcmp(g_result, "wait = 1 data=92, again = 1") == 0)
			as_native++;
		else if (as_native == round) /* the first that differs */
			printf("%s: round %d: %s\n", name, round, g_result);
	}
	printf("%s: wait got its event %d of %d, cancelled after %d of %d\n", name, as_native, rounds, cancelled,
	       rounds);
	ST_OK(st_ctl(g_ep, EPOLL_CTL_DEL, g_efd, 0, 0));
	close(g_efd);
}

static const char *names[] = {"epoll_wait", "epoll_pwait (full mask)", "epoll_pwait2",
			      "syscall(SYS_epoll_pwait2)"};

int main(void)
{
	alarm(55);
	g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	for (g_kind = WAIT; g_kind <= PWAIT2; g_kind++)
		for (int nw = 1; nw <= 2; nw++)
			cancel_rounds(names[g_kind], nw, 100);
	g_async = 1;
	for (g_kind = WAIT; g_kind <= SYSCALL_PWAIT2; g_kind++)
		cancel_rounds(names[g_kind], 2, 20);
	g_async = 0;
	g_kind = WAIT;
	cancel_not_in_wait("epoll_wait, cancellation disabled", 1, 20);
	g_kind = SYSCALL_PWAIT2;
	cancel_not_in_wait("syscall(SYS_epoll_pwait2), no cancellation point", 0, 20);
	close(g_ep);
	return 0;
}
