// shim/exports.cpp - the symbols libuepoll.so exports.  No logic here: each
// is a forward to shim/api.hpp (mimalloc's alloc-override.c, epoll-shim's
// interpose file).  glibc calls its own internal aliases (__close_nocancel
// ...) for its internal needs, so these see exactly what the program calls.
#include <cstdarg>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"
#include "shim/api.hpp"

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace api = uepoll::api;

EXPORT int epoll_create(int size) { return api::epoll_create(size); }
EXPORT int epoll_create1(int flags) { return api::epoll_create1(flags); }
EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) { return api::epoll_ctl(epfd, op, fd, ev); }
EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	return api::epoll_wait(epfd, evs, max, timeout);
}
EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask)
{
	return api::epoll_pwait(epfd, evs, max, timeout, mask);
}
EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts, const sigset_t *mask)
{
	return api::epoll_pwait2(epfd, evs, max, ts, mask);
}

EXPORT int close(int fd) { return api::close(fd); }
EXPORT int __close(int fd) { return api::close(fd); }
EXPORT int close_range(unsigned first, unsigned last, int flags) { return api::close_range(first, last, flags); }
EXPORT void closefrom(int lowfd) { api::closefrom(lowfd); }
EXPORT int dup(int fd) { return api::dup(fd); }
EXPORT int dup2(int oldfd, int newfd) { return api::dup2(oldfd, newfd); }
EXPORT int dup3(int oldfd, int newfd, int flags) { return api::dup3(oldfd, newfd, flags); }
EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return api::fcntl(fd, cmd, arg);
}
EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return api::fcntl(fd, cmd, arg);
}
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return api::sigaction(sig, act, old);
}
EXPORT sighandler_t signal(int sig, sighandler_t handler) { return api::signal(sig, handler); }
EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) { return api::signal(sig, handler); }
EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler) { return api::sysv_signal(sig, handler); }

// A vfork() child shares our memory: its close() would edit the parent's
// instances.  Make it a fork() (docs/deviations.md).
EXPORT pid_t vfork(void) { return api::fork(); }

EXPORT int socket(int d, int t, int p) { return api::socket(d, t, p); }
EXPORT int socketpair(int d, int t, int p, int sv[2]) { return api::socketpair(d, t, p, sv); }
EXPORT int connect(int fd, const struct sockaddr *a, socklen_t l) { return api::connect(fd, a, l); }
EXPORT int shutdown(int fd, int how) { return api::shutdown(fd, how); }
EXPORT int bind(int fd, const struct sockaddr *a, socklen_t l) { return api::bind(fd, a, l); }
EXPORT int listen(int fd, int backlog) { return api::listen(fd, backlog); }
EXPORT int accept(int fd, struct sockaddr *a, socklen_t *l) { return api::accept(fd, a, l); }
EXPORT int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) { return api::accept4(fd, a, l, flags); }
EXPORT int pipe(int fds[2]) { return api::pipe(fds); }
EXPORT int pipe2(int fds[2], int flags) { return api::pipe2(fds, flags); }
EXPORT int eventfd(unsigned v, int flags) { return api::eventfd(v, flags); }

EXPORT ssize_t read(int fd, void *b, size_t n) { return api::read(fd, b, n); }
EXPORT ssize_t readv(int fd, const struct iovec *v, int n) { return api::readv(fd, v, n); }
EXPORT ssize_t recv(int fd, void *b, size_t n, int f) { return api::recv(fd, b, n, f); }
EXPORT ssize_t recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{
	return api::recvfrom(fd, b, n, f, a, l);
}
EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int f) { return api::recvmsg(fd, m, f); }
EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int f, struct timespec *t) { return api::recvmmsg(fd, v, n, f, t); }
EXPORT ssize_t write(int fd, const void *b, size_t n) { return api::write(fd, b, n); }
EXPORT ssize_t writev(int fd, const struct iovec *v, int n) { return api::writev(fd, v, n); }
EXPORT ssize_t send(int fd, const void *b, size_t n, int f) { return api::send(fd, b, n, f); }
EXPORT ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l)
{
	return api::sendto(fd, b, n, f, a, l);
}
EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int f) { return api::sendmsg(fd, m, f); }
EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int f) { return api::sendmmsg(fd, v, n, f); }
EXPORT ssize_t sendfile(int o, int i, off_t *off, size_t n) { return api::sendfile(o, i, off, n); }
EXPORT ssize_t sendfile64(int o, int i, off_t *off, size_t n) { return api::sendfile(o, i, off, n); }
EXPORT ssize_t splice(int a, loff_t *oa, int b, loff_t *ob, size_t n, unsigned f) { return api::splice(a, oa, b, ob, n, f); }

EXPORT int poll(struct pollfd *fds, nfds_t n, int t) { return api::poll(fds, n, t); }
EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *m) { return api::ppoll(fds, n, t, m); }
EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t) { return api::select(n, r, w, e, t); }
EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *m)
{
	return api::pselect(n, r, w, e, t, m);
}

EXPORT int fclose(FILE *f) { return api::fclose(f); }
// libuv and liburing create io_uring instances through syscall(2); an
// io_uring would submit epoll_ctl behind our back, so refuse it as a
// kernel without io_uring would.
EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	return api::syscall(nr, a, b, c, d, e, f);
}
