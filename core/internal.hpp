// core/internal.hpp - what the core's files share and nobody else sees,
// grouped by the file that defines it.
#pragma once

#include <cerrno>
#include <ctime>

#include "core/eventpoll.hpp"
#include "core/internal_fd.hpp"

namespace uepoll::core {

// ---- eventpoll.cpp: shared state, the arming rule ---------------------------

extern const sys_ops *g_sys;
extern const file_ops *g_files;
// The instance this thread is the polling leader of, while inside ppoll.
extern constinit thread_local eventpoll *tls_polling_ep;

extern sleeping_mutex epnested_mutex; // twin of epnested_mutex
extern spinlock all_lock;             // guards all_eps_list()
eventpoll_list &all_eps_list();       // every instance, for fork and the helper
extern std::atomic<long> epoll_watches; // twin of user->epoll_watches (per process here)
// The max_user_watches sysctl, read now (eventpoll.cpp).
long ep_max_user_watches();
extern std::atomic<uint64_t> stat_waits, stat_sync_polls, stat_callbacks;

// How deep the recursion through nested instances may go (polls, wake-up
// walks).  The kernel has no such cap: ep_loop_check() keeps every chain
// within EP_MAX_NESTS links, and an entry point starts a level or two in
// (ep_insert() polls at 1, a nested wake-up adds one per instance).  This
// only bounds the stack, well above any chain the loop check lets through.
constexpr int EP_MAX_DEPTH = 2 * EP_MAX_NESTS + 2;

// Twin of ep_is_linked(): on rdllist or a scan's txlist.
inline bool ep_is_linked(const epitem *epi) { return epi->on_list; }

// Writes one 8-byte value to an eventfd we own; retries EINTR only.  A
// waiter that has none (fd < 0: the fd table was full) sees its `woken`
// flag at its next look instead (core/wait.cpp).
// False when the write failed: the number was closed behind our back
// (EBADF), and a poller holding it in its ppoll cannot be woken through it.
inline bool efd_signal(int fd)
{
	if (fd < 0)
		return true;
	uint64_t one = 1;
	long r;
	while ((r = g_sys->write(fd, &one, sizeof one)) == -EINTR) {
	}
	return r == sizeof one || r == -EAGAIN;
}

// Kicks waiter w through its wake-up fd (under ep->lock, while w is on
// ep->wq: its own use of the number covers ours).  Not when the number is
// no longer its entry's: lost behind our back, it may be the program's
// file now (never a write into it), or being moved (the mover kicks it).
// False when it was not kicked.
inline bool ep_waiter_kick(const ep_waiter &w)
{
	if (w.wake_fd < 0)
		return true; // no fd: it looks at `woken` every millisecond
	if (w.wake_entry && w.wake_entry->peek() != w.wake_fd)
		return false;
	return efd_signal(w.wake_fd);
}

// How long a closer waits for a poller it could not kick (its wake-up fd
// was closed behind our back while it polled it) before it goes on.
constexpr long POLLER_DEAF_BOUND_NS = 1000000000L;

// Reads an eventfd we own back to zero; retries EINTR only.  False when
// the answer is not an eventfd's (8 bytes, or EAGAIN when it was zero):
// the number was closed or replaced behind our back.
inline bool efd_drain(int fd)
{
	uint64_t v;
	long r;
	while ((r = g_sys->read(fd, &v, sizeof v)) == -EINTR) {
	}
	return r == sizeof v || r == -EAGAIN;
}

void ep_sync_efd(eventpoll *ep);
void ep_slot_update(eventpoll *ep, epitem *epi);
// The hot set (ep->pfds/pitems), under ep->lock: epi gets a new slot at the
// end (disarmed), or leaves its slot to the last one (pset_gen bumped).
void ep_pset_append(eventpoll *ep, epitem *epi);
void ep_pset_remove(eventpoll *ep, epitem *epi);
void ep_wake_one(eventpoll *ep);
void for_each_observed(void (*fn)(eventpoll *, void *), void *arg);
void ep_free(eventpoll *ep);

// ---- wakeup.cpp: the wake-up walk -------------------------------------------

// Why a wake-up walk runs (not how an item is triggered: both kinds reach
// LT and ET items alike).  OBSERVED: a poller saw the file ready (poll(2)'s
// level, maybe the same readiness as at the last walk).  EVENT: something
// happened (a write in this process, a nested instance's callback).
enum class wake_kind { observed, event };
void file_wakeup(epfile *f, uint32_t revents, int depth, wake_kind kind);
// Set around an observed walk that stands for a wake-up the kernel made
// (the consumed UDP error): what it queues is no stale look
// (epitem::queued_by_look).
extern thread_local bool tls_look_was_a_wakeup;
// The observed walk of what a blocked poller (a leader, the helper) saw on
// the slot of item `epi` armed at `epoch`.  The poller checked the epoch
// when ppoll returned, but the walk runs later, with no lock held: the
// item may have been reported and re-armed meanwhile, and what the poller
// saw is then stale.  The item's own callback checks the epoch again,
// under ep->lock.  `epi` is only compared, never dereferenced.
void file_wakeup_polled(epfile *f, uint32_t revents, const epitem *epi, uint32_t epoch);
void file_unpark_exclusive(epfile *f);
// A file's own wake-up for in-process I/O (f referenced by the caller).
void file_wake_edge(epfile *f, uint32_t key, wake_kind kind = wake_kind::event);
// The wake-up of an I/O hint, unless a poller already made it (io_stamp).
void hint_wake(epfile *t, uint32_t key, const io_stamp &st);

// ---- send_events.cpp: polling and reporting items ---------------------------

uint32_t ep_item_poll(epitem *epi, int depth);
// own_fd: the wait's number for ep, checked on this look (-1: not);
// -EBADF when it was closed, *own_checked when it was looked at.
int ep_send_events(eventpoll *ep, epoll_event *uevents, int maxevents, int own_fd, bool may_defer,
		   bool *own_checked);
uint32_t ep_eventpoll_poll(eventpoll *ep, int depth);
void ep_set_observed(eventpoll *ep);

// ---- ctl.cpp: insert, modify, remove ----------------------------------------

void __ep_remove(eventpoll *ep, epitem *epi);
// Items queued by a ctl without a poll, in every instance (epitem::
// unconfirmed): while zero, ep_confirm_queued() returns at once.
extern std::atomic<long> unconfirmed_items;
// epi was polled (or leaves its list): it is no longer waiting to be
// confirmed.  Must be called with ep->lock held.
inline void ep_item_confirmed(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	if (epi->unconfirmed) {
		epi->unconfirmed = false;
		unconfirmed_items.fetch_sub(1, std::memory_order_relaxed);
	}
}

// A reference from fget(), put when it goes out of scope (ctl, wait).
struct file_ref {
	epfile *f = nullptr;
	~file_ref()
	{
		if (f)
			epfile_put(f);
	}
};

// ---- file.cpp: struct file --------------------------------------------------

// The other end of f with a reference, or nullptr.
epfile *epfile_get_peer(epfile *f);
void epfile_fork_child();
// f and its peer p were linked since the last escape (ep_files_may_escape()),
// and no stdio FILE was opened on either: every writer of the pair is in
// this process and writes through a hook.
bool epfile_pair_private(const epfile *f, const epfile *p);
// The escape epoch (core/file.cpp): bumped by ep_files_may_escape() before
// it re-arms the kept items (epitem::et_read_kept); an item is kept only if
// the epoch, read again after the bit is set, did not move.
void escape_epoch_bump();
uint32_t escape_epoch_now();
// Some item was kept once (sticky): an escape must walk the instances.
extern std::atomic<bool> any_read_kept;

// ---- io_window.cpp: the I/O window protocol ---------------------------------

bool left_to_window(epfile *f, long now, long *until);

// ---- fork.cpp: the fork handlers ---------------------------------------------

// After fork() the child shares the parent's eventfds (a write to one is
// seen by both): gives number fd a new eventfd (efd_flags) of its own.
void efd_reopen(int fd, int efd_flags, bool cloexec);

// ---- loop_check.cpp: twins of ep_loop_check, reverse_path_check and the
// tfile_check_list; all under epnested_mutex ---------------------------------

void loop_check_begin();
void loop_check_done();
uint64_t loop_check_gen_now();
int ep_loop_check(eventpoll *ep, eventpoll *to);
void list_file(epfile *f);
int reverse_path_check();

// CLOCK_MONOTONIC in ns, from the vDSO (no system call): the age of I/O
// windows, on the I/O path.
inline long monotonic_ns()
{
	timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

// ---- helper.cpp: the process-wide poller of observed instances --------------

void helper_start();
// Twin of kthread_run(): a detached thread running fn(arg) with a stack of
// stack_bytes, made with every signal blocked (it inherits that mask: no
// signal of the program's is ever delivered to uepoll's own threads).
bool kthread_run(void *(*fn)(void *), void *arg, size_t stack_bytes);
void helper_kick();
void helper_wait_poll_leaves();
void helper_fork_prepare();
void helper_fork_parent();
void helper_fork_child();
void helper_stats(uint64_t *wakeups, uint64_t *polls);

// ---- tiers.cpp: hot and cold items, the shards' pollers ----------------------

extern std::atomic<int> tier_demote_after; // 0: tiering off
// Makes sure started shards have room for `want` more cold items (starts
// pollers).  Called with no spinlock held (it may create a thread).
void tiers_reserve(int want);
// Under ep->lock: epi (hot, armed) moves to a shard with room; false when
// none has.
bool tier_demote(eventpoll *ep, epitem *epi);
// Under ep->lock: cold epi moves back to the hot set, disarmed.
void tier_promote(eventpoll *ep, epitem *epi);
// Under ep->lock: cold epi leaves its shard for good (__ep_remove).
void tier_remove(eventpoll *ep, epitem *epi);
// Under ep->lock: cold, armed epi now polls (fd, events); bumps its arm
// epoch and kicks the poller when that widens the slot.  Returns widened.
bool tier_slot_update(eventpoll *ep, epitem *epi, int fd, short events);
void tiers_wait_poll_leaves(uint64_t shards_mask);
void tiers_kick(uint64_t shards_mask);
void tiers_stats(core_stats *s);
void tiers_fork_prepare();
void tiers_fork_parent();
void tiers_fork_child();

// ---- deferred.cpp: per-thread resources -------------------------------------

// This thread's wake-up eventfd, in use until the use ends (made at the
// first call; fd() -1 when none could be made: the fd table is full).
internal_fd_use tls_wake_use();
// A use found this thread's wake-up eventfd `seen` closed or replaced
// behind our back (POLLNVAL, a read no eventfd makes): make a new one.
void tls_wake_lost(int seen);
const internal_fd *tls_wake_entry();
void tls_fork_child();
// Queues a close() that a signal handler made while this thread held a
// uepoll lock; it runs when the thread leaves its last lock.
bool defer_close(int fd);

// ---- wait_cancel.cpp: pthread_cancel of a blocked waiter --------------------

// Before a waiter blocks in ppoll on wake_fd (-1: none, it waits in slices):
// a pthread_cancel of this thread writes it from now on.  True when this
// wait has a cancel to act on already: do not block.
bool wait_cancel_arm(int wake_fd);
// After the waiter left the instance's wait queue: true when this wait has
// a cancel to act on (return EP_WAIT_CANCELLED); false: go on waiting.
bool wait_cancel_disarm();
// At thread exit, before the wake-up eventfd is closed: out of the registry.
void wait_cancel_thread_exit();
void wait_cancel_fork_child();

// The kernel's access_ok(): the range lies in user space.
bool user_range_ok(const void *p, size_t len);

} // namespace uepoll::core
