// tests/edges_pipe_test.cpp - which I/O on pipes and eventfds is an edge
// for an edge-triggered item (the wake-ups of fs/pipe.c and fs/eventfd.c).
// Each test's comment says which fuzzer seed and program, or which unit
// test, first caught the bug it pins.
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <string>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/sockets.hpp"
#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

using uepoll::test::add;

// A partial read re-armed the item; the next poll saw IN only (the item
// asked for IN), and the pipe's IN|RDNORM wake-up then looked like "only
// RDNORM is new", which the item does not want: the write's edge was lost.
DIFF_TEST(edges_pipe, pipe_write_after_partial_read_is_an_edge)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0x101));
	t.step("write", b.write(p[1], "0123456789", 10));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char c;
	t.step("partial read", b.read(p[0], &c, 1));
	b.epoll_wait(ep, out, 4, 0); // uepoll may report again here (deviation 1)
	t.step("write again", b.write(p[1], "x", 1));
	t.events("after write", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after write = 1 {IN data=101}"));
}

// eventfd_read() wakes the eventfd's writers with EPOLLOUT: an OUT edge.
DIFF_TEST(edges_pipe, eventfd_read_is_an_out_edge)
{
	int e = b.eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, e, EPOLLIN | EPOLLOUT | EPOLLET, 0x901));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.events("again", b.epoll_wait(ep, out, 4, 0), out);
	uint64_t v;
	t.step("read", b.read(e, &v, sizeof v));
	t.events("after read", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after read = 1 {IN|OUT data=901}"));
}

// eventfd_write() wakes its waiters with the key EPOLLIN alone
// (wake_up_locked_poll(&ctx->wqh, EPOLLIN)): an item that asked for
// RDNORM but not IN is no waiter of it, and its reported OUT is not made
// new (uepoll-fuzz seed 652183061 program 3070).
DIFF_TEST(edges_pipe, eventfd_write_wakes_in_only)
{
	int e = b.eventfd(0, EFD_NONBLOCK);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, e, EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM | EPOLLET, 0x905));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	uint64_t v = 1;
	t.step("write", b.write(e, &v, sizeof v));
	t.events("after write", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after write = 0"));
	t.step("add IN item", add(b, ep, b.dup(e), EPOLLIN | EPOLLRDNORM | EPOLLET, 0x906));
	t.events("wait IN", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write again", b.write(e, &v, sizeof v));
	t.events("after write again", b.epoll_wait(ep, out, 4, 0), out);
}

// pipe_write() wakes the readers even when the pipe is full and nothing
// was written (EAGAIN), once the pipe has been polled: a new IN edge.
DIFF_TEST(edges_pipe, write_to_full_pipe_is_still_an_edge)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xa01));
	static char big[70000];
	t.step("fill", b.write(p[1], big, sizeof big));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write to full pipe", b.write(p[1], big, 8));
	t.events("after EAGAIN", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("write to full pipe = -1 EAGAIN"));
	EXPECT_TRUE(t.contains("after EAGAIN = 1 {IN data=a01}"));
}

// Closing a pipe's write end wakes the reader (pipe_release()): an edge
// even for an item whose earlier IN was reported and not read.
DIFF_TEST(edges_pipe, writer_close_is_an_edge_for_the_reader)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("write", b.write(p[1], "x", 1));
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xc01));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close writer", b.close(p[1]));
	t.events("after close", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after close = 1 {IN|HUP data=c01}"));
}

// An eventfd write that would overflow fails with EAGAIN and wakes
// nobody; the eventfd stays writable.  (Fuzzer: seed 20261123 program 2594.)
DIFF_TEST(edges_pipe, eventfd_write_eagain_is_not_an_edge)
{
	int e = b.eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, e, EPOLLIN | EPOLLOUT | EPOLLET, 0xc0b));
	uint64_t v = 1;
	t.step("write 1", b.write(e, &v, sizeof v));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	v = UINT64_MAX - 1;
	t.step("write big", b.write(e, &v, sizeof v));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("write big = -1 EAGAIN"));
	EXPECT_TRUE(t.contains("after = 0"));
}

// pipe_read() wakes the writer (OUT|WRNORM) when it frees a slot of a full
// pipe, also a pipe no short write of ours had found full: the drain of a
// full pipe queues the writer's item before an item added afterwards.  A
// 1-byte read, which frees no slot, wakes nobody (seed 2534976491 program
// 502, replays/pipe-read-still-full-wakes-writer-s2534976491-p502.rep).
// (Fuzzer: seed 12613 program 746, replays/pipe-read-of-still-full-pipe-
// wakes-writer-s12613-p746.rep.)
DIFF_TEST(edges_pipe, pipe_read_of_a_still_full_pipe_wakes_the_writer)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int e = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	t.step("add writer", add(b, ep, p[1], EPOLLOUT, 0xd01));
	static char big[70000];
	t.step("fill", b.write(p[1], big, sizeof big));
	t.step("read 1 byte", b.read(p[0], big, 1));
	epoll_event out[4];
	t.events("wait, pipe still full", b.epoll_wait(ep, out, 4, 0), out);
	t.step("drain", b.read(p[0], big, sizeof big));
	t.step("add eventfd", add(b, ep, e, EPOLLOUT, 0xd02));
	t.events("wait 1", b.epoll_wait(ep, out, 1, 0), out);
	EXPECT_TRUE(t.contains("wait, pipe still full = 0"));
	EXPECT_TRUE(t.contains("wait 1 = 1 {OUT data=d01}"));
}

// The same wake-up when no write of ours came back short: a write that
// fills the pipe exactly (65536 bytes, all taken) leaves it full, and the
// next read wakes the writer.
DIFF_TEST(edges_pipe, pipe_read_of_an_exactly_filled_pipe_wakes_the_writer)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	int e = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	static char big[65536];
	t.step("fill exactly", b.write(p[1], big, sizeof big));
	t.step("add writer", add(b, ep, p[1], EPOLLOUT, 0xe01));
	t.step("drain", b.read(p[0], big, sizeof big));
	t.step("add eventfd", add(b, ep, e, EPOLLOUT, 0xe02));
	epoll_event out[4];
	t.events("wait 1", b.epoll_wait(ep, out, 1, 0), out);
	EXPECT_TRUE(t.contains("fill exactly = 65536"));
	EXPECT_TRUE(t.contains("wait 1 = 1 {OUT data=e01}"));
}
