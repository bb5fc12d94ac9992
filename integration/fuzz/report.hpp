// integration/fuzz/report.hpp - what happens on a divergence: confirm it,
// minimize it, print it as an op list, a diff and a DIFF_TEST.
#pragma once

#include <string>

#include "integration/fuzz/runner.hpp"

namespace uepoll::fuzz {

struct totals {
	long ops = 0;
	long divergences = 0;
	long documented_et = 0; // deviation 1: et_partial_read_rereport
	long documented_icmp = 0; // deviation 2: icmp_error_late
	long waits = 0;         // multi-threaded mode: the waiter threads' epoll_wait calls
};

struct finding {
	program minimized;
	bool reproduced = false; // the minimized program diverges every time it is run again
	verdict v;               // of the minimized program
};

// p diverged between sides a and b: minimize and print.  `what` names the
// program in the output (seed, program index).
finding investigate(const program &p, const side &a, const side &b, const std::string &what, totals &tot);

} // namespace uepoll::fuzz
