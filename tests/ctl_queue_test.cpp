// tests/ctl_queue_test.cpp - ADD and MOD without a poll (issue 12): uepoll
// queues the item "to be confirmed" and the harvest re-polls it.  What the
// kernel's ep_insert()/ep_modify() decide at the ctl (queue if ready, in
// ctl order; a later wake-up queues at the tail) must come out the same:
// the order of reports, the items dropped for not being ready and their
// re-arming (LT, ET, ONESHOT), and a waiter blocked in another thread.
#include <atomic>
#include <fcntl.h>
#include <string>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::mod;

namespace {
constexpr uint64_t kA = 0x00007f00c0de000aULL;
constexpr uint64_t kB = 0x00007f00c0de000bULL;
constexpr uint64_t kC = 0x00007f00c0de000cULL;
} // namespace

// A is idle at its ADD, B is ready at its: B is queued first; A is queued
// by the write that makes it ready, after B.
DIFF_TEST(ctl_queue, idle_add_then_ready_add_then_write)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int a[2], c[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a);
	b.pipe2(c, O_NONBLOCK);
	int e = b.eventfd(1, EFD_NONBLOCK);
	t.step("add A (idle)", add(b, ep, a[0], EPOLLIN, kA));
	t.step("add B (ready)", add(b, ep, e, EPOLLIN, kB));
	t.step("add C (idle)", add(b, ep, c[0], EPOLLIN, kC));
	t.step("write C", b.write(c[1], "c", 1));
	t.step("write A", b.write(a[1], "a", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
}

// A is ready at its ADD (queued first), then drained and made ready again
// before the wait: it keeps its place, ahead of B.
DIFF_TEST(ctl_queue, ready_add_drained_and_refilled_keeps_its_place)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int a[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a);
	int e = b.eventfd(1, EFD_NONBLOCK);
	t.step("write A", b.write(a[1], "a", 1));
	t.step("add A (ready)", add(b, ep, a[0], EPOLLIN, kA));
	t.step("add B (ready)", add(b, ep, e, EPOLLIN, kB));
	char buf[8];
	t.step("drain A", b.read(a[0], buf, sizeof buf));
	t.step("write A again", b.write(a[1], "a", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
}

// MOD of an idle item, then the eventfd is written: queued by the write.
DIFF_TEST(ctl_queue, mod_of_idle_then_write_orders_by_the_write)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int e1 = b.eventfd(0, EFD_NONBLOCK);
	int e2 = b.eventfd(1, EFD_NONBLOCK);
	t.step("add A (idle)", add(b, ep, e1, EPOLLIN, kA));
	t.step("add B (ready)", add(b, ep, e2, EPOLLIN, kB));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod A", mod(b, ep, e1, EPOLLIN | EPOLLOUT, kA + 1));
	t.step("mod B", mod(b, ep, e2, EPOLLIN, kB + 1));
	uint64_t one = 1;
	t.step("write A", b.write(e1, &one, sizeof one));
	t.events("wait after mods", b.epoll_wait(ep, out, 4, 0), out);
}

// An item queued unconfirmed and found idle is dropped and re-armed: the
// next readiness is reported, LT, ET and ONESHOT alike.
DIFF_TEST(ctl_queue, dropped_items_are_rearmed)
{
	const uint32_t modes[] = {EPOLLIN, EPOLLIN | EPOLLET, EPOLLIN | EPOLLONESHOT};
	for (int m = 0; m < 3; m++) {
		std::string k = " (mode " + std::to_string(m) + ")";
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		int p[2];
		b.pipe2(p, O_NONBLOCK);
		t.step("add idle" + k, add(b, ep, p[0], modes[m], kA));
		epoll_event out[4];
		t.events("wait, nothing ready" + k, b.epoll_wait(ep, out, 4, 0), out);
		t.step("write" + k, b.write(p[1], "x", 1));
		t.events("wait after write" + k, b.epoll_wait(ep, out, 4, 0), out);
		t.step("write again" + k, b.write(p[1], "y", 1));
		t.events("wait after second write" + k, b.epoll_wait(ep, out, 4, 0), out);
		t.step("mod" + k, mod(b, ep, p[0], modes[m], kA + 1));
		t.events("wait after mod" + k, b.epoll_wait(ep, out, 4, 0), out);
		char buf[8];
		t.step("drain" + k, b.read(p[0], buf, sizeof buf));
		t.step("mod after drain" + k, mod(b, ep, p[0], modes[m], kA + 2));
		t.events("wait after mod of drained" + k, b.epoll_wait(ep, out, 4, 0), out);
		t.step("write after drain" + k, b.write(p[1], "z", 1));
		t.events("wait after last write" + k, b.epoll_wait(ep, out, 4, 0), out);
		b.close(p[0]);
		b.close(p[1]);
		b.close(ep);
	}
}

// The peer of an unconfirmed idle item is closed: the HUP queues it then,
// after the item ADDed ready in between.
DIFF_TEST(ctl_queue, close_of_peer_orders_by_the_close)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int a[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a);
	int e = b.eventfd(1, EFD_NONBLOCK);
	t.step("add A (idle)", add(b, ep, a[0], EPOLLIN, kA));
	t.step("add B (ready)", add(b, ep, e, EPOLLIN, kB));
	t.step("close A's peer", b.close(a[1]));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
}

// Cross-thread ctl: the main thread re-arms an EPOLLET eventfd item whose
// counter stays non-zero with MOD; a second thread blocked in epoll_wait
// gets it each time; they hand over through a flag.  100,000 round trips:
// every MOD must reach the waiter.  The waiter's 10 s timeout only turns a
// lost wake-up into a failure instead of a hang (no timing is asserted).
DIFF_TEST(ctl_queue, mod_round_trips_across_threads)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	constexpr int kRounds = 10000; // the sanitizers make each round trip ten times dearer
#else
	constexpr int kRounds = 100000;
#endif
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int e = b.eventfd(1, EFD_NONBLOCK);
	t.step("add", add(b, ep, e, EPOLLIN | EPOLLET, kA));
	std::atomic<int> flag{0};
	std::atomic<int> lost{0};
	std::thread waiter([&] {
		// The ADD's edge, then one per MOD.
		for (int i = 0; i <= kRounds; i++) {
			epoll_event ev;
			int n;
			do
				n = b.epoll_wait(ep, &ev, 1, 10000);
			while (n < 0 && errno == EINTR);
			if (n != 1 || ev.data.u64 != kA)
				lost.fetch_add(1);
			flag.store(1, std::memory_order_release);
			flag.notify_one();
		}
	});
	flag.wait(0, std::memory_order_acquire);
	int failed_mods = 0;
	for (int i = 0; i < kRounds; i++) {
		flag.store(0, std::memory_order_relaxed);
		failed_mods += mod(b, ep, e, EPOLLIN | EPOLLET, kA) != 0;
		flag.wait(0, std::memory_order_acquire);
	}
	waiter.join();
	t.step("failed MODs", failed_mods);
	t.step("round trips without the event", lost.load());
	EXPECT_EQ(lost.load(), 0);
}

// Found by uepoll-fuzz (seed 2425590871 program 18): an item idle at its
// ADD, then MODded to events it has (an eventfd is always writable), is
// queued by the MOD, after the ready item ADDed in between.
DIFF_TEST(ctl_queue, idle_add_then_mod_to_ready_orders_by_the_mod)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int e1 = b.eventfd(0, EFD_NONBLOCK);
	int e2 = b.eventfd(1, EFD_NONBLOCK);
	t.step("add A (idle)", add(b, ep, e1, EPOLLIN | EPOLLPRI, kA));
	t.step("add B (ready)", add(b, ep, e2, EPOLLIN | EPOLLPRI, kB));
	t.step("mod A to OUT", mod(b, ep, e1, EPOLLIN | EPOLLOUT, kA + 1));
	epoll_event out[4];
	t.events("wait max 1", b.epoll_wait(ep, out, 1, 0), out);
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
}

// The same when A was ready at its ADD: it keeps its place.
DIFF_TEST(ctl_queue, ready_add_then_mod_keeps_its_place)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int e1 = b.eventfd(1, EFD_NONBLOCK);
	int e2 = b.eventfd(1, EFD_NONBLOCK);
	t.step("add A (ready)", add(b, ep, e1, EPOLLIN, kA));
	t.step("add B (ready)", add(b, ep, e2, EPOLLIN, kB));
	t.step("mod A", mod(b, ep, e1, EPOLLIN | EPOLLOUT, kA + 1));
	epoll_event out[4];
	t.events("wait max 1", b.epoll_wait(ep, out, 1, 0), out);
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
}

// Two items of one datagram socket (a number and its dup) whose peer is
// gone, both idle at their ADDs; shutdown(SHUT_RD) makes the file ready.
// The kernel's wake-up runs the newer item's callback first (plain entries
// go to the head of the wait queue), so a wait for one event reports the
// dup.  uepoll must settle the two unconfirmed items before the shutdown
// (not ready then), so that the shutdown's wake-up queues them in its own
// order; a socket with no peer takes no I/O stamp, and the items were
// confirmed at the harvest instead, in ADD order.  (uepoll-fuzz seed
// 373719950 program 627; its replay is in integration/fuzz/replays.)
DIFF_TEST(ctl_queue, io_without_a_peer_settles_idle_items_first)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	t.step("close the peer", b.close(sv[1]));
	int dup = b.fcntl_dupfd(sv[0], 10, true);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add A", add(b, ep, sv[0], EPOLLIN, kA));
	t.step("add B (dup)", add(b, ep, dup, EPOLLIN | EPOLLRDHUP, kB));
	t.step("shutdown RD", b.shutdown(sv[0], SHUT_RD));
	epoll_event out[4];
	t.events("wait max 1", b.epoll_wait(ep, out, 1, 0), out);
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
}

// A run of MODs of the item last queued by a ctl, with no wait between:
// each MOD settles it with its old events first (a shortcut that skipped
// that poll got the order wrong: uepoll-fuzz seeds 3127631620 program 1934
// and 1798470224 program 908, whose replays pin it), and the harvest
// checks it with its last events.  Pipes, which take no in-process
// readiness shortcut:
// idle through the run (dropped at the wait), made ready in the middle of
// one (reported after the item queued before it), and one MODed from IN to
// OUT (ready only with the new events).  Each with one MOD of an earlier
// item between, which must still be settled by a poll.
DIFF_TEST(ctl_queue, mod_runs_of_the_last_queued_item)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p1[2], p2[2], p3[2];
	b.pipe2(p1, O_NONBLOCK);
	b.pipe2(p2, O_NONBLOCK);
	b.pipe2(p3, O_NONBLOCK);
	t.step("write B", b.write(p2[1], "b", 1));
	t.step("add B (ready)", add(b, ep, p2[0], EPOLLIN, kB));
	t.step("add A (idle)", add(b, ep, p1[0], EPOLLIN, kA));
	for (int i = 0; i < 3; i++)
		t.step("mod A (idle, last)", mod(b, ep, p1[0], EPOLLIN | EPOLLRDHUP, kA + i));
	epoll_event out[4];
	t.events("wait 1", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod A", mod(b, ep, p1[0], EPOLLIN, kA));
	t.step("mod A again", mod(b, ep, p1[0], EPOLLIN, kA + 4));
	t.step("write A", b.write(p1[1], "a", 1));
	t.step("mod A after the write", mod(b, ep, p1[0], EPOLLIN, kA + 5));
	t.step("add C (write end, IN: idle)", add(b, ep, p3[1], EPOLLIN, kC));
	t.step("mod B (not last)", mod(b, ep, p2[0], EPOLLIN, kB + 1));
	t.step("mod C to OUT", mod(b, ep, p3[1], EPOLLOUT, kC + 1));
	t.step("mod C to OUT again", mod(b, ep, p3[1], EPOLLOUT | EPOLLET, kC + 2));
	t.events("wait 2", b.epoll_wait(ep, out, 4, 0), out);
	t.events("wait 3", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("wait 1 = 1 {IN data=7f00c0de000b}"));
}
