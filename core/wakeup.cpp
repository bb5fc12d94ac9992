// core/wakeup.cpp - the wake-up walk: what runs when a file is seen ready.
// Twin of ep_poll_callback(), of __wake_up_common() on a file's wait queue
// (file_wakeup: exclusive items in ADD order, nr_exclusive = 1) and of
// ep_poll_safewake() (a nested instance's own wake-up, inside the walk).
// Its callers are the pollers (a leader, the helper, a harvest's re-poll:
// a wake_kind::observed walk) and the modelled wake-ups of in-process I/O
// (core/io_hints.cpp, the close path: a wake_kind::event walk).
#include <mutex>

#include "core/internal.hpp"

namespace uepoll::core {

constinit thread_local bool tls_look_was_a_wakeup = false;

// The slot a blocked poller's observed walk comes from (file_wakeup_polled()).
struct polled_slot {
	const epitem *epi;
	uint32_t epoch;
};
static thread_local const polled_slot *tls_polled;

// Twin of ep_poll_callback(): file `epi->file` woke up with `key`.
// Queues the item (on the ovflist while a scan runs), wakes one waiter.
// Returns ewake as the kernel does (for the EXCLUSIVE walk) and sets *pwake
// when the instance itself is watched (ep_poll_safewake must follow, with
// no lock held).
static int ep_poll_callback(epitem *epi, uint32_t key, bool *pwake, wake_kind kind)
{
	eventpoll *ep = epi->ep;
	int ewake = 0;
	stat_callbacks.fetch_add(1, std::memory_order_relaxed);

	std::lock_guard g(ep->lock);
	// A blocked poller's result for this item is valid only for the arming
	// it polled (file_wakeup_polled()).
	if (kind == wake_kind::observed && tls_polled && tls_polled->epi == epi && tls_polled->epoch != epi->arm_epoch)
		goto out;
	// A disabled (fired EPOLLONESHOT) item gets nothing until MOD.
	if (!(epi->event.events & ~EP_PRIVATE_BITS))
		goto out;
	// Wake-ups that do not concern this item's interest are ignored.
	if (key && !(key & epi->event.events))
		goto out;
	// A level seen by a poller (the helper, a leader) may be older than the
	// item's last report: it counts only for the bits the item still
	// polls.  An edge-triggered item whose edge was reported waits for a
	// real edge (ep_io_hint), however late a stale poll result arrives.
	if (kind == wake_kind::observed && (epi->event.events & EPOLLET) &&
	    (epi->et_dead || !(key & epi->event.events & ~epi->et_suppressed())))
		goto out;

	// An exclusive item passed over by the walk of a real wake-up waits
	// for the next one; a poller seeing the same readiness is not one.
	if (kind == wake_kind::observed && epi->excl_parked && !ep_is_linked(epi))
		goto out;
	// This observed walk accounts for the I/O that made the file ready (see
	// io_stamp): the item is queued by it, or is queued already and no
	// scan runs, so the harvest's re-poll comes after this poll and
	// reports what it saw.  A running scan may have re-polled the item
	// before the I/O: then the I/O's own wake-up must still come.
	if (kind == wake_kind::observed && (!ep_is_linked(epi) || ep->ovflist == EP_UNACTIVE_PTR)) {
		epfile *f = epi->file;
		if (key & (EPOLLIN | EPOLLRDNORM))
			epi->level_in_seen.store(f->level_in_walks.load(std::memory_order_relaxed), std::memory_order_relaxed);
		if (key & (EPOLLOUT | EPOLLWRNORM))
			epi->level_out_seen.store(f->level_out_walks.load(std::memory_order_relaxed), std::memory_order_relaxed);
	}
	// A level seen for an item that is queued (or on a running scan's list)
	// is nothing new: the harvest re-polls it.  It must neither bring back
	// an edge the scan is about to report nor pass a wake-up on to the
	// instances watching this one (that would be an edge for them).
	if (kind == wake_kind::observed && ep_is_linked(epi)) {
		ewake = 1; // already queued: the exclusive walk may stop
		goto out;
	}
	// How it was queued, for the harvest (epitem::queued_by_look): an
	// edge makes it a real wake-up, whatever queued it before.
	if (kind != wake_kind::observed || tls_look_was_a_wakeup)
		epi->queued_by_look = false;
	else if (!ep_is_linked(epi) && epi->next == EP_UNACTIVE_PTR)
		epi->queued_by_look = true;
	// It woke: the waits that found it idle before start again from zero
	// (core/tiers.cpp), whichever poller saw it.
	epi->tier_idle_polls = 0;
	if (ep->ovflist != EP_UNACTIVE_PTR) {
		// A scan is running: chain on the ovflist, ep_done_scan() requeues.
		if (epi->next == EP_UNACTIVE_PTR) {
			epi->next = ep->ovflist;
			ep->ovflist = epi;
		}
	} else if (!ep_is_linked(epi)) {
		ep->rdllist.push_back(*epi);
		epi->on_list = true;
	}
	ep_slot_update(ep, epi);

	if (!ep->wq.empty()) {
		if (epi->event.events & EPOLLEXCLUSIVE) {
			switch (key & EPOLLINOUT_BITS) {
			case EPOLLIN:
				if (epi->event.events & EPOLLIN)
					ewake = 1;
				break;
			case EPOLLOUT:
				if (epi->event.events & EPOLLOUT)
					ewake = 1;
				break;
			case 0:
				ewake = 1;
				break;
			}
		}
		ep_wake_one(ep);
	}
	// Watched by other instances: they get this wake-up from the nested
	// wake-up that follows (safewake), and only after it does the
	// instance's eventfd become readable.  The other way round, a poller
	// of that eventfd would see this same wake-up first and queue the
	// watching item, and the nested wake-up would queue it again after it
	// was reported: one event, two reports.  Unwatched: the eventfd now.
	if (!ep->file->f_ep.empty())
		*pwake = true;
	else
		ep_sync_efd(ep);
out:
	if (!(epi->event.events & EPOLLEXCLUSIVE))
		ewake = 1;
	return ewake;
}

// The stamp of the I/O hint whose wake-up is being walked (hint_wake()).
static thread_local const io_stamp *tls_hint_stamp;

// Did a poller's observed walk queue epi for this hint's change already?
static bool seen_by_level(const epitem *epi, uint32_t key, const io_stamp *st)
{
	if (!st || !st->valid)
		return false;
	if ((key & EPOLLIN) && static_cast<int32_t>(epi->level_in_seen.load(std::memory_order_relaxed) - st->in) > 0)
		return true;
	if ((key & EPOLLOUT) && static_cast<int32_t>(epi->level_out_seen.load(std::memory_order_relaxed) - st->out) > 0)
		return true;
	return false;
}

// seen_by_level() may be wrong for the few instructions between a stamp
// and its write's syscall (a look counted then saw the file before the
// data).  A read-kept item (core/io_hints.cpp, keep_read_side()) cannot
// afford it: nothing would re-arm it, so it takes the wake-up (at worst
// an extra report, in that race).  An ET item not kept remembers the skip,
// so that a later partial read re-arms it instead of keeping it.
static bool skip_is_safe(epitem *epi)
{
	// Under ep->lock: a harvest rewrites event.events (a ONESHOT item is
	// disarmed) under it (TSan, threads.oneshot_event_wakes_one).
	std::lock_guard g(epi->ep->lock);
	if (!(epi->event.events & EPOLLET))
		return true;
	if (epi->et_read_kept)
		return false;
	epi->et_hint_skipped = true;
	return true;
}

// Twin of __wake_up() on a file's wait queue: run the callback of every item
// watching f.  Non-exclusive items always; exclusive ones in ADD order until
// one of them woke a waiter (the kernel's nr_exclusive = 1).  Exclusive
// items passed over are parked (excl_parked) until the file is seen idle,
// otherwise poll(2)'s level would call them again at once.
void file_wakeup(epfile *f, uint32_t revents, int depth, wake_kind kind)
{
	const io_stamp *st = depth == 0 && kind == wake_kind::event ? tls_hint_stamp : nullptr;
	if (depth > EP_MAX_DEPTH || f->dead.load(std::memory_order_acquire))
		return;
	if (f->poll_consumes && kind == wake_kind::observed && (revents & (EPOLLPRI | EPOLLERR)))
		f->consumed.fetch_or(revents & (EPOLLPRI | EPOLLERR), std::memory_order_acq_rel);
	// poll(2) answers only what was asked (IN or RDNORM, OUT or WRNORM),
	// while a file's wake-up key carries both: widen a level, so that the
	// key filter in ep_poll_callback sees what the kernel's key would
	// hold.  An edge's key is exact already (an epoll file's is EPOLLIN
	// alone, as ep_poll_safewake() gives it).
	if (is_file_epoll(f))
		revents = EPOLLIN; // however it was seen (its eventfd, a re-poll)
	else if (kind == wake_kind::observed) {
		if (revents & (EPOLLIN | EPOLLRDNORM))
			revents |= EPOLLIN | EPOLLRDNORM;
		if (revents & (EPOLLOUT | EPOLLWRNORM))
			revents |= EPOLLOUT | EPOLLWRNORM;
	}
	// Twin of ep_poll_safewake() at the end of ep_poll_callback(): an item
	// whose instance is watched wakes that instance's file at once, inside
	// the walk, before the file's next item: the ready-list order of the
	// instances above depends on it.  Nested f_locks are always taken from
	// the inner file to the instances watching it; ep_loop_check() keeps
	// that order acyclic.
	auto safewake = [depth](epitem &epi) {
		eventpoll *ep = epi.ep;
		epfile *ef = ep->file;
		if (epfile_tryget(ef)) {
			file_wakeup(ef, EPOLLIN, depth + 1, wake_kind::event);
			epfile_put(ef);
		}
		// The eventfd that ep_poll_callback() left for after this.
		std::lock_guard g(ep->lock);
		ep_sync_efd(ep);
	};
	{
		std::lock_guard g(f->f_lock);
		// The key of a wake-up is what changed.  An edge (a write we saw,
		// a nested instance's callback) is new by definition; a level seen
		// by poll(2) is new only in the bits the last walk did not see.
		uint32_t fresh = kind == wake_kind::event ? revents : revents & ~f->last_revents;
		if (kind == wake_kind::observed && (revents & (EPOLLIN | EPOLLRDNORM)))
			f->level_in_walks.fetch_add(1, std::memory_order_release);
		if (kind == wake_kind::observed && (revents & (EPOLLOUT | EPOLLWRNORM)))
			f->level_out_walks.fetch_add(1, std::memory_order_release);
		uint32_t key = fresh ? fresh : revents;
		f->last_revents = revents;

		for (epitem &epi : f->f_ep) {
			if (epi.exclusive)
				continue;
			// One write in this process is seen twice: by a poller (an observed
			// walk) and by the write hook (this event walk).  Not twice.
			if (seen_by_level(&epi, key, st) && skip_is_safe(&epi))
				continue;
			bool pw = false;
			ep_poll_callback(&epi, key, &pw, kind);
			if (pw)
				safewake(epi);
		}
		// Exclusive items get one walk per wake-up.  Several pollers may see
		// the same readiness (two leaders, the helper): only the first walk,
		// the one that finds new bits, may wake an exclusive waiter.
		bool dispatched = false;
		// Only an observed wake-up can repeat the last walk.  An event with
		// no key (a
		// release or a state change: pipe_release(), sock_def_wakeup(),
		// both wake_up_interruptible_all()) is a new wake-up even when it
		// adds no bit.
		if (fresh == 0 && kind == wake_kind::observed) {
			// Same readiness as the last walk: it was dispatched already if an
			// exclusive item still holds it (queued); otherwise nobody took it.
			for (epitem &epi : f->f_ep) {
				if (!(epi.exclusive))
					continue;
				std::lock_guard g2(epi.ep->lock);
				dispatched |= ep_is_linked(&epi) || epi.next != EP_UNACTIVE_PTR;
			}
			if (!dispatched)
				fresh = revents;
		}
		// One write in this process is seen twice: by the pollers (an observed
		// walk) and by the write hook (an event walk).  If a observed walk
		// already queued an exclusive item for it, the edge is the same
		// wake-up and must not wake a second waiter.
		for (epitem &epi : f->f_ep)
			if ((epi.exclusive) && seen_by_level(&epi, key, st))
				dispatched = true;
		bool stopped = dispatched;
		for (epitem &epi : f->f_ep) {
			if (!(epi.exclusive))
				continue;
			if (stopped) {
				std::lock_guard g2(epi.ep->lock);
				if (!ep_is_linked(&epi)) {
					epi.excl_parked = true;
					ep_slot_update(epi.ep, &epi);
				}
				continue;
			}
			bool pw = false;
			if (ep_poll_callback(&epi, key, &pw, kind))
				stopped = true;
			if (pw)
				safewake(epi);
		}
	}
}

void file_wakeup_polled(epfile *f, uint32_t revents, const epitem *epi, uint32_t epoch)
{
	polled_slot slot{epi, epoch};
	tls_polled = &slot;
	file_wakeup(f, revents, 0, wake_kind::observed);
	tls_polled = nullptr;
}

// The file was seen not ready: exclusive items parked by a walk may poll it
// again (the next readiness is a new wake-up).
void file_unpark_exclusive(epfile *f)
{
	std::lock_guard g(f->f_lock);
	f->last_revents = 0;
	for (epitem &epi : f->f_ep) {
		std::lock_guard g2(epi.ep->lock);
		if (!epi.excl_parked)
			continue;
		epi.excl_parked = false;
		ep_slot_update(epi.ep, &epi);
	}
}

// Twin of a file's own wake-up for in-process I/O: a write on one end of a
// pipe or socketpair wakes the other end's wait queue at once, exactly as
// in the kernel (so every write is an edge, and readiness order is the
// order of the writes).  f is referenced by the caller.
void file_wake_edge(epfile *f, uint32_t key, wake_kind kind)
{
	bool any;
	{
		std::lock_guard g(f->f_lock);
		any = !f->f_ep.empty();
	}
	if (any)
		file_wakeup(f, key, 0, kind);
}

// The wake-up of an I/O hint, unless a poller already made it (see io_stamp).
void hint_wake(epfile *t, uint32_t key, const io_stamp &st)
{
	tls_hint_stamp = &st;
	file_wake_edge(t, key);
	tls_hint_stamp = nullptr;
}

} // namespace uepoll::core
