// shim/exports.cpp - the symbols libuepoll.so exports.  No logic here: each
// is a forward to shim/api.hpp (mimalloc's alloc-override.c, epoll-shim's
// interpose file).  glibc calls its own internal aliases (__close_nocancel
// ...) for its internal needs, so these see exactly what the program calls.
#include <cstdarg>
#include <fcntl.h>
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

EXPORT void uepoll_settle_pollers(void) { api::settle_pollers(); }

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
EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
		      a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	return api::prctl(option, a2, a3, a4, a5);
}
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return api::sigaction(sig, act, old);
}
EXPORT sighandler_t signal(int sig, sighandler_t handler) { return api::signal(sig, handler); }
EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) { return api::signal(sig, handler); }
EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler) { return api::sysv_signal(sig, handler); }
EXPORT int pthread_cancel(pthread_t thread) { return api::pthread_cancel(thread); }

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
EXPORT FILE *fopen(const char *p, const char *mode) { return api::fopen(p, mode); }
EXPORT FILE *fopen64(const char *p, const char *mode) { return api::fopen(p, mode); }
EXPORT FILE *fdopen(int fd, const char *mode) { return api::fdopen(fd, mode); }
EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return api::posix_spawn(pid, path, fa, attr, argv, envp);
}
EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return api::posix_spawnp(pid, file, fa, attr, argv, envp);
}
EXPORT int system(const char *command) { return api::system(command); }
EXPORT FILE *popen(const char *command, const char *type) { return api::popen(command, type); }
// glibc's clone: the three trailing arguments are read whatever the flags
// say (the callee looks at them only when they say so).
EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	return api::clone(fn, stack, flags, arg, ptid, tls, ctid);
}

// issue 11: creators of new files.  open and openat read their mode only
// with O_CREAT/O_TMPFILE, as glibc does.
static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}
EXPORT int open(const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return api::open(p, flags, m);
}
EXPORT int open64(const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return api::open(p, flags, m);
}
EXPORT int __open_2(const char *p, int flags) { return api::open(p, flags, 0); }
EXPORT int __open64_2(const char *p, int flags) { return api::open(p, flags, 0); }
EXPORT int openat(int d, const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return api::openat(d, p, flags, m);
}
EXPORT int openat64(int d, const char *p, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t m = open_mode(flags, ap);
	va_end(ap);
	return api::openat(d, p, flags, m);
}
EXPORT int __openat_2(int d, const char *p, int flags) { return api::openat(d, p, flags, 0); }
EXPORT int __openat64_2(int d, const char *p, int flags) { return api::openat(d, p, flags, 0); }
EXPORT int creat(const char *p, mode_t m) { return api::creat(p, m); }
EXPORT int creat64(const char *p, mode_t m) { return api::creat(p, m); }
EXPORT int memfd_create(const char *n, unsigned flags) { return api::memfd_create(n, flags); }
EXPORT int timerfd_create(int c, int flags) { return api::timerfd_create(c, flags); }
EXPORT int signalfd(int fd, const sigset_t *m, int flags) { return api::signalfd(fd, m, flags); }
EXPORT int inotify_init(void) { return api::inotify_init(); }
EXPORT int inotify_init1(int flags) { return api::inotify_init1(flags); }
EXPORT int fanotify_init(unsigned flags, unsigned ef) { return api::fanotify_init(flags, ef); }
EXPORT int pidfd_open(pid_t pid, unsigned flags) { return api::pidfd_open(pid, flags); }
EXPORT int pidfd_getfd(int pidfd, int fd, unsigned flags) { return api::pidfd_getfd(pidfd, fd, flags); }

// issue 11: I/O that glibc does past read/write, and the calls that were
// not hooked.
EXPORT int eventfd_read(int fd, uint64_t *v) { return api::eventfd_read(fd, v); }
EXPORT int eventfd_write(int fd, uint64_t v) { return api::eventfd_write(fd, v); }
EXPORT ssize_t preadv(int fd, const struct iovec *v, int n, off_t o) { return api::preadv2(fd, v, n, o, 0); }
EXPORT ssize_t preadv64(int fd, const struct iovec *v, int n, off_t o) { return api::preadv2(fd, v, n, o, 0); }
EXPORT ssize_t pwritev(int fd, const struct iovec *v, int n, off_t o) { return api::pwritev2(fd, v, n, o, 0); }
EXPORT ssize_t pwritev64(int fd, const struct iovec *v, int n, off_t o) { return api::pwritev2(fd, v, n, o, 0); }
EXPORT ssize_t preadv2(int fd, const struct iovec *v, int n, off_t o, int f) { return api::preadv2(fd, v, n, o, f); }
EXPORT ssize_t preadv64v2(int fd, const struct iovec *v, int n, off_t o, int f) { return api::preadv2(fd, v, n, o, f); }
EXPORT ssize_t pwritev2(int fd, const struct iovec *v, int n, off_t o, int f) { return api::pwritev2(fd, v, n, o, f); }
EXPORT ssize_t pwritev64v2(int fd, const struct iovec *v, int n, off_t o, int f) { return api::pwritev2(fd, v, n, o, f); }
EXPORT ssize_t __read_chk(int fd, void *b, size_t n, size_t bl) { return api::read_chk(fd, b, n, bl); }
EXPORT ssize_t __recv_chk(int fd, void *b, size_t n, size_t bl, int f)
{
	return api::recvfrom_chk(fd, b, n, bl, f, nullptr, nullptr);
}
EXPORT ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t bl, int f, struct sockaddr *a, socklen_t *l)
{
	return api::recvfrom_chk(fd, b, n, bl, f, a, l);
}
EXPORT ssize_t vmsplice(int fd, const struct iovec *v, size_t n, unsigned f) { return api::vmsplice(fd, v, n, f); }
EXPORT ssize_t tee(int i, int o, size_t n, unsigned f) { return api::tee(i, o, n, f); }
EXPORT ssize_t copy_file_range(int i, loff_t *oi, int o, loff_t *oo, size_t n, unsigned f)
{
	return api::copy_file_range(i, oi, o, oo, n, f);
}
EXPORT int fflush(FILE *f) { return api::fflush(f); }
EXPORT size_t fwrite(const void *p, size_t s, size_t n, FILE *f) { return api::fwrite(p, s, n, f); }
EXPORT int fputs(const char *s, FILE *f) { return api::fputs(s, f); }
EXPORT int fputc(int c, FILE *f) { return api::fputc(c, f); }
EXPORT int putc(int c, FILE *f) { return api::fputc(c, f); }
EXPORT int puts(const char *s) { return api::puts(s); }
EXPORT int vfprintf(FILE *f, const char *fmt, va_list ap) { return api::vfprintf(f, -1, fmt, ap); }
EXPORT int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap) { return api::vfprintf(f, flag, fmt, ap); }
EXPORT int vprintf(const char *fmt, va_list ap) { return api::vfprintf(stdout, -1, fmt, ap); }
EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap) { return api::vfprintf(stdout, flag, fmt, ap); }
EXPORT int fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = api::vfprintf(f, -1, fmt, ap);
	va_end(ap);
	return r;
}
EXPORT int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = api::vfprintf(f, flag, fmt, ap);
	va_end(ap);
	return r;
}
EXPORT int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = api::vfprintf(stdout, -1, fmt, ap);
	va_end(ap);
	return r;
}
EXPORT int __printf_chk(int flag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = api::vfprintf(stdout, flag, fmt, ap);
	va_end(ap);
	return r;
}
EXPORT int vdprintf(int fd, const char *fmt, va_list ap) { return api::vdprintf(fd, -1, fmt, ap); }
EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap) { return api::vdprintf(fd, flag, fmt, ap); }
EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = api::vdprintf(fd, -1, fmt, ap);
	va_end(ap);
	return r;
}
EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = api::vdprintf(fd, flag, fmt, ap);
	va_end(ap);
	return r;
}
EXPORT size_t fread(void *p, size_t s, size_t n, FILE *f) { return api::fread(p, s, n, f); }
EXPORT char *fgets(char *s, int n, FILE *f) { return api::fgets(s, n, f); }
EXPORT int fgetc(FILE *f) { return api::fgetc(f); }
EXPORT int getc(FILE *f) { return api::fgetc(f); }
EXPORT ssize_t getdelim(char **l, size_t *c, int d, FILE *f) { return api::getdelim(l, c, d, f); }
EXPORT ssize_t __getdelim(char **l, size_t *c, int d, FILE *f) { return api::getdelim(l, c, d, f); }
EXPORT ssize_t getline(char **l, size_t *c, FILE *f) { return api::getdelim(l, c, '\n', f); }
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
