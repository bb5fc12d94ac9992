// shim/epoll.cpp - the epoll entry points: route each call to the core (our
// fake epoll fds, and fds that are no epoll at all, so the errno is the
// kernel's) or to the next definition (a native epoll fd made before we
// were loaded), and keep errno untouched on success.
#include <cerrno>
#include <climits>
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
	if (cfg().stats)
		atexit([] {
			core::core_stats s = core::stats();
			log(log_level::error,
			    "stats: instances=%lu items=%lu waits=%lu sync_polls=%lu callbacks=%lu helper_wakeups=%lu "
			    "helper_polled_fds=%lu",
			    s.instances, s.items, s.waits, s.sync_polls, s.callbacks, s.helper_wakeups, s.helper_polls);
		});
	log(log_level::info, "loaded: epoll calls are answered in user space");
}

// Is epfd a native epoll fd (one the kernel made, not us)?
static bool is_native_epoll(int fd)
{
	if (core::epfile *known = fdt_file(fdt_peek(fd)))
		return known->kind == core::file_kind::native_epoll; // one load, the usual case
	long err;
	core::epfile *f = fdt_get(fd, &err);
	if (!f)
		return false;
	bool native = f->kind == core::file_kind::native_epoll;
	core::epfile_put(f);
	return native;
}

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

static int ret_keep_errno(int saved, long r)
{
	if (r < 0) {
		errno = static_cast<int>(-r);
		return -1;
	}
	errno = saved;
	return static_cast<int>(r);
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
	int saved = errno;
	if (size <= 0)
		return ret_keep_errno(saved, -EINVAL);
	return ret_keep_errno(saved, core::do_epoll_create(0));
}

int epoll_create1(int flags)
{
	shim_init();
	if (cfg().disable)
		return UEPOLL_CALL_NEXT(int, epoll_create1, SYS_epoll_create1, flags);
	int saved = errno;
	return ret_keep_errno(saved, core::do_epoll_create(flags));
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	shim_init();
	if (cfg().disable || is_native_epoll(epfd)) {
		observe_if_ours(fd);
		return UEPOLL_CALL_NEXT(int, epoll_ctl, SYS_epoll_ctl, epfd, op, fd, event);
	}
	int saved = errno;
	long r = core::do_epoll_ctl(epfd, op, fd, event);
	if (cfg().trace_ctl) {
		log(log_level::error, "epoll_ctl(%d, %s, %d, events=0x%x) = %ld", epfd,
		    op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_MOD ? "MOD" : op == EPOLL_CTL_DEL ? "DEL" : "?", fd,
		    event && op != EPOLL_CTL_DEL && r != -EFAULT ? event->events : 0u, r);
		log_backtrace(log_level::error, 1);
	}
	return ret_keep_errno(saved, r);
}

// The common tail of the three waits.  ns < 0: forever.
static int wait_common(int epfd, struct epoll_event *events, int maxevents, int64_t ns, const sigset_t *mask)
{
	int saved = errno;
	return ret_keep_errno(saved, core::do_epoll_wait(epfd, events, maxevents, ns, mask));
}

// Copies the caller's signal mask, as the kernel's set_user_sigmask does.
static long copy_sigmask(const sigset_t *umask, sigset_t *kmask)
{
	if (!umask)
		return 0;
	sigemptyset(kmask);
	return core::sys().copy_from_user(kmask, umask, 8) == 8 ? 1 : -EFAULT;
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	shim_init();
	if (cfg().disable || is_native_epoll(epfd))
		return UEPOLL_CALL_NEXT(int, epoll_wait, SYS_epoll_wait, epfd, events, maxevents, timeout);
	return wait_common(epfd, events, maxevents, timeout < 0 ? -1 : int64_t(timeout) * 1000000, nullptr);
}

int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *sigmask)
{
	shim_init();
	if (cfg().disable || is_native_epoll(epfd))
		return next_resolve() && real.epoll_pwait
			       ? real.epoll_pwait(epfd, events, maxevents, timeout, sigmask)
			       : errno_ret(raw_syscall(SYS_epoll_pwait, epfd, reinterpret_cast<long>(events), maxevents,
						       timeout, reinterpret_cast<long>(sigmask), 8));
	sigset_t k;
	long m = copy_sigmask(sigmask, &k);
	if (m < 0)
		return errno_ret(m);
	return wait_common(epfd, events, maxevents, timeout < 0 ? -1 : int64_t(timeout) * 1000000, m ? &k : nullptr);
}

int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
		 const sigset_t *sigmask)
{
	shim_init();
	if (cfg().disable || is_native_epoll(epfd))
		return next_resolve() && real.epoll_pwait2
			       ? real.epoll_pwait2(epfd, events, maxevents, timeout, sigmask)
			       : errno_ret(raw_syscall(SYS_epoll_pwait2, epfd, reinterpret_cast<long>(events), maxevents,
						       reinterpret_cast<long>(timeout), reinterpret_cast<long>(sigmask), 8));
	int64_t ns = -1;
	if (timeout) {
		struct timespec ts;
		if (core::sys().copy_from_user(&ts, timeout, sizeof ts) != sizeof ts)
			return errno_ret(-EFAULT);
		if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
			return errno_ret(-EINVAL);
		ns = ts.tv_sec > (INT64_MAX - ts.tv_nsec) / 1000000000 ? -1 : ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	sigset_t k;
	long m = copy_sigmask(sigmask, &k);
	if (m < 0)
		return errno_ret(m);
	return wait_common(epfd, events, maxevents, ns, m ? &k : nullptr);
}

} // namespace uepoll::api
