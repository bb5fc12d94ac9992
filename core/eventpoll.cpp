// core/eventpoll.cpp - uepoll's eventpoll engine: the userspace twin of
// fs/eventpoll.c, built on poll(2) instead of wait queues.
//
// THE INTERRUPT
// The kernel learns that a file became ready from the file itself: its wake
// queue calls ep_poll_callback().  We only have poll(2), so somebody must
// sit in ppoll() on the watched fds and, when it returns, run the callback
// for each ready file (file_wakeup() in wakeup.cpp, the twin of __wake_up()
// on the file's wait queue).  That somebody is, in order of preference:
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
//   3. the SHARDS' POLLERS (core/tiers.cpp), for COLD items: an item that
//      its instance's waits polled tier_demote_after times in a row
//      without finding it ready leaves the instance's poll set for a
//      shard, a set of at most 256 fds that a poller thread of its own
//      parks in ppoll() until one of them becomes ready.  The poller runs
//      the callbacks as the helper does; the item, queued, is PROMOTED
//      back to its instance's set (HOT).  So a wait costs O(hot items),
//      and a cold fd waking costs its poller a pass over one shard.
//   4. epoll_wait itself, synchronously: before reporting, ep_send_events()
//      polls the armed hot items with a zero timeout, so an fd that became
//      ready before the call is seen even with timeout 0 and even if no
//      poller ran in between (a cold one: once its poller has run, or at
//      once when the readiness comes from an I/O call of this process,
//      whose hook makes the kernel's wake-up, core/io_hints.cpp).
// An item is ARMED (in a poll set) while it is enabled and not queued:
// queued items need no polling, ep_send_events re-polls them.  Arming is
// O(1): each hot item owns one slot of ep->pfds, each cold one a slot of
// its shard, and a disarmed hot slot has fd -1 (a cold item disarmed is
// promoted, so a shard holds armed slots only).
//
// CTL WITHOUT A POLL.  The kernel's ep_insert() and ep_modify() poll the
// item once and queue it if ready.  Here that poll is a system call, so an
// ADD or MOD queues the item UNCONFIRMED instead (at the tail, where the
// kernel would queue it if ready) and wakes one waiter if there is one;
// the harvest's re-poll keeps it if ready and drops (and arms) it if not,
// as the kernel drops stale items.  An item that was idle at its ctl and is
// made ready before the harvest must be queued where that wake-up would
// queue it, not where the ctl did: the kinds queued unconfirmed (eventfds,
// pipes, AF_UNIX socketpairs made in this process) change readiness only
// through this process's calls, whose hooks first settle the file's
// unconfirmed items with one poll (ep_confirm_queued()); so does a MOD of
// an item still unconfirmed (ep_modify()), and an instance about to be
// observed settles all of its own (ep_set_observed()).  Everything else
// is polled at the ctl, as before (ep_poll_at_ctl() in ctl.cpp says why
// for each: observed instances, nested instances, EPOLLEXCLUSIVE items,
// files whose readiness changes on its own).
//
// EDGE-TRIGGERED ITEMS over a level-triggered poll(2): after an item is
// reported, the bits reported are SUPPRESSED (no longer polled) until the
// program does I/O on the file (ep_io_hint(), called by interpose/'s I/O
// hooks), or MODs the item, or a callback reaches it directly (a nested
// instance's wake-up).  Draining to EAGAIN then re-arming gives exactly the
// kernel's edges; a partial read may report again (docs/deviations.md).
//
// LOCKING
// Eleven locks, always taken in this order (from 1 to 11; any may be
// skipped, none taken out of order).  Those marked "checked" are asserted
// by the functions that need them (assert_held(), core/spinlock.hpp, in
// builds without NDEBUG), as the kernel's lockdep_assert_held().
//   1) registry::lock  - spin; interpose/loopback.cpp's three tables
//                        (tcp_clients, listeners, udp_bound), never two at
//                        once and never under a core lock.  Its sweep's
//                        epfile_put() may run __fput(): 4, 7, 8, 9, 10.
//   2) epnested_mutex  - global; only ADDs that need ep_loop_check() or
//                        reverse_path_check() (twin of epnested_mutex).
//                        Checked by loop_check.cpp.
//   3) all_lock        - spin; the list of every instance.  The helper
//                        takes each instance's 8 under it; fork takes
//                        every 4 under it, by try-lock.
//   4) ep->mtx         - sleeping; ctl, ep_send_events(), ep_eventpoll_poll(),
//                        the tree, demotions (they move hot slots).
//                        Nested instances are taken outer before
//                        inner; ep_loop_check() keeps that order acyclic.
//                        Checked by ctl.cpp and the scan.
//   5) helper.lock     - spin; the helper's start (core/helper.cpp): taken
//                        under 4 at most (ep_insert -> ep_set_observed),
//                        and takes nothing of ours.
//   6) shards_lock     - spin; creating shards and starting their pollers
//                        (core/tiers.cpp, tiers_reserve): under 4 at most;
//                        takes 9 (to count their room).
//   7) file->f_lock    - spin; the file's item list f_ep, poll_fd, nfds.
//   8) ep->lock        - spin; rdllist, ovflist, wq, the hot poll set and
//                        the per-item poll state (twin of ep->lock).
//                        Checked by the arming rule (ep_slot_update() and
//                        friends).
//   9) shard->lock     - spin; a shard's slots and the pidx of its cold
//                        items (core/tiers.cpp).  Taken under 8 to demote,
//                        promote or re-arm a cold item, alone by its poller
//                        to copy the set and check a slot; one at a time.
//  10) peer_lock       - spin; the peer links (core/file.cpp).  A leaf:
//                        nothing is taken under it.
//  11) registry_lock   - spin; the threads that have waited, for
//                        pthread_cancel (core/wait_cancel.cpp).  A leaf,
//                        taken with no other lock held.
//  12) free_files_lock - spin; the freed epfiles kept for epfiles only
//                        (core/file.cpp, twin of SLAB_TYPESAFE_BY_RCU).  A
//                        leaf, under any of the above.
// Beside them, the registry of internal fds (core/internal_fd.cpp): its
// move_mutex (sleeping; taken under 4 at most, never with a use of an
// internal fd held, and held across a move's bounded wait for those uses)
// and its list_lock (spin; a leaf, under the move_mutex or alone).
// The wake-up path (file_wakeup -> ep_poll_callback) takes only 7, 8 and 9,
// never a sleeping lock, as the kernel's callback runs in IRQ context.  The
// nested wake-up (ep_poll_safewake) runs inside the walk, after 7 is
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
// before it maps a slot back to an item (a shard's poller checks its
// slot's stamp, under the shard's lock, which __ep_remove takes too).
// Shards and their pollers live as long as the process (a forked child
// keeps the shards, empty, and starts pollers again when it demotes).
//
// THE FILES
// This file holds the shared state, the arming rule (ep_slot_update(),
// ep_sync_efd(), ep_wake_one()), create and free.  The rest of the engine,
// one concept a file (docs/design.md, "Layout", names the twin in each):
//   wakeup.cpp       ep_poll_callback() and the wake-up walk (safewake)
//   send_events.cpp  polling items, the scan, ep_send_events()
//   ctl.cpp          insert, modify, remove, do_epoll_ctl()
//   wait.cpp         ep_poll(), do_epoll_wait(), the wait syscalls
//   file.cpp         struct file: references, peers, the close protocol
//   io_hints.cpp     the wake-ups of in-process I/O (fs/pipe.c, net/)
//   io_window.cpp    the I/O window protocol (hook vs helper)
//   fork.cpp         the fork handlers
//   loop_check.cpp   ep_loop_check(), reverse_path_check()
//   helper.cpp       the helper thread
//   tiers.cpp        hot and cold items, the shards and their pollers
//   deferred.cpp     per-thread state: lock depth, deferred closes
//   wait_cancel.cpp  pthread_cancel of a blocked waiter
//   internal_fd.cpp  the registry of our own fds (moved, lost, made again)
#include "core/eventpoll.hpp"

#include <climits>
#include <fcntl.h>
#include <sys/eventfd.h>

#include "core/internal.hpp"

namespace uepoll::core {

const sys_ops *g_sys;
const file_ops *g_files;

sleeping_mutex epnested_mutex; // twin of epnested_mutex
spinlock all_lock;
// Every instance, for fork and the helper.  Never destroyed: the helper
// thread may still walk it while exit() runs the static destructors.
eventpoll_list &all_eps_list() { return static_forever<eventpoll_list>(); }
std::atomic<long> epoll_watches{0}; // twin of user->epoll_watches (per process here)
std::atomic<uint64_t> stat_waits, stat_sync_polls, stat_callbacks;

constinit thread_local eventpoll *tls_polling_ep = nullptr; // the instance this thread leads a ppoll for

static void open_max_user_watches();

void core_init(const sys_ops *s, const file_ops *f)
{
	g_sys = s;
	g_files = f;
	open_max_user_watches();
}

// ---- the arming rule ---------------------------------------------------------

// The events an item wants, as poll(2) takes them.  Every defined epoll bit
// below 1<<16 is the poll bit of the same value on Linux.
static inline short ep_poll_events(const epitem *epi)
{
	return static_cast<short>((epi->event.events & ~epi->et_suppressed()) & 0xffff);
}

// Keeps an observed instance's eventfd readable exactly while its ready
// list is not empty.  Must be called with ep->lock held.
void ep_sync_efd(eventpoll *ep)
{
	ep->lock.assert_held();
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

// Recomputes an item's slot in the poll set (its instance's hot set, or its
// shard when it is cold).  Must be called with ep->lock held.
void ep_slot_update(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	epfile *f = epi->file;
	bool armed = !epi->on_list && epi->next == EP_UNACTIVE_PTR && (epi->event.events & ~EP_PRIVATE_BITS) &&
		     !epi->et_dead && !epi->excl_parked && !f->dead.load(std::memory_order_relaxed);
	int fd = armed ? f->poll_fd.load() : -1;
	short events = ep_poll_events(epi);
	// An epoll file is only ever readable (ep_eventpoll_poll); its eventfd
	// underneath is always writable: never ask it for OUT.  Its wake-up key
	// is EPOLLIN alone (ep_poll_safewake()), so an item that asked for
	// RDNORM but not IN is never woken by it: only a ctl's poll or the
	// harvest of an LT report asks the instance, and a look on its behalf
	// would drop the instance's stale items (__ep_eventpoll_poll) when the
	// kernel leaves them queued.
	if (is_file_epoll(f))
		events &= POLLIN;
	if (epi->cold) {
		// Armed: its poller keeps it.  Disarmed (queued, reported, closed):
		// it woke, it is hot again, and its next arming is in the hot set.
		if (fd >= 0) {
			tier_slot_update(ep, epi, fd, events);
			return;
		}
		tier_promote(ep, epi);
	}
	pollfd &p = ep->pfds[epi->pidx];
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
		ep_waiter_kick(*ep->leader);
	}
	if (ep->observed && (widened || fd < 0))
		helper_kick();
}

void ep_pset_append(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	epi->pidx = static_cast<int>(ep->pfds.size());
	ep->pfds.push_back(pollfd{-1, 0, 0});
	ep->pitems.push_back(epi);
}

void ep_pset_remove(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	// Swap-remove the slot; the item that moves keeps its meaning, but a
	// poller's copy of the set does not: bump the generation.
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
	epi->pidx = -1;
}

// Wakes one thread waiting on ep (twin of wake_up(&ep->wq) on an exclusive
// queue).  The leader is the first waiter; waking it makes its ppoll return
// so it harvests.  Must be called with ep->lock held.
void ep_wake_one(eventpoll *ep)
{
	ep->lock.assert_held();
	for (ep_waiter &w : ep->wq) {
		if (w.woken)
			return; // one wake-up is already on its way
		if (tls_polling_ep == ep && &w == ep->leader)
			return; // we are that leader, about to harvest
		w.woken = true;
		ep_waiter_kick(w);
		return;
	}
}

void for_each_observed(void (*fn)(eventpoll *, void *), void *arg)
{
	std::lock_guard g(all_lock);
	for (eventpoll &ep : all_eps_list())
		if (ep.observed)
			fn(&ep, arg);
}

// ---- create and free ----------------------------------------------------------

// The max_user_watches sysctl (twin of the kernel's max_user_watches
// variable, which ep_insert() reads at each ADD).  We can only read the
// file: one pread() on an fd opened at start-up (an internal fd: opened
// later, it would show up as an fd the program did not expect), about
// 1.7 us, where an ADD without it costs a few hundred ns.  So the value is
// read again at most once per millisecond (CLOCK_MONOTONIC through the
// vDSO, ~20 ns), and at every ADD once this process has opened the file for
// writing (ep_max_user_watches_written(), from the open/fopen hooks): its
// own writes count from its next ADD on, as natively.  A change made by
// another process counts from the first ADD at least 1 ms after our last
// read (docs/deviations.md, "max_user_watches").  LONG_MAX when it cannot
// be read (no /proc: no limit we can know).
// The number may change under us (core/internal_fd.hpp): a dup2 onto it
// moves it, a close behind our back loses it (the next read says so, and
// it is opened again).
static internal_fd max_watches("/proc/sys/fs/epoll/max_user_watches", O_RDONLY);
static bool max_watches_opened; // at start-up: false without /proc
// The last value read: what counts while the file has no number (none
// was free when a dup2 took its number, or none is free to open it again).
static std::atomic<long> max_watches_last{LONG_MAX};
static std::atomic<int64_t> max_watches_read_ns{INT64_MIN}; // CLOCK_MONOTONIC of the last read
static std::atomic<bool> max_watches_written{false};
constexpr int64_t MAX_WATCHES_REREAD_NS = 1000000;

static void open_max_user_watches()
{
	max_watches_opened =
		max_watches.adopt(g_sys->open("/proc/sys/fs/epoll/max_user_watches", O_RDONLY | O_CLOEXEC)) >= 0;
}

// One pread of the sysctl, or -errno when the number is not the file any
// more (closed behind our back: EBADF; another file: ESPIPE, EISDIR, or
// not a number: EINVAL).
static long read_max_user_watches(int fd)
{
	char buf[32];
	long n = g_sys->pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return n < 0 ? n : -EINVAL;
	buf[n] = 0;
	long v = 0;
	char *p = buf;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	if (p == buf || (*p != '\n' && *p != 0))
		return -EINVAL;
	return v > 0 ? v : LONG_MAX;
}

// The value through the current number; false (*seen: the number tried,
// or -1) when it has none or the number is not the file any more.
static bool try_max_user_watches(long *v, int *seen)
{
	internal_fd_use u = max_watches.acquire();
	*seen = u.fd();
	if (u.fd() < 0)
		return false;
	*v = read_max_user_watches(u.fd());
	if (*v < 0)
		return false;
	max_watches_last.store(*v, std::memory_order_relaxed);
	return true;
}

void ep_max_user_watches_written() { max_watches_written.store(true, std::memory_order_relaxed); }

static long read_max_user_watches_now()
{
	if (!max_watches_opened)
		return LONG_MAX;
	long v;
	int seen;
	if (try_max_user_watches(&v, &seen))
		return v;
	// Lost or moved away: open it again (once per call).
	if (max_watches.renew(seen) >= 0 && try_max_user_watches(&v, &seen))
		return v;
	return max_watches_last.load(std::memory_order_relaxed);
}

long ep_max_user_watches()
{
	if (!max_watches_opened)
		return LONG_MAX;
	if (max_watches_written.load(std::memory_order_relaxed))
		return read_max_user_watches_now();
	int64_t ns = monotonic_ns(); // the vDSO: no system call
	int64_t last = max_watches_read_ns.load(std::memory_order_relaxed);
	if (last != INT64_MIN && ns - last < MAX_WATCHES_REREAD_NS && ns >= last)
		return max_watches_last.load(std::memory_order_relaxed);
	long v = read_max_user_watches_now();
	max_watches_read_ns.store(ns, std::memory_order_relaxed);
	return v;
}

// Twin of do_epoll_create() (ep_alloc + anon_inode_getfile + fd_install).
// The fake epoll fd is an eventfd: a real kernel fd that poll(2), select(2)
// and native epoll can watch; we make it readable while the ready list is.
int do_epoll_create(int flags)
{
	if (flags & ~EPOLL_CLOEXEC)
		return -EINVAL;
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
void ep_free(eventpoll *ep)
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
	tiers_stats(&s);
	return s;
}

} // namespace uepoll::core
