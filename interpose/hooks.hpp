// interpose/hooks.hpp - what the hook files share: start-up, the
// next-definition calls with their raw fallbacks, errno conversion.
#pragma once

#include <sys/socket.h>

#include <cerrno>

#include "interpose/fdtable.hpp"
#include "interpose/init.hpp"
#include "interpose/next.hpp"
#include "interpose/raw.hpp"

namespace uepoll::interpose {



// Turns a -errno result into the libc convention.
template <typename T = int> inline T errno_ret(long r)
{
	if (r < 0) {
		errno = static_cast<int>(-r);
		return static_cast<T>(-1);
	}
	return static_cast<T>(r);
}

// The one errno idiom above the core (epoll-shim's ERRNO_SAVE/ERRNO_RETURN):
// saves errno when made; ret(r) turns the core's count-or-(-errno) into
// libc's convention, leaving errno as the caller had it on success, however
// many internal calls changed it on the way.
class errno_keeper {
	int saved_ = errno;

public:
	template <typename T = int> T ret(long r) const
	{
		if (r < 0)
			return errno_ret<T>(r);
		errno = saved_;
		return static_cast<T>(r);
	}
};

// Keeps errno across the bookkeeping a hook does after the real call (the
// fd table, the core's hints), whatever system calls that makes: the
// program sees the errno of its own call.
class errno_guard {
	int saved_ = errno;

public:
	errno_guard() = default;
	errno_guard(const errno_guard &) = delete;
	errno_guard &operator=(const errno_guard &) = delete;
	~errno_guard() { errno = saved_; }
	int saved() const { return saved_; }
};

// Calls the next definition of `name`, or, when there is none (or dlsym is
// running on this thread), the raw syscall `nr` with the same arguments.
#define UEPOLL_CALL_NEXT(type, name, nr, ...)                                                             \
	((::uepoll::interpose::next_resolve() && ::uepoll::interpose::real.name)                         \
		 ? ::uepoll::interpose::real.name(__VA_ARGS__)                                            \
		 : ::uepoll::interpose::errno_ret<type>(::uepoll::interpose::raw_syscall_args(nr __VA_OPT__(, ) __VA_ARGS__)))

// The same where the raw syscall takes other arguments than the libc
// function (the sigset size of ppoll, pselect6, epoll_pwait...):
// raw_args is the parenthesised (nr, args...) of the raw call.
#define UEPOLL_CALL_NEXT_RAW(type, name, raw_args, ...)                                                   \
	((::uepoll::interpose::next_resolve() && ::uepoll::interpose::real.name)                         \
		 ? ::uepoll::interpose::real.name(__VA_ARGS__)                                            \
		 : ::uepoll::interpose::errno_ret<type>(::uepoll::interpose::raw_syscall_args raw_args))

template <typename... A> inline long raw_syscall_args(long nr, A... a)
{
	return raw_syscall(nr, (long)(a)...);
}

// The result of an I/O call as the core's hints take it: count or -errno.
inline long io_result(long r) { return r >= 0 ? r : -errno; }

// Gives the core the edge-triggered hint for an I/O call on fd, if any
// instance watches its file (or its peer's) edge-triggered.
void io_hint(int fd, uintptr_t slot, bool read_side, long result, long requested);
void io_hint_stamped(int fd, uintptr_t slot, bool read_side, long result, long requested, const core::io_stamp &st);
// Around an I/O call: the stamp taken before it and its I/O window.
struct io_call {
	core::io_stamp st;
	core::io_window win;
};
io_call io_begin(int fd, uintptr_t slot, bool read_side);
void io_end(io_call &c);

// interpose/loopback.cpp: sockets of this process talking to each other.
void loopback_listening(int fd);
void loopback_bound(int fd);
void loopback_connected(int fd, const struct sockaddr *dest);
// Our listener that a connect() to dest reaches, referenced, or null.
core::epfile *loopback_listener_for(const struct sockaddr *dest);
void loopback_accepted(int fd);
// The last fd of f is being closed: if f is one of our listeners, the
// connections of ours it still queues are reset.
void loopback_closing(core::epfile *f);
// shutdown(fd, how) of f succeeded: SHUT_RD or SHUT_RDWR stops a listener
// of ours (the same resets as its close).
void loopback_shutdown(core::epfile *f, int how);

// syscall(2) number nr returned fd: if nr creates fds, fd is not the
// number's previous occupant (a new file, or one to identify).
void syscall_made_fd(long nr, long arg0, long fd);

// open/openat/fopen of path with these flags (hooks_create.cpp): tells the
// core when the max_user_watches sysctl is opened for writing.
void note_open_for_write(const char *path, int flags);

// close() for a close a signal handler deferred (core/deferred.cpp).
void hooks_close_deferred(int fd);

} // namespace uepoll::interpose
