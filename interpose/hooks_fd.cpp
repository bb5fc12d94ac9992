// interpose/hooks_fd.cpp - the fd life-cycle hooks: close, close_range,
// closefrom, fclose, dup, dup2, dup3, fcntl(F_DUPFD*).  A watched fd that
// goes away by any of these leaves every instance before the number can be
// reused (the kernel's eventpoll_release_file, run at the right moment).
#include <cstdarg>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose/hooks.hpp"
#include "interpose/api.hpp"

namespace uepoll::interpose {

// Called before the real close of fd.  Inside a signal handler that
// interrupted our own locked code, the close of a tracked fd is deferred
// (the fd stays open a few more instructions): returns true then.  An
// unknown number is marked closing too: another thread's fdt_get could
// otherwise identify it, still open, as a file we track and put it back
// in the table after the close (issue 11).
static bool before_close(int fd, uintptr_t slot)
{
	if (slot != FD_UNKNOWN && core::close_must_defer(fd))
		return true;
	fdt_closing(fd);
	return false;
}

void hooks_close_deferred(int fd)
{
	fdt_closing(fd);
	raw_syscall(SYS_close, fd);
	fdt_closed(fd);
}

} // namespace uepoll::interpose

namespace uepoll::api {

using namespace uepoll::interpose;

int close(int fd)
{
	ensure_init();
	uintptr_t v = fdt_peek(fd);
	if (v == FD_INTERNAL)
		return errno_ret(-EBADF);
	if (v != FD_UNKNOWN && core::in_locked_section()) {
		if (raw_syscall(SYS_fcntl, fd, F_GETFD) < 0)
			return errno_ret(-EBADF);
	}
	if (before_close(fd, v))
		return 0;
	int r = UEPOLL_CALL_NEXT(int, close, SYS_close, fd);
	fdt_closed(fd); // failed or not, the number is closed now
	return r;
}

// Runs the real close_range over [first, last] minus our internal fds.
static int close_range_skipping_internal(unsigned first, unsigned last, int flags)
{
	unsigned top = static_cast<unsigned>(fdt_max_fd());
	unsigned a = first;
	for (unsigned fd = first; fd <= last && fd <= top; fd++) {
		if (!fdt_is_internal(static_cast<int>(fd)))
			continue;
		if (fd > a) {
			int r = UEPOLL_CALL_NEXT(int, close_range, SYS_close_range, a, fd - 1, flags);
			if (r < 0)
				return r;
		}
		a = fd + 1;
		if (fd == ~0U)
			return 0;
	}
	if (a > last)
		return 0;
	return UEPOLL_CALL_NEXT(int, close_range, SYS_close_range, a, last, flags);
}

int close_range(unsigned first, unsigned last, int flags)
{
	ensure_init();
	if (first > last || (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)))
		return UEPOLL_CALL_NEXT(int, close_range, SYS_close_range, first, last, flags);
	if (flags & CLOSE_RANGE_CLOEXEC)
		return close_range_skipping_internal(first, last, flags);
	// close_range's fputs are deferred (task_work, run last in, first
	// out): the files are released from the highest fd down.  Unknown
	// numbers are marked closing too (see before_close).
	unsigned top = static_cast<unsigned>(fdt_max_fd());
	unsigned hi = last < top ? last : top;
	fdt_closing_range_begin(first, last);
	if (static_cast<int>(hi) >= 0)
		for (long fd = hi; fd >= static_cast<long>(first); fd--)
			if (!fdt_is_internal(static_cast<int>(fd)))
				fdt_closing(static_cast<int>(fd));
	fdt_closing_range_end();
	int r = close_range_skipping_internal(first, last, flags);
	// Every marked number is closed now, even if a part of the range
	// failed (a mark must never stay: the number would refuse its next file).
	if (static_cast<int>(hi) >= 0)
		for (long fd = hi; fd >= static_cast<long>(first); fd--)
			fdt_closed(static_cast<int>(fd));
	return r;
}

void closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	errno_guard keep_errno;
	close_range(static_cast<unsigned>(lowfd), ~0U, 0);
}

int dup(int oldfd)
{
	ensure_init();
	if (fdt_is_internal(oldfd))
		return errno_ret(-EBADF);
	int r = UEPOLL_CALL_NEXT(int, dup, SYS_dup, oldfd);
	if (r >= 0)
		fdt_dup(oldfd, r);
	return r;
}

// dup2/dup3 close newfd first, but only if oldfd is valid.
static int dup_onto(int oldfd, int newfd, int flags, bool is_dup3)
{
	ensure_init();
	if (fdt_is_internal(oldfd))
		return errno_ret(-EBADF);
	if (oldfd == newfd || raw_syscall(SYS_fcntl, oldfd, F_GETFD) < 0 || (is_dup3 && (flags & ~O_CLOEXEC))) {
		if (is_dup3)
			return UEPOLL_CALL_NEXT(int, dup3, SYS_dup3, oldfd, newfd, flags);
		return UEPOLL_CALL_NEXT(int, dup2, SYS_dup2, oldfd, newfd);
	}
	uintptr_t v = fdt_peek(newfd);
	bool ours = v == FD_INTERNAL;
	if (ours) {
		// One of our own fds (just under RLIMIT_NOFILE): the program owns
		// the number, ours moves out of its way first and nobody uses the
		// number any more when this returns (core/internal_fd.hpp).  Our
		// old file stays open there until the dup replaces it.
		if (int busy = core::internal_fd_vacate(newfd); busy < 0)
			return errno_ret(busy);
	} else {
		fdt_closing(newfd); // unknown too: see before_close
	}
	int r = is_dup3 ? UEPOLL_CALL_NEXT(int, dup3, SYS_dup3, oldfd, newfd, flags)
			: UEPOLL_CALL_NEXT(int, dup2, SYS_dup2, oldfd, newfd);
	if (r >= 0) {
		fdt_dup(oldfd, newfd);
	} else if (ours) {
		errno_guard keep_errno;
		raw_syscall(SYS_close, newfd); // our old file, nobody's now
	}
	// The new file, if fdt_dup did not put it there, is identified at its
	// first use; after a failure, so is whatever newfd still holds.
	if (!ours)
		fdt_closed(newfd);
	return r;
}

int dup2(int oldfd, int newfd) { return dup_onto(oldfd, newfd, 0, false); }
int dup3(int oldfd, int newfd, int flags) { return dup_onto(oldfd, newfd, flags, true); }

int fcntl(int fd, int cmd, long arg)
{
	ensure_init();
	if (fdt_is_internal(fd))
		return errno_ret(-EBADF);
	int r = UEPOLL_CALL_NEXT(int, fcntl, SYS_fcntl, fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		fdt_dup(fd, r);
	return r;
}

pid_t fork()
{
	ensure_init();
	return UEPOLL_CALL_NEXT(pid_t, fork, SYS_fork);
}

} // namespace uepoll::api

namespace uepoll::api {

using namespace uepoll::interpose;

int fclose(FILE *f)
{
	ensure_init();
	int fd = f ? ::fileno(f) : -1;
	// fclose() closes through glibc's internal close, which we never see:
	// take the fd out of every instance first.
	if (fd >= 0 && !fdt_is_internal(fd))
		fdt_closing(fd);
	if (!next_resolve() || !real.fclose) {
		if (fd >= 0)
			fdt_closed(fd); // nothing closed it: its next use finds it again
		return EOF;
	}
	// Its flush of pending output writes through glibc's internal write:
	// flush first through our fflush (an edge for the fd's readers); a
	// failure is fclose's result, as it would have been.
	int r;
	if (f && f->_IO_write_ptr > f->_IO_write_base && api::fflush(f) != 0) {
		errno_guard keep_errno;
		real.fclose(f);
		r = EOF;
	} else {
		r = real.fclose(f);
	}
	if (fd >= 0)
		fdt_closed(fd);
	return r;
}

// syscall(2) is in shim/syscall.cpp: it routes to the epoll calls too.

} // namespace uepoll::api
