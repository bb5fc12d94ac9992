// shim/log.hpp - diagnostics: quiet by default, "uepoll: " prefixed lines
// written with write(2) from a stack buffer (no stdio, no malloc), and
// backtraces from libunwind.
#pragma once

#include "shim/config.hpp"

namespace uepoll::shim {

bool log_enabled(log_level level);
void log(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The calling thread's stack, one frame a line (libunwind, local unwind).
void log_backtrace(log_level level, int skip);
// Installs the fatal-signal reporter (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
// SIGABRT) where the program left the default action.
void install_crash_reporter();
} // namespace uepoll::shim
