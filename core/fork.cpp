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

// Before fork(): take every instance's locks so the child inherits
// consistent structures.  Try-locks in a retry loop, because the list
// order is not the nesting order ep_send_events() takes ep->mtx in.
void ep_fork_prepare()
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
