// core/spinlock.hpp - the twin of spinlock_t: a test-and-test-and-set lock
// for the short sections the wake-up path takes (ep->lock, file->f_lock).
//
// Why not std::mutex: a holder never sleeps and never makes a blocking
// call, so a spin with a yield after a while is cheaper than a futex
// round-trip, and unlike a pthread mutex it is async-signal-safe to *try*.
// Every acquisition also raises the thread's uepoll "depth", so that a
// signal handler that calls close() on this thread while we hold a lock can
// see it and defer its work instead of deadlocking (core/deferred.cpp).
#pragma once

#include <atomic>
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

class spinlock {
public:
	void lock()
	{
		depth_enter();
		for (unsigned spins = 0;; ++spins) {
			if (!locked_.exchange(true, std::memory_order_acquire))
				return;
			while (locked_.load(std::memory_order_relaxed)) {
				if (++spins > 128)
					sched_yield();
			}
		}
	}
	void unlock()
	{
		locked_.store(false, std::memory_order_release);
		depth_leave();
	}
	// After fork() in the child: whoever held it is gone.
	void reset() { locked_.store(false, std::memory_order_relaxed); }

private:
	std::atomic<bool> locked_{false};
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
	}
	bool try_lock()
	{
		depth_enter();
		if (m_.try_lock())
			return true;
		depth_leave();
		return false;
	}
	void unlock()
	{
		m_.unlock();
		depth_leave();
	}
	void reset() { new (&m_) std::mutex(); }

private:
	std::mutex m_;
};

} // namespace uepoll::core
