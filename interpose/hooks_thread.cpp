// interpose/hooks_thread.cpp - pthread_cancel, so that a thread blocked in
// a uepoll wait is cancelled as one blocked in glibc's.
//
// glibc's epoll_wait and its siblings are cancellation points: glibc turns
// on asynchronous cancellation around the system call and SIGCANCEL ends
// it.  A uepoll waiter blocks in a raw ppoll instead, holding an
// instance's leader slot or its place in the wait queue, and must leave
// them before it unwinds.  So the cancel also reaches it as a wake-up:
// glibc's pthread_cancel marks the cancel pending (for a deferred target it
// sends nothing), then core::wait_cancel_wake() writes the target's
// wake-up eventfd; the wait leaves the instance and acts on the cancel in
// its outermost frame (core/wait_cancel.cpp).
#include <cerrno>

#include "core/eventpoll.hpp"
#include "interpose/api.hpp"
#include "interpose/hooks.hpp"

namespace uepoll::api {

using namespace uepoll::interpose;

int pthread_cancel(pthread_t thread)
{
	if (!next_resolve() || !real.pthread_cancel)
		return ENOSYS; // only while dlsym itself runs
	int r = real.pthread_cancel(thread); // a self-cancel of asynchronous type ends here
	if (r == 0)
		core::wait_cancel_wake(thread);
	return r;
}

} // namespace uepoll::api
