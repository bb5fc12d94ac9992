// tests/smoke_test.cpp - the harness itself: a pipe reports IN on both.
#include <unistd.h>

#include "tests/trace.hpp"

DIFF_TEST(smoke, pipe_becomes_readable)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, 0);
	epoll_event ev{};
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1234567890abcdefULL;
	t.step("add", b.epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	epoll_event out[4];
	t.events("wait before write", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write", b.write(p[1], "x", 1));
	t.events("wait after write", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("data=1234567890abcdef"));
}
