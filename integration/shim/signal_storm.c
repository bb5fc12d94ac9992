/* signal_storm.c - a signal handler that calls epoll_ctl and epoll_wait(0)
 * on the instance the interrupted code is using.
 *
 * Why: natively these are plain system calls, safe in a handler; a
 * user-space epoll must not hold a lock across a point where the handler
 * can run and then need it (issue 11: ep_modify -> ppoll -> handler ->
 * epoll_ctl -> the instance's mutex, already held: a deadlock).  A 100 us
 * interval timer fires for 2 s while the main thread MODs and waits on
 * the same instance; the handler MODs a second item and waits with
 * timeout 0.  A watchdog thread (the signal blocked in it) reports a hang
 * and exits.  Results: how many calls failed (natively none).
 */
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <time.h>

#include "shimtest.h"

static int g_ep, g_e1, g_e2;
static volatile sig_atomic_t g_handler_fail, g_handler_runs;
static volatile int g_done;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	struct epoll_event ev = {EPOLLIN, {.u64 = 0xa2}};
	if (epoll_ctl(g_ep, EPOLL_CTL_MOD, g_e2, &ev) != 0)
		g_handler_fail++;
	struct epoll_event out[4];
	if (epoll_wait(g_ep, out, 4, 0) < 0)
		g_handler_fail++;
	g_handler_runs++;
	errno = saved;
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300 && !__atomic_load_n(&g_done, __ATOMIC_ACQUIRE); i++) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	if (!__atomic_load_n(&g_done, __ATOMIC_ACQUIRE)) {
		printf("hang: the storm did not end within 30 s\n");
		fflush(stdout);
		_exit(3);
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	g_e1 = (int)ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
	g_e2 = (int)ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
	st_step("add e1", st_ctl(g_ep, EPOLL_CTL_ADD, g_e1, EPOLLIN, 0xa1));
	st_step("add e2", st_ctl(g_ep, EPOLL_CTL_ADD, g_e2, EPOLLIN, 0xa2));

	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL))
		ST_DIE("pthread_create");
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	ST_OK(sigaction(SIGALRM, &sa, NULL));
	struct itimerval it = {{0, 100}, {0, 100}};
	ST_OK(setitimer(ITIMER_REAL, &it, NULL));

	long main_fail = 0, rounds = 0;
	double end = now() + 2.0;
	while (now() < end) {
		struct epoll_event ev = {EPOLLIN | (rounds & 1 ? EPOLLET : 0), {.u64 = 0xa1}};
		if (epoll_ctl(g_ep, EPOLL_CTL_MOD, g_e1, &ev) != 0)
			main_fail++;
		struct epoll_event out[4];
		int n = epoll_wait(g_ep, out, 4, 0);
		if (n < 0 && errno != EINTR)
			main_fail++;
		rounds++;
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	__atomic_store_n(&g_done, 1, __ATOMIC_RELEASE);
	pthread_join(wd, NULL);
	st_note("main failures = %ld", main_fail);
	st_note("handler failures = %d", (int)g_handler_fail);
	st_note("handler ran = %d", g_handler_runs > 0);
	st_note("main ran = %d", rounds > 0);
	st_wait("both still ready", g_ep, ST_SOON);
	return 0;
}
