// interpose/sys_raw.cpp - the kernel calls of core/platform.hpp as raw
// syscall(2)s: what the preloaded shim hands the core.  A raw syscall never
// re-enters our own exported symbols (nor another preload's), is not a
// glibc cancellation point, and never touches errno.
#include <cerrno>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kcmp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose/hooks.hpp"
#include "interpose/sys.hpp"

#if !defined(__x86_64__)
#error "uepoll's raw syscalls are written for x86-64 Linux"
#endif

namespace uepoll::interpose {

// syscall(2) without errno: the raw return value, -errno on failure.
static inline long raw(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0)
{
	long ret;
	register long r10 asm("r10") = d;
	register long r8 asm("r8") = e;
	register long r9 asm("r9") = f;
	asm volatile("syscall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
		     : "rcx", "r11", "memory");
	return ret;
}

long raw_syscall(long nr, long a, long b, long c, long d, long e, long f) { return raw(nr, a, b, c, d, e, f); }

#define L(x) reinterpret_cast<long>(x)

static long r_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	return raw(SYS_ppoll, L(fds), static_cast<long>(n), L(ts), L(mask), mask ? 8 : 0);
}
static long r_read(int fd, void *buf, size_t len) { return raw(SYS_read, fd, L(buf), static_cast<long>(len)); }
static long r_write(int fd, const void *buf, size_t len) { return raw(SYS_write, fd, L(buf), static_cast<long>(len)); }
static long r_close(int fd) { return raw(SYS_close, fd); }
static long r_eventfd(unsigned v, int flags) { return raw(SYS_eventfd2, v, flags); }
static long r_fcntl(int fd, int cmd, long arg) { return raw(SYS_fcntl, fd, cmd, arg); }
static long r_dup3(int a, int b, int flags) { return raw(SYS_dup3, a, b, flags); }
static long r_fstat(int fd, struct stat *st) { return raw(SYS_fstat, fd, L(st)); }
static long r_fstatfs(int fd, struct statfs *st) { return raw(SYS_fstatfs, fd, L(st)); }
static long r_readlink(const char *p, char *buf, size_t len) { return raw(SYS_readlink, L(p), L(buf), static_cast<long>(len)); }
static long r_open(const char *p, int flags) { return raw(SYS_openat, AT_FDCWD, L(p), flags, 0); }
static long r_getpid() { return raw(SYS_getpid); }
static long r_kcmp_file(int a, int b)
{
	long pid = r_getpid();
	return raw(SYS_kcmp, pid, pid, KCMP_FILE, a, b);
}
// process_vm_writev/readv on ourselves: the kernel checks the user range
// and reports EFAULT (or a short count) instead of faulting.
static long r_copy_to_user(void *dst, const void *src, size_t len)
{
	struct iovec local = {const_cast<void *>(src), len}, remote = {dst, len};
	return raw(SYS_process_vm_writev, r_getpid(), L(&local), 1, L(&remote), 1, 0);
}
static long r_copy_from_user(void *dst, const void *src, size_t len)
{
	struct iovec local = {dst, len}, remote = {const_cast<void *>(src), len};
	return raw(SYS_process_vm_readv, r_getpid(), L(&local), 1, L(&remote), 1, 0);
}
static long r_futex_wait(const uint32_t *addr, uint32_t expected)
{
	return raw(SYS_futex, L(addr), FUTEX_WAIT_PRIVATE, expected, 0);
}
static long r_futex_wake(const uint32_t *addr, int count) { return raw(SYS_futex, L(addr), FUTEX_WAKE_PRIVATE, count); }
static long r_monotonic(struct timespec *ts) { return raw(SYS_clock_gettime, CLOCK_MONOTONIC, L(ts)); }
static long r_nofile_limit()
{
	struct rlimit rl;
	if (raw(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, L(&rl)) < 0)
		return 1024;
	return rl.rlim_cur > 1L << 30 ? 1L << 30 : static_cast<long>(rl.rlim_cur);
}

static long r_inq(int fd)
{
	int n = 0;
	long r = raw(SYS_ioctl, fd, SIOCINQ, L(&n));
	return r < 0 ? r : n;
}

static long r_outq(int fd)
{
	int n = 0;
	long r = raw(SYS_ioctl, fd, SIOCOUTQ, L(&n));
	return r < 0 ? r : n;
}

static long r_sndbuf(int fd)
{
	int n = 0;
	socklen_t len = sizeof n;
	long r = raw(SYS_getsockopt, fd, SOL_SOCKET, SO_SNDBUF, L(&n), L(&len));
	return r < 0 ? r : n;
}

const sys_ops &sys_raw()
{
	static constexpr sys_ops ops = {
		r_ppoll, r_read, r_write, r_close, r_eventfd, r_fcntl, r_dup3, r_fstat, r_fstatfs, r_readlink, r_open,
		r_kcmp_file, r_copy_to_user, r_copy_from_user, r_futex_wait, r_futex_wake,
		r_monotonic, r_nofile_limit, r_inq, r_outq, r_sndbuf,
	};
	return ops;
}

} // namespace uepoll::interpose
