// interpose/sys_libc.cpp - the kernel calls of interpose/sys.hpp through
// libc, for in-process tests that want them visible to strace-like tools
// and sanitizers.  Each saves and restores errno.
#include <cerrno>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kcmp.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "interpose/sys.hpp"

namespace uepoll::interpose {

template <typename F> static long keep_errno(F f)
{
	int saved = errno;
	long r = f();
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
}

static long l_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	return keep_errno([&] { return static_cast<long>(::ppoll(fds, n, ts, mask)); });
}
static long l_read(int fd, void *buf, size_t len) { return keep_errno([&] { return ::read(fd, buf, len); }); }
static long l_write(int fd, const void *buf, size_t len) { return keep_errno([&] { return ::write(fd, buf, len); }); }
static long l_close(int fd) { return keep_errno([&] { return static_cast<long>(syscall(SYS_close, fd)); }); }
static long l_eventfd(unsigned v, int flags) { return keep_errno([&] { return static_cast<long>(::eventfd(v, flags)); }); }
static long l_fcntl(int fd, int cmd, long arg) { return keep_errno([&] { return static_cast<long>(::fcntl(fd, cmd, arg)); }); }
static long l_dup3(int a, int b, int flags) { return keep_errno([&] { return static_cast<long>(syscall(SYS_dup3, a, b, flags)); }); }
static long l_fstat(int fd, struct stat *st) { return keep_errno([&] { return static_cast<long>(::fstat(fd, st)); }); }
static long l_fstatfs(int fd, struct statfs *st) { return keep_errno([&] { return static_cast<long>(::fstatfs(fd, st)); }); }
static long l_readlink(const char *p, char *buf, size_t len) { return keep_errno([&] { return ::readlink(p, buf, len); }); }
static long l_open(const char *p, int flags) { return keep_errno([&] { return static_cast<long>(::open(p, flags)); }); }
static long l_getpid() { return ::getpid(); }
static long l_gettid() { return ::gettid(); }
static long l_getuid() { return ::getuid(); }
static long l_kcmp_file(int a, int b)
{
	return keep_errno([&] { return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b); });
}
static long l_copy_to_user(void *dst, const void *src, size_t len)
{
	struct iovec local = {const_cast<void *>(src), len}, remote = {dst, len};
	return keep_errno([&] { return static_cast<long>(::process_vm_writev(getpid(), &local, 1, &remote, 1, 0)); });
}
static long l_copy_from_user(void *dst, const void *src, size_t len)
{
	struct iovec local = {dst, len}, remote = {const_cast<void *>(src), len};
	return keep_errno([&] { return static_cast<long>(::process_vm_readv(getpid(), &local, 1, &remote, 1, 0)); });
}
static long l_futex_wait(const uint32_t *addr, uint32_t expected)
{
	return keep_errno([&] { return syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, nullptr); });
}
static long l_futex_wake(const uint32_t *addr, int count)
{
	return keep_errno([&] { return syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, count); });
}
static long l_monotonic(struct timespec *ts) { return keep_errno([&] { return static_cast<long>(clock_gettime(CLOCK_MONOTONIC, ts)); }); }
static long l_nofile_limit()
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	return rl.rlim_cur > 1UL << 30 ? 1L << 30 : static_cast<long>(rl.rlim_cur);
}

static long l_inq(int fd)
{
	int n = 0;
	long r = keep_errno([&] { return static_cast<long>(::ioctl(fd, SIOCINQ, &n)); });
	return r < 0 ? r : n;
}

static long l_outq(int fd)
{
	int n = 0;
	long r = keep_errno([&] { return static_cast<long>(::ioctl(fd, SIOCOUTQ, &n)); });
	return r < 0 ? r : n;
}

static long l_sndbuf(int fd)
{
	int n = 0;
	socklen_t len = sizeof n;
	long r = keep_errno([&] { return static_cast<long>(::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, &len)); });
	return r < 0 ? r : n;
}

const sys_ops &sys_libc()
{
	static constexpr sys_ops ops = {
		l_ppoll, l_read, l_write, l_close, l_eventfd, l_fcntl, l_dup3, l_fstat, l_fstatfs, l_readlink, l_open,
		l_kcmp_file, l_copy_to_user, l_copy_from_user, l_futex_wait, l_futex_wake, l_gettid, l_getpid,
		l_getuid, l_monotonic, l_nofile_limit, l_inq, l_outq, l_sndbuf,
	};
	return ops;
}

} // namespace uepoll::interpose
