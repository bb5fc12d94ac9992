// interpose/hooks.hpp - what the hook files share: start-up, the
// next-definition calls with their raw fallbacks, errno conversion.
#pragma once

#include <sys/socket.h>

#include <cerrno>

#include "interpose/fdtable.hpp"
#include "interpose/next.hpp"

namespace uepoll::interpose {

// Sets up the fd table and the core with raw syscalls, and the fork
// handlers, once.  Every exported entry point calls it first; it is cheap
// after the first time and safe before constructors ran.
void ensure_init();

// A raw syscall, -errno on failure (interpose/sys_raw.cpp).
long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0);

// Turns a -errno result into the libc convention.
template <typename T = int> inline T errno_ret(long r)
{
	if (r < 0) {
		errno = static_cast<int>(-r);
		return static_cast<T>(-1);
	}
	return static_cast<T>(r);
}

// Calls the next definition of `name`, or, when there is none (or dlsym is
// running on this thread), the raw syscall `nr` with the same arguments.
#define UEPOLL_CALL_NEXT(type, name, nr, ...)                                                             \
	((::uepoll::interpose::next_resolve() && ::uepoll::interpose::real.name)                         \
		 ? ::uepoll::interpose::real.name(__VA_ARGS__)                                            \
		 : ::uepoll::interpose::errno_ret<type>(::uepoll::interpose::raw_syscall_args(nr __VA_OPT__(, ) __VA_ARGS__)))

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

// Marks fd as uepoll's own (the log file): the program's calls treat it as
// not open.
void fd_internal_mark(int fd);

// syscall(2) number nr returned fd: if nr creates fds, fd is not the
// number's previous occupant (a new file, or one to identify).
void syscall_made_fd(long nr, long arg0, long fd);

// close() for a close a signal handler deferred (core/deferred.cpp).
void hooks_close_deferred(int fd);

} // namespace uepoll::interpose
