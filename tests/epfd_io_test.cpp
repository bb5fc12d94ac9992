// tests/epfd_io_test.cpp - I/O calls on an epoll fd.  A real epoll fd has
// no read or write (EINVAL) and is not a socket (ENOTSOCK); uepoll's fake
// epoll fd must fail the same way, with no side effect on the instance.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

DIFF_TEST(epfd_io, read_and_write_fail_with_einval)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	char buf[8] = {};
	t.step("read", b.read(ep, buf, sizeof buf));
	t.step("read 0 bytes", b.read(ep, buf, 0));
	t.step("read into NULL", b.read(ep, nullptr, 8));
	t.step("write", b.write(ep, buf, sizeof buf));
	t.step("write 0 bytes", b.write(ep, buf, 0));
	EXPECT_TRUE(t.contains("read = -1 EINVAL"));
	EXPECT_TRUE(t.contains("write = -1 EINVAL"));
}

DIFF_TEST(epfd_io, socket_calls_fail_with_enotsock)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	char buf[8] = {};
	t.step("send", b.send(ep, buf, 1, 0));
	t.step("send MSG_OOB", b.send(ep, "!", 1, MSG_OOB));
	t.step("recv", b.recv(ep, buf, sizeof buf, MSG_DONTWAIT));
	t.step("accept4", b.accept4(ep, nullptr, nullptr, 0));
	EXPECT_TRUE(t.contains("send = -1 ENOTSOCK"));
	EXPECT_TRUE(t.contains("recv = -1 ENOTSOCK"));
}

// The failed I/O leaves the instance as it was: an item still reports.
DIFF_TEST(epfd_io, failed_io_leaves_the_instance_intact)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	epoll_event ev{};
	ev.events = EPOLLIN;
	ev.data.u64 = 0x10ULL;
	t.step("add", b.epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	t.step("write pipe", b.write(p[1], "x", 1));
	char buf[8];
	t.step("read epfd", b.read(ep, buf, sizeof buf));
	t.step("send epfd", b.send(ep, buf, 1, 0));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("wait = 1 {IN data=10}"));
}
