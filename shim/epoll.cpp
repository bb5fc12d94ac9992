// shim/epoll.cpp - the epoll entry points: route each call to the core (our
// fake epoll fds, and fds that are no epoll at all, so the errno is the
// kernel's) or to the next definition (a native epoll fd made before we
// were loaded), and keep errno untouched on success.
#include <cerrno>
#include <sys/syscall.h>

#include "core/eventpoll.hpp"
#include "interpose/hooks.hpp"
#include "shim/api.hpp"
#include "shim/config.hpp"
#include "shim/log.hpp"

namespace uepoll::shim {

using namespace uepoll::interpose;

// Shim start-up beyond interpose's: settings, crash reporter, stats.
static void shim_init()
{
	static std::atomic<bool> done{false};
	if (done.exchange(true))
		return;
	ensure_init();
	install_crash_reporter();
	core::tiers_configure(cfg().tiers, cfg().tiers_demote_after);
	if (cfg().stats)
		atexit([] {
			core::core_stats s = core::stats();
			log(log_level::error,
			    "stats: instances=%lu items=%lu waits=%lu sync_polls=%lu callbacks=%lu helper_wakeups=%lu "
			    "helper_polled_fds=%lu demotions=%lu promotions=%lu cold=%lu pollers=%lu poller_wakeups=%lu "
			    "poller_polled_fds=%lu",
			    s.instances, s.items, s.waits, s.sync_polls, s.callbacks, s.helper_wakeups, s.helper_polls,
			    s.demotions, s.promotions, s.cold, s.pollers, s.poller_wakeups, s.poller_polls);
		});
	log(log_level::info, "loaded: epoll calls are answered in user space");
	// A sandbox that refuses a call we rely on: say which, and what we use
	// instead (interpose/sys.hpp).
	unsigned refused = sys_raw_refused();
	if (refused & SYS_REFUSED_KCMP)
		log(log_level::info, "kcmp is refused: file identity from (dev, ino, open flags, eventfd id)");
	if (refused & SYS_REFUSED_PROCESS_VM)
		log(log_level::info, "process_vm_readv/writev are refused: user copies through /proc/self/mem");
	if (refused & SYS_REFUSED_TIMERFD_GETTIME)
		log(log_level::info, "timerfd_gettime is refused: anon-inode files are named through /proc/self/fd");
}

// Is epfd a native epoll fd (one the kernel made, not us)?
static bool is_native_epoll(int fd) { return fdt_kind(fd) == core::file_kind::native_epoll; }

// Marks fd observed if it is one of ours (a native epoll is adding it).
static void observe_if_ours(int fd)
{
	long err;
	if (core::epfile *f = fdt_get(fd, &err)) {
		if (f->kind == core::file_kind::epoll)
			core::ep_eventpoll_poll_observe(f);
		core::epfile_put(f);
	}
}

// Around a wait of the core: glibc's three waits are cancellation points
// (SYSCALL_CANCEL), the same system calls made through syscall() are not
// (core/wait_cancel.cpp).  The frames above wait_cancel_exit() are the ones
// a cancel unwinds: nothing in them has a destructor.
template <typename Wait> static int cancellable_wait(bool cancel_point, Wait wait)
{
	int type = core::wait_cancel_enter(cancel_point);
	return core::wait_cancel_exit(wait(), type);
}

} // namespace uepoll::shim

namespace uepoll::api {

using namespace uepoll::interpose;
using namespace uepoll::shim;

int epoll_create(int size)
{
	shim_init();
	if (cfg().disable)
		return UEPOLL_CALL_NEXT(int, epoll_create, SYS_epoll_create, size);
	errno_keeper e;
	if (size <= 0)
		return e.ret(-EINVAL);
	return e.ret(core::do_epoll_create(0));
}

int epoll_create1(int flags)
{
	shim_init();
	if (cfg().disable)
		return UEPOLL_CALL_NEXT(int, epoll_create1, SYS_epoll_create1, flags);
	errno_keeper e;
	return e.ret(core::do_epoll_create(flags));
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	shim_init();
	if (cfg().disable || is_native_epoll(epfd)) {
		observe_if_ours(fd);
		return UEPOLL_CALL_NEXT(int, epoll_ctl, SYS_epoll_ctl, epfd, op, fd, event);
	}
	errno_keeper e;
	long r = core::do_epoll_ctl(epfd, op, fd, event);
	if (cfg().trace_ctl) {
		log(log_level::error, "epoll_ctl(%d, %s, %d, events=0x%x) = %ld", epfd,
		    op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_MOD ? "MOD" : op == EPOLL_CTL_DEL ? "DEL" : "?", fd,
		    event && op != EPOLL_CTL_DEL && r != -EFAULT ? event->events : 0u, r);
		log_backtrace(log_level::error, 1);
	}
	return e.ret(r);
}

static int epoll_wait_as(int epfd, struct epoll_event *events, int maxevents, int timeout, bool cancel_point)
{
	shim_init();
	if (cfg().disable || is_native_epoll(epfd))
		return UEPOLL_CALL_NEXT(int, epoll_wait, SYS_epoll_wait, epfd, events, maxevents, timeout);
	errno_keeper e;
	return e.ret(cancellable_wait(cancel_point,
				      [&] { return core::sys_epoll_wait(epfd, events, maxevents, timeout); }));
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	return epoll_wait_as(epfd, events, maxevents, timeout, true);
}

int epoll_wait_syscall(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	return epoll_wait_as(epfd, events, maxevents, timeout, false);
}

static int epoll_pwait_as(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask,
			  size_t sigsetsize, bool cancel_point)
{
	shim_init();
	// libc's function passes the kernel's size: another goes to the kernel.
	if ((cfg().disable || is_native_epoll(epfd)) && sigsetsize != core::KERNEL_SIGSET_SIZE)
		return errno_ret(raw_syscall_args(SYS_epoll_pwait, epfd, events, maxevents, timeout, sigmask, sigsetsize));
	if (cfg().disable || is_native_epoll(epfd))
		return UEPOLL_CALL_NEXT_RAW(int, epoll_pwait,
					    (SYS_epoll_pwait, epfd, events, maxevents, timeout, sigmask, sigsetsize), epfd,
					    events, maxevents, timeout, sigmask);
	errno_keeper e;
	return e.ret(cancellable_wait(cancel_point, [&] {
		return core::sys_epoll_pwait(epfd, events, maxevents, timeout, sigmask, sigsetsize);
	}));
}

int epoll_pwait_sized(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask,
		      size_t sigsetsize)
{
	return epoll_pwait_as(epfd, events, maxevents, timeout, sigmask, sigsetsize, false);
}

static int epoll_pwait2_as(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
			   const sigset_t *sigmask, size_t sigsetsize, bool cancel_point)
{
	shim_init();
	// libc's function passes the kernel's size: another goes to the kernel.
	if ((cfg().disable || is_native_epoll(epfd)) && sigsetsize != core::KERNEL_SIGSET_SIZE)
		return errno_ret(raw_syscall_args(SYS_epoll_pwait2, epfd, events, maxevents, timeout, sigmask, sigsetsize));
	if (cfg().disable || is_native_epoll(epfd))
		return UEPOLL_CALL_NEXT_RAW(int, epoll_pwait2,
					    (SYS_epoll_pwait2, epfd, events, maxevents, timeout, sigmask, sigsetsize),
					    epfd, events, maxevents, timeout, sigmask);
	errno_keeper e;
	return e.ret(cancellable_wait(cancel_point, [&] {
		return core::sys_epoll_pwait2(epfd, events, maxevents, timeout, sigmask, sigsetsize);
	}));
}

int epoll_pwait2_sized(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
		       const sigset_t *sigmask, size_t sigsetsize)
{
	return epoll_pwait2_as(epfd, events, maxevents, timeout, sigmask, sigsetsize, false);
}

// glibc's epoll_pwait/epoll_pwait2 pass the kernel's sigset size, and are
// cancellation points.
int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask)
{
	return epoll_pwait_as(epfd, events, maxevents, timeout, sigmask, core::KERNEL_SIGSET_SIZE, true);
}

int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
		 const sigset_t *sigmask)
{
	return epoll_pwait2_as(epfd, events, maxevents, timeout, sigmask, core::KERNEL_SIGSET_SIZE, true);
}

} // namespace uepoll::api

namespace uepoll::api {

void settle_pollers() { core::tiers_settle(); }

} // namespace uepoll::api
