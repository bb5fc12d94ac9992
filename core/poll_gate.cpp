// core/poll_gate.cpp - the futex half of poll_gate (core/poll_gate.hpp):
// out of line because it calls the kernel through g_sys.
#include <climits>

#include "core/internal.hpp"

namespace uepoll::core {

void poll_gate::leave()
{
	seq_.fetch_add(1, std::memory_order_seq_cst);
	if (closers_.load(std::memory_order_acquire))
		g_sys->futex_wake(reinterpret_cast<const uint32_t *>(&seq_), INT_MAX);
}

void poll_gate::wait_out(uint32_t seq)
{
	if (!seq)
		return;
	while (seq_.load(std::memory_order_acquire) == seq)
		g_sys->futex_wait(reinterpret_cast<const uint32_t *>(&seq_), seq);
	closers_.fetch_sub(1, std::memory_order_acq_rel);
}

bool poll_gate::wait_out_bounded(uint32_t seq, long bound_ns)
{
	if (!seq)
		return true;
	timespec start, now;
	g_sys->monotonic(&start);
	bool out;
	for (;;) {
		out = seq_.load(std::memory_order_acquire) != seq;
		if (out)
			break;
		g_sys->monotonic(&now);
		if ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) > bound_ns)
			break;
		timespec ms{0, 1000000};
		g_sys->ppoll(nullptr, 0, &ms, nullptr);
	}
	closers_.fetch_sub(1, std::memory_order_acq_rel);
	return out;
}

} // namespace uepoll::core
