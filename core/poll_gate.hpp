// core/poll_gate.hpp - "wait until the poller has left its ppoll": the
// protocol between a thread blocked in ppoll() on a copy of a poll set (an
// instance's leader, the helper) and a close() that must not release an fd
// number while such a ppoll may still hold the file behind it (a ppoll
// holds a reference on every file it polls, which would keep a socket open
// past its close and send its FIN late).  No kernel twin: the kernel's
// wait queues need no such thing, since ep_remove_wait_queue() unhooks a
// file from a poller without waiting for it.
//
// The poller calls enter() before it copies the set and leave() once it
// has let go of every file of that copy; the sequence is odd in between.
// A closer first makes its fd unpollable (disarms the slot, marks the file
// dead), then join()s: either the poller is outside, and its next copy
// sees the closer's stores, or the closer kicks it out of ppoll and
// wait_out()s.
#pragma once

#include <atomic>
#include <cstdint>

namespace uepoll::core {

class poll_gate {
public:
	// The poller, before it copies the set it will poll.
	void enter() { seq_.fetch_add(1, std::memory_order_seq_cst); }
	// The poller, once it has let go of every file of its copy: wakes the
	// closers waiting for it.
	void leave();
	// A closer, after its fd became unpollable.  Returns 0 when the poller
	// is outside, else the sequence to wait past (odd, never 0); the caller
	// then kicks the poller out of ppoll and calls wait_out().
	// Why the read is a read-modify-write: the poller's enter() and this
	// read are then ordered in seq_'s modification order, so if ours comes
	// first, the closer's earlier stores are seen by the copy that follows
	// the poller's enter(), which then cannot hold the fd.  A plain load
	// with a fence would say the same, but TSan cannot check fences.
	uint32_t join()
	{
		uint32_t seq = seq_.fetch_add(0, std::memory_order_seq_cst);
		if (!(seq & 1))
			return 0;
		closers_.fetch_add(1, std::memory_order_acq_rel);
		return seq;
	}
	// A closer: returns once the poller has left the ppoll that join() saw
	// (no-op for seq 0).
	void wait_out(uint32_t seq);
	// wait_out() for a poller the closer could not kick (its wake-up fd is
	// gone): gives up after bound_ns; false then.
	bool wait_out_bounded(uint32_t seq, long bound_ns);
	// After fork() in the child: there is no poller.
	void reset()
	{
		seq_.store(0);
		closers_.store(0);
	}

private:
	std::atomic<uint32_t> seq_{0};     // odd while the poller is inside
	std::atomic<uint32_t> closers_{0}; // closers waiting for seq_ to move (a futex wake is owed)
};

} // namespace uepoll::core
