// integration/fuzz/report.cpp - confirm, minimize, print.
#include "integration/fuzz/report.hpp"

#include <cstdio>

#include "integration/fuzz/emit.hpp"
#include "integration/fuzz/minimize.hpp"

namespace uepoll::fuzz {

namespace {

constexpr int MINIMIZE_TESTS = 3000;
// A hang costs a child's whole alarm() per test.
constexpr int MINIMIZE_TESTS_HUNG = 20;
constexpr int CONFIRM_RUNS = 3;

bool diverges(const program &p, const side &a, const side &b)
{
	run_output ra, rb;
	run_pair(p, a, b, ra, rb);
	return compare(ra, rb).diverged;
}

std::string test_name(const std::string &what)
{
	std::string n;
	for (char c : what)
		n += isalnum(static_cast<unsigned char>(c)) ? c : '_';
	return n;
}

} // namespace

finding investigate(const program &p, const side &a, const side &b, const std::string &what, totals &tot)
{
	(void)tot;
	finding f;
	run_output ra, rb;
	run_pair(p, a, b, ra, rb);
	verdict first = compare(ra, rb);
	printf("uepoll-fuzz: DIVERGENCE in %s (%zu ops) at op #%ld\n  %s: %s\n  %s: %s\n", what.c_str(), p.size(),
	       first.op_id, a.name, first.first_a.c_str(), b.name, first.first_b.c_str());
	fflush(stdout);
	if (!first.diverged) {
		printf("uepoll-fuzz: the divergence did not happen again on a second run (timing-dependent)\n");
		f.minimized = p;
		return f;
	}
	minimize_stats st;
	bool hung = ra.died.find("hung") != std::string::npos || rb.died.find("hung") != std::string::npos;
	// A candidate must diverge twice in a row: a divergence that depends on
	// timing would otherwise let the minimizer drift to a program that
	// rarely shows it.  (A rejected candidate costs one run, as before.)
	f.minimized = minimize(p, [&](const program &q) { return diverges(q, a, b) && diverges(q, a, b); },
			       hung ? MINIMIZE_TESTS_HUNG : MINIMIZE_TESTS, &st);
	int again = 0;
	for (int i = 0; i < CONFIRM_RUNS; i++)
		again += diverges(f.minimized, a, b);
	f.reproduced = again == CONFIRM_RUNS;
	run_pair(f.minimized, a, b, ra, rb);
	f.v = compare(ra, rb);
	printf("uepoll-fuzz: minimized to %zu ops in %d runs%s; diverges in %d of %d re-runs\n", f.minimized.size(),
	       st.tests, st.exhausted ? " (budget exhausted)" : "", again, CONFIRM_RUNS);
	printf("--- minimized program (%s) ---\n%s", what.c_str(), op_list(f.minimized).c_str());
	printf("--- replay (save as a file, run uepoll-fuzz --replay FILE) ---\n%s", to_text(f.minimized).c_str());
	printf("--- records (- %s, + %s) ---\n%s", a.name, b.name, diff_context(ra, rb, a.name, b.name).c_str());
	run_output code = run_one(f.minimized, a, true);
	printf("--- GoogleTest case ---\n%s---\n",
	       gtest_case(test_name(what), "uepoll-fuzz: " + what + ", minimized", code.lines).c_str());
	fflush(stdout);
	return f;
}

} // namespace uepoll::fuzz
