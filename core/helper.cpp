// core/helper.cpp - the helper thread: uepoll's stand-in for the interrupt.
//
// One per process, started the first time an instance is observed (watched
// by another instance, or polled with poll()/select()).  It sits in ppoll()
// on the armed items of every observed instance plus a control eventfd,
// and runs the wake-up walk (file_wakeup -> ep_poll_callback) for what
// becomes ready, so that an observed instance's fake epoll fd turns
// readable even while no thread calls epoll_wait on it.  Instances nobody
// observes are polled by their own waiters (see wait.cpp): the helper
// never touches the hot path, and with nothing ready it never wakes up.
//
// It blocks every signal (signals belong to the program's threads), and it
// is rebuilt, not reused, in a forked child.
#include <cerrno>
#include <algorithm>
#include <climits>
#include <ctime>
#include <pthread.h>
#include <sys/eventfd.h>

#include "core/internal.hpp"

namespace uepoll::core {

namespace {

struct helper_state {
	spinlock lock;                     // started
	bool started = false;
	std::atomic<bool> running{false};  // started, readable without the lock
	// The control eventfd: "rebuild your set".  An internal fd whose number
	// may move (core/internal_fd.hpp): the helper holds a use of it across
	// each round, the threads that kick it one around the write.
	internal_fd ctl{EFD_NONBLOCK};
	std::atomic<bool> kick_pending{false};
	poll_gate gate; // inside from the copy of the poll sets until their references are put
	std::atomic<uint64_t> wakeups{0}, polls{0};
};

helper_state helper;
thread_local bool tls_is_helper;

struct slot_ref {
	eventpoll *ep;
	int idx;
	uint64_t gen;
	uint32_t epoch; // the item's arm_epoch when the set was copied
};

void *helper_main(void *)
{
	tls_is_helper = true;
	std::vector<pollfd, slab_allocator<pollfd>> set;
	std::vector<slot_ref, slab_allocator<slot_ref>> refs;
	std::vector<eventpoll *, slab_allocator<eventpoll *>> held;
	for (;;) {
		long now = monotonic_ns();
		long until = LONG_MAX; // when a file left to an I/O window must be looked at anyway
		// Ours until the end of the round: a dup2 onto its number waits.
		internal_fd_use ctl = helper.ctl.acquire();
		if (ctl.fd() < 0) {
			// None (lost, or no free number): try to make one.
			ctl.end();
			helper.ctl.renew(-1);
			ctl = helper.ctl.acquire();
		}
		// Without one nobody can kick us: look again every millisecond.
		if (ctl.fd() < 0)
			until = now + 1000000;
		helper.kick_pending.store(false, std::memory_order_release);
		// "Inside" from before the copy of the poll sets: a close() that
		// sees us outside has disarmed its slot already, so our copy
		// cannot hold its fd; one that sees us inside waits for us to come
		// out (core/poll_gate.hpp).
		helper.gate.enter();
		set.clear();
		refs.clear();
		held.clear();
		struct ctx {
			decltype(set) *s;
			decltype(refs) *r;
			decltype(held) *h;
			long now, *until;
		} c{&set, &refs, &held, now, &until};
		for_each_observed(
			[](eventpoll *ep, void *arg) {
				auto *c = static_cast<ctx *>(arg);
				// An instance whose last fd is being closed is not taken
				// again (its closer waits for us to let go, see helper.gate).
				if (ep->file->dead.load(std::memory_order_seq_cst) || !epfile_tryget(ep->file))
					return;
				c->h->push_back(ep);
				std::lock_guard g(ep->lock);
				for (size_t i = 0; i < ep->pfds.size(); i++) {
					if (ep->pfds[i].fd < 0)
						continue;
					if (left_to_window(ep->pitems[i]->file, c->now, c->until))
						continue;
					c->s->push_back(ep->pfds[i]);
					c->r->push_back(slot_ref{ep, static_cast<int>(i), ep->pset_gen, ep->pitems[i]->arm_epoch});
				}
			},
			&c);
		set.push_back(pollfd{ctl.fd(), POLLIN, 0}); // fd -1: ignored by ppoll

		timespec left{0, until == LONG_MAX ? 0 : std::max(0L, until - now)};
		long n = g_sys->ppoll(set.data(), set.size(), until == LONG_MAX ? nullptr : &left, nullptr);
		helper.wakeups.fetch_add(1, std::memory_order_relaxed);
		helper.polls.fetch_add(set.size(), std::memory_order_relaxed);
		now = monotonic_ns();

		// Closed (POLLNVAL) or replaced (a read no eventfd makes) behind our
		// back: made again after the round.
		bool ctl_lost = false;
		if (set.back().revents & POLLNVAL)
			ctl_lost = true;
		else if (set.back().revents && helper.ctl.peek() == ctl.fd())
			ctl_lost = !efd_drain(ctl.fd()); // not read once the number is not ours
		for (size_t i = 0; n > 0 && i + 1 < set.size(); i++) {
			if (!set[i].revents || (set[i].revents & POLLNVAL))
				continue;
			eventpoll *ep = refs[i].ep;
			epfile *f = nullptr;
			const epitem *epi = nullptr;
			{
				std::lock_guard g(ep->lock);
				if (ep->pset_gen == refs[i].gen && ep->pitems[refs[i].idx]->arm_epoch == refs[i].epoch &&
				    epfile_tryget(ep->pitems[refs[i].idx]->file)) {
					epi = ep->pitems[refs[i].idx];
					f = epi->file;
				}
			}
			if (f && left_to_window(f, now, &until)) {
				epfile_put(f);
				f = nullptr;
			}
			if (f) {
				file_wakeup_polled(f, static_cast<uint16_t>(set[i].revents), epi, refs[i].epoch);
				epfile_put(f);
			}
		}
		for (eventpoll *ep : held)
			epfile_put(ep->file);
		// "Outside" only now: until here we held a reference on every
		// observed instance, and the last close of an epoll fd must not
		// leave its instance (and its items: a path for ep_loop_check)
		// alive behind the program's back, as the kernel's __fput() does not.
		helper.gate.leave();
		int seen = ctl.fd();
		ctl.end();
		if (ctl_lost)
			helper.ctl.renew(seen);
	}
	return nullptr;
}

} // namespace

void helper_start()
{
	if (helper.running.load(std::memory_order_acquire))
		return;
	// Made outside helper.lock (a spinlock): renew() may wait for a move.
	if (helper.ctl.renew(-1) < 0)
		return;
	std::lock_guard g(helper.lock);
	if (helper.started)
		return;
	if (kthread_run(helper_main, nullptr, 256 * 1024)) {
		helper.started = true;
		helper.running.store(true, std::memory_order_release);
	}
}

bool kthread_run(void *(*fn)(void *), void *arg, size_t stack_bytes)
{
	// The thread inherits our mask: block everything while creating it.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, stack_bytes);
	pthread_t t;
	bool ok = pthread_create(&t, &attr, fn, arg) == 0;
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	return ok;
}

// Makes the helper rebuild its poll set.  No-op until it runs, and from
// the helper itself (it rebuilds after every wake-up anyway).
void helper_kick()
{
	if (tls_is_helper || !helper.started)
		return;
	if (!helper.kick_pending.exchange(true, std::memory_order_acq_rel)) {
		internal_fd_use u = helper.ctl.acquire();
		efd_signal(u.fd()); // none: the helper looks every millisecond
	}
}

bool helper_running() { return helper.running.load(std::memory_order_acquire); }

// Waits until the helper is out of any ppoll it entered before now (it may
// hold a file the caller is closing).
void helper_wait_poll_leaves()
{
	if (tls_is_helper || !helper.started)
		return;
	// The caller's stores (a slot disarmed, a file marked dead) came
	// before: join() orders them with the helper's next copy.
	uint32_t seq = helper.gate.join();
	if (!seq)
		return;
	bool kicked;
	{
		internal_fd_use u = helper.ctl.acquire();
		kicked = u.fd() >= 0 && efd_signal(u.fd());
	}
	if (kicked)
		helper.gate.wait_out(seq);
	else
		// No control fd (it looks every millisecond), or one closed behind
		// our back while it polls it: it cannot be kicked.  Not unbounded.
		helper.gate.wait_out_bounded(seq, POLLER_DEAF_BOUND_NS);
}

void helper_fork_prepare() { helper.lock.lock(); }
void helper_fork_parent() { helper.lock.unlock(); }

// The child has no helper thread; it starts one when it needs one.
void helper_fork_child()
{
	helper.lock.reset();
	helper.ctl.destroy();
	helper.started = false;
	helper.running.store(false);
	helper.kick_pending.store(false);
	helper.gate.reset();
}

void helper_stats(uint64_t *wakeups, uint64_t *polls)
{
	*wakeups = helper.wakeups.load();
	*polls = helper.polls.load();
}

} // namespace uepoll::core
