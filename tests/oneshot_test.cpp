// tests/oneshot_test.cpp - EPOLLONESHOT: one report, then disarmed until MOD.
#include <fcntl.h>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::mod;

namespace {

using uepoll::test::backend;

} // namespace

DIFF_TEST(oneshot, one_report_then_nothing)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a001ULL));
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 1);
	// Still readable, level-triggered, but disarmed.
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait again", n, out);
	EXPECT_EQ(n, 0);
	t.step("write more", b.write(p[1], "y", 1));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after more data", n, out);
	EXPECT_EQ(n, 0);
	t.step("close writer", b.close(p[1]));
	n = b.epoll_wait(ep, out, 4, 50);
	t.events("after writer closed", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(oneshot, no_hup_when_the_peer_closes_later)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add", add(b, ep, sv[0], EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, 0xfeedface0000a011ULL));
	t.step("peer write", b.write(sv[1], "abc", 3));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char buf[8];
	t.step("drain", b.read(sv[0], buf, sizeof buf));
	t.step("peer close", b.close(sv[1]));
	int n = b.epoll_wait(ep, out, 4, 50);
	t.events("after peer close", n, out);
	EXPECT_EQ(n, 0);
	// Re-arming shows the hang-up that happened meanwhile.
	t.step("mod", mod(b, ep, sv[0], EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, 0xfeedface0000a012ULL));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after mod", n, out);
	EXPECT_TRUE(t.contains("after mod = 1 {IN|HUP|RDHUP data=feedface0000a012}"));
}

DIFF_TEST(oneshot, mod_rearms_and_reports_at_once_if_ready)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a021ULL));
	b.write(p[1], "x", 1);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.events("disarmed", b.epoll_wait(ep, out, 4, 0), out);
	for (int i = 0; i < 3; i++) {
		std::string k = std::to_string(i);
		t.step("mod " + k, mod(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a022ULL + i));
		int n = b.epoll_wait(ep, out, 4, 0);
		t.events("after mod " + k, n, out);
		EXPECT_EQ(n, 1);
		n = b.epoll_wait(ep, out, 4, 0);
		t.events("disarmed " + k, n, out);
		EXPECT_EQ(n, 0);
	}
}

DIFF_TEST(oneshot, mod_rearms_an_idle_fd_for_the_next_event)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a031ULL));
	b.write(p[1], "x", 1);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char c;
	t.step("drain", b.read(p[0], &c, 1));
	t.step("mod", mod(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a032ULL));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after mod", n, out);
	EXPECT_EQ(n, 0);
	t.step("write", b.write(p[1], "y", 1));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after write", n, out);
	EXPECT_TRUE(t.contains("after write = 1 {IN data=feedface0000a032}"));
	t.events("disarmed", b.epoll_wait(ep, out, 4, 0), out);
}

DIFF_TEST(oneshot, mod_to_other_events_rearms)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add", add(b, ep, sv[0], EPOLLOUT | EPOLLONESHOT, 0xfeedface0000a041ULL));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.events("disarmed", b.epoll_wait(ep, out, 4, 0), out);
	b.write(sv[1], "z", 1);
	// Re-armed without ONESHOT: an ordinary level-triggered item again.
	t.step("mod IN|OUT", mod(b, ep, sv[0], EPOLLIN | EPOLLOUT, 0xfeedface0000a042ULL));
	t.events("after mod", b.epoll_wait(ep, out, 4, 0), out);
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("level-triggered again", n, out);
	EXPECT_TRUE(t.contains("level-triggered again = 1 {IN|OUT data=feedface0000a042}"));
}

DIFF_TEST(oneshot, add_of_disarmed_item_gives_eexist)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a051ULL));
	b.write(p[1], "x", 1);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	long r = t.step("add again", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a052ULL));
	EXPECT_EQ(r, -1);
	EXPECT_TRUE(t.contains("add again = -1 EEXIST"));
	t.events("still disarmed", b.epoll_wait(ep, out, 4, 0), out);
}

DIFF_TEST(oneshot, del_of_disarmed_item_works)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a061ULL));
	b.write(p[1], "x", 1);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_EQ(t.step("del", b.epoll_ctl(ep, EPOLL_CTL_DEL, p[0], nullptr)), 0);
	t.step("del again", b.epoll_ctl(ep, EPOLL_CTL_DEL, p[0], nullptr));
	t.step("mod after del", mod(b, ep, p[0], EPOLLIN, 0xfeedface0000a062ULL));
	t.step("add after del", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 0xfeedface0000a063ULL));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after new add", n, out);
	EXPECT_TRUE(t.contains("after new add = 1 {IN data=feedface0000a063}"));
}

DIFF_TEST(oneshot, with_et)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int efd = b.eventfd(0, EFD_NONBLOCK);
	t.step("add pipe", add(b, ep, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 0xfeedface0000a071ULL));
	t.step("add eventfd", add(b, ep, efd, EPOLLIN | EPOLLET | EPOLLONESHOT, 0xfeedface0000a072ULL));
	uint64_t one = 1;
	b.write(p[1], "x", 1);
	b.write(efd, &one, sizeof one);
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 2);
	// New edges while disarmed are not reported.
	b.write(p[1], "y", 1);
	b.write(efd, &one, sizeof one);
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("new edges while disarmed", n, out);
	EXPECT_EQ(n, 0);
	t.step("mod pipe", mod(b, ep, p[0], EPOLLIN | EPOLLET | EPOLLONESHOT, 0xfeedface0000a073ULL));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after mod", n, out);
	EXPECT_TRUE(t.contains("after mod = 1 {IN data=feedface0000a073}"));
	t.step("write pipe", b.write(p[1], "z", 1));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("edge after the re-armed report", n, out);
	EXPECT_EQ(n, 0);
	// Re-armed while idle: the next edge is reported once.
	char buf[8];
	t.step("drain eventfd", b.read(efd, buf, 8));
	t.step("mod eventfd", mod(b, ep, efd, EPOLLIN | EPOLLET | EPOLLONESHOT, 0xfeedface0000a074ULL));
	t.events("after mod eventfd", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write eventfd", b.write(efd, &one, sizeof one));
	t.events("eventfd edge", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write eventfd", b.write(efd, &one, sizeof one));
	t.events("eventfd disarmed", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("eventfd edge = 1 {IN data=feedface0000a074}"));
	EXPECT_TRUE(t.contains("eventfd disarmed = 0"));
}

DIFF_TEST(oneshot, err_hup_not_reported_while_disarmed)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add write end", add(b, ep, p[1], EPOLLOUT | EPOLLONESHOT, 0xfeedface0000a081ULL));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close reader", b.close(p[0]));
	int n = b.epoll_wait(ep, out, 4, 50);
	t.events("after reader closed", n, out);
	EXPECT_EQ(n, 0);
	t.step("mod", mod(b, ep, p[1], EPOLLONESHOT, 0xfeedface0000a082ULL));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after mod", n, out);
	EXPECT_TRUE(t.contains("after mod = 1 {ERR data=feedface0000a082}"));
}
