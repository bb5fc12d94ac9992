// tests/regressions_test.cpp - one test per bug the differential fuzzer
// (integration/fuzz) or a unit test caught, minimized, named after what it
// caught.  Each runs on native epoll and on uepoll and compares.
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
using uepoll::test::bind_loopback;
using uepoll::test::tcp_connect;
using uepoll::test::tcp_listener;
using uepoll::test::loopback_tcp_pair;

namespace {

// Two UDP sockets bound on 127.0.0.1 and connected to each other.
bool udp_pair(backend &b, int *x, int *y)
{
	*x = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	*y = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sockaddr_in ax, ay;
	return *x >= 0 && *y >= 0 && bind_loopback(b, *x, &ax) && bind_loopback(b, *y, &ay) &&
	       b.connect(*x, (sockaddr *)&ay, sizeof ay) == 0 && b.connect(*y, (sockaddr *)&ax, sizeof ax) == 0;
}

} // namespace

// A partial read re-armed the item; the next poll saw IN only (the item
// asked for IN), and the pipe's IN|RDNORM wake-up then looked like "only
// RDNORM is new", which the item does not want: the write's edge was lost.
DIFF_TEST(regressions, pipe_write_after_partial_read_is_an_edge)
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

// ep_poll_safewake() wakes a watching instance with EPOLLIN alone: an
// item on an epoll fd that asks only RDNORM|WRNORM is not woken by it.
DIFF_TEST(regressions, nested_wakeup_key_is_epollin_only)
{
	int inner = b.epoll_create1(EPOLL_CLOEXEC);
	int outer = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK | O_CLOEXEC);
	t.step("inner watches the write end", add(b, inner, p[1], EPOLLIN, 0x201));
	t.step("outer watches inner", add(b, outer, inner, EPOLLRDNORM | EPOLLWRNORM, 0x202));
	t.step("close the read end", b.close(p[0])); // the write end gets ERR
	epoll_event out[4];
	t.events("inner", b.epoll_wait(inner, out, 4, 0), out);
	t.events("outer", b.epoll_wait(outer, out, 4, 0), out);
	EXPECT_TRUE(t.contains("outer = 0"));
}

// Every shutdown() wakes all of the socket's waiters (sk_state_change),
// even a second one: an edge for an EPOLLET item.
DIFF_TEST(regressions, second_shutdown_is_a_new_edge)
{
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	int d = b.dup(sv[0]);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, d, EPOLLIN | EPOLLRDHUP | EPOLLET, 0x301));
	t.step("shutdown dup", b.shutdown(d, SHUT_RDWR));
	epoll_event out[4];
	t.events("wait 1", b.epoll_wait(ep, out, 4, 0), out);
	t.events("wait 1 again", b.epoll_wait(ep, out, 4, 0), out);
	t.step("shutdown original", b.shutdown(sv[0], SHUT_RDWR));
	t.events("wait 2", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("wait 1 again = 0"));
}

// add_wait_queue() puts an item's entry at the head of the file's wait
// queue: when one file is watched through two fd numbers, the item added
// last is queued (and reported) first.
DIFF_TEST(regressions, newest_item_of_a_file_is_woken_first)
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

// A UDP send frees its skb on transmit and sock_def_write_space() wakes
// the sender with OUT: an edge for an EPOLLET item after each write.
DIFF_TEST(regressions, udp_write_is_an_out_edge)
{
	int x, y;
	ASSERT_TRUE(udp_pair(b, &x, &y));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, x, EPOLLIN | EPOLLOUT | EPOLLET, 0x501));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.events("again", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write", b.write(x, "12345678", 8));
	t.events("after write", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after write = 1 {OUT data=501}"));
}

// A datagram from another UDP socket of the same process is an IN edge,
// even when the receiver's earlier data is still unread.
DIFF_TEST(regressions, udp_datagram_from_this_process_is_an_edge)
{
	int x, y;
	ASSERT_TRUE(udp_pair(b, &x, &y));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("write 1", b.write(y, "abc", 3));
	t.step("add", add(b, ep, x, EPOLLRDNORM | EPOLLET, 0x601));
	epoll_event out[4];
	t.events("wait 1", b.epoll_wait(ep, out, 4, 0), out);
	t.step("write 2", b.write(y, "def", 3));
	t.events("wait 2", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("wait 2 = 1 {RDNORM data=601}"));
}

// Closing a connected UDP socket's peer tells it nothing (no connection,
// no state change): no edge for an EPOLLET item.  (Fuzzer: seed 20261123
// program 229.)
DIFF_TEST(regressions, udp_peer_close_is_not_an_edge)
{
	int x, y;
	ASSERT_TRUE(udp_pair(b, &x, &y));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, x, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 0x511));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close peer", b.close(y));
	t.events("after peer close", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after peer close = 0"));
}

// A connection from this process to its own listener is an IN edge on the
// listener, even with an earlier connection still not accepted.
DIFF_TEST(regressions, connect_to_own_listener_is_an_edge)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 16, SOCK_NONBLOCK);
	ASSERT_GE(l, 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, l, EPOLLIN | EPOLLET, 0x701));
	int c1 = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t.step("connect 1", b.connect(c1, (sockaddr *)&sa, sizeof sa));
	epoll_event out[4];
	t.events("wait 1", uepoll::test::wait_some(b, ep, out, 4), out);
	int c2 = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t.step("connect 2", b.connect(c2, (sockaddr *)&sa, sizeof sa));
	t.events("wait 2", uepoll::test::wait_some(b, ep, out, 4), out);
	EXPECT_TRUE(t.contains("wait 2 = 1 {IN data=701}"));
}

// unix_shutdown() tells the peer only for stream and seqpacket sockets:
// an AF_UNIX datagram peer gets no wake-up, so no new OUT edge.
DIFF_TEST(regressions, unix_dgram_shutdown_does_not_wake_the_peer)
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

// eventfd_read() wakes the eventfd's writers with EPOLLOUT: an OUT edge.
DIFF_TEST(regressions, eventfd_read_is_an_out_edge)
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

// pipe_write() wakes the readers even when the pipe is full and nothing
// was written (EAGAIN), once the pipe has been polled: a new IN edge.
DIFF_TEST(regressions, write_to_full_pipe_is_still_an_edge)
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

// Closing the other end of a loopback TCP connection is a wake-up of this
// end (the FIN): a new edge for an EPOLLET item.
DIFF_TEST(regressions, peer_close_of_tcp_connection_is_an_edge)
{
	int c, s;
	ASSERT_TRUE(loopback_tcp_pair(b, &c, &s));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, s, EPOLLWRNORM | EPOLLET, 0xb01));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("peer close", b.close(c));
	t.events("after peer close", uepoll::test::wait_some(b, ep, out, 4), out);
	EXPECT_TRUE(t.contains("after peer close = 1 {WRNORM data=b01}"));
}

// Closing a pipe's write end wakes the reader (pipe_release()): an edge
// even for an item whose earlier IN was reported and not read.
DIFF_TEST(regressions, writer_close_is_an_edge_for_the_reader)
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

// A failed AF_UNIX datagram send (the peer is gone: ECONNREFUSED) had
// allocated its skb: freeing it wakes the sender with OUT, an edge.
// (Fuzzer: seed 20261123 program 1269.)
DIFF_TEST(regressions, unix_dgram_failed_send_is_an_out_edge)
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
DIFF_TEST(regressions, read_of_a_shut_read_side_is_not_an_edge)
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

// A TCP connection that saw EOF: reading what is left is not an edge.
// (Fuzzer: seed 20261123 program 32.)
DIFF_TEST(regressions, read_after_tcp_eof_is_not_an_edge)
{
	int c, s;
	ASSERT_TRUE(loopback_tcp_pair(b, &c, &s));
	t.step("write", b.write(c, "12345678", 8));
	t.step("peer shutdown", b.shutdown(c, SHUT_RDWR));
	char buf[64];
	t.step("read 1", b.read(s, buf, 1));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, s, EPOLLIN | EPOLLOUT | EPOLLET, 0xc03));
	epoll_event out[4];
	t.events("wait", uepoll::test::wait_some(b, ep, out, 4), out);
	t.step("read rest", b.read(s, buf, sizeof buf));
	t.step("read eof", b.read(s, buf, sizeof buf));
	t.events("after reads", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("read rest = 7"));
	EXPECT_TRUE(t.contains("after reads = 0"));
}

// A chain as deep as the loop check allows is polled to its leaf: the
// ADD of a four-deep chain (three instances over one over a ready
// eventfd) into a fifth instance finds it ready.  (Fuzzer: seed 20261123
// program 1471.  This test does not reach the old depth cut in this
// process; the fuzzer's replay of the program,
// integration/fuzz/replays/deep-chain-polled-to-leaf-p1471.rep, does.)
DIFF_TEST(regressions, deepest_allowed_chain_is_polled_to_its_leaf)
{
	int e = b.eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	int chain[3];
	for (int i = 0; i < 3; i++) {
		chain[i] = b.epoll_create1(EPOLL_CLOEXEC);
		if (i > 0)
			t.step("link " + std::to_string(i), add(b, chain[i], chain[i - 1], EPOLLIN, 0xc10 + i));
	}
	int leaf = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("leaf add", add(b, leaf, e, EPOLLIN, 0xc0f));
	t.step("leaf into the chain", add(b, chain[0], leaf, EPOLLIN, 0xc10));
	int top = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("chain into top", add(b, top, chain[2], EPOLLIN, 0xc13));
	// Something else ready at the top, queued after the chain.
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	t.step("add pipe", add(b, top, p[1], EPOLLIN | EPOLLOUT | EPOLLEXCLUSIVE, 0xc20));
	// poll(2) on every instance (what the fuzzer's settle step does).
	pollfd pf[5] = {{leaf, POLLIN, 0}, {chain[0], POLLIN, 0}, {chain[1], POLLIN, 0}, {chain[2], POLLIN, 0},
			{top, POLLIN, 0}};
	t.step("poll", b.poll(pf, 5, 0));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(top, out, 1, 0), out);
	EXPECT_TRUE(t.contains("chain into top = 0"));
	EXPECT_TRUE(t.contains("wait = 1 {IN data=c13}"));
}

// An AF_UNIX datagram receiver that closes with unread datagrams frees
// them: their sender gets room back, an OUT edge.  (Fuzzer: seed 20261123
// program 2910.)
DIFF_TEST(regressions, unix_dgram_receiver_close_is_an_out_edge)
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

// shutdown(SHUT_RD) of a TCP socket sends nothing: the peer is not woken.
// (Fuzzer: seed 20261123 program 3369.)
DIFF_TEST(regressions, tcp_shutdown_rd_does_not_wake_the_peer)
{
	int c, s;
	ASSERT_TRUE(loopback_tcp_pair(b, &c, &s));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 0xc05));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("peer shutdown RD", b.shutdown(c, SHUT_RD));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after = 0"));
}

// A TCP socket that sent its FIN (shutdown) sends nothing more when it is
// closed with nothing unread: no new edge for the peer.  Its shutdown
// wakes the peer first (the FIN arrives inside the call), then itself.
// (Fuzzer: seed 20261123 programs 4581 and 1105.)
DIFF_TEST(regressions, tcp_close_after_fin_does_not_wake_the_peer)
{
	int c, s;
	ASSERT_TRUE(loopback_tcp_pair(b, &c, &s));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add c", add(b, ep, c, EPOLLONESHOT, 0xc06));
	t.step("add s", add(b, ep, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 0xc07));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("peer shutdown", b.shutdown(c, SHUT_RDWR));
	t.events("after shutdown", uepoll::test::wait_some(b, ep, out, 1), out);
	t.events("rest", b.epoll_wait(ep, out, 4, 0), out);
	t.step("peer close", b.close(c));
	t.events("after close", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after shutdown = 1 {IN|OUT|RDHUP data=c07}"));
	EXPECT_TRUE(t.contains("after close = 0"));
}

// A UDP send wakes the sender with OUT (its skb is freed on transmit,
// sock_wfree) and the receiver with IN; both runs must agree on the order.
// (Fuzzer: seed 20261123 programs 714, 2192, 4564, where the sender's
// wake-up came first; in this process the kernel sometimes reports the
// receiver first, so only the comparison pins the order here.)
DIFF_TEST(regressions, udp_send_wakes_the_sender_and_the_receiver)
{
	int x, y;
	ASSERT_TRUE(udp_pair(b, &x, &y));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add receiver", add(b, ep, y, EPOLLIN | EPOLLET, 0xc08));
	t.step("add sender", add(b, ep, x, EPOLLOUT | EPOLLET, 0xc09));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	static char big[1000];
	t.step("send", b.write(x, big, sizeof big));
	t.events("after send", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after send = 2 {IN data=c08} {OUT data=c09}") ||
		    t.contains("after send = 2 {OUT data=c09} {IN data=c08}"));
}

// An AF_UNIX stream read that takes exactly what was queued frees the
// skb: the writer gets an OUT edge.  (Fuzzer: seed 20261123 program 2697.)
DIFF_TEST(regressions, unix_stream_read_of_everything_queued_is_an_out_edge)
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

// An eventfd write that would overflow fails with EAGAIN and wakes
// nobody; the eventfd stays writable.  (Fuzzer: seed 20261123 program 2594.)
DIFF_TEST(regressions, eventfd_write_eagain_is_not_an_edge)
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

// The nested wake-up runs inside the file's walk (ep_poll_safewake() at
// the end of ep_poll_callback()): the newest item, of a nested instance,
// puts that instance on its parent's ready list before the parent's own,
// older item for the same file.  (Fuzzer: seed 20261123 program 3594.)
DIFF_TEST(regressions, nested_wakeup_runs_inside_the_walk)
{
	int outer = b.epoll_create1(0);
	int inner = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("nest", add(b, outer, inner, EPOLLIN, 0xd01));
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	t.step("outer add", add(b, outer, sv[1], EPOLLIN | EPOLLET, 0xd02));
	t.step("inner add", add(b, inner, sv[1], EPOLLIN | EPOLLPRI, 0xd03));
	t.step("write", b.write(sv[0], "12345678", 8));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(outer, out, 1, 0), out);
	EXPECT_TRUE(t.contains("wait = 1 {IN data=d01}"));
}

// Data reaching a TCP socket that shut its read side and sent its FIN
// aborts the connection (TCPABORTONDATA): an RST, a new ERR|HUP edge for
// the aborted socket.  (Fuzzer: seed 20261123 programs 1483 and 1472.)
DIFF_TEST(regressions, data_for_a_shut_tcp_socket_resets_it)
{
	int c, s;
	ASSERT_TRUE(loopback_tcp_pair(b, &c, &s));
	t.step("shutdown", b.shutdown(c, SHUT_RDWR));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, c, EPOLLET, 0xd11));
	epoll_event out[4];
	t.events("wait", uepoll::test::wait_some(b, ep, out, 4), out);
	t.step("peer writes", b.write(s, "12345678", 8));
	t.events("after", uepoll::test::wait_some(b, ep, out, 4), out);
	EXPECT_TRUE(t.contains("wait = 1 {HUP data=d11}"));
	EXPECT_TRUE(t.contains("after = 1 {ERR|HUP data=d11}"));
}

// Closing a listener resets the connections still in its accept queue
// (inet_csk_listen_stop): our client of one of them gets ERR|HUP, an edge.
// (Fuzzer: seed 20261123 program 69, where the reset's place in the ready
// list was wrong; its replay, integration/fuzz/replays/
// listener-close-resets-queued-p69.rep, pins that order.)
DIFF_TEST(regressions, listener_close_resets_queued_connections)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 4);
	ASSERT_GE(l, 0);
	int c = tcp_connect(b, sa);
	ASSERT_GE(c, 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, c, EPOLLIN | EPOLLOUT | EPOLLET, 0xd21));
	epoll_event out[4];
	t.events("wait", uepoll::test::wait_some(b, ep, out, 4), out);
	t.step("close listener", b.close(l));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after = 1 {IN|OUT|ERR|HUP data=d21}"));
}

// After a send to a dead AF_UNIX datagram peer (ECONNREFUSED) the socket
// is disconnected: the next send fails with ENOTCONN, still after
// allocating its skb, so it is an OUT edge too.  (Fuzzer: seed 20261123
// program 68.)
DIFF_TEST(regressions, unix_dgram_send_after_peer_dropped_is_an_out_edge)
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
DIFF_TEST(regressions, unix_dgram_send_after_own_shutdown_is_not_an_edge)
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
DIFF_TEST(regressions, socket_data_wakes_a_pri_item)
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

// The helper thread (running here because `outer` watches `ep`) polls the
// items of an observed instance while the program runs.  Out-of-band data
// for a TCP socket that shut both sides aborts it, and its RST resets the
// sender: two wake-ups inside the send, the receiver's first.  The helper
// saw the sender's ERR|HUP in its poll set before the send hook made the
// receiver's wake-up (its ET item, which reported HUP, polls for nothing),
// and queued the sender first: the I/O window now leaves both files to the
// hook.  Timing-dependent before the fix (about 1 round in 40 here), so the
// steps run 200 times.  (Fuzzer: seed 20261123 program 1023,
// integration/fuzz/replays/io-window-reset-order-p1023.rep.)
DIFF_TEST(regressions, helper_leaves_an_io_calls_wakeups_to_its_hook)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int outer = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("outer watches ep", add(b, outer, ep, EPOLLIN, 0xd50));
	epoll_event out[8];
	for (int i = 0; i < 200; i++) {
		int c, s;
		ASSERT_TRUE(loopback_tcp_pair(b, &c, &s));
		t.step("add client", add(b, ep, c, EPOLLIN | EPOLLET, 0xd51));
		t.step("client shuts both sides", b.shutdown(c, SHUT_RDWR));
		t.events("client's HUP", uepoll::test::wait_some(b, ep, out, 8), out, true);
		t.step("add server", add(b, ep, s, EPOLLPRI | EPOLLET, 0xd52));
		t.step("server sends OOB", b.send(s, "!", 1, MSG_OOB));
		pollfd p{s, 0, 0};
		b.poll(&p, 1, 5000); // the RST has reached the server
		t.events("both reset", b.epoll_wait(ep, out, 8, 0), out, true);
		t.step("close client", b.close(c));
		t.step("close server", b.close(s));
	}
	EXPECT_TRUE(t.contains("both reset = 2 {IN|ERR|HUP data=d51} {ERR|HUP data=d52}"));
}

// A seqpacket read consumes a whole message: its skb is freed and the
// writer's write space wakes it with OUT|WRNORM|WRBAND (unix_write_space),
// so an item that asks only for WRBAND is woken too.  (Fuzzer: seed 1
// program 3509.)
DIFF_TEST(regressions, unix_write_space_wakes_a_wrband_item)
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
DIFF_TEST(regressions, unix_stream_read_to_an_skb_end_wakes_the_writer)
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
DIFF_TEST(regressions, unix_stream_read_over_oob_data_wakes_the_writer)
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

// A send on an AF_UNIX datagram socket whose peer is gone fails with
// ECONNREFUSED after allocating its skb: freeing it is an OUT wake-up of
// the sender, which reaches an instance watching the sender's instance
// (an edge there) even when the sender's own item is queued already.
// (Fuzzer: seed 2 program 3914.)
DIFF_TEST(regressions, dgram_send_to_a_dead_peer_wakes_outer_instances)
{
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int inner = b.epoll_create1(EPOLL_CLOEXEC);
	int outer = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add sender", add(b, inner, sv[0], EPOLLIN | EPOLLOUT, 0xd64));
	t.step("close peer", b.close(sv[1]));
	t.step("outer watches inner", add(b, outer, inner, EPOLLIN | EPOLLET, 0xd65));
	epoll_event out[4];
	t.events("wait outer", b.epoll_wait(outer, out, 4, 0), out);
	t.step("send", b.write(sv[0], "x", 1));
	t.events("after", b.epoll_wait(outer, out, 4, 0), out);
	EXPECT_TRUE(t.contains("send = -1 ECONNREFUSED"));
	EXPECT_TRUE(t.contains("after = 1 {IN data=d65}"));
}

// A UDP send to a closed port brings back an ICMP error that wakes the
// sender with EPOLLERR when it arrives.  A read that returns that error
// (and clears it) before any wait leaves nothing for a poll to see, but
// the kernel queued the item at the arrival: its next report is the
// datagram still queued.  (Fuzzer: seed 2 program 1174, seed 1 program
// 2714.)
DIFF_TEST(regressions, udp_error_consumed_before_a_wait_still_woke_the_item)
{
	int x, y;
	ASSERT_TRUE(udp_pair(b, &x, &y));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, y, EPOLLIN | EPOLLET, 0xd66));
	t.step("peer sends", b.write(x, "12345678", 8));
	pollfd p{y, POLLIN, 0};
	::poll(&p, 1, 5000);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close peer", b.close(x));
	t.step("send to the closed port", b.write(y, "x", 1));
	p = {y, 0, 0};
	::poll(&p, 1, 5000); // the ICMP error has arrived
	char buf[64];
	t.step("read", b.read(y, buf, sizeof buf));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("read = -1 ECONNREFUSED"));
	EXPECT_TRUE(t.contains("after = 1 {IN data=d66}"));
}

// A UDP send of a datagram too large fails with EMSGSIZE at once: no
// error was pending, nothing woke the socket, unlike an ECONNREFUSED that
// hands over an ICMP error (above).  (Fuzzer: seed 1 program 3308, after
// the first form of that fix.)
DIFF_TEST(regressions, udp_emsgsize_is_not_an_edge)
{
	int x, y;
	ASSERT_TRUE(udp_pair(b, &x, &y));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, x, EPOLLIN | EPOLLOUT | EPOLLET, 0xd67));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	static char big[70000];
	t.step("send too large", b.write(x, big, sizeof big));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("send too large = -1 EMSGSIZE"));
	EXPECT_TRUE(t.contains("after = 0"));
}

// pipe_read() wakes the writer (OUT|WRNORM) whenever the pipe was full when
// the read began (was_full), also when the read freed no buffer slot and
// the pipe stays full: a 1-byte read of a full pipe wakes the writer, and
// the next read, finding the pipe still full, wakes it again.  That second
// wake-up queues the writer's item before an item added afterwards.
// (Fuzzer: seed 12613 program 746, replays/pipe-read-of-still-full-pipe-
// wakes-writer-s12613-p746.rep.)
DIFF_TEST(regressions, pipe_read_of_a_still_full_pipe_wakes_the_writer)
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
DIFF_TEST(regressions, pipe_read_of_an_exactly_filled_pipe_wakes_the_writer)
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
