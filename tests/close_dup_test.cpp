// tests/close_dup_test.cpp - life of a watched file: close, fd reuse, dup/dup2/dup3/F_DUPFD, close_range, FIN on close.
#include <atomic>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/sockets.hpp"
#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

using uepoll::test::add;
using uepoll::test::mod;
using uepoll::test::del;

using uepoll::test::tcp_connect;
using uepoll::test::tcp_listener;

namespace {

// Records the wait and returns its result; out must hold 8 events.
int wait0(backend &b, trace &t, const std::string &what, int ep, epoll_event *out)
{
	int n = b.epoll_wait(ep, out, 8, 0);
	t.events(what, n, out);
	return n;
}

bool has_data(int n, const epoll_event *out, uint64_t data)
{
	for (int i = 0; i < n; i++)
		if (out[i].data.u64 == data)
			return true;
	return false;
}

// A client connected to the listener at addr.
int tcp_client(backend &b, const sockaddr_in &addr)
{
	int c = tcp_connect(b, addr);
	// Every blocking read on the client side is bounded.
	timeval tv{5, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return c;
}

bool wait_readable(backend &b, int fd)
{
	pollfd p{fd, POLLIN, 0};
	return b.poll(&p, 1, 5000) == 1 && (p.revents & POLLIN);
}

uint64_t one = 1;

} // namespace

DIFF_TEST(close_dup, close_of_last_fd_removes_item)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	t.step("add", add(b, ep, p[0], EPOLLIN, 0xfeedface00000001ULL));
	t.step("write", b.write(p[1], "x", 1));
	t.step("close read end", b.close(p[0]));
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "wait after close", ep, out), 0);
	// The number is free again: a new file there is a new item.
	int q[2];
	ASSERT_EQ(b.pipe2(q, O_NONBLOCK), 0);
	t.step("new pipe took the number", q[0] == p[0]);
	EXPECT_EQ(q[0], p[0]);
	int r = add(b, ep, q[0], EPOLLIN, 0xfeedface00000002ULL);
	t.step("add new file", r);
	EXPECT_EQ(r, 0);
	EXPECT_EQ(wait0(b, t, "wait new file idle", ep, out), 0);
	t.step("del new", del(b, ep, q[0]));
	t.step("del again", del(b, ep, q[0]));
}

DIFF_TEST(close_dup, close_removes_item_from_every_instance)
{
	int ep1 = b.epoll_create1(0), ep2 = b.epoll_create1(0);
	int efd = b.eventfd(1, EFD_NONBLOCK);
	add(b, ep1, efd, EPOLLIN, 0xfeedface00000003ULL);
	add(b, ep2, efd, EPOLLIN | EPOLLET, 0xfeedface00000004ULL);
	t.step("close", b.close(efd));
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "ep1", ep1, out), 0);
	EXPECT_EQ(wait0(b, t, "ep2", ep2, out), 0);
}

// nginx never DELs before close and ADDs the accepted socket that reuses
// the number: that ADD must succeed, and the old socket's pending edge must
// not come back under the new data.
DIFF_TEST(close_dup, closed_socket_number_reused_by_accept)
{
	sockaddr_in addr;
	int lst = tcp_listener(b, &addr);
	int lep = b.epoll_create1(0);
	int ep = b.epoll_create1(0);
	t.step("add listener", add(b, lep, lst, EPOLLIN | EPOLLRDHUP, 0xfeedface0000000aULL));
	int cl1 = tcp_client(b, addr);
	int cl2 = tcp_client(b, addr);
	epoll_event out[8];
	int n = uepoll::test::wait_some(b, lep, out, 8);
	t.events("listener", n, out);
	EXPECT_EQ(n, 1);
	int c1 = b.accept4(lst, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ASSERT_GE(c1, 0);
	t.step("add c1", add(b, ep, c1, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, 0xfeedface0000000bULL));
	// Data from a TCP peer in this process is taken before the first wait:
	// later edges from it would be deviation 2 for uepoll.
	t.step("send on cl1", b.send(cl1, "old", 3, 0));
	t.step("c1 readable", wait_readable(b, c1));
	n = wait0(b, t, "c1 first edge", ep, out);
	EXPECT_EQ(n, 1);
	t.step("send more on cl1", b.send(cl1, "old2", 4, 0));
	// Leave a new edge pending on the ready list, then close without DEL.
	char buf[16];
	for (int i = 0; i < 500; i++) {
		if (b.recv(c1, buf, sizeof buf, MSG_PEEK) == 7)
			break;
		usleep(10 * 1000);
	}
	t.step("close c1", b.close(c1));
	int c2 = b.accept4(lst, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ASSERT_GE(c2, 0);
	t.step("accept reused the number", c2 == c1);
	EXPECT_EQ(c2, c1);
	int r = add(b, ep, c2, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, 0xfeedface0000000cULL);
	t.step("add c2", r);
	EXPECT_EQ(r, 0);
	n = wait0(b, t, "c2 only writable", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].events, (uint32_t)EPOLLOUT);
	EXPECT_EQ(out[0].data.u64, 0xfeedface0000000cULL);
	t.step("send on cl2", b.send(cl2, "new", 3, 0));
	t.step("c2 readable", wait_readable(b, c2));
	// MOD re-arms and reports at once what is ready now.
	t.step("mod c2", mod(b, ep, c2, EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, 0xfeedface0000000dULL));
	n = wait0(b, t, "c2 after mod", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface0000000dULL);
	EXPECT_EQ(out[0].events, (uint32_t)(EPOLLIN | EPOLLOUT));
	t.step("recv c2", b.recv(c2, buf, sizeof buf, 0));
	// c1 was closed with unread data: the kernel resets the connection.
	t.step("cl1 sees", b.recv(cl1, buf, sizeof buf, 0));
}

DIFF_TEST(close_dup, closed_socket_number_reused_by_socket)
{
	int ep = b.epoll_create1(0);
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	add(b, ep, sv[0], EPOLLIN, 0xfeedface00000011ULL);
	t.step("send", b.send(sv[1], "x", 1, 0));
	epoll_event out[8];
	t.step("close watched end", b.close(sv[0]));
	int s = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	t.step("socket reused the number", s == sv[0]);
	EXPECT_EQ(s, sv[0]);
	int r = add(b, ep, s, EPOLLIN | EPOLLOUT, 0xfeedface00000012ULL);
	t.step("add", r);
	EXPECT_EQ(r, 0);
	int n = wait0(b, t, "wait", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].events, (uint32_t)EPOLLOUT);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000012ULL);
}

// Closing one number of a file that stays open leaves the (file, number)
// item in place, reachable only once that file is back on that number.
DIFF_TEST(close_dup, dup_then_close_original_keeps_item)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	const uint64_t D = 0xfeedface00000021ULL;
	add(b, ep, p[0], EPOLLIN, D);
	int d = b.dup(p[0]);
	ASSERT_GE(d, 0);
	t.step("close original", b.close(p[0]));
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[8];
	int n = wait0(b, t, "still reports", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, D);
	int r = del(b, ep, p[0]);
	t.step("del via closed number", r);
	EXPECT_EQ(r, -1);
	EXPECT_EQ(errno, EBADF);
	r = mod(b, ep, p[0], EPOLLIN, 1);
	t.step("mod via closed number", r);
	EXPECT_EQ(errno, EBADF);
	r = del(b, ep, d);
	t.step("del via dup", r);
	EXPECT_EQ(r, -1);
	EXPECT_EQ(errno, ENOENT);
	r = mod(b, ep, d, EPOLLIN, 1);
	t.step("mod via dup", r);
	EXPECT_EQ(errno, ENOENT);
	n = wait0(b, t, "still reports after failed del", ep, out);
	EXPECT_EQ(n, 1);
	// The dup number is a separate key: both items report.
	r = add(b, ep, d, EPOLLIN, 0xfeedface00000022ULL);
	t.step("add via dup", r);
	EXPECT_EQ(r, 0);
	n = wait0(b, t, "both", ep, out);
	EXPECT_EQ(n, 2);
	t.step("del via dup", del(b, ep, d));
	// Closing the last number releases the file: the old item goes too.
	t.step("close dup", b.close(d));
	n = wait0(b, t, "after last close", ep, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(close_dup, same_file_back_on_number_gives_eexist_and_del_works)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	const uint64_t D = 0xfeedface00000031ULL;
	add(b, ep, p[0], EPOLLIN, D);
	int d = b.dup(p[0]);
	t.step("close original", b.close(p[0]));
	int r = b.dup2(d, p[0]);
	t.step("dup2 back", r == p[0]);
	EXPECT_EQ(r, p[0]);
	r = add(b, ep, p[0], EPOLLIN, 0xfeedface00000032ULL);
	t.step("add", r);
	EXPECT_EQ(r, -1);
	EXPECT_EQ(errno, EEXIST);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[8];
	int n = wait0(b, t, "old data", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, D);
	r = mod(b, ep, p[0], EPOLLIN, 0xfeedface00000033ULL);
	t.step("mod", r);
	EXPECT_EQ(r, 0);
	n = wait0(b, t, "modded data", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000033ULL);
	r = del(b, ep, p[0]);
	t.step("del", r);
	EXPECT_EQ(r, 0);
	EXPECT_EQ(wait0(b, t, "after del", ep, out), 0);
}

DIFF_TEST(close_dup, other_file_on_number_shares_it)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	const uint64_t OLD = 0xfeedface00000041ULL, NEW = 0xfeedface00000042ULL;
	add(b, ep, p[0], EPOLLIN, OLD);
	int d = b.dup(p[0]);
	t.step("close original", b.close(p[0]));
	int efd = b.eventfd(0, EFD_NONBLOCK);
	t.step("eventfd took the number", efd == p[0]);
	ASSERT_EQ(efd, p[0]);
	int r = add(b, ep, efd, EPOLLIN, NEW);
	t.step("add eventfd", r);
	EXPECT_EQ(r, 0);
	t.step("write pipe", b.write(p[1], "x", 1));
	t.step("write eventfd", b.write(efd, &one, sizeof one));
	epoll_event out[8];
	int n = wait0(b, t, "both", ep, out);
	EXPECT_EQ(n, 2);
	EXPECT_TRUE(has_data(n, out, OLD));
	EXPECT_TRUE(has_data(n, out, NEW));
	r = del(b, ep, efd);
	t.step("del number", r);
	EXPECT_EQ(r, 0);
	n = wait0(b, t, "old only", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, OLD);
	r = del(b, ep, efd);
	t.step("del number again", r);
	EXPECT_EQ(errno, ENOENT);
	// The pipe item goes when its file does.
	t.step("close dup", b.close(d));
	EXPECT_EQ(wait0(b, t, "after close dup", ep, out), 0);
}

DIFF_TEST(close_dup, dup2_onto_watched_number_closes_it)
{
	int ep = b.epoll_create1(0);
	int p[2], q[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	ASSERT_EQ(b.pipe2(q, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000051ULL);
	t.step("write p", b.write(p[1], "x", 1));
	t.step("write q", b.write(q[1], "y", 1));
	int r = b.dup2(q[0], p[0]);
	t.step("dup2 q over p", r == p[0]);
	EXPECT_EQ(r, p[0]);
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "p's item gone", ep, out), 0);
	r = add(b, ep, p[0], EPOLLIN, 0xfeedface00000052ULL);
	t.step("add number now q", r);
	EXPECT_EQ(r, 0);
	int n = wait0(b, t, "q's data under new item", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000052ULL);
	// dup2 of a number onto itself changes nothing.
	r = b.dup2(p[0], p[0]);
	t.step("dup2 self", r == p[0]);
	EXPECT_EQ(wait0(b, t, "after dup2 self", ep, out), 1);
	// q[0] still holds the file: closing it does not touch the item.
	t.step("close q0", b.close(q[0]));
	EXPECT_EQ(wait0(b, t, "after closing the other number", ep, out), 1);
}

DIFF_TEST(close_dup, dup2_onto_watched_number_with_dup_alive)
{
	int ep = b.epoll_create1(0);
	int p[2], q[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	ASSERT_EQ(b.pipe2(q, O_NONBLOCK), 0);
	const uint64_t OLD = 0xfeedface00000061ULL, NEW = 0xfeedface00000062ULL;
	add(b, ep, p[0], EPOLLIN, OLD);
	int d = b.dup(p[0]);
	t.step("dup2 q over p", b.dup2(q[0], p[0]) == p[0]);
	t.step("write p", b.write(p[1], "x", 1));
	epoll_event out[8];
	int n = wait0(b, t, "p's item alive through dup", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, OLD);
	int r = add(b, ep, p[0], EPOLLIN, NEW);
	t.step("add q under the number", r);
	EXPECT_EQ(r, 0);
	t.step("write q", b.write(q[1], "y", 1));
	n = wait0(b, t, "two items on one number", ep, out);
	EXPECT_EQ(n, 2);
	r = del(b, ep, p[0]);
	t.step("del number", r);
	n = wait0(b, t, "old only", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, OLD);
	b.close(d);
}

DIFF_TEST(close_dup, dup3_onto_watched_number_and_errors)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	int efd = b.eventfd(1, EFD_NONBLOCK);
	add(b, ep, efd, EPOLLIN, 0xfeedface00000071ULL);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000072ULL);
	int r = b.dup3(efd, efd, 0);
	t.step("dup3 self", r);
	EXPECT_EQ(errno, EINVAL);
	r = b.dup3(efd, p[0], 0x4);
	t.step("dup3 bad flags", r);
	EXPECT_EQ(errno, EINVAL);
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "nothing closed by failed dup3", ep, out), 1);
	t.step("write p", b.write(p[1], "x", 1));
	r = b.dup3(efd, p[0], O_CLOEXEC);
	t.step("dup3 efd over p", r == p[0]);
	EXPECT_EQ(r, p[0]);
	t.step("cloexec", fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	// efd's item stays (efd still open); p's went with its last fd.
	int n = wait0(b, t, "efd only", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000071ULL);
	r = add(b, ep, p[0], EPOLLIN, 0xfeedface00000073ULL);
	t.step("add efd under p's number", r);
	EXPECT_EQ(r, 0);
	n = wait0(b, t, "efd twice", ep, out);
	EXPECT_EQ(n, 2);
}

DIFF_TEST(close_dup, fcntl_dupfd_keeps_item_and_new_number_is_new_key)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	const uint64_t D = 0xfeedface00000081ULL;
	add(b, ep, p[0], EPOLLIN, D);
	int efd = b.eventfd(0, 0);
	int d1 = b.fcntl_dupfd(p[0], 100, false);
	t.step("F_DUPFD >= 100", d1 >= 100);
	EXPECT_GE(d1, 100);
	t.step("F_DUPFD cloexec", fcntl(d1, F_GETFD) & FD_CLOEXEC);
	int d2 = b.fcntl_dupfd(p[0], 100, true);
	t.step("F_DUPFD_CLOEXEC >= 100", d2 > d1);
	EXPECT_GT(d2, d1);
	t.step("F_DUPFD_CLOEXEC cloexec", fcntl(d2, F_GETFD) & FD_CLOEXEC);
	t.step("close original", b.close(p[0]));
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[8];
	int n = wait0(b, t, "old item", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, D);
	t.step("del d1", del(b, ep, d1));
	EXPECT_EQ(errno, ENOENT);
	t.step("close d1", b.close(d1));
	EXPECT_EQ(wait0(b, t, "still there", ep, out), 1);
	t.step("close d2", b.close(d2));
	EXPECT_EQ(wait0(b, t, "gone with the last fd", ep, out), 0);
	// F_DUPFD onto the lowest free number at or above the closed one.
	int d3 = b.fcntl_dupfd(efd, p[0], false);
	t.step("F_DUPFD reuses", d3 == p[0]);
	EXPECT_EQ(d3, p[0]);
	int r = add(b, ep, d3, EPOLLIN, 0xfeedface00000082ULL);
	t.step("add", r);
	EXPECT_EQ(r, 0);
}

// Read ends moved to 200..203 so that close_range covers exactly them.
static void watched_block(backend &b, trace &t, int ep, int wr[4])
{
	for (int i = 0; i < 4; i++) {
		int p[2];
		ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
		int r = b.dup2(p[0], 200 + i);
		ASSERT_EQ(r, 200 + i);
		b.close(p[0]);
		wr[i] = p[1];
		ASSERT_EQ(add(b, ep, 200 + i, EPOLLIN, 0xfeedface00000090ULL + i), 0);
		t.step("write " + std::to_string(i), b.write(p[1], "x", 1));
	}
}

DIFF_TEST(close_dup, close_range_removes_items)
{
	int ep = b.epoll_create1(0);
	int wr[4];
	watched_block(b, t, ep, wr);
	// 201 stays reachable through a dup: its item survives.
	int keep = b.dup(201);
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "all four", ep, out), 4);
	int r = b.close_range(200, 203, 0);
	t.step("close_range", r);
	EXPECT_EQ(r, 0);
	int n = wait0(b, t, "only the dup'ed one", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000091ULL);
	t.step("del closed number", del(b, ep, 202));
	EXPECT_EQ(errno, EBADF);
	t.step("close keep", b.close(keep));
	EXPECT_EQ(wait0(b, t, "none", ep, out), 0);
}

DIFF_TEST(close_dup, close_range_cloexec_removes_nothing)
{
	int ep = b.epoll_create1(0);
	int wr[4];
	watched_block(b, t, ep, wr);
	int r = b.close_range(200, 203, CLOSE_RANGE_CLOEXEC);
	t.step("close_range cloexec", r);
	EXPECT_EQ(r, 0);
	for (int i = 0; i < 4; i++)
		t.step("cloexec " + std::to_string(i), fcntl(200 + i, F_GETFD) & FD_CLOEXEC);
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "all four", ep, out), 4);
	r = del(b, ep, 202);
	t.step("del", r);
	EXPECT_EQ(r, 0);
	EXPECT_EQ(wait0(b, t, "three", ep, out), 3);
}

DIFF_TEST(close_dup, close_range_over_the_epfd_and_past_the_end)
{
	int wr[4];
	int ep = b.epoll_create1(0);
	watched_block(b, t, ep, wr);
	int ep2 = b.dup2(ep, 204);
	ASSERT_EQ(ep2, 204);
	b.close(ep);
	int ep3 = b.epoll_create1(0);
	add(b, ep3, 202, EPOLLIN, 0xfeedface000000a2ULL);
	int r = b.close_range(201, ~0U, 0);
	t.step("close_range 201..max", r);
	EXPECT_EQ(r, 0);
	epoll_event out[8];
	r = b.epoll_wait(204, out, 8, 0);
	t.step("wait on closed epfd", r);
	EXPECT_EQ(errno, EBADF);
	EXPECT_EQ(wait0(b, t, "ep3 lost 202", ep3, out), 0);
	r = add(b, ep3, 200, EPOLLIN, 0xfeedface000000a0ULL);
	t.step("add survivor", r);
	EXPECT_EQ(wait0(b, t, "survivor", ep3, out), 1);
}

// The kernel holds a file while a poll() has it registered: a shim that
// polls in the waiting thread must let go of a closed socket at once.
DIFF_TEST(close_dup, close_sends_fin_while_thread_waits_on_socket)
{
	sockaddr_in addr;
	int lst = tcp_listener(b, &addr);
	int cl = tcp_client(b, addr);
	int s = b.accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
	ASSERT_GE(s, 0);
	int ep = b.epoll_create1(0);
	int wake = b.eventfd(0, EFD_NONBLOCK);
	add(b, ep, s, EPOLLIN | EPOLLRDHUP, 0xfeedface000000b1ULL);
	add(b, ep, wake, EPOLLIN, 0xfeedface000000b2ULL);
	std::atomic<bool> returned{false};
	epoll_event out[8];
	int n = -2;
	std::thread w([&] {
		n = b.epoll_wait(ep, out, 8, -1);
		returned = true;
	});
	// Let the waiter block (if it is not blocked yet the test still holds).
	usleep(100 * 1000);
	t.step("close watched socket", b.close(s));
	char c;
	ssize_t r = b.recv(cl, &c, 1, 0);
	t.step("peer recv (EOF expected)", r);
	EXPECT_EQ(r, 0) << "no FIN within 5 s";
	t.step("waiter still waiting", !returned.load());
	EXPECT_FALSE(returned.load());
	t.step("wake", b.write(wake, &one, sizeof one));
	w.join();
	t.events("waiter", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface000000b2ULL);
}

DIFF_TEST(close_dup, close_sends_fin_while_thread_waits_on_socket_et)
{
	sockaddr_in addr;
	int lst = tcp_listener(b, &addr);
	int cl = tcp_client(b, addr);
	int s = b.accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
	ASSERT_GE(s, 0);
	int ep = b.epoll_create1(0);
	int wake = b.eventfd(0, EFD_NONBLOCK);
	// OUT|ET: the first wait harvests the writable edge; the second blocks.
	add(b, ep, s, EPOLLIN | EPOLLOUT | EPOLLET, 0xfeedface000000c1ULL);
	add(b, ep, wake, EPOLLIN, 0xfeedface000000c2ULL);
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "writable edge", ep, out), 1);
	std::atomic<bool> returned{false};
	int n = -2;
	std::thread w([&] {
		n = b.epoll_wait(ep, out, 8, -1);
		returned = true;
	});
	usleep(100 * 1000);
	t.step("close watched socket", b.close(s));
	char c;
	ssize_t r = b.recv(cl, &c, 1, 0);
	t.step("peer recv (EOF expected)", r);
	EXPECT_EQ(r, 0) << "no FIN within 5 s";
	t.step("waiter still waiting", !returned.load());
	t.step("wake", b.write(wake, &one, sizeof one));
	w.join();
	t.events("waiter", n, out);
	EXPECT_EQ(n, 1);
}

DIFF_TEST(close_dup, closing_the_epfd)
{
	int ep = b.epoll_create1(0);
	int efd = b.eventfd(1, EFD_NONBLOCK);
	add(b, ep, efd, EPOLLIN, 0xfeedface000000d1ULL);
	int outer = b.epoll_create1(0);
	add(b, outer, ep, EPOLLIN, 0xfeedface000000d2ULL);
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "outer sees ep", outer, out), 1);
	int d = b.dup(ep);
	t.step("close ep", b.close(ep));
	// The instance lives on through the dup.
	int n = wait0(b, t, "wait via dup", d, out);
	EXPECT_EQ(n, 1);
	EXPECT_EQ(wait0(b, t, "outer still sees it", outer, out), 1);
	t.step("close dup", b.close(d));
	int r = b.epoll_wait(d, out, 8, 0);
	t.step("wait on closed epfd", r);
	EXPECT_EQ(errno, EBADF);
	r = add(b, d, efd, EPOLLIN, 1);
	t.step("ctl on closed epfd", r);
	EXPECT_EQ(errno, EBADF);
	EXPECT_EQ(wait0(b, t, "outer lost it", outer, out), 0);
	// The watched file is untouched and can join another instance.
	int ep2 = b.epoll_create1(0);
	t.step("efd still open", add(b, ep2, efd, EPOLLIN, 0xfeedface000000d3ULL));
	EXPECT_EQ(wait0(b, t, "new instance", ep2, out), 1);
	// The new instance took the old number; outer's item for the old
	// instance is gone, so ADD is not EEXIST.
	t.step("new epfd took the number", ep2 == ep);
	EXPECT_EQ(ep2, ep);
	int r2 = add(b, outer, ep2, EPOLLIN, 0xfeedface000000d4ULL);
	t.step("outer adds the new instance", r2);
	EXPECT_EQ(r2, 0);
	n = wait0(b, t, "outer sees the new instance", outer, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface000000d4ULL);
}

DIFF_TEST(close_dup, closing_watched_pipe_read_end_keeps_write_end_item)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface000000e1ULL);
	add(b, ep, p[1], EPOLLOUT, 0xfeedface000000e2ULL);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "both", ep, out), 2);
	t.step("close read end", b.close(p[0]));
	// The writer now has no reader: ERR with OUT.
	int n = wait0(b, t, "write end", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface000000e2ULL);
	EXPECT_EQ(out[0].events, (uint32_t)(EPOLLOUT | EPOLLERR));
}

DIFF_TEST(close_dup, closing_watched_pipe_write_end_keeps_read_end_item)
{
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface000000f1ULL);
	add(b, ep, p[1], EPOLLOUT | EPOLLET, 0xfeedface000000f2ULL);
	epoll_event out[8];
	EXPECT_EQ(wait0(b, t, "writable", ep, out), 1);
	t.step("write", b.write(p[1], "x", 1));
	t.step("close write end", b.close(p[1]));
	int n = wait0(b, t, "read end", ep, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].events, (uint32_t)(EPOLLIN | EPOLLHUP));
	EXPECT_EQ(wait0(b, t, "edge consumed", ep, out), 0);
}
