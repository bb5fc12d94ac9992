/* nested_et_race.c - two threads wait on e0, which watches e1 with
 * EPOLLET; e1 watches a socketpair end (EPOLLET, then level-triggered).
 * One byte is written: exactly one of the two waiters may report e1.
 *
 * Why: issue 11 saw both waiters report it under the shim, in about 1 of
 * 10 runs with both cores loaded: a race, so it is repeated (500 rounds
 * per variant).  After the first report, a "stop" eventfd (also in e0)
 * wakes the other waiter, which then must report the stop item alone.
 * Natively the count of rounds with a double report is 0.
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "shimtest.h"

static int g_e0;
static int g_reports; /* reports of e1 in this round */
static int g_waits_done;

static void *waiter(void *arg)
{
	(void)arg;
	int stop_seen = 0;
	while (!stop_seen) {
		struct epoll_event evs[4];
		int n = epoll_wait(g_e0, evs, 4, ST_SOON);
		if (n <= 0)
			break; /* a lost wake-up: the round's count shows it */
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == 0xd1)
				__atomic_add_fetch(&g_reports, 1, __ATOMIC_ACQ_REL);
			else
				stop_seen = 1;
		}
	}
	__atomic_add_fetch(&g_waits_done, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

static int round_once(int inner_et)
{
	int s[2];
	ST_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s));
	int e1 = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	g_e0 = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int stop = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	ST_OK(st_ctl(e1, EPOLL_CTL_ADD, s[0], EPOLLIN | (inner_et ? EPOLLET : 0), 0xd0));
	ST_OK(st_ctl(g_e0, EPOLL_CTL_ADD, e1, EPOLLIN | EPOLLET, 0xd1));
	/* The stop item is edge-triggered too: one write wakes... every
	 * waiter that looks after it, so each waiter sees it. */
	ST_OK(st_ctl(g_e0, EPOLL_CTL_ADD, stop, EPOLLIN, 0xd2));
	__atomic_store_n(&g_reports, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&g_waits_done, 0, __ATOMIC_RELEASE);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, waiter, NULL))
			ST_DIE("pthread_create");
	st_write1(s[1], 'x');
	/* Wait (bounded) for the first report, then release everyone. */
	for (int i = 0; i < 5000 && __atomic_load_n(&g_reports, __ATOMIC_ACQUIRE) == 0; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	uint64_t one = 1;
	ST_OK(write(stop, &one, sizeof one));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	int reports = __atomic_load_n(&g_reports, __ATOMIC_ACQUIRE);
	close(stop);
	close(g_e0);
	close(e1);
	close(s[0]);
	close(s[1]);
	return reports;
}

int main(void)
{
	alarm(55);
	for (int et = 1; et >= 0; et--) {
		int counts[3] = {0, 0, 0};
		for (int r = 0; r < 500; r++) {
			int n = round_once(et);
			counts[n > 2 ? 2 : n]++;
		}
		printf("inner %s: rounds with 0 reports = %d, 1 report = %d, 2+ reports = %d\n",
		       et ? "ET" : "LT", counts[0], counts[1], counts[2]);
	}
	return 0;
}
