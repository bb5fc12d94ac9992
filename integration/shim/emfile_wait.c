/* emfile_wait.c - epoll_wait in a new thread with the fd table full.
 *
 * Why: natively a wait never needs an fd.  A server at its fd limit that
 * starts a thread which then waits must not get EMFILE (issue 11: the
 * shim created the thread's wake-up eventfd lazily, at its first wait).
 * The table is filled with dup() up to RLIMIT_NOFILE (lowered to 256
 * first), then new threads wait: timeout 0, then a wait for an event.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "shimtest.h"

static int g_ep;
static int g_started;

static void *wait0(void *arg)
{
	(void)arg;
	struct epoll_event evs[ST_MAXEV];
	st_events("new thread, wait 0", epoll_wait(g_ep, evs, ST_MAXEV, 0), evs);
	return NULL;
}

static void *wait_event(void *arg)
{
	(void)arg;
	__atomic_store_n(&g_started, 1, __ATOMIC_RELEASE);
	struct epoll_event evs[ST_MAXEV];
	st_events("new thread, wait for the event", epoll_wait(g_ep, evs, ST_MAXEV, ST_SOON), evs);
	return NULL;
}

int main(void)
{
	alarm(50);
	st_limit_nofile(256);
	g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	st_step("add", st_ctl(g_ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0xb1));
	st_wait("main thread waits once", g_ep, 0);
	int filled = 0, first = -1, last = -1;
	for (int fd; (fd = dup(efd)) >= 0; filled++) {
		if (first < 0)
			first = fd;
		last = fd;
	}
	st_note("table full: %s", st_errname(errno));
	pthread_t t;
	if (pthread_create(&t, NULL, wait0, NULL))
		ST_DIE("pthread_create");
	pthread_join(t, NULL);
	if (pthread_create(&t, NULL, wait_event, NULL))
		ST_DIE("pthread_create");
	/* The thread blocks (it needs whatever a blocked wait needs) before
	 * the event comes; a late one finds it ready, the result is the same. */
	while (!__atomic_load_n(&g_started, __ATOMIC_ACQUIRE))
		sched_yield();
	struct timespec ts = {0, 20000000};
	nanosleep(&ts, NULL);
	uint64_t one = 1;
	ST_OK(write(efd, &one, sizeof one));
	pthread_join(t, NULL);
	st_note("filled %d", filled > 0);
	/* Room again for what runs at exit. */
	for (int fd = first; fd >= 0 && fd <= last; fd++)
		if (fd != efd && fd != g_ep)
			close(fd);
	return 0;
}
