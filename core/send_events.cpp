// core/send_events.cpp - polling items and reporting them.  Twin of
// ep_item_poll() (ep_items_poll: n items, one poll(2)), of the scan pair
// ep_start_scan()/ep_done_scan(), of ep_send_events() and of
// __ep_eventpoll_poll() (an instance's own readiness, for poll(2) and the
// instances watching it); ep_sync_poll() is the "IRQ" that a harvest runs
// first, and ep_set_observed() hands an instance to the helper.
#include <cerrno>
#include <mutex>

#include "core/internal.hpp"

namespace uepoll::core {

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
		epfile *f = items[i]->file;
		pfd[i].fd = -1;
		pfd[i].events = 0; // an epoll file is asked directly, below
		pfd[i].revents = 0;
		if (is_file_epoll(f) || f->dead.load(std::memory_order_relaxed))
			continue;
		pfd[i].fd = f->poll_fd;
		// RDHUP asked always, reported only to who asked: it tells the I/O
		// hooks that the read side is shut (epfile::rdhup_seen).
		pfd[i].events = static_cast<short>((items[i]->event.events & 0xffff) | POLLRDHUP);
		nplain++;
	}
	if (nplain) {
		struct timespec zero = {0, 0};
		while (g_sys->ppoll(pfd, n, &zero, nullptr) == -EINTR) {
		}
	}
	for (int i = 0; i < n; i++) {
		epfile *f = items[i]->file;
		uint32_t r;
		if (is_file_epoll(f))
			r = ep_eventpoll_poll(f->ep, depth + 1);
		else
			r = pfd[i].fd >= 0 ? static_cast<uint16_t>(pfd[i].revents) : 0;
		if (r & POLLNVAL)
			r = 0; // the fd went away under us: the close path removes the item
		else if (f->poll_consumes)
			r |= f->consumed.exchange(0, std::memory_order_acq_rel); // what an earlier poll took
		if ((r & POLLRDHUP) && !f->rdhup_seen.load(std::memory_order_relaxed))
			f->rdhup_seen.store(true, std::memory_order_relaxed);
		out[i] = r & items[i]->event.events;
	}
}

uint32_t ep_item_poll(epitem *epi, int depth)
{
	uint32_t r;
	ep_items_poll(&epi, 1, &r, depth);
	return r;
}

// The tiers' bookkeeping of a zero-timeout poll of ep's hot set (buf, in
// the order of items): an armed item found idle counts one more wait, one
// found ready starts again from zero, and the items idle for `after` waits
// in a row are demoted to the shards, in one batch.  Nested instances stay
// hot (the poll asks them directly).  Must be called with ep->mtx held.
static void ep_count_idle(eventpoll *ep, const std::vector<pollfd, slab_allocator<pollfd>> &buf,
			  const std::vector<epitem *, slab_allocator<epitem *>> &items, size_t nslots, int after)
{
	ep->mtx.assert_held();
	thread_local std::vector<epitem *, slab_allocator<epitem *>> demote;
	demote.clear();
	{
		std::lock_guard g(ep->lock);
		for (size_t i = 0; i < nslots; i++) {
			epitem *epi = items[i];
			if (buf[i].fd < 0 || epi->cold)
				continue;
			if (buf[i].revents) {
				epi->tier_idle_polls = 0;
				continue;
			}
			if (epi->tier_idle_polls + 1 < after) {
				epi->tier_idle_polls = epi->tier_idle_polls + 1;
				continue;
			}
			// Armed still (a callback may have queued it since the poll).
			if (ep->pfds[epi->pidx].fd >= 0)
				demote.push_back(epi);
		}
	}
	if (demote.empty())
		return;
	tiers_reserve(static_cast<int>(demote.size()));
	std::lock_guard g(ep->lock);
	for (epitem *epi : demote)
		if (!epi->cold && epi->pidx >= 0 && ep->pfds[epi->pidx].fd >= 0 && !tier_demote(ep, epi))
			break; // no shard has room: stays hot
}

// Polls the armed slots of ep's hot set with a zero timeout and runs the
// callbacks for what is ready: what the kernel's wake-ups would already
// have done.  Nested instances are asked directly (ep_eventpoll_poll), not
// through their eventfd, so no helper has to have run first.  Cold items
// are their shards' pollers' (core/tiers.cpp); a hot item this poll finds
// idle for the tier_demote_after-th time in a row joins them.
// Must be called with ep->mtx held (which keeps pset_gen stable).
// own_fd >= 0: a wait's number for ep, polled with events 0 at the end of
// the same ppoll (POLLNVAL: closed behind our back; see ep_poll()).  With
// nothing armed it costs a ppoll of its own, unless may_defer (nothing
// queued either, and the wait blocks next: its ppoll checks it).  Returns
// 1 closed, 0 open, -1 not checked.
static int ep_sync_poll(eventpoll *ep, int depth, int own_fd = -1, bool may_defer = false)
{
	ep->mtx.assert_held();
	if (depth > EP_MAX_DEPTH)
		return -1;
	// One buffer per nesting depth: this recurses through nested instances.
	thread_local std::vector<pollfd, slab_allocator<pollfd>> bufs[EP_MAX_DEPTH + 1];
	thread_local std::vector<epitem *, slab_allocator<epitem *>> itemss[EP_MAX_DEPTH + 1];
	auto &buf = bufs[depth];
	auto &items = itemss[depth];
	bool nested = false;
	{
		std::lock_guard g(ep->lock);
		if (ep->narmed == 0 && (own_fd < 0 || (may_defer && ep->rdllist.empty())))
			return -1;
		if (ep->narmed == 0) {
			buf.clear();
			items.clear();
		} else {
			// Under ep->mtx no slot moves (removal and demotion need it), but a
			// promotion may append one: copy the items too.
			buf.assign(ep->pfds.begin(), ep->pfds.end());
			items.assign(ep->pitems.begin(), ep->pitems.end());
		}
		for (size_t i = 0; i < buf.size(); i++) {
			if (buf[i].fd >= 0 && is_file_epoll(items[i]->file)) {
				// An epoll file is only ever readable; an edge-triggered
				// item whose IN was reported waits for a direct wake-up.
				bool wants_in = buf[i].events & POLLIN; // EPOLLIN: the only key (ep_slot_update)
				buf[i].fd = -1;
				buf[i].revents = wants_in ? 1 : 0; // 1 marks "ask the instance"
				nested |= wants_in;
			} else {
				buf[i].revents = 0;
			}
		}
	}
	if (!buf.empty())
		stat_sync_polls.fetch_add(1, std::memory_order_relaxed);
	if (nested) {
		for (size_t i = 0; i < buf.size(); i++) {
			if (buf[i].revents != 1)
				continue;
			buf[i].revents = 0;
			epfile *f = items[i]->file;
			// A level, not an edge: the instance's own wake-ups (safewake)
			// were edges already; seeing it ready again is not one.
			if (ep_eventpoll_poll(f->ep, depth + 1) && epfile_tryget(f)) {
				file_wakeup(f, EPOLLIN, depth + 1, wake_kind::observed);
				epfile_put(f);
			}
		}
	}
	size_t nslots = buf.size();
	if (own_fd >= 0)
		buf.push_back(pollfd{own_fd, 0, 0});
	struct timespec zero = {0, 0};
	long n;
	while ((n = g_sys->ppoll(buf.data(), buf.size(), &zero, nullptr)) == -EINTR) {
	}
	if (own_fd >= 0 && n > 0 && (buf.back().revents & POLLNVAL))
		return 1; // nothing changed yet: the wait fails as fdget() would
	// Only a poll that answered counts (a failed one left every revents 0).
	if (int after = tier_demote_after.load(std::memory_order_relaxed); after && n >= 0)
		ep_count_idle(ep, buf, items, nslots, after);
	if (n <= 0)
		return own_fd >= 0 ? 0 : -1;
	for (size_t i = 0; i < nslots; i++) {
		if (!buf[i].revents || buf[i].fd < 0 || (buf[i].revents & POLLNVAL))
			continue;
		epfile *f = items[i]->file;
		if (!epfile_tryget(f))
			continue;
		file_wakeup(f, static_cast<uint16_t>(buf[i].revents), depth, wake_kind::observed);
		epfile_put(f);
	}
	return own_fd >= 0 ? 0 : -1;
}

// ---- scanning the ready list --------------------------------------------------

// Twin of ep_start_scan(): take the ready list, route new callbacks to the
// ovflist.  Must be called with ep->mtx held.
static void ep_start_scan(eventpoll *ep, epitem_list &txlist)
{
	ep->mtx.assert_held();
	std::lock_guard g(ep->lock);
	txlist.splice(txlist.end(), ep->rdllist);
	ep->ovflist = nullptr;
}

// Twin of ep_done_scan(): requeue what the callbacks chained on the
// ovflist, put back what the scan left, wake another waiter if work remains.
// Must be called with ep->mtx held.
static void ep_done_scan(eventpoll *ep, epitem_list &txlist)
{
	ep->mtx.assert_held();
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
	ep_item_confirmed(ep, epi);
	epi->on_list = false;
	ep_slot_update(ep, epi);
}

// Twin of ep_send_events(): re-poll the ready items and copy out up to
// maxevents of them; LT items go back to the tail, ONESHOT ones are
// disabled, ET ones wait for their next edge.  Returns how many events were
// copied, or -EFAULT if not even the first could be.
int ep_send_events(eventpoll *ep, epoll_event *uevents, int maxevents, int own_fd, bool may_defer,
		   bool *own_checked)
{
	std::lock_guard m(ep->mtx);
	int own = ep_sync_poll(ep, 0, own_fd, may_defer);
	if (own == 1)
		return -EBADF;
	*own_checked = own == 0;

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
			if (!(epi->event.events & EPOLLET) || is_file_epoll(epi->file))
				continue;
			epfile *f = epi->file;
			if (epi->event.events & (EPOLLIN | EPOLLRDNORM))
				looks[2 * i] = f->level_in_walks.fetch_add(1, std::memory_order_acq_rel) + 1;
			if (epi->event.events & (EPOLLOUT | EPOLLWRNORM))
				looks[2 * i + 1] = f->level_out_walks.fetch_add(1, std::memory_order_acq_rel) + 1;
		}
		ep_items_poll(batch.data(), static_cast<int>(batch.size()), rev.data(), 0);
		{
			// Polled now: what a ctl queued unconfirmed is settled.  An
			// edge-triggered item a poller's look queued, whose looked-at
			// bits are gone (only its suppressed side is ready: the OUT of
			// a socket whose re-armed IN was read meanwhile), is stale: the
			// kernel would not have queued it, having had no wake-up.
			std::lock_guard g(ep->lock);
			for (size_t i = 0; i < batch.size(); i++) {
				epitem *epi = batch[i];
				ep_item_confirmed(ep, epi);
				if (epi->queued_by_look && (epi->event.events & EPOLLET) && !is_file_epoll(epi->file) &&
				    !(rev[i] & ~epi->et_suppressed()))
					rev[i] = 0;
				epi->queued_by_look = false;
			}
		}
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
				epi->level_in_seen.store(reported_looks[2 * i], std::memory_order_relaxed);
			if (r & (EPOLLOUT | EPOLLWRNORM))
				epi->level_out_seen.store(reported_looks[2 * i + 1], std::memory_order_relaxed);
			if (r & (EPOLLERR | EPOLLHUP))
				epi->et_dead = true;
			if (r & EP_READ_SIDE) {
				epi->et_suppress(EP_READ_SIDE, true);
				epi->et_hint_skipped = false; // a new report: skips before it are moot
			}
			if (r & EP_WRITE_SIDE)
				epi->et_suppress(EP_WRITE_SIDE, true);
			epi->on_list = false;
		}
		ep_slot_update(ep, epi);
	}
	ep_done_scan(ep, txlist);
	for (epitem *epi : idle)
		file_unpark_exclusive(epi->file);
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
			std::lock_guard g(ep->lock);
			ep_item_confirmed(ep, epi);
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

// Settles every item of ep that a ctl queued without polling (ep is about
// to be observed: from now on its eventfd says whether its ready list is
// empty, and an item the kernel would not have queued must not make it
// readable).  Must be called with ep->mtx held: no scan runs.
static void ep_confirm_all(eventpoll *ep)
{
	ep->mtx.assert_held();
	thread_local std::vector<epitem *, slab_allocator<epitem *>> pending;
	thread_local std::vector<uint32_t, slab_allocator<uint32_t>> rev;
	pending.clear();
	{
		std::lock_guard g(ep->lock);
		for (epitem &epi : ep->rdllist)
			if (epi.unconfirmed)
				pending.push_back(&epi);
	}
	if (pending.empty())
		return;
	rev.resize(pending.size());
	ep_items_poll(pending.data(), static_cast<int>(pending.size()), rev.data(), 1);
	std::lock_guard g(ep->lock);
	for (size_t i = 0; i < pending.size(); i++) {
		epitem *epi = pending[i];
		ep_item_confirmed(ep, epi);
		if (rev[i])
			continue;
		ep->rdllist.erase(ep->rdllist.iterator_to(*epi));
		epi->on_list = false;
		ep_slot_update(ep, epi);
	}
}

// From now on the helper keeps ep's eventfd right (sticky).
void ep_set_observed(eventpoll *ep)
{
	if (ep->observed.load(std::memory_order_acquire))
		return;
	{
		std::lock_guard m(ep->mtx);
		ep_confirm_all(ep);
		std::lock_guard g(ep->lock);
		if (ep->observed)
			return;
		ep->observed = true;
		ep_sync_efd(ep);
	}
	helper_start();
	helper_kick();
}

// Settles t's items that a ctl queued without polling, before a call that
// may change t's readiness: one poll of t; an item that was ready keeps
// its place on the ready list (the kernel's ep_insert()/ep_modify() would
// have queued it at the ctl), one that was not leaves the list and is
// armed, so that the call's wake-up queues it at the tail, where the
// kernel's callback would.  An item inside a running scan is left to it:
// the scan re-polls it.
bool ep_any_unconfirmed() { return unconfirmed_items.load(std::memory_order_acquire) != 0; }

void ep_confirm_queued(epfile *t)
{
	if (!t || unconfirmed_items.load(std::memory_order_acquire) == 0)
		return;
	constexpr int MAX_PENDING = 16;
	epitem *pending[MAX_PENDING];
	uint32_t wanted[MAX_PENDING];
	int n = 0;
	// Under f_lock: no item of t can be removed (and freed) meanwhile.
	std::lock_guard g(t->f_lock);
	uint32_t events = 0;
	for (epitem &epi : t->f_ep) {
		std::lock_guard g2(epi.ep->lock);
		if (!epi.unconfirmed || epi.ep->ovflist != EP_UNACTIVE_PTR)
			continue;
		if (n == MAX_PENDING)
			break; // the rest: the harvest re-polls them (a rare order difference)
		pending[n] = &epi;
		wanted[n++] = epi.event.events;
		events |= epi.event.events;
	}
	int fd = t->poll_fd.load(std::memory_order_relaxed);
	if (!n || fd < 0 || t->dead.load(std::memory_order_relaxed))
		return;
	pollfd p{fd, static_cast<short>((events & 0xffff) | POLLRDHUP), 0};
	struct timespec zero = {0, 0};
	while (g_sys->ppoll(&p, 1, &zero, nullptr) == -EINTR) {
	}
	uint32_t r = static_cast<uint16_t>(p.revents);
	if (r & POLLNVAL)
		r = 0;
	if ((r & POLLRDHUP) && !t->rdhup_seen.load(std::memory_order_relaxed))
		t->rdhup_seen.store(true, std::memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		epitem *epi = pending[i];
		eventpoll *ep = epi->ep;
		std::lock_guard g2(ep->lock);
		if (!epi->unconfirmed || ep->ovflist != EP_UNACTIVE_PTR || epi->event.events != wanted[i])
			continue; // harvested, or MODded, since: settled elsewhere
		ep_item_confirmed(ep, epi);
		if (r & wanted[i])
			continue;
		ep->rdllist.erase(ep->rdllist.iterator_to(*epi));
		epi->on_list = false;
		ep_slot_update(ep, epi);
	}
}

} // namespace uepoll::core
