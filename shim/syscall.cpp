// shim/syscall.cpp - syscall(2): the calls uepoll follows, when a program
// makes them by number, go to the same code as their libc functions.
//
// Daemons close everything with syscall(SYS_close_range, 3, ~0U, 0), libuv
// closes with syscall(SYS_close, fd), some programs reach epoll only by
// number: passed straight to the kernel, a close would leave a watched fd
// in its instances (and close our own fds), an epoll_ctl would find an
// eventfd where the program has its epoll fd.  Each number below takes the
// kernel's arguments (a raw sigset size, no varargs) and returns like
// syscall(): -1 and errno.  io_uring_setup is refused with ENOSYS: an
// io_uring would submit epoll_ctl and close behind our back (libuv and
// liburing then fall back to plain calls, as on a kernel without it).
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "interpose/hooks.hpp"
#include "shim/api.hpp"

namespace uepoll::api {

using namespace uepoll::interpose;

namespace {

template <typename T> T *ptr(long v) { return reinterpret_cast<T *>(v); }

} // namespace

long syscall(long nr, long a, long b, long c, long d, long e, long f)
{
	int ia = static_cast<int>(a);
	switch (nr) {
	case SYS_io_uring_setup:
		return errno_ret<long>(-ENOSYS);
	// fd life-cycle
	case SYS_close:
		return api::close(ia);
	case SYS_close_range:
		return api::close_range(static_cast<unsigned>(a), static_cast<unsigned>(b), static_cast<int>(c));
	case SYS_dup:
		return api::dup(ia);
#ifdef SYS_dup2
	case SYS_dup2:
		return api::dup2(ia, static_cast<int>(b));
#endif
	case SYS_dup3:
		return api::dup3(ia, static_cast<int>(b), static_cast<int>(c));
	case SYS_fcntl:
		return api::fcntl(ia, static_cast<int>(b), c);
	// epoll
#ifdef SYS_epoll_create
	case SYS_epoll_create:
		return api::epoll_create(ia);
#endif
	case SYS_epoll_create1:
		return api::epoll_create1(ia);
	case SYS_epoll_ctl:
		return api::epoll_ctl(ia, static_cast<int>(b), static_cast<int>(c), ptr<struct epoll_event>(d));
#ifdef SYS_epoll_wait
	case SYS_epoll_wait:
		return api::epoll_wait_syscall(ia, ptr<struct epoll_event>(b), static_cast<int>(c), static_cast<int>(d));
#endif
	case SYS_epoll_pwait:
		return api::epoll_pwait_sized(ia, ptr<struct epoll_event>(b), static_cast<int>(c), static_cast<int>(d),
					      ptr<const sigset_t>(e), static_cast<size_t>(f));
	case SYS_epoll_pwait2:
		return api::epoll_pwait2_sized(ia, ptr<struct epoll_event>(b), static_cast<int>(c),
					       ptr<const struct timespec>(d), ptr<const sigset_t>(e), static_cast<size_t>(f));
	// creators: a new file, never the number's previous occupant
	case SYS_eventfd2:
		return api::eventfd(static_cast<unsigned>(a), static_cast<int>(b));
	case SYS_socket:
		return api::socket(ia, static_cast<int>(b), static_cast<int>(c));
	case SYS_socketpair:
		return api::socketpair(ia, static_cast<int>(b), static_cast<int>(c), ptr<int>(d));
	case SYS_pipe2:
		return api::pipe2(ptr<int>(a), static_cast<int>(b));
	case SYS_accept4:
		return api::accept4(ia, ptr<struct sockaddr>(b), ptr<socklen_t>(c), static_cast<int>(d));
	// I/O: an edge-triggered item re-arms from these
	case SYS_read:
		return api::read(ia, ptr<void>(b), static_cast<size_t>(c));
	case SYS_write:
		return api::write(ia, ptr<const void>(b), static_cast<size_t>(c));
	case SYS_readv:
		return api::readv(ia, ptr<const struct iovec>(b), static_cast<int>(c));
	case SYS_writev:
		return api::writev(ia, ptr<const struct iovec>(b), static_cast<int>(c));
	case SYS_recvfrom:
		return api::recvfrom(ia, ptr<void>(b), static_cast<size_t>(c), static_cast<int>(d), ptr<struct sockaddr>(e),
				ptr<socklen_t>(f));
	case SYS_sendto:
		return api::sendto(ia, ptr<const void>(b), static_cast<size_t>(c), static_cast<int>(d),
			      ptr<const struct sockaddr>(e), static_cast<socklen_t>(f));
	case SYS_recvmsg:
		return api::recvmsg(ia, ptr<struct msghdr>(b), static_cast<int>(c));
	case SYS_sendmsg:
		return api::sendmsg(ia, ptr<const struct msghdr>(b), static_cast<int>(c));
	// a sandbox of the program's own
	case SYS_seccomp:
		return api::seccomp(static_cast<unsigned>(a), static_cast<unsigned>(b), ptr<void>(c));
	// a new process that may keep our fds (no fork() handler runs): the
	// in-process pairs are no longer known to have every writer here
	case SYS_clone:
		if (!(a & CLONE_THREAD))
			core::ep_files_may_escape();
		break;
#ifdef SYS_clone3
	case SYS_clone3: // its flags are in user memory: taken as a new process
		core::ep_files_may_escape();
		break;
#endif
#ifdef SYS_fork
	case SYS_fork:
#endif
#ifdef SYS_vfork
	case SYS_vfork:
#endif
		core::ep_files_may_escape();
		break;
	default:
		break;
	}
	long r = next_resolve() && real.syscall ? real.syscall(nr, a, b, c, d, e, f)
						 : errno_ret<long>(raw_syscall(nr, a, b, c, d, e, f));
	if (r >= 0)
		syscall_made_fd(nr, a, r);
	return r;
}

} // namespace uepoll::api
