// interpose/next.cpp - resolving the next definitions (libfaketime's
// ftpl_really_init, epoll-shim's wrap.c).
#include "interpose/next.hpp"

#include <atomic>
#include <dlfcn.h>

namespace uepoll::interpose {

next_table real;

namespace {
std::atomic<int> state{0}; // 0 not yet, 1 in progress, 2 done
thread_local bool resolving;
} // namespace

bool next_resolve()
{
	if (state.load(std::memory_order_acquire) == 2)
		return true;
	if (resolving)
		return false; // dlsym called back into us
	int expected = 0;
	if (!state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
		// Another thread resolves: wait for it (dlsym is quick).
		while (state.load(std::memory_order_acquire) != 2)
			__builtin_ia32_pause();
		return true;
	}
	resolving = true;
	next_table t{};
#define UEPOLL_NEXT_RESOLVE(ret, name, args) t.name = reinterpret_cast<ret(*) args>(dlsym(RTLD_NEXT, #name));
	UEPOLL_NEXT_LIST(UEPOLL_NEXT_RESOLVE)
#undef UEPOLL_NEXT_RESOLVE
	real = t;
	resolving = false;
	state.store(2, std::memory_order_release);
	return true;
}

} // namespace uepoll::interpose
