// core/deferred.cpp - per-thread state: the lock depth, closes and signals
// deferred by signal handlers, and each thread's wake-up eventfd (an
// entry of the registry of internal fds, core/internal_fd.cpp).
//
// A signal handler may call close() on a watched fd at any moment,
// including while its thread holds one of uepoll's locks (the kernel's
// callbacks have the same problem with IRQs, and solve it by disabling
// them).  We cannot take the lock again, and we must not let the number
// be reused before its items are gone, so such a close is queued here and
// the real close() happens when the thread drops its last lock, a few
// instructions later.  The program's own handlers (wrapped by
// interpose/hooks_signal.cpp) do better: they do not run inside a lock at
// all.  A signal that arrives there is queued again to the thread and
// blocked in the interrupted context, and it is unblocked here, so it is
// delivered when the thread drops its last lock, as the kernel delivers a
// signal after the system call it interrupted.  Nothing here allocates.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <sys/eventfd.h>

#include "core/internal.hpp"

namespace uepoll::core {

thread_local int tls_lock_depth;
thread_local bool tls_deferred_pending;
// Signals (bit sig - 1) blocked until this thread leaves its last lock.
static thread_local uint64_t tls_deferred_signals;

namespace {
constexpr int MAX_DEFERRED = 64;
thread_local int tls_deferred[MAX_DEFERRED];
thread_local int tls_ndeferred;

// This thread's wake-up eventfd, in the registry of internal fds
// (core/internal_fd.hpp); closed when the thread exits.
struct wake_fd_holder {
	internal_fd efd{EFD_NONBLOCK, internal_fd::owner::thread};
	~wake_fd_holder()
	{
		wait_cancel_thread_exit(); // no pthread_cancel writes the fd from now on
		if (g_sys && efd.registered())
			efd.destroy();
	}
};
thread_local wake_fd_holder tls_wake;
} // namespace

bool defer_close(int fd)
{
	if (tls_ndeferred == MAX_DEFERRED)
		return false;
	tls_deferred[tls_ndeferred++] = fd;
	tls_deferred_pending = true;
	return true;
}

bool defer_signal(int sig)
{
	if (tls_lock_depth == 0 || sig < 1 || sig > 64)
		return false;
	tls_deferred_signals |= uint64_t(1) << (sig - 1);
	tls_deferred_pending = true;
	return true;
}

void run_deferred()
{
	while (tls_ndeferred > 0) {
		int fd = tls_deferred[--tls_ndeferred];
		g_files->close_deferred(fd);
	}
	tls_deferred_pending = false;
	if (uint64_t sigs = tls_deferred_signals) {
		tls_deferred_signals = 0;
		sigset_t set;
		sigemptyset(&set);
		for (int sig = 1; sig <= 64; sig++)
			if (sigs & (uint64_t(1) << (sig - 1)))
				sigaddset(&set, sig);
		// The re-queued signals are delivered as this call returns.
		g_sys->sigprocmask(SIG_UNBLOCK, &set, nullptr);
	}
}

internal_fd_use tls_wake_use()
{
	internal_fd_use u = tls_wake.efd.acquire();
	if (u.fd() >= 0)
		return u;
	u.end();
	tls_wake.efd.renew(-1);
	return tls_wake.efd.acquire();
}

void tls_wake_lost(int seen) { tls_wake.efd.renew(seen); }

const internal_fd *tls_wake_entry() { return &tls_wake.efd; }

// After fork() the forking thread's eventfd is shared with the parent's
// thread: give the child its own on the same number.
void tls_fork_child()
{
	tls_ndeferred = 0;
	tls_deferred_pending = false;
	int fd = tls_wake.efd.peek();
	if (fd >= 0)
		efd_reopen(fd, EFD_CLOEXEC | EFD_NONBLOCK, true);
}

bool user_range_ok(const void *p, size_t len)
{
	// Twin of access_ok() on x86-64 with 4-level page tables.
	constexpr uintptr_t TASK_SIZE_MAX = (uintptr_t(1) << 47) - 4096;
	uintptr_t a = reinterpret_cast<uintptr_t>(p);
	return len <= TASK_SIZE_MAX && a <= TASK_SIZE_MAX - len;
}

} // namespace uepoll::core

namespace uepoll::core {

bool in_locked_section() { return tls_lock_depth > 0; }

bool close_must_defer(int fd) { return tls_lock_depth > 0 && defer_close(fd); }

} // namespace uepoll::core
