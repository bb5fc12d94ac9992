// core/tiers.cpp - hot and cold items: who polls an armed item.  No kernel
// twin: the kernel's callback costs nothing while a file is idle, while a
// ppoll() costs 30-60 ns for every fd it is given, each time it is entered,
// and any one fd waking ends it.  So an instance's waits poll only its HOT
// items (ep->pfds, compact), and an item that its instance's waits polled
// `tier_demote_after` times in a row without finding it ready is DEMOTED:
// it goes COLD, parked in a SHARD, a set of at most SHARD_SLOTS fds polled
// by a thread of its own (the shard's poller) in a ppoll that returns only
// when one of them becomes ready (or the set changes).  A cold fd waking
// costs a pass over its shard, not over every idle fd of the process.
//
// The shard's poller is the helper's twin (core/helper.cpp): it blocks
// every signal, runs the wake-up walk for what it sees ready
// (file_wakeup_polled() with the slot's arm epoch, as the helper does), and
// never wakes up while nothing is ready.  The walk's callback queues the
// item, which disarms it (ep_slot_update): a cold item that is disarmed is
// PROMOTED, back into its instance's hot set, where its re-arming after the
// report puts it.  A process that never demotes has no poller thread.
//
// Locking (the LOCKING list of core/eventpoll.cpp): shards_lock (6) under
// ep->mtx at most; a shard's lock (9) after ep->lock (8), and nothing of
// ours but peer_lock after it (never taken there today).  A hot item's pidx is its slot in ep->pfds, under ep->lock; a cold
// item's pidx is its slot in shard `shard_no`, under that shard's lock (a
// swap-remove moves another instance's item); shard_no and `cold` change
// only under both.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <mutex>
#include <pthread.h>
#include <sys/eventfd.h>

#include "core/internal.hpp"

namespace uepoll::core {

// The demotion threshold: waits in a row that found a hot item idle.  0:
// tiering is off, no item is ever demoted (UEPOLL_TIERS=0).  The default
// is the shim's (shim/config.cpp); the tests lower it.
std::atomic<int> tier_demote_after{0};
std::atomic<uint64_t> stat_demotions, stat_promotions;

namespace {

// How many fds one poller parks.  A cold fd waking costs its poller one
// pass over the shard (leaving and re-entering ppoll): 256 fds is about
// 10 us, so 10,000 cold fds each waking once a second cost a tenth of a
// core in the pollers, spread over 40 threads.
constexpr int SHARD_SLOTS = 256;
// epfile::shards_polled has one bit per shard number modulo 32.
constexpr int MAX_SHARDS = 4096;

struct shard {
	spinlock lock; // n and the slot arrays; the pidx of the items in them
	int n = 0;
	pollfd pfds[SHARD_SLOTS];
	epitem *items[SHARD_SLOTS];
	uint32_t epochs[SHARD_SLOTS];  // the item's arm_epoch when its slot was written
	uint64_t stamps[SHARD_SLOTS];  // unique per write: a poller's copy of a slot is valid while it holds
	uint64_t stamp_seq = 0;
	uint16_t no = 0;               // our index in shards[]
	// The control eventfd ("copy your set again"): an internal fd whose
	// number may move (core/internal_fd.hpp); the poller holds a use of it
	// across its ppoll, a kicker one around its write.  Whether the thread
	// runs: set under shards_lock, read by kickers without it (a forked
	// child starts a shard's poller again while other threads may kick).
	internal_fd ctl{EFD_NONBLOCK};
	std::atomic<bool> started{false};
	std::atomic<bool> kick_pending{false};
	poll_gate gate;                // inside from the copy of the set until its files are let go
	std::atomic<uint32_t> rounds{0}; // passes completed (tiers_settle waits on it)
	std::atomic<uint32_t> settlers{0};
};

spinlock shards_lock;                      // creating shards, starting their threads
shard *shards[MAX_SHARDS];                 // written under shards_lock, never freed
std::atomic<int> nshards{0};
std::atomic<int> room_hint{0};             // a shard that had room last time
std::atomic<bool> any_started{false};
std::atomic<uint64_t> poller_wakeups{0}, poller_polls{0};
thread_local shard *tls_shard;             // the shard whose poller this thread is

// Writes sh's control eventfd; false when it has none (its poller then
// looks every millisecond) or the write failed (closed behind our back).
bool shard_signal(shard *sh)
{
	internal_fd_use u = sh->ctl.acquire();
	return u.fd() >= 0 && efd_signal(u.fd());
}

void shard_kick(shard *sh)
{
	if (!sh->started || tls_shard == sh)
		return;
	if (!sh->kick_pending.exchange(true, std::memory_order_acq_rel))
		shard_signal(sh);
}

// Writes slot s of sh (under sh->lock): a new stamp, so that a poller's
// older copy of the slot is no longer taken for it.
void shard_slot_write(shard *sh, int s, epitem *epi, pollfd p)
{
	sh->lock.assert_held();
	sh->pfds[s] = pollfd{p.fd, p.events, 0};
	sh->items[s] = epi;
	sh->epochs[s] = epi->arm_epoch;
	sh->stamps[s] = ++sh->stamp_seq;
	epi->pidx = s;
}

void *shard_main(void *arg)
{
	shard *sh = static_cast<shard *>(arg);
	tls_shard = sh;
	pthread_setname_np(pthread_self(), "uepoll-poller"); // for top, gdb, the benchmarks
	pollfd set[SHARD_SLOTS + 1];
	int slot_of[SHARD_SLOTS];
	uint64_t stamp_of[SHARD_SLOTS];
	for (;;) {
		long now = monotonic_ns();
		long until = LONG_MAX; // when a file left to an I/O window must be looked at anyway
		// Ours until the end of the round: a dup2 onto its number waits.
		internal_fd_use ctl = sh->ctl.acquire();
		if (ctl.fd() < 0) {
			ctl.end();
			sh->ctl.renew(-1);
			ctl = sh->ctl.acquire();
		}
		// Without one nobody can kick us: look again every millisecond.
		if (ctl.fd() < 0)
			until = now + 1000000;
		sh->kick_pending.store(false, std::memory_order_release);
		// "Inside" from before the copy (core/poll_gate.hpp): a close()
		// that sees us outside has changed its slot already.
		sh->gate.enter();
		int k = 0;
		{
			std::lock_guard g(sh->lock);
			for (int s = 0; s < sh->n; s++) {
				if (sh->pfds[s].fd < 0 || left_to_window(sh->items[s]->file, now, &until))
					continue;
				set[k] = sh->pfds[s];
				slot_of[k] = s;
				stamp_of[k++] = sh->stamps[s];
			}
		}
		set[k] = pollfd{ctl.fd(), POLLIN, 0}; // fd -1: ignored by ppoll
		timespec left{0, until == LONG_MAX ? 0 : std::max(0L, until - now)};
		long r = g_sys->ppoll(set, k + 1, until == LONG_MAX ? nullptr : &left, nullptr);
		poller_wakeups.fetch_add(1, std::memory_order_relaxed);
		poller_polls.fetch_add(k + 1, std::memory_order_relaxed);
		now = monotonic_ns();
		// Closed (POLLNVAL) or replaced (a read no eventfd makes) behind our
		// back: made again after the round; not read once not ours.
		bool ctl_lost = (set[k].revents & POLLNVAL) != 0;
		if (!ctl_lost && set[k].revents && sh->ctl.peek() == ctl.fd())
			ctl_lost = !efd_drain(ctl.fd());
		for (int i = 0; r > 0 && i < k; i++) {
			if (!set[i].revents || (set[i].revents & POLLNVAL))
				continue;
			epfile *f = nullptr;
			const epitem *epi = nullptr;
			uint32_t epoch = 0;
			{
				std::lock_guard g(sh->lock);
				int s = slot_of[i];
				// Same stamp: same item, same arming, still in this slot.
				if (s < sh->n && sh->stamps[s] == stamp_of[i] && epfile_tryget(sh->items[s]->file)) {
					epi = sh->items[s];
					f = epi->file;
					epoch = sh->epochs[s];
				}
			}
			if (f && left_to_window(f, now, &until)) {
				epfile_put(f);
				f = nullptr;
			}
			if (f) {
				file_wakeup_polled(f, static_cast<uint16_t>(set[i].revents), epi, epoch);
				epfile_put(f);
			}
		}
		sh->gate.leave();
		int seen = ctl.fd();
		ctl.end();
		if (ctl_lost)
			sh->ctl.renew(seen);
		// seq_cst both ways with tiers_settle(): "rounds, then settlers?"
		// against "settlers, then rounds?".
		sh->rounds.fetch_add(1, std::memory_order_seq_cst);
		if (sh->settlers.load(std::memory_order_seq_cst))
			g_sys->futex_wake(reinterpret_cast<const uint32_t *>(&sh->rounds), INT_MAX);
	}
	return nullptr;
}

// Under shards_lock: starts sh's poller.  False if it could not be.
bool shard_start(shard *sh)
{
	shards_lock.assert_held();
	if (sh->started)
		return true;
	// Under shards_lock (a spinlock): renew() may wait for a dup2's move,
	// bounded (core/internal_fd.hpp); a shard starts once per process.
	if (sh->ctl.renew(-1) < 0)
		return false;
	// 128 KiB: the wake-up walk recurses through nested instances.
	if (!kthread_run(shard_main, sh, 128 * 1024)) {
		sh->ctl.destroy();
		return false;
	}
	sh->started.store(true);
	any_started.store(true, std::memory_order_release);
	return true;
}

// The shards bit of shard number no in epfile::shards_polled.
inline uint32_t shard_bit(int no) { return uint32_t(1) << (no % 32); }

} // namespace

bool tiers_running() { return any_started.load(std::memory_order_acquire); }

void tiers_reserve(int want)
{
	std::lock_guard g(shards_lock);
	int free_slots = 0;
	int n = nshards.load(std::memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		std::lock_guard s(shards[i]->lock);
		if (shards[i]->started)
			free_slots += SHARD_SLOTS - shards[i]->n;
	}
	// Start the threads of shards made before a fork (the child has none).
	for (int i = 0; i < n && free_slots < want; i++) {
		if (!shards[i]->started && shard_start(shards[i]))
			free_slots += SHARD_SLOTS;
	}
	while (free_slots < want && n < MAX_SHARDS) {
		shard *sh = slab_new<shard>();
		if (!sh)
			return;
		sh->no = static_cast<uint16_t>(n);
		if (!shard_start(sh)) {
			slab_delete(sh);
			return;
		}
		shards[n++] = sh;
		nshards.store(n, std::memory_order_release);
		free_slots += SHARD_SLOTS;
	}
}

bool tier_demote(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	pollfd p = ep->pfds[epi->pidx];
	if (p.fd < 0 || epi->cold)
		return false;
	int n = nshards.load(std::memory_order_acquire);
	int start = room_hint.load(std::memory_order_relaxed);
	for (int j = 0; j < n; j++) {
		int no = (start + j) % n;
		shard *sh = shards[no];
		if (!sh->started)
			continue;
		{
			std::lock_guard g(sh->lock);
			if (sh->n == SHARD_SLOTS)
				continue;
			// Before the slot: a close() that finds the bit clear (under
			// ep->lock, after us) finds no slot of f in this shard either.
			epi->file->shards_polled.fetch_or(shard_bit(no), std::memory_order_relaxed);
			// Out of the hot set first: the swap-remove moves another item
			// of ours, whose pidx is ep's.
			ep_pset_remove(ep, epi);
			epi->cold = true;
			epi->shard_no = static_cast<uint16_t>(no);
			shard_slot_write(sh, sh->n++, epi, p);
		}
		room_hint.store(no, std::memory_order_relaxed);
		epi->tier_idle_polls = 0;
		stat_demotions.fetch_add(1, std::memory_order_relaxed);
		shard_kick(sh);
		return true;
	}
	return false;
}

// Takes epi out of its shard (under ep->lock and the shard's lock): the
// last slot moves into its place.
static void shard_slot_remove(shard *sh, epitem *epi)
{
	sh->lock.assert_held();
	int s = epi->pidx, last = --sh->n;
	if (s != last) {
		epitem *moved = sh->items[last];
		shard_slot_write(sh, s, moved, sh->pfds[last]);
		sh->epochs[s] = sh->epochs[last]; // the moved item's arming did not change
	}
	sh->items[last] = nullptr;
	epi->pidx = -1;
}

void tier_promote(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	shard *sh = shards[epi->shard_no];
	{
		std::lock_guard g(sh->lock);
		shard_slot_remove(sh, epi);
		epi->cold = false;
	}
	epi->tier_idle_polls = 0;
	ep_pset_append(ep, epi);
	stat_promotions.fetch_add(1, std::memory_order_relaxed);
}

void tier_remove(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	shard *sh = shards[epi->shard_no];
	std::lock_guard g(sh->lock);
	shard_slot_remove(sh, epi);
	epi->cold = false;
}

bool tier_slot_update(eventpoll *ep, epitem *epi, int fd, short events)
{
	ep->lock.assert_held();
	shard *sh = shards[epi->shard_no];
	bool widened;
	{
		std::lock_guard g(sh->lock);
		pollfd &p = sh->pfds[epi->pidx];
		widened = p.fd != fd || (events & ~p.events);
		if (widened)
			epi->arm_epoch++;
		if (p.fd == fd && p.events == events)
			return false;
		shard_slot_write(sh, epi->pidx, epi, pollfd{fd, events, 0});
	}
	if (widened)
		shard_kick(sh);
	return widened;
}

// Waits until the pollers of the shards in mask (epfile::shards_polled) are
// out of any ppoll they entered before now: one may hold a file the
// caller is closing (the twin of helper_wait_poll_leaves()).
void tiers_wait_poll_leaves(uint64_t mask)
{
	if (!mask)
		return;
	int n = nshards.load(std::memory_order_acquire);
	for (int i = 0; i < n; i++) {
		shard *sh = shards[i];
		if (!(mask & shard_bit(i)) || !sh->started || sh == tls_shard)
			continue;
		uint32_t seq = sh->gate.join();
		if (!seq)
			continue;
		if (shard_signal(sh))
			sh->gate.wait_out(seq);
		else
			// No control fd, or one closed behind our back while it polls
			// it: it cannot be kicked.  Not unbounded (as the helper's).
			sh->gate.wait_out_bounded(seq, POLLER_DEAF_BOUND_NS);
	}
}

void tiers_kick(uint64_t mask)
{
	int n = nshards.load(std::memory_order_acquire);
	for (int i = 0; mask && i < n; i++)
		if (mask & shard_bit(i))
			shard_kick(shards[i]);
}

void tiers_settle()
{
	int n = nshards.load(std::memory_order_acquire);
	for (int i = 0; i < n; i++) {
		shard *sh = shards[i];
		if (!sh->started || sh == tls_shard)
			continue;
		sh->settlers.fetch_add(1, std::memory_order_seq_cst);
		// Two kicked passes: the first may have begun before this call; the
		// second began after the first ended, so its ppoll saw every fd
		// that was ready before this call.
		for (int pass = 0; pass < 2; pass++) {
			uint32_t r0 = sh->rounds.load(std::memory_order_seq_cst);
			shard_signal(sh); // none: it looks every millisecond
			for (uint32_t r; (r = sh->rounds.load(std::memory_order_seq_cst)) == r0;)
				g_sys->futex_wait(reinterpret_cast<const uint32_t *>(&sh->rounds), r);
		}
		sh->settlers.fetch_sub(1, std::memory_order_seq_cst);
	}
}

void tiers_configure(bool enabled, int demote_after)
{
	tier_demote_after.store(enabled ? std::clamp(demote_after, 1, TIER_IDLE_POLLS_MAX) : 0,
				std::memory_order_relaxed);
}

int tiers_demote_after_configured() { return tier_demote_after.load(std::memory_order_relaxed); }

void tiers_stats(core_stats *s)
{
	s->demotions = stat_demotions.load();
	s->promotions = stat_promotions.load();
	s->poller_wakeups = poller_wakeups.load();
	s->poller_polls = poller_polls.load();
	int n = nshards.load(std::memory_order_acquire);
	s->pollers = 0;
	s->cold = 0;
	for (int i = 0; i < n; i++) {
		std::lock_guard g(shards[i]->lock);
		s->pollers += shards[i]->started;
		s->cold += static_cast<uint64_t>(shards[i]->n);
	}
}

void tiers_fork_prepare() { shards_lock.lock(); }
void tiers_fork_parent() { shards_lock.unlock(); }

// In the child: no poller threads.  Every cold item goes back to its
// instance's hot set (its waits poll it again, and demote it again into a
// shard whose poller then starts).  Called with every ep->mtx held.
void tiers_fork_child()
{
	shards_lock.reset();
	int n = nshards.load(std::memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		shard *sh = shards[i];
		sh->lock.reset();
		sh->ctl.destroy();
		sh->started.store(false);
		sh->kick_pending.store(false);
		sh->gate.reset();
		sh->settlers.store(0);
	}
	any_started.store(false);
	if (!n)
		return;
	for (eventpoll &ep : all_eps_list()) {
		std::lock_guard g(ep.lock);
		for (epitem &epi : ep.rbr) {
			if (!epi.cold)
				continue;
			epi.cold = false;
			epi.tier_idle_polls = 0;
			ep_pset_append(&ep, &epi);
			ep_slot_update(&ep, &epi);
		}
	}
	for (int i = 0; i < n; i++)
		shards[i]->n = 0;
}

} // namespace uepoll::core
