// core/fork.cpp - the fork handlers: every lock taken before fork(), the
// child's copy rebuilt (one thread, no helper, no shard poller, no waiter,
// eventfds of its own).  No kernel twin: a forked process gets its own files from
// dup_fd(), while ours share the parent's eventfds until replaced here.
#include <fcntl.h>
#include <sched.h>
#include <sys/eventfd.h>

#include "core/internal.hpp"

namespace uepoll::core {

void efd_reopen(int fd, int efd_flags, bool cloexec)
{
	long nfd = g_sys->eventfd(0, efd_flags);
	if (nfd >= 0) {
		g_sys->dup3(static_cast<int>(nfd), fd, cloexec ? O_CLOEXEC : 0);
		g_sys->close(static_cast<int>(nfd));
	}
}

std::atomic<bool> any_read_kept{false};

// Every instance's ep->mtx, all_lock and epnested_mutex.  Try-locks in a
// retry loop, because the list order is not the nesting order
// ep_send_events() takes ep->mtx in.
static void lock_all_instances()
{
	epnested_mutex.lock();
	for (;;) {
		all_lock.lock();
		bool ok = true;
		eventpoll_list::iterator failed = all_eps_list().end();
		for (auto it = all_eps_list().begin(); it != all_eps_list().end(); ++it) {
			if (!it->mtx.try_lock()) {
				ok = false;
				failed = it;
				break;
			}
		}
		if (ok)
			break;
		for (auto it = all_eps_list().begin(); it != failed; ++it)
			it->mtx.unlock();
		all_lock.unlock();
		sched_yield();
	}
}

static void unlock_all_instances()
{
	for (eventpoll &ep : all_eps_list())
		ep.mtx.unlock();
	all_lock.unlock();
	epnested_mutex.unlock();
}

// The items whose read side a partial read left suppressed because every
// writer of their pair was in this process (epitem::et_read_kept) poll
// their read side again: from now on a writer may be elsewhere, and its
// data would come with no hook to tell us.  The remainder is then
// reported once more (deviation 1), never lost.  Every ep->mtx held.
static void unkeep_all_locked()
{
	for (eventpoll &ep : all_eps_list()) {
		for (epitem &epi : ep.rbr) {
			std::lock_guard g(ep.lock);
			if (!epi.et_read_kept)
				continue;
			epi.et_suppress(EP_READ_SIDE, false);
			ep_slot_update(&ep, &epi);
		}
	}
}

void ep_files_may_escape()
{
	// Bumped first: a read hook that keeps an item after this sees the
	// new epoch and undoes it (core/io_hints.cpp), one before is walked.
	escape_epoch_bump();
	// From a signal handler that interrupted one of our locked sections
	// only the epoch can move (a documented hole: SCM_RIGHTS sent there).
	if (!any_read_kept.load(std::memory_order_seq_cst) || in_locked_section())
		return;
	lock_all_instances();
	unkeep_all_locked();
	unlock_all_instances();
}

// Before fork(): take every instance's locks so the child inherits
// consistent structures.
void ep_fork_prepare()
{
	lock_all_instances();
	// The child keeps a copy of every fd: each pair may now have a writer
	// outside this process (and, in the child, one in the parent).
	escape_epoch_bump();
	if (any_read_kept.load(std::memory_order_seq_cst))
		unkeep_all_locked();
	helper_fork_prepare();
	internal_fds_fork_prepare();
	tiers_fork_prepare();
}

void ep_fork_parent()
{
	internal_fds_fork_parent();
	tiers_fork_parent();
	helper_fork_parent();
	for (eventpoll &ep : all_eps_list())
		ep.mtx.unlock();
	all_lock.unlock();
	epnested_mutex.unlock();
}

// In the child: one thread, no helper, no waiter.  Every instance gets its
// own eventfd (the parent's is shared with us by fork) on the same number.
void ep_fork_child()
{
	epfile_fork_child();
	internal_fds_fork_child(tls_wake_entry());
	helper_fork_child();
	tls_fork_child();
	wait_cancel_fork_child();
	for (eventpoll &ep : all_eps_list()) {
		ep.lock.reset();
		ep.wq.clear();
		ep.leader = nullptr;
		ep.leader_gate.reset();
		int fd = ep.file->poll_fd;
		if (fd >= 0) {
			long cloexec = g_sys->fcntl(fd, F_GETFD, 0);
			efd_reopen(fd, EFD_CLOEXEC, cloexec > 0 && (cloexec & FD_CLOEXEC));
			std::lock_guard g(ep.lock); // reset above: ours at once
			ep.efd_set = false;
			ep_sync_efd(&ep);
		}
	}
	// No poller thread either: the cold items are hot again (with every
	// ep->mtx still held, as the demotions that made them cold were).
	tiers_fork_child();
	for (eventpoll &ep : all_eps_list())
		ep.mtx.reset();
	all_lock.reset();
	epnested_mutex.reset();
	// The locks were reset rather than released: fix the depth we took.
	tls_lock_depth = 0;
	for (eventpoll &ep : all_eps_list())
		if (ep.observed) {
			helper_start();
			break;
		}
}

} // namespace uepoll::core
