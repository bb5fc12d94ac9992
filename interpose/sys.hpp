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

} // namespace uepoll::interpose
