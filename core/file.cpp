// core/file.cpp - the epoll part of struct file: its references (twins of
// fput()/__fput()), the peer links of in-process pairs, the removal of a
// closed file's items (twin of eventpoll_release_file()) and the close
// protocol of epfile_fd_closing(): every poller that may hold the number
// in a ppoll lets go of it before the number is released.
#include <climits>
#include <mutex>
#include <sched.h>

#include "core/internal.hpp"

namespace uepoll::core {

// Twin of the file cache's SLAB_TYPESAFE_BY_RCU: the memory of a freed
// epfile is only ever reused for an epfile.  The fd table takes a
// reference to a slot's file without a lock (epfile_tryget(), then a
// recheck of the slot, as __fget_files_rcu() does), and by then the file
// may have been freed: the tryget must find an f_count there (0 in a freed
// file, or a new file's), never another object's bytes.  Freed files are
// kept on this list, linked through their first word (f_count, further
// on, stays 0); like a slab cache it never shrinks: a process keeps the
// memory of its peak number of watched files.  The sanitizer builds free
// for real, so that a use after free is still reported there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UEPOLL_FILES_TYPESAFE 0
#else
#define UEPOLL_FILES_TYPESAFE 1
#endif
static spinlock free_files_lock; // a leaf lock
static void *free_files;

epfile *epfile_alloc()
{
	if (UEPOLL_FILES_TYPESAFE) {
		void *p;
		{
			std::lock_guard g(free_files_lock);
			p = free_files;
			if (p)
				free_files = *static_cast<void **>(p);
		}
		if (p)
			return new (p) epfile();
	}
	return slab_new<epfile>();
}

static void epfile_free(epfile *f)
{
	if (!UEPOLL_FILES_TYPESAFE) {
		slab_delete(f);
		return;
	}
	f->~epfile();
	void *p = f;
	std::lock_guard g(free_files_lock);
	*static_cast<void **>(p) = free_files;
	free_files = p;
}

// The peer links of pipes and socketpairs (ET hints); a leaf lock.  The
// I/O hooks read `peer` without it, as a hint that a peer may exist.
static spinlock peer_lock;

// Bumped whenever the files made so far may get a writer outside this
// process (ep_files_may_escape()); a pair linked at the current epoch has
// every writer here.  Saturates: past 0xfffe no pair counts as private.
static std::atomic<uint32_t> escape_epoch{0};
constexpr uint32_t ESCAPE_EPOCH_MAX = 0xfffe;

void escape_epoch_bump()
{
	uint32_t e = escape_epoch.load(std::memory_order_relaxed);
	while (e <= ESCAPE_EPOCH_MAX && !escape_epoch.compare_exchange_weak(e, e + 1, std::memory_order_seq_cst)) {
	}
}

uint32_t escape_epoch_now() { return escape_epoch.load(std::memory_order_seq_cst); }

void epfile_stdio_opened(epfile *f)
{
	std::lock_guard g(peer_lock);
	f->pair_epoch = 0;
	if (epfile *p = f->peer.load(std::memory_order_relaxed))
		p->pair_epoch = 0;
}

bool epfile_pair_private(const epfile *f, const epfile *p)
{
	uint32_t e = escape_epoch.load(std::memory_order_seq_cst);
	if (e > ESCAPE_EPOCH_MAX)
		return false;
	std::lock_guard g(peer_lock);
	return f->pair_epoch == e + 1 && p->pair_epoch == e + 1 && f->peer.load(std::memory_order_relaxed) == p;
}

void epfile_link_peers(epfile *a, epfile *b)
{
	std::lock_guard g(peer_lock);
	a->peer.store(b, std::memory_order_relaxed);
	b->peer.store(a, std::memory_order_relaxed);
	// Linked now, so both ends were made (or connected) by this process
	// since the last escape.
	uint32_t e = escape_epoch.load(std::memory_order_seq_cst);
	a->pair_epoch = b->pair_epoch = e > ESCAPE_EPOCH_MAX ? 0 : static_cast<uint16_t>(e + 1);
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

epfile *epfile_get_peer(epfile *f)
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
	epfile_free(f);
}

// In a forked child: a thread of the parent's may have held these leaf
// locks at the fork (each list is consistent between any two of its
// stores: a pop or push cut short only loses one file's memory).
void epfile_fork_child()
{
	free_files_lock.reset();
	peer_lock.reset();
}

// Waits until ep's leader is no longer inside a ppoll() that may hold a
// file we are closing.  Called with no lock held and a reference on ep->file.
static void ep_wait_poller_leaves(eventpoll *ep)
{
	uint32_t seq;
	bool kicked = true;
	{
		// Under ep->lock, which the leader's copy of the set takes too.
		std::lock_guard g(ep->lock);
		if (tls_polling_ep == ep)
			return; // we are that leader, out of its ppoll
		seq = ep->leader_gate.join();
		if (seq && ep->leader) {
			// Kicked even when woken already: that wake-up may have
			// failed (a wake-up fd closed behind our back).
			ep->leader->woken = true;
			kicked = ep->leader->wake_fd >= 0 && ep_waiter_kick(*ep->leader);
		}
	}
	if (kicked)
		ep->leader_gate.wait_out(seq);
	else
		// A leader without a wake-up fd looks every millisecond; one whose
		// fd was closed behind our back cannot be kicked: not unbounded.
		ep->leader_gate.wait_out_bounded(seq, POLLER_DEAF_BOUND_NS);
}

// The other end learns of the close (pipe_release(), the peer's
// sk_state_change() on FIN or unix_release_sock()): returns it with a
// reference and the key of its wake-up, or nullptr when it is not told.
// Twin of the peer's wake-up in pipe_release() / tcp_close() /
// unix_release_sock().  fd is still open here: the real close comes after.
static epfile *peer_to_tell_of_close(epfile *f, int fd, uint32_t *key)
{
	// A wake-up with no key.  A datagram peer (AF_UNIX or UDP) is not
	// told: there is no connection, only an address it sends to.
	bool told = f->kind != file_kind::unix_dgram && f->kind != file_kind::inet_dgram;
	// A TCP socket that sent its FIN already sends nothing more at
	// close (tcp_close() from FIN_WAIT2), unless unread data makes it
	// an RST.
	if (f->kind == file_kind::socket && f->fin_sent.load(std::memory_order_relaxed) && g_sys->inq(fd) == 0)
		told = false;
	if (f->kind == file_kind::socket && f->conn_reset.load(std::memory_order_relaxed))
		told = false; // closed already (tcp_done)
	// Both ends sent their FIN (over loopback, each acknowledged inside
	// its call): this socket is TCP_CLOSE already (tcp_fin() in FIN_WAIT2
	// -> tcp_time_wait() -> tcp_done()), and tcp_close() sends nothing,
	// unread data or not (uepoll-fuzz seed 1052829628 program 3588).
	if (f->kind == file_kind::socket && f->fin_sent.load(std::memory_order_relaxed)) {
		if (epfile *q = epfile_get_peer(f)) {
			if (q->fin_sent.load(std::memory_order_relaxed))
				told = false;
			epfile_put(q);
		}
	}
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
	*key = told ? 0 : EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
	return told || room ? epfile_get_peer(f) : nullptr;
}

void epfile_fd_closing(epfile *f, int fd, int other_fd)
{
	// The last close wakes the other end (HUP): settle its items that a
	// ctl queued unconfirmed first (ep_confirm_queued()).
	if (other_fd < 0 && unconfirmed_items.load(std::memory_order_relaxed)) {
		if (epfile *p = epfile_get_peer(f)) {
			ep_confirm_queued(p);
			epfile_put(p);
		}
	}
	bool release = false;
	eventpoll *eps[32];
	int neps = 0;
	bool observed_any = false;
	uint64_t shards = 0;
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
		// The last fd of a file that left an observed instance: the
		// helper's ppoll entered before the removal may still hold it,
		// and the kernel releases the file (pipe_release(), a socket's
		// close) only when that reference goes.
		if (release && f->helper_polled.load(std::memory_order_relaxed))
			observed_any = true;
		// The shards an item of f was ever parked in: their pollers may
		// hold the number in a ppoll (the slot updates above took the
		// items out of the copies they make next).
		shards = f->shards_polled.load(std::memory_order_relaxed);
	}
	for (int i = 0; i < neps; i++)
		ep_wait_poller_leaves(eps[i]);
	if (observed_any)
		helper_wait_poll_leaves();
	tiers_wait_poll_leaves(shards);
	if (release) {
		uint32_t key = 0;
		epfile *p = peer_to_tell_of_close(f, fd, &key);
		epfile_unlink_peer(f);
		eventpoll_release_file(f);
		if (p) {
			file_wake_edge(p, key);
			epfile_put(p);
		}
	}
	for (int i = 0; i < neps; i++)
		epfile_put(eps[i]->file);
}

} // namespace uepoll::core
