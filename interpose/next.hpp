// interpose/next.hpp - the next definition of every symbol we interpose
// (dlsym(RTLD_NEXT)): libc's, or another preload's.  Resolved all at once,
// on first use, by next_resolve(); each has a raw-syscall fallback, so a
// missing definition or a call made while dlsym itself runs (dlsym may
// allocate, and a malloc hook may close an fd) never crashes.
#pragma once

#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

namespace uepoll::interpose {

#define UEPOLL_NEXT_LIST(X)                                                                                        \
	X(int, epoll_create, (int))                                                                                \
	X(int, epoll_create1, (int))                                                                               \
	X(int, epoll_ctl, (int, int, int, struct epoll_event *))                                                   \
	X(int, epoll_wait, (int, struct epoll_event *, int, int))                                                  \
	X(int, epoll_pwait, (int, struct epoll_event *, int, int, const sigset_t *))                               \
	X(int, epoll_pwait2, (int, struct epoll_event *, int, const struct timespec *, const sigset_t *))          \
	X(int, close, (int))                                                                                       \
	X(int, close_range, (unsigned, unsigned, int))                                                             \
	X(void, closefrom, (int))                                                                                  \
	X(int, fclose, (FILE *))                                                                                   \
	X(int, dup, (int))                                                                                         \
	X(int, dup2, (int, int))                                                                                   \
	X(int, dup3, (int, int, int))                                                                              \
	X(int, fcntl, (int, int, ...))                                                                             \
	X(pid_t, fork, (void))                                                                                     \
	X(int, socket, (int, int, int))                                                                            \
	X(int, socketpair, (int, int, int, int *))                                                                 \
	X(int, connect, (int, const struct sockaddr *, socklen_t))                                                 \
	X(int, shutdown, (int, int))                                                                               \
	X(int, bind, (int, const struct sockaddr *, socklen_t))                                                    \
	X(int, listen, (int, int))                                                                                 \
	X(int, accept, (int, struct sockaddr *, socklen_t *))                                                      \
	X(int, accept4, (int, struct sockaddr *, socklen_t *, int))                                                \
	X(int, pipe, (int *))                                                                                      \
	X(int, pipe2, (int *, int))                                                                                \
	X(int, eventfd, (unsigned, int))                                                                           \
	X(ssize_t, read, (int, void *, size_t))                                                                    \
	X(ssize_t, readv, (int, const struct iovec *, int))                                                        \
	X(ssize_t, recv, (int, void *, size_t, int))                                                               \
	X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *))                           \
	X(ssize_t, recvmsg, (int, struct msghdr *, int))                                                           \
	X(int, recvmmsg, (int, struct mmsghdr *, unsigned, int, struct timespec *))                                \
	X(ssize_t, write, (int, const void *, size_t))                                                             \
	X(ssize_t, writev, (int, const struct iovec *, int))                                                       \
	X(ssize_t, send, (int, const void *, size_t, int))                                                         \
	X(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t))                   \
	X(ssize_t, sendmsg, (int, const struct msghdr *, int))                                                     \
	X(int, sendmmsg, (int, struct mmsghdr *, unsigned, int))                                                   \
	X(ssize_t, sendfile, (int, int, off_t *, size_t))                                                          \
	X(ssize_t, splice, (int, loff_t *, int, loff_t *, size_t, unsigned))                                       \
	X(int, poll, (struct pollfd *, nfds_t, int))                                                               \
	X(int, ppoll, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))                        \
	X(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *))                                      \
	X(int, pselect, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *))           \
	X(int, sigaction, (int, const struct sigaction *, struct sigaction *))                                      \
	X(int, pthread_cancel, (pthread_t))                                                                        \
	X(long, syscall, (long, ...))                                                                              \
	UEPOLL_NEXT_LIST_MORE(X)

// Creators the shim did not follow at first (issue 11): each marks its fd
// a new file.  I/O paths past read/write: glibc's eventfd helpers, the
// positioned vector calls, the fortified _chk variants, the splice family,
// stdio (interpose/hooks_stdio.cpp).
#define UEPOLL_NEXT_LIST_MORE(X)                                                                                   \
	X(int, open, (const char *, int, ...))                                                                     \
	X(int, open64, (const char *, int, ...))                                                                   \
	X(int, __open_2, (const char *, int))                                                                      \
	X(int, __open64_2, (const char *, int))                                                                    \
	X(int, openat, (int, const char *, int, ...))                                                              \
	X(int, openat64, (int, const char *, int, ...))                                                            \
	X(int, __openat_2, (int, const char *, int))                                                               \
	X(int, __openat64_2, (int, const char *, int))                                                             \
	X(int, creat, (const char *, mode_t))                                                                      \
	X(int, creat64, (const char *, mode_t))                                                                    \
	X(int, memfd_create, (const char *, unsigned))                                                             \
	X(int, timerfd_create, (int, int))                                                                         \
	X(int, signalfd, (int, const sigset_t *, int))                                                             \
	X(int, inotify_init, (void))                                                                               \
	X(int, inotify_init1, (int))                                                                               \
	X(int, fanotify_init, (unsigned, unsigned))                                                                \
	X(int, pidfd_open, (pid_t, unsigned))                                                                      \
	X(int, pidfd_getfd, (int, int, unsigned))                                                                  \
	X(int, eventfd_read, (int, uint64_t *))                                                                    \
	X(int, eventfd_write, (int, uint64_t))                                                                     \
	X(ssize_t, preadv, (int, const struct iovec *, int, off_t))                                                \
	X(ssize_t, pwritev, (int, const struct iovec *, int, off_t))                                               \
	X(ssize_t, preadv2, (int, const struct iovec *, int, off_t, int))                                          \
	X(ssize_t, pwritev2, (int, const struct iovec *, int, off_t, int))                                         \
	X(ssize_t, __read_chk, (int, void *, size_t, size_t))                                                      \
	X(ssize_t, __recv_chk, (int, void *, size_t, size_t, int))                                                 \
	X(ssize_t, __recvfrom_chk, (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *))             \
	X(ssize_t, vmsplice, (int, const struct iovec *, size_t, unsigned))                                        \
	X(ssize_t, tee, (int, int, size_t, unsigned))                                                              \
	X(ssize_t, copy_file_range, (int, loff_t *, int, loff_t *, size_t, unsigned))                              \
	X(int, fflush, (FILE *))                                                                                   \
	X(size_t, fwrite, (const void *, size_t, size_t, FILE *))                                                  \
	X(int, fputs, (const char *, FILE *))                                                                      \
	X(int, fputc, (int, FILE *))                                                                               \
	X(int, putc, (int, FILE *))                                                                                \
	X(int, puts, (const char *))                                                                               \
	X(int, vfprintf, (FILE *, const char *, va_list))                                                          \
	X(int, __vfprintf_chk, (FILE *, int, const char *, va_list))                                               \
	X(int, vdprintf, (int, const char *, va_list))                                                             \
	X(int, __vdprintf_chk, (int, int, const char *, va_list))                                                  \
	X(size_t, fread, (void *, size_t, size_t, FILE *))                                                         \
	X(char *, fgets, (char *, int, FILE *))                                                                    \
	X(int, fgetc, (FILE *))                                                                                    \
	X(int, getc, (FILE *))                                                                                     \
	X(ssize_t, getdelim, (char **, size_t *, int, FILE *))                                                     \
	X(ssize_t, getline, (char **, size_t *, FILE *))                                                           \
	X(int, prctl, (int, ...))                                                                                  \
	X(FILE *, fopen, (const char *, const char *))                                                             \
	X(FILE *, fopen64, (const char *, const char *))                                                          \
	X(FILE *, fdopen, (int, const char *))                                                                     \
	X(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, \
			     char *const[], char *const[]))                                                        \
	X(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, \
			      char *const[], char *const[]))                                                       \
	X(int, clone, (int (*)(void *), void *, int, void *, ...))                                                 \
	X(int, system, (const char *))                                                                             \
	X(FILE *, popen, (const char *, const char *))

struct next_table {
#define UEPOLL_NEXT_FIELD(ret, name, args) ret(*name) args;
	UEPOLL_NEXT_LIST(UEPOLL_NEXT_FIELD)
#undef UEPOLL_NEXT_FIELD
};

// The resolved table; fields are nullptr until resolved or when missing.
extern next_table real;
// Resolves every field once (thread-safe, re-entrancy-safe).  Returns false
// while a resolution is in progress on this thread (the caller must use
// its raw-syscall fallback).
bool next_resolve();

} // namespace uepoll::interpose
