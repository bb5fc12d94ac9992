/* integration/shim/signal_wakeup_fd.c - a signal handler that writes to a
 * pipe the interrupted epoll_wait is watching: Python's signal.set_wakeup_fd
 * (asyncio's self-pipe), and many C event loops' self-pipe trick.
 *
 * Why: the handler's write() goes through the shim's write hook, which
 * wakes the pipe's items and so takes the instance's lock.  When the
 * signal interrupted the waiting thread while it held that lock (inside
 * epoll_wait, collecting what its poll saw), the handler spun on it for
 * ever: Python's test_asyncio.test_subprocess hung this way (issue 11,
 * item 4: a child's SIGCHLD arriving during the parent's epoll_wait).  The
 * shim now delivers a handler only when its thread holds no uepoll lock.
 *
 * A 100 us SIGALRM storm for 2 s; the main thread loops in epoll_wait on
 * the pipe's read end (level-triggered), reading what the handler wrote.
 * A hang fails compare.sh's time bound.
 */
#include "shimtest.h"

static int wake_w;
static volatile sig_atomic_t handled;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	char c = 'w';
	(void)!write(wake_w, &c, 1); /* may fill the pipe: EAGAIN is fine */
	handled++;
	errno = saved;
}

int main(void)
{
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	wake_w = p[1];
	int ep = ST_OK(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x5e1f};
	ST_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	st_alarm_storm(on_alarm, SA_RESTART, 100);
	long waits = 0, reported = 0, bad = 0;
	for (double end = st_now() + 2; st_now() < end; waits++) {
		struct epoll_event out[4];
		int n = epoll_wait(ep, out, 4, 10);
		if (n < 0 && errno != EINTR)
			bad++;
		for (int i = 0; i < n; i++) {
			if (out[i].data.u64 != 0x5e1f)
				bad++;
			reported++;
			char buf[256];
			while (read(p[0], buf, sizeof buf) > 0) {
			}
		}
	}
	st_alarm_storm(NULL, 0, 0);
	fprintf(stderr, "shimtest: %ld waits, %ld reports, %d handler runs\n", waits, reported, (int)handled);
	st_step("loop ended", waits > 0);
	st_step("waits that failed or reported something else", bad);
	st_step("the handler's writes were reported", reported > 0);
	return 0;
}
