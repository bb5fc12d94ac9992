// tests/edges_unix_test.cpp - which I/O on AF_UNIX sockets is an edge for
// an edge-triggered item (the wake-ups of net/unix/af_unix.c).
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

// unix_shutdown() tells the peer only for stream and seqpacket sockets:
// an AF_UNIX datagram peer gets no wake-up, so no new OUT edge.
DIFF_TEST(edges_unix, unix_dgram_shutdown_does_not_wake_the_peer)
{
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, sv[0], EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET, 0x801));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("peer shutdown", b.shutdown(sv[1], SHUT_WR));
	t.events("after peer shutdown", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after peer shutdown = 0"));
}

// A failed AF_UNIX datagram send (the peer is gone: ECONNREFUSED) had
// allocated its skb: freeing it wakes the sender with OUT, an edge.
// (Fuzzer: seed 20261123 program 1269.)
DIFF_TEST(edges_unix, unix_dgram_failed_send_is_an_out_edge)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, sv[0], EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 0xc01));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close peer", b.close(sv[1]));
	t.events("after close", b.epoll_wait(ep, out, 4, 0), out);
	t.step("send", b.write(sv[0], "x", 1));
	t.events("after failed send", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("send = -1 ECONNREFUSED"));
	EXPECT_TRUE(t.contains("after failed send = 1 {OUT data=c01}"));
}

// Once the read side is shut its IN is a state: a read (here EAGAIN on a
// datagram socket shut for reading) is not followed by a new edge.
// (Fuzzer: seed 20261123 program 222.)
DIFF_TEST(edges_unix, read_of_a_shut_read_side_is_not_an_edge)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	t.step("shutdown RD", b.shutdown(sv[0], SHUT_RD));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, sv[0], EPOLLRDNORM | EPOLLWRNORM | EPOLLET, 0xc02));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char buf[64];
	t.step("read", b.read(sv[0], buf, sizeof buf));
	t.events("after read", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("wait = 1 {RDNORM|WRNORM data=c02}"));
	EXPECT_TRUE(t.contains("after read = 0"));
}

// An AF_UNIX datagram receiver that closes with unread datagrams frees
// them: their sender gets room back, an OUT edge.  (Fuzzer: seed 20261123
// program 2910.)
DIFF_TEST(edges_unix, unix_dgram_receiver_close_is_an_out_edge)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, sv[0], EPOLLOUT | EPOLLET, 0xc04));
	t.step("send", b.write(sv[0], "x", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close receiver", b.close(sv[1]));
	t.events("after close", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after close = 1 {OUT data=c04}"));
}

// An AF_UNIX stream read that takes exactly what was queued frees the
// skb: the writer gets an OUT edge.  (Fuzzer: seed 20261123 program 2697.)
DIFF_TEST(edges_unix, unix_stream_read_of_everything_queued_is_an_out_edge)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, sv[0], EPOLLOUT | EPOLLWRBAND | EPOLLET, 0xc0a));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write", b.write(sv[0], "12345678", 8));
	char buf[8];
	t.step("read", b.read(sv[1], buf, sizeof buf));
	t.events("after read", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after read = 1 {OUT|WRBAND data=c0a}"));
}

// After a send to a dead AF_UNIX datagram peer (ECONNREFUSED) the socket
// is disconnected: the next send fails with ENOTCONN, still after
// allocating its skb, so it is an OUT edge too.  (Fuzzer: seed 20261123
// program 68.)
DIFF_TEST(edges_unix, unix_dgram_send_after_peer_dropped_is_an_out_edge)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, sv[0], EPOLLOUT | EPOLLET, 0xd31));
	t.step("close peer", b.close(sv[1]));
	t.step("send 1", b.write(sv[0], "x", 1));
	epoll_event out[4];
	t.events("wait 1", b.epoll_wait(ep, out, 4, 0), out);
	t.step("send 2", b.write(sv[0], "x", 1));
	t.events("wait 2", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("send 2 = -1 ENOTCONN"));
	EXPECT_TRUE(t.contains("wait 2 = 1 {OUT data=d31}"));
}

// A send on an AF_UNIX datagram socket that shut itself down for writing
// fails (EPIPE) before allocating anything: no edge.  (Fuzzer: seed
// 20261123 programs 2863, 4361.)
DIFF_TEST(edges_unix, unix_dgram_send_after_own_shutdown_is_not_an_edge)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("shutdown WR", b.shutdown(sv[0], SHUT_WR));
	t.step("add", add(b, ep, sv[0], EPOLLOUT | EPOLLET, 0xd32));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("send", b.write(sv[0], "x", 1));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("send = -1 EPIPE"));
	EXPECT_TRUE(t.contains("after = 0"));
}

// A socket's data arrival wakes its waiters with sock_def_readable()'s
// key, IN|PRI|RDNORM|RDBAND: an item that asks for PRI (not IN) is woken
// and its re-poll reports what is ready, here OUT again for an EPOLLET
// item.  (Fuzzer: seed 7 program 708.)
DIFF_TEST(edges_unix, socket_data_wakes_a_pri_item)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, sv[1], EPOLLOUT | EPOLLPRI | EPOLLET, 0xd41));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("peer writes", b.write(sv[0], "abc", 3));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after = 1 {OUT data=d41}"));
}

// A seqpacket read consumes a whole message: its skb is freed and the
// writer's write space wakes it with OUT|WRNORM|WRBAND (unix_write_space),
// so an item that asks only for WRBAND is woken too.  (Fuzzer: seed 1
// program 3509.)
DIFF_TEST(edges_unix, unix_write_space_wakes_a_wrband_item)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	static char msg[4096];
	t.step("write", b.write(sv[1], msg, sizeof msg));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add writer", add(b, ep, sv[1], EPOLLWRBAND | EPOLLET, 0xd61));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char buf[8];
	t.step("read part of the message", b.read(sv[0], buf, sizeof buf));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after = 1 {WRBAND data=d61}"));
}

// An AF_UNIX stream read that ends exactly at the end of one of the
// writer's skbs frees it: the writer is woken (OUT edge) although data is
// still queued behind it.  A read inside an skb frees nothing.  (Fuzzer:
// seed 1 programs 4324 and 3828.)
DIFF_TEST(edges_unix, unix_stream_read_to_an_skb_end_wakes_the_writer)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	static char data[4096];
	t.step("write 8", b.write(sv[0], data, 8));
	t.step("write 4096", b.write(sv[0], data, sizeof data));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add writer", add(b, ep, sv[0], EPOLLOUT | EPOLLET, 0xd62));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char buf[8];
	t.step("read 4 (inside the first skb)", b.read(sv[1], buf, 4));
	t.events("after 4", b.epoll_wait(ep, out, 4, 0), out);
	t.step("read 4 (to its end)", b.read(sv[1], buf, 4));
	t.events("after 8", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after 4 = 0"));
	EXPECT_TRUE(t.contains("after 8 = 1 {OUT data=d62}"));
}

// A stream read that meets out-of-band data it does not return (no
// SO_OOBINLINE) steps over it and frees its skb: the writer is woken even
// though the read says EAGAIN.  (Fuzzer: seed 1 program 594.)
DIFF_TEST(edges_unix, unix_stream_read_over_oob_data_wakes_the_writer)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	// Needs AF_UNIX MSG_OOB (Linux 5.15 and later, CONFIG_AF_UNIX_OOB, as in
	// Debian's kernels): without it the test fails here, on both sides,
	// rather than pass without checking anything.
	ASSERT_EQ(b.send(sv[0], "!", 1, MSG_OOB), 1) << "AF_UNIX MSG_OOB: " << strerror(errno);
	t.step("send OOB", 1);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add writer", add(b, ep, sv[0], EPOLLOUT | EPOLLET, 0xd63));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char buf[8];
	t.step("read", b.read(sv[1], buf, 5));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("read = -1 EAGAIN"));
	EXPECT_TRUE(t.contains("after = 1 {OUT data=d63}"));
}
