// tests/trace.hpp - record what a scenario saw, run it on both backends,
// compare.
//
// A scenario is a function of (backend&, trace&).  It makes the same calls
// on whichever backend it is given and records each observable result:
// return values, errno, the events reported (with their data).  DIFF_TEST
// runs the scenario on native epoll, then on uepoll, and expects the two
// traces to be equal line by line; it then hands the native trace to the
// test body's own checks, so a scenario that records nothing interesting
// (or a kernel that changed) shows up too.
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <sys/epoll.h>
#include <vector>

#include <gtest/gtest.h>

#include "tests/backend.hpp"

namespace uepoll::test {

// "IN|OUT|RDHUP" for an event mask; unknown bits as hex.
std::string event_bits(uint32_t events);

struct trace {
	std::vector<std::string> lines;

	// Records "what = ret" or "what = -1 EBADF".  Returns ret.
	long step(const std::string &what, long ret);
	// Records the events of an epoll_wait that returned n, in the order
	// given (ordered=true) or sorted (the kernel defines no order).
	void events(const std::string &what, int n, const struct epoll_event *evs, bool ordered = false);
	void note(const std::string &s) { lines.push_back(s); }
	bool contains(const std::string &needle) const;
	std::string str() const;
};

using scenario = std::function<void(backend &, trace &)>;

// Runs the scenario on native epoll and on uepoll (each in a forked child
// when isolate is true, so that fd numbers start equal and nothing leaks
// between the two), expects equal traces, returns the native one.
trace differential(const scenario &fn, bool isolate = true);

// Runs fn on b in a forked child (fd numbers start as in the parent,
// nothing leaks) and brings its trace back through a pipe; a failed
// assertion or a death in the child is a "!!" line.
trace run_isolated(const scenario &fn, backend &b);

// A documented deviation (docs/deviations.md): fn's native trace must be
// `native`, and uepoll's the same with the lines of `changed` (index ->
// line) in their place.  Both sides are pinned: the test fails if either
// changes.
void expect_deviation(const scenario &fn, const std::vector<std::string> &native,
		      const std::vector<std::pair<size_t, std::string>> &changed);

// fork() as a program under the shim would call it (uepoll's fork handlers
// run and copy its instances); the plain fork() natively.
pid_t backend_fork(backend &b);

// Waits on epfd with a generous bound for at least one event.
int wait_some(backend &b, int epfd, struct epoll_event *evs, int max, int timeout_ms = 5000);

} // namespace uepoll::test

// DIFF_TEST(suite, name) { scenario body using `b` and `t` }
// declares a test that runs the body on both backends and compares traces.
#define DIFF_TEST(suite, name)                                                                   \
	static void suite##_##name##_scenario(::uepoll::test::backend &b, ::uepoll::test::trace &t); \
	TEST(suite, name)                                                                        \
	{                                                                                        \
		::uepoll::test::differential(suite##_##name##_scenario);                          \
	}                                                                                        \
	static void suite##_##name##_scenario([[maybe_unused]] ::uepoll::test::backend &b,      \
					      [[maybe_unused]] ::uepoll::test::trace &t)
