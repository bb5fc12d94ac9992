// tests/exclusive_test.cpp - EPOLLEXCLUSIVE between instances of one process, with and without waiters.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/ops.hpp"
#include "tests/sockets.hpp"
#include "tests/trace.hpp"
#include "tests/waiters.hpp"

using uepoll::test::add;

namespace {

using uepoll::test::backend;
using uepoll::test::kStop;
using uepoll::test::stop_all;
using uepoll::test::tcp_listener;
using uepoll::test::waiters;

// Two instances A then B watching fd with IN|EXCLUSIVE (plus the stop
// eventfd), a thread blocked on each; trigger once; how many woke.
void one_waiter_woken(backend &b, uepoll::test::trace &t, int fd, uint64_t data, const std::function<void()> &trigger)
{
	int stopfd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int eps[2];
	for (int i = 0; i < 2; i++) {
		eps[i] = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("add exclusive", add(b, eps[i], fd, EPOLLIN | EPOLLEXCLUSIVE, data));
		t.step("add stop", add(b, eps[i], stopfd, EPOLLIN, kStop));
	}
	waiters w(b, {eps[0], eps[1]});
	bool blocked = w.all_blocked();
	t.step("both blocked", blocked);
	EXPECT_TRUE(blocked);
	trigger();
	t.step("someone woke", w.returned(1, 5000) >= 1);
	// The other one must still be asleep 300 ms later.
	int woken = w.returned(2, 300);
	t.step("woken", woken);
	EXPECT_EQ(woken, 1);
	t.step("stop", stop_all(b, stopfd));
	w.join();
	int got = w.count_got(data);
	t.step("threads that got the event", got);
	EXPECT_EQ(got, 1);
	for (auto &r : w.results)
		t.step("thread returned events", r.n > 0);
}

} // namespace

DIFF_TEST(exclusive, no_waiters_every_instance_reports)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int a = b.epoll_create1(EPOLL_CLOEXEC);
	int c = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add A", add(b, a, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c001ULL));
	t.step("add B", add(b, c, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c002ULL));
	epoll_event out[4];
	t.events("A idle", b.epoll_wait(a, out, 4, 0), out);
	t.events("B idle", b.epoll_wait(c, out, 4, 0), out);
	t.step("write", b.write(p[1], "x", 1));
	int na = b.epoll_wait(a, out, 4, 0);
	t.events("A", na, out);
	int nb = b.epoll_wait(c, out, 4, 0);
	t.events("B", nb, out);
	EXPECT_EQ(na, 1);
	EXPECT_EQ(nb, 1);
}

DIFF_TEST(exclusive, one_write_wakes_one_of_two_waiters)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	one_waiter_woken(b, t, p[0], 0xfeedface0000c011ULL, [&] { b.write(p[1], "x", 1); });
}

// The kernel walks A then B: an instance without a waiter gets the event
// queued, the first one with a waiter is woken and the walk stops there.
DIFF_TEST(exclusive, walk_queues_until_the_first_waiter)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int stopfd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int a = b.epoll_create1(EPOLL_CLOEXEC);
	int c = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add A", add(b, a, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c021ULL));
	t.step("add B", add(b, c, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c022ULL));
	t.step("add stop B", add(b, c, stopfd, EPOLLIN, kStop));
	{
		waiters w(b, {c});
		t.step("B blocked", w.all_blocked());
		t.step("write", b.write(p[1], "x", 1));
		int woke = w.returned(1, 5000);
		t.step("B woke", woke);
		if (woke == 0)
			stop_all(b, stopfd);
		w.join();
		t.step("B got it", w.results[0].got(0xfeedface0000c022ULL));
	}
	epoll_event out[4];
	int n = b.epoll_wait(a, out, 4, 0);
	t.events("A queued", n, out);
	EXPECT_EQ(n, 1);
}

DIFF_TEST(exclusive, walk_stops_at_the_first_waiter)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int stopfd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int a = b.epoll_create1(EPOLL_CLOEXEC);
	int c = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add A", add(b, a, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c031ULL));
	t.step("add stop A", add(b, a, stopfd, EPOLLIN, kStop));
	t.step("add B", add(b, c, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c032ULL));
	{
		waiters w(b, {a});
		t.step("A blocked", w.all_blocked());
		t.step("write", b.write(p[1], "x", 1));
		int woke = w.returned(1, 5000);
		t.step("A woke", woke);
		if (woke == 0)
			stop_all(b, stopfd);
		w.join();
		t.step("A got it", w.results[0].got(0xfeedface0000c031ULL));
	}
	// B never saw the wake-up: nothing is on its ready list although the pipe is readable.
	epoll_event out[4];
	int n = b.epoll_wait(c, out, 4, 0);
	t.events("B", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(exclusive, listening_socket_no_waiters)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 16, SOCK_NONBLOCK);
	int a = b.epoll_create1(EPOLL_CLOEXEC);
	int c = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add A", add(b, a, l, EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c041ULL));
	t.step("add B", add(b, c, l, EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c042ULL));
	epoll_event out[4];
	t.events("A idle", b.epoll_wait(a, out, 4, 0), out);
	t.events("B idle", b.epoll_wait(c, out, 4, 0), out);
	int cl = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t.step("connect", b.connect(cl, (sockaddr *)&sa, sizeof sa));
	// Until the server side has queued the connection (plain poll: no epoll waiter).
	pollfd pfd = {l, POLLIN, 0};
	t.step("queued", ::poll(&pfd, 1, 5000));
	int na = b.epoll_wait(a, out, 4, 0);
	t.events("A", na, out);
	int nb = b.epoll_wait(c, out, 4, 0);
	t.events("B", nb, out);
	EXPECT_EQ(na, 1);
	EXPECT_EQ(nb, 1);
	t.step("accept", b.accept4(l, nullptr, nullptr, SOCK_CLOEXEC) >= 0);
	t.events("A after accept", b.epoll_wait(a, out, 4, 0), out);
	t.events("B after accept", b.epoll_wait(c, out, 4, 0), out);
}

DIFF_TEST(exclusive, listening_socket_wakes_one_of_two_waiters)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 16, SOCK_NONBLOCK);
	int cl = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	one_waiter_woken(b, t, l, 0xfeedface0000c051ULL,
			 [&] { t.step("connect", b.connect(cl, (sockaddr *)&sa, sizeof sa)); });
}

DIFF_TEST(exclusive, reports_err_and_hup)
{
	int p[2], q[2];
	b.pipe2(p, O_NONBLOCK);
	b.pipe2(q, O_NONBLOCK);
	int eps[2];
	for (int i = 0; i < 2; i++) {
		eps[i] = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("add reader", add(b, eps[i], p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c061ULL + i));
		t.step("add writer", add(b, eps[i], q[1], EPOLLOUT | EPOLLEXCLUSIVE, 0xfeedface0000c063ULL + i));
	}
	epoll_event out[4];
	for (int i = 0; i < 2; i++)
		t.events("idle", b.epoll_wait(eps[i], out, 4, 0), out);
	t.step("close p writer", b.close(p[1]));
	t.step("close q reader", b.close(q[0]));
	for (int i = 0; i < 2; i++)
		t.events("closed " + std::to_string(i), b.epoll_wait(eps[i], out, 4, 0), out);
	EXPECT_TRUE(t.contains("closed 0 = 2 {HUP data=feedface0000c061} {OUT|ERR data=feedface0000c063}"));
	EXPECT_TRUE(t.contains("closed 1 = 2 {HUP data=feedface0000c062} {OUT|ERR data=feedface0000c064}"));
}

DIFF_TEST(exclusive, hup_wakes_a_waiter)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int stopfd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int a = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, a, p[0], EPOLLIN | EPOLLEXCLUSIVE, 0xfeedface0000c071ULL));
	t.step("add stop", add(b, a, stopfd, EPOLLIN, kStop));
	waiters w(b, {a});
	t.step("blocked", w.all_blocked());
	t.step("close writer", b.close(p[1]));
	t.step("woke", w.returned(1, 5000));
	stop_all(b, stopfd);
	w.join();
	t.step("n", w.results[0].n);
	t.step("got hup", w.results[0].got(0xfeedface0000c071ULL));
	EXPECT_TRUE(w.results[0].got(0xfeedface0000c071ULL));
}

DIFF_TEST(exclusive, non_exclusive_instances_all_report)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int eps[3];
	for (int i = 0; i < 3; i++) {
		eps[i] = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("add", add(b, eps[i], p[0], EPOLLIN, 0xfeedface0000c081ULL + i));
	}
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	for (int i = 0; i < 3; i++) {
		int n = b.epoll_wait(eps[i], out, 4, 0);
		t.events("instance " + std::to_string(i), n, out);
		EXPECT_EQ(n, 1);
	}
}

DIFF_TEST(exclusive, non_exclusive_instances_wake_every_waiter)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int stopfd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	std::vector<int> eps;
	for (int i = 0; i < 3; i++) {
		eps.push_back(b.epoll_create1(EPOLL_CLOEXEC));
		t.step("add", add(b, eps[i], p[0], EPOLLIN, 0xfeedface0000c091ULL));
		t.step("add stop", add(b, eps[i], stopfd, EPOLLIN, kStop));
	}
	waiters w(b, eps);
	t.step("all blocked", w.all_blocked());
	t.step("write", b.write(p[1], "x", 1));
	int woken = w.returned(3, 5000);
	t.step("woken", woken);
	EXPECT_EQ(woken, 3);
	stop_all(b, stopfd);
	w.join();
	t.step("threads that got the event", w.count_got(0xfeedface0000c091ULL));
}

// A plain watcher is always woken; the walk over the exclusive ones still stops at the first waiter.
DIFF_TEST(exclusive, mixed_with_a_plain_instance)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int stopfd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	std::vector<int> eps;
	static const uint32_t kind[3] = {EPOLLIN | EPOLLEXCLUSIVE, EPOLLIN, EPOLLIN | EPOLLEXCLUSIVE};
	for (int i = 0; i < 3; i++) {
		eps.push_back(b.epoll_create1(EPOLL_CLOEXEC));
		t.step("add", add(b, eps[i], p[0], kind[i], 0xfeedface0000c0a1ULL));
		t.step("add stop", add(b, eps[i], stopfd, EPOLLIN, kStop));
	}
	waiters w(b, eps);
	t.step("all blocked", w.all_blocked());
	t.step("write", b.write(p[1], "x", 1));
	w.returned(2, 5000);
	int woken = w.returned(3, 300);
	t.step("woken", woken);
	EXPECT_EQ(woken, 2);
	stop_all(b, stopfd);
	w.join();
	t.step("threads that got the event", w.count_got(0xfeedface0000c0a1ULL));
}

// A release wakes with no key (pipe_release(): wake_up_interruptible_all on
// the writers' queue): every exclusive item is called, and one of an
// instance with no waiter does not stop the walk, so a second instance's
// item (IN|EXCLUSIVE on the writer) is queued too and reports the ERR that
// a writer with no reader polls as.  (Fuzzer: seed 2715544336 program 975,
// replays/pipe-release-reaches-the-second-exclusive-item-s2715544336-p975.rep.)
DIFF_TEST(exclusive, pipe_release_reaches_every_exclusive_item)
{
	int e1 = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	int e2 = b.epoll_create1(0);
	epoll_event ev{};
	ev.events = EPOLLOUT | EPOLLEXCLUSIVE;
	ev.data.u64 = 0x8f;
	t.step("add writer OUT|EXCLUSIVE to e2", b.epoll_ctl(e2, EPOLL_CTL_ADD, p[1], &ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.u64 = 0x92;
	t.step("add writer IN|EXCLUSIVE to e1", b.epoll_ctl(e1, EPOLL_CTL_ADD, p[1], &ev));
	t.step("close the reader", b.close(p[0]));
	epoll_event out[5];
	t.events("wait e1", b.epoll_wait(e1, out, 5, 0), out);
	EXPECT_TRUE(t.contains("wait e1 = 1 {ERR data=92}")) << t.str();
}
