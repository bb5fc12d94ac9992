// core/io_hints.cpp - the wake-ups of in-process I/O: what the kernel does
// outside fs/eventpoll.c when a program reads, writes, connects or shuts a
// file down (pipe_read()/pipe_write() in fs/pipe.c, sock_def_readable(),
// sk_stream_write_space(), unix_write_space(), tcp_reset(), tcp_shutdown()
// in net/), made here because poll(2) sees levels, not these edges.  The
// I/O hooks of interpose/ call ep_io_hint*() after the real call.
#include <cerrno>
#include <fcntl.h>
#include <mutex>
#include <sys/socket.h>

#include "core/internal.hpp"

namespace uepoll::core {

static void ep_rearm_side(epfile *f, uint32_t bits, bool clear_dead)
{
	std::lock_guard g(f->f_lock);
	for (epitem &epi : f->f_ep) {
		eventpoll *ep = epi.ep;
		std::lock_guard g2(ep->lock);
		if (!(epi.event.events & EPOLLET))
			continue;
		if (!(epi.et_suppressed() & bits) && !(clear_dead && epi.et_dead))
			continue;
		epi.et_suppress(bits, false);
		if (clear_dead)
			epi.et_dead = false;
		ep_slot_update(ep, &epi);
	}
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

// Twin of unix_writable(): an AF_UNIX socket whose sent skbs hold `outq`
// bytes (SIOCOUTQ: sk_wmem_alloc - 1) may be written when wmem_alloc * 4 <=
// sk_sndbuf.  sk_sndbuf is never below SOCK_MIN_SNDBUF (over 4096): a small
// remainder is writable without asking.
static bool unix_writable(int fd, long outq)
{
	return outq >= 0 && (((outq + 1) << 2) <= 4096 || ((outq + 1) << 2) <= g_sys->sndbuf(fd));
}

io_stamp ep_io_stamp(epfile *f, bool read_side)
{
	// The call may change the readiness of f and of its other end: items
	// a ctl queued unconfirmed must first be settled (ep_confirm_queued()).
	ep_confirm_queued(f);
	if (f->kind == file_kind::eventfd)
		return ep_file_stamp(f);
	epfile *t = epfile_get_peer(f);
	if (!t)
		return {};
	ep_confirm_queued(t);
	io_stamp st = ep_file_stamp(t);
	if (read_side && f->kind == file_kind::unix_socket) {
		if (file_watched_for(t, EP_WRITE_SIDE))
			st.peer_outq = g_sys->outq(t->poll_fd.load(std::memory_order_relaxed));
		else
			st.peer_quiet = true;
	}
	// pipe_read() wakes the writer when it frees a slot of a full pipe:
	// whether the pipe was full must be seen before the read (the writer
	// has no room exactly when it is full: pipe_poll), whether it has
	// room after it (hint_read).
	if (read_side && f->kind == file_kind::pipe_read && file_watched_for(t, EP_WRITE_SIDE)) {
		pollfd p{t->poll_fd.load(std::memory_order_relaxed), POLLOUT, 0};
		timespec zero{};
		st.peer_full = g_sys->ppoll(&p, 1, &zero, nullptr) == 0;
	}
	epfile_put(t);
	return st;
}

void ep_io_hint(epfile *f, io_event ev, long result, long requested)
{
	ep_io_hint_stamped(f, ev, result, requested, io_stamp{});
}

// connect(): the socket starts a new life; every edge may come again.
// Twin of the state tcp_connect()/unix_stream_connect() start from.
static void hint_connected(epfile *f)
{
	f->rdhup_seen.store(false, std::memory_order_relaxed);
	f->fin_sent.store(false, std::memory_order_relaxed);
	f->shut_rd_called.store(false, std::memory_order_relaxed);
	f->conn_reset.store(false, std::memory_order_relaxed);
	f->peer_closed.store(false, std::memory_order_relaxed);
	if (f->et_items.load(std::memory_order_relaxed))
		ep_rearm_side(f, EP_READ_SIDE | EP_WRITE_SIDE, true);
}

// An RST reached f.  Twin of tcp_reset(): sk_error_report and the state
// change wake every waiter, a new edge even after an ERR|HUP.
static void hint_rst(epfile *f) { file_wake_edge(f, 0); }

// A connection from this process reached listener f (the stamp is the
// listener's own, ep_file_stamp()).  Twin of sock_def_readable() on the
// listener.
static void hint_incoming_connection(epfile *f, const io_stamp &st)
{
	hint_wake(f, EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND, st); // sock_def_readable()'s key
}

// shutdown(): sk_state_change() wakes every waiter of the socket with no
// key, and the peer's when it learns of it.  Twin of tcp_shutdown() /
// inet_shutdown() and of unix_shutdown().
static void hint_shutdown(epfile *f, long result, long requested)
{
	if (f->kind == file_kind::socket) {
		// TCP: only a FIN tells the peer (tcp_shutdown() sends one for
		// SHUT_WR, once); over loopback it arrives inside the call,
		// before inet_shutdown() wakes the socket itself.
		if (result == 0 && (requested == SHUT_RD || requested == SHUT_RDWR))
			f->shut_rd_called.store(true, std::memory_order_relaxed);
		bool fin = result == 0 && (requested == SHUT_WR || requested == SHUT_RDWR) &&
			   !f->fin_sent.exchange(true);
		epfile *p = fin ? epfile_get_peer(f) : nullptr;
		if (p) {
			file_wake_edge(p, 0);
			epfile_put(p);
		}
		file_wake_edge(f, 0);
		return;
	}
	if (result == 0 && (requested == SHUT_WR || requested == SHUT_RDWR))
		f->fin_sent.store(true, std::memory_order_relaxed);
	file_wake_edge(f, 0);
	// unix_shutdown() tells a stream or seqpacket peer, whatever `how`;
	// a datagram peer (AF_UNIX or UDP) is told nothing.
	bool told = f->kind != file_kind::unix_dgram && f->kind != file_kind::inet_dgram;
	epfile *p = told ? epfile_get_peer(f) : nullptr;
	if (p) {
		file_wake_edge(p, 0);
		epfile_put(p);
	}
}

// A UDP call that failed with the error a port unreachable had set
// (sock_error() hands over sk_err): its arrival (__udp4_lib_err ->
// sk_error_report) woke the socket with EPOLLERR, and the call has just
// cleared it, so no poll will see it now.  It reaches the items no poller
// saw it for, as a level: not those queued since, nor an ET item that has
// reported an ERR already (et_dead).  Only ECONNREFUSED: a UDP call never
// makes it up itself, while EHOSTUNREACH and the like may be the call's
// own routing failure, and EMSGSIZE a datagram too large, with nothing
// pending.  Twin of the sk_error_report() wake-up the call consumed.
static void hint_udp_error_consumed(epfile *f, long result)
{
	if (f->kind == file_kind::inet_dgram && result == -ECONNREFUSED) {
		// A real wake-up of the kernel's (sk_error_report at the ICMP's
		// arrival), walked as a look: not a stale one (queued_by_look).
		tls_look_was_a_wakeup = true;
		file_wake_edge(f, EPOLLERR, wake_kind::observed);
		tls_look_was_a_wakeup = false;
	}
}

// A datagram sent to a loopback port with no socket (its receiver closed)
// is answered inside the send: the softirq that the send's
// local_bh_enable() runs finds no socket, icmp_send() answers port
// unreachable, and __udp4_lib_err() sets sk_err and sk_error_report()
// wakes the sender with EPOLLERR, after the OUT of its freed skb.  A send
// that succeeded found no sk_err pending (sock_alloc_send_pskb() fails
// with it), so an ERR a look sees now is this datagram's answer: a new
// edge for every item, ET or nested (uepoll-fuzz seeds 3446174620 program
// 4421 and 3724133737 program 294).  One ppoll(2) per such send, and only
// for a watched socket whose in-process receiver is gone or was never
// here.  With IP_RECVERR an unread error-queue entry also keeps POLLERR
// up: such a socket is woken with ERR again at each send, a wake-up the
// kernel makes only when another ICMP comes (docs/deviations.md, 2).  An
// ICMP that the softirq leaves for ksoftirqd arrives after the call: the
// pollers see it then, as natively (deviation 2 too).
static void hint_udp_icmp_after_send(epfile *f)
{
	{
		std::lock_guard g(f->f_lock);
		if (f->f_ep.empty())
			return;
	}
	if (epfile *p = epfile_get_peer(f)) {
		bool alive = !p->dead.load(std::memory_order_acquire);
		epfile_put(p);
		if (alive)
			return;
	}
	pollfd p{f->poll_fd.load(std::memory_order_relaxed), 0, 0};
	timespec zero{};
	if (p.fd >= 0 && g_sys->ppoll(&p, 1, &zero, nullptr) == 1 && (p.revents & POLLERR))
		file_wake_edge(f, EPOLLERR);
}

// Out-of-band data: PRI is tcp_poll()'s urg_data & TCP_URG_VALID (an
// AF_UNIX stream's: unix_poll()'s oob_skb), a state that a read of the
// normal data before the mark leaves as it is, waking nobody; only taking
// the urgent byte or reading past the mark ends it (tcp_recvmsg() clears
// urg_data).  So a read after which PRI is still up brings no PRI edge:
// returns EPOLLPRI then, the bit the read must leave suppressed.  Only for
// a file whose peer is in this process: its next urgent byte is woken by
// the write hook (sock_def_readable()'s key has PRI); from a peer we do not
// see, the read stays the only moment PRI can be looked at again.
static uint32_t pri_kept_by_read(epfile *f)
{
	if (!f->peer.load(std::memory_order_relaxed))
		return 0;
	bool suppressed = false;
	{
		std::lock_guard g(f->f_lock);
		for (epitem &epi : f->f_ep) {
			std::lock_guard h(epi.ep->lock);
			suppressed |= (epi.event.events & EPOLLET) && (epi.et_suppressed() & EPOLLPRI);
		}
	}
	if (!suppressed)
		return 0;
	pollfd p{f->poll_fd.load(std::memory_order_relaxed), POLLPRI, 0};
	timespec zero{};
	bool up = g_sys->ppoll(&p, 1, &zero, nullptr) == 1 && (p.revents & POLLPRI);
	return up ? uint32_t{EPOLLPRI} : 0;
}

// A read that took part of the data of a byte stream whose every writer is
// in this process, and left the rest: no edge (the kernel wakes nobody on
// the reader's side), so the reader's edge-triggered items keep their read
// side suppressed instead of being re-armed, which would report the
// remainder once more (deviation 1 of docs/deviations.md).  Sound because
// every byte that can arrive later comes from a hooked write in this
// process, whose hint queues the items (hint_write): that is why it holds
// only for
// - pipes and AF_UNIX stream socketpairs made here (a write puts its data
//   in the reader's queue inside the call), and loopback TCP pairs whose
//   writer has every byte it sent acknowledged (SIOCOUTQ 0: nothing left
//   that a window update could release later, with no hook to see it);
// - whose pair no fork, spawn, clone or SCM_RIGHTS has let out since it
//   was linked, and with no stdio FILE on it (epfile_pair_private());
// - whose writer is non-blocking: a blocking write that waits for room
//   adds data in steps and is hinted only at its end, which may need the
//   reader to read on first.
// Costs one FIONREAD (plus F_GETFL, and SIOCOUTQ for TCP) on this path
// only: a read that filled its buffer, on a file with a suppressed ET
// item; a shorter read (it took all there was) makes no system call more.
// Datagram sockets (a FIONREAD counts one datagram), listeners (accept is
// no read), eventfds and everything else keep the re-arm.
static bool read_leaves_no_edge(epfile *f)
{
	if (f->kind != file_kind::pipe_read && f->kind != file_kind::unix_socket && f->kind != file_kind::socket)
		return false;
	if (!f->peer.load(std::memory_order_relaxed) || f->rdhup_seen.load(std::memory_order_relaxed))
		return false;
	bool suppressed = false;
	{
		std::lock_guard g(f->f_lock);
		for (epitem &epi : f->f_ep) {
			std::lock_guard h(epi.ep->lock);
			if ((epi.event.events & EPOLLET) && epi.exclusive)
				return false; // its wake-up walk skips (and parks) differently: not modelled
			suppressed |= (epi.event.events & EPOLLET) && epi.et_read_suppressed;
		}
	}
	if (!suppressed)
		return false;
	epfile *p = epfile_get_peer(f);
	if (!p)
		return false;
	bool keep = false;
	int fd = f->poll_fd.load(std::memory_order_relaxed), pfd = p->poll_fd.load(std::memory_order_relaxed);
	if (epfile_pair_private(f, p) && fd >= 0 && pfd >= 0 && !p->dead.load(std::memory_order_relaxed) &&
	    g_sys->inq(fd) > 0) {
		long fl = g_sys->fcntl(pfd, F_GETFL, 0);
		keep = fl >= 0 && (fl & O_NONBLOCK) && (f->kind != file_kind::socket || g_sys->outq(pfd) == 0);
	}
	epfile_put(p);
	return keep;
}

// Marks the suppressed read sides of f's ET items kept (epitem::
// et_read_kept), unless an escape began meanwhile, or a write hint skipped
// one of them since its report (epitem::et_hint_skipped): then re-arms
// them as any read would.  The bit is set under ep->lock before the epoch
// is read again; ep_files_may_escape() bumps the epoch before it walks the
// bits, and a hint's skip_is_safe() looks at the bit under the same lock.
static void keep_read_side(epfile *f)
{
	uint32_t epoch = escape_epoch_now();
	any_read_kept.store(true, std::memory_order_seq_cst);
	bool skipped = false;
	{
		std::lock_guard g(f->f_lock);
		for (epitem &epi : f->f_ep) {
			std::lock_guard h(epi.ep->lock);
			if (!(epi.event.events & EPOLLET) || !epi.et_read_suppressed)
				continue;
			epi.et_read_kept = true;
			skipped |= epi.et_hint_skipped;
		}
	}
	if (skipped || escape_epoch_now() != epoch)
		ep_rearm_side(f, EP_READ_SIDE & ~pri_kept_by_read(f), false);
}

// A read returned `result`.  Twin of the wake-ups a read makes: the
// writer's room (pipe_read(), eventfd_read(), sock_wfree ->
// unix_write_space(), sk_stream_write_space()).
static void hint_read(epfile *f, long result, long requested, const io_stamp &st)
{
	hint_udp_error_consumed(f, result);
	// Reading emptied the buffer (EAGAIN) or took some of it: the next
	// arrival is an edge.  Not once the read side is shut: its IN is a
	// state, and no arrival is to come (nor at EOF, result 0).
	if ((result > 0 || result == -EAGAIN) && f->et_items.load(std::memory_order_relaxed) &&
	    !f->rdhup_seen.load(std::memory_order_relaxed)) {
		// Only a read that filled its buffer may have left data: a
		// shorter one took all there was (a stream read stops early only
		// at an urgent mark, and then re-arms as before).
		if (result > 0 && result >= requested && read_leaves_no_edge(f))
			keep_read_side(f);
		else
			ep_rearm_side(f, EP_READ_SIDE & ~pri_kept_by_read(f), false);
	}
	// A stream read that returns nothing may still free an skb: the
	// one of out-of-band data it steps over (manage_oob()).
	if (result <= 0 && st.peer_outq < 0)
		return;
	// eventfd_read() wakes the eventfd's writers: an OUT edge.
	if (f->kind == file_kind::eventfd)
		hint_wake(f, EPOLLOUT, st);
	// The writer on the other end gets room: an OUT wake-up where the
	// kernel gives one.  A pipe writer if the pipe was full when the read
	// began (stamped before it); a TCP writer (and a pipe's without a
	// stamp) if it had found the buffer full.  An AF_UNIX writer whenever
	// the read freed one of its skbs (sock_wfree -> unix_write_space) and it is writable
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
			long outq = g_sys->outq(pfd);
			wake = outq >= 0 && outq < st.peer_outq && unix_writable(pfd, outq);
		} else if (f->kind == file_kind::unix_socket) {
			wake = result < requested || g_sys->inq(f->poll_fd.load(std::memory_order_relaxed)) == 0;
		} else if (f->kind == file_kind::unix_dgram || f->kind == file_kind::unix_seqpacket) {
			// The read freed one of the writer's skbs (sock_wfree ->
			// unix_write_space), which wakes it only if it is writable now.
			wake = unix_writable(pfd, g_sys->outq(pfd));
		} else if (p->kind == file_kind::pipe_write && st.valid) {
			// Only if the read made room in a full pipe: pipe_read() wakes
			// the writer when it frees a slot of a full pipe; a read that
			// leaves every slot in use wakes nobody (measured on 6.18).
			wake = false;
			if (st.peer_full) {
				pollfd q{pfd, POLLOUT, 0};
				timespec zero{};
				wake = g_sys->ppoll(&q, 1, &zero, nullptr) == 1 && (q.revents & POLLOUT);
			}
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
}

// A write returned `result`.  Twin of the wake-ups a write makes: the
// reader's data (pipe_write(), eventfd_write(), sock_def_readable() on the
// peer), the writer's own room (sock_wfree on a freed skb) and the RSTs of
// a write to a closed or shut TCP peer (tcp_reset()).
static void hint_write(epfile *f, long result, long requested, const io_stamp &st)
{
	hint_udp_error_consumed(f, result);
	// A failed AF_UNIX datagram send (a dead peer: ECONNREFUSED; a peer
	// dropped by an earlier such send: ENOTCONN; a peer shut for reading:
	// EPIPE) had allocated its skb already: freeing it wakes the sender
	// with OUT (unix_dgram_sendmsg -> sock_wfree -> unix_write_space).  Our
	// own shutdown(SHUT_WR) fails the send (EPIPE) before the allocation.
	if (f->kind == file_kind::unix_dgram &&
	    (result == -ECONNREFUSED || result == -ENOTCONN ||
	     (result == -EPIPE && !f->fin_sent.load(std::memory_order_relaxed)))) {
		// unix_write_space() wakes only a writer that is writable with
		// the skb freed.
		int fd = f->poll_fd.load(std::memory_order_relaxed);
		if (!unix_writable(fd, g_sys->outq(fd)))
			return;
		if (f->et_items.load(std::memory_order_relaxed))
			ep_rearm_side(f, EP_WRITE_SIDE, false);
		file_wake_edge(f, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
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
		file_wake_edge(f, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
		hint_udp_icmp_after_send(f);
	}
	// Data for a closed TCP peer: its RST resets us inside this call
	// (tcp_reset: ERR|HUP, a wake-up with no key).
	if (f->kind == file_kind::socket && f->peer_closed.load(std::memory_order_relaxed) &&
	    !f->conn_reset.exchange(true)) {
		file_wake_edge(f, 0);
		return;
	}
	// Data for the other end (or for ourselves: an eventfd) wakes it now.
	// eventfd_write()'s key is EPOLLIN alone (wake_up_locked_poll()): an
	// item that asked for RDNORM but not IN is not woken.
	if (f->kind == file_kind::eventfd)
		hint_wake(f, EPOLLIN, st);
	if (epfile *p = epfile_get_peer(f)) {
		if (f->kind == file_kind::socket && p->shut_rd_called.load(std::memory_order_relaxed) &&
		    p->fin_sent.load(std::memory_order_relaxed)) {
			// Data for a TCP socket that shut its read side and sent its
			// FIN aborts it (tcp_reset: ERR|HUP), and its RST resets us:
			// both inside this call, the receiver first.
			p->conn_reset.store(true, std::memory_order_relaxed);
			f->conn_reset.store(true, std::memory_order_relaxed);
			file_wake_edge(p, 0);
			file_wake_edge(f, 0);
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

void ep_io_hint_stamped(epfile *f, io_event ev, long result, long requested, const io_stamp &st)
{
	switch (ev) {
	case io_event::connected:
		return hint_connected(f);
	case io_event::rst:
		return hint_rst(f);
	case io_event::incoming_connection:
		return hint_incoming_connection(f, st);
	case io_event::shutdown:
		return hint_shutdown(f, result, requested);
	case io_event::read:
		return hint_read(f, result, requested, st);
	case io_event::write:
		return hint_write(f, result, requested, st);
	}
}

} // namespace uepoll::core
