// shim/api.hpp - every function libuepoll.so exports, callable in-process.
//
// shim/exports.cpp turns each of these into the libc symbol of the same
// name (a one-line forward).  The in-process test backend and the fuzzer
// call them directly, so tests exercise exactly the code a preloaded
// program runs.  Each behaves like the libc function it replaces: -1 and
// errno on failure, errno untouched on success.
//
// The six epoll calls are here (shim/epoll.cpp); the hooks they come with
// are declared in interpose/api.hpp.
#pragma once

#include <csignal>
#include <cstdint>
#include <ctime>
#include <sys/epoll.h>

#include "interpose/api.hpp"

namespace uepoll::api {

int epoll_create(int size);
int epoll_create1(int flags);
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);
int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask);
int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
		 const sigset_t *sigmask);

// The three as syscall() makes them: not cancellation points (glibc's
// syscall() is not one), and the raw sigset size: a size other than the
// kernel's is EINVAL, after the timeout's checks.
int epoll_wait_syscall(int epfd, struct epoll_event *events, int maxevents, int timeout);
int epoll_pwait_sized(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask,
		      size_t sigsetsize);
int epoll_pwait2_sized(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
		       const sigset_t *sigmask, size_t sigsetsize);

// Not a libc function: returns once the shards' pollers (core/tiers.cpp)
// have queued what was ready on cold fds before the call.  Exported as
// uepoll_settle_pollers for the fuzzer's preloaded side (a program cannot
// otherwise know when a poller thread has run).
void settle_pollers();

// syscall(2) (shim/syscall.cpp): the numbers of the calls above and of the
// hooks go to the same code as their libc functions; io_uring_setup is
// refused with ENOSYS (an io_uring would submit epoll_ctl and close behind
// our back); everything else goes through.
long syscall(long nr, long a, long b, long c, long d, long e, long f);

} // namespace uepoll::api
