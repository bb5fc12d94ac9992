// core/internal_fd.hpp - the fds of uepoll's own (each thread's wake-up
// eventfd, the helper's control eventfd, the max_user_watches file, the
// log file, /proc/self/mem), kept in one registry so that their numbers
// can change under the threads that use them.  No kernel twin: the
// kernel's wait queues and sysctls need no fd.
//
// Why numbers change.  The program owns every number below RLIMIT_NOFILE:
// a dup2()/dup3() onto one of ours must succeed as it does natively, so
// ours moves to another number first (internal_fd_vacate()).  And the
// program may close ours behind our back (an inline system call): the
// first call that fails on it (EBADF, POLLNVAL, a read of the wrong size)
// makes a new one (internal_fd::renew()).
//
// Why a number cannot simply be replaced.  A thread may have loaded the
// old number and be about to write it (a waker kicking a waiter), and a
// thread blocked in ppoll() holds the old number in its set: the kernel's
// do_poll() looks fds up BY NUMBER at every wake-up, so after a dup2 it
// would poll the program's file, and then read() from it.  So every use
// of a number is bracketed (internal_fd::acquire() ... use ends), and the
// mover waits until nobody uses the old number any more:
//   1. store the new number (a dup of the same file, so both work);
//   2. flip the entry's generation: new uses count in the other counter;
//   3. kick the pollers through the old number (still ours), again every
//      millisecond, and wait, bounded, until the old counter is zero.
// The two counters make it a sleepable RCU (SRCU) in miniature: a use that
// began before the flip holds the old counter, one that began after it
// loads the new number.  A use is three atomic operations and no system
// call; only the mover waits.
//
// Who uses what.  A waiter holds a use of its own wake-up fd from before
// it joins ep->wq until after it leaves it: the wakers, which write its
// number under ep->lock while it is on ep->wq, need no use of their own.
// The helper holds its control fd's across its ppoll; the threads that
// kick it take a use around the write.  The files take one around each
// pread/pwrite/write.
#pragma once

#include <atomic>
#include <cstdint>

namespace uepoll::core {

class internal_fd;

// One use of an internal fd's number: the number stays ours (and is not
// moved under the user) until the use ends.  fd() is -1 when the entry has
// no number (never made, lost, or no free number left to move it to).
class internal_fd_use {
public:
	internal_fd_use() = default;
	internal_fd_use(internal_fd_use &&o) noexcept : e_(o.e_), idx_(o.idx_), fd_(o.fd_) { o.e_ = nullptr; }
	internal_fd_use &operator=(internal_fd_use &&o) noexcept
	{
		if (this != &o) {
			end();
			e_ = o.e_;
			idx_ = o.idx_;
			fd_ = o.fd_;
			o.e_ = nullptr;
		}
		return *this;
	}
	internal_fd_use(const internal_fd_use &) = delete;
	internal_fd_use &operator=(const internal_fd_use &) = delete;
	~internal_fd_use() { end(); }
	int fd() const { return fd_; }
	// Ends the use early (the number may be moved from now on).
	void end();

private:
	friend class internal_fd;
	internal_fd *e_ = nullptr;
	unsigned idx_ = 0;
	int fd_ = -1;
};

class internal_fd {
public:
	// Whose fd it is: the process's (the helper's, a file's), or one
	// thread's (its wake-up eventfd: a forked child closes the other threads').
	enum class owner { process, thread };
	// An eventfd made with efd_flags (EFD_CLOEXEC always added): it can be
	// polled, so a move kicks it.
	constexpr explicit internal_fd(int efd_flags, owner who = owner::process)
	    : path_(nullptr), flags_(efd_flags), per_thread_(who == owner::thread)
	{
	}
	// A file opened again from path with open_flags (O_CLOEXEC added) when
	// it is lost; adopt() takes the first one.
	constexpr internal_fd(const char *path, int open_flags) : path_(path), flags_(open_flags), per_thread_(false) {}
	internal_fd(const internal_fd &) = delete;
	internal_fd &operator=(const internal_fd &) = delete;

	// The number, held until the use ends.
	internal_fd_use acquire();
	// Makes a new fd when the entry has none or `seen` (the number a use
	// found closed or replaced: EBADF, POLLNVAL, a read of the wrong size)
	// is still its number; then the old number is forgotten, never closed
	// (it is not ours any more).  The caller holds no use of this entry.
	// Returns the current number, or -errno when none could be made.
	int renew(int seen);
	// Takes `raw` (just made by the caller, its only number) as this
	// entry's fd, as renew() would.  Returns the number, or -errno.
	int adopt(long raw);
	// Closes the fd and takes the entry out of the registry (its owner is
	// going away: a thread's exit, a forked child).
	void destroy();
	// The number now, without a use: to compare with the number a use
	// holds (is it still this entry's?), or for the entry's only user.
	int peek() const { return fd_.load(std::memory_order_acquire); }
	// In the registry (made once at least).  Only for an entry that one
	// thread alone renews: that thread may read it without a lock.
	bool registered() const { return listed_; }

private:
	friend class internal_fd_use;
	friend int internal_fd_vacate(int fd);
	friend void internal_fd_lost(int fd);
	friend void internal_fds_fork_child(const internal_fd *kept);
	friend struct internal_fd_registry;
	bool polled() const { return path_ == nullptr; }
	long make_raw() const;
	int place(long raw, bool keep_raw);
	bool wait_unused(unsigned idx, int kick_fd);

	const char *path_; // nullptr: an eventfd
	int flags_;
	bool per_thread_;
	std::atomic<int> fd_{-1};
	std::atomic<uint32_t> gen_{0};           // its parity picks the counter new uses count in
	std::atomic<uint32_t> users_[2] = {0, 0}; // uses begun in each parity
	// A number a move gave up waiting for (a use held it past the bound):
	// still open, still ours, held by uses counted in users_[gen_ & 1 ^ 1].
	int stuck_fd_ = -1;
	internal_fd *next_ = nullptr; // the registry's list
	bool listed_ = false;
};

inline void internal_fd_use::end()
{
	if (e_) {
		e_->users_[idx_].fetch_sub(1, std::memory_order_seq_cst);
		e_ = nullptr;
	}
}

inline internal_fd_use internal_fd::acquire()
{
	internal_fd_use u;
	u.e_ = this;
	u.idx_ = gen_.load(std::memory_order_seq_cst) & 1;
	users_[u.idx_].fetch_add(1, std::memory_order_seq_cst);
	u.fd_ = fd_.load(std::memory_order_seq_cst);
	return u;
}

// dup2()/dup3() (interpose/hooks_fd.cpp) is about to put a file of the
// program on number fd, which is ours: moves ours to another number (or,
// when no number is free, leaves the entry without one: its users then do
// without, see docs/design.md) and waits until nobody uses fd.  Returns 0
// when the caller may replace fd (still open on our old file: the dup
// replaces it atomically, and the caller closes it if the dup fails), or
// -EBUSY when a use held it past the bound (dup2's errno for a number
// that is busy).
int internal_fd_vacate(int fd);
// A creator the shim hooks got number fd, which the fd table said was
// ours: ours was closed behind our back.  Its entry forgets the number and
// makes a new fd at its next use.
void internal_fd_lost(int fd);
// In a forked child: every other thread is gone, and so are their uses;
// their wake-up fds (the parent's eventfds) are closed.  `kept` is the
// forking thread's own.
void internal_fds_fork_child(const internal_fd *kept);
// Around fork(): the registry's list is not changed while it forks.
void internal_fds_fork_prepare();
void internal_fds_fork_parent();
// The number's bound: how long a move waits for the uses of the old
// number before dup2 fails with EBUSY.
constexpr long INTERNAL_FD_MOVE_BOUND_NS = 5000000000L;

} // namespace uepoll::core
