// interpose/sys.hpp - the implementation of the core's kernel-call table
// (core/platform.hpp) by raw system calls: what the preloaded shim and the
// in-process tests hand to the core.
#pragma once

#include "core/platform.hpp"

namespace uepoll::interpose {

using core::sys_ops;
using core::file_ops;

// Raw syscall() implementations (interpose/sys_raw.cpp).
const sys_ops &sys_raw();

// Calls a sandbox may refuse (a seccomp filter answering EPERM or ENOSYS).
// Each has a fallback that sys_raw() switches to at the first refusal:
//   kcmp              - file identity from (dev, ino, open flags, eventfd id);
//   process_vm_*v     - user copies through /proc/self/mem;
//   timerfd_gettime   - an anon-inode file named by its /proc readlink only.
constexpr unsigned SYS_REFUSED_KCMP = 1;
constexpr unsigned SYS_REFUSED_PROCESS_VM = 2;
constexpr unsigned SYS_REFUSED_TIMERFD_GETTIME = 4;

// Is fd a timerfd (the only file timerfd_gettime() accepts)?  1 yes, 0 no,
// -ENOSYS/-EPERM when the call is refused (ask /proc instead).  Made only
// when sys_raw_probe() found it allowed: a filter that kills on it must
// not kill the program for a question of ours.
long sys_raw_is_timerfd(int fd);
// kcmp_file() with the caller's getpid(): a series of comparisons (an
// identity index search) asks for the pid once, not once per call.  The
// pid is never cached across calls: a fork or clone child has another, and
// a vfork child shares our memory, so a cache it wrote would mislead us.
long sys_raw_getpid();
long sys_raw_kcmp_file(long pid, int a, int b);

// Tries each call once (at start-up), and returns what is refused.
unsigned sys_raw_probe();
// What was found refused so far (by the probe or by a later call).
unsigned sys_raw_refused();

} // namespace uepoll::interpose
