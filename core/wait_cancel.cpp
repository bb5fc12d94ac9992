// core/wait_cancel.cpp - pthread_cancel of a thread blocked in a wait.  No
// kernel twin: natively glibc's wait is a cancellation point because it
// makes the system call with asynchronous cancellation on, and SIGCANCEL
// interrupts it; a blocked uepoll waiter sits in a raw ppoll instead, with
// an instance's state in its hands (ep->leader, its place in ep->wq), and
// an unwind from there would skip uepoll's frames (b91421e).
//
// So a cancel reaches the waiter as a wake-up: the pthread_cancel hook
// (interpose/hooks_thread.cpp) calls glibc's, which marks the cancel
// pending, then wait_cancel_wake() sets the target's `requested` and writes
// the wake-up eventfd of the ppoll it blocks in, if any.  The waiter leaves
// the instance as after any wake-up (ep_poll, core/wait.cpp), returns
// EP_WAIT_CANCELLED instead of looping, and wait_cancel_exit() acts on the
// cancel (pthread_testcancel) in the outermost frame, where it holds no
// lock, no waiter, no file reference: the unwind only crosses the wait's
// own frames, none with a destructor.
//
// Whether a wait acts on a cancel: glibc's epoll_wait, epoll_pwait and
// epoll_pwait2 are cancellation points, syscall() is not; a thread with
// cancellation disabled keeps waiting (with its remaining timeout), as
// natively.  A thread of asynchronous type is switched to deferred for the
// wait: an asynchronous cancel landing while it holds a uepoll lock would
// unwind past that lock.  Its type is put back at the exit, which acts on
// a cancel that came meanwhile (pthread_setcanceltype does), so it is
// cancelled in the wait, as natively, but only once the wait holds nothing.
//
// The registry maps pthread_t to a thread's wait state.  A thread enters it
// at its first wait (before that wait's own cancellation point, so that a
// cancel is either seen there or finds the thread registered) and leaves it
// at exit, under registry_lock, before its wake-up eventfd is closed
// (core/deferred.cpp): a pthread_cancel racing the exit never writes a
// closed or reused fd.  The lock is a leaf (core/eventpoll.cpp, LOCKING).
#include <pthread.h>

#include "core/internal.hpp"

namespace uepoll::core {

namespace {

// What a pthread_cancel of a thread needs.  Trivially destructible: its
// storage lives as long as the thread, after every thread_local destructor
// (unregister_at_exit below removes it from the registry).
struct cancel_target {
	cancel_target *prev = nullptr, *next = nullptr; // the registry, under registry_lock
	pthread_t thread{};
	bool registered = false; // this thread only (and the lock holder reads it)
	bool exited = false;     // this thread only: past its thread_local destructors
	// pthread_cancel was called on this thread (glibc's cancel is pending:
	// sticky, as glibc's CANCELED bit).
	std::atomic<bool> requested{false};
	// The wake-up eventfd of the ppoll this thread blocks in, or -1.  With
	// `requested`, a Dekker pair: the waiter stores this and loads
	// `requested`, the canceller stores `requested` and loads this; one of
	// the two sees the other's store.
	std::atomic<int> blocked_fd{-1};
	// This thread only: the current wait acts on a cancel (it is a
	// cancellation point, or the thread's type was asynchronous) ...
	bool acts = false;
	// ... and acts on it with pthread_testcancel (a cancellation point).
	bool cancel_point = false;
};

spinlock registry_lock;
cancel_target *registry_head; // every registered thread

constinit thread_local cancel_target tls_target;

void registry_link(cancel_target *t)
{
	t->prev = nullptr;
	t->next = registry_head;
	if (registry_head)
		registry_head->prev = t;
	registry_head = t;
}

void registry_unlink(cancel_target *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		registry_head = t->next;
	if (t->next)
		t->next->prev = t->prev;
}

// A thread that never blocked has no wake-up eventfd, whose holder would
// unregister it (core/deferred.cpp): this does, at its exit.
struct unregister_at_exit {
	bool armed = false;
	~unregister_at_exit() { wait_cancel_thread_exit(); }
};
thread_local unregister_at_exit tls_unregister;

// Is cancellation enabled on this thread?  Asked only with the type
// deferred (wait_cancel_enter): turning it back on then never acts.
bool cancel_enabled()
{
	int state;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	if (state == PTHREAD_CANCEL_ENABLE)
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);
	return state == PTHREAD_CANCEL_ENABLE;
}

// This wait has a cancel to act on now.
bool cancel_due(const cancel_target &t)
{
	return t.acts && t.requested.load(std::memory_order_seq_cst) && cancel_enabled();
}

} // namespace

int wait_cancel_enter(bool cancel_point)
{
	int type;
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);
	cancel_target &t = tls_target;
	if (!t.registered && !t.exited) {
		tls_unregister.armed = true; // its destructor now runs at exit
		t.thread = pthread_self();
		std::lock_guard g(registry_lock);
		registry_link(&t);
		t.registered = true;
	}
	t.cancel_point = cancel_point;
	t.acts = cancel_point || type == PTHREAD_CANCEL_ASYNCHRONOUS;
	// glibc's wait acts on a pending cancel before its system call; here
	// nothing of an instance is held yet.
	if (cancel_point)
		pthread_testcancel();
	return type;
}

int wait_cancel_exit(int r, int type)
{
	cancel_target &t = tls_target;
	bool cancel_point = t.cancel_point;
	t.acts = t.cancel_point = false;
	t.blocked_fd.store(-1, std::memory_order_relaxed); // also after a wait that did not block after all
	if (r == EP_WAIT_CANCELLED) {
		// The wait has left its instance: nothing of uepoll's is held.
		if (cancel_point)
			pthread_testcancel();
		// Not acted on (only a signal handler can have turned cancellation
		// off since ep_poll saw it on): the wait was interrupted by it.
		r = -EINTR;
	}
	if (type == PTHREAD_CANCEL_ASYNCHRONOUS)
		pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, nullptr); // acts on a pending cancel
	return r;
}

bool wait_cancel_arm(int wake_fd)
{
	cancel_target &t = tls_target;
	if (!t.acts)
		return false; // nothing could make it leave: no need to be woken
	t.blocked_fd.store(wake_fd, std::memory_order_seq_cst);
	if (!cancel_due(t))
		return false;
	t.blocked_fd.store(-1, std::memory_order_relaxed);
	return true;
}

bool wait_cancel_disarm()
{
	cancel_target &t = tls_target;
	if (!t.acts)
		return false;
	int fd = t.blocked_fd.exchange(-1, std::memory_order_seq_cst);
	if (!t.requested.load(std::memory_order_seq_cst))
		return false;
	// The canceller's write, if ppoll returned before it: a later wait
	// must not see it as a wake-up.  We are on no wait queue, so nobody
	// else writes this fd now.
	if (fd >= 0)
		efd_drain(fd);
	return cancel_due(t);
}

void wait_cancel_wake(pthread_t thread)
{
	std::lock_guard g(registry_lock);
	for (cancel_target *t = registry_head; t; t = t->next) {
		if (!pthread_equal(t->thread, thread))
			continue;
		t->requested.store(true, std::memory_order_seq_cst);
		// The fd stays open while we hold the lock: the thread closes it
		// only after leaving the registry.
		efd_signal(t->blocked_fd.load(std::memory_order_seq_cst));
		return;
	}
}

void wait_cancel_thread_exit()
{
	cancel_target &t = tls_target;
	if (t.registered) {
		std::lock_guard g(registry_lock);
		registry_unlink(&t);
		t.registered = false;
	}
	t.exited = true;
}

// In the child of fork(): the only thread.  The other threads' entries are
// copies of dead threads' storage: drop them without touching them.
void wait_cancel_fork_child()
{
	registry_lock.reset();
	registry_head = nullptr;
	cancel_target &t = tls_target;
	if (t.registered)
		registry_link(&t);
}

} // namespace uepoll::core
