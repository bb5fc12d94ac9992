/* emfile_wait.c - epoll_wait in a new thread with the fd table full.
 *
 * Why: natively a wait never needs an fd.  A server at its fd limit that
 * starts a thread which then waits must not get EMFILE (issue 11: the
 * shim created the thread's wake-up eventfd lazily, at its first wait).
 * The table is filled with dup() up to RLIMIT_NOFILE (lowered to 256
 * first), then new threads wait: timeout 0, then a wait for an event.
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "shimtest.h"

static int g_ep;

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
	struct epoll_event evs[ST_MAXEV];
	st_events("new thread, wait for the event", epoll_wait(g_ep, evs, ST_MAXEV, ST_SOON), evs);
	return NULL;
}

int main(void)
{
	alarm(50);
	struct rlimit rl;
	ST_OK(getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = 256;
	ST_OK(setrlimit(RLIMIT_NOFILE, &rl));
	g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	st_step("add", st_ctl(g_ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0xb1));
	st_wait("main thread waits once", g_ep, 0);
	int filled = 0;
	while (dup(efd) >= 0)
		filled++;
	st_note("table full: %s", st_errname(errno));
	pthread_t t;
	if (pthread_create(&t, NULL, wait0, NULL))
		ST_DIE("pthread_create");
	pthread_join(t, NULL);
	if (pthread_create(&t, NULL, wait_event, NULL))
		ST_DIE("pthread_create");
	uint64_t one = 1;
	ST_OK(write(efd, &one, sizeof one));
	pthread_join(t, NULL);
	st_note("filled %d", filled > 0);
	return 0;
}
