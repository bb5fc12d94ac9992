// shim/config.hpp - uepoll's settings, from UEPOLL_* environment variables.
#pragma once

#include "core/internal_fd.hpp"

namespace uepoll::shim {

enum class log_level { error = 0, warn = 1, info = 2, debug = 3 };

struct config {
	log_level level = log_level::warn; // UEPOLL_LOG: error|warn|info|debug
	// UEPOLL_LOG_FILE: append there instead of stderr (an internal fd,
	// opened again from its path if it is lost).
	core::internal_fd *log_file = nullptr;
	bool stats = false;                // UEPOLL_STATS=1: counters at exit
	bool trace_ctl = false;            // UEPOLL_TRACE_CTL=1: every epoll_ctl with a backtrace
	bool disable = false;              // UEPOLL_DISABLE=1: every epoll call goes to the kernel
	bool crash_report = true;          // UEPOLL_CRASH_REPORT=0: no fatal-signal backtraces
	bool tiers = true;                 // UEPOLL_TIERS=0: every item stays hot (no poller threads)
	int tiers_demote_after = 16;       // UEPOLL_TIERS_DEMOTE_AFTER=N: idle waits before an item goes cold (1-127)
};

// The settings, read once on first use (without allocating; ignored in
// setuid programs, as torsocks does).
const config &cfg();

} // namespace uepoll::shim
