// tests/backend.hpp - the two epolls every test runs on.
//
// A backend is the libc surface a program uses around epoll: the epoll
// calls, the calls that create, duplicate and close fds, and the I/O calls
// (uepoll re-arms edge-triggered items from those).  `native` is libc and
// the kernel's epoll; `uepoll` is the very functions libuepoll.so exports
// (shim/api.hpp), called in-process.  Every call returns like libc: -1 and
// errno on failure.
//
// Tests are written once against `backend&`, run on both, and compare what
// they recorded (tests/trace.hpp).  Native epoll on the running kernel is
// the oracle.
#pragma once

#include <csignal>
#include <ctime>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

namespace uepoll::test {

struct backend {
	virtual ~backend() = default;
	virtual const char *name() const = 0;
	virtual bool is_native() const = 0;

	// epoll
	virtual int epoll_create(int size) = 0;
	virtual int epoll_create1(int flags) = 0;
	virtual int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) = 0;
	virtual int epoll_wait(int epfd, struct epoll_event *evs, int maxevents, int timeout) = 0;
	virtual int epoll_pwait(int epfd, struct epoll_event *evs, int maxevents, int timeout,
				const sigset_t *mask) = 0;
	virtual int epoll_pwait2(int epfd, struct epoll_event *evs, int maxevents, const struct timespec *ts,
				 const sigset_t *mask) = 0;
	// fd life-cycle
	virtual int close(int fd) = 0;
	virtual int close_range(unsigned first, unsigned last, int flags) = 0;
	virtual int dup(int fd) = 0;
	virtual int dup2(int oldfd, int newfd) = 0;
	virtual int dup3(int oldfd, int newfd, int flags) = 0;
	virtual int fcntl_dupfd(int fd, int minfd, bool cloexec) = 0;
	// creators
	virtual int pipe2(int fds[2], int flags) = 0;
	virtual int socketpair(int domain, int type, int protocol, int sv[2]) = 0;
	virtual int socket(int domain, int type, int protocol) = 0;
	virtual int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) = 0;
	// connect() starts a socket's new life: uepoll re-arms its edges.
	virtual int connect(int fd, const struct sockaddr *addr, socklen_t len) = 0;
	// shutdown() wakes every waiter of the socket and of its peer.
	virtual int shutdown(int fd, int how) = 0;
	// bind() and listen() let uepoll pair sockets of one process.
	virtual int bind(int fd, const struct sockaddr *addr, socklen_t len) = 0;
	virtual int listen(int fd, int backlog) = 0;
	virtual int eventfd(unsigned initval, int flags) = 0;
	// I/O
	virtual ssize_t read(int fd, void *buf, size_t len) = 0;
	virtual ssize_t write(int fd, const void *buf, size_t len) = 0;
	virtual ssize_t recv(int fd, void *buf, size_t len, int flags) = 0;
	virtual ssize_t send(int fd, const void *buf, size_t len, int flags) = 0;
	// poll(2) (used on epoll fds: an epoll fd is pollable)
	virtual int poll(struct pollfd *fds, nfds_t n, int timeout) = 0;
	// pthread_cancel (uepoll wakes the target's wait, so that it is a
	// cancellation point as glibc's is)
	virtual int pthread_cancel(pthread_t thread) = 0;

	// Tiers (core/tiers.cpp), no-ops natively: demote an item after
	// `idle_waits` waits that found it idle (0: tiering off); wait until
	// the shards' pollers have queued what was ready on cold fds; how many
	// items are cold now (-1 natively).
	virtual void tiers(int idle_waits) { (void)idle_waits; }
	virtual void settle_pollers() {}
	virtual long cold_items() { return -1; }
};

backend &native_backend();
backend &uepoll_backend();

// For INSTANTIATE_TEST_SUITE_P: the name of the backend a parameter names.
std::string backend_name(backend *b);

} // namespace uepoll::test
