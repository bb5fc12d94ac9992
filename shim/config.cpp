// shim/config.cpp - the one table of UEPOLL_* variables.
#include "shim/config.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/eventpoll.hpp"
#include "interpose/init.hpp"
#include "interpose/raw.hpp"

namespace uepoll::shim {

namespace {
config the_config;
char log_path[4096];
core::internal_fd log_file_fd(log_path, O_WRONLY | O_APPEND);
std::atomic<int> state{0};

bool flag(const char *name, bool dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	return !(strcmp(v, "0") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0 || strcmp(v, "false") == 0);
}
} // namespace

const config &cfg()
{
	if (state.load(std::memory_order_acquire) == 2)
		return the_config;
	int expected = 0;
	if (!state.compare_exchange_strong(expected, 1))
		return the_config; // another thread (or a re-entry) reads it: defaults meanwhile
	config c;
	if (!getauxval(AT_SECURE)) {
		if (const char *l = getenv("UEPOLL_LOG")) {
			if (!strcmp(l, "error"))
				c.level = log_level::error;
			else if (!strcmp(l, "info"))
				c.level = log_level::info;
			else if (!strcmp(l, "debug"))
				c.level = log_level::debug;
		}
		if (const char *f = getenv("UEPOLL_LOG_FILE"); f && *f && strlen(f) < sizeof log_path) {
			long fd = interpose::raw_syscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(f),
							 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (fd >= 0) {
				strcpy(log_path, f); // to open it again if it is lost
				interpose::ensure_init(); // the core moves and marks it
				if (log_file_fd.adopt(fd) >= 0)
					c.log_file = &log_file_fd;
			}
		}
		c.stats = flag("UEPOLL_STATS", false);
		c.trace_ctl = flag("UEPOLL_TRACE_CTL", false);
		c.disable = flag("UEPOLL_DISABLE", false);
		c.crash_report = flag("UEPOLL_CRASH_REPORT", true);
		c.tiers = flag("UEPOLL_TIERS", true);
		if (const char *n = getenv("UEPOLL_TIERS_DEMOTE_AFTER"); n && *n >= '1' && *n <= '9') {
			long v = strtol(n, nullptr, 10);
			c.tiers_demote_after = v > core::TIER_IDLE_POLLS_MAX ? core::TIER_IDLE_POLLS_MAX : static_cast<int>(v);
		}
	}
	the_config = c;
	state.store(2, std::memory_order_release);
	return the_config;
}

} // namespace uepoll::shim
