// interpose/init.cpp - start-up of the interposition layer: the fd table,
// the core, the fork handlers.  Lazy, so it works from any first call:
// another library's constructor, a call before ours ran, a forked child.
#include <atomic>
#include <pthread.h>

#include "core/eventpoll.hpp"
#include "interpose/hooks.hpp"
#include "interpose/sys.hpp"

namespace uepoll::interpose {

namespace {
std::atomic<int> init_state{0}; // 0 not yet, 1 in progress, 2 done

void fork_prepare() { core::ep_fork_prepare(); }
void fork_parent() { core::ep_fork_parent(); }
void fork_child() { core::ep_fork_child(); }
} // namespace

void ensure_init()
{
	if (init_state.load(std::memory_order_acquire) == 2)
		return;
	int expected = 0;
	if (!init_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
		while (init_state.load(std::memory_order_acquire) != 2)
			__builtin_ia32_pause();
		return;
	}
	// Top-down: the fd table learns the kernel calls, then the core gets
	// both tables.
	// What a sandbox refuses, before our first call that it could refuse
	// by killing the process (interpose/sys_raw.cpp).
	sys_raw_probe();
	fdtable_init(&sys_raw());
	core::core_init(&sys_raw(), &fdtable_ops());
	// A forked child gets a working copy of every instance (fork() handlers
	// run for fork() and for the fork inside system()/popen()).
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	init_state.store(2, std::memory_order_release);
}

} // namespace uepoll::interpose
