// integration/fuzz/threads.hpp - the multi-threaded mode: waiter threads
// block in epoll_wait while a mutator thread runs ctl, close, dup2 and I/O
// on the same instances.  Interleavings are not reproducible, so instead of
// comparing with the kernel this mode checks properties that must hold
// under any interleaving:
//   - no retired data: a wait that started after an item was removed (DEL,
//     MOD to other data, the last close of its file or of its instance)
//     never reports that item's data; no wait reports data never registered;
//   - no lost event: after the threads stop, one wait with timeout 0 on
//     each instance reports every level-triggered, non-ONESHOT item whose
//     file is ready for its mask, and nothing that is no longer registered;
//   - no crash and no hang (the run is a child bounded by alarm()).
#pragma once

#include <string>
#include <vector>

#include "integration/fuzz/world.hpp"

namespace uepoll::fuzz {

struct mt_result {
	long ops = 0;                        // ops of both phases
	long waits = 0;                      // epoll_wait calls of the waiter threads
	std::vector<std::string> violations; // empty when every property held
	program setup, mutator;              // what ran (for the report)
};

// One round: a generated setup program of setup_ops ops, then `threads`-1
// waiters against a mutator running mutator_ops ops.  Runs in a child.
// With s.preload the round's child execs uepoll-fuzz under LD_PRELOAD,
// which runs it here: argv is "SEED SETUP_OPS MUTATOR_OPS THREADS REGION_FD".
mt_result run_mt(uint64_t seed, int setup_ops, int mutator_ops, int threads, const side &s);
int exec_threads(char **argv);

} // namespace uepoll::fuzz
