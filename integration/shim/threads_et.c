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
 * wakes drains the pipe to EAGAIN and counts one wake and the bytes it
 * got; the main thread waits (bounded, generously) until the byte has
 * been consumed, then goes on.  A second thread woken for the same edge
 * finds the pipe empty: that is counted ("wakes that found nothing to
 * read"), as the kernel never does it here.  (Counting wakes alone is
 * not enough: the byte of the next round can be drained by the extra
 * waiter, merging two rounds into one wake and hiding the extra one.)
 * At the end the main thread waits a little more so that a late extra
 * wake has time to show.  This is done in PHASES child processes, each
 * with a fresh instance and fresh threads (a wrong hand-over may depend
 * on how the threads happened to line up at the start), and the totals
 * are printed.  Which thread woke is not printed (the kernel does not
 * define it).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include "shimtest.h"

#define THREADS 4
#define EVENTS 250
#define PHASES 4

static int ep, rd;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int wakes, empty_wakes, consumed, empty_returns, multi_returns, wrong_data, errors;

static void *waiter(void *arg)
{
	(void)arg;
	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		long got = n > 0 ? st_drain(rd) : 0;
		pthread_mutex_lock(&mu);
		if (n < 0)
			errors++;
		else if (n == 0)
			empty_returns++;
		else {
			wakes++;
			consumed += (int)got;
			if (got == 0)
				empty_wakes++;
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

/* Waits until consumed >= target, at most `ms` milliseconds; 1 if
 * reached. */
static int wait_consumed(int target, int ms)
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
	while (consumed < target && r == 0)
		r = pthread_cond_timedwait(&cv, &mu, &until);
	int reached = consumed >= target;
	pthread_mutex_unlock(&mu);
	return reached;
}

/* One phase, in a child process of its own (fresh instance, fresh
 * threads): prints its totals as one line for the parent to add up. */
static void phase(int out)
{
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	rd = p[0];
	ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	if (st_ctl(ep, EPOLL_CTL_ADD, rd, EPOLLIN | EPOLLET, 0x7e) != 0)
		ST_DIE("epoll_ctl ADD");
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, waiter, NULL) != 0)
			ST_DIE("pthread_create");

	int timed_out = 0;
	for (int i = 1; i <= EVENTS; i++) {
		st_write1(p[1], 'x');
		if (!wait_consumed(i, 10000))
			timed_out++;
	}
	/* Room for a late extra wake to show (no timing is asserted: a
	 * correct run waits this long for nothing). */
	struct timespec quiet = {0, 100000000L};
	nanosleep(&quiet, NULL);

	pthread_mutex_lock(&mu);
	dprintf(out, "%d %d %d %d %d %d %d %d\n", consumed, wakes, empty_wakes, timed_out, empty_returns,
		multi_returns, wrong_data, errors);
	pthread_mutex_unlock(&mu);
	/* The waiters block forever: end the process under them. */
	_exit(0);
}

int main(void)
{
	long sum[8] = {0};
	for (int k = 0; k < PHASES; k++) {
		char line[256];
		st_phase_line(k, phase, line, sizeof line);
		long v[8];
		if (sscanf(line, "%ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7]) != 8)
			ST_DIE("phase %d: bad report", k);
		for (int i = 0; i < 8; i++)
			sum[i] += v[i];
	}
	st_note("phases = %d, threads per phase = %d, events per phase = %d", PHASES, THREADS, EVENTS);
	st_note("bytes consumed = %ld", sum[0]);
	st_note("wakes = %ld", sum[1]);
	st_note("wakes that found nothing to read = %ld", sum[2]);
	st_note("rounds not consumed within 10 s = %ld", sum[3]);
	st_note("returns with 0 events = %ld", sum[4]);
	st_note("returns with more than 1 event = %ld", sum[5]);
	st_note("returns with wrong data or events = %ld", sum[6]);
	st_note("failed waits = %ld", sum[7]);
	return 0;
}
