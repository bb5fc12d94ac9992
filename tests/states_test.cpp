// tests/states_test.cpp - the exact event bits the kernel reports for common socket, pipe, eventfd, timerfd and signalfd states.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "tests/sockets.hpp"
#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::bind_loopback;
using uepoll::test::event_bits;
using uepoll::test::loopback;
using uepoll::test::tcp_connect;
using uepoll::test::tcp_listener;
using uepoll::test::trace;

namespace {

constexpr uint64_t D1 = 0xfeedface00000001ULL;

// Every bit a file can report besides ERR and HUP.
constexpr uint32_t ALL = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLRDNORM | EPOLLWRNORM | EPOLLRDBAND |
			 EPOLLWRBAND;

constexpr uint32_t IN = EPOLLIN, OUT = EPOLLOUT, RDHUP = EPOLLRDHUP, PRI = EPOLLPRI, RDNORM = EPOLLRDNORM,
		   WRNORM = EPOLLWRNORM, WRBAND = EPOLLWRBAND, ERR = EPOLLERR, HUP = EPOLLHUP;

// What a fresh level-triggered instance watching fd with `bits` reports
// right now (timeout 0).  Records it and checks it is exactly `want`.
void expect_state(backend &b, trace &t, const std::string &what, int fd, uint32_t want, uint32_t bits = ALL)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	epoll_event ev{};
	ev.events = bits;
	ev.data.u64 = D1;
	t.step(what + " add", b.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	epoll_event out[2];
	int n = b.epoll_wait(ep, out, 2, 0);
	t.events(what, n, out);
	b.close(ep);
	uint32_t got = n == 1 ? out[0].events : 0;
	EXPECT_TRUE(n == 0 || n == 1) << what << ": n = " << n;
	EXPECT_EQ(event_bits(got), event_bits(want)) << what << "\n" << t.str();
	if (n == 1) {
		EXPECT_EQ(out[0].data.u64, D1) << what;
	}
}

// Waits (bounded, 5 s) until fd reports one of `bits` (ERR and HUP always
// count): the state under test has arrived.
void await(backend &b, trace &t, const std::string &what, int fd, uint32_t bits)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	epoll_event ev{};
	ev.events = bits;
	ev.data.u64 = D1;
	t.step(what + " add", b.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	epoll_event out[2];
	int n = b.epoll_wait(ep, out, 2, 5000);
	t.step(what, n);
	EXPECT_EQ(n, 1) << what << ": never arrived";
	b.close(ep);
}

// A connected TCP pair (client, accepted server side).
struct tcp_pair {
	int listener = -1, client = -1, server = -1;
	tcp_pair(backend &b, trace &t)
	{
		sockaddr_in addr;
		listener = tcp_listener(b, &addr, 8);
		client = tcp_connect(b, addr);
		server = b.accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
		t.step("tcp pair", client >= 0 && server >= 0);
		EXPECT_GE(server, 0);
	}
};

// The accept queue length of a listener (TCP_INFO reports it in
// tcpi_unacked for listening sockets).
int accept_queue(int l)
{
	tcp_info ti{};
	socklen_t len = sizeof ti;
	if (getsockopt(l, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -1;
	return (int)ti.tcpi_unacked;
}

int tcp_state(int fd)
{
	tcp_info ti{};
	socklen_t len = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -1;
	return ti.tcpi_state;
}

long so_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof e;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
		return -1;
	return e;
}

std::string ename(long e)
{
	const char *n = strerrorname_np((int)e);
	return n ? n : std::to_string(e);
}

} // namespace

// socket() only: a TCP socket in CLOSE reports HUP, and is writable.
DIFF_TEST(states, tcp_never_connected)
{
	int s = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	expect_state(b, t, "fresh tcp socket", s, OUT | WRNORM | HUP);
	expect_state(b, t, "fresh tcp socket, IN|OUT", s, OUT | HUP, IN | OUT);
	expect_state(b, t, "fresh tcp socket, IN", s, HUP, IN);
	int bound = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in a = loopback();
	EXPECT_EQ(b.bind(bound, (sockaddr *)&a, sizeof a), 0);
	expect_state(b, t, "bound, not listening", bound, OUT | WRNORM | HUP);
}

// A connect whose SYN the listener drops (its accept queue is full and it
// never accepts) stays in SYN_SENT: nothing to report.
DIFF_TEST(states, tcp_connect_in_progress)
{
	sockaddr_in addr;
	int l = tcp_listener(b, &addr, 1);
	// backlog 1 holds two connections; wait until both are queued.
	int c1 = tcp_connect(b, addr);
	int c2 = tcp_connect(b, addr);
	for (int i = 0; i < 5000 && accept_queue(l) < 2; i++)
		usleep(1000);
	t.step("accept queue", accept_queue(l));
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	t.step("connect", b.connect(c, (sockaddr *)&addr, sizeof addr));
	t.step("tcp state is SYN_SENT", tcp_state(c) == TCP_SYN_SENT);
	expect_state(b, t, "SYN_SENT", c, 0);
	expect_state(b, t, "listener with a full queue", l, IN | RDNORM);
	expect_state(b, t, "queued client", c1, OUT | WRNORM);
	(void)c2;
	// A short bound: still nothing.
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	epoll_event ev{};
	ev.events = ALL;
	ev.data.u64 = D1;
	t.step("add", b.epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
	epoll_event out[2];
	t.events("SYN_SENT after 50 ms", b.epoll_wait(ep, out, 2, 50), out);
	EXPECT_TRUE(t.contains("SYN_SENT after 50 ms = 0")) << t.str();
}

// An established connection is writable on both sides, and readable with
// data.
DIFF_TEST(states, tcp_connected)
{
	tcp_pair p(b, t);
	expect_state(b, t, "client", p.client, OUT | WRNORM);
	expect_state(b, t, "accepted", p.server, OUT | WRNORM);
	t.step("send", b.send(p.client, "abc", 3, 0));
	await(b, t, "data arrived", p.server, IN);
	expect_state(b, t, "accepted with data", p.server, IN | RDNORM | OUT | WRNORM);
	expect_state(b, t, "accepted with data, IN only", p.server, IN, IN);
	expect_state(b, t, "accepted with data, RDNORM only", p.server, RDNORM, RDNORM);
	expect_state(b, t, "accepted with data, RDBAND only", p.server, 0, EPOLLRDBAND);
}

// A listener reports nothing until a connection is queued, then IN.
DIFF_TEST(states, tcp_listener)
{
	sockaddr_in addr;
	int l = tcp_listener(b, &addr, 8);
	expect_state(b, t, "idle listener", l, 0);
	int c = tcp_connect(b, addr);
	(void)c;
	await(b, t, "connection queued", l, IN);
	expect_state(b, t, "listener with a queued connection", l, IN | RDNORM);
	int s = b.accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
	t.step("accept", s >= 0);
	expect_state(b, t, "listener after accept", l, 0);
}

// The peer shut down its writing side: IN|RDNORM|RDHUP with OUT|WRNORM;
// once we shut ours too, HUP is added.
DIFF_TEST(states, tcp_peer_shut_wr_then_both)
{
	tcp_pair p(b, t);
	t.step("peer shutdown SHUT_WR", b.shutdown(p.server, SHUT_WR));
	await(b, t, "FIN arrived", p.client, RDHUP);
	expect_state(b, t, "peer SHUT_WR", p.client, IN | RDNORM | RDHUP | OUT | WRNORM);
	expect_state(b, t, "peer SHUT_WR, IN|OUT", p.client, IN | OUT, IN | OUT);
	expect_state(b, t, "peer side after SHUT_WR", p.server, OUT | WRNORM);
	t.step("our shutdown SHUT_WR", b.shutdown(p.client, SHUT_WR));
	expect_state(b, t, "both shut", p.client, IN | RDNORM | RDHUP | OUT | WRNORM | HUP);
	await(b, t, "our FIN arrived", p.server, RDHUP);
	expect_state(b, t, "peer side, both shut", p.server, IN | RDNORM | RDHUP | OUT | WRNORM | HUP);
}

// Our own SHUT_RD: readable (EOF) and RDHUP, still writable.
DIFF_TEST(states, tcp_own_shut_rd)
{
	tcp_pair p(b, t);
	t.step("shutdown SHUT_RD", b.shutdown(p.client, SHUT_RD));
	expect_state(b, t, "own SHUT_RD", p.client, IN | RDNORM | RDHUP | OUT | WRNORM);
}

// A reset (the peer closes with SO_LINGER 0) adds ERR|HUP; reading
// SO_ERROR clears ERR, HUP stays.
DIFF_TEST(states, tcp_reset_by_peer)
{
	tcp_pair p(b, t);
	linger lg{1, 0};
	EXPECT_EQ(setsockopt(p.server, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	t.step("peer close with linger 0", b.close(p.server));
	await(b, t, "RST arrived", p.client, IN);
	expect_state(b, t, "reset", p.client, IN | RDNORM | RDHUP | OUT | WRNORM | ERR | HUP);
	long e = so_error(p.client);
	t.note("SO_ERROR = " + ename(e));
	EXPECT_EQ(e, ECONNRESET);
	expect_state(b, t, "reset after SO_ERROR", p.client, IN | RDNORM | RDHUP | OUT | WRNORM | HUP);
	t.step("so_error again", so_error(p.client));
}

// A nonblocking connect to a closed port: refused, everything set.
DIFF_TEST(states, tcp_connect_refused)
{
	// A port nobody listens on: bound once, then released.
	int tmp = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in addr;
	bind_loopback(b, tmp, &addr);
	b.close(tmp);
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	t.step("connect", b.connect(c, (sockaddr *)&addr, sizeof addr));
	await(b, t, "refusal arrived", c, IN);
	expect_state(b, t, "refused", c, IN | RDNORM | RDHUP | OUT | WRNORM | ERR | HUP);
	expect_state(b, t, "refused, IN|OUT|RDHUP", c, IN | OUT | RDHUP | ERR | HUP, IN | OUT | RDHUP);
	long e = so_error(c);
	t.note("SO_ERROR = " + ename(e));
	EXPECT_EQ(e, ECONNREFUSED);
	expect_state(b, t, "refused after SO_ERROR", c, IN | RDNORM | RDHUP | OUT | WRNORM | HUP);
}

// An urgent byte alone is PRI only on the read side (the byte is out of
// band, so nothing is readable in line); reading it clears PRI.
DIFF_TEST(states, tcp_urgent_byte)
{
	tcp_pair p(b, t);
	t.step("send OOB", b.send(p.client, "!", 1, MSG_OOB));
	await(b, t, "urgent byte arrived", p.server, PRI);
	expect_state(b, t, "urgent byte", p.server, PRI | OUT | WRNORM);
	expect_state(b, t, "urgent byte, PRI only", p.server, PRI, PRI);
	expect_state(b, t, "urgent byte, IN|RDNORM|RDBAND", p.server, 0, IN | RDNORM | EPOLLRDBAND);
	char c = 0;
	t.step("recv OOB", b.recv(p.server, &c, 1, MSG_OOB));
	t.step("byte", c);
	expect_state(b, t, "urgent byte read", p.server, OUT | WRNORM);
	// In-line data, then urgent data: both.
	t.step("send data", b.send(p.client, "ab", 2, 0));
	t.step("send OOB 2", b.send(p.client, "?", 1, MSG_OOB));
	await(b, t, "second urgent byte arrived", p.server, PRI);
	expect_state(b, t, "data and urgent byte", p.server, IN | RDNORM | PRI | OUT | WRNORM);
}

// AF_UNIX stream: WRBAND comes with OUT; the peer's close sets every
// read-side bit plus HUP, and ERR too if it left our data unread.
DIFF_TEST(states, unix_stream)
{
	int sv[2];
	t.step("socketpair", b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	expect_state(b, t, "idle", sv[0], OUT | WRNORM | WRBAND);
	expect_state(b, t, "idle, OUT only", sv[0], OUT, OUT);
	t.step("peer write", b.write(sv[1], "x", 1));
	expect_state(b, t, "with data", sv[0], IN | RDNORM | OUT | WRNORM | WRBAND);
	t.step("peer shutdown SHUT_WR", b.shutdown(sv[1], SHUT_WR));
	expect_state(b, t, "peer SHUT_WR", sv[0], IN | RDNORM | RDHUP | OUT | WRNORM | WRBAND);
	t.step("peer close", b.close(sv[1]));
	expect_state(b, t, "peer closed", sv[0], IN | RDNORM | RDHUP | OUT | WRNORM | WRBAND | HUP);
	t.step("so_error", so_error(sv[0]));
}

DIFF_TEST(states, unix_stream_peer_closed_with_unread_data)
{
	int sv[2];
	t.step("socketpair", b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	t.step("write to peer", b.write(sv[0], "x", 1));
	t.step("peer close without reading", b.close(sv[1]));
	expect_state(b, t, "peer closed, our data unread", sv[0], IN | RDNORM | RDHUP | OUT | WRNORM | WRBAND | HUP | ERR);
	long e = so_error(sv[0]);
	t.note("SO_ERROR = " + ename(e));
	EXPECT_EQ(e, ECONNRESET);
	expect_state(b, t, "after SO_ERROR", sv[0], IN | RDNORM | RDHUP | OUT | WRNORM | WRBAND | HUP);
}

// AF_UNIX datagram pair: writable with WRBAND, readable with a datagram.
DIFF_TEST(states, unix_dgram)
{
	int sv[2];
	t.step("socketpair", b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv));
	expect_state(b, t, "idle", sv[0], OUT | WRNORM | WRBAND);
	t.step("peer send", b.send(sv[1], "x", 1, 0));
	expect_state(b, t, "with a datagram", sv[0], IN | RDNORM | OUT | WRNORM | WRBAND);
	t.step("peer close", b.close(sv[1]));
	expect_state(b, t, "peer closed, datagram queued", sv[0], IN | RDNORM | OUT | WRNORM | WRBAND);
	char c;
	t.step("recv", b.recv(sv[0], &c, 1, 0));
	expect_state(b, t, "peer closed, drained", sv[0], OUT | WRNORM | WRBAND);
}

// Pipes: HUP alone once the writer is gone and nothing is buffered; ERR
// on the write end once the reader is gone.
DIFF_TEST(states, pipes)
{
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC | O_NONBLOCK));
	expect_state(b, t, "empty read end", p[0], 0);
	expect_state(b, t, "empty write end", p[1], OUT | WRNORM);
	t.step("write", b.write(p[1], "x", 1));
	expect_state(b, t, "read end with data", p[0], IN | RDNORM);
	t.step("close writer", b.close(p[1]));
	expect_state(b, t, "writer closed, data buffered", p[0], IN | RDNORM | HUP);
	char c;
	t.step("read", b.read(p[0], &c, 1));
	expect_state(b, t, "writer closed, nothing buffered", p[0], HUP);
	expect_state(b, t, "writer closed, nothing buffered, nothing asked", p[0], HUP, 0);

	int q[2];
	t.step("pipe 2", b.pipe2(q, O_CLOEXEC | O_NONBLOCK));
	t.step("close reader", b.close(q[0]));
	expect_state(b, t, "reader closed", q[1], OUT | WRNORM | ERR);
	expect_state(b, t, "reader closed, nothing asked", q[1], ERR, 0);
}

// A full pipe whose reader goes away: ERR alone on the write end.
DIFF_TEST(states, full_pipe)
{
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC | O_NONBLOCK));
	char buf[4096] = {};
	long total = 0;
	for (;;) {
		ssize_t n = b.write(p[1], buf, sizeof buf);
		if (n <= 0)
			break;
		total += n;
	}
	t.step("filled", total);
	expect_state(b, t, "full write end", p[1], 0);
	expect_state(b, t, "full read end", p[0], IN | RDNORM);
	t.step("close reader", b.close(p[0]));
	expect_state(b, t, "full, reader closed", p[1], ERR);
}

// eventfd: IN while the count is > 0, OUT while a write of 1 would not
// block; never RDNORM/WRNORM.
DIFF_TEST(states, eventfd)
{
	int e = b.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	expect_state(b, t, "count 0", e, OUT);
	uint64_t v = 1;
	t.step("write 1", b.write(e, &v, sizeof v));
	expect_state(b, t, "count 1", e, IN | OUT);
	t.step("read", b.read(e, &v, sizeof v));
	v = 0xfffffffffffffffeULL;
	t.step("write max", b.write(e, &v, sizeof v));
	expect_state(b, t, "count at the maximum", e, IN);
	t.step("read again", b.read(e, &v, sizeof v));
	expect_state(b, t, "drained", e, OUT);
}

// timerfd: nothing while unexpired, IN once expired, nothing once read.
DIFF_TEST(states, timerfd)
{
	int tf = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	EXPECT_GE(tf, 0);
	expect_state(b, t, "disarmed", tf, 0);
	itimerspec far{};
	far.it_value.tv_sec = 3600;
	t.step("arm in an hour", timerfd_settime(tf, 0, &far, nullptr));
	expect_state(b, t, "armed", tf, 0);
	// An absolute expiry in the past: expired as soon as it is armed.
	itimerspec past{};
	past.it_value.tv_nsec = 1;
	t.step("arm in the past", timerfd_settime(tf, TFD_TIMER_ABSTIME, &past, nullptr));
	await(b, t, "expired", tf, IN);
	expect_state(b, t, "expired", tf, IN);
	uint64_t ticks = 0;
	t.step("read", b.read(tf, &ticks, sizeof ticks));
	t.step("ticks", (long)ticks);
	expect_state(b, t, "read", tf, 0);
}

// signalfd: IN while a signal of its mask is pending for the process, or
// for the thread that waits.
DIFF_TEST(states, signalfd)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	EXPECT_EQ(sigprocmask(SIG_BLOCK, &mask, nullptr), 0);
	int sf = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	EXPECT_GE(sf, 0);
	expect_state(b, t, "nothing pending", sf, 0);
	t.step("kill self SIGUSR1", kill(getpid(), SIGUSR1));
	expect_state(b, t, "process signal pending", sf, IN);
	signalfd_siginfo si;
	t.step("read", b.read(sf, &si, sizeof si));
	t.step("signo", si.ssi_signo);
	expect_state(b, t, "consumed", sf, 0);
	t.step("raise SIGUSR2", raise(SIGUSR2));
	expect_state(b, t, "thread signal pending", sf, IN);
	t.step("read 2", b.read(sf, &si, sizeof si));
	t.step("signo 2", si.ssi_signo);
	expect_state(b, t, "consumed 2", sf, 0);
}

// UDP: writable with WRBAND (no HUP, unlike TCP), readable with a
// datagram; an ICMP port unreachable sets ERR until SO_ERROR is read.
DIFF_TEST(states, udp)
{
	int fresh = b.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	expect_state(b, t, "fresh udp socket", fresh, OUT | WRNORM | WRBAND);
	int r = b.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	sockaddr_in ra;
	bind_loopback(b, r, &ra);
	int s = b.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	EXPECT_EQ(b.connect(s, (sockaddr *)&ra, sizeof ra), 0);
	expect_state(b, t, "bound, empty", r, OUT | WRNORM | WRBAND);
	t.step("send", b.send(s, "hello", 5, 0));
	await(b, t, "datagram arrived", r, IN);
	expect_state(b, t, "with a datagram", r, IN | RDNORM | OUT | WRNORM | WRBAND);
	char buf[8];
	t.step("recv", b.recv(r, buf, sizeof buf, 0));
	expect_state(b, t, "drained", r, OUT | WRNORM | WRBAND);

	// Connected to a port nobody has: the send draws an ICMP error.
	t.step("close receiver", b.close(r));
	t.step("send to nobody", b.send(s, "x", 1, 0));
	await(b, t, "error arrived", s, 0);
	expect_state(b, t, "port unreachable", s, OUT | WRNORM | WRBAND | ERR);
	long e = so_error(s);
	t.note("SO_ERROR = " + ename(e));
	EXPECT_EQ(e, ECONNREFUSED);
	expect_state(b, t, "after SO_ERROR", s, OUT | WRNORM | WRBAND);
}

// EPOLLRDNORM or EPOLLWRNORM asked alone come back alone, without IN/OUT.
DIFF_TEST(states, rdnorm_and_wrnorm_alone)
{
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	t.step("write", b.write(p[1], "x", 1));
	expect_state(b, t, "pipe RDNORM alone", p[0], RDNORM, RDNORM);
	expect_state(b, t, "pipe WRNORM alone", p[1], WRNORM, WRNORM);
	expect_state(b, t, "pipe RDBAND alone", p[0], 0, EPOLLRDBAND);
	expect_state(b, t, "pipe WRBAND alone", p[1], 0, WRBAND);
	int sv[2];
	t.step("socketpair", b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	t.step("write", b.write(sv[1], "x", 1));
	expect_state(b, t, "unix RDNORM alone", sv[0], RDNORM, RDNORM);
	expect_state(b, t, "unix WRNORM alone", sv[0], WRNORM, WRNORM);
	expect_state(b, t, "unix WRBAND alone", sv[0], WRBAND, WRBAND);
	tcp_pair tp(b, t);
	t.step("send", b.send(tp.client, "x", 1, 0));
	await(b, t, "tcp data arrived", tp.server, IN);
	expect_state(b, t, "tcp RDNORM alone", tp.server, RDNORM, RDNORM);
	expect_state(b, t, "tcp WRNORM alone", tp.server, WRNORM, WRNORM);
	int e = b.eventfd(1, EFD_CLOEXEC);
	expect_state(b, t, "eventfd RDNORM alone", e, 0, RDNORM);
	expect_state(b, t, "eventfd WRNORM alone", e, 0, WRNORM);
}
