// tests/timeout_test.cpp - wait timeouts: 0 never blocks, negative waits forever, positive never returns early.
#include <climits>
#include <cstdint>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

using uepoll::test::add;

namespace {

int64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// A call that blocks by mistake kills the run (SIGALRM) instead of hanging
// the suite; the harness reports a run that died.
struct hang_guard {
	hang_guard() { alarm(20); }
	~hang_guard() { alarm(0); }
};

// An instance with one idle pipe (data 0xfeedface000000NN) and its write end.
struct idle_pipe {
	int ep, rd, wr;
	idle_pipe(backend &b, uint64_t data, uint32_t events = EPOLLIN)
	{
		ep = b.epoll_create1(0);
		int p[2];
		EXPECT_EQ(b.pipe2(p, O_NONBLOCK), 0);
		rd = p[0];
		wr = p[1];
		EXPECT_EQ(add(b, ep, rd, events, data), 0);
	}
};

// Waits with epoll_wait (0), epoll_pwait (1) or epoll_pwait2 (2) for ms
// milliseconds; pwait2 only for ms >= 0 (its "forever" is a NULL timespec).
int wait_ms(backend &b, int which, int ep, epoll_event *out, int max, int ms)
{
	sigset_t none;
	sigemptyset(&none);
	if (which == 0)
		return b.epoll_wait(ep, out, max, ms);
	if (which == 1)
		return b.epoll_pwait(ep, out, max, ms, &none);
	timespec ts{ms / 1000, (long)(ms % 1000) * 1000000};
	return b.epoll_pwait2(ep, out, max, &ts, nullptr);
}

const char *call_name(int which)
{
	static const char *n[] = {"epoll_wait", "epoll_pwait", "epoll_pwait2"};
	return n[which];
}

} // namespace

DIFF_TEST(timeout, zero_never_blocks)
{
	hang_guard g;
	epoll_event out[4];
	int empty = b.epoll_create1(0);
	idle_pipe ip(b, 0xfeedface00000001ULL);
	idle_pipe et(b, 0xfeedface00000002ULL, EPOLLIN | EPOLLET);
	for (int which = 0; which < 3; which++) {
		std::string w = call_name(which);
		int r = wait_ms(b, which, empty, out, 4, 0);
		t.step(w + " empty instance", r);
		EXPECT_EQ(r, 0);
		r = wait_ms(b, which, ip.ep, out, 4, 0);
		t.step(w + " idle item", r);
		EXPECT_EQ(r, 0);
		r = wait_ms(b, which, et.ep, out, 4, 0);
		t.step(w + " idle ET item", r);
		EXPECT_EQ(r, 0);
	}
	// epoll_pwait2 with {0, 0} and a NULL mask, too.
	timespec zero{0, 0};
	int r = b.epoll_pwait2(ip.ep, out, 4, &zero, nullptr);
	t.step("pwait2 {0,0}", r);
	EXPECT_EQ(r, 0);
}

DIFF_TEST(timeout, zero_reports_what_is_already_ready)
{
	hang_guard g;
	epoll_event out[4];
	idle_pipe ip(b, 0xfeedface00000003ULL, EPOLLIN | EPOLLET);
	t.step("write", b.write(ip.wr, "x", 1));
	timespec zero{0, 0};
	int r = b.epoll_pwait2(ip.ep, out, 4, &zero, nullptr);
	t.events("pwait2 {0,0}", r, out);
	EXPECT_EQ(r, 1);
	t.step("write", b.write(ip.wr, "y", 1));
	r = b.epoll_wait(ip.ep, out, 4, 0);
	t.events("wait 0", r, out);
	EXPECT_EQ(r, 1);
}

// Another thread blocked forever on the same instance does not make a
// zero-timeout call wait.
DIFF_TEST(timeout, zero_does_not_block_behind_a_blocked_waiter)
{
	hang_guard g;
	idle_pipe ip(b, 0xfeedface00000004ULL);
	int n = -2;
	epoll_event wout[4];
	std::thread w([&] { n = b.epoll_wait(ip.ep, wout, 4, -1); });
	usleep(50 * 1000);
	epoll_event out[4];
	int r = b.epoll_wait(ip.ep, out, 4, 0);
	t.step("wait 0 while another thread waits", r);
	EXPECT_EQ(r, 0);
	timespec zero{0, 0};
	r = b.epoll_pwait2(ip.ep, out, 4, &zero, nullptr);
	t.step("pwait2 {0,0} while another thread waits", r);
	EXPECT_EQ(r, 0);
	t.step("write", b.write(ip.wr, "x", 1));
	w.join();
	t.events("blocked waiter", n, wout);
	EXPECT_EQ(n, 1);
}

// Negative timeouts wait forever: an fd becoming ready 100 ms later ends the
// wait with its event (never 0).
DIFF_TEST(timeout, negative_waits_forever)
{
	hang_guard g;
	const int timeouts[] = {-1, -2, -1000, INT_MIN};
	for (int which = 0; which < 2; which++) {
		for (int ms : timeouts) {
			idle_pipe ip(b, 0xfeedface00000010ULL + (uint64_t)which);
			std::thread w([&] {
				usleep(30 * 1000);
				b.write(ip.wr, "x", 1);
			});
			epoll_event out[4];
			// A wait taking the value as a short timeout would return 0.
			int r = wait_ms(b, which, ip.ep, out, 4, ms);
			w.join();
			t.events(std::string(call_name(which)) + " " + std::to_string(ms), r, out);
			EXPECT_EQ(r, 1) << call_name(which) << " " << ms;
			b.close(ip.rd);
			b.close(ip.wr);
			b.close(ip.ep);
		}
	}
}

DIFF_TEST(timeout, pwait2_null_timespec_waits_forever)
{
	hang_guard g;
	idle_pipe ip(b, 0xfeedface00000020ULL);
	std::thread w([&] {
		usleep(100 * 1000);
		b.write(ip.wr, "x", 1);
	});
	epoll_event out[4];
	int r = b.epoll_pwait2(ip.ep, out, 4, nullptr, nullptr);
	w.join();
	t.events("pwait2 NULL", r, out);
	EXPECT_EQ(r, 1);
}

// Huge timeouts are not wrapped into short or negative ones.
DIFF_TEST(timeout, huge_timeouts_wait_for_the_event)
{
	hang_guard g;
	for (int k = 0; k < 3; k++) {
		idle_pipe ip(b, 0xfeedface00000030ULL + (uint64_t)k);
		std::thread w([&] {
			usleep(30 * 1000);
			b.write(ip.wr, "x", 1);
		});
		epoll_event out[4];
		int r;
		if (k == 0) {
			r = b.epoll_wait(ip.ep, out, 4, INT_MAX);
		} else {
			timespec ts{k == 1 ? (time_t)INT_MAX + 1 : (time_t)LONG_MAX, 999999999};
			r = b.epoll_pwait2(ip.ep, out, 4, &ts, nullptr);
		}
		w.join();
		t.events("huge " + std::to_string(k), r, out);
		EXPECT_EQ(r, 1) << k;
		b.close(ip.rd);
		b.close(ip.wr);
		b.close(ip.ep);
	}
}

// A positive timeout with nothing ready returns 0 and never before the
// timeout has passed on CLOCK_MONOTONIC.
DIFF_TEST(timeout, positive_never_returns_early)
{
	hang_guard g;
	idle_pipe ip(b, 0xfeedface00000040ULL);
	epoll_event out[4];
	const int timeouts[] = {1, 2, 10, 40};
	for (int which = 0; which < 3; which++) {
		for (int ms : timeouts) {
			int64_t t0 = now_ns();
			int r = wait_ms(b, which, ip.ep, out, 4, ms);
			int64_t el = now_ns() - t0;
			t.step(std::string(call_name(which)) + " " + std::to_string(ms) + "ms", r);
			EXPECT_EQ(r, 0);
			t.step(std::string(call_name(which)) + " " + std::to_string(ms) + "ms not early",
			       el >= (int64_t)ms * 1000000);
			EXPECT_GE(el, (int64_t)ms * 1000000) << call_name(which) << " " << ms;
		}
	}
	// Sub-millisecond pwait2 timeouts: no early return either.
	const long ns[] = {1, 1000, 999999, 1500000};
	for (long n : ns) {
		timespec ts{0, n};
		int64_t t0 = now_ns();
		int r = b.epoll_pwait2(ip.ep, out, 4, &ts, nullptr);
		int64_t el = now_ns() - t0;
		t.step("pwait2 " + std::to_string(n) + "ns", r);
		EXPECT_EQ(r, 0);
		t.step("pwait2 " + std::to_string(n) + "ns not early", el >= n);
		EXPECT_GE(el, n);
	}
	timespec ts{0, 60 * 1000000};
	int64_t t0 = now_ns();
	int r = b.epoll_pwait2(ip.ep, out, 4, &ts, nullptr);
	int64_t el = now_ns() - t0;
	t.step("pwait2 60ms", r);
	EXPECT_EQ(r, 0);
	EXPECT_GE(el, 60 * 1000000LL);
}

// An event that arrives before the timeout ends the wait with the event.
DIFF_TEST(timeout, event_before_timeout_is_returned)
{
	hang_guard g;
	for (int which = 0; which < 3; which++) {
		idle_pipe ip(b, 0xfeedface00000050ULL + (uint64_t)which);
		std::thread w([&] {
			usleep(50 * 1000);
			b.write(ip.wr, "x", 1);
		});
		epoll_event out[4];
		int r = wait_ms(b, which, ip.ep, out, 4, 5000);
		w.join();
		t.events(call_name(which), r, out);
		EXPECT_EQ(r, 1);
		b.close(ip.rd);
		b.close(ip.wr);
		b.close(ip.ep);
	}
}

// A timed-out wait leaves the instance as it was: an item that becomes
// ready afterwards is reported.
DIFF_TEST(timeout, timed_out_wait_loses_nothing)
{
	hang_guard g;
	idle_pipe ip(b, 0xfeedface00000060ULL, EPOLLIN | EPOLLET);
	epoll_event out[4];
	t.step("wait 20ms", b.epoll_wait(ip.ep, out, 4, 20));
	t.step("write", b.write(ip.wr, "x", 1));
	int r = b.epoll_wait(ip.ep, out, 4, 20);
	t.events("wait 20ms after write", r, out);
	EXPECT_EQ(r, 1);
	r = b.epoll_wait(ip.ep, out, 4, 20);
	t.events("ET edge consumed", r, out);
	EXPECT_EQ(r, 0);
}
