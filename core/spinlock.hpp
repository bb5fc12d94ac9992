// core/spinlock.hpp - the twin of spinlock_t: a test-and-test-and-set lock
// for the short sections the wake-up path takes (ep->lock, file->f_lock).
//
// Why not std::mutex: a holder never sleeps and never makes a blocking
// call, so a spin with a yield after a while is cheaper than a futex
// round-trip, and unlike a pthread mutex it is async-signal-safe to *try*.
// Every acquisition also raises the thread's uepoll "depth", so that a
// signal handler that calls close() on this thread while we hold a lock can
// see it and defer its work instead of deadlocking (core/deferred.cpp).
//
// Debug builds (NDEBUG not defined: the sanitizer builds of the test
// command) also record the owner, so that a function whose comment says
// "called with X held" can check it: X.assert_held(), the twin of
// lockdep_assert_held().  Release builds carry no owner and check nothing.
#pragma once

#include <atomic>
#include <cassert>
#include <mutex>
#include <new>
#include <sched.h>

namespace uepoll::core {

// How many uepoll locks this thread holds (signal handlers read it).
extern thread_local int tls_lock_depth;
// Runs work that a signal handler deferred while this thread held a lock:
// closes, and signals to unblock (core/deferred.cpp).
void run_deferred();
extern thread_local bool tls_deferred_pending;

inline void depth_enter()
{
	++tls_lock_depth;
	std::atomic_signal_fence(std::memory_order_seq_cst);
}

inline void depth_leave()
{
	std::atomic_signal_fence(std::memory_order_seq_cst);
	if (--tls_lock_depth == 0 && tls_deferred_pending)
		run_deferred();
}

// Who holds a lock: a per-thread address (this thread's lock depth).  In
// release builds an empty member ([[no_unique_address]]: no bytes).
#ifndef NDEBUG
class lock_owner {
public:
	void set() { owner_.store(&tls_lock_depth, std::memory_order_relaxed); }
	void clear() { owner_.store(nullptr, std::memory_order_relaxed); }
	bool mine() const { return owner_.load(std::memory_order_relaxed) == &tls_lock_depth; }

private:
	std::atomic<const int *> owner_{nullptr};
};
#else
class lock_owner {
public:
	void set() {}
	void clear() {}
	bool mine() const { return true; }
};
#endif

class spinlock {
public:
	void lock()
	{
		depth_enter();
		for (unsigned spins = 0;; ++spins) {
			if (!locked_.exchange(true, std::memory_order_acquire)) {
				owner_.set();
				return;
			}
			while (locked_.load(std::memory_order_relaxed)) {
				if (++spins > 128)
					sched_yield();
			}
		}
	}
	void unlock()
	{
		owner_.clear();
		locked_.store(false, std::memory_order_release);
		depth_leave();
	}
	// After fork() in the child: whoever held it is gone.
	void reset()
	{
		owner_.clear();
		locked_.store(false, std::memory_order_relaxed);
	}
	// Twin of lockdep_assert_held(): this thread holds the lock (debug only).
	void assert_held() const { assert(owner_.mine()); }

private:
	std::atomic<bool> locked_{false};
	[[no_unique_address]] lock_owner owner_;
};

// Twin of struct mutex (ep->mtx, epnested_mutex): may be held across
// non-blocking syscalls (zero-timeout poll, copy_to_user).  Same depth
// accounting as the spinlock.
class sleeping_mutex {
public:
	void lock()
	{
		depth_enter();
		m_.lock();
		owner_.set();
	}
	bool try_lock()
	{
		depth_enter();
		if (m_.try_lock()) {
			owner_.set();
			return true;
		}
		depth_leave();
		return false;
	}
	void unlock()
	{
		owner_.clear();
		m_.unlock();
		depth_leave();
	}
	void reset()
	{
		owner_.clear();
		new (&m_) std::mutex();
	}
	// Twin of lockdep_assert_held(): this thread holds the mutex (debug only).
	void assert_held() const { assert(owner_.mine()); }

private:
	std::mutex m_;
	[[no_unique_address]] lock_owner owner_;
};

} // namespace uepoll::core
