// core/wait.cpp - epoll_wait and its two siblings: twins of ep_poll() (the
// leader polls, followers sleep on their eventfd), do_epoll_wait(),
// do_epoll_pwait() with set_user_sigmask(), and the bodies of the
// epoll_wait/epoll_pwait/epoll_pwait2 syscalls.
#include <cerrno>
#include <climits>
#include <csignal>
#include <mutex>

#include "core/internal.hpp"

namespace uepoll::core {

// A thread that waits for the first time when the fd table is full gets no
// wake-up eventfd (natively a wait needs no fd).  It cannot be woken early
// then, so it looks again at this pace until a later wait gets it one:
// data on the watched fds still ends a leader's ppoll at once; only the
// wake-ups from other threads (a follower's turn, a ctl that widens the
// poll set) wait up to one slice.
constexpr int64_t FDLESS_SLICE_NS = 1000000;

// Under ep->lock: w stops waiting on ep (twin of the kernel's
// __remove_wait_queue at the end of ep_poll).  A wake-up it was sent but
// did not use passes to the next waiter.  False when the drain of its
// wake-up fd read what no eventfd gives (replaced behind our back).
static bool ep_leave_wq(eventpoll *ep, ep_waiter &w, bool leader, bool drain)
{
	bool wake_fd_ok = true;
	if (leader) {
		tls_polling_ep = nullptr;
		ep->leader = nullptr;
	}
	ep->wq.erase(ep->wq.iterator_to(w));
	if (w.woken || drain) {
		if (w.wake_fd >= 0)
			wake_fd_ok = efd_drain(w.wake_fd);
		w.woken = false;
	}
	// Somebody must keep polling for the followers.
	if (!ep->wq.empty() && !ep->leader)
		ep_wake_one(ep);
	return wake_fd_ok;
}

// Twin of ep_poll(): harvest, or block until something is ready, the
// timeout expires or a signal arrives.  epfd is the number the wait was
// called with: the kernel's fdget() fails on it if it was closed, and ours
// only sees a number closed behind our back (an inline system call) by
// polling it, events 0, in a ppoll the wait makes anyway (POLLNVAL: closed).
// The first look (ep_send_events) checks it in its poll of the armed
// items; with none armed and none queued, a blocking wait leaves the check
// to its own ppoll, and only a timeout-0 wait pays a system call for it.
// Once it was seen open, a close during the wait changes nothing, as a
// wait holds its file on the kernel: it is not polled any more.
static int ep_poll(eventpoll *ep, int epfd, epoll_event *uevents, int maxevents, int64_t timeout_ns,
		   const sigset_t *sigmask)
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

	// The number until a ppoll saw it open; -1 after.
	int own_fd = epfd;
	for (;;) {
		bool own_checked = false;
		int res = ep_send_events(ep, uevents, maxevents, own_fd, timeout_ns != 0, &own_checked);
		if (own_checked)
			own_fd = -1;
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

		// Ours until this round ends: a dup2 onto its number waits for it,
		// and the wakers that write it while we are on ep->wq are covered.
		internal_fd_use wake = tls_wake_use();
		w.wake_fd = wake.fd();
		w.wake_entry = tls_wake_entry();
		if (w.wake_fd < 0) {
			// No fd to be woken through: wait one slice at a time.
			if (!tsp || rem.tv_sec > 0 || rem.tv_nsec > FDLESS_SLICE_NS) {
				rem = {0, FDLESS_SLICE_NS};
				tsp = &rem;
			}
		}
		bool leader = false;
		uint64_t gen = 0;
		size_t nslots = 0; // the leader's copy of ep->pfds: set[0, nslots)
		{
			std::lock_guard g(ep->lock);
			if (!ep->rdllist.empty())
				continue; // something arrived since the scan
			// A pthread_cancel of this thread writes wake_fd from now on,
			// until wait_cancel_disarm(), while our use of it lasts.
			if (wait_cancel_arm(w.wake_fd))
				return EP_WAIT_CANCELLED; // not on the wait queue yet
			w.woken = false;
			ep->wq.push_back(w);
			if (!ep->leader) {
				ep->leader = &w;
				leader = true;
				ep->leader_gate.enter();
				set.assign(ep->pfds.begin(), ep->pfds.end());
				epochs.resize(set.size());
				for (size_t i = 0; i < set.size(); i++)
					epochs[i] = set[i].fd >= 0 ? ep->pitems[i]->arm_epoch : 0;
				gen = ep->pset_gen;
				tls_polling_ep = ep;
				nslots = set.size();
			} else {
				set.clear();
			}
			set.push_back(pollfd{own_fd, 0, 0});         // -1 once checked
			set.push_back(pollfd{w.wake_fd, POLLIN, 0}); // fd -1: ignored by ppoll
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
			if (leader)
				ep->leader_gate.leave();
			if (leader && r > 0 && gen == ep->pset_gen) {
				for (size_t i = 0; i < nslots && nready < 64; i++) {
					if (!set[i].revents || set[i].fd < 0 || (set[i].revents & POLLNVAL))
						continue;
					if (ep->pitems[i]->arm_epoch != epochs[i])
						continue; // re-armed since: stale
					epfile *f = ep->pitems[i]->file;
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
		// Our wake-up fd closed (POLLNVAL) or replaced (a read no eventfd
		// makes) behind our back: made again once this round is over.
		// A number that is not our entry's any more (lost, maybe the
		// program's file now; or moved) is not read: nothing of the
		// program's is drained.  Lost, it is made again at the next use.
		bool wake_lost = w.wake_fd >= 0 && (set.back().revents & POLLNVAL);
		bool wake_ours = w.wake_fd >= 0 && w.wake_entry->peek() == w.wake_fd;
		{
			std::lock_guard g(ep->lock);
			if (!wake_ours)
				w.woken = false;
			wake_lost |= !ep_leave_wq(ep, w, leader, wake_ours && (set.back().revents & POLLIN));
		}
		// Off the wait queue; a pthread_cancel stops writing our wake-up
		// fd before our use of its number ends (then it may be moved).
		bool cancelled = wait_cancel_disarm();
		int wake_seen = wake.fd();
		wake.end();
		if (wake_lost)
			tls_wake_lost(wake_seen);
		if (own_fd >= 0) {
			// Not checked by the first look: this ppoll's first pass did.
			if (r > 0 && (set[set.size() - 2].revents & POLLNVAL))
				return -EBADF;
			own_fd = -1;
		}
		// Left like any waiter: whatever woke it, the cancel comes first.
		if (cancelled)
			return EP_WAIT_CANCELLED;
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
	int r = ep_poll(f.f->ep, epfd, uevents, maxevents, timeout_ns, sigmask);
	if (r == -EBADF)
		g_files->fd_closed_unseen(epfd, f.f); // the instance dies with its last number
	return r;
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

} // namespace uepoll::core
