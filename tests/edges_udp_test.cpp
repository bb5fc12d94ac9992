// tests/edges_udp_test.cpp - which I/O on UDP sockets is an edge for an
// edge-triggered item (the wake-ups of net/ipv4/udp.c and the socket layer).
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
using uepoll::test::udp_pair;

// A UDP send frees its skb on transmit and sock_def_write_space() wakes
// the sender with OUT: an edge for an EPOLLET item after each write.
DIFF_TEST(edges_udp, udp_write_is_an_out_edge)
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
DIFF_TEST(edges_udp, udp_datagram_from_this_process_is_an_edge)
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
DIFF_TEST(edges_udp, udp_peer_close_is_not_an_edge)
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

// A UDP send wakes the sender with OUT (its skb is freed on transmit,
// sock_wfree) and the receiver with IN; both runs must agree on the order.
// (Fuzzer: seed 20261123 programs 714, 2192, 4564, where the sender's
// wake-up came first; in this process the kernel sometimes reports the
// receiver first, so only the comparison pins the order here.)
DIFF_TEST(edges_udp, udp_send_wakes_the_sender_and_the_receiver)
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

// A UDP send to a closed port brings back an ICMP error that wakes the
// sender with EPOLLERR when it arrives.  A read that returns that error
// (and clears it) before any wait leaves nothing for a poll to see, but
// the kernel queued the item at the arrival: its next report is the
// datagram still queued.  (Fuzzer: seed 2 program 1174, seed 1 program
// 2714.)
DIFF_TEST(edges_udp, udp_error_consumed_before_a_wait_still_woke_the_item)
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
DIFF_TEST(edges_udp, udp_emsgsize_is_not_an_edge)
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
