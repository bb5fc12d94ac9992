// tests/et_test.cpp - EPOLLET items: which wake-ups are new edges and which are not.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/sockets.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::mod;

namespace {

using uepoll::test::backend;
using uepoll::test::tcp_connect;
using uepoll::test::tcp_listener;

// A connected loopback TCP pair, both ends nonblocking, Nagle off so each
// write is one segment: *c the connecting side, *s the accepted one.
bool tcp_pair(backend &b, int *c, int *s)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 4);
	if (l < 0 || (*c = tcp_connect(b, sa)) < 0)
		return false;
	*s = b.accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int one = 1;
	setsockopt(*c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(*s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(*c, F_SETFL, O_NONBLOCK);
	b.close(l);
	return *s >= 0;
}

// Three writes into wr, never reading rd: each is reported once on its own.
void each_write_is_an_edge(backend &b, uepoll::test::trace &t, int rd, int wr, bool wait_long)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, rd, EPOLLIN | EPOLLET, 0xfeedface0000e001ULL));
	epoll_event out[4];
	t.events("idle", b.epoll_wait(ep, out, 4, 0), out);
	uint64_t one = 1;
	for (int i = 0; i < 3; i++) {
		t.step("write " + std::to_string(i), b.write(wr, &one, sizeof one));
		int n = wait_long ? uepoll::test::wait_some(b, ep, out, 4) : b.epoll_wait(ep, out, 4, 0);
		t.events("wait " + std::to_string(i), n, out);
		EXPECT_EQ(n, 1) << "write " << i;
		n = b.epoll_wait(ep, out, 4, 0);
		t.events("again " + std::to_string(i), n, out);
		EXPECT_EQ(n, 0) << "write " << i;
	}
}

} // namespace

DIFF_TEST(et, one_report_per_edge)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e101ULL));
	t.step("write", b.write(p[1], "abc", 3));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 1);
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait again", n, out);
	EXPECT_EQ(n, 0);
	n = b.epoll_wait(ep, out, 4, 50);
	t.events("wait 50ms", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(et, each_write_is_an_edge_pipe)
{
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	each_write_is_an_edge(b, t, p[0], p[1], false);
}

DIFF_TEST(et, each_write_is_an_edge_unix_stream)
{
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	each_write_is_an_edge(b, t, sv[0], sv[1], false);
}

DIFF_TEST(et, each_write_is_an_edge_unix_dgram)
{
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv);
	each_write_is_an_edge(b, t, sv[0], sv[1], false);
}

DIFF_TEST(et, each_write_is_an_edge_eventfd)
{
	// Tokio and nginx's thread pools: a rarely read eventfd must report every write.
	int efd = b.eventfd(0, EFD_NONBLOCK);
	each_write_is_an_edge(b, t, efd, efd, false);
}

DIFF_TEST(et, each_write_is_an_edge_tcp)
{
	int c = -1, s = -1;
	ASSERT_TRUE(tcp_pair(b, &c, &s));
	each_write_is_an_edge(b, t, s, c, true);
}

DIFF_TEST(et, full_drain_then_no_report)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add", add(b, ep, sv[0], EPOLLIN | EPOLLET, 0xfeedface0000e201ULL));
	t.step("write", b.write(sv[1], "hello world", 11));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	char buf[4];
	ssize_t r;
	int reads = 0;
	while ((r = b.read(sv[0], buf, sizeof buf)) > 0)
		reads++;
	t.step("reads", reads);
	t.step("last read", r);
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after drain", n, out);
	EXPECT_EQ(n, 0);
	n = b.epoll_wait(ep, out, 4, 50);
	t.events("after drain 50ms", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(et, write_drain_wait_reports_nothing)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e301ULL));
	t.step("write", b.write(p[1], "xyz", 3));
	char buf[8];
	t.step("drain", b.read(p[0], buf, sizeof buf));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(et, mod_with_same_mask_reports_again)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e401ULL));
	b.write(p[1], "x", 1);
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.events("wait again", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod", mod(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e401ULL));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after mod", n, out);
	EXPECT_EQ(n, 1);
	t.step("mod new data", mod(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e403ULL));
	t.events("after mod new data", b.epoll_wait(ep, out, 4, 0), out);
	t.events("then", b.epoll_wait(ep, out, 4, 0), out);
	EXPECT_TRUE(t.contains("after mod new data = 1 {IN data=feedface0000e403}"));
	EXPECT_TRUE(t.contains("then = 0"));
}

DIFF_TEST(et, mod_of_drained_fd_reports_nothing)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e411ULL));
	b.write(p[1], "x", 1);
	char c;
	t.step("drain", b.read(p[0], &c, 1));
	t.step("mod", mod(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e411ULL));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after mod", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(et, items_beyond_maxevents_stay_queued)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[5][2];
	for (int i = 0; i < 5; i++) {
		b.pipe2(p[i], O_NONBLOCK);
		t.step("add", add(b, ep, p[i][0], EPOLLIN | EPOLLET, 0xfeedface0000e500ULL + i));
	}
	for (int i = 0; i < 5; i++)
		b.write(p[i][1], "x", 1);
	epoll_event out[2];
	int total = 0;
	for (int w = 0; w < 4; w++) {
		int n = b.epoll_wait(ep, out, 2, 0);
		t.events("wait " + std::to_string(w), n, out, true);
		total += n > 0 ? n : 0;
	}
	EXPECT_EQ(total, 5);
	EXPECT_TRUE(t.contains("wait 3 = 0"));
}

DIFF_TEST(et, ready_before_the_call_seen_with_timeout_0)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2], q[2];
	b.pipe2(p, O_NONBLOCK);
	b.pipe2(q, O_NONBLOCK);
	b.write(p[1], "x", 1);
	t.step("add ready", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000e601ULL));
	t.step("add idle", add(b, ep, q[0], EPOLLIN | EPOLLET, 0xfeedface0000e602ULL));
	t.step("write idle", b.write(q[1], "y", 1));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 2);
}

DIFF_TEST(et, unix_stream_out_edge_when_peer_reads)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add", add(b, ep, sv[0], EPOLLOUT | EPOLLET, 0xfeedface0000e701ULL));
	epoll_event out[4];
	t.events("initial", b.epoll_wait(ep, out, 4, 0), out);
	t.events("initial again", b.epoll_wait(ep, out, 4, 0), out);
	char buf[64];
	for (int i = 0; i < 3; i++) {
		std::string k = std::to_string(i);
		t.step("write " + k, b.write(sv[0], "0123456789", 10));
		t.events("after write " + k, b.epoll_wait(ep, out, 4, 0), out);
		t.step("peer read " + k, b.read(sv[1], buf, sizeof buf));
		int n = b.epoll_wait(ep, out, 4, 0);
		t.events("after peer read " + k, n, out);
		EXPECT_EQ(n, 1) << i;
		t.events("again " + k, b.epoll_wait(ep, out, 4, 0), out);
	}
	// A peer read of only part of one message frees nothing: no edge.
	t.step("write", b.write(sv[0], "0123456789", 10));
	t.step("peer partial read", b.read(sv[1], buf, 3));
	t.events("after partial peer read", b.epoll_wait(ep, out, 4, 0), out);
	t.step("peer read rest", b.read(sv[1], buf, sizeof buf));
	t.events("after peer read rest", b.epoll_wait(ep, out, 4, 0), out);
}

// The kernel never wakes a writer for its own write.  uepoll may have to
// guess here (it learns of edges from the program's calls).
DIFF_TEST(et, own_write_gives_no_out_edge)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2], p[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	b.pipe2(p, O_NONBLOCK);
	t.step("add sock", add(b, ep, sv[0], EPOLLOUT | EPOLLET, 0xfeedface0000e801ULL));
	t.step("add pipe", add(b, ep, p[1], EPOLLOUT | EPOLLET, 0xfeedface0000e802ULL));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("initial", n, out);
	EXPECT_EQ(n, 2);
	t.step("write sock", b.write(sv[0], "abc", 3));
	t.step("write pipe", b.write(p[1], "abc", 3));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after own writes", n, out);
	EXPECT_EQ(n, 0);
	t.step("write sock", b.send(sv[0], "defg", 4, 0));
	t.step("write pipe", b.write(p[1], "defg", 4));
	n = b.epoll_wait(ep, out, 4, 50);
	t.events("after more own writes", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(et, pipe_out_edge_when_a_full_pipe_frees_a_page)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[1], EPOLLOUT | EPOLLET, 0xfeedface0000e901ULL));
	epoll_event out[4];
	t.events("initial", b.epoll_wait(ep, out, 4, 0), out);
	static char page[4096];
	long filled = 0;
	ssize_t w;
	while ((w = b.write(p[1], page, sizeof page)) > 0)
		filled += w;
	t.step("filled", filled);
	t.step("last write", w);
	t.events("full", b.epoll_wait(ep, out, 4, 0), out);
	static char buf[4096];
	t.step("read part of a page", b.read(p[0], buf, 100));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after part of a page", n, out);
	EXPECT_EQ(n, 0);
	t.step("read rest of the page", b.read(p[0], buf, sizeof buf - 100));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after a page", n, out);
	EXPECT_EQ(n, 1);
	// The pipe is no longer full: freeing another page is no new edge.
	t.step("read another page", b.read(p[0], buf, sizeof buf));
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("after another page", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(et, eventfd_reports_each_write_with_waits_between)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int efd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	t.step("add", add(b, ep, efd, EPOLLIN | EPOLLET, 0x00005555f00d0001ULL));
	epoll_event out[4];
	uint64_t one = 1;
	for (int i = 0; i < 3; i++) {
		t.step("write", b.write(efd, &one, sizeof one));
		int n = uepoll::test::wait_some(b, ep, out, 4);
		t.events("wait", n, out);
		EXPECT_EQ(n, 1);
	}
	uint64_t v = 0;
	t.step("read", b.read(efd, &v, sizeof v));
	t.step("value", (long)v);
	t.events("after read", b.epoll_wait(ep, out, 4, 0), out);
}

// nginx: IN|OUT|ET|RDHUP added once on an accepted socket, reads until a short read.
DIFF_TEST(et, nginx_connection_pattern)
{
	int c = -1, s = -1;
	ASSERT_TRUE(tcp_pair(b, &c, &s));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, s, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, 0x00007f00c0de0001ULL));
	epoll_event out[4];
	t.events("at once", b.epoll_wait(ep, out, 4, 0), out);
	t.events("then", b.epoll_wait(ep, out, 4, 0), out);
	char buf[256];
	t.step("client send", b.send(c, "GET / HTTP/1.0\r\n", 16, 0));
	t.events("request", uepoll::test::wait_some(b, ep, out, 4), out);
	t.step("short read", b.read(s, buf, sizeof buf));
	t.step("client send more", b.send(c, "\r\n", 2, 0));
	t.events("more", uepoll::test::wait_some(b, ep, out, 4), out);
	t.step("short read", b.read(s, buf, sizeof buf));
	t.step("client shutdown", b.shutdown(c, SHUT_WR));
	t.events("peer shut down", uepoll::test::wait_some(b, ep, out, 4), out);
	t.step("read eof", b.read(s, buf, sizeof buf));
	EXPECT_TRUE(t.contains("at once = 1 {OUT data=7f00c0de0001}"));
	EXPECT_TRUE(t.contains("then = 0"));
	EXPECT_TRUE(t.contains("request = 1 {IN|OUT data=7f00c0de0001}"));
	EXPECT_TRUE(t.contains("more = 1 {IN|OUT data=7f00c0de0001}"));
	EXPECT_TRUE(t.contains("peer shut down = 1 {IN|OUT|RDHUP data=7f00c0de0001}"));
}

DIFF_TEST(et, nginx_mod_adding_out_reports_at_once)
{
	int c = -1, s = -1;
	ASSERT_TRUE(tcp_pair(b, &c, &s));
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("add", add(b, ep, s, EPOLLIN | EPOLLET | EPOLLRDHUP, 0x00007f00c0de0003ULL));
	epoll_event out[4];
	t.events("idle", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod +OUT", mod(b, ep, s, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, 0x00007f00c0de0003ULL));
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("after mod", n, out);
	EXPECT_TRUE(t.contains("after mod = 1 {OUT data=7f00c0de0003}"));
	t.events("then", b.epoll_wait(ep, out, 4, 0), out);
}
