// tests/pollable_epfd_test.cpp - an epoll fd seen by poll() and by another epoll instance.
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

// Every bit poll knows; the kernel answers only IN|RDNORM for an epoll fd.
constexpr short all_poll_bits = POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLLRDHUP;

// poll(epfd) recording the count and revents; returns revents.
short poll_ep(backend &b, trace &t, const std::string &what, int ep, short events = all_poll_bits, int timeout = 0)
{
	pollfd p{ep, events, 0};
	int n = b.poll(&p, 1, timeout);
	t.step(what, n);
	t.note(what + " revents = " + std::to_string(p.revents));
	return n > 0 ? p.revents : 0;
}

} // namespace

DIFF_TEST(pollable_epfd, empty_epfd_polls_nothing)
{
	int ep = b.epoll_create1(0);
	EXPECT_EQ(poll_ep(b, t, "poll empty", ep), 0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000001ULL);
	EXPECT_EQ(poll_ep(b, t, "poll idle item", ep), 0);
	// A short bound that stays right on a slow machine: nothing can become ready.
	EXPECT_EQ(poll_ep(b, t, "poll idle item 50ms", ep, all_poll_bits, 50), 0);
}

DIFF_TEST(pollable_epfd, poll_reports_in_rdnorm_while_item_ready)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000002ULL);
	t.step("write", b.write(p[1], "x", 1));
	EXPECT_EQ(poll_ep(b, t, "poll all bits", ep), POLLIN | POLLRDNORM);
	EXPECT_EQ(poll_ep(b, t, "poll IN", ep, POLLIN), POLLIN);
	EXPECT_EQ(poll_ep(b, t, "poll RDNORM", ep, POLLRDNORM), POLLRDNORM);
	EXPECT_EQ(poll_ep(b, t, "poll OUT", ep, POLLOUT | POLLWRNORM | POLLPRI), 0);
	// poll does not harvest a level-triggered item either.
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 1);
	// The reported LT item went back on the ready list and is still ready.
	EXPECT_EQ(poll_ep(b, t, "poll after wait", ep), POLLIN | POLLRDNORM);
}

DIFF_TEST(pollable_epfd, drained_before_poll_reports_nothing)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000003ULL);
	int efd = b.eventfd(0, EFD_NONBLOCK);
	add(b, ep, efd, EPOLLIN | EPOLLET, 0xfeedface00000004ULL);
	t.step("write pipe", b.write(p[1], "x", 1));
	uint64_t one = 1;
	t.step("write eventfd", b.write(efd, &one, sizeof one));
	char c;
	t.step("drain pipe", b.read(p[0], &c, 1));
	uint64_t v;
	t.step("drain eventfd", b.read(efd, &v, sizeof v));
	EXPECT_EQ(poll_ep(b, t, "poll", ep), 0);
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 0);
	// A later write makes it ready again.
	t.step("write pipe again", b.write(p[1], "y", 1));
	EXPECT_EQ(poll_ep(b, t, "poll again", ep), POLLIN | POLLRDNORM);
}

DIFF_TEST(pollable_epfd, poll_does_not_consume_pending_et_item)
{
	int ep = b.epoll_create1(0);
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	add(b, ep, sv[0], EPOLLIN | EPOLLET, 0xfeedface00000005ULL);
	t.step("send", b.send(sv[1], "x", 1, 0));
	EXPECT_EQ(poll_ep(b, t, "poll 1", ep), POLLIN | POLLRDNORM);
	EXPECT_EQ(poll_ep(b, t, "poll 2", ep), POLLIN | POLLRDNORM);
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000005ULL);
	// The edge is consumed by epoll_wait: the ET item leaves the ready list
	// even though the socket is still readable.
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait again", n, out);
	EXPECT_EQ(n, 0);
	EXPECT_EQ(poll_ep(b, t, "poll after wait", ep), 0);
}

DIFF_TEST(pollable_epfd, disarmed_oneshot_item_does_not_make_epfd_ready)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface00000006ULL);
	t.step("write", b.write(p[1], "x", 1));
	EXPECT_EQ(poll_ep(b, t, "poll armed", ep), POLLIN | POLLRDNORM);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_EQ(poll_ep(b, t, "poll disarmed", ep), 0);
	t.step("write more", b.write(p[1], "y", 1));
	EXPECT_EQ(poll_ep(b, t, "poll disarmed after write", ep), 0);
	epoll_event ev{};
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = 0xfeedface00000007ULL;
	t.step("mod re-arms", b.epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	EXPECT_EQ(poll_ep(b, t, "poll re-armed", ep), POLLIN | POLLRDNORM);
}

DIFF_TEST(pollable_epfd, deleted_item_does_not_make_epfd_ready)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000008ULL);
	t.step("write", b.write(p[1], "x", 1));
	t.step("del", b.epoll_ctl(ep, EPOLL_CTL_DEL, p[0], nullptr));
	EXPECT_EQ(poll_ep(b, t, "poll", ep), 0);
}

DIFF_TEST(pollable_epfd, poll_with_timeout_wakes_when_item_becomes_ready)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000009ULL);
	std::thread w([&] {
		usleep(100 * 1000);
		b.write(p[1], "x", 1);
	});
	short rev = poll_ep(b, t, "poll 5000ms", ep, POLLIN, 5000);
	w.join();
	EXPECT_EQ(rev, POLLIN);
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 1);
}

DIFF_TEST(pollable_epfd, poll_with_timeout_wakes_on_nested_item)
{
	int inner = b.epoll_create1(0), outer = b.epoll_create1(0);
	int efd = b.eventfd(0, EFD_NONBLOCK);
	add(b, inner, efd, EPOLLIN | EPOLLET, 0xfeedface0000000aULL);
	add(b, outer, inner, EPOLLIN, 0xfeedface0000000bULL);
	std::thread w([&] {
		usleep(100 * 1000);
		uint64_t one = 1;
		b.write(efd, &one, sizeof one);
	});
	short rev = poll_ep(b, t, "poll outer 5000ms", outer, POLLIN, 5000);
	w.join();
	EXPECT_EQ(rev, POLLIN);
}

DIFF_TEST(pollable_epfd, outer_level_triggered_reports_while_inner_ready)
{
	int inner = b.epoll_create1(0), outer = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, inner, p[0], EPOLLIN, 0xfeedface0000000cULL);
	add(b, outer, inner, EPOLLIN, 0xfeedface0000000dULL);
	epoll_event out[4];
	t.step("write", b.write(p[1], "xy", 2));
	for (int i = 0; i < 3; i++) {
		int n = b.epoll_wait(outer, out, 4, 0);
		t.events("outer LT " + std::to_string(i), n, out);
		EXPECT_EQ(n, 1);
	}
	char c;
	t.step("partial read", b.read(p[0], &c, 1));
	t.events("outer after partial read", b.epoll_wait(outer, out, 4, 0), out);
	t.step("drain", b.read(p[0], &c, 1));
	int n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer after drain", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(pollable_epfd, outer_edge_triggered_reports_each_new_inner_event)
{
	int inner = b.epoll_create1(0), outer = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, inner, p[0], EPOLLIN, 0xfeedface0000000eULL);
	add(b, outer, inner, EPOLLIN | EPOLLET, 0xfeedface0000000fULL);
	epoll_event out[4];
	t.step("write 1", b.write(p[1], "a", 1));
	int n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer ET after write 1", n, out);
	EXPECT_EQ(n, 1);
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer ET again", n, out);
	EXPECT_EQ(n, 0);
	// Harvesting the inner LT item re-queues it without a new wake-up.
	t.events("inner", b.epoll_wait(inner, out, 4, 0), out);
	t.events("outer ET after inner wait", b.epoll_wait(outer, out, 4, 0), out);
	// A new write wakes the inner instance, which is a new edge for outer.
	t.step("write 2", b.write(p[1], "b", 1));
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer ET after write 2", n, out);
	EXPECT_EQ(n, 1);
	epoll_event ev{};
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 0xfeedface00000010ULL;
	t.step("mod outer", b.epoll_ctl(outer, EPOLL_CTL_MOD, inner, &ev));
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer ET after mod", n, out);
	EXPECT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000010ULL);
}

DIFF_TEST(pollable_epfd, inner_wait_after_outer_reported)
{
	int inner = b.epoll_create1(0), outer = b.epoll_create1(0);
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int efd = b.eventfd(0, EFD_NONBLOCK);
	add(b, inner, sv[0], EPOLLIN | EPOLLRDHUP, 0xfeedface00000011ULL);
	add(b, inner, efd, EPOLLIN | EPOLLET, 0xfeedface00000012ULL);
	add(b, outer, inner, EPOLLIN, 0xfeedface00000013ULL);
	t.step("send", b.send(sv[1], "hello", 5, 0));
	uint64_t one = 1;
	t.step("write eventfd", b.write(efd, &one, sizeof one));
	epoll_event out[4];
	int n = uepoll::test::wait_some(b, outer, out, 4);
	t.events("outer", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000013ULL);
	n = b.epoll_wait(inner, out, 4, 0);
	t.events("inner", n, out);
	EXPECT_EQ(n, 2);
	// The socket (LT) is still readable; the eventfd edge was consumed.
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer after inner wait", n, out);
	EXPECT_EQ(n, 1);
	n = b.epoll_wait(inner, out, 4, 0);
	t.events("inner again", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000011ULL);
	char buf[8];
	t.step("recv", b.recv(sv[0], buf, sizeof buf, 0));
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer after recv", n, out);
	EXPECT_EQ(n, 0);
	// Peer close: RDHUP|HUP on the socket still show as plain IN on the outer.
	t.step("close peer", b.close(sv[1]));
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer after peer close", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].events, (uint32_t)EPOLLIN);
	n = b.epoll_wait(inner, out, 4, 0);
	t.events("inner after peer close", n, out);
}

DIFF_TEST(pollable_epfd, blocked_outer_wait_wakes_from_another_thread)
{
	int inner = b.epoll_create1(0), outer = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, inner, p[0], EPOLLIN | EPOLLET, 0xfeedface00000014ULL);
	add(b, outer, inner, EPOLLIN | EPOLLET, 0xfeedface00000015ULL);
	std::thread w([&] {
		usleep(100 * 1000);
		b.write(p[1], "x", 1);
	});
	epoll_event out[4];
	int n = uepoll::test::wait_some(b, outer, out, 4);
	w.join();
	t.events("outer", n, out);
	EXPECT_EQ(n, 1);
	n = b.epoll_wait(inner, out, 4, 0);
	t.events("inner", n, out);
	EXPECT_EQ(n, 1);
}
