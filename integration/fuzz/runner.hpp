// integration/fuzz/runner.hpp - runs a program on two sides, each in a
// forked child (so that both start from the same fd numbers and nothing
// leaks between runs), and compares the two records step by step.
#pragma once

#include <string>
#include <vector>

#include "integration/fuzz/world.hpp"

namespace uepoll::fuzz {

struct run_output {
	std::vector<line> lines;
	std::string died; // how the child ended, if not by finishing the program
};

// The child of a preloaded side, after its exec: runs the program read from
// program_fd on native_side() (libc, which the preloaded uepoll answers)
// and writes its record into the region mapped from region_fd.
int exec_side(int program_fd, int region_fd, bool emit_code);

// Runs p on one side in a child.
run_output run_one(const program &p, const side &s, bool emit_code);
// Runs p on both sides at once, each in its own child.
void run_pair(const program &p, const side &a, const side &b, run_output &ra, run_output &rb);

struct verdict {
	bool diverged = false;
	int documented_et = 0;   // waits that differ only by deviation 1
	int documented_icmp = 0; // waits that differ only by deviation 2 (icmp_error_late)
	std::string first_a, first_b; // the first differing lines ("<end>" past the end)
	long op_id = -1;              // the op that produced them
};

// Compares the compared lines (non-empty text) of a and b.  A wait whose
// only difference is that b reported extra EPOLLET items listed in the
// line's "etp" note is documented deviation 1 (et_partial_read_rereport),
// and so is a poll(2) of an instance with such a note that is 0 in a and
// exactly POLLIN in b.  A wait with an "icmp_error_late" note whose records
// are equal (same events, sorted) but whose "order" notes differ only in
// where the listed items are is documented deviation 2 (icmp_error_late);
// any other difference of order on such a wait is a divergence.
verdict compare(const run_output &a, const run_output &b);

// What kind of divergence v is, for telling repeats from new ones: the op's
// name and both results with every number blanked out.
std::string signature(const verdict &v);

// The lines of both runs around the first divergence, side by side.
std::string diff_context(const run_output &a, const run_output &b, const char *name_a, const char *name_b);

} // namespace uepoll::fuzz
