// interpose/hooks_create.cpp - the creators of pollable fds.  Each marks
// its new fd FD_FRESH in the fd table: a new open file, so a later ADD
// needs no identity search, and a number reused after a close we did not
// see is recognised as a new file.  pipe2 and socketpair also record that
// the two ends are peers (a write on one is an edge on the other).
#include <cstring>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"
#include "interpose/api.hpp"

namespace uepoll::api {

using namespace uepoll::interpose;

static int fresh(int fd)
{
	if (fd >= 0)
		fdt_note_fresh(fd);
	return fd;
}

// A new file that polls, of a kind the creator knows: its first ADD needs
// no system call to learn what it is.
static int fresh_kind(int fd, core::file_kind k)
{
	if (fd >= 0)
		fdt_note_fresh_kind(fd, k);
	return fd;
}

int socket(int domain, int type, int protocol)
{
	ensure_init();
	// A datagram socket outside AF_UNIX is inet_dgram, as kind_of() says.
	int t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	core::file_kind k = t == SOCK_DGRAM && domain != AF_UNIX ? core::file_kind::inet_dgram : core::file_kind::socket;
	return fresh_kind(UEPOLL_CALL_NEXT(int, socket, SYS_socket, domain, type, protocol), k);
}

int socketpair(int domain, int type, int protocol, int sv[2])
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, socketpair, SYS_socketpair, domain, type, protocol, sv);
	if (r == 0) {
		errno_guard keep_errno;
		int t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
		core::file_kind k = domain != AF_UNIX	 ? core::file_kind::socket
				    : t == SOCK_DGRAM	 ? core::file_kind::unix_dgram
				    : t == SOCK_SEQPACKET ? core::file_kind::unix_seqpacket
							 : core::file_kind::unix_socket;
		fdt_note_pair(sv[0], sv[1], k, k);
	}
	return r;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	ensure_init();
	// A connection to our own listener is a wake-up of it, which its
	// pollers may see first: stamp it before the call (core::io_stamp).
	core::epfile *listener = loopback_listener_for(addr);
	core::io_stamp st = listener ? core::ep_file_stamp(listener) : core::io_stamp{};
	int r = UEPOLL_CALL_NEXT(int, connect, SYS_connect, fd, addr, len);
	if (listener) {
		errno_guard keep_errno;
		bool stream = false;
		if (core::epfile *f = fdt_file(fdt_peek(fd)))
			stream = f->kind != core::file_kind::inet_dgram;
		else
			stream = true;
		if ((r == 0 || keep_errno.saved() == EINPROGRESS) && stream)
			core::ep_io_hint_stamped(listener, core::io_event::incoming_connection, 0, 0, st);
		core::epfile_put(listener);
	}
	if (r == 0 || errno == EINPROGRESS) {
		errno_guard keep_errno;
		loopback_connected(fd, addr);
		uintptr_t v = fdt_peek(fd);
		long err;
		if (fdt_file(v)) {
			if (core::epfile *f = fdt_get(fd, &err)) {
				core::ep_io_hint(f, core::io_event::connected, 0, 0);
				core::epfile_put(f);
			}
		}
	}
	return r;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, bind, SYS_bind, fd, addr, len);
	if (r == 0 && addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
		errno_guard keep_errno;
		loopback_bound(fd);
	}
	return r;
}

int listen(int fd, int backlog)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, listen, SYS_listen, fd, backlog);
	if (r == 0) {
		errno_guard keep_errno;
		loopback_listening(fd);
	}
	return r;
}

// shutdown() changes the socket's state: every waiter of it (and of an
// in-process peer) is woken, even when the call says ENOTCONN, as
// inet_shutdown() does.
int shutdown(int fd, int how)
{
	ensure_init();
	io_call c = io_begin(fd, fdt_peek(fd), false);
	int r = UEPOLL_CALL_NEXT(int, shutdown, SYS_shutdown, fd, how);
	if (r == 0 || errno == ENOTCONN) {
		errno_guard keep_errno;
		long err;
		if (fdt_file(fdt_peek(fd))) {
			if (core::epfile *f = fdt_get(fd, &err)) {
				if (r == 0 && f->kind == core::file_kind::socket)
					loopback_shutdown(f, how);
				core::ep_io_hint(f, core::io_event::shutdown, r == 0 ? 0 : -ENOTCONN, how);
				core::epfile_put(f);
			}
		}
	}
	io_end(c);
	return r;
}

static int accepted(int listener, int r)
{
	io_hint(listener, fdt_peek(listener), true, io_result(r), 1);
	if (r >= 0) {
		errno_guard keep_errno;
		fdt_note_fresh_kind(r, core::file_kind::socket);
		loopback_accepted(r);
	}
	return r;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	ensure_init();
	return accepted(fd, UEPOLL_CALL_NEXT(int, accept, SYS_accept, fd, addr, len));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	ensure_init();
	return accepted(fd, UEPOLL_CALL_NEXT(int, accept4, SYS_accept4, fd, addr, len, flags));
}

int pipe2(int fds[2], int flags)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, pipe2, SYS_pipe2, fds, flags);
	if (r == 0) {
		errno_guard keep_errno;
		fdt_note_pair(fds[0], fds[1], core::file_kind::pipe_read, core::file_kind::pipe_write);
	}
	return r;
}

int pipe(int fds[2]) { return pipe2(fds, 0); }

int eventfd(unsigned initval, int flags)
{
	ensure_init();
	return fresh_kind(UEPOLL_CALL_NEXT(int, eventfd, SYS_eventfd2, initval, flags), core::file_kind::eventfd);
}

} // namespace uepoll::api

// ---- issue 11: the other creators ----------------------------------------
// A number freed behind our back (a raw close) and reused by one of these
// must be the new file, never its previous occupant: each marks its fd a
// new file (FD_FRESH), which also takes a stale file out of the slot.

namespace uepoll::interpose {

// A path opened for writing that names the max_user_watches sysctl: the
// core reads the sysctl at every ADD from now on, so that this process's
// own writes count from its next ADD, as natively (core/eventpoll.cpp).
// One flag test for the opens that only read.
void note_open_for_write(const char *path, int flags)
{
	if ((flags & O_ACCMODE) != O_RDONLY && path && strstr(path, "max_user_watches"))
		core::ep_max_user_watches_written();
}

} // namespace uepoll::interpose

namespace uepoll::api {

int open(const char *path, int flags, mode_t mode)
{
	ensure_init();
	note_open_for_write(path, flags);
	return fresh(next_resolve() && real.open ? real.open(path, flags, mode)
						 : errno_ret(raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path),
									 flags, mode)));
}

int openat(int dirfd, const char *path, int flags, mode_t mode)
{
	ensure_init();
	note_open_for_write(path, flags);
	return fresh(UEPOLL_CALL_NEXT(int, openat, SYS_openat, dirfd, path, flags, mode));
}

int creat(const char *path, mode_t mode)
{
	ensure_init();
	return fresh(UEPOLL_CALL_NEXT(int, creat, SYS_creat, path, mode));
}

int memfd_create(const char *name, unsigned flags)
{
	ensure_init();
	return fresh(UEPOLL_CALL_NEXT(int, memfd_create, SYS_memfd_create, name, flags));
}

int timerfd_create(int clockid, int flags)
{
	ensure_init();
	return fresh_kind(UEPOLL_CALL_NEXT(int, timerfd_create, SYS_timerfd_create, clockid, flags),
			  core::file_kind::other);
}

// signalfd(-1, ...) makes a new file; signalfd(fd, ...) changes fd's mask.
int signalfd(int fd, const sigset_t *mask, int flags)
{
	ensure_init();
	int r = next_resolve() && real.signalfd ? real.signalfd(fd, mask, flags)
						: errno_ret(raw_syscall(SYS_signalfd4, fd, reinterpret_cast<long>(mask), 8, flags));
	return fd == -1 ? fresh(r) : r;
}

int inotify_init() { return inotify_init1(0); }

int inotify_init1(int flags)
{
	ensure_init();
	return fresh(UEPOLL_CALL_NEXT(int, inotify_init1, SYS_inotify_init1, flags));
}

int fanotify_init(unsigned flags, unsigned event_f_flags)
{
	ensure_init();
	return fresh(UEPOLL_CALL_NEXT(int, fanotify_init, SYS_fanotify_init, flags, event_f_flags));
}

int pidfd_open(pid_t pid, unsigned flags)
{
	ensure_init();
	return fresh(UEPOLL_CALL_NEXT(int, pidfd_open, SYS_pidfd_open, pid, flags));
}

// pidfd_getfd may hand back a file this process already has (one it
// shares with the target after a fork): not new, but not the number's
// previous occupant either.
int pidfd_getfd(int pidfd, int targetfd, unsigned flags)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, pidfd_getfd, SYS_pidfd_getfd, pidfd, targetfd, flags);
	if (r >= 0) {
		errno_guard keep_errno;
		fdt_index_everything();
		fdt_note_unknown(r);
	}
	return r;
}

} // namespace uepoll::api

namespace uepoll::interpose {

void syscall_made_fd(long nr, long arg0, long fd)
{
	if (fd < 0 || fd > INT32_MAX)
		return;
	switch (nr) {
	case SYS_open:
	case SYS_openat:
	case SYS_openat2:
	case SYS_creat:
	case SYS_memfd_create:
	case SYS_memfd_secret:
	case SYS_timerfd_create:
	case SYS_inotify_init:
	case SYS_inotify_init1:
	case SYS_fanotify_init:
	case SYS_pidfd_open:
	case SYS_userfaultfd:
	case SYS_perf_event_open:
	case SYS_bpf:
	case SYS_fsopen:
	case SYS_fsmount:
	case SYS_fspick:
	case SYS_open_tree:
	case SYS_accept:
	case SYS_eventfd:
		fdt_note_fresh(static_cast<int>(fd));
		break;
	case SYS_signalfd:
	case SYS_signalfd4:
		// New only when asked for -1; otherwise the caller's own fd.
		if (static_cast<int>(arg0) == -1)
			fdt_note_fresh(static_cast<int>(fd));
		break;
	case SYS_pidfd_getfd:
		fdt_index_everything();
		fdt_note_unknown(static_cast<int>(fd));
		break;
	default:
		break;
	}
}

} // namespace uepoll::interpose
