/* signal_close.c - a signal handler closes a watched fd while the main
 * thread is blocked in epoll_wait / epoll_pwait / epoll_pwait2.
 *
 * Why: close() is async-signal-safe, and programs do close fds from
 * handlers (timeouts, SIGCHLD cleanup).  Under the shim the interrupted
 * thread may be inside the engine's own code, holding its locks, when the
 * handler's close() reaches the shim again.  The kernel's contract: the
 * wait fails with EINTR (epoll waits are never restarted, SA_RESTART or
 * not), the closed fd's item is gone (its number can be ADDed afresh),
 * the other items keep working.
 *
 * Determinism: the signal must arrive while the thread is blocked in the
 * wait, not before.  For epoll_wait another thread sends it only once
 * /proc says the main thread sleeps in a blocking poll-family syscall
 * (epoll_wait/epoll_pwait/epoll_pwait2 natively, ppoll/poll under the
 * shim).  For epoll_pwait and epoll_pwait2 the signal is blocked and made
 * pending first, and the wait's mask unblocks it: it is delivered inside
 * the wait, by construction.  When an event is ready at the same time,
 * the kernel returns the event and leaves the signal pending (blocked
 * again); that case is checked too.  Last, the handler closes the epoll
 * fd itself under the waiting thread: the wait still ends with EINTR.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

#include "shimtest.h"

static volatile sig_atomic_t handler_ran;
static volatile sig_atomic_t close_result;
static volatile int fd_to_close = -1;
static pid_t main_tid;

static void on_signal(int sig)
{
	(void)sig;
	int e = errno;
	close_result = close(fd_to_close);
	handler_ran++;
	errno = e;
}

/* 1 if the main thread sleeps in a poll-family syscall. */
static int main_blocked_in_wait(void)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)main_tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long nr = -1;
	int ok = fgets(buf, sizeof buf, f) != NULL && sscanf(buf, "%ld", &nr) == 1;
	fclose(f);
	if (!ok)
		return 0;
	if (nr != SYS_epoll_wait && nr != SYS_epoll_pwait && nr != SYS_epoll_pwait2 && nr != SYS_ppoll &&
	    nr != SYS_poll)
		return 0;
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)main_tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	ok = fgets(buf, sizeof buf, f) != NULL;
	fclose(f);
	char *paren = strrchr(buf, ')');
	return ok && paren && paren[1] == ' ' && paren[2] == 'S';
}

static void *signaller(void *arg)
{
	(void)arg;
	/* Up to 20 s for the main thread to block (it takes microseconds). */
	for (int i = 0; i < 20000 && !main_blocked_in_wait(); i++) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	/* Sent whether or not it was seen blocked: if it was not, the
	 * transcript shows a timeout instead of EINTR, and the test fails. */
	syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
	return NULL;
}

struct fixture {
	int ep;
	int a[2]; /* a[0]: watched, closed by the handler */
	int b[2]; /* b[0]: watched, stays */
};

static struct fixture setup(const char *title)
{
	struct fixture f;
	st_note("-- %s", title);
	f.ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	ST_OK(pipe2(f.a, O_NONBLOCK | O_CLOEXEC));
	ST_OK(pipe2(f.b, O_NONBLOCK | O_CLOEXEC));
	st_step("add a", st_ctl(f.ep, EPOLL_CTL_ADD, f.a[0], EPOLLIN, 0xa));
	st_step("add b", st_ctl(f.ep, EPOLL_CTL_ADD, f.b[0], EPOLLIN, 0xb));
	handler_ran = 0;
	close_result = 99;
	fd_to_close = f.a[0];
	return f;
}

/* After the handler closed a[0]: its item is gone, b works, the number
 * takes a new ADD. */
static void check_after(struct fixture *f)
{
	st_step("handler ran", handler_ran);
	st_step("handler's close", close_result);
	st_wait("wait after the handler, nothing ready", f->ep, 0);
	st_step("del the closed fd", st_ctl(f->ep, EPOLL_CTL_DEL, f->a[0], 0, 0));
	st_write1(f->b[1], 'b');
	st_wait("wait after writing b", f->ep, ST_SOON);
	int n[2];
	ST_OK(pipe2(n, O_NONBLOCK | O_CLOEXEC));
	st_step("new pipe on the closed number", n[0] == f->a[0]);
	st_step("add it", st_ctl(f->ep, EPOLL_CTL_ADD, n[0], EPOLLIN, 0xc));
	st_write1(n[1], 'c');
	st_wait("wait after writing to it", f->ep, ST_SOON);
	close(n[0]);
	close(n[1]);
	close(f->a[1]);
	close(f->b[0]);
	close(f->b[1]);
	close(f->ep);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART; /* epoll waits are not restarted anyway */
	sigemptyset(&sa.sa_mask);
	ST_OK(sigaction(SIGUSR1, &sa, NULL));
	main_tid = (pid_t)syscall(SYS_gettid);
	struct epoll_event evs[ST_MAXEV];
	sigset_t usr1, unblocked, pending;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&unblocked);

	/* 1. epoll_wait, signal from another thread while blocked. */
	struct fixture f = setup("epoll_wait, signal from another thread");
	pthread_t t;
	if (pthread_create(&t, NULL, signaller, NULL) != 0)
		ST_DIE("pthread_create");
	st_events("epoll_wait (20 s bound)", epoll_wait(f.ep, evs, ST_MAXEV, 20000), evs);
	pthread_join(t, NULL);
	check_after(&f);

	/* 2. epoll_pwait: pending signal, unblocked by the wait's mask. */
	f = setup("epoll_pwait, pending signal unblocked by the mask");
	ST_OK(sigprocmask(SIG_BLOCK, &usr1, NULL));
	ST_OK(raise(SIGUSR1));
	st_step("handler ran before the wait", handler_ran);
	st_events("epoll_pwait (20 s bound)", epoll_pwait(f.ep, evs, ST_MAXEV, 20000, &unblocked), evs);
	check_after(&f);

	/* 3. epoll_pwait2, the same. */
	f = setup("epoll_pwait2, pending signal unblocked by the mask");
	ST_OK(raise(SIGUSR1));
	struct timespec bound = {20, 0};
	st_events("epoll_pwait2 (20 s bound)", epoll_pwait2(f.ep, evs, ST_MAXEV, &bound, &unblocked), evs);
	check_after(&f);

	/* 4. An event is ready as well: the kernel reports it and the signal
	 * stays pending (the old mask is back before it can be delivered);
	 * the next wait, with nothing ready, takes it. */
	f = setup("epoll_pwait with an event ready and a signal pending");
	st_write1(f.b[1], 'b');
	ST_OK(raise(SIGUSR1));
	st_events("epoll_pwait", epoll_pwait(f.ep, evs, ST_MAXEV, 20000, &unblocked), evs);
	st_step("handler ran", handler_ran);
	ST_OK(sigpending(&pending));
	st_step("SIGUSR1 still pending", sigismember(&pending, SIGUSR1));
	st_step("drain b", st_drain(f.b[0]));
	st_events("epoll_pwait again", epoll_pwait(f.ep, evs, ST_MAXEV, 20000, &unblocked), evs);
	check_after(&f);

	/* 5. The handler closes the epoll fd itself: the wait holds the
	 * instance until it returns (EINTR); the number is dead after. */
	f = setup("epoll_wait, the handler closes the epoll fd");
	fd_to_close = f.ep;
	ST_OK(sigprocmask(SIG_UNBLOCK, &usr1, NULL));
	if (pthread_create(&t, NULL, signaller, NULL) != 0)
		ST_DIE("pthread_create");
	st_events("epoll_wait (20 s bound)", epoll_wait(f.ep, evs, ST_MAXEV, 20000), evs);
	pthread_join(t, NULL);
	st_step("handler ran", handler_ran);
	st_step("handler's close", close_result);
	st_events("wait on the closed epoll fd", epoll_wait(f.ep, evs, ST_MAXEV, 0), evs);
	st_step("ctl on the closed epoll fd", st_ctl(f.ep, EPOLL_CTL_DEL, f.a[0], 0, 0));
	int ep2 = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("new instance: add a", st_ctl(ep2, EPOLL_CTL_ADD, f.a[0], EPOLLIN, 0xa2));
	st_write1(f.a[1], 'a');
	st_wait("new instance: wait", ep2, ST_SOON);
	return 0;
}
