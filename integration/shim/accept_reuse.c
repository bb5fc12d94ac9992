/* accept_reuse.c - a watched connection is closed and accept4() hands its
 * fd number to the next connection, which is then ADDed again.
 *
 * Why: this is the life of every server's fd numbers.  The kernel removes
 * an item when its file is released, so the ADD of the reused number is a
 * new item (0, never EEXIST), and nothing the old connection had pending
 * (it was ready and reported, not read) is ever reported for the new one.
 * A shim that keys its items by fd number alone, or forgets a ready item
 * on close, gets this wrong.  Done with a level-triggered item and with an
 * edge-triggered one, the two ways servers watch connections.
 *
 * The fd numbers themselves are not printed (the shim may hold fds of its
 * own); only whether accept4 reused the closed number, which POSIX's
 * lowest-free-number rule decides.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "shimtest.h"

static struct sockaddr_in addr;

static int connect_client(void)
{
	int c = (int)ST_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ST_OK(connect(c, (struct sockaddr *)&addr, sizeof addr));
	return c;
}

static int accept_one(int l)
{
	int a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	st_step("accept4 succeeded", a >= 0 ? 1 : -1);
	if (a < 0)
		exit(1);
	return a;
}

static void scenario(int l, uint32_t mode, const char *name)
{
	st_note("-- %s connections", name);
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add listener", st_ctl(ep, EPOLL_CTL_ADD, l, EPOLLIN, 0x1));

	int c1 = connect_client();
	st_wait("wait after connect 1", ep, ST_SOON);
	int a = accept_one(l);
	st_wait("wait, accept queue empty", ep, 0);
	st_step("add connection 1", st_ctl(ep, EPOLL_CTL_ADD, a, mode | EPOLLIN | EPOLLRDHUP, 0xa1));
	st_step("client 1 sends", write(c1, "old", 3));
	st_wait("wait, connection 1 readable", ep, ST_SOON);
	/* Connection 1 is closed with its data unread: its item is ready. */
	int c2 = connect_client();
	st_wait("wait after connect 2", ep, ST_SOON);
	st_step("close connection 1 unread", close(a));
	int b = accept_one(l);
	st_step("accept4 reused the closed number", b == a);
	st_wait("wait, connection 1's event is gone", ep, 0);
	st_step("mod before add, the old item is gone", st_ctl(ep, EPOLL_CTL_MOD, b, mode | EPOLLIN, 0xb0));
	st_step("add connection 2 on the same number", st_ctl(ep, EPOLL_CTL_ADD, b, mode | EPOLLIN | EPOLLRDHUP, 0xb1));
	st_step("add it twice", st_ctl(ep, EPOLL_CTL_ADD, b, mode | EPOLLIN, 0xb2));
	st_wait("wait, nothing sent on connection 2", ep, 0);
	st_step("client 2 sends", write(c2, "new!", 4));
	st_wait("wait, connection 2 readable", ep, ST_SOON);
	char buf[16];
	st_step("read connection 2", read(b, buf, sizeof buf));
	st_note("read: %.4s", buf);
	st_step("read again", read(b, buf, sizeof buf));
	st_wait("wait after draining", ep, 0);
	st_step("client 1 closes", close(c1));
	st_step("client 2 closes", close(c2));
	st_wait("wait after client 2 closed", ep, ST_SOON);
	st_step("mod connection 2", st_ctl(ep, EPOLL_CTL_MOD, b, mode | EPOLLIN, 0xb3));
	st_step("del connection 2", st_ctl(ep, EPOLL_CTL_DEL, b, 0, 0));
	st_step("del it again", st_ctl(ep, EPOLL_CTL_DEL, b, 0, 0));
	st_step("close connection 2", close(b));
	st_wait("wait at the end", ep, 0);
	close(ep);
}

/* Many rounds of accept, ADD, close with data pending: the number comes
 * back each time and the ADD must always succeed. */
static void many_rounds(int l)
{
	st_note("-- 100 rounds");
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int add_fail = 0, reused = 0, stale = 0, missed = 0, prev = -1;
	for (int i = 0; i < 100; i++) {
		int c = connect_client();
		int a = (int)ST_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (prev >= 0 && a == prev)
			reused++;
		prev = a;
		if (st_ctl(ep, EPOLL_CTL_ADD, a, EPOLLIN | (i % 2 ? EPOLLET : 0), (uint64_t)i) != 0)
			add_fail++;
		if (write(c, "x", 1) != 1)
			ST_DIE("write");
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, ST_SOON);
		if (n != 1 || evs[0].data.u64 != (uint64_t)i) {
			for (int k = 0; k < n; k++)
				if (evs[k].data.u64 != (uint64_t)i)
					stale++;
			if (n < 1)
				missed++;
		}
		close(a); /* unread */
		close(c);
	}
	st_step("failed ADDs", add_fail);
	st_step("rounds that reused the previous number", reused);
	st_step("events of a closed connection", stale);
	st_step("rounds with no event", missed);
	st_wait("wait at the end", ep, 0);
	close(ep);
}

int main(void)
{
	socklen_t len = sizeof addr;
	int l = (int)ST_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ST_OK(bind(l, (struct sockaddr *)&addr, sizeof addr));
	ST_OK(listen(l, 16));
	ST_OK(getsockname(l, (struct sockaddr *)&addr, &len));
	scenario(l, 0, "level-triggered");
	scenario(l, EPOLLET, "edge-triggered");
	many_rounds(l);
	close(l);
	return 0;
}
