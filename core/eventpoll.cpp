// core/eventpoll.cpp - uepoll's eventpoll engine: the userspace twin of
// fs/eventpoll.c, built on poll(2) instead of wait queues.
//
// THE INTERRUPT
// The kernel learns that a file became ready from the file itself: its wake
// queue calls ep_poll_callback().  We only have poll(2), so somebody must
// sit in ppoll() on the watched fds and, when it returns, run the callback
// for each ready file (file_wakeup() below, the twin of __wake_up() on the
// file's wait queue).  That somebody is, in order of preference:
//   1. the LEADER: the first thread blocked in epoll_wait() on an instance
//      polls that instance's armed items itself, with the caller's signal
//      mask installed by ppoll().  Data arrives -> the kernel wakes the
//      leader -> it runs the callbacks and returns: one thread switch, as
//      with native epoll.  Other threads waiting on the same instance
//      (FOLLOWERS) sleep on their own eventfd and are woken one at a time,
//      like the kernel's exclusive waiters on ep->wq.
//   2. the HELPER thread (core/helper.cpp): one per process, started the
//      first time an instance is OBSERVED, i.e. watched by another epoll
//      instance or polled through poll()/select().  It polls the armed
//      items of observed instances so that their fake epoll fd (an eventfd)
//      becomes readable while nobody calls epoll_wait on them.
//   3. epoll_wait itself, synchronously: before reporting, ep_send_events()
//      polls the armed items with a zero timeout, so an fd that became
//      ready before the call is seen even with timeout 0 and even if no
//      poller ran in between.
// An item is ARMED (in the poll set) while it is enabled and not queued:
// queued items need no polling, ep_send_events re-polls them.  Arming is
// O(1): each item owns one slot of ep->pfds and a disarmed slot has fd -1.
//
// EDGE-TRIGGERED ITEMS over a level-triggered poll(2): after an item is
// reported, the bits reported are SUPPRESSED (no longer polled) until the
// program does I/O on the file (ep_io_hint(), called by interpose/'s I/O
// hooks), or MODs the item, or a callback reaches it directly (a nested
// instance's wake-up).  Draining to EAGAIN then re-arming gives exactly the
// kernel's edges; a partial read may report again (docs/deviations.md).
//
// LOCKING
// Five locks, always taken in this order (from 1 to 5):
//   1) epnested_mutex  - global; only ADDs that need ep_loop_check() or
//                        reverse_path_check() (twin of epnested_mutex).
//   2) ep->mtx         - sleeping; ctl, ep_send_events(), ep_eventpoll_poll(),
//                        the tree.  Nested instances are taken outer before
//                        inner; ep_loop_check() keeps that order acyclic.
//   3) file->f_lock    - spin; the file's item list f_ep, poll_fd, nfds.
//   4) ep->lock        - spin; rdllist, ovflist, wq, the poll set and the
//                        per-item poll state (twin of ep->lock).
//   5) all_lock        - spin; the list of every instance (fork, helper).
// The wake-up path (file_wakeup -> ep_poll_callback) takes only 3 then 4,
// never a sleeping lock, as the kernel's callback runs in IRQ context.  The
// nested wake-up (ep_poll_safewake) runs inside the walk, after 4 is
// dropped: it takes the f_lock of the instance's own file while the inner
// file's is held, always inner before outer (acyclic by ep_loop_check).
// No lock is held across a blocking call: ppoll() with a timeout is only
// ever made with no lock held.  ep->mtx is held across zero-timeout poll()
// and the copy to the caller, which never block.
// Every lock raises the thread's lock depth (core/spinlock.hpp): a signal
// handler that calls close() while its thread holds one defers the close
// (core/deferred.cpp) instead of deadlocking.
//
// LIFETIMES
// An epfile (struct file) lives while f_count > 0: one reference per fd
// number in the fd table, one per in-flight user (fget in ctl/wait, a
// poller's snapshot, a walk).  When its last fd number is closed it is
// DEAD: no fd to poll it through, its items are removed from every
// instance at once (eventpoll_release_file) and it is never polled again.
// An eventpoll lives as long as its epfile; a thread in epoll_wait holds a
// reference, so closing the epoll fd under it is safe, as in the kernel.
// An epitem lives from ep_insert() to __ep_remove(), both under ep->mtx; a
// poller that copied the poll set without ep->mtx checks ep->pset_gen
// before it maps a slot back to an item.
#include "core/eventpoll.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "core/internal.hpp"

namespace uepoll::core {

const sys_ops *g_sys;
const file_ops *g_files;

static sleeping_mutex epnested_mutex; // twin of epnested_mutex

// How deep the recursion through nested instances may go (polls, wake-up
// walks).  The kernel has no such cap: ep_loop_check() keeps every chain
// within EP_MAX_NESTS links, and an entry point starts a level or two in
// (ep_insert() polls at 1, a nested wake-up adds one per instance).  This
// only bounds the stack, well above any chain the loop check lets through.
constexpr int EP_MAX_DEPTH = 2 * EP_MAX_NESTS + 2;
static spinlock all_lock;
// Every instance, for fork and the helper.  Never destroyed: the helper
// thread may still walk it while exit() runs the static destructors.
static eventpoll_list &all_eps_list()
{
	static eventpoll_list *l = new eventpoll_list;
	return *l;
}
static std::atomic<long> epoll_watches{0}; // twin of user->epoll_watches (per process here)
static std::atomic<long> max_user_watches{LONG_MAX};
static std::atomic<uint64_t> stat_waits, stat_sync_polls, stat_callbacks;

thread_local eventpoll *tls_polling_ep; // the instance this thread leads a ppoll for


void core_init(const sys_ops *s, const file_ops *f)
{
	g_sys = s;
	g_files = f;
}

// ---- small helpers ----------------------------------------------------------

static inline bool ep_is_linked(const epitem *epi) { return epi->on_list; }

// The events an item wants, as poll(2) takes them.  Every defined epoll bit
// below 1<<16 is the poll bit of the same value on Linux.
static inline short ep_poll_events(const epitem *epi)
{
	return static_cast<short>((epi->event.events & ~epi->et_suppressed) & 0xffff);
}

bool epfile_tryget(epfile *f)
{
	long c = f->f_count.load(std::memory_order_relaxed);
	while (c > 0) {
		if (f->f_count.compare_exchange_weak(c, c + 1, std::memory_order_acquire))
			return true;
	}
	return false;
}

// Writes one 8-byte value to an eventfd we own; retries EINTR only.
static void efd_signal(int fd)
{
	uint64_t one = 1;
	while (g_sys->write(fd, &one, sizeof one) == -EINTR) {
	}
}

static void efd_drain(int fd)
{
	uint64_t v;
	while (g_sys->read(fd, &v, sizeof v) == -EINTR) {
	}
}

// Keeps an observed instance's eventfd readable exactly while its ready
// list is not empty.  Must be called with ep->lock held.
static void ep_sync_efd(eventpoll *ep)
{
	if (!ep->observed)
		return;
	bool want = !ep->rdllist.empty() || ep->ovflist != EP_UNACTIVE_PTR;
	int fd = ep->file->poll_fd;
	if (fd < 0 || want == ep->efd_set)
		return;
	if (want)
		efd_signal(fd);
	else
		efd_drain(fd);
	ep->efd_set = want;
}

// Recomputes an item's slot in the poll set.  Must be called with ep->lock held.
void ep_slot_update(eventpoll *ep, epitem *epi)
{
	pollfd &p = ep->pfds[epi->pidx];
	epfile *f = epi->ffd.file;
	bool armed = !epi->on_list && epi->next == EP_UNACTIVE_PTR && (epi->event.events & ~EP_PRIVATE_BITS) &&
		     !epi->et_off && !epi->excl_skipped && !f->dead.load(std::memory_order_relaxed);
	int fd = armed ? f->poll_fd.load() : -1;
	short events = ep_poll_events(epi);
	// An epoll file is only ever readable (ep_eventpoll_poll); its eventfd
	// underneath is always writable: never ask it for OUT.
	if (is_file_epoll(f))
		events &= POLLIN | POLLRDNORM;
	bool widened = fd >= 0 && (p.fd != fd || (events & ~p.events));
	// A poller's result for this slot is valid only for the arming it
	// polled: what it saw before a disarm (a report) says nothing now.
	if (widened)
		epi->arm_epoch++;
	if ((p.fd >= 0) != (fd >= 0))
		ep->narmed += fd >= 0 ? 1 : -1;
	p.fd = fd;
	p.events = events;
	// A leader blocked in ppoll on an older copy of the set must take the
	// new slot into account: wake it (it rebuilds its set).
	if (widened && ep->leader && tls_polling_ep != ep && !ep->leader->woken) {
		ep->leader->woken = true;
		efd_signal(ep->leader->wake_fd);
	}
	if (ep->observed && (widened || fd < 0))
		helper_kick();
}

// Wakes one thread waiting on ep (twin of wake_up(&ep->wq) on an exclusive
// queue).  The leader is the first waiter; waking it makes its ppoll return
// so it harvests.  Must be called with ep->lock held.
static void ep_wake_one(eventpoll *ep)
{
	for (ep_waiter &w : ep->wq) {
		if (w.woken)
			return; // one wake-up is already on its way
		if (tls_polling_ep == ep && &w == ep->leader)
			return; // we are that leader, about to harvest
		w.woken = true;
		efd_signal(w.wake_fd);
		return;
	}
}

// ---- the callback -------------------------------------------------------------

// The slot a blocked poller's level walk comes from (file_wakeup_polled()).
struct polled_slot {
	const epitem *epi;
	uint32_t epoch;
};
static thread_local const polled_slot *tls_polled;

// Twin of ep_poll_callback(): file `epi->ffd.file` woke up with `key`.
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
	if (kind == wake_kind::level && tls_polled && tls_polled->epi == epi && tls_polled->epoch != epi->arm_epoch)
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
	if (kind == wake_kind::level && (epi->event.events & EPOLLET) &&
	    (epi->et_off || !(key & epi->event.events & ~epi->et_suppressed)))
		goto out;

	// An exclusive item passed over by the walk of a real wake-up waits
	// for the next one; a poller seeing the same readiness is not one.
	if (kind == wake_kind::level && epi->excl_skipped && !ep_is_linked(epi))
		goto out;
	// This level walk accounts for the I/O that made the file ready (see
	// io_stamp): the item is queued by it, or is queued already and no
	// scan runs, so the harvest's re-poll comes after this poll and
	// reports what it saw.  A running scan may have re-polled the item
	// before the I/O: then the I/O's own wake-up must still come.
	if (kind == wake_kind::level && (!ep_is_linked(epi) || ep->ovflist == EP_UNACTIVE_PTR)) {
		epfile *f = epi->ffd.file;
		if (key & (EPOLLIN | EPOLLRDNORM))
			epi->lvl_in_seen.store(f->level_in_walks.load(std::memory_order_relaxed), std::memory_order_relaxed);
		if (key & (EPOLLOUT | EPOLLWRNORM))
			epi->lvl_out_seen.store(f->level_out_walks.load(std::memory_order_relaxed), std::memory_order_relaxed);
	}
	// A level seen for an item that is queued (or on a running scan's list)
	// is nothing new: the harvest re-polls it.  It must neither bring back
	// an edge the scan is about to report nor pass a wake-up on to the
	// instances watching this one (that would be an edge for them).
	if (kind == wake_kind::level && ep_is_linked(epi)) {
		ewake = 1; // already queued: the exclusive walk may stop
		goto out;
	}
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
	ep_sync_efd(ep);
	if (!ep->file->f_ep.empty())
		*pwake = true;
out:
	if (!(epi->event.events & EPOLLEXCLUSIVE))
		ewake = 1;
	return ewake;
}

// Twin of __wake_up() on a file's wait queue: run the callback of every item
// watching f.  Non-exclusive items always; exclusive ones in ADD order until
// one of them woke a waiter (the kernel's nr_exclusive = 1).  Exclusive
// items passed over are parked (excl_skipped) until the file is seen idle,
// otherwise poll(2)'s level would call them again at once.
// The stamp of the I/O hint whose wake-up is being walked (hint_wake()).
static thread_local const io_stamp *tls_hint_stamp;

// Did a poller's level walk queue epi for this hint's change already?
static bool seen_by_level(const epitem *epi, uint32_t key, const io_stamp *st)
{
	if (!st || !st->valid)
		return false;
	if ((key & EPOLLIN) && static_cast<int32_t>(epi->lvl_in_seen.load(std::memory_order_relaxed) - st->in) > 0)
		return true;
	if ((key & EPOLLOUT) && static_cast<int32_t>(epi->lvl_out_seen.load(std::memory_order_relaxed) - st->out) > 0)
		return true;
	return false;
}

void file_wakeup(epfile *f, uint32_t revents, int depth, wake_kind kind)
{
	const io_stamp *st = depth == 0 && kind == wake_kind::edge ? tls_hint_stamp : nullptr;
	if (depth > EP_MAX_DEPTH || f->dead.load(std::memory_order_acquire))
		return;
	// poll(2) answers only what was asked (IN or RDNORM, OUT or WRNORM),
	// while a file's wake-up key carries both: widen a level, so that the
	// key filter in ep_poll_callback sees what the kernel's key would
	// hold.  An edge's key is exact already (an epoll file's is EPOLLIN
	// alone, as ep_poll_safewake() gives it).
	if (is_file_epoll(f))
		revents = EPOLLIN; // however it was seen (its eventfd, a re-poll)
	else if (kind == wake_kind::level) {
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
		epfile *ef = epi.ep->file;
		if (epfile_tryget(ef)) {
			file_wakeup(ef, EPOLLIN, depth + 1, wake_kind::edge);
			epfile_put(ef);
		}
	};
	{
		std::lock_guard g(f->f_lock);
		// The key of a wake-up is what changed.  An edge (a write we saw,
		// a nested instance's callback) is new by definition; a level seen
		// by poll(2) is new only in the bits the last walk did not see.
		uint32_t fresh = kind == wake_kind::edge ? revents : revents & ~f->last_revents;
		if (kind == wake_kind::level && (revents & (EPOLLIN | EPOLLRDNORM)))
			f->level_in_walks.fetch_add(1, std::memory_order_release);
		if (kind == wake_kind::level && (revents & (EPOLLOUT | EPOLLWRNORM)))
			f->level_out_walks.fetch_add(1, std::memory_order_release);
		uint32_t key = fresh ? fresh : revents;
		f->last_revents = revents;

		for (epitem &epi : f->f_ep) {
			if (epi.exclusive)
				continue;
			// One write in this process is seen twice: by a poller (a level
			// walk) and by the write hook (this edge walk).  Not twice.
			if (seen_by_level(&epi, key, st))
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
		if (fresh == 0) {
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
		// One write in this process is seen twice: by the pollers (a level
		// walk) and by the write hook (an edge walk).  If a level walk
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
					epi.excl_skipped = true;
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
	file_wakeup(f, revents, 0, wake_kind::level);
	tls_polled = nullptr;
}

// The file was seen not ready: exclusive items parked by a walk may poll it
// again (the next readiness is a new wake-up).
static void file_unpark_exclusive(epfile *f)
{
	std::lock_guard g(f->f_lock);
	f->last_revents = 0;
	for (epitem &epi : f->f_ep) {
		std::lock_guard g2(epi.ep->lock);
		if (!epi.excl_skipped)
			continue;
		epi.excl_skipped = false;
		ep_slot_update(epi.ep, &epi);
	}
}

// ---- polling items ------------------------------------------------------------

// Twin of ep_item_poll() for n items at once: one poll(2) for the plain
// files, ep_eventpoll_poll() for nested instances.  out[i] gets the
// readiness of items[i] filtered by its interest.
static void ep_items_poll(epitem **items, int n, uint32_t *out, int depth)
{
	pollfd stackbuf[64];
	std::vector<pollfd, slab_allocator<pollfd>> heapbuf;
	pollfd *pfd = stackbuf;
	if (n > 64) {
		heapbuf.resize(n);
		pfd = heapbuf.data();
	}
	int nplain = 0;
	for (int i = 0; i < n; i++) {
		epfile *f = items[i]->ffd.file;
		pfd[i].fd = -1;
		pfd[i].events = 0; // an epoll file is asked directly, below
		pfd[i].revents = 0;
		if (is_file_epoll(f) || f->dead.load(std::memory_order_relaxed))
			continue;
		pfd[i].fd = f->poll_fd;
		// RDHUP asked always, reported only to who asked: it tells the I/O
		// hooks that the read side is shut (epfile::rd_shut).
		pfd[i].events = static_cast<short>((items[i]->event.events & 0xffff) | POLLRDHUP);
		nplain++;
	}
	if (nplain) {
		struct timespec zero = {0, 0};
		while (g_sys->ppoll(pfd, n, &zero, nullptr) == -EINTR) {
		}
	}
	for (int i = 0; i < n; i++) {
		epfile *f = items[i]->ffd.file;
		uint32_t r;
		if (is_file_epoll(f))
			r = ep_eventpoll_poll(f->ep, depth + 1);
		else
			r = pfd[i].fd >= 0 ? static_cast<uint16_t>(pfd[i].revents) : 0;
		if (r & POLLNVAL)
			r = 0; // the fd went away under us: the close path removes the item
		if ((r & POLLRDHUP) && !f->rd_shut.load(std::memory_order_relaxed))
			f->rd_shut.store(true, std::memory_order_relaxed);
		out[i] = r & items[i]->event.events;
	}
}

static uint32_t ep_item_poll(epitem *epi, int depth)
{
	uint32_t r;
	ep_items_poll(&epi, 1, &r, depth);
	return r;
}

// Polls the armed slots of ep with a zero timeout and runs the callbacks
// for what is ready: what the kernel's wake-ups would already have done.
// Nested instances are asked directly (ep_eventpoll_poll), not through
// their eventfd, so no helper has to have run first.
// Must be called with ep->mtx held (which keeps pset_gen stable).
static void ep_sync_poll(eventpoll *ep, int depth)
{
	if (depth > EP_MAX_DEPTH)
		return;
	// One buffer per nesting depth: this recurses through nested instances.
	thread_local std::vector<pollfd, slab_allocator<pollfd>> bufs[EP_MAX_DEPTH + 1];
	auto &buf = bufs[depth];
	bool nested = false;
	{
		std::lock_guard g(ep->lock);
		if (ep->narmed == 0)
			return;
		buf.assign(ep->pfds.begin(), ep->pfds.end());
		for (size_t i = 0; i < buf.size(); i++) {
			if (buf[i].fd >= 0 && is_file_epoll(ep->pitems[i]->ffd.file)) {
				// An epoll file is only ever readable; an edge-triggered
				// item whose IN was reported waits for a direct wake-up.
				bool wants_in = buf[i].events & (POLLIN | POLLRDNORM);
				buf[i].fd = -1;
				buf[i].revents = wants_in ? 1 : 0; // 1 marks "ask the instance"
				nested |= wants_in;
			} else {
				buf[i].revents = 0;
			}
		}
	}
	stat_sync_polls.fetch_add(1, std::memory_order_relaxed);
	if (nested) {
		for (size_t i = 0; i < buf.size(); i++) {
			if (buf[i].revents != 1)
				continue;
			buf[i].revents = 0;
			epfile *f = ep->pitems[i]->ffd.file;
			// A level, not an edge: the instance's own wake-ups (safewake)
			// were edges already; seeing it ready again is not one.
			if (ep_eventpoll_poll(f->ep, depth + 1) && epfile_tryget(f)) {
				file_wakeup(f, EPOLLIN, depth + 1, wake_kind::level);
				epfile_put(f);
			}
		}
	}
	struct timespec zero = {0, 0};
	long n;
	while ((n = g_sys->ppoll(buf.data(), buf.size(), &zero, nullptr)) == -EINTR) {
	}
	if (n <= 0)
		return;
	for (size_t i = 0; i < buf.size(); i++) {
		if (!buf[i].revents || buf[i].fd < 0 || (buf[i].revents & POLLNVAL))
			continue;
		epfile *f = ep->pitems[i]->ffd.file;
		if (!epfile_tryget(f))
			continue;
		file_wakeup(f, static_cast<uint16_t>(buf[i].revents), depth, wake_kind::level);
		epfile_put(f);
	}
}

// ---- scanning the ready list --------------------------------------------------

// Twin of ep_start_scan(): take the ready list, route new callbacks to the
// ovflist.  Must be called with ep->mtx held.
static void ep_start_scan(eventpoll *ep, epitem_list &txlist)
{
	std::lock_guard g(ep->lock);
	txlist.splice(txlist.end(), ep->rdllist);
	ep->ovflist = nullptr;
}

// Twin of ep_done_scan(): requeue what the callbacks chained on the
// ovflist, put back what the scan left, wake another waiter if work remains.
static void ep_done_scan(eventpoll *ep, epitem_list &txlist)
{
	std::lock_guard g(ep->lock);
	for (epitem *nepi = ep->ovflist, *epi; (epi = nepi) != nullptr;) {
		nepi = epi->next;
		epi->next = EP_UNACTIVE_PTR;
		if (!ep_is_linked(epi)) {
			// The kernel's list_add(): at the head, which undoes the
			// chain's LIFO order.
			ep->rdllist.push_front(*epi);
			epi->on_list = true;
		}
		ep_slot_update(ep, epi);
	}
	ep->ovflist = EP_UNACTIVE_PTR;
	ep->rdllist.splice(ep->rdllist.begin(), txlist);
	if (!ep->rdllist.empty() && !ep->wq.empty())
		ep_wake_one(ep);
	ep_sync_efd(ep);
}

// An item left the lists without being reported: poll it again.
static void ep_item_unqueue(eventpoll *ep, epitem *epi)
{
	std::lock_guard g(ep->lock);
	epi->on_list = false;
	ep_slot_update(ep, epi);
}

// Twin of ep_send_events(): re-poll the ready items and copy out up to
// maxevents of them; LT items go back to the tail, ONESHOT ones are
// disabled, ET ones wait for their next edge.  Returns how many events were
// copied, or -EFAULT if not even the first could be.
static int ep_send_events(eventpoll *ep, epoll_event *uevents, int maxevents)
{
	std::lock_guard m(ep->mtx);
	ep_sync_poll(ep, 0);

	epitem_list txlist;
	ep_start_scan(ep, txlist);

	thread_local std::vector<epoll_event, slab_allocator<epoll_event>> kev;
	thread_local std::vector<epitem *, slab_allocator<epitem *>> reported, batch, idle;
	thread_local std::vector<uint32_t, slab_allocator<uint32_t>> rev, looks, reported_looks;
	kev.clear();
	reported.clear();
	reported_looks.clear();
	idle.clear();

	// Re-poll in batches no larger than the room left, in list order.
	auto it = txlist.begin();
	while (it != txlist.end() && static_cast<int>(reported.size()) < maxevents) {
		batch.clear();
		int room = maxevents - static_cast<int>(reported.size());
		for (auto j = it; j != txlist.end() && static_cast<int>(batch.size()) < room; ++j)
			batch.push_back(&*j);
		rev.resize(batch.size());
		// The re-poll is a poller's look too (see io_stamp): an ET item it
		// reports must not be queued again by the wake-up of the I/O whose
		// data it saw.  Counted before the poll, so that a look taken
		// before an I/O call's stamp never passes for one taken after.
		looks.resize(batch.size() * 2);
		for (size_t i = 0; i < batch.size(); i++) {
			epitem *epi = batch[i];
			looks[2 * i] = looks[2 * i + 1] = 0;
			if (!(epi->event.events & EPOLLET) || is_file_epoll(epi->ffd.file))
				continue;
			epfile *f = epi->ffd.file;
			if (epi->event.events & (EPOLLIN | EPOLLRDNORM))
				looks[2 * i] = f->level_in_walks.fetch_add(1, std::memory_order_acq_rel) + 1;
			if (epi->event.events & (EPOLLOUT | EPOLLWRNORM))
				looks[2 * i + 1] = f->level_out_walks.fetch_add(1, std::memory_order_acq_rel) + 1;
		}
		ep_items_poll(batch.data(), static_cast<int>(batch.size()), rev.data(), 0);
		for (size_t i = 0; i < batch.size(); i++) {
			epitem *epi = batch[i];
			it = std::next(txlist.iterator_to(*epi));
			if (!rev[i]) {
				// Not ready any more: off the list, polled again (the
				// kernel drops it the same way and waits for a wake-up).
				txlist.erase(txlist.iterator_to(*epi));
				ep_item_unqueue(ep, epi);
				idle.push_back(epi);
				continue;
			}
			epoll_event e;
			e.events = rev[i];
			e.data = epi->event.data;
			kev.push_back(e);
			reported.push_back(epi);
			reported_looks.push_back(looks[2 * i]);
			reported_looks.push_back(looks[2 * i + 1]);
			if (static_cast<int>(reported.size()) == maxevents)
				break;
		}
	}

	int res = 0;
	if (!kev.empty()) {
		long copied = g_sys->copy_to_user(uevents, kev.data(), kev.size() * sizeof(epoll_event));
		res = copied > 0 ? static_cast<int>(copied / sizeof(epoll_event)) : 0;
		if (res == 0)
			res = -EFAULT;
	}
	// What was copied changes state; what was not stays queued, in order.
	for (int i = 0; i < res; i++) {
		epitem *epi = reported[i];
		txlist.erase(txlist.iterator_to(*epi));
		std::lock_guard g(ep->lock);
		if (epi->event.events & EPOLLONESHOT) {
			epi->event.events &= EP_PRIVATE_BITS;
			epi->on_list = false;
		} else if (!(epi->event.events & EPOLLET)) {
			// LT: back to the tail; callbacks use the ovflist meanwhile.
			ep->rdllist.push_back(*epi);
		} else {
			uint32_t r = kev[i].events;
			if (r & (EPOLLIN | EPOLLRDNORM))
				epi->lvl_in_seen.store(reported_looks[2 * i], std::memory_order_relaxed);
			if (r & (EPOLLOUT | EPOLLWRNORM))
				epi->lvl_out_seen.store(reported_looks[2 * i + 1], std::memory_order_relaxed);
			if (r & (EPOLLERR | EPOLLHUP))
				epi->et_off = true;
			if (r & EP_READ_SIDE)
				epi->et_suppressed |= EP_READ_SIDE;
			if (r & EP_WRITE_SIDE)
				epi->et_suppressed |= EP_WRITE_SIDE;
			epi->on_list = false;
		}
		ep_slot_update(ep, epi);
	}
	ep_done_scan(ep, txlist);
	for (epitem *epi : idle)
		file_unpark_exclusive(epi->ffd.file);
	return res;
}

// Twin of __ep_eventpoll_poll(): POLLIN|POLLRDNORM if an item on the ready
// list is still ready; items that are not are dropped (and polled again).
uint32_t ep_eventpoll_poll(eventpoll *ep, int depth)
{
	if (depth > EP_MAX_DEPTH)
		return 0;
	std::lock_guard m(ep->mtx);
	ep_sync_poll(ep, depth);
	epitem_list txlist;
	ep_start_scan(ep, txlist);
	uint32_t res = 0;
	for (auto it = txlist.begin(); it != txlist.end();) {
		epitem *epi = &*it++;
		if (ep_item_poll(epi, depth)) {
			res = EPOLLIN | EPOLLRDNORM;
			break;
		}
		txlist.erase(txlist.iterator_to(*epi));
		ep_item_unqueue(ep, epi);
	}
	ep_done_scan(ep, txlist);
	return res;
}

uint32_t ep_eventpoll_poll_observe(epfile *f)
{
	eventpoll *ep = f->ep;
	if (!ep)
		return 0;
	ep_set_observed(ep);
	return ep_eventpoll_poll(ep, 0);
}

void for_each_observed(void (*fn)(eventpoll *, void *), void *arg)
{
	std::lock_guard g(all_lock);
	for (eventpoll &ep : all_eps_list())
		if (ep.observed)
			fn(&ep, arg);
}

// From now on the helper keeps ep's eventfd right (sticky).
void ep_set_observed(eventpoll *ep)
{
	{
		std::lock_guard g(ep->lock);
		if (ep->observed)
			return;
		ep->observed = true;
		ep_sync_efd(ep);
	}
	helper_start();
	helper_kick();
}

// ---- insert, modify, remove ---------------------------------------------------

// Twin of __ep_remove(): unlink epi from its file, the tree, the lists and
// the poll set, and free it.  Must be called with ep->mtx held.
static void __ep_remove(eventpoll *ep, epitem *epi)
{
	epfile *f = epi->ffd.file;
	{
		std::lock_guard g(f->f_lock);
		f->f_ep.erase(f->f_ep.iterator_to(*epi));
		if (epi->event.events & EPOLLET)
			f->et_items.fetch_sub(1, std::memory_order_relaxed);
	}
	ep->rbr.erase(ep->rbr.iterator_to(*epi));
	{
		std::lock_guard g(ep->lock);
		if (ep_is_linked(epi))
			ep->rdllist.erase(ep->rdllist.iterator_to(*epi));
		// Swap-remove the slot; the item that moves keeps its meaning, but
		// a poller's copy of the set does not: bump the generation.
		int last = static_cast<int>(ep->pfds.size()) - 1;
		if (ep->pfds[epi->pidx].fd >= 0)
			ep->narmed--;
		if (epi->pidx != last) {
			ep->pfds[epi->pidx] = ep->pfds[last];
			ep->pitems[epi->pidx] = ep->pitems[last];
			ep->pitems[epi->pidx]->pidx = epi->pidx;
		}
		ep->pfds.pop_back();
		ep->pitems.pop_back();
		ep->pset_gen++;
		ep_sync_efd(ep);
		if (ep->observed)
			helper_kick();
	}
	epoll_watches.fetch_sub(1, std::memory_order_relaxed);
	slab_delete(epi);
}

// Twin of ep_insert().  Must be called with ep->mtx held.
static int ep_insert(eventpoll *ep, const epoll_event *event, epfile *tf, int fd, bool full_check)
{
	if (epoll_watches.load(std::memory_order_relaxed) >= max_user_watches.load(std::memory_order_relaxed))
		return -ENOSPC;
	epitem *epi = slab_new<epitem>();
	if (!epi)
		return -ENOMEM;
	epi->ffd = {tf, fd};
	epi->ep = ep;
	epi->event = *event;
	epi->exclusive = event->events & EPOLLEXCLUSIVE;
	epi->next = EP_UNACTIVE_PTR;
	{
		std::lock_guard g(tf->f_lock);
		if (tf->dead.load(std::memory_order_relaxed)) {
			slab_delete(epi);
			return -EBADF; // closed by another thread since fget
		}
		// Twin of ep_ptable_queue_proc(): add_wait_queue() puts a plain
		// entry at the head of the file's wait queue, so the newest item's
		// callback runs first; add_wait_queue_exclusive() puts an
		// exclusive one at the tail, in ADD order.
		if (epi->event.events & EPOLLEXCLUSIVE)
			tf->f_ep.push_back(*epi);
		else
			tf->f_ep.push_front(*epi);
		if (epi->event.events & EPOLLET)
			tf->et_items.fetch_add(1, std::memory_order_relaxed);
	}
	ep->rbr.insert_unique(*epi);
	epoll_watches.fetch_add(1, std::memory_order_relaxed);
	{
		std::lock_guard g(ep->lock);
		epi->pidx = static_cast<int>(ep->pfds.size());
		ep->pfds.push_back(pollfd{-1, 0, 0});
		ep->pitems.push_back(epi);
		ep->pset_gen++;
	}

	if (full_check && !is_file_epoll(tf))
		list_file(tf);
	// Now check if we've created too many backpaths.
	if (full_check && reverse_path_check()) {
		__ep_remove(ep, epi);
		return -EINVAL;
	}
	if (is_file_epoll(tf))
		ep_set_observed(tf->ep);

	uint32_t revents = ep_item_poll(epi, 1);
	bool pwake = false;
	{
		std::lock_guard g(ep->lock);
		if (revents && !ep_is_linked(epi)) {
			ep->rdllist.push_back(*epi);
			epi->on_list = true;
			if (!ep->wq.empty())
				ep_wake_one(ep);
			ep_sync_efd(ep);
			pwake = !ep->file->f_ep.empty();
		}
		ep_slot_update(ep, epi);
	}
	if (pwake)
		file_wakeup(ep->file, EPOLLIN, 1, wake_kind::edge);
	return 0;
}

// Twin of ep_modify().  Must be called with ep->mtx held.
static int ep_modify(eventpoll *ep, epitem *epi, const epoll_event *event)
{
	{
		std::lock_guard g(ep->lock);
		bool was_et = epi->event.events & EPOLLET;
		epi->event = *event;
		bool is_et = epi->event.events & EPOLLET;
		if (was_et != is_et)
			epi->ffd.file->et_items.fetch_add(is_et ? 1 : -1, std::memory_order_relaxed);
		// MOD is a new start: every edge may be reported again.
		epi->et_suppressed = 0;
		epi->et_off = false;
		epi->excl_skipped = false;
		ep_slot_update(ep, epi);
	}
	uint32_t revents = ep_item_poll(epi, 1);
	bool pwake = false;
	{
		std::lock_guard g(ep->lock);
		if (revents && !ep_is_linked(epi) && epi->next == EP_UNACTIVE_PTR) {
			ep->rdllist.push_back(*epi);
			epi->on_list = true;
			if (!ep->wq.empty())
				ep_wake_one(ep);
			ep_sync_efd(ep);
			pwake = !ep->file->f_ep.empty();
		}
		ep_slot_update(ep, epi);
	}
	if (pwake)
		file_wakeup(ep->file, EPOLLIN, 1, wake_kind::edge);
	return 0;
}

// Twin of ep_find().  Must be called with ep->mtx held.
static epitem *ep_find(eventpoll *ep, epfile *f, int fd)
{
	auto it = ep->rbr.find(epoll_filefd{f, fd});
	return it == ep->rbr.end() ? nullptr : &*it;
}

// ---- create and free ----------------------------------------------------------

static long read_max_user_watches()
{
	char buf[32];
	long fd = g_sys->open("/proc/sys/fs/epoll/max_user_watches", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return LONG_MAX;
	long n = g_sys->read(static_cast<int>(fd), buf, sizeof buf - 1);
	g_sys->close(static_cast<int>(fd));
	if (n <= 0)
		return LONG_MAX;
	buf[n] = 0;
	long v = 0;
	for (char *p = buf; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	return v > 0 ? v : LONG_MAX;
}

// Twin of do_epoll_create() (ep_alloc + anon_inode_getfile + fd_install).
// The fake epoll fd is an eventfd: a real kernel fd that poll(2), select(2)
// and native epoll can watch; we make it readable while the ready list is.
int do_epoll_create(int flags)
{
	if (flags & ~EPOLL_CLOEXEC)
		return -EINVAL;
	max_user_watches.store(read_max_user_watches(), std::memory_order_relaxed);
	long fd = g_sys->eventfd(0, (flags & EPOLL_CLOEXEC) ? EFD_CLOEXEC : 0);
	if (fd < 0)
		return static_cast<int>(fd);
	epfile *f = epfile_alloc();
	eventpoll *ep = f ? slab_new<eventpoll>() : nullptr;
	if (!ep) {
		if (f)
			epfile_put(f);
		g_sys->close(static_cast<int>(fd));
		return -ENOMEM;
	}
	ep->ovflist = EP_UNACTIVE_PTR;
	ep->file = f;
	f->ep = ep;
	f->kind = file_kind::epoll;
	f->poll_fd = static_cast<int>(fd);
	f->nfds = 1;
	f->origin_known = true;
	{
		std::lock_guard g(all_lock);
		all_eps_list().push_back(*ep);
	}
	g_files->fd_install(static_cast<int>(fd), f); // takes over our reference
	return static_cast<int>(fd);
}

// Twin of ep_clear_and_put()/ep_free(): the instance's file is gone.
static void ep_free(eventpoll *ep)
{
	{
		std::lock_guard m(ep->mtx);
		while (!ep->rbr.empty())
			__ep_remove(ep, &*ep->rbr.begin());
	}
	{
		std::lock_guard g(all_lock);
		all_eps_list().erase(all_eps_list().iterator_to(*ep));
	}
	helper_kick();
	slab_delete(ep);
}

epfile *epfile_alloc() { return slab_new<epfile>(); }

// The peer links of pipes and socketpairs (ET hints); a leaf lock.  The
// I/O hooks read `peer` without it, as a hint that a peer may exist.
static spinlock peer_lock;

void epfile_link_peers(epfile *a, epfile *b)
{
	std::lock_guard g(peer_lock);
	a->peer.store(b, std::memory_order_relaxed);
	b->peer.store(a, std::memory_order_relaxed);
}

static void epfile_unlink_peer(epfile *f)
{
	if (!f->peer.load(std::memory_order_relaxed))
		return; // nobody links to f once its own link is gone
	std::lock_guard g(peer_lock);
	if (epfile *p = f->peer.load(std::memory_order_relaxed))
		p->peer.store(nullptr, std::memory_order_relaxed);
	f->peer.store(nullptr, std::memory_order_relaxed);
}

static epfile *epfile_get_peer(epfile *f)
{
	if (!f->peer.load(std::memory_order_relaxed))
		return nullptr;
	std::lock_guard g(peer_lock);
	epfile *p = f->peer.load(std::memory_order_relaxed);
	return p && epfile_tryget(p) ? p : nullptr;
}

// Twin of eventpoll_release_file(): remove every item watching f.
static void eventpoll_release_file(epfile *f)
{
	for (;;) {
		eventpoll *ep = nullptr;
		{
			std::lock_guard g(f->f_lock);
			if (f->f_ep.empty())
				return;
			ep = f->f_ep.front().ep;
			if (!epfile_tryget(ep->file))
				ep = nullptr; // being freed: ep_free() removes the item
		}
		if (!ep) {
			sched_yield();
			continue;
		}
		{
			std::lock_guard m(ep->mtx);
			// Remove every item of f in this instance (there may be several
			// fd numbers of f); re-read the list under f_lock each time.
			for (;;) {
				epitem *victim = nullptr;
				{
					std::lock_guard g(f->f_lock);
					for (epitem &epi : f->f_ep)
						if (epi.ep == ep) {
							victim = &epi;
							break;
						}
				}
				if (!victim)
					break;
				__ep_remove(ep, victim);
			}
		}
		epfile_put(ep->file);
	}
}

void epfile_put(epfile *f)
{
	if (f->f_count.fetch_sub(1, std::memory_order_acq_rel) != 1)
		return;
	// Twin of __fput(): the last reference.
	epfile_unlink_peer(f);
	eventpoll_release_file(f);
	if (f->ep)
		ep_free(f->ep);
	slab_delete(f);
}

// Waits until ep's leader is no longer inside a ppoll() that may hold a
// file we are closing.  Called with no lock held and a reference on ep->file.
static void ep_wait_poller_leaves(eventpoll *ep)
{
	uint32_t seq;
	{
		std::lock_guard g(ep->lock);
		seq = ep->poll_seq.load(std::memory_order_acquire);
		if (!(seq & 1) || tls_polling_ep == ep)
			return;
		ep->closers.fetch_add(1, std::memory_order_acq_rel);
		if (ep->leader && !ep->leader->woken) {
			ep->leader->woken = true;
			efd_signal(ep->leader->wake_fd);
		}
	}
	while (ep->poll_seq.load(std::memory_order_acquire) == seq)
		g_sys->futex_wait(reinterpret_cast<const uint32_t *>(&ep->poll_seq), seq);
	ep->closers.fetch_sub(1, std::memory_order_acq_rel);
}

static void file_wake_now(epfile *f, uint32_t key, wake_kind kind = wake_kind::edge);

void epfile_fd_closing(epfile *f, int fd, int other_fd)
{
	bool release = false;
	eventpoll *eps[32];
	int neps = 0;
	bool observed_any = false;
	{
		std::lock_guard g(f->f_lock);
		f->nfds--;
		if (f->poll_fd == fd) {
			if (other_fd >= 0) {
				f->poll_fd = other_fd;
			} else {
				f->poll_fd = -1;
				f->dead.store(true, std::memory_order_release);
				release = true;
			}
		}
		if (f->ep && f->poll_fd != fd) {
			std::lock_guard g2(f->ep->lock);
			if (f->poll_fd < 0)
				f->ep->efd_set = false;
		}
		// Every instance that may poll the number: fix its slots, then make
		// sure its leader has let go of the number.
		for (epitem &epi : f->f_ep) {
			eventpoll *ep = epi.ep;
			bool seen = false;
			for (int i = 0; i < neps; i++)
				seen |= eps[i] == ep;
			if (seen || neps == 32 || !epfile_tryget(ep->file))
				continue;
			eps[neps++] = ep;
		}
		for (int i = 0; i < neps; i++) {
			std::lock_guard g2(eps[i]->lock);
			for (epitem &epi : f->f_ep)
				if (epi.ep == eps[i])
					ep_slot_update(eps[i], &epi);
			observed_any |= eps[i]->observed;
		}
		// The last fd of an observed instance: the helper holds a reference
		// on it while it polls; wait for it to let go, so that the instance
		// dies with its last fd.
		if (release && f->ep && f->ep->observed)
			observed_any = true;
	}
	for (int i = 0; i < neps; i++)
		ep_wait_poller_leaves(eps[i]);
	if (observed_any)
		helper_wait_poll_leaves();
	if (release) {
		// The other end learns of the close (pipe_release(), the peer's
		// sk_state_change() on FIN or unix_release_sock()): a wake-up with
		// no key.  A datagram peer (AF_UNIX or UDP) is not told: there is
		// no connection, only an address it sends to.
		bool told = f->kind != file_kind::unix_dgram && f->kind != file_kind::inet_dgram;
		// A TCP socket that sent its FIN already sends nothing more at
		// close (tcp_close() from FIN_WAIT2), unless unread data makes it
		// an RST.  fd is still open here: the real close comes after us.
		if (f->kind == file_kind::socket && f->fin_sent.load(std::memory_order_relaxed) && g_sys->inq(fd) == 0)
			told = false;
		if (f->kind == file_kind::socket && f->conn_reset.load(std::memory_order_relaxed))
			told = false; // closed already (tcp_done)
		// An AF_UNIX datagram receiver frees the datagrams it did not read
		// (unix_release_sock): their sender gets room back, an OUT wake-up
		// (sock_wfree -> unix_write_space).
		bool room = f->kind == file_kind::unix_dgram && g_sys->inq(fd) > 0;
		// A closed TCP socket answers data with an RST
		// (tcp_timewait_state_process: TCP_TW_RST, or no socket at all):
		// remember it on the peer.
		if (f->kind == file_kind::socket)
			if (epfile *q = epfile_get_peer(f)) {
				q->peer_closed.store(true, std::memory_order_relaxed);
				epfile_put(q);
			}
		epfile *p = told || room ? epfile_get_peer(f) : nullptr;
		epfile_unlink_peer(f);
		eventpoll_release_file(f);
		if (p) {
			file_wake_now(p, told ? 0 : EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
			epfile_put(p);
		}
	}
	for (int i = 0; i < neps; i++)
		epfile_put(eps[i]->file);
}

// ---- edge-triggered hints -----------------------------------------------------

static void ep_rearm_side(epfile *f, uint32_t bits, bool clear_off)
{
	std::lock_guard g(f->f_lock);
	for (epitem &epi : f->f_ep) {
		eventpoll *ep = epi.ep;
		std::lock_guard g2(ep->lock);
		if (!(epi.event.events & EPOLLET))
			continue;
		if (!(epi.et_suppressed & bits) && !(clear_off && epi.et_off))
			continue;
		epi.et_suppressed &= ~bits;
		if (clear_off)
			epi.et_off = false;
		ep_slot_update(ep, &epi);
	}
}

// Twin of a file's own wake-up for in-process I/O: a write on one end of a
// pipe or socketpair wakes the other end's wait queue at once, exactly as
// in the kernel (so every write is an edge, and readiness order is the
// order of the writes).  f is referenced by the caller.
static void file_wake_now(epfile *f, uint32_t key, wake_kind kind)
{
	bool any;
	{
		std::lock_guard g(f->f_lock);
		any = !f->f_ep.empty();
	}
	if (any)
		file_wakeup(f, key, 0, kind);
}

io_stamp ep_file_stamp(epfile *t)
{
	io_stamp st;
	st.valid = true;
	st.in = t->level_in_walks.load(std::memory_order_acquire);
	st.out = t->level_out_walks.load(std::memory_order_acquire);
	return st;
}

// Does an item watching t ask for any of these bits?  (A wake-up whose key
// has only those bits reaches nobody else.)
static bool file_watched_for(epfile *t, uint32_t bits)
{
	std::lock_guard g(t->f_lock);
	for (epitem &epi : t->f_ep) {
		std::lock_guard h(epi.ep->lock);
		if (epi.event.events & bits)
			return true;
	}
	return false;
}

io_stamp ep_io_stamp(epfile *f, bool read_side)
{
	if (f->kind == file_kind::eventfd)
		return ep_file_stamp(f);
	epfile *t = epfile_get_peer(f);
	if (!t)
		return {};
	io_stamp st = ep_file_stamp(t);
	if (read_side && f->kind == file_kind::unix_socket) {
		if (file_watched_for(t, EP_WRITE_SIDE))
			st.peer_outq = g_sys->outq(t->poll_fd.load(std::memory_order_relaxed));
		else
			st.peer_quiet = true;
	}
	epfile_put(t);
	return st;
}

void ep_io_hint(epfile *f, io_side side, long result, long requested)
{
	ep_io_hint_stamped(f, side, result, requested, io_stamp{});
}

// The wake-up of an I/O hint, unless a poller already made it (see io_stamp).
static void hint_wake(epfile *t, uint32_t key, const io_stamp &st)
{
	tls_hint_stamp = &st;
	file_wake_now(t, key);
	tls_hint_stamp = nullptr;
}

void ep_io_hint_stamped(epfile *f, io_side side, long result, long requested, const io_stamp &st)
{
	if (side == io_side::reset) {
		// connect(): the socket starts a new life; every edge may come again.
		f->rd_shut.store(false, std::memory_order_relaxed);
		f->fin_sent.store(false, std::memory_order_relaxed);
		f->rd_shutdown.store(false, std::memory_order_relaxed);
		f->conn_reset.store(false, std::memory_order_relaxed);
		f->peer_closed.store(false, std::memory_order_relaxed);
		if (f->et_items.load(std::memory_order_relaxed))
			ep_rearm_side(f, EP_READ_SIDE | EP_WRITE_SIDE, true);
		return;
	}
	if (side == io_side::connection_reset) {
		// An RST reached f (tcp_reset): sk_error_report and the state
		// change wake every waiter, a new edge even after an ERR|HUP.
		file_wake_now(f, 0);
		return;
	}
	if (side == io_side::incoming) {
		// A connection from this process reached listener f (the stamp is
		// the listener's own, ep_file_stamp()).
		hint_wake(f, EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND, st); // sock_def_readable()'s key
		return;
	}
	if (side == io_side::state_change) {
		// shutdown(): sk_state_change() wakes every waiter of the socket
		// with no key, and the peer's when it learns of it.
		if (f->kind == file_kind::socket) {
			// TCP: only a FIN tells the peer (tcp_shutdown() sends one for
			// SHUT_WR, once); over loopback it arrives inside the call,
			// before inet_shutdown() wakes the socket itself.
			if (result == 0 && (requested == SHUT_RD || requested == SHUT_RDWR))
				f->rd_shutdown.store(true, std::memory_order_relaxed);
			bool fin = result == 0 && (requested == SHUT_WR || requested == SHUT_RDWR) &&
				   !f->fin_sent.exchange(true);
			epfile *p = fin ? epfile_get_peer(f) : nullptr;
			if (p) {
				file_wake_now(p, 0);
				epfile_put(p);
			}
			file_wake_now(f, 0);
			return;
		}
		if (result == 0 && (requested == SHUT_WR || requested == SHUT_RDWR))
			f->fin_sent.store(true, std::memory_order_relaxed);
		file_wake_now(f, 0);
		// unix_shutdown() tells a stream or seqpacket peer, whatever `how`;
		// a datagram peer (AF_UNIX or UDP) is told nothing.
		bool told = f->kind != file_kind::unix_dgram && f->kind != file_kind::inet_dgram;
		epfile *p = told ? epfile_get_peer(f) : nullptr;
		if (p) {
			file_wake_now(p, 0);
			epfile_put(p);
		}
		return;
	}
	// A UDP call that failed with the error a port unreachable had set
	// (sock_error() hands over sk_err): its arrival (__udp4_lib_err ->
	// sk_error_report) woke the socket with EPOLLERR, and the call has
	// just cleared it, so no poll will see it now.  It reaches the items
	// no poller saw it for, as a level: not those queued since, nor an ET
	// item that has reported an ERR already (et_off).  Only ECONNREFUSED:
	// a UDP call never makes it up itself, while EHOSTUNREACH and the
	// like may be the call's own routing failure, and EMSGSIZE a datagram
	// too large, with nothing pending.
	if (f->kind == file_kind::inet_dgram && (side == io_side::read || side == io_side::write) &&
	    result == -ECONNREFUSED)
		file_wake_now(f, EPOLLERR, wake_kind::level);
	if (side == io_side::read) {
		// Reading emptied the buffer (EAGAIN) or took some of it: the next
		// arrival is an edge.  Not once the read side is shut: its IN is a
		// state, and no arrival is to come (nor at EOF, result 0).
		if ((result > 0 || result == -EAGAIN) && f->et_items.load(std::memory_order_relaxed) &&
		    !f->rd_shut.load(std::memory_order_relaxed))
			ep_rearm_side(f, EP_READ_SIDE, false);
		// A stream read that returns nothing may still free an skb: the
		// one of out-of-band data it steps over (manage_oob()).
		if (result <= 0 && st.peer_outq < 0)
			return;
		// eventfd_read() wakes the eventfd's writers: an OUT edge.
		if (f->kind == file_kind::eventfd)
			hint_wake(f, EPOLLOUT, st);
		// The writer on the other end gets room: an OUT wake-up where the
		// kernel gives one.  A pipe or TCP writer only if it had found the
		// buffer full.  An AF_UNIX writer whenever the read freed one of
		// its skbs (sock_wfree -> unix_write_space) and it is writable
		// (unix_writable: wmem_alloc * 4 <= sndbuf): a datagram or
		// seqpacket read always consumes a whole message; a stream read
		// frees the skbs it read to their end, which the writer's
		// SIOCOUTQ going down tells (without a stamp, a read that took all
		// that was queued).
		if (epfile *p = epfile_get_peer(f)) {
			bool wake;
			int pfd = p->poll_fd.load(std::memory_order_relaxed);
			if (f->kind == file_kind::unix_socket && st.peer_quiet) {
				wake = false;
			} else if (f->kind == file_kind::unix_socket && st.peer_outq >= 0) {
				// sk_sndbuf is never below SOCK_MIN_SNDBUF (over 4096): a
				// small remainder is writable without asking.
				long outq = g_sys->outq(pfd);
				wake = outq >= 0 && outq < st.peer_outq &&
				       (((outq + 1) << 2) <= 4096 || ((outq + 1) << 2) <= g_sys->sndbuf(pfd));
			} else if (f->kind == file_kind::unix_socket) {
				wake = result < requested || g_sys->inq(f->poll_fd.load(std::memory_order_relaxed)) == 0;
			} else if (f->kind == file_kind::unix_dgram || f->kind == file_kind::unix_seqpacket) {
				wake = true;
			} else {
				wake = p->out_blocked.exchange(false);
			}
			// pipe_read() wakes with OUT|WRNORM; a socket's write space
			// (unix_write_space, sk_stream_write_space) adds WRBAND.
			bool pipe = p->kind == file_kind::pipe_write;
			if (wake)
				hint_wake(p, pipe ? EPOLLOUT | EPOLLWRNORM : EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND, st);
			epfile_put(p);
		}
		return;
	}
	// A failed AF_UNIX datagram send (a dead peer: ECONNREFUSED; a peer
	// dropped by an earlier such send: ENOTCONN; a peer shut for reading:
	// EPIPE) had allocated its skb already: freeing it wakes the sender
	// with OUT (unix_dgram_sendmsg -> sock_wfree -> unix_write_space).  Our
	// own shutdown(SHUT_WR) fails the send (EPIPE) before the allocation.
	if (f->kind == file_kind::unix_dgram &&
	    (result == -ECONNREFUSED || result == -ENOTCONN ||
	     (result == -EPIPE && !f->fin_sent.load(std::memory_order_relaxed)))) {
		if (f->et_items.load(std::memory_order_relaxed))
			ep_rearm_side(f, EP_WRITE_SIDE, false);
		file_wake_now(f, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
		return;
	}
	// A full buffer (EAGAIN or a short write): the next room is an edge.
	// Not for an eventfd: EAGAIN there says "this value would overflow",
	// the counter may still take a smaller one (OUT stays set).
	bool full = result == -EAGAIN || (result >= 0 && result < requested);
	if (full && f->kind != file_kind::eventfd) {
		f->out_blocked.store(true, std::memory_order_relaxed);
		if (f->et_items.load(std::memory_order_relaxed))
			ep_rearm_side(f, EP_WRITE_SIDE, false);
	}
	// pipe_write() wakes the readers even when it wrote nothing (a full
	// pipe, EAGAIN) once the pipe has been polled: "Epoll nonsensically
	// wants a wakeup whether the pipe was already empty or not."
	if (result == -EAGAIN && f->kind == file_kind::pipe_write) {
		if (epfile *p = epfile_get_peer(f)) {
			hint_wake(p, EPOLLIN | EPOLLRDNORM, st);
			epfile_put(p);
		}
	}
	if (result <= 0)
		return;
	// A datagram left a UDP socket: its skb is freed on transmit
	// (loopback_xmit -> skb_orphan) and sock_def_write_space() wakes the
	// writer with OUT, before the receiver gets the datagram.
	if (f->kind == file_kind::inet_dgram) {
		// A send that succeeds found no pending error (sk_err is reported
		// by the send instead): the ERR this one may bring back (an ICMP
		// port unreachable, __udp4_lib_err -> sk_error_report) is a new
		// edge, so an item that reported ERR polls for it again.
		if (f->et_items.load(std::memory_order_relaxed))
			ep_rearm_side(f, EP_WRITE_SIDE, true);
		file_wake_now(f, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
	}
	// Data for a closed TCP peer: its RST resets us inside this call
	// (tcp_reset: ERR|HUP, a wake-up with no key).
	if (f->kind == file_kind::socket && f->peer_closed.load(std::memory_order_relaxed) &&
	    !f->conn_reset.exchange(true)) {
		file_wake_now(f, 0);
		return;
	}
	// Data for the other end (or for ourselves: an eventfd) wakes it now.
	if (f->kind == file_kind::eventfd)
		hint_wake(f, EPOLLIN | EPOLLRDNORM, st);
	if (epfile *p = epfile_get_peer(f)) {
		if (f->kind == file_kind::socket && p->rd_shutdown.load(std::memory_order_relaxed) &&
		    p->fin_sent.load(std::memory_order_relaxed)) {
			// Data for a TCP socket that shut its read side and sent its
			// FIN aborts it (tcp_reset: ERR|HUP), and its RST resets us:
			// both inside this call, the receiver first.
			p->conn_reset.store(true, std::memory_order_relaxed);
			f->conn_reset.store(true, std::memory_order_relaxed);
			file_wake_now(p, 0);
			file_wake_now(f, 0);
		} else {
			// A socket's data arrival is sock_def_readable(): key
			// EPOLLIN|EPOLLPRI|EPOLLRDNORM|EPOLLRDBAND (pipe_write: IN|RDNORM).
			bool sock = f->kind != file_kind::pipe_write && f->kind != file_kind::pipe_read &&
				    f->kind != file_kind::other;
			hint_wake(p, sock ? EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND : EPOLLIN | EPOLLRDNORM, st);
		}
		epfile_put(p);
	}
}

io_window ep_io_window_open(epfile *f)
{
	io_window w;
	if (!helper_running() || !epfile_tryget(f))
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
	for (epfile *&x : w.f) {
		if (!x)
			continue;
		// seq_cst both ways with the helper's "deferred, then busy?":
		// either it sees us gone, or we see what it left.
		x->io_busy.fetch_sub(1, std::memory_order_seq_cst);
		if (x->io_deferred.load(std::memory_order_seq_cst) && x->io_deferred.exchange(false))
			kick = true;
		epfile_put(x);
		x = nullptr;
	}
	if (kick)
		helper_kick();
}

// ---- the syscalls -------------------------------------------------------------

// Twin of ep_op_has_event().
static inline bool ep_op_has_event(int op) { return op != EPOLL_CTL_DEL; }

// Twin of ep_take_care_of_epollwakeup(): this kernel has no
// CONFIG_PM_SLEEP, so EPOLLWAKEUP is dropped for everyone.
static inline void ep_take_care_of_epollwakeup(epoll_event *epev) { epev->events &= ~EPOLLWAKEUP; }

namespace {
struct file_ref {
	epfile *f = nullptr;
	~file_ref()
	{
		if (f)
			epfile_put(f);
	}
};
} // namespace

// Twin of do_epoll_ctl(): the checks in the kernel's order.
int do_epoll_ctl(int epfd, int op, int fd, const epoll_event *uevent)
{
	epoll_event epds{};
	if (ep_op_has_event(op) && g_sys->copy_from_user(&epds, uevent, sizeof epds) != sizeof epds)
		return -EFAULT;

	long err = 0;
	file_ref f, tf;
	f.f = g_files->fget(epfd, &err);
	if (!f.f)
		return static_cast<int>(err);
	tf.f = g_files->fget(fd, &err);
	if (!tf.f)
		return static_cast<int>(err);

	// The target file must support poll.
	if (!tf.f->can_poll)
		return -EPERM;
	// Check if EPOLLWAKEUP is allowed.
	if (ep_op_has_event(op))
		ep_take_care_of_epollwakeup(&epds);
	// We do not permit adding an epoll file descriptor inside itself, and
	// epfd must be one of ours.
	if (f.f == tf.f || !is_file_epoll(f.f))
		return -EINVAL;
	// epoll adds to the wakeup queue at EPOLL_CTL_ADD time only, so
	// EPOLLEXCLUSIVE is not allowed for MOD, nor on nested epoll fds, nor
	// with bits that make no sense for an exclusive wake-up.
	if (ep_op_has_event(op) && (epds.events & EPOLLEXCLUSIVE)) {
		if (op == EPOLL_CTL_MOD)
			return -EINVAL;
		if (op == EPOLL_CTL_ADD && (is_file_epoll(tf.f) || (epds.events & ~EPOLLEXCLUSIVE_OK_BITS)))
			return -EINVAL;
	}

	eventpoll *ep = f.f->ep;
	bool full_check = false;
	std::unique_lock<sleeping_mutex> nested;
	std::unique_lock<sleeping_mutex> m(ep->mtx);
	// When adding an epoll fd, or to an instance that is itself watched, we
	// must check for loops and wake-up storms under the global mutex.
	if (op == EPOLL_CTL_ADD) {
		bool watched;
		{
			std::lock_guard g(f.f->f_lock);
			watched = !f.f->f_ep.empty();
		}
		if (watched || ep->gen.load() == loop_check_gen_now() || is_file_epoll(tf.f)) {
			m.unlock();
			nested = std::unique_lock<sleeping_mutex>(epnested_mutex);
			loop_check_begin();
			if (is_file_epoll(tf.f) && ep_loop_check(ep, tf.f->ep) != 0) {
				loop_check_done();
				return -ELOOP;
			}
			m.lock();
			full_check = true;
		}
	}

	int error = -EINVAL;
	epitem *epi = ep_find(ep, tf.f, fd);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (!epi) {
			epds.events |= EPOLLERR | EPOLLHUP;
			error = ep_insert(ep, &epds, tf.f, fd, full_check);
		} else {
			error = -EEXIST;
		}
		break;
	case EPOLL_CTL_DEL:
		if (epi) {
			__ep_remove(ep, epi);
			error = 0;
		} else {
			error = -ENOENT;
		}
		break;
	case EPOLL_CTL_MOD:
		if (epi) {
			if (!(epi->event.events & EPOLLEXCLUSIVE)) {
				epds.events |= EPOLLERR | EPOLLHUP;
				error = ep_modify(ep, epi, &epds);
			}
		} else {
			error = -ENOENT;
		}
		break;
	}
	m.unlock();
	if (full_check)
		loop_check_done();
	return error;
}

// Twin of ep_poll(): harvest, or block until something is ready, the
// timeout expires or a signal arrives.
static int ep_poll(eventpoll *ep, epoll_event *uevents, int maxevents, int64_t timeout_ns, const sigset_t *sigmask)
{
	stat_waits.fetch_add(1, std::memory_order_relaxed);
	struct timespec deadline{};
	if (timeout_ns > 0) {
		g_sys->monotonic(&deadline);
		int64_t ns = deadline.tv_nsec + timeout_ns % 1000000000;
		deadline.tv_sec += timeout_ns / 1000000000 + ns / 1000000000;
		deadline.tv_nsec = ns % 1000000000;
	}
	ep_waiter w;
	thread_local std::vector<pollfd, slab_allocator<pollfd>> set;
	thread_local std::vector<uint32_t, slab_allocator<uint32_t>> epochs;

	for (;;) {
		int res = ep_send_events(ep, uevents, maxevents);
		if (res != 0)
			return res;

		struct timespec rem{}, *tsp = nullptr;
		if (timeout_ns == 0)
			return 0;
		if (timeout_ns > 0) {
			struct timespec now;
			g_sys->monotonic(&now);
			int64_t left = (deadline.tv_sec - now.tv_sec) * 1000000000LL + (deadline.tv_nsec - now.tv_nsec);
			if (left <= 0)
				return 0;
			rem.tv_sec = left / 1000000000;
			rem.tv_nsec = left % 1000000000;
			tsp = &rem;
		}

		w.wake_fd = tls_wake_fd();
		if (w.wake_fd < 0)
			return w.wake_fd;
		bool leader = false;
		uint64_t gen = 0;
		{
			std::lock_guard g(ep->lock);
			if (!ep->rdllist.empty())
				continue; // something arrived since the scan
			w.woken = false;
			ep->wq.push_back(w);
			if (!ep->leader) {
				ep->leader = &w;
				leader = true;
				set.assign(ep->pfds.begin(), ep->pfds.end());
				epochs.resize(set.size());
				for (size_t i = 0; i < set.size(); i++)
					epochs[i] = set[i].fd >= 0 ? ep->pitems[i]->arm_epoch : 0;
				gen = ep->pset_gen;
				ep->poll_seq.fetch_add(1, std::memory_order_acq_rel); // odd: inside
				tls_polling_ep = ep;
			} else {
				set.clear();
			}
			set.push_back(pollfd{w.wake_fd, POLLIN, 0});
		}

		long r = g_sys->ppoll(set.data(), set.size(), tsp, sigmask);

		// Leave the ppoll window first (a close() may wait for it), but stay
		// a waiter while the callbacks run: for them we are the thread that
		// was blocked on ep, as a kernel waiter is while its IRQ runs.
		epfile *ready[64];
		uint32_t ready_rev[64], ready_epoch[64];
		const epitem *ready_epi[64];
		int nready = 0;
		{
			std::lock_guard g(ep->lock);
			if (leader) {
				ep->poll_seq.fetch_add(1, std::memory_order_acq_rel); // even: out
				if (ep->closers.load(std::memory_order_acquire))
					g_sys->futex_wake(reinterpret_cast<const uint32_t *>(&ep->poll_seq), INT_MAX);
			}
			if (leader && r > 0 && gen == ep->pset_gen) {
				for (size_t i = 0; i + 1 < set.size() && nready < 64; i++) {
					if (!set[i].revents || set[i].fd < 0 || (set[i].revents & POLLNVAL))
						continue;
					if (ep->pitems[i]->arm_epoch != epochs[i])
						continue; // re-armed since: stale
					epfile *f = ep->pitems[i]->ffd.file;
					if (!epfile_tryget(f))
						continue;
					ready[nready] = f;
					ready_epi[nready] = ep->pitems[i];
					ready_epoch[nready] = epochs[i];
					ready_rev[nready++] = static_cast<uint16_t>(set[i].revents);
				}
				// More than 64: ep_send_events' own poll finds the rest.
			}
		}
		for (int i = 0; i < nready; i++) {
			file_wakeup_polled(ready[i], ready_rev[i], ready_epi[i], ready_epoch[i]);
			epfile_put(ready[i]);
		}
		{
			std::lock_guard g(ep->lock);
			if (leader) {
				tls_polling_ep = nullptr;
				ep->leader = nullptr;
			}
			ep->wq.erase(ep->wq.iterator_to(w));
			if (w.woken || (set.back().revents & POLLIN)) {
				efd_drain(w.wake_fd);
				w.woken = false;
			}
			// Somebody must keep polling for the followers.
			if (!ep->wq.empty() && !ep->leader)
				ep_wake_one(ep);
		}
		if (r == -EINTR)
			return -EINTR;
		if (r < 0 && r != -EAGAIN)
			return static_cast<int>(r);
	}
}

// Twin of do_epoll_wait() and the checks of epoll_pwait/epoll_pwait2 that
// come after the signal mask (the shim checks the timespec and the mask).
int do_epoll_wait(int epfd, epoll_event *uevents, int maxevents, int64_t timeout_ns, const sigset_t *sigmask)
{
	long err = 0;
	file_ref f;
	f.f = g_files->fget(epfd, &err);
	if (!f.f)
		return static_cast<int>(err);
	// The maximum number of event must be greater than zero.
	if (maxevents <= 0 || maxevents > static_cast<int>(INT_MAX / sizeof(epoll_event)))
		return -EINVAL;
	// Verify that the area passed by the user is writeable.
	if (!user_range_ok(uevents, static_cast<size_t>(maxevents) * sizeof(epoll_event)))
		return -EFAULT;
	// We have to check that the file structure underneath the fd the user
	// passed to us _is_ an eventpoll file.
	if (!is_file_epoll(f.f))
		return -EINVAL;
	return ep_poll(f.f->ep, uevents, maxevents, timeout_ns, sigmask);
}

// Twin of set_user_sigmask(): copies the caller's signal mask.  Returns 1
// with *kmask set, 0 when there is none, or -errno.
static long set_user_sigmask(const sigset_t *umask, size_t sigsetsize, sigset_t *kmask)
{
	if (!umask)
		return 0;
	if (sigsetsize != KERNEL_SIGSET_SIZE)
		return -EINVAL;
	sigemptyset(kmask);
	return g_sys->copy_from_user(kmask, umask, KERNEL_SIGSET_SIZE) == KERNEL_SIGSET_SIZE ? 1 : -EFAULT;
}

// Twin of do_epoll_pwait(): the mask, then the wait.
static int do_epoll_pwait(int epfd, epoll_event *uevents, int maxevents, int64_t timeout_ns,
			  const sigset_t *usigmask, size_t sigsetsize)
{
	sigset_t k;
	long m = set_user_sigmask(usigmask, sigsetsize, &k);
	if (m < 0)
		return static_cast<int>(m);
	return do_epoll_wait(epfd, uevents, maxevents, timeout_ns, m ? &k : nullptr);
}

// Twin of ep_timeout_to_timespec(): a negative timeout waits forever.
static int64_t ms_to_ns(int timeout_ms) { return timeout_ms < 0 ? -1 : int64_t(timeout_ms) * 1000000; }

int sys_epoll_wait(int epfd, epoll_event *uevents, int maxevents, int timeout_ms)
{
	return do_epoll_wait(epfd, uevents, maxevents, ms_to_ns(timeout_ms), nullptr);
}

int sys_epoll_pwait(int epfd, epoll_event *uevents, int maxevents, int timeout_ms, const sigset_t *usigmask,
		    size_t sigsetsize)
{
	return do_epoll_pwait(epfd, uevents, maxevents, ms_to_ns(timeout_ms), usigmask, sigsetsize);
}

int sys_epoll_pwait2(int epfd, epoll_event *uevents, int maxevents, const timespec *utimeout,
		     const sigset_t *usigmask, size_t sigsetsize)
{
	int64_t ns = -1;
	if (utimeout) {
		// get_timespec64(), then poll_select_set_timeout()'s validity check.
		timespec ts;
		if (g_sys->copy_from_user(&ts, utimeout, sizeof ts) != sizeof ts)
			return -EFAULT;
		if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
			return -EINVAL;
		ns = ts.tv_sec > (INT64_MAX - ts.tv_nsec) / 1000000000 ? -1 : ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	return do_epoll_pwait(epfd, uevents, maxevents, ns, usigmask, sigsetsize);
}

// ---- fork -----------------------------------------------------------------------

// Before fork(): take every instance's locks so the child inherits
// consistent structures.  Try-locks in a retry loop, because the list
// order is not the nesting order ep_send_events() takes ep->mtx in.
void ep_fork_prepare()
{
	epnested_mutex.lock();
	for (;;) {
		all_lock.lock();
		bool ok = true;
		eventpoll_list::iterator failed = all_eps_list().end();
		for (auto it = all_eps_list().begin(); it != all_eps_list().end(); ++it) {
			if (!it->mtx.try_lock()) {
				ok = false;
				failed = it;
				break;
			}
		}
		if (ok)
			break;
		for (auto it = all_eps_list().begin(); it != failed; ++it)
			it->mtx.unlock();
		all_lock.unlock();
		sched_yield();
	}
	helper_fork_prepare();
}

void ep_fork_parent()
{
	helper_fork_parent();
	for (eventpoll &ep : all_eps_list())
		ep.mtx.unlock();
	all_lock.unlock();
	epnested_mutex.unlock();
}

// In the child: one thread, no helper, no waiter.  Every instance gets its
// own eventfd (the parent's is shared with us by fork) on the same number.
void ep_fork_child()
{
	helper_fork_child();
	tls_fork_child();
	for (eventpoll &ep : all_eps_list()) {
		ep.lock.reset();
		ep.wq.clear();
		ep.leader = nullptr;
		ep.poll_seq.store(0);
		ep.closers.store(0);
		int fd = ep.file->poll_fd;
		if (fd >= 0) {
			long cloexec = g_sys->fcntl(fd, F_GETFD, 0);
			long nfd = g_sys->eventfd(0, EFD_CLOEXEC);
			if (nfd >= 0) {
				g_sys->dup3(static_cast<int>(nfd), fd, (cloexec > 0 && (cloexec & FD_CLOEXEC)) ? O_CLOEXEC : 0);
				g_sys->close(static_cast<int>(nfd));
			}
			ep.efd_set = false;
			ep_sync_efd(&ep);
		}
		ep.mtx.reset();
	}
	all_lock.reset();
	epnested_mutex.reset();
	// The locks were reset rather than released: fix the depth we took.
	tls_lock_depth = 0;
	for (eventpoll &ep : all_eps_list())
		if (ep.observed) {
			helper_start();
			break;
		}
}

core_stats stats()
{
	core_stats s{};
	{
		std::lock_guard g(all_lock);
		for (eventpoll &ep : all_eps_list()) {
			(void)ep;
			s.instances++;
		}
	}
	s.items = static_cast<uint64_t>(epoll_watches.load());
	s.waits = stat_waits.load();
	s.sync_polls = stat_sync_polls.load();
	s.callbacks = stat_callbacks.load();
	helper_stats(&s.helper_wakeups, &s.helper_polls);
	return s;
}

} // namespace uepoll::core
