/* cancel_wait.c - pthread_cancel of a thread blocked in epoll_wait,
 * epoll_pwait, epoll_pwait2.
 *
 * Why: the three are cancellation points in glibc; natively a blocked
 * waiter is cancelled and joins.  A cancelled waiter must leave nothing
 * behind: another thread then uses the same instance (ctl + wait)
 * normally.  100 rounds of cancel-then-reuse, with one and with two
 * waiters.  A join that does not come within a generous bound is
 * reported and the program exits (no hang).
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>

#include "shimtest.h"

static int g_ep;
static int g_kind;

static void *waiter(void *arg)
{
	(void)arg;
	struct epoll_event evs[4];
	sigset_t m;
	sigemptyset(&m);
	for (;;) {
		if (g_kind == 0)
			epoll_wait(g_ep, evs, 4, -1);
		else if (g_kind == 1)
			epoll_pwait(g_ep, evs, 4, -1, &m);
		else
			epoll_pwait2(g_ep, evs, 4, NULL, &m);
	}
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

static const char *names[] = {"epoll_wait", "epoll_pwait", "epoll_pwait2"};

int main(void)
{
	alarm(55);
	for (g_kind = 0; g_kind < 3; g_kind++) {
		g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
		int efd = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
		int cancelled = 0, reused = 0;
		for (int nw = 1; nw <= 2; nw++) {
			for (int round = 0; round < 100; round++) {
				pthread_t t[2];
				for (int i = 0; i < nw; i++)
					if (pthread_create(&t[i], NULL, waiter, NULL))
						ST_DIE("pthread_create");
				let_block();
				for (int i = 0; i < nw; i++)
					pthread_cancel(t[i]);
				for (int i = 0; i < nw; i++)
					cancelled += join_bounded(t[i]);
				/* Reuse: ADD, an event, a wait that reports it, DEL. */
				uint64_t one = 1, v;
				int ok = st_ctl(g_ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0x91) == 0;
				ok = ok && write(efd, &one, sizeof one) == sizeof one;
				struct epoll_event ev;
				ok = ok && epoll_wait(g_ep, &ev, 1, ST_SOON) == 1 && ev.data.u64 == 0x91;
				ok = ok && read(efd, &v, sizeof v) == sizeof v;
				ok = ok && st_ctl(g_ep, EPOLL_CTL_DEL, efd, 0, 0) == 0;
				ok = ok && epoll_wait(g_ep, &ev, 1, 0) == 0;
				reused += ok;
			}
		}
		printf("%s: cancelled %d of 300, instance reused %d of 200\n", names[g_kind], cancelled, reused);
		close(efd);
		close(g_ep);
	}
	return 0;
}
