// tests/tiers_test.cpp - items demoted to the cold tier (core/tiers.cpp)
// and what happens to them: the fd becoming ready (LT, ET, ONESHOT,
// EXCLUSIVE, an item of a nested instance), closed, modified or deleted
// while cold, a fork while cold.  The threshold is forced to one idle wait,
// so the first empty wait demotes every armed item; each scenario checks
// (on uepoll) that its items were cold when it mattered.  Readiness that
// must reach a cold item through its shard's poller, not through uepoll's
// I/O hooks, is made by an unhooked write (the raw system call, as another
// process would write); settle_pollers() then waits for the pollers, as
// the kernel's callback would have run inside the write.
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::del;
using uepoll::test::mod;

namespace {

// A write no hook of uepoll sees.
ssize_t unhooked_write(int fd, const char *s) { return syscall(SYS_write, fd, s, strlen(s)); }

// Readiness made as another process would make it: an unhooked write,
// then the shards' pollers are given time to see it (the kernel's callback
// would have run inside the write).
void outside_write(uepoll::test::backend &b, uepoll::test::trace &t, int fd, const char *s, const char *what = "unhooked write")
{
	t.step(what, unhooked_write(fd, s));
	b.settle_pollers();
}

// Demotes every idle armed item of ep: empty waits with the threshold at
// 1.  Two: an item a ctl just queued unconfirmed (docs/design.md, "ctl
// without a poll") is settled and armed by the first, demoted by the second.
void go_cold(uepoll::test::backend &b, uepoll::test::trace &t, int ep, long expect_cold)
{
	b.tiers(1);
	epoll_event out[8];
	t.events("idle wait", b.epoll_wait(ep, out, 8, 0), out);
	t.events("idle wait again", b.epoll_wait(ep, out, 8, 0), out);
	if (!b.is_native()) {
		EXPECT_EQ(b.cold_items(), expect_cold);
	}
}

} // namespace

DIFF_TEST(tiers, lt_cold_fd_becomes_ready)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN, 1));
	go_cold(b, t, ep, 1);
	outside_write(b, t, p[1], "abc");
	epoll_event out[4];
	for (int i = 0; i < 2; i++)
		t.events("wait " + std::to_string(i), b.epoll_wait(ep, out, 4, 0), out);
	if (!b.is_native()) {
		EXPECT_EQ(b.cold_items(), 0); // woken, hot again
	}
	char buf[8];
	t.step("read", b.read(p[0], buf, sizeof buf));
	t.events("wait after drain", b.epoll_wait(ep, out, 4, 0), out);
	// Hot again, idle again: cold again, and a hooked write reaches it.
	go_cold(b, t, ep, 1);
	t.step("write", b.write(p[1], "de", 2));
	t.events("wait after write", b.epoll_wait(ep, out, 4, 0), out);
}

DIFF_TEST(tiers, lt_cold_fd_wakes_a_blocked_waiter)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN, 2));
	go_cold(b, t, ep, 1);
	pid_t pid = fork();
	if (pid == 0) {
		// Another process: no hook of ours runs; the poller must see it.
		unhooked_write(p[1], "x");
		_exit(0);
	}
	epoll_event out[4];
	t.events("blocking wait", b.epoll_wait(ep, out, 4, 5000), out);
	int st = 0;
	waitpid(pid, &st, 0);
}

DIFF_TEST(tiers, et_cold_fd_becomes_ready)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add", add(b, ep, sv[0], EPOLLIN | EPOLLET, 3));
	go_cold(b, t, ep, 1);
	outside_write(b, t, sv[1], "abc");
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.events("wait again: no new edge", b.epoll_wait(ep, out, 4, 0), out);
	// The item was reported: it is hot; idle again, it goes cold again with
	// its edge suppressed, and a hooked write is the next edge.
	go_cold(b, t, ep, 1);
	t.step("write", b.write(sv[1], "de", 2));
	t.events("wait after write", b.epoll_wait(ep, out, 4, 0), out);
	char buf[8];
	t.step("read", b.read(sv[0], buf, sizeof buf));
	t.step("read to EAGAIN", b.read(sv[0], buf, sizeof buf));
	go_cold(b, t, ep, 1);
	outside_write(b, t, sv[1], "f", "unhooked write after EAGAIN");
	t.events("wait after the re-armed edge", b.epoll_wait(ep, out, 4, 0), out);
}

DIFF_TEST(tiers, oneshot_cold_fd_becomes_ready)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 4));
	go_cold(b, t, ep, 1);
	outside_write(b, t, p[1], "abc");
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	t.events("wait: disabled", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod", mod(b, ep, p[0], EPOLLIN | EPOLLONESHOT, 5));
	t.events("wait after mod", b.epoll_wait(ep, out, 4, 0), out);
}

DIFF_TEST(tiers, exclusive_cold_items_of_two_instances)
{
	int ep1 = b.epoll_create1(EPOLL_CLOEXEC);
	int ep2 = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add 1", add(b, ep1, p[0], EPOLLIN | EPOLLEXCLUSIVE, 6));
	t.step("add 2", add(b, ep2, p[0], EPOLLIN | EPOLLEXCLUSIVE, 7));
	go_cold(b, t, ep1, 1);
	go_cold(b, t, ep2, 2);
	outside_write(b, t, p[1], "abc");
	epoll_event out[4];
	t.events("wait 1", b.epoll_wait(ep1, out, 4, 0), out);
	t.events("wait 2", b.epoll_wait(ep2, out, 4, 0), out);
}

DIFF_TEST(tiers, cold_item_of_a_nested_instance)
{
	int outer = b.epoll_create1(EPOLL_CLOEXEC);
	int inner = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("add pipe to inner", add(b, inner, p[0], EPOLLIN, 8));
	t.step("add inner to outer", add(b, outer, inner, EPOLLIN, 9));
	// The outer wait asks the inner instance directly, which demotes the
	// pipe's item; the item for the inner instance stays hot.
	go_cold(b, t, outer, 1);
	outside_write(b, t, p[1], "abc");
	epoll_event out[4];
	t.events("outer wait", b.epoll_wait(outer, out, 4, 0), out);
	t.events("inner wait", b.epoll_wait(inner, out, 4, 0), out);
}

DIFF_TEST(tiers, closed_while_cold)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	t.step("add 0", add(b, ep, sv[0], EPOLLIN | EPOLLRDHUP, 10));
	t.step("add 1", add(b, ep, sv[1], EPOLLIN | EPOLLRDHUP, 11));
	go_cold(b, t, ep, 2);
	t.step("close 0", b.close(sv[0]));
	// The poller let go of the file before close() returned: the peer sees
	// the end at once.
	char buf[4];
	t.step("peer read", b.read(sv[1], buf, sizeof buf));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	// The number is reused by a new file: never polled for the old one.
	int p[2];
	b.pipe2(p, O_NONBLOCK);
	t.step("reused number", p[0] == sv[0] ? 1 : 0);
	outside_write(b, t, p[1], "abc");
	t.events("wait after reuse", b.epoll_wait(ep, out, 4, 0), out);
}

DIFF_TEST(tiers, mod_and_del_while_cold)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int sv[2], p[2];
	b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	b.pipe2(p, O_NONBLOCK);
	t.step("add sv", add(b, ep, sv[0], EPOLLIN, 12));
	t.step("add pipe", add(b, ep, p[0], EPOLLIN, 13));
	go_cold(b, t, ep, 2);
	epoll_event out[4];
	// MOD widens a cold item to what is ready now: reported at once.
	t.step("mod sv IN|OUT", mod(b, ep, sv[0], EPOLLIN | EPOLLOUT, 14));
	t.events("wait after mod", b.epoll_wait(ep, out, 4, 0), out);
	t.step("mod sv IN", mod(b, ep, sv[0], EPOLLIN, 15));
	// go_cold's first wait re-polls the queued sv item and re-arms it
	// (hot); its second finds it idle.
	go_cold(b, t, ep, 2);
	// MOD while cold keeps it cold; readiness then comes through its poller.
	t.step("mod pipe IN (new data)", mod(b, ep, p[0], EPOLLIN, 16));
	outside_write(b, t, p[1], "abc", "unhooked write pipe");
	t.events("wait after write", b.epoll_wait(ep, out, 4, 0), out);
	// DEL while cold: the poller forgets it.
	t.step("del sv", del(b, ep, sv[0]));
	outside_write(b, t, sv[1], "abc", "unhooked write sv");
	t.events("wait after del", b.epoll_wait(ep, out, 4, 0), out);
	t.step("add sv again", add(b, ep, sv[0], EPOLLIN, 17));
	t.events("wait after add", b.epoll_wait(ep, out, 4, 0), out);
}

DIFF_TEST(tiers, fork_while_cold)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2], q[2];
	b.pipe2(p, O_NONBLOCK);
	b.pipe2(q, O_NONBLOCK);
	t.step("add p", add(b, ep, p[0], EPOLLIN, 18));
	t.step("add q", add(b, ep, q[0], EPOLLIN, 19));
	go_cold(b, t, ep, 2);
	pid_t pid = fork();
	if (pid == 0) {
		// The child has no poller: its waits poll every item again.
		if (!b.is_native() && b.cold_items() != 0)
			_exit(100);
		unhooked_write(p[1], "abc");
		epoll_event o[4];
		int n = b.epoll_wait(ep, o, 4, 0);
		_exit(n == 1 && o[0].data.u64 == 18 ? 0 : 10 + n);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	t.step("child saw its write", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	// The parent's poller saw the child's write too.
	b.settle_pollers();
	epoll_event out[4];
	t.events("parent wait", b.epoll_wait(ep, out, 4, 0), out);
	outside_write(b, t, q[1], "d", "unhooked write q");
	t.events("parent wait after q", b.epoll_wait(ep, out, 4, 0), out);
}
