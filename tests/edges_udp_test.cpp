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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <string>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/sockets.hpp"
#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::scenario;
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

namespace {

// Waits (bounded) until the ICMP port unreachable that a send to a closed
// loopback port brings back has set the socket's error.
void await_socket_error(int fd)
{
	pollfd p{fd, 0, 0};
	::poll(&p, 1, 5000);
}

} // namespace

// The ICMP port unreachable that answers a send to a closed loopback port
// wakes the sender with EPOLLERR inside the send (sk_error_report): a new
// edge for an EPOLLET item on the sender, and through an instance that
// watches it for an ET item one level up, even though the sender was
// readable (and its inner item ready) all along.  (uepoll-fuzz seeds
// 3446174620 program 4421 and 3724133737 program 294.)
DIFF_TEST(edges_udp, udp_icmp_after_a_send_is_an_err_edge_through_nesting)
{
	int x, y;
	ASSERT_TRUE(udp_pair(b, &x, &y));
	int inner = b.epoll_create1(EPOLL_CLOEXEC);
	int outer = b.epoll_create1(EPOLL_CLOEXEC);
	int direct = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add sender to inner (level)", add(b, inner, x, EPOLLIN, 0xe01));
	t.step("add inner to outer (ET)", add(b, outer, inner, EPOLLIN | EPOLLET, 0xe02));
	t.step("add sender (ET, IN only)", add(b, direct, x, EPOLLIN | EPOLLET, 0xe03));
	t.step("peer sends", b.write(y, "12345678", 8));
	pollfd p{x, POLLIN, 0};
	::poll(&p, 1, 5000);
	epoll_event out[4];
	t.events("outer wait 1", b.epoll_wait(outer, out, 4, 0), out);
	t.events("direct wait 1", b.epoll_wait(direct, out, 4, 0), out);
	t.step("close the peer", b.close(y));
	t.events("outer: nothing new", b.epoll_wait(outer, out, 4, 0), out);
	t.step("send to the closed port", b.write(x, "x", 1));
	await_socket_error(x);
	t.events("outer wait 2", b.epoll_wait(outer, out, 4, 0), out);
	t.events("direct wait 2", b.epoll_wait(direct, out, 4, 0), out);
	EXPECT_TRUE(t.contains("outer wait 2 = 1 {IN data=e02}"));
	EXPECT_TRUE(t.contains("direct wait 2 = 1 {IN|ERR data=e03}"));
}

// Deviation 2 (docs/deviations.md), the IP_RECVERR form.  With IP_RECVERR
// an ICMP error also stays on the socket's error queue, and POLLERR with
// it, after the program has taken sk_err.  A send that then brings no
// ICMP back (the port has a socket again, in another process) wakes
// nobody on the kernel; uepoll, which can only look at POLLERR after a
// send, takes it for a new ICMP and reports ERR once more.
TEST(edges_udp, deviation_recverr_queue_left_unread_is_an_err_edge_at_each_send)
{
	scenario fn = [](backend &b, trace &t) {
		int x = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int gone = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ASSERT_GE(x, 0);
		ASSERT_GE(gone, 0);
		int on = 1;
		ASSERT_EQ(setsockopt(x, SOL_IP, IP_RECVERR, &on, sizeof on), 0);
		sockaddr_in ax, port;
		ASSERT_TRUE(uepoll::test::bind_loopback(b, x, &ax));
		ASSERT_TRUE(uepoll::test::bind_loopback(b, gone, &port));
		ASSERT_EQ(b.close(gone), 0);
		ASSERT_EQ(b.connect(x, (sockaddr *)&port, sizeof port), 0);
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("add (ET)", add(b, ep, x, EPOLLIN | EPOLLET, 0xe11));
		t.step("send to the closed port", b.write(x, "a", 1));
		await_socket_error(x);
		epoll_event out[4];
		t.events("wait 1", b.epoll_wait(ep, out, 4, 0), out);
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(x, SOL_SOCKET, SO_ERROR, &err, &len);
		t.step("SO_ERROR took", err);
		// Another process binds the port: the next datagram is delivered.
		int ready[2], done[2];
		ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
		ASSERT_EQ(pipe2(done, O_CLOEXEC), 0);
		pid_t pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			int s = static_cast<int>(syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0));
			char c = syscall(SYS_bind, s, &port, sizeof port) == 0 ? 'y' : 'n';
			syscall(SYS_write, ready[1], &c, 1);
			syscall(SYS_close, done[1]); // the read below ends with the parent's close
			syscall(SYS_read, done[0], &c, 1);
			_exit(0);
		}
		char c = 'n';
		ASSERT_EQ(::read(ready[0], &c, 1), 1);
		ASSERT_EQ(c, 'y');
		t.step("send to the live port", b.write(x, "b", 1));
		pollfd p{x, 0, 0};
		t.step("POLLERR still up (the queue)", ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) ? 1 : 0);
		t.events("wait 2", b.epoll_wait(ep, out, 4, 0), out);
		::close(done[1]);
		waitpid(pid, nullptr, 0);
		for (int fd : {ready[0], ready[1], done[0]})
			::close(fd);
	};
	const std::vector<std::string> native = {
		"add (ET) = 0",
		"send to the closed port = 1",
		"wait 1 = 1 {ERR data=e11}",
		"SO_ERROR took = 111",
		"send to the live port = 1",
		"POLLERR still up (the queue) = 1",
		"wait 2 = 0",
	};
	uepoll::test::expect_deviation(fn, native, {{6, "wait 2 = 1 {ERR data=e11}"}});
}
