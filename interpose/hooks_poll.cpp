// interpose/hooks_poll.cpp - poll/ppoll/select/pselect on our fake epoll
// fds.  A real epoll fd is readable while an item on its ready list is
// still ready (the kernel re-polls in ep_eventpoll_poll) and is never
// writable.  Ours is an eventfd: before the real call we bring its counter
// up to date (and from then on the helper keeps it so), and we ask only
// for POLLIN on it, since an eventfd is always writable.
#include <sys/syscall.h>

#include <vector>

#include "core/eventpoll.hpp"
#include "interpose/hooks.hpp"
#include "interpose/api.hpp"

namespace uepoll::interpose {

static core::epfile *fake_epoll(int fd)
{
	core::epfile *f = fdt_file(fdt_peek(fd));
	return f && f->kind == core::file_kind::epoll ? f : nullptr;
}

static void refresh(int fd)
{
	long err;
	if (core::epfile *f = fdt_get(fd, &err)) {
		core::ep_eventpoll_poll_observe(f);
		core::epfile_put(f);
	}
}

// What the caller asked of the fake epoll fds in one poll() call.  Kept
// on the stack for the usual few; a set with more fake epoll fds than
// that goes to the heap.
struct saved_events {
	static constexpr int inline_slots = 32;
	struct slot {
		nfds_t index;
		short events;
	} inline_buf[inline_slots];
	std::vector<slot> more;
	int n = 0;

	void push(nfds_t i, short ev)
	{
		if (n < inline_slots)
			inline_buf[n] = {i, ev};
		else
			more.push_back({i, ev});
		n++;
	}
	const slot &at(int k) const { return k < inline_slots ? inline_buf[k] : more[k - inline_slots]; }
};

// Refreshes the fake epoll fds in fds and asks only POLLIN of them (an
// eventfd is always writable and never says POLLRDNORM).
static void prepare_pollfds(struct pollfd *fds, nfds_t n, saved_events &saved)
{
	for (nfds_t i = 0; fds && i < n; i++) {
		if (!fake_epoll(fds[i].fd))
			continue;
		refresh(fds[i].fd);
		saved.push(i, fds[i].events);
		fds[i].events = (fds[i].events & (POLLIN | POLLRDNORM)) ? POLLIN : 0;
	}
}

// Gives back the caller's events and reports what an epoll file reports
// when it is readable: POLLIN|POLLRDNORM, as far as they were asked for.
static void restore_pollfds(struct pollfd *fds, const saved_events &saved)
{
	for (int k = 0; k < saved.n; k++) {
		pollfd &p = fds[saved.at(k).index];
		p.events = saved.at(k).events;
		if (p.revents & POLLIN)
			p.revents = static_cast<short>((p.revents & ~POLLIN) | (p.events & (POLLIN | POLLRDNORM)));
	}
}

static void prepare_fdsets(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		if ((!r || !FD_ISSET(fd, r)) && (!w || !FD_ISSET(fd, w)) && (!e || !FD_ISSET(fd, e)))
			continue;
		if (!fake_epoll(fd))
			continue;
		if (r && FD_ISSET(fd, r))
			refresh(fd);
		if (w)
			FD_CLR(fd, w);
		if (e)
			FD_CLR(fd, e);
	}
}

} // namespace uepoll::interpose

namespace uepoll::api {

using namespace uepoll::interpose;

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	ensure_init();
	saved_events saved;
	prepare_pollfds(fds, n, saved);
	int r = UEPOLL_CALL_NEXT(int, ppoll, SYS_ppoll, fds, n, ts, mask);
	if (saved.n)
		restore_pollfds(fds, saved);
	return r;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	ensure_init();
	saved_events saved;
	prepare_pollfds(fds, n, saved);
	struct timespec ts = {timeout / 1000, (timeout % 1000) * 1000000L};
	int r = UEPOLL_CALL_NEXT_RAW(int, poll, (SYS_ppoll, fds, n, timeout < 0 ? nullptr : &ts, nullptr, 8), fds, n,
				     timeout);
	if (saved.n)
		restore_pollfds(fds, saved);
	return r;
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	ensure_init();
	prepare_fdsets(nfds, r, w, e);
	return UEPOLL_CALL_NEXT(int, select, SYS_select, nfds, r, w, e, tv);
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask)
{
	ensure_init();
	prepare_fdsets(nfds, r, w, e);
	// pselect6 takes the mask and its size as one pair.
	struct {
		const sigset_t *ss;
		size_t len;
	} data = {mask, 8};
	return UEPOLL_CALL_NEXT_RAW(int, pselect, (SYS_pselect6, nfds, r, w, e, ts, &data), nfds, r, w, e, ts, mask);
}

} // namespace uepoll::api
