// core/platform.hpp - the engine's platform contract: the kernel calls the
// core may make and the fd table it is handed.  It belongs to the core, as
// mimalloc's prim.h belongs to mimalloc; interpose/sys_raw.cpp and
// interpose/fdtable.cpp implement it, and interpose/init.cpp hands both
// tables to core_init().
//
// The core never calls a function the shim interposes (no read(), close(),
// poll(), syscall() ... of libc): every kernel call goes through `sys_ops`,
// so it can never re-enter the shim's own exported symbols, nor another
// preload's, and none of them is a glibc cancellation point.  What it does
// call from libc is not interposed and makes no fd: pthread_*, sigfillset,
// sched_yield, clock_gettime (vDSO), the allocator.
//
// Rules for every `sys_ops` entry:
//   - returns >= 0 on success and -errno on failure (never touches errno);
//   - is async-signal-safe (the close path may run inside a signal handler);
//   - never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <csignal>
#include <ctime>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>

namespace uepoll::core {

struct epfile;

struct sys_ops {
	// ppoll(2) with the caller's signal mask installed atomically for the
	// wait; ts == nullptr waits forever.
	long (*ppoll)(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		      const sigset_t *mask);
	long (*read)(int fd, void *buf, size_t len);
	long (*write)(int fd, const void *buf, size_t len);
	long (*close)(int fd);
	// eventfd2(2); flags are EFD_* (the core always asks for EFD_CLOEXEC).
	long (*eventfd)(unsigned initval, int flags);
	long (*fcntl)(int fd, int cmd, long arg);
	long (*dup3)(int oldfd, int newfd, int flags);
	long (*fstat)(int fd, struct stat *st);
	long (*fstatfs)(int fd, struct statfs *st);
	long (*readlink)(const char *path, char *buf, size_t len);
	long (*open)(const char *path, int flags);
	// pread(2) at offset off.
	long (*pread)(int fd, void *buf, size_t len, long off);
	// kcmp(2) KCMP_FILE on two fds of this process: 0 same open file,
	// 1 or 2 an order, 3 different, -ENOSYS/-EPERM when unavailable.
	long (*kcmp_file)(int fd1, int fd2);
	// Copies between the core and the caller's memory.  They report -EFAULT
	// instead of faulting (process_vm_{read,write}v on ourselves), and
	// return how many bytes were copied before a fault.
	long (*copy_to_user)(void *dst, const void *src, size_t len);
	long (*copy_from_user)(void *dst, const void *src, size_t len);
	// futex(2) FUTEX_WAIT/FUTEX_WAKE (private) on a 32-bit word.
	long (*futex_wait)(const uint32_t *addr, uint32_t expected);
	long (*futex_wake)(const uint32_t *addr, int count);
	// rt_sigprocmask(2) on this thread (how: SIG_BLOCK, SIG_UNBLOCK ...).
	long (*sigprocmask)(int how, const sigset_t *set, sigset_t *old);
	// clock_gettime(CLOCK_MONOTONIC).
	long (*monotonic)(struct timespec *ts);
	// The soft RLIMIT_NOFILE.
	long (*nofile_limit)();
	// ioctl(SIOCINQ): the bytes queued for reading on a socket (for a
	// datagram socket, the size of the first datagram), or -errno.
	long (*inq)(int fd);
	// ioctl(SIOCOUTQ): for an AF_UNIX socket, the memory its sent skbs
	// still hold (sk_wmem_alloc - 1), or -errno.
	long (*outq)(int fd);
	// getsockopt(SO_SNDBUF): sk_sndbuf, or -errno.
	long (*sndbuf)(int fd);
};

// The fd table as the core sees it: the twins of fdget()/fput() and
// fd_install().  interpose/fdtable.cpp implements them; the core never
// looks at fd numbers any other way.
struct file_ops {
	// Returns the open file behind fd with a reference held, or nullptr
	// with *err set: -EBADF (not open, or O_PATH).  Never allocates from a
	// signal handler's point of view: see fdtable.cpp.
	epfile *(*fget)(int fd, long *err);
	// Publishes a new fd (a fake epoll fd) with its file.
	void (*fd_install)(int fd, epfile *file);
	// Marks an fd as uepoll's own (a wake-up eventfd): the program's
	// calls treat it as not open, so it never closes or reuses it.
	// Unmarking leaves a number the program got meanwhile alone.
	void (*fd_internal)(int fd, bool internal);
	// fd, which the table maps to file, was found closed behind our back
	// (a ppoll said POLLNVAL): forget it, as if it had been closed here.
	void (*fd_closed_unseen)(int fd, epfile *file);
	// Runs close() for an fd whose close a signal handler deferred.
	void (*close_deferred)(int fd);
};

} // namespace uepoll::core
