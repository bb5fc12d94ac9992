// tests/edges_tcp_test.cpp - which I/O on TCP sockets of one process is an
// edge for an edge-triggered item (the wake-ups of net/ipv4/tcp*.c).
// Each test's comment says which fuzzer seed and program, or which unit
// test, first caught the bug it pins.
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
using uepoll::test::loopback_tcp_pair;
using uepoll::test::tcp_connect;
using uepoll::test::tcp_listener;

// Every shutdown() wakes all of the socket's waiters (sk_state_change),
// even a second one: an edge for an EPOLLET item.
DIFF_TEST(edges_tcp, second_shutdown_is_a_new_edge)
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

// A connection from this process to its own listener is an IN edge on the
// listener, even with an earlier connection still not accepted.
DIFF_TEST(edges_tcp, connect_to_own_listener_is_an_edge)
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

// Closing the other end of a loopback TCP connection is a wake-up of this
// end (the FIN): a new edge for an EPOLLET item.
DIFF_TEST(edges_tcp, peer_close_of_tcp_connection_is_an_edge)
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

// A TCP connection that saw EOF: reading what is left is not an edge.
// (Fuzzer: seed 20261123 program 32.)
DIFF_TEST(edges_tcp, read_after_tcp_eof_is_not_an_edge)
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

// shutdown(SHUT_RD) of a TCP socket sends nothing: the peer is not woken.
// (Fuzzer: seed 20261123 program 3369.)
DIFF_TEST(edges_tcp, tcp_shutdown_rd_does_not_wake_the_peer)
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
DIFF_TEST(edges_tcp, tcp_close_after_fin_does_not_wake_the_peer)
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

// Data reaching a TCP socket that shut its read side and sent its FIN
// aborts the connection (TCPABORTONDATA): an RST, a new ERR|HUP edge for
// the aborted socket.  (Fuzzer: seed 20261123 programs 1483 and 1472.)
DIFF_TEST(edges_tcp, data_for_a_shut_tcp_socket_resets_it)
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
DIFF_TEST(edges_tcp, listener_close_resets_queued_connections)
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
DIFF_TEST(edges_tcp, helper_leaves_an_io_calls_wakeups_to_its_hook)
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

// Waits (bounded) until TCP socket fd has left FIN_WAIT1: the ACK of its
// FIN (delayed on the receiving end) moves it to FIN_WAIT2, a wake-up that
// would otherwise land at a random step.
static void wait_fin_acked(int fd)
{
	for (int i = 0; i < 1000; i++) {
		tcp_info ti{};
		socklen_t len = sizeof ti;
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || ti.tcpi_state != TCP_FIN_WAIT1)
			return;
		usleep(1000);
	}
}

// Closing a listener resets the connections of its accept queue in the
// queue's order (inet_csk_listen_stop() takes the head first): with three
// queued clients of ours, the second is queued in the ready list before the
// third.  uepoll took them from its client table, whose order a removal
// changes, and reset the third first.  (Fuzzer: seed 2153415300 program
// 3513, where a nested instance woken by the second client's reset came
// after the third client's item.)
DIFF_TEST(edges_tcp, listener_close_resets_in_accept_queue_order)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 8);
	ASSERT_GE(l, 0);
	int c1 = tcp_connect(b, sa), c2 = tcp_connect(b, sa), c3 = tcp_connect(b, sa);
	ASSERT_GE(c1, 0);
	ASSERT_GE(c2, 0);
	ASSERT_GE(c3, 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add c2", add(b, ep, c2, EPOLLIN | EPOLLET, 0xd61));
	t.step("add c3", add(b, ep, c3, EPOLLIN | EPOLLET, 0xd62));
	epoll_event out[4];
	t.events("before", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close listener", b.close(l));
	pollfd p{c3, 0, 0};
	b.poll(&p, 1, 5000); // the last RST has arrived
	t.events("after", b.epoll_wait(ep, out, 4, 0), out, true);
	EXPECT_TRUE(t.contains("after = 2 {IN|ERR|HUP data=d61} {IN|ERR|HUP data=d62}"));
}

// shutdown(SHUT_RD or SHUT_RDWR) of a listener disconnects it
// (inet_shutdown() on TCP_LISTEN -> tcp_disconnect() ->
// inet_csk_listen_stop()): its queued connections are reset as at its
// close, a new ERR|HUP edge for a client whose EPOLLET item reported HUP
// already.  SHUT_WR leaves it listening and resets nothing.  uepoll modelled
// the resets only at the listener's close.  (Fuzzer: seed 2153415300
// program 3844.)
DIFF_TEST(edges_tcp, listener_shutdown_rd_resets_queued_connections)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 4);
	ASSERT_GE(l, 0);
	int c = tcp_connect(b, sa);
	ASSERT_GE(c, 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, c, EPOLLPRI | EPOLLET, 0xd63));
	t.step("client shutdown", b.shutdown(c, SHUT_RDWR));
	wait_fin_acked(c);
	epoll_event out[4];
	t.events("client's HUP", b.epoll_wait(ep, out, 4, 0), out);
	t.step("listener shutdown WR", b.shutdown(l, SHUT_WR));
	t.events("after WR", b.epoll_wait(ep, out, 4, 0), out);
	t.step("listener shutdown RDWR", b.shutdown(l, SHUT_RDWR));
	pollfd p{c, 0, 0};
	b.poll(&p, 1, 5000); // the RST has arrived
	t.events("after RDWR", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("client's HUP = 1 {HUP data=d63}"));
	EXPECT_TRUE(t.contains("after WR = 0"));
	EXPECT_TRUE(t.contains("after RDWR = 1 {ERR|HUP data=d63}"));
}

// Out-of-band data keeps PRI up (tcp_poll(): urg_data & TCP_URG_VALID)
// until the urgent byte is taken or read past; a read of the normal data
// before the mark wakes nobody, so an EPOLLET item that reported PRI gets
// nothing.  uepoll re-armed every read-side bit at the read, and the PRI
// still up was reported again.  recv(MSG_OOB) ends it; the next urgent
// byte is a new edge (tcp_urg(), then sock_def_readable()).  (Fuzzer: seed
// 2153415300 program 4012.)
DIFF_TEST(edges_tcp, read_before_the_urgent_mark_is_no_pri_edge)
{
	int c, s;
	ASSERT_TRUE(loopback_tcp_pair(b, &c, &s));
	t.step("write", b.write(c, "abc", 3));
	t.step("send OOB", b.send(c, "!", 1, MSG_OOB));
	pollfd p{s, POLLPRI, 0};
	b.poll(&p, 1, 5000); // the urgent byte has arrived
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, s, EPOLLPRI | EPOLLET, 0xd64));
	epoll_event out[4];
	t.events("PRI", b.epoll_wait(ep, out, 4, 0), out);
	char buf[64];
	t.step("read", b.read(s, buf, sizeof buf));
	t.events("after read", b.epoll_wait(ep, out, 4, 0), out);
	t.step("recv OOB", b.recv(s, buf, 1, MSG_OOB));
	t.events("after recv OOB", b.epoll_wait(ep, out, 4, 0), out);
	t.step("send OOB again", b.send(c, "?", 1, MSG_OOB));
	b.poll(&p, 1, 5000);
	t.events("new urgent byte", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("PRI = 1 {PRI data=d64}"));
	EXPECT_TRUE(t.contains("read = 3"));
	EXPECT_TRUE(t.contains("after read = 0"));
	EXPECT_TRUE(t.contains("after recv OOB = 0"));
	EXPECT_TRUE(t.contains("new urgent byte = 1 {PRI data=d64}"));
}

// A client of ours closed while its connection waited in the listener's
// queue: the connection accepted after that has the client's FIN, and data
// sent on it reaches an orphan that answers with an RST inside the send,
// an ERR|HUP wake-up queued before an item a later ctl queues.  (uepoll-fuzz
// seed 2094072589 program 2391: the accept found no client to pair with,
// and the RST was seen only at the next wait, after that ctl's item.)
DIFF_TEST(edges_tcp, data_for_a_client_closed_before_accept_resets)
{
	sockaddr_in sa;
	int l = uepoll::test::tcp_listener(b, &sa);
	ASSERT_GE(l, 0);
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(c, 0);
	ASSERT_EQ(b.connect(c, (sockaddr *)&sa, sizeof sa), 0);
	t.step("close the client", b.close(c));
	int s = b.accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ASSERT_GE(s, 0);
	pollfd p{s, POLLRDHUP, 0};
	b.poll(&p, 1, 5000); // the FIN has arrived
	int e = b.eventfd(0, EFD_NONBLOCK);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add the server end (ET)", add(b, ep, s, EPOLLIN | EPOLLET, 0xd21));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("send", b.send(s, "x", 1, 0));
	uint64_t one = 1;
	t.step("write the eventfd", b.write(e, &one, sizeof one));
	t.step("add the eventfd", add(b, ep, e, EPOLLIN, 0xd22));
	t.events("after", b.epoll_wait(ep, out, 1, 0), out);
	t.events("then", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after = 1 {IN|ERR|HUP data=d21}"));
}

// The other side of that: a connection from a socket uepoll did not see
// made (another process's, here made with plain libc calls), from the same
// address as a client of ours closed before accept() but to another
// listener, is a live connection: data sent on it brings no RST and no
// wake-up.  (The closed client is remembered with where it connected.)
DIFF_TEST(edges_tcp, same_source_port_to_another_listener_is_not_the_closed_client)
{
	sockaddr_in l1a, l2a, ca;
	int l1 = uepoll::test::tcp_listener(b, &l1a);
	int l2 = uepoll::test::tcp_listener(b, &l2a);
	ASSERT_GE(l1, 0);
	ASSERT_GE(l2, 0);
	int one = 1;
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(c, 0);
	ASSERT_EQ(setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	ASSERT_TRUE(uepoll::test::bind_loopback(b, c, &ca));
	ASSERT_EQ(b.connect(c, (sockaddr *)&l1a, sizeof l1a), 0);
	t.step("close the client", b.close(c));
	int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(other, 0);
	ASSERT_EQ(setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	ASSERT_EQ(::bind(other, (sockaddr *)&ca, sizeof ca), 0);
	ASSERT_EQ(::connect(other, (sockaddr *)&l2a, sizeof l2a), 0);
	int s = b.accept4(l2, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ASSERT_GE(s, 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add (OUT, ET)", add(b, ep, s, EPOLLOUT | EPOLLET, 0xd31));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.step("send", b.send(s, "x", 1, 0));
	char buf[8];
	pollfd p{other, POLLIN, 0};
	::poll(&p, 1, 5000);
	t.step("the other end reads", ::read(other, buf, sizeof buf));
	t.events("after", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after = 0"));
	::close(other);
	for (int fd : {s, l1, l2})
		b.close(fd);
}
