// interpose/hooks_signal.cpp - the program's signal handlers, wrapped so
// that none of them runs while its thread holds a uepoll lock.
//
// Natively every epoll call is one system call, and a signal is delivered
// after it, never inside it: a handler may call epoll_ctl or epoll_wait on
// the very instance the interrupted code was using.  Ours are user code
// that takes locks (ep->mtx across a zero-timeout poll, the spinlocks of
// the wake-up path): a handler that needs the lock its own thread holds
// would wait forever.  So each handler the program installs through
// sigaction()/signal() is installed behind wrapped_handler(): outside
// uepoll's locks it calls the program's handler at once (one thread-local
// load); inside one it queues the signal again to its own thread
// (rt_tgsigqueueinfo, with the same siginfo), blocks it in the interrupted
// context's mask and asks the core to unblock it when the thread leaves its
// last lock (core::defer_signal): it is then delivered, a few instructions
// later, as the kernel would deliver it after the system call.
//
// Synchronous signals (a fault in our own code) are never deferred: the
// faulting instruction would only run again.  Handlers installed before
// the shim was loaded, or by a raw rt_sigaction, are not wrapped.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/eventpoll.hpp"
#include "interpose/api.hpp"
#include "interpose/hooks.hpp"

namespace uepoll::interpose {

namespace {

// What the program asked for, per signal: its handler and its flags (the
// kernel holds the rest: the mask, and our wrapper with SA_SIGINFO added).
struct program_action {
	std::atomic<void *> handler{nullptr};
	std::atomic<int> flags{0};
};
program_action actions[_NSIG];

bool synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS;
}

void wrapped_handler(int sig, siginfo_t *info, void *uctx)
{
	void *h = actions[sig].handler.load(std::memory_order_acquire);
	int flags = actions[sig].flags.load(std::memory_order_relaxed);
	if (core::in_locked_section() && !synchronous(sig)) {
		long me = raw_syscall(SYS_getpid), tid = raw_syscall(SYS_gettid);
		if (raw_syscall(SYS_rt_tgsigqueueinfo, me, tid, sig, reinterpret_cast<long>(info)) == 0) {
			sigaddset(&static_cast<ucontext_t *>(uctx)->uc_sigmask, sig);
			if (flags & SA_RESETHAND) {
				// This delivery reset the disposition: the program's
				// one-shot handler has not run yet, so put it back.
				struct sigaction again{};
				again.sa_sigaction = wrapped_handler;
				again.sa_flags = flags | SA_SIGINFO;
				sigemptyset(&again.sa_mask);
				if (real.sigaction)
					real.sigaction(sig, &again, nullptr);
			}
			core::defer_signal(sig);
			return;
		}
		// Could not queue it again: run it now, as before this wrapper.
	}
	if (flags & SA_RESETHAND)
		actions[sig].handler.store(reinterpret_cast<void *>(SIG_DFL), std::memory_order_release);
	if (flags & SA_SIGINFO)
		reinterpret_cast<void (*)(int, siginfo_t *, void *)>(h)(sig, info, uctx);
	else
		reinterpret_cast<void (*)(int)>(h)(sig);
}

// A handler (not SIG_DFL, not SIG_IGN) for a signal that can have one.
// sa_handler and sa_sigaction share their storage.
bool wraps(int sig, const struct sigaction *act)
{
	return act && sig != SIGKILL && sig != SIGSTOP && act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN;
}

// The kernel reports our wrapper where the program's handler is: show the
// program what it installed.
void unwrap(struct sigaction *old, void *prev_handler, int prev_flags)
{
	if (!old || reinterpret_cast<void *>(old->sa_sigaction) != reinterpret_cast<void *>(wrapped_handler))
		return;
	old->sa_flags = prev_flags;
	if (prev_flags & SA_SIGINFO)
		old->sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t *, void *)>(prev_handler);
	else
		old->sa_handler = reinterpret_cast<sighandler_t>(prev_handler);
}

} // namespace

} // namespace uepoll::interpose

namespace uepoll::api {

using namespace uepoll::interpose;

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!next_resolve() || !real.sigaction)
		return errno_ret(-ENOSYS); // only while dlsym itself runs
	if (sig <= 0 || sig >= _NSIG)
		return real.sigaction(sig, act, old);
	void *prev_handler = actions[sig].handler.load(std::memory_order_acquire);
	int prev_flags = actions[sig].flags.load(std::memory_order_relaxed);
	int r;
	if (wraps(sig, act)) {
		// The program's handler is in place before the wrapper can run.
		actions[sig].flags.store(act->sa_flags, std::memory_order_relaxed);
		actions[sig].handler.store(act->sa_flags & SA_SIGINFO ? reinterpret_cast<void *>(act->sa_sigaction)
								      : reinterpret_cast<void *>(act->sa_handler),
					   std::memory_order_release);
		struct sigaction k = *act;
		k.sa_sigaction = wrapped_handler;
		k.sa_flags |= SA_SIGINFO;
		r = real.sigaction(sig, &k, old);
	} else {
		r = real.sigaction(sig, act, old);
	}
	if (r == 0)
		unwrap(old, prev_handler, prev_flags);
	return r;
}

// glibc's signal(): BSD semantics (SA_RESTART, the signal blocked in its
// handler); sysv_signal(): one-shot, not blocked (SA_RESETHAND|SA_NODEFER).
static sighandler_t signal_with(int sig, sighandler_t handler, int flags)
{
	struct sigaction act{}, old{};
	act.sa_handler = handler;
	act.sa_flags = flags;
	sigemptyset(&act.sa_mask);
	if (!(flags & SA_NODEFER) && sig > 0 && sig < _NSIG)
		sigaddset(&act.sa_mask, sig);
	if (api::sigaction(sig, &act, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

sighandler_t signal(int sig, sighandler_t handler) { return signal_with(sig, handler, SA_RESTART); }

sighandler_t sysv_signal(int sig, sighandler_t handler)
{
	return signal_with(sig, handler, SA_RESETHAND | SA_NODEFER);
}

} // namespace uepoll::api
