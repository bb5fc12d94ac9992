/* threads_et.c - several threads block in epoll_wait on ONE instance with
 * one EPOLLET item: each event wakes exactly one of them.
 *
 * Why: multi-threaded servers share an instance between workers and rely
 * on the kernel waking a single waiter per edge (ep->wq waiters are
 * exclusive; with EPOLLET the item is not re-queued, so no chained
 * wake-up).  Under the shim one waiter leads a ppoll and the others
 * sleep as followers: a wrong hand-over wakes two threads for one event
 * (a thundering herd) or none (a lost wake-up).
 *
 * Procedure, for each of EVENTS rounds: write one byte; the thread that
 * wakes drains the pipe to EAGAIN and counts one wake; the main thread
 * waits (bounded, generously) until the count reaches the round number,
 * then goes on.  At the end it waits a little more so that an extra wake
 * has time to show, and prints the totals: wakes, returns with 0 events,
 * returns with more than one event, rounds that timed out.  Which thread
 * woke is not printed (the kernel does not define it).
 */
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#include "shimtest.h"

#define THREADS 4
#define EVENTS 50

static int ep, rd;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int wakes, empty_returns, multi_returns, wrong_data, errors;

static void *waiter(void *arg)
{
	(void)arg;
	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		long got = n > 0 ? st_drain(rd) : 0;
		(void)got;
		pthread_mutex_lock(&mu);
		if (n < 0)
			errors++;
		else if (n == 0)
			empty_returns++;
		else {
			wakes++;
			if (n > 1)
				multi_returns++;
			if (evs[0].data.u64 != 0x7e || !(evs[0].events & EPOLLIN))
				wrong_data++;
		}
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		if (n < 0)
			return NULL;
	}
}

/* Waits until wakes >= target, at most `ms` milliseconds; 1 if reached. */
static int wait_wakes(int target, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	int r = 0;
	while (wakes < target && r == 0)
		r = pthread_cond_timedwait(&cv, &mu, &until);
	int reached = wakes >= target;
	pthread_mutex_unlock(&mu);
	return reached;
}

int main(void)
{
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	rd = p[0];
	ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add IN|ET", st_ctl(ep, EPOLL_CTL_ADD, rd, EPOLLIN | EPOLLET, 0x7e));
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, waiter, NULL) != 0)
			ST_DIE("pthread_create");
	st_note("threads waiting = %d", THREADS);

	int timed_out = 0;
	for (int i = 1; i <= EVENTS; i++) {
		st_write1(p[1], 'x');
		if (!wait_wakes(i, 10000))
			timed_out++;
	}
	/* Room for a spurious extra wake to show (no timing is asserted:
	 * a correct run waits this long for nothing). */
	struct timespec quiet = {0, 300000000L};
	nanosleep(&quiet, NULL);

	pthread_mutex_lock(&mu);
	st_note("events = %d", EVENTS);
	st_note("wakes = %d", wakes);
	st_note("rounds without a wake within 10 s = %d", timed_out);
	st_note("returns with 0 events = %d", empty_returns);
	st_note("returns with more than 1 event = %d", multi_returns);
	st_note("returns with wrong data or events = %d", wrong_data);
	st_note("failed waits = %d", errors);
	pthread_mutex_unlock(&mu);
	fflush(stdout);
	/* The waiters block forever: end the process under them. */
	_exit(0);
}
