/* raw_syscalls.c - the fd life-cycle and epoll calls made through
 * syscall(2) instead of their libc wrappers.
 *
 * Why: daemons and code written for glibc before 2.34 call
 * syscall(SYS_close_range, ...), libuv closes with syscall(SYS_close, fd),
 * and some programs reach epoll_* only by number.  Under the shim every one
 * of them must do what the libc function does: a close must take the fd
 * out of its instances and free the fake epoll instance (a wait on the
 * closed number then says EBADF, the next close returns), a dup must be
 * followed, and the epoll numbers must work on the fds epoll_create1()
 * returned, with the kernel's conventions (raw sigset size, -1/errno).
 * A hang is bounded by alarm(): the run then dies of SIGALRM and the two
 * runs differ.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "shimtest.h"

static long sc_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.u64 = data;
	return syscall(SYS_epoll_ctl, ep, op, fd, &ev);
}

/* epoll numbers on an epoll fd made by the libc wrapper, and the reverse. */
static void epoll_numbers(void)
{
	struct epoll_event evs[ST_MAXEV];
	sigset_t mask;
	sigemptyset(&mask);
	struct timespec zero = {0, 0};

	st_note("-- epoll numbers on epoll_create1()'s fd");
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	st_step("SYS_epoll_ctl ADD", sc_ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 0x31));
	st_step("SYS_epoll_ctl ADD again", sc_ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0x31));
	st_step("SYS_epoll_ctl MOD", sc_ctl(ep, EPOLL_CTL_MOD, efd, EPOLLIN, 0x32));
	st_step("SYS_epoll_ctl bad op", sc_ctl(ep, 77, efd, EPOLLIN, 0));
	st_events("SYS_epoll_wait idle", (int)syscall(SYS_epoll_wait, ep, evs, ST_MAXEV, 0), evs);
	uint64_t one = 1;
	ST_OK(write(efd, &one, sizeof one));
	st_events("SYS_epoll_wait", (int)syscall(SYS_epoll_wait, ep, evs, ST_MAXEV, ST_SOON), evs);
	st_events("SYS_epoll_pwait", (int)syscall(SYS_epoll_pwait, ep, evs, ST_MAXEV, 0, &mask, 8), evs);
	st_events("SYS_epoll_pwait bad sigsetsize",
		  (int)syscall(SYS_epoll_pwait, ep, evs, ST_MAXEV, 0, &mask, 4), evs);
	st_events("SYS_epoll_pwait2", (int)syscall(SYS_epoll_pwait2, ep, evs, ST_MAXEV, &zero, &mask, 8), evs);
	st_events("SYS_epoll_pwait2 bad sigsetsize",
		  (int)syscall(SYS_epoll_pwait2, ep, evs, ST_MAXEV, &zero, &mask, 16), evs);
	st_events("SYS_epoll_wait maxevents 0", (int)syscall(SYS_epoll_wait, ep, evs, 0, 0), evs);
	st_step("SYS_epoll_ctl DEL", sc_ctl(ep, EPOLL_CTL_DEL, efd, 0, 0));
	st_events("epoll_wait after DEL", epoll_wait(ep, evs, ST_MAXEV, 0), evs);

	st_note("-- epoll_create numbers, used through libc");
	int ep2 = (int)ST_OK(syscall(SYS_epoll_create1, EPOLL_CLOEXEC));
	st_step("SYS_epoll_create1 bad flags", syscall(SYS_epoll_create1, 12345));
#ifdef SYS_epoll_create
	st_step("SYS_epoll_create 0", syscall(SYS_epoll_create, 0));
	int ep3 = (int)ST_OK(syscall(SYS_epoll_create, 1));
	st_step("ep3 watches ep2", st_ctl(ep3, EPOLL_CTL_ADD, ep2, EPOLLIN, 0x33));
#endif
	st_step("ep2 watches ep", st_ctl(ep2, EPOLL_CTL_ADD, ep, EPOLLIN, 0x34));
	st_step("ep2 ADD efd", st_ctl(ep2, EPOLL_CTL_ADD, efd, EPOLLIN, 0x35));
	st_wait("ep2 ready", ep2, ST_SOON);
#ifdef SYS_epoll_create
	st_wait("ep3 ready", ep3, ST_SOON);
	st_step("SYS_close ep3", syscall(SYS_close, ep3));
#endif
	st_step("SYS_close ep2", syscall(SYS_close, ep2));
	st_step("SYS_close ep2 again", syscall(SYS_close, ep2));
	st_events("epoll_wait closed ep2", epoll_wait(ep2, evs, ST_MAXEV, 0), evs);
	st_step("close efd", close(efd));
	st_step("close ep", close(ep));
}

/* dup numbers: the copy is the same file (its item follows it). */
static void dup_numbers(void)
{
	st_note("-- dup, dup3, fcntl(F_DUPFD) through syscall");
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("add read end", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x41));
	int d1 = (int)syscall(SYS_dup, p[0]);
	int d2 = (int)syscall(SYS_fcntl, p[0], F_DUPFD_CLOEXEC, 200);
	st_step("SYS_fcntl F_DUPFD_CLOEXEC >= 200", d2 >= 200);
	st_step("SYS_dup3 onto 210", syscall(SYS_dup3, p[0], 210, O_CLOEXEC));
#ifdef SYS_dup2
	st_step("SYS_dup2 onto 211", syscall(SYS_dup2, p[0], 211));
#endif
	st_step("SYS_close read end", syscall(SYS_close, p[0]));
	st_write1(p[1], 'x');
	st_wait("item lives on through the dups", ep, ST_SOON);
	st_step("SYS_close dup", syscall(SYS_close, d1));
	st_step("SYS_close F_DUPFD copy", syscall(SYS_close, d2));
#ifdef SYS_dup2
	st_step("SYS_close 211", syscall(SYS_close, 211));
#endif
	st_wait("still there: 210 is open", ep, ST_SOON);
	st_step("SYS_close_range 210..210", syscall(SYS_close_range, 210, 210, 0));
	st_wait("gone with the last fd", ep, 0);
	/* The number can be reused for a new file, which is a new item. */
	int q[2];
	ST_OK(pipe2(q, O_NONBLOCK | O_CLOEXEC));
	st_step("add new pipe", st_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 0x42));
	st_write1(q[1], 'y');
	st_wait("new pipe ready", ep, ST_SOON);
	close(q[0]);
	close(q[1]);
	close(p[1]);
	close(ep);
}

/* Everything above 2 closed by one raw close_range: the closed epoll fd
 * says EBADF, close() returns, a new instance works. */
static void close_everything(int use_loop)
{
	st_note(use_loop ? "-- SYS_close on every fd up to RLIMIT_NOFILE" : "-- SYS_close_range(3, ~0U, 0)");
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = (int)ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
	st_step("add", st_ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0x51));
	st_wait("ready", ep, ST_SOON);
	if (use_loop) {
		struct rlimit rl;
		ST_OK(getrlimit(RLIMIT_NOFILE, &rl));
		int closed = 0;
		for (long fd = 3; fd < (long)rl.rlim_cur; fd++)
			if (syscall(SYS_close, fd) == 0)
				closed++;
		st_step("fds closed", closed);
	} else {
		st_step("SYS_close_range", syscall(SYS_close_range, 3, ~0U, 0));
	}
	struct epoll_event evs[ST_MAXEV];
	st_events("wait on the closed epoll fd", epoll_wait(ep, evs, ST_MAXEV, 0), evs);
	st_step("ctl on the closed epoll fd", st_ctl(ep, EPOLL_CTL_ADD, 0, EPOLLIN, 0));
	st_step("close the closed epoll fd", close(ep));
	st_step("close the closed eventfd", close(efd));
	int ep2 = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("new instance add", st_ctl(ep2, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x52));
	st_write1(p[1], 'z');
	st_wait("new instance ready", ep2, ST_SOON);
	st_step("close new instance", close(ep2));
	close(p[0]);
	close(p[1]);
}

static void phase(int k)
{
	pid_t pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		alarm(20); /* a hang kills the child: the transcripts differ */
		close_everything(k);
		fflush(stdout);
		_exit(0);
	}
	int status;
	ST_OK(waitpid(pid, &status, 0));
	st_note("child %d: %s %d", k, WIFEXITED(status) ? "exit" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int main(void)
{
	alarm(50);
	epoll_numbers();
	dup_numbers();
	phase(0);
	phase(1);
	return 0;
}
