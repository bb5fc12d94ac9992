/* number_reuse.c - an fd number freed behind the shim's back and reused
 * by a call the shim does not see is a new file, not the old one.
 *
 * Why: libuv's uv_loop_fork pattern (a forked child closes its inherited
 * loop's epoll fd and starts a new loop) freed the epoll fd's number
 * without the shim seeing the close; open() then returned that number,
 * and write() on it failed with EINVAL without any system call: the shim
 * still took it for the epoll instance.  Here the number is freed by a
 * true raw close (an inline system call, no libc symbol at all) and
 * reused by each of the usual creators the shim may not hook: open,
 * openat, creat, memfd_create, timerfd_create, signalfd, inotify_init1,
 * pidfd_open, fopen.  The new file must behave as itself: written, read,
 * watched, closed.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include "inline_syscall.h"
#include "shimtest.h"

static const char *tmpfile_path(void)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/uepoll-number-reuse-%d", (int)getpid());
	return path;
}

/* Each creator returns a new fd (the lowest free number). */
static int c_open(void) { return open(tmpfile_path(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); }
static int c_openat(void) { return openat(AT_FDCWD, tmpfile_path(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); }
static int c_creat(void) { return creat(tmpfile_path(), 0600); }
static int c_memfd(void) { return memfd_create("uepoll-test", MFD_CLOEXEC); }
static int c_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }
static int c_signalfd(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	return signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
}
static int c_inotify(void) { return inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }
static int c_pidfd(void) { return (int)syscall(SYS_pidfd_open, getpid(), 0); }
static int c_fopen(void)
{
	FILE *f = fopen(tmpfile_path(), "w+e");
	return f ? fileno(f) : -1; /* the FILE is leaked on purpose: only its fd is used */
}
static int c_sys_open(void) { return (int)syscall(SYS_openat, AT_FDCWD, tmpfile_path(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); }

static void one_case(const char *name, int (*create)(void), int io)
{
	printf("-- %s on a freed epoll fd number\n", name);
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int efd = (int)ST_OK(eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
	st_step("add", st_ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN, 0x71));
	st_wait("ready", ep, ST_SOON);
	st_step("raw close of the epoll fd", inline_close(ep));
	int fd = create();
	if (fd < 0)
		ST_DIE("%s", name);
	st_step("same number", fd == ep);
	if (io) {
		st_step("write", write(fd, "abc", 3));
		st_step("lseek", lseek(fd, 0, SEEK_SET));
		char buf[4];
		st_step("read", read(fd, buf, 3));
	}
	/* A second instance: the new file is what the kernel says it is. */
	int ep2 = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add the new file", st_ctl(ep2, EPOLL_CTL_ADD, fd, EPOLLIN, 0x72));
	st_step("ctl with it as an epoll fd", st_ctl(fd, EPOLL_CTL_ADD, efd, EPOLLIN, 0x73));
	struct epoll_event evs[ST_MAXEV];
	st_events("wait on it as an epoll fd", epoll_wait(fd, evs, ST_MAXEV, 0), evs);
	st_step("close the new file", close(fd));
	st_step("close ep2", close(ep2));
	st_step("close efd", close(efd));
}

int main(void)
{
	alarm(50);
	one_case("open", c_open, 1);
	one_case("openat", c_openat, 1);
	one_case("creat", c_creat, 0);
	one_case("memfd_create", c_memfd, 1);
	one_case("timerfd_create", c_timerfd, 0);
	one_case("signalfd", c_signalfd, 0);
	one_case("inotify_init1", c_inotify, 0);
	one_case("pidfd_open", c_pidfd, 0);
	one_case("fopen", c_fopen, 1);
	one_case("syscall(SYS_openat)", c_sys_open, 1);
	unlink(tmpfile_path());
	return 0;
}
