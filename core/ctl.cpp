// core/ctl.cpp - epoll_ctl: twins of __ep_remove(), ep_insert(),
// ep_modify(), ep_find() and do_epoll_ctl(), with the kernel's checks in
// the kernel's order.
#include <cerrno>
#include <mutex>

#include "core/internal.hpp"

namespace uepoll::core {

// Twin of __ep_remove(): unlink epi from its file, the tree, the lists and
// the poll set, and free it.  Must be called with ep->mtx held.
void __ep_remove(eventpoll *ep, epitem *epi)
{
	ep->mtx.assert_held();
	epfile *f = epi->file;
	{
		std::lock_guard g(f->f_lock);
		f->f_ep.erase(f->f_ep.iterator_to(*epi));
		if (epi->event.events & EPOLLET)
			f->et_items.fetch_sub(1, std::memory_order_relaxed);
		if (ep->observed.load(std::memory_order_relaxed))
			f->helper_polled.store(true, std::memory_order_relaxed);
	}
	ep->rbr.erase(ep->rbr.iterator_to(*epi));
	{
		std::lock_guard g(ep->lock);
		if (ep_is_linked(epi))
			ep->rdllist.erase(ep->rdllist.iterator_to(*epi));
		ep_item_confirmed(ep, epi);
		if (epi->cold)
			tier_remove(ep, epi); // its poller's copy is checked by stamp
		else
			ep_pset_remove(ep, epi);
		ep_sync_efd(ep);
		if (ep->observed)
			helper_kick();
	}
	epoll_watches.fetch_sub(1, std::memory_order_relaxed);
	slab_delete(epi);
}

std::atomic<long> unconfirmed_items{0};

// Must a ctl on epi poll it at once, as the kernel's ep_insert() and
// ep_modify() do (ep_item_poll()), rather than queue it unconfirmed?  Yes
// wherever the answer is needed before the next harvest, or the file's
// readiness can change behind our back:
//   - an OBSERVED instance: its eventfd must be readable exactly when
//     ep_eventpoll_poll() would say so, and the instances watching it get
//     the wake-up (pwake) at once;
//   - a nested epoll item: its readiness is another instance's ready list;
//   - an EPOLLEXCLUSIVE item: the wake-up walk parks and unparks exclusive
//     items by what they saw (excl_parked);
//   - a file whose readiness can change without a call of this process
//     that we see (a timer, the network, a file of unknown origin): queued
//     unconfirmed, a change after the ctl would then be reported in the
//     ctl's place instead of the wake-up's.  The kinds below change only
//     through calls of this process, whose hooks call ep_confirm_queued()
//     first (or through another process, which is a race natively too).
// Must be called with ep->lock held.
static bool ep_poll_at_ctl(eventpoll *ep, const epitem *epi)
{
	ep->lock.assert_held();
	epfile *f = epi->file;
	if (ep->observed.load(std::memory_order_relaxed) || is_file_epoll(f) || epi->exclusive || !f->origin_known)
		return true;
	switch (f->kind) {
	case file_kind::eventfd:
	case file_kind::pipe_read:
	case file_kind::pipe_write:
	case file_kind::unix_socket:
	case file_kind::unix_dgram:
	case file_kind::unix_seqpacket:
		return false;
	default:
		return true;
	}
}

// The ctl's queueing without a poll: epi goes to the tail of the ready
// list "to be confirmed", where the kernel's ep_insert()/ep_modify() would
// put it if it is ready, and one waiter is woken to harvest it.  The
// harvest re-polls every queued item before reporting it and drops what is
// not ready (ep_send_events(), as the kernel drops stale items), re-arming
// it then; so a ctl costs no system call unless a waiter must be told.
// Must be called with ep->lock held.
static void ep_queue_unconfirmed(eventpoll *ep, epitem *epi)
{
	ep->lock.assert_held();
	if (!ep_is_linked(epi) && epi->next == EP_UNACTIVE_PTR) {
		ep->rdllist.push_back(*epi);
		epi->on_list = true;
		epi->unconfirmed = true;
		unconfirmed_items.fetch_add(1, std::memory_order_relaxed);
		if (!ep->wq.empty())
			ep_wake_one(ep);
	}
	ep_slot_update(ep, epi);
}

// The tail of ep_insert() and ep_modify(), which the kernel writes in both:
// if the item is ready now, queue it, wake one waiter and the instances
// watching ep.  Must be called with ep->mtx held: no scan runs then, so
// epi->next is EP_UNACTIVE_PTR (the kernel's ep_modify() checks it all the
// same; so do we, for both).  Where ep_poll_at_ctl() allows, the item is
// queued unconfirmed instead, with no poll.
static void ep_queue_if_ready(eventpoll *ep, epitem *epi)
{
	ep->mtx.assert_held();
	{
		std::lock_guard g(ep->lock);
		if (!ep_poll_at_ctl(ep, epi)) {
			ep_queue_unconfirmed(ep, epi);
			return;
		}
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
		file_wakeup(ep->file, EPOLLIN, 1, wake_kind::event);
}

// Twin of ep_insert().  Must be called with ep->mtx held.
static int ep_insert(eventpoll *ep, const epoll_event *event, epfile *tf, int fd, bool full_check)
{
	ep->mtx.assert_held();
	if (epoll_watches.load(std::memory_order_relaxed) >= ep_max_user_watches())
		return -ENOSPC;
	epitem *epi = slab_new<epitem>();
	if (!epi)
		return -ENOMEM;
	epi->file = tf;
	epi->fd = fd;
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
		ep_pset_append(ep, epi);
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

	ep_queue_if_ready(ep, epi);
	return 0;
}

// Twin of ep_modify().  Must be called with ep->mtx held.
static int ep_modify(eventpoll *ep, epitem *epi, const epoll_event *event)
{
	ep->mtx.assert_held();
	bool unconfirmed;
	{
		std::lock_guard g(ep->lock);
		unconfirmed = epi->unconfirmed;
	}
	// The settling poll below is needed even when the item is the last of
	// the ready list: whether the kernel keeps it there (ready with the
	// old events) decides its place ahead of what is queued after the MOD,
	// and a later settle could only poll the new events (uepoll-fuzz seed
	// 3127631620 program 1934).
	if (unconfirmed) {
		// Queued by an earlier ctl without a poll: whether the kernel would
		// have it on the list (ready then) or queue it now, at the tail
		// (ready only with the new events), is settled first, with the old
		// events.  Its readiness cannot have changed since through a call
		// we did not settle it for (ep_confirm_queued()).
		bool was_ready = ep_item_poll(epi, 1) != 0;
		std::lock_guard g(ep->lock);
		ep_item_confirmed(ep, epi);
		if (!was_ready) {
			ep->rdllist.erase(ep->rdllist.iterator_to(*epi));
			epi->on_list = false;
		}
	}
	{
		std::lock_guard g(ep->lock);
		bool was_et = epi->event.events & EPOLLET;
		epi->event = *event;
		bool is_et = epi->event.events & EPOLLET;
		if (was_et != is_et)
			epi->file->et_items.fetch_add(is_et ? 1 : -1, std::memory_order_relaxed);
		// MOD is a new start: every edge may be reported again.
		epi->et_suppress(EP_READ_SIDE | EP_WRITE_SIDE, false);
		epi->et_dead = false;
		epi->excl_parked = false;
		if (!ep_poll_at_ctl(ep, epi)) {
			// Queued before its slot is re-armed: a widened slot would
			// kick the leader for nothing.
			ep_queue_unconfirmed(ep, epi);
			return 0;
		}
		ep_slot_update(ep, epi);
	}
	ep_queue_if_ready(ep, epi);
	return 0;
}

// Twin of ep_find().  Must be called with ep->mtx held.
static epitem *ep_find(eventpoll *ep, epfile *f, int fd)
{
	ep->mtx.assert_held();
	auto it = ep->rbr.find(epoll_filefd{f, fd});
	return it == ep->rbr.end() ? nullptr : &*it;
}

// Twin of ep_op_has_event().
static inline bool ep_op_has_event(int op) { return op != EPOLL_CTL_DEL; }

// Twin of ep_take_care_of_epollwakeup(): this kernel has no
// CONFIG_PM_SLEEP, so EPOLLWAKEUP is dropped for everyone.
static inline void ep_take_care_of_epollwakeup(epoll_event *epev) { epev->events &= ~EPOLLWAKEUP; }

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

} // namespace uepoll::core
