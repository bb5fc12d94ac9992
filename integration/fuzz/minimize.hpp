// integration/fuzz/minimize.hpp - delta debugging over a program's ops.
#pragma once

#include <functional>

#include "integration/fuzz/program.hpp"

namespace uepoll::fuzz {

struct minimize_stats {
	int tests = 0;
	bool exhausted = false; // stopped by the test budget, maybe not 1-minimal
};

// The smallest program found, by dropping ops, for which fails() still holds
// (ddmin, then single ops until nothing more can go).  Ops refer to slots,
// so any subset runs: an op whose slot is empty is skipped.  fails(p) must
// hold on entry; at most max_tests calls are made.
program minimize(const program &p, const std::function<bool(const program &)> &fails, int max_tests,
		 minimize_stats *stats = nullptr);

} // namespace uepoll::fuzz
