// interpose/hooks_sandbox.cpp - seccomp filters the program installs
// itself.  A filter that goes in after start-up (prctl(PR_SET_SECCOMP), or
// seccomp(2) by number, as libseccomp's seccomp_load() makes it) may
// refuse a call uepoll relies on, or kill the process for it (systemd's
// default action, a hand-written filter's SECCOMP_RET_KILL): after each
// filter installed, the calls are tried again in a child process
// (sys_raw_probe(), interpose/sys_raw.cpp), so that the next one we make
// ourselves is one the filter allows, or we take its fallback.
#include <cerrno>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "interpose/api.hpp"
#include "interpose/hooks.hpp"
#include "interpose/init.hpp"
#include "interpose/next.hpp"
#include "interpose/sys.hpp"

namespace uepoll::interpose {

// After a call that may have installed a filter returned r.
static void filter_installed(long r)
{
	if (r < 0)
		return;
	errno_guard keep;
	sys_raw_probe();
}

} // namespace uepoll::interpose

namespace uepoll::api {

using namespace uepoll::interpose;

int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, prctl, SYS_prctl, option, a2, a3, a4, a5);
	if (option == PR_SET_SECCOMP && a2 == SECCOMP_MODE_FILTER)
		filter_installed(r);
	return r;
}

long seccomp(unsigned op, unsigned flags, void *args)
{
	ensure_init();
	long r = errno_ret<long>(raw_syscall(SYS_seccomp, op, flags, reinterpret_cast<long>(args)));
	if (op == SECCOMP_SET_MODE_FILTER)
		filter_installed(r);
	return r;
}

} // namespace uepoll::api
