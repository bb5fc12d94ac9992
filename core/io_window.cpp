// core/io_window.cpp - the I/O window protocol (eventpoll.hpp, io_window):
// the hook's half (ep_io_window_open/close) and the pollers' half
// (left_to_window: the helper and the shards' pollers of core/tiers.cpp),
// which share one seq_cst argument.  No kernel twin: the
// kernel makes a call's wake-ups inside the call, and no poller can see
// its readiness in between.
#include <algorithm>

#include "core/internal.hpp"

namespace uepoll::core {

// How long the helper leaves a file to an open I/O window (eventpoll.hpp,
// io_window) before it takes it anyway.  A window of a non-blocking call
// lasts microseconds, unless its thread is preempted inside it: with 1 ms,
// regressions.helper_leaves_an_io_calls_wakeups_to_its_hook (200 windows)
// failed 3 times in 20 on a loaded 2-core machine; with 20 ms, 0 in 20.
// A blocking call (a read that waits for data) must not hide its file's
// other readiness for longer than this, nor make the helper spin: past
// it, the file is polled as if no window were open.
constexpr long WINDOW_DEFER_NS = 20000000;

// True when an I/O window opened less than WINDOW_DEFER_NS ago is open on
// f: its wake-ups are the hook's to make, and the window's close will kick
// the helper to look again; *until is lowered to when it must look anyway.
// seq_cst both ways with ep_io_window_close(): "deferred, then busy?"
// against "not busy, then deferred?".
bool left_to_window(epfile *f, long now, long *until)
{
	if (f->io_busy.load(std::memory_order_seq_cst) == 0)
		return false;
	long end = f->io_busy_since.load(std::memory_order_relaxed) + WINDOW_DEFER_NS;
	if (now >= end)
		return false;
	f->io_deferred.store(true, std::memory_order_seq_cst);
	if (f->io_busy.load(std::memory_order_seq_cst) == 0)
		return false;
	*until = std::min(*until, end);
	return true;
}

io_window ep_io_window_open(epfile *f)
{
	io_window w;
	if ((!helper_running() && !tiers_running()) || !epfile_tryget(f))
		return w;
	w.f[0] = f;
	w.f[1] = epfile_get_peer(f);
	long now = monotonic_ns();
	for (epfile *x : w.f) {
		if (x) {
			x->io_busy_since.store(now, std::memory_order_relaxed);
			x->io_busy.fetch_add(1, std::memory_order_seq_cst);
		}
	}
	return w;
}

void ep_io_window_close(io_window &w)
{
	bool kick = false;
	uint64_t shards = 0;
	for (epfile *&x : w.f) {
		if (!x)
			continue;
		// seq_cst both ways with the pollers' "deferred, then busy?":
		// either they see us gone, or we see what they left.
		x->io_busy.fetch_sub(1, std::memory_order_seq_cst);
		if (x->io_deferred.load(std::memory_order_seq_cst) && x->io_deferred.exchange(false)) {
			kick = true;
			shards |= x->shards_polled.load(std::memory_order_relaxed);
		}
		epfile_put(x);
		x = nullptr;
	}
	if (kick) {
		helper_kick();
		tiers_kick(shards);
	}
}

} // namespace uepoll::core
