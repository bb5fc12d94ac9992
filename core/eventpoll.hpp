// core/eventpoll.hpp - the structures of uepoll's eventpoll engine and its
// entry points.  Twin of the top of fs/eventpoll.c (struct epoll_filefd,
// struct epitem, struct eventpoll) plus the parts of struct file that epoll
// uses (f_ep, f_count, private_data).  The locking rules and object
// lifetimes are in the big comment at the top of core/eventpoll.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <climits>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <vector>

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/rbtree.hpp>

#include "core/internal_fd.hpp"
#include "core/poll_gate.hpp"
#include "core/slab.hpp"
#include "core/spinlock.hpp"
#include "core/platform.hpp"

namespace uepoll::core {

namespace bi = boost::intrusive;

struct eventpoll;
struct epfile;

// Twin of EP_MAX_NESTS: maximum nesting of epoll instances.
constexpr int EP_MAX_NESTS = 4;
// Twin of EP_PRIVATE_BITS: the bits that are flags, not events.
constexpr uint32_t EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
// Twin of EPOLLINOUT_BITS.
constexpr uint32_t EPOLLINOUT_BITS = EPOLLIN | EPOLLOUT;
// Twin of EPOLLEXCLUSIVE_OK_BITS.
constexpr uint32_t EPOLLEXCLUSIVE_OK_BITS =
	EPOLLINOUT_BITS | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

// The two halves of readiness, for edge-triggered re-arming: an I/O call
// on the read side re-arms the first set, one on the write side the other.
constexpr uint32_t EP_READ_SIDE = EPOLLIN | EPOLLRDNORM | EPOLLRDBAND | EPOLLPRI | EPOLLRDHUP | EPOLLMSG;
constexpr uint32_t EP_WRITE_SIDE = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;

// What kind of kernel object a file is, as far as uepoll cares.
enum class file_kind : uint8_t {
	other,
	pipe_read,
	pipe_write,
	socket,
	unix_socket, // an AF_UNIX SOCK_STREAM socketpair end
	unix_dgram,  // an AF_UNIX SOCK_DGRAM socketpair end
	unix_seqpacket, // an AF_UNIX SOCK_SEQPACKET socketpair end
	inet_dgram,  // a UDP (or other non-AF_UNIX datagram) socket
	eventfd,
	epoll,        // one of ours: a fake epoll fd (an eventfd underneath)
	native_epoll, // the kernel's epoll (made before the shim was loaded)
};

// Twin of struct epoll_filefd: the key of an item, (file, fd).
struct epoll_filefd {
	epfile *file;
	int fd;
	friend bool operator<(const epoll_filefd &a, const epoll_filefd &b)
	{
		return a.file != b.file ? a.file < b.file : a.fd < b.fd;
	}
};

// The tree hook keeps the node's colour in its parent pointer's low bit
// (24 bytes, not 32), as the kernel's rb_node does in __rb_parent_color.
using epitem_tree_hook = bi::set_member_hook<bi::optimize_size<true>>;

// Twin of struct epitem: one (file, fd) watched by one instance.  The
// fields are ordered for size (pointers, then 4-byte fields, then flags),
// not as the kernel lists them; the key (ffd) is split in two for the same
// reason (epitem_key puts it back together).
struct epitem {
	epitem_tree_hook rbn;           // twin of rbn: in ep->rbr, under ep->mtx
	bi::list_member_hook<> rdllink; // twin of rdllink: on ep->rdllist or a txlist, under ep->lock
	bi::list_member_hook<> fllink;  // twin of fllink: in ffd.file's f_ep, under f_lock
	epitem *next;                   // twin of next: ep->ovflist chain, under ep->lock
	epfile *file;                   // twin of ffd.file: constant
	eventpoll *ep;                  // twin of ep: the owner, constant
	int fd;                         // twin of ffd.fd: constant
	epoll_event event;              // twin of event: under ep->mtx to write, ep->lock to read

	// Below: uepoll's own state, all under ep->lock but where it says.
	int pidx = -1;              // our slot: in ep->pfds / ep->pitems when hot, in our shard when cold
	// Tiers (core/tiers.cpp): a cold item is polled by its shard's poller,
	// not by its instance's waits; tier_idle_polls counts the waits in a
	// row that polled it hot and found it idle.  Changed under ep->lock
	// (cold and shard_no also under the shard's lock).
	uint16_t shard_no = 0;      // the shard of a cold item
	uint8_t tier_idle_polls : 7 = 0;
	bool cold : 1 = false;
	uint32_t arm_epoch = 0;     // bumped each time the slot is (re)armed or widened, under ep->lock
	// The file's level_*_walks when a poller's look queued or reported us
	// (io_stamp); written under ep->lock, read under the file's f_lock.
	std::atomic<uint32_t> level_in_seen{0}, level_out_seen{0};
	// Edge-triggered over poll(2): after a report, stop polling the side
	// (EP_READ_SIDE, EP_WRITE_SIDE) that was reported until an I/O call or
	// a MOD re-arms it.  et_suppressed() is the events not polled.
	// PRI apart from the rest of the read side: a read re-arms the side but
	// may leave PRI suppressed (urgent data still pending is no new edge,
	// core/io_hints.cpp pri_kept_by_read()).
	bool et_read_suppressed : 1 = false;
	bool et_pri_suppressed : 1 = false;
	bool et_write_suppressed : 1 = false;
	bool et_dead : 1 = false;     // ERR/HUP reported: poll(2) cannot mask those, so stop entirely
	bool excl_parked : 1 = false; // EXCLUSIVE: a wake-up walk stopped before us; unparked when idle
	bool on_list : 1 = false;     // linked on rdllist or a txlist
	// Queued by a ctl without a poll (ep_queue_unconfirmed()): maybe not
	// ready at all.  The harvest's re-poll, or a look before an I/O call
	// that could change the file's readiness (ep_confirm_queued()), settles it.
	bool unconfirmed : 1 = false;
	// Queued by a poller's look (a level it saw, wake_kind::observed), not
	// by an edge: an edge-triggered item is then reported only if what the
	// look could see (its bits not suppressed) is still ready at the
	// harvest, as the wait's own poll would have queued it only then.
	bool queued_by_look : 1 = false;
	// EPOLLEXCLUSIVE, fixed at ADD (MOD cannot change it): read under
	// f_lock, so a byte of its own, apart from the bits above.
	bool exclusive = false;
	// The read side stays suppressed after a read that left data behind,
	// on a pair whose every writer is in this process (core/io_hints.cpp,
	// read_leaves_no_edge()): an escape (a fork, a spawn, SCM_RIGHTS)
	// re-arms it (ep_files_may_escape()).  Cleared by any change of the
	// read side.  A byte of what was padding (the item stays 120 bytes).
	bool et_read_kept = false;
	// A write hint left this item out since its last report, taking a
	// poller's look for one that saw the write's data (seen_by_level() in
	// core/wakeup.cpp): the look may have been made just before the data
	// arrived, so a partial read must re-arm the item rather than keep it.
	// The item's last padding byte.
	bool et_hint_skipped = false;

	epoll_filefd ffd() const { return {file, fd}; }
	uint32_t et_suppressed() const
	{
		return (et_read_suppressed ? EP_READ_SIDE & ~uint32_t{EPOLLPRI} : 0) | (et_pri_suppressed ? uint32_t{EPOLLPRI} : 0) |
		       (et_write_suppressed ? EP_WRITE_SIDE : 0);
	}
	// Stops (suppress) or resumes polling the sides among `sides`.
	void et_suppress(uint32_t sides, bool suppress)
	{
		if (sides & EP_READ_SIDE & ~EPOLLPRI) {
			et_read_suppressed = suppress;
			et_read_kept = false;
		}
		if (sides & EPOLLPRI)
			et_pri_suppressed = suppress;
		if (sides & EP_WRITE_SIDE)
			et_write_suppressed = suppress;
	}
};

// The kernel keeps its epitem within 128 bytes on 64-bit (BUILD_BUG_ON in
// eventpoll_init(): two cache lines, one slab object).  The performance
// issue asks uepoll for at most 128 bytes per watched fd beyond native;
// an item is 120 bytes (plus its pollfd and pitems slots, 16), and a few
// bytes of its padding are kept for the tiering work (a hot/cold flag, an
// idle counter, a shard index) and the last two for issue 13
// (et_read_kept, et_hint_skipped): the item has no padding left, and any
// growth past 120 must be a decision, made here.
static_assert(sizeof(void *) != 8 || sizeof(epitem) <= 120, "epitem grew: see the budget above");

using epitem_rbtree = bi::rbtree<epitem, bi::member_hook<epitem, epitem_tree_hook, &epitem::rbn>,
				 bi::key_of_value<struct epitem_key>, bi::constant_time_size<true>>;
struct epitem_key {
	using type = epoll_filefd;
	type operator()(const epitem &epi) const { return epi.ffd(); }
};
using epitem_list = bi::list<epitem, bi::member_hook<epitem, bi::list_member_hook<>, &epitem::rdllink>,
			     bi::constant_time_size<false>>;
using file_item_list = bi::list<epitem, bi::member_hook<epitem, bi::list_member_hook<>, &epitem::fllink>,
				bi::constant_time_size<false>>;

// Twin of the epoll part of struct file: one per open file description the
// process watches or that is one of our instances.  Created by the fd table
// (interpose/fdtable.cpp), shared by every fd number that refers to it,
// freed when f_count drops to zero.
struct epfile {
	// The fields are ordered for size (8-byte, 4-byte, then 1-byte fields):
	// one per watched file, so every padding byte counts (docs/benchmarks.md,
	// "Memory per watched fd").
	file_item_list f_ep;          // twin of f_ep: items watching this file, in ADD order
	eventpoll *ep = nullptr;      // twin of private_data when is_file_epoll()
	// The other end, when created in-process (pipe, socketpair, loopback
	// pair); changed under the peer lock, read unlocked only as a hint.
	std::atomic<epfile *> peer{nullptr};
	uint64_t dev = 0, ino = 0;    // identity hint: the same file has the same (dev, ino)
	std::atomic<long> io_busy_since{0}; // CLOCK_MONOTONIC ns of the last I/O window's opening

	std::atomic<int> f_count{1};  // twin of f_count: fd slots + in-flight users
	std::atomic<int> poll_fd{-1}; // an fd number of this file open now; -1 once all are closed
	int nfds = 0;                 // fd numbers of this process that refer to it
	// A poll(2) that sees PRI|ERR consumes it (mounts_poll(), swaps_poll(),
	// a PSI trigger): the next poll will not show it again.  `consumed`
	// keeps what a poller saw until an item's re-poll reports it (the
	// kernel's first vfs_poll() after the wake-up takes it the same way).
	std::atomic<uint32_t> consumed{0};
	uint32_t last_revents = 0;    // readiness at the last wake-up walk (its key is what is new)
	// Pollers' looks that saw IN / OUT: an I/O hook compares them across
	// its call to tell whether a poller already saw its change (io_stamp).
	std::atomic<uint32_t> level_in_walks{0}, level_out_walks{0};
	std::atomic<int> et_items{0}; // EPOLLET items watching it: the I/O hooks look only here
	// Program threads inside an I/O call on this file or its peer (an I/O
	// window, core/io_window.cpp).
	std::atomic<int> io_busy{0};
	// The shards an item of it was parked in (bit: shard number modulo 32):
	// their pollers may hold it in a ppoll (core/tiers.cpp); sticky.
	std::atomic<uint32_t> shards_polled{0};

	spinlock f_lock;              // protects f_ep, poll_fd, nfds
	bool can_poll = true;         // twin of file_can_poll()
	bool poll_consumes = false;   // see `consumed`
	bool origin_known = false;    // we saw it created, so we saw every dup of it
	file_kind kind = file_kind::other;
	std::atomic<bool> dead{false};// every fd closed: never poll it again
	// An item of it left an observed instance: the helper may still be in a
	// ppoll it entered before, holding the file (its poll table's
	// reference), so the last close must wait for the helper to let go.
	std::atomic<bool> helper_polled{false};
	std::atomic<bool> out_blocked{false}; // a write found the buffer full: the next room is an edge
	// A poll saw RDHUP: the read side is shut, its IN is a state that no
	// read changes (tcp_poll, unix_poll: RCV_SHUTDOWN), not an edge to come.
	std::atomic<bool> rdhup_seen{false};
	// shutdown(SHUT_WR) was called (SEND_SHUTDOWN).  A TCP socket sent its
	// FIN: its close sends nothing more to the peer unless unread data
	// turns it into RST.  An AF_UNIX datagram send fails with EPIPE before
	// allocating anything: no wake-up.
	std::atomic<bool> fin_sent{false};
	// A TCP connection that was reset (an RST inside one of our calls):
	// closing it sends nothing.
	std::atomic<bool> conn_reset{false};
	// The in-process TCP peer was closed: data we send it is answered with
	// an RST.
	std::atomic<bool> peer_closed{false};
	// shutdown(SHUT_RD) was called on this TCP socket: data that reaches it
	// after its FIN aborts the connection (tcp_rcv_state_process,
	// TCPABORTONDATA): an RST both ways.
	std::atomic<bool> shut_rd_called{false};
	// Whether the helper left a readiness of this file for the end of an
	// I/O window.
	std::atomic<bool> io_deferred{false};
	// The escape epoch (ep_files_may_escape()) at which this file was
	// linked to its in-process peer, plus one; 0: never linked, or written
	// by a path no hook sees (stdio).  While it is the current epoch, every
	// writer of the pair is in this process (core/io_hints.cpp,
	// read_leaves_no_edge()).  Two bytes of what was padding.
	uint16_t pair_epoch = 0;
};
// 112 bytes in release builds (the debug spinlock records its owner), one
// size class of the allocator (oneTBB's bins: 96, 112, 128, 160...); it
// was 136, in the 160 bin.
static_assert(sizeof(void *) != 8 || sizeof(spinlock) > 1 || sizeof(epfile) <= 112, "epfile grew: see above");

// One thread blocked in epoll_wait on an instance: twin of the
// wait_queue_entry that ep_poll() puts on ep->wq.
struct ep_waiter {
	bi::list_member_hook<> link;
	int wake_fd = -1;     // this thread's eventfd, in its ppoll set
	const internal_fd *wake_entry = nullptr; // its registry entry (core/internal_fd.hpp)
	bool woken = false;   // someone wrote wake_fd and we have not read it yet
};
using waiter_list = bi::list<ep_waiter, bi::member_hook<ep_waiter, bi::list_member_hook<>, &ep_waiter::link>,
			     bi::constant_time_size<true>>;

// Twin of struct eventpoll: one per fake epoll fd.
struct eventpoll {
	sleeping_mutex mtx;   // twin of ep->mtx: ctl, ep_send_events, the tree
	spinlock lock;        // twin of ep->lock: rdllist, ovflist, wq, item poll state, pfds
	waiter_list wq;       // twin of ep->wq: threads in epoll_wait (the first polls)
	epitem_list rdllist;  // twin of rdllist
	epitem_rbtree rbr;    // twin of rbr
	epitem *ovflist;      // twin of ovflist: EP_UNACTIVE_PTR unless a scan runs
	epfile *file = nullptr; // twin of ep->file (our file; file->ep == this)
	std::atomic<uint64_t> gen{0}; // twin of ep->gen: loop_check_gen at our last visit (read unlocked in ctl)
	int loop_check_depth = 0; // twin of ep->loop_check_depth

	// The poll set of the hot items (core/tiers.cpp): slot i polls
	// pitems[i]; a disarmed item has fd < 0 there (poll(2) skips negative
	// fds), so arming is O(1).  Cold items have no slot here.
	std::vector<pollfd, slab_allocator<pollfd>> pfds;
	std::vector<epitem *, slab_allocator<epitem *>> pitems;
	uint64_t pset_gen = 0;   // bumped when a slot changes meaning (insert/remove/demotion); not on an append
	int narmed = 0;          // slots with fd >= 0

	ep_waiter *leader = nullptr;       // the waiter that polls the set now
	poll_gate leader_gate;             // the leader's ppoll, for close() to wait out

	std::atomic<bool> observed{false}; // someone else looks at us: the helper keeps our eventfd right
	bool efd_set = false;   // our eventfd's counter is non-zero (readable)

	bi::list_member_hook<> all_link; // in the process-wide list (fork, the helper)
};
using eventpoll_list = bi::list<eventpoll, bi::member_hook<eventpoll, bi::list_member_hook<>, &eventpoll::all_link>,
				bi::constant_time_size<false>>;

// Twin of EP_UNACTIVE_PTR.
inline epitem *const EP_UNACTIVE_PTR = reinterpret_cast<epitem *>(-1L);

// ---- set-up ---------------------------------------------------------------

// Installs the kernel-call table and the fd table.  Called once, before any
// other entry point, by whoever links the core.
void core_init(const sys_ops *sys, const file_ops *files);

// ---- struct file twins (called by the fd table) -----------------------------

epfile *epfile_alloc();
// Records that a and b are the two ends of one pipe or socketpair, so that
// a write on one is an edge on the other.
void epfile_link_peers(epfile *a, epfile *b);
// The files linked so far may now be written from outside this process: a
// fork, a spawn, a clone, an fd sent with SCM_RIGHTS.  Their partial reads
// re-arm again (deviation 1 of docs/deviations.md).
void ep_files_may_escape();
// A FILE was opened on f's fd (fdopen): glibc's stdio may write it through
// its internal __write, past every hook, so its pair is no longer one whose
// every write the hooks see.
void epfile_stdio_opened(epfile *f);
inline void epfile_get(epfile *f) { f->f_count.fetch_add(1, std::memory_order_relaxed); }
// Twin of get_file_rcu(): a reference unless the file is already going away.
inline bool epfile_tryget(epfile *f)
{
	int c = f->f_count.load(std::memory_order_relaxed);
	while (c > 0) {
		if (f->f_count.compare_exchange_weak(c, c + 1, std::memory_order_acquire))
			return true;
	}
	return false;
}
// Twin of fput(): the last reference runs ep_free / eventpoll_release_file.
void epfile_put(epfile *f);
// The fd layer tells us that fd `fd` of `f` is going away (closed, or
// replaced by dup2): pick another fd to poll through, or, if it was the
// last one, make the file dead and remove its items from every instance
// (twin of eventpoll_release_file, run at last close rather than at the
// last fput because our pollers need an fd number to see the file).
// Waits until no poller holds the number in a ppoll in flight.
void epfile_fd_closing(epfile *f, int fd, int other_fd);

// ---- the syscalls (negative errno on failure; never touch errno) -----------

// Twin of do_epoll_create: returns the new fake epoll fd.
int do_epoll_create(int flags);
// Twin of do_epoll_ctl, including copying *event from the caller.
int do_epoll_ctl(int epfd, int op, int fd, const epoll_event *uevent);
// Twin of do_epoll_wait: timeout is in ns (-1 forever); sigmask, already
// copied from the caller, is installed for the wait.
int do_epoll_wait(int epfd, epoll_event *uevents, int maxevents, int64_t timeout_ns, const sigset_t *sigmask);
// The size of the kernel's sigset_t: what the raw sigsetsize argument of
// epoll_pwait/epoll_pwait2 must be (glibc passes _NSIG / 8).
constexpr size_t KERNEL_SIGSET_SIZE = 8;
// Twins of the three wait syscalls' bodies (SYSCALL_DEFINE4(epoll_wait),
// SYSCALL_DEFINE6(epoll_pwait), SYSCALL_DEFINE6(epoll_pwait2)), with the
// kernel's argument conventions: the caller's sigset and timespec are
// copied and checked here, in the kernel's order.
int sys_epoll_wait(int epfd, epoll_event *uevents, int maxevents, int timeout_ms);
int sys_epoll_pwait(int epfd, epoll_event *uevents, int maxevents, int timeout_ms, const sigset_t *usigmask,
		    size_t sigsetsize);
int sys_epoll_pwait2(int epfd, epoll_event *uevents, int maxevents, const timespec *utimeout,
		     const sigset_t *usigmask, size_t sigsetsize);
// What the three return when their thread has a cancel to act on: the wait
// left its instance without reporting.  Only wait_cancel_exit() sees it.
constexpr int EP_WAIT_CANCELLED = INT_MIN;

// ---- pthread_cancel of a blocked waiter (core/wait_cancel.cpp) ---------------

// Around the core's wait: wait_cancel_enter() before (a cancellation point
// when cancel_point: glibc's epoll_wait/epoll_pwait/epoll_pwait2 are,
// syscall() is not), returning the thread's cancel type, which it sets to
// deferred; wait_cancel_exit(r, type) after, with the wait's result: acts
// on a cancel (it does not return then) and puts the type back.  Call both
// from the outermost frame: a cancel unwinds the frames above the exit.
int wait_cancel_enter(bool cancel_point);
int wait_cancel_exit(int r, int type);
// pthread_cancel(thread) succeeded: if the thread waits in uepoll, wake it
// so that it leaves its instance and acts on the cancel.
void wait_cancel_wake(pthread_t thread);

// Is this file one of our instances?
inline bool is_file_epoll(const epfile *f) { return f && f->ep != nullptr; }

// Twin of ep_eventpoll_poll: the readiness of an instance as poll(2) sees
// it (POLLIN|POLLRDNORM or 0).  The poll(2)/select(2) hooks call it for
// fake epoll fds, and mark the instance observed so that from now on the
// helper keeps its eventfd readable exactly while this would say so.
uint32_t ep_eventpoll_poll_observe(epfile *f);

// ---- items queued by a ctl without a poll ----------------------------------

// An I/O call (or a close) is about to change the readiness of t: settle
// first whether its items that a ctl queued without polling (epitem::
// unconfirmed) were ready before it, so that the call's wake-up queues
// them where the kernel's would (ep_insert() polls at once; an item it did
// not queue is queued by the wake-up, at the tail).  One atomic load when
// no item anywhere waits to be confirmed.  Called by ep_io_stamp() and
// the close path.
void ep_confirm_queued(epfile *t);
// Is any item anywhere waiting to be confirmed?  One load: the I/O hooks
// ask before they look the file up to settle its items.
bool ep_any_unconfirmed();

// ---- the max_user_watches sysctl ---------------------------------------------

// This process opened /proc/sys/fs/epoll/max_user_watches for writing (the
// open/fopen hooks): from now on every ADD reads the sysctl again, so that
// its own writes count from its next ADD on (core/eventpoll.cpp).
void ep_max_user_watches_written();

// ---- fds of uepoll's own ------------------------------------------------------

// core/internal_fd.hpp: the registry (internal_fd, internal_fd_vacate(),
// internal_fd_lost()), included above.

// ---- closes from signal handlers ---------------------------------------------

// Is this thread inside one of uepoll's locked sections (a signal handler
// may have interrupted it there)?
bool in_locked_section();
// A close() inside a signal handler that interrupted this thread while it
// held a uepoll lock: queue it (it runs when the thread drops its last
// lock).  Returns false when the thread holds no lock, or the queue is
// full: then close now.
bool close_must_defer(int fd);
// A signal that arrived while this thread held a uepoll lock, which the
// handler's wrapper queued again and blocked in the interrupted context:
// unblock it when the thread drops its last lock.  False when the thread
// holds no lock (run the handler now).
bool defer_signal(int sig);

// ---- hints from the I/O hooks (edge-triggered re-arming) --------------------

// What an I/O call on a file did: read or write (result: the call's),
// connected (connect(): a new life for the socket), rst (an RST reached
// it), shutdown (result: the call's, 0 or -ENOTCONN; requested: its `how`),
// incoming_connection (a connection reached this listener).
enum class io_event : uint8_t { read, write, connected, rst, shutdown, incoming_connection };
// An I/O call on a file with EPOLLET watchers returned `result`: re-arm the
// bits that a new edge could now bring (see docs/design.md, "ET over poll"),
// and make the wake-ups the kernel makes inside such a call.
void ep_io_hint(epfile *f, io_event ev, long result, long requested);

// What the pollers had seen of the other end of f (its peer, or f itself
// for an eventfd) before an I/O call: taken by the I/O hooks before the
// real call, given back to ep_io_hint_stamped() after it.  A poller's look
// at a file (a observed walk, or the harvest's re-poll of an ET item) counts
// one; an item that such a look queued or reported after the stamp has
// seen the call's change already, and the hint's wake-up would be the same
// wake-up twice: it is not made for that item.  A look counted after the
// stamp but made before the call's data arrived is taken for one that saw
// it; that window is the few instructions between the stamp and the
// syscall.
// For a read on an AF_UNIX stream socket whose in-process peer is watched
// for write space, the peer's SIOCOUTQ before the call: the read freed one
// of the writer's skbs (a write-space wake-up) exactly when that went down.
// peer_quiet: no item watches the peer for write space, so that wake-up
// would reach nobody (and costs no system call).
struct io_stamp {
	bool valid = false;
	uint32_t in = 0, out = 0;
	long peer_outq = -1;
	bool peer_quiet = false;
	// A pipe read: the pipe was full when the read began, so the read wakes
	// the writer if it made room (pipe_read() frees a slot of a full pipe).
	bool peer_full = false;
};
io_stamp ep_io_stamp(epfile *f, bool read_side);
io_stamp ep_file_stamp(epfile *t); // of t itself (a listener)
void ep_io_hint_stamped(epfile *f, io_event ev, long result, long requested, const io_stamp &st);

// An I/O window: a program thread is inside an I/O call on f.  The kernel
// makes that call's wake-ups (f's own and its in-process peer's) inside
// it, in an order the hook knows and ep_io_hint_stamped() follows: the
// receiver before the sender, say, when data aborts a shut connection.
// The helper thread sees their readiness all at once, in its poll set's
// order, often before the call returns; so it leaves the files of an open
// window to the hook (core/helper.cpp), and a close that finds readiness
// left behind kicks it to look again.  Opened only while the helper runs.
struct io_window {
	epfile *f[2] = {nullptr, nullptr}; // references: f and its peer
};
io_window ep_io_window_open(epfile *f);
bool helper_running(); // the helper thread was started (core/helper.cpp)
bool tiers_running();  // a shard's poller was started (core/tiers.cpp)
void ep_io_window_close(io_window &w);

// ---- fork ------------------------------------------------------------------

void ep_fork_prepare();
void ep_fork_parent();
void ep_fork_child();

// ---- diagnostics -----------------------------------------------------------

struct core_stats {
	uint64_t instances, items, helper_wakeups, helper_polls, waits, sync_polls, callbacks;
	// Tiers: items demoted and promoted so far, cold items now, poller
	// threads running, their wake-ups and the fds they passed to ppoll.
	uint64_t demotions, promotions, cold, pollers, poller_wakeups, poller_polls;
};
core_stats stats();

// ---- tiers (core/tiers.cpp) ---------------------------------------------------

// The largest demotion threshold (epitem::tier_idle_polls is 7 bits).
constexpr int TIER_IDLE_POLLS_MAX = 127;
// Tiering on (an item is demoted after `demote_after` waits in a row that
// found it idle, clamped to 1..TIER_IDLE_POLLS_MAX) or off (every item
// stays hot: the behaviour before tiers).  The shim sets it from
// UEPOLL_TIERS at start-up; the tests lower the threshold.  Items already
// cold stay cold until they wake.
void tiers_configure(bool enabled, int demote_after);
// The threshold now: 0 when tiering is off.
int tiers_demote_after_configured();
// Returns once every shard's poller has made a full pass begun after the
// call: what was ready on a cold fd before it has been queued (the
// fuzzer's settle step, the tests).
void tiers_settle();

} // namespace uepoll::core
