// interpose/init.hpp - start-up of everything below the shim.
#pragma once

namespace uepoll::interpose {

// Sets up the fd table and the core with raw syscalls, and the fork
// handlers, once.  Every exported entry point calls it first; it is cheap
// after the first time and safe before constructors ran.
void ensure_init();

} // namespace uepoll::interpose
