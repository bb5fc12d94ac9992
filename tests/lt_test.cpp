// tests/lt_test.cpp - level-triggered items: what is reported, in which order, with which data.
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/sockets.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::mod;
using uepoll::test::tcp_listener;

DIFF_TEST(lt, reported_while_ready)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN, 0xfeedface00000001ULL));
	epoll_event out[4];
	t.step("write", b.write(p[1], "abcdef", 6));
	// Level-triggered: every wait sees it again while data is left.
	for (int i = 0; i < 3; i++)
		t.events("wait " + std::to_string(i), b.epoll_wait(ep, out, 4, 0), out);
	char buf[16];
	t.step("partial read", b.read(p[0], buf, 2));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait after partial read", n, out);
	EXPECT_EQ(n, 1);
	t.step("read rest", b.read(p[0], buf, sizeof buf));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait after drain", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(lt, write_drain_wait_reports_nothing)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN, 0xfeedface00000003ULL));
	t.step("write", b.write(p[1], "xyz", 3));
	char buf[8];
	t.step("drain", b.read(p[0], buf, sizeof buf));
	// The item was queued by the write but is re-polled when harvested.
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 0);
	n = b.epoll_wait(ep, out, 4, 50);
	t.events("wait 50ms", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(lt, readiness_gone_between_add_and_wait)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("write", b.write(sv[1], "hello", 5));
	// ADD of a ready fd queues it at once; the read takes the readiness away again.
	t.step("add", add(b, ep, sv[0], EPOLLIN, 0xfeedface00000005ULL));
	char buf[16];
	t.step("read", b.read(sv[0], buf, sizeof buf));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(lt, round_robin_when_maxevents_is_smaller)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[5][2];
	for (int i = 0; i < 5; i++) {
		b.pipe2(p[i], O_NONBLOCK);
		t.step("add " + std::to_string(i), add(b, ep, p[i][0], EPOLLIN, 0xfeedface00000000ULL + i));
	}
	for (int i = 0; i < 5; i++)
		b.write(p[i][1], "x", 1);
	// Served ones go back to the tail: 01, 23, 40, 12.
	epoll_event out[2];
	std::string seen;
	for (int w = 0; w < 4; w++) {
		int n = b.epoll_wait(ep, out, 2, 0);
		t.events("wait " + std::to_string(w), n, out, true);
		for (int i = 0; i < n; i++)
			seen += char('0' + (out[i].data.u64 & 0xff));
	}
	EXPECT_EQ(seen, "01234012");
}

DIFF_TEST(lt, report_order_is_readiness_order)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[5][2];
	for (int i = 0; i < 5; i++) {
		b.pipe2(p[i], O_NONBLOCK);
		t.step("add " + std::to_string(i), add(b, ep, p[i][0], EPOLLIN, 0xfeedface00000000ULL + i));
	}
	static const int order[5] = {3, 1, 4, 0, 2};
	for (int i : order)
		t.step("write " + std::to_string(i), b.write(p[i][1], "x", 1));
	epoll_event out[8];
	int n = b.epoll_wait(ep, out, 8, 0);
	t.events("wait", n, out, true);
	ASSERT_EQ(n, 5);
	for (int i = 0; i < 5; i++)
		EXPECT_EQ(out[i].data.u64, 0xfeedface00000000ULL + order[i]);
}

DIFF_TEST(lt, only_requested_bits_plus_err_hup)
{
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	// One instance per interest set, all watching sv[0].
	static const uint32_t interest[] = {EPOLLIN, EPOLLOUT, 0, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI, EPOLLRDHUP};
	int ep[5];
	for (int i = 0; i < 5; i++) {
		ep[i] = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("add " + uepoll::test::event_bits(interest[i]),
		       add(b, ep[i], sv[0], interest[i], 0xfeedface00000010ULL + i));
	}
	epoll_event out[4];
	auto all = [&](const std::string &stage) {
		for (int i = 0; i < 5; i++)
			t.events(stage + " " + std::to_string(i), b.epoll_wait(ep[i], out, 4, 0), out);
	};
	all("idle");
	t.step("peer write", b.write(sv[1], "data", 4));
	all("readable");
	t.step("peer close", b.close(sv[1]));
	all("peer closed");
	EXPECT_TRUE(t.contains("peer closed 0 = 1 {IN|HUP data=feedface00000010}"));
	EXPECT_TRUE(t.contains("peer closed 1 = 1 {OUT|HUP data=feedface00000011}"));
	EXPECT_TRUE(t.contains("peer closed 2 = 1 {HUP data=feedface00000012}"));
	EXPECT_TRUE(t.contains("peer closed 3 = 1 {IN|OUT|HUP|RDHUP data=feedface00000013}"));
	EXPECT_TRUE(t.contains("peer closed 4 = 1 {HUP|RDHUP data=feedface00000014}"));
	EXPECT_TRUE(t.contains("readable 0 = 1 {IN data=feedface00000010}"));
	EXPECT_TRUE(t.contains("idle 0 = 0"));
	EXPECT_TRUE(t.contains("idle 2 = 0"));
}

DIFF_TEST(lt, err_reported_without_being_requested)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add write end, no interest", add(b, ep, p[1], 0, 0xfeedface00000021ULL));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close reader", b.close(p[0]));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait after reader closed", n, out);
	EXPECT_TRUE(t.contains("wait after reader closed = 1 {ERR data=feedface00000021}"));
}

DIFF_TEST(lt, rdnorm_or_wrnorm_alone)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add pipe rd", add(b, ep, p[0], EPOLLRDNORM, 0xfeedface00000031ULL));
	t.step("add pipe wr", add(b, ep, p[1], EPOLLWRNORM, 0xfeedface00000032ULL));
	t.step("add sock", add(b, ep, sv[0], EPOLLRDNORM, 0xfeedface00000033ULL));
	epoll_event out[4];
	t.events("idle", b.epoll_wait(ep, out, 4, 0), out);
	b.write(p[1], "x", 1);
	b.write(sv[1], "y", 1);
	t.events("readable", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("idle = 1 {WRNORM data=feedface00000032}"));
	EXPECT_TRUE(t.contains("readable = 3 {RDNORM data=feedface00000031} {RDNORM data=feedface00000033} "
			       "{WRNORM data=feedface00000032}"));
}

DIFF_TEST(lt, data_comes_back_verbatim)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	// Pointers with flag bits (nginx uses the low bit), sign bit, all ones, zero.
	static const uint64_t data[] = {0x00007f1234567891ULL, 0x00005555deadbee3ULL, 0x8000000000000001ULL,
					0xffffffffffffffffULL, 0ULL, 0xfeedface00000007ULL};
	int p[6][2];
	for (int i = 0; i < 6; i++) {
		b.pipe2(p[i], O_NONBLOCK);
		t.step("add", add(b, ep, p[i][0], EPOLLIN, data[i]));
		b.write(p[i][1], "x", 1);
	}
	epoll_event out[8];
	int n = b.epoll_wait(ep, out, 8, 0);
	t.events("wait", n, out, true);
	ASSERT_EQ(n, 6);
	for (int i = 0; i < 6; i++)
		EXPECT_EQ(out[i].data.u64, data[i]);
}

DIFF_TEST(lt, mod_changes_interest_and_data)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add IN", add(b, ep, sv[0], EPOLLIN, 0xfeedface00000041ULL));
	epoll_event out[4];
	t.events("idle", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod OUT", mod(b, ep, sv[0], EPOLLOUT, 0xfeedface00000042ULL));
	t.events("after mod OUT", b.epoll_wait(ep, out, 4, 0), out);
	b.write(sv[1], "abc", 3);
	t.step("mod IN|OUT", mod(b, ep, sv[0], EPOLLIN | EPOLLOUT, 0xfeedface00000043ULL));
	t.events("after mod IN|OUT", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod IN", mod(b, ep, sv[0], EPOLLIN, 0x00007f0000001001ULL));
	t.events("after mod IN", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("idle = 0"));
	EXPECT_TRUE(t.contains("after mod OUT = 1 {OUT data=feedface00000042}"));
	EXPECT_TRUE(t.contains("after mod IN|OUT = 1 {IN|OUT data=feedface00000043}"));
	EXPECT_TRUE(t.contains("after mod IN = 1 {IN data=7f0000001001}"));
}

DIFF_TEST(lt, del_stops_reports)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN, 0xfeedface00000051ULL));
	b.write(p[1], "x", 1);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("del", b.epoll_ctl(ep, EPOLL_CTL_DEL, p[0], nullptr));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after del", n, out);
	EXPECT_EQ(n, 0);
	b.write(p[1], "y", 1);
	n = b.epoll_wait(ep, out, 4, 50);
	t.events("after del and write", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(lt, add_of_ready_fd_reported_with_timeout_0)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int efd = b.eventfd(3, EFD_NONBLOCK);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv);
	b.write(p[1], "x", 1);
	b.write(sv[1], "d", 1);
	t.step("add pipe", add(b, ep, p[0], EPOLLIN, 0xfeedface00000061ULL));
	t.step("add eventfd", add(b, ep, efd, EPOLLIN, 0xfeedface00000062ULL));
	t.step("add dgram", add(b, ep, sv[0], EPOLLIN, 0xfeedface00000063ULL));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 3);
}

DIFF_TEST(lt, write_then_wait_0_sees_it)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int efd = b.eventfd(0, EFD_NONBLOCK);
	int ss[2], sd[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, ss);
	b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sd);
	t.step("add pipe", add(b, ep, p[0], EPOLLIN, 0xfeedface00000071ULL));
	t.step("add eventfd", add(b, ep, efd, EPOLLIN, 0xfeedface00000072ULL));
	t.step("add stream", add(b, ep, ss[0], EPOLLIN, 0xfeedface00000073ULL));
	t.step("add dgram", add(b, ep, sd[0], EPOLLIN, 0xfeedface00000074ULL));
	epoll_event out[8];
	t.events("idle", b.epoll_wait(ep, out, 8, 0), out);
	// One at a time, so a helper that is not yet awake cannot hide a late one.
	uint64_t one = 1;
	t.step("write pipe", b.write(p[1], "x", 1));
	t.events("wait pipe", b.epoll_wait(ep, out, 8, 0), out);
	t.step("write eventfd", b.write(efd, &one, sizeof one));
	t.events("wait eventfd", b.epoll_wait(ep, out, 8, 0), out);
	t.step("write stream", b.write(ss[1], "s", 1));
	t.events("wait stream", b.epoll_wait(ep, out, 8, 0), out);
	t.step("write dgram", b.write(sd[1], "d", 1));
	int n = b.epoll_wait(ep, out, 8, 0);
	t.events("wait dgram", n, out);
	EXPECT_EQ(n, 4);
}

DIFF_TEST(lt, dups_of_one_pipe_are_two_items)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int d = b.dup(p[0]);
	t.step("add", add(b, ep, p[0], EPOLLIN, 0xfeedface00000081ULL));
	t.step("add dup", add(b, ep, d, EPOLLIN | EPOLLRDNORM, 0xfeedface00000082ULL));
	t.step("add dup again", add(b, ep, d, EPOLLIN, 0xfeedface00000083ULL));
	epoll_event out[4];
	t.events("idle", b.epoll_wait(ep, out, 4, 0), out);
	b.write(p[1], "x", 1);
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("readable", n, out);
	EXPECT_EQ(n, 2);
	t.step("del dup", b.epoll_ctl(ep, EPOLL_CTL_DEL, d, nullptr));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after del dup", n, out);
	EXPECT_EQ(n, 1);
}

// nginx adds upstream sockets before b.connect(): the OUT|HUP of the unconnected
// socket must not leak into the report after the connection is made.
DIFF_TEST(lt, upstream_added_before_connect_without_wait)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	t.step("add", add(b, ep, c, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, 0x00007f00aaaa0001ULL));
	t.step("connect", b.connect(c, (sockaddr *)&sa, sizeof sa));
	epoll_event out[4];
	int n = uepoll::test::wait_some(b, ep, out, 4);
	t.events("wait after connect", n, out);
	EXPECT_TRUE(t.contains("wait after connect = 1 {OUT data=7f00aaaa0001}"));
	t.events("wait again", b.epoll_wait(ep, out, 4, 0), out);
	b.close(l);
}

DIFF_TEST(lt, upstream_added_before_connect_after_wait)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	t.step("add", add(b, ep, c, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, 0x00007f00aaaa0003ULL));
	epoll_event out[4];
	t.events("wait before connect", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("wait before connect = 1 {OUT|HUP data=7f00aaaa0003}"));
	t.step("connect", b.connect(c, (sockaddr *)&sa, sizeof sa));
	int n = uepoll::test::wait_some(b, ep, out, 4);
	t.events("wait after connect", n, out);
	EXPECT_TRUE(t.contains("wait after connect = 1 {OUT data=7f00aaaa0003}"));
	b.close(l);
}

// The same with a level-triggered item: once connected it reports OUT and keeps reporting it.
DIFF_TEST(lt, upstream_level_triggered_before_connect)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	t.step("add", add(b, ep, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 0x00007f00aaaa0005ULL));
	epoll_event out[4];
	t.events("wait before connect", b.epoll_wait(ep, out, 4, 0), out);
	t.step("connect", b.connect(c, (sockaddr *)&sa, sizeof sa));
	int n = uepoll::test::wait_some(b, ep, out, 4);
	t.events("wait after connect", n, out);
	t.events("wait again", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("wait after connect = 1 {OUT data=7f00aaaa0005}"));
	EXPECT_TRUE(t.contains("wait again = 1 {OUT data=7f00aaaa0005}"));
	b.close(l);
}

// add_wait_queue() puts an item's entry at the head of the file's wait
// queue: when one file is watched through two fd numbers, the item added
// last is queued (and reported) first.
DIFF_TEST(lt, newest_item_of_a_file_is_woken_first)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv);
	int d = b.fcntl_dupfd(sv[1], 0, false);
	t.step("add dup", add(b, ep, d, EPOLLIN, 0x401));
	t.step("add original", add(b, ep, sv[1], EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, 0x402));
	t.step("write", b.write(sv[0], "x", 1));
	epoll_event out[4];
	t.events("wait in order", b.epoll_wait(ep, out, 4, 0), out, true);
	EXPECT_TRUE(t.contains("wait in order = 2 {IN data=402} {IN data=401}"));
}
