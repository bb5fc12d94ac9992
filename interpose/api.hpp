// interpose/api.hpp - the libc functions that interpose/ replaces: the fd
// life-cycle (hooks_fd.cpp), the creators (hooks_create.cpp), the I/O calls
// that re-arm edge-triggered items (hooks_io.cpp), poll/select on fake
// epoll fds (hooks_poll.cpp), signal handlers (hooks_signal.cpp), stdio
// (hooks_stdio.cpp).
//
// Each behaves like the libc function it replaces: -1 and errno on
// failure, errno untouched on success.  shim/api.hpp adds the six epoll
// calls; shim/exports.cpp exports the lot under libc's names.
#pragma once

#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

namespace uepoll::api {

// fd life-cycle
int close(int fd);
int close_range(unsigned first, unsigned last, int flags);
void closefrom(int lowfd);
int dup(int oldfd);
int dup2(int oldfd, int newfd);
int dup3(int oldfd, int newfd, int flags);
int fcntl(int fd, int cmd, long arg);
pid_t fork();
int fclose(FILE *f);

// creators
int socket(int domain, int type, int protocol);
int socketpair(int domain, int type, int protocol, int sv[2]);
int connect(int fd, const struct sockaddr *addr, socklen_t len);
int shutdown(int fd, int how);
int bind(int fd, const struct sockaddr *addr, socklen_t len);
int listen(int fd, int backlog);
int accept(int fd, struct sockaddr *addr, socklen_t *len);
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int pipe(int fds[2]);
int pipe2(int fds[2], int flags);
int eventfd(unsigned initval, int flags);

// I/O (edge-triggered re-arming)
ssize_t read(int fd, void *buf, size_t len);
ssize_t readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t recv(int fd, void *buf, size_t len, int flags);
ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen);
ssize_t recvmsg(int fd, struct msghdr *msg, int flags);
int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout);
ssize_t write(int fd, const void *buf, size_t len);
ssize_t writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t send(int fd, const void *buf, size_t len, int flags);
ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen);
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);
int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags);
ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len, unsigned flags);

// poll/select on fake epoll fds
int poll(struct pollfd *fds, nfds_t n, int timeout);
int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask);
int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask);

// signal handlers (hooks_signal.cpp): wrapped so that none runs while its
// thread holds a uepoll lock.
int sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t signal(int sig, sighandler_t handler);
sighandler_t sysv_signal(int sig, sighandler_t handler);

// threads (hooks_thread.cpp): a cancel also wakes the target's uepoll wait,
// so that the wait is a cancellation point as glibc's is.
int pthread_cancel(pthread_t thread);

// Creators of new files the shim did not follow at first (each marks its
// fd a new file), and the I/O paths past read/write (hooks_create.cpp,
// hooks_io.cpp, hooks_stdio.cpp).  open/openat take their mode whatever the flags.
int open(const char *path, int flags, mode_t mode);
int openat(int dirfd, const char *path, int flags, mode_t mode);
int creat(const char *path, mode_t mode);
int memfd_create(const char *name, unsigned flags);
int timerfd_create(int clockid, int flags);
int signalfd(int fd, const sigset_t *mask, int flags);
int inotify_init();
int inotify_init1(int flags);
int fanotify_init(unsigned flags, unsigned event_f_flags);
int pidfd_open(pid_t pid, unsigned flags);
int pidfd_getfd(int pidfd, int targetfd, unsigned flags);
int eventfd_read(int fd, uint64_t *value);
int eventfd_write(int fd, uint64_t value);
ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int flags);
ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags);
ssize_t read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *addr,
		     socklen_t *alen);
ssize_t vmsplice(int fd, const struct iovec *iov, size_t n, unsigned flags);
ssize_t tee(int in, int out, size_t len, unsigned flags);
ssize_t copy_file_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags);
int fflush(FILE *f);
size_t fwrite(const void *p, size_t size, size_t n, FILE *f);
int fputs(const char *s, FILE *f);
int fputc(int c, FILE *f);
int puts(const char *s);
int vfprintf(FILE *f, int flag, const char *fmt, va_list ap); // flag < 0: plain vfprintf
int vdprintf(int fd, int flag, const char *fmt, va_list ap);  // flag < 0: plain vdprintf
size_t fread(void *p, size_t size, size_t n, FILE *f);
char *fgets(char *s, int n, FILE *f);
int fgetc(FILE *f);

// seccomp filters the program installs (hooks_sandbox.cpp): each one makes
// the shim find again which of its calls the sandbox allows.  prctl takes
// the four arguments every option reads; seccomp is the system call (glibc
// has no wrapper: syscall(SYS_seccomp) comes here, shim/syscall.cpp).
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
long seccomp(unsigned op, unsigned flags, void *args);
ssize_t getdelim(char **line, size_t *cap, int delim, FILE *f);
FILE *fopen(const char *path, const char *mode);
FILE *fdopen(int fd, const char *mode);

// Calls that may hand our fds to another process without fork()'s
// handlers (hooks_spawn.cpp): each one is an escape for the in-process
// pairs (core::ep_files_may_escape()).
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		char *const argv[], char *const envp[]);
int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
int clone(int (*fn)(void *), void *stack, int flags, void *arg, pid_t *ptid, void *tls, pid_t *ctid);
int system(const char *command);
FILE *popen(const char *command, const char *type);

} // namespace uepoll::api
