// interpose/raw.hpp - a raw system call: never re-enters an exported
// symbol (ours or another preload's), never a cancellation point.  For the
// shim's diagnostics and settings, which need nothing else from interpose.
#pragma once

namespace uepoll::interpose {

// -errno on failure (interpose/sys_raw.cpp).
long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0);

} // namespace uepoll::interpose
