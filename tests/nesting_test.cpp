// tests/nesting_test.cpp - epoll inside epoll: readiness, ELOOP (cycles, depth) and reverse_path_check limits.
#include <algorithm>
#include <fcntl.h>
#include <string>
#include <thread>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

namespace {

// The path-limit scenarios need ~1000 epoll fds (and uepoll may hold a few
// real fds per instance): a 1024 soft limit in CI is not enough.
void raise_nofile(rlim_t want)
{
	rlimit rl{};
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ASSERT_GE(rl.rlim_cur, want) << "hard RLIMIT_NOFILE too low for this scenario";
}

int ep_new(backend &b)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	EXPECT_GE(ep, 0);
	return ep;
}

// epoll_ctl ADD of fd into ep (ep watches fd).
int add(backend &b, int ep, int fd, uint32_t events = EPOLLIN, uint64_t data = 0xfeedface00000001ULL)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = data;
	return b.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int del(backend &b, int ep, int fd) { return b.epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr); }

// errno name or "ok", for compact lines and checks.
std::string res(int r)
{
	if (r == 0)
		return "ok";
	const char *n = strerrorname_np(errno);
	return n ? n : std::to_string(errno);
}

void close_all(backend &b, const std::vector<int> &fds)
{
	for (int fd : fds)
		b.close(fd);
}

} // namespace

DIFF_TEST(nesting, inner_ready_reports_inner_epfd_with_in)
{
	int inner = ep_new(b), outer = ep_new(b);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	t.step("add pipe to inner", add(b, inner, p[0], EPOLLIN, 0xfeedface00000011ULL));
	// epoll fds never report OUT, PRI or RDHUP even when asked.
	t.step("add inner to outer", add(b, outer, inner, EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP, 0xfeedface00000021ULL));
	epoll_event out[4];
	int n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer before write", n, out);
	EXPECT_EQ(n, 0);
	t.step("write", b.write(p[1], "x", 1));
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer after write", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].events, (uint32_t)EPOLLIN);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000021ULL);
	n = b.epoll_wait(inner, out, 4, 0);
	t.events("inner", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000011ULL);
	// Level-triggered pipe still readable: outer still sees the inner epfd.
	t.events("outer again", b.epoll_wait(outer, out, 4, 0), out);
	char c;
	t.step("drain", b.read(p[0], &c, 1));
	n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer after drain", n, out);
	EXPECT_EQ(n, 0);
}

DIFF_TEST(nesting, rdnorm_requested_on_epfd_comes_back)
{
	int inner = ep_new(b), outer = ep_new(b);
	int efd = b.eventfd(1, EFD_NONBLOCK);
	add(b, inner, efd);
	t.step("add inner IN|RDNORM", add(b, outer, inner, EPOLLIN | EPOLLRDNORM, 0xfeedface00000031ULL));
	epoll_event out[4];
	int n = b.epoll_wait(outer, out, 4, 0);
	t.events("outer", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].events, (uint32_t)(EPOLLIN | EPOLLRDNORM));
}

DIFF_TEST(nesting, event_propagates_through_five_level_chain)
{
	std::vector<int> e;
	for (int i = 0; i < 5; i++)
		e.push_back(ep_new(b));
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	t.step("pipe into bottom", add(b, e[4], p[0], EPOLLIN, 0xfeedface00000041ULL));
	for (int i = 3; i >= 0; i--)
		t.step("link " + std::to_string(i), add(b, e[i], e[i + 1], EPOLLIN, 0xfeedface00000100ULL + i));
	epoll_event out[4];
	t.events("top before", b.epoll_wait(e[0], out, 4, 0), out);
	t.step("write", b.write(p[1], "x", 1));
	int n = uepoll::test::wait_some(b, e[0], out, 4);
	t.events("top after write", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000100ULL);
	for (int i = 1; i < 4; i++)
		t.events("level " + std::to_string(i), b.epoll_wait(e[i], out, 4, 0), out);
	n = b.epoll_wait(e[4], out, 4, 0);
	t.events("bottom", n, out);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(out[0].data.u64, 0xfeedface00000041ULL);
}

DIFF_TEST(nesting, outer_blocked_wait_wakes_on_inner_item)
{
	int inner = ep_new(b), outer = ep_new(b);
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	add(b, inner, sv[0], EPOLLIN, 0xfeedface00000051ULL);
	add(b, outer, inner, EPOLLIN, 0xfeedface00000052ULL);
	std::thread w([&] {
		usleep(50 * 1000);
		b.send(sv[1], "x", 1, 0);
	});
	epoll_event out[4];
	int n = uepoll::test::wait_some(b, outer, out, 4);
	w.join();
	t.events("outer", n, out);
	EXPECT_EQ(n, 1);
}

DIFF_TEST(nesting, self_add_is_einval)
{
	int a = ep_new(b);
	int d = b.dup(a);
	int r = add(b, a, a);
	t.step("a in a", r);
	EXPECT_EQ(res(r), "EINVAL");
	// The same open file under another number is still the same file.
	r = add(b, a, d);
	t.step("dup(a) in a", r);
	EXPECT_EQ(res(r), "EINVAL");
	r = add(b, d, a);
	t.step("a in dup(a)", r);
	EXPECT_EQ(res(r), "EINVAL");
	t.step("del a from a", del(b, a, a));
}

DIFF_TEST(nesting, direct_cycle_is_eloop)
{
	int a = ep_new(b), x = ep_new(b);
	int r = add(b, x, a);
	t.step("a in x", r);
	EXPECT_EQ(r, 0);
	r = add(b, a, x);
	t.step("x in a", r);
	EXPECT_EQ(res(r), "ELOOP");
	t.step("del x from a", del(b, a, x));
	// Going through a dup of a is the same cycle.
	int d = b.dup(a);
	r = add(b, d, x);
	t.step("x in dup(a)", r);
	EXPECT_EQ(res(r), "ELOOP");
}

DIFF_TEST(nesting, longer_cycles_are_eloop)
{
	for (int len = 3; len <= 5; len++) {
		std::vector<int> e;
		for (int i = 0; i < len; i++)
			e.push_back(ep_new(b));
		for (int i = 0; i + 1 < len; i++)
			t.step("cycle " + std::to_string(len) + " link " + std::to_string(i), add(b, e[i + 1], e[i]));
		int r = add(b, e[0], e[len - 1]);
		t.step("cycle " + std::to_string(len) + " closing link", r);
		EXPECT_EQ(res(r), "ELOOP") << "cycle of " << len;
		close_all(b, e);
	}
}

DIFF_TEST(nesting, exclusive_on_epoll_target_is_einval)
{
	int a = ep_new(b), x = ep_new(b);
	int r = add(b, a, x, EPOLLIN | EPOLLEXCLUSIVE);
	t.step("exclusive epoll target", r);
	EXPECT_EQ(res(r), "EINVAL");
	t.step("del", del(b, a, x));
	// EXCLUSIVE is checked before the loop check: a would-be cycle still says EINVAL.
	t.step("a in x", add(b, x, a));
	r = add(b, a, x, EPOLLIN | EPOLLEXCLUSIVE);
	t.step("exclusive closing a cycle", r);
	EXPECT_EQ(res(r), "EINVAL");
	r = add(b, a, x, EPOLLIN);
	t.step("plain closing a cycle", r);
	EXPECT_EQ(res(r), "ELOOP");
}

// Builds e[0] <- e[1] <- ... : e[i+1] watches e[i].  Five fds (four links)
// is the deepest chain; the fifth link fails.
DIFF_TEST(nesting, depth_chain_built_bottom_up)
{
	std::vector<int> e;
	for (int i = 0; i < 7; i++)
		e.push_back(ep_new(b));
	for (int i = 0; i < 6; i++) {
		int r = add(b, e[i + 1], e[i]);
		t.step("link " + std::to_string(i + 1), r);
		if (i < 4) {
			EXPECT_EQ(r, 0) << "link " << i + 1;
		} else if (i == 4) {
			EXPECT_EQ(res(r), "ELOOP");
		} else {
			EXPECT_EQ(r, 0) << "a new chain of two once the fifth link failed";
		}
	}
	t.step("del failed link", del(b, e[5], e[4]));
}

DIFF_TEST(nesting, depth_chain_built_top_down)
{
	std::vector<int> e;
	for (int i = 0; i < 7; i++)
		e.push_back(ep_new(b));
	// Counting up from epfd matters here: the target is always a fresh
	// epoll (depth 0 below it).
	for (int i = 0; i < 6; i++) {
		int r = add(b, e[i], e[i + 1]);
		t.step("link " + std::to_string(i + 1), r);
		if (i < 4) {
			EXPECT_EQ(r, 0) << "link " << i + 1;
		} else if (i == 4) {
			EXPECT_EQ(res(r), "ELOOP");
		}
	}
}

// A chain of a fds (top first) gets a chain of c fds hung below its bottom:
// the ADD works iff a + c <= 5.
DIFF_TEST(nesting, depth_joining_two_chains)
{
	for (int a = 1; a <= 5; a++) {
		for (int c = 1; c <= 5; c++) {
			std::vector<int> up, down;
			for (int i = 0; i < a; i++)
				up.push_back(ep_new(b));
			for (int i = 0; i < c; i++)
				down.push_back(ep_new(b));
			for (int i = 0; i + 1 < a; i++)
				ASSERT_EQ(add(b, up[i], up[i + 1]), 0);
			for (int i = 0; i + 1 < c; i++)
				ASSERT_EQ(add(b, down[i], down[i + 1]), 0);
			int r = add(b, up[a - 1], down[0]);
			t.step("join " + std::to_string(a) + "+" + std::to_string(c), r);
			EXPECT_EQ(res(r), a + c <= 5 ? "ok" : "ELOOP") << a << " above " << c;
			close_all(b, up);
			close_all(b, down);
		}
	}
}

// T watches L and R; L watches B; R watches M; M watches B: the longest
// path T-R-M-B is 4 fds, so one more below B is fine and two is not.
DIFF_TEST(nesting, depth_uses_longest_path_in_a_diamond)
{
	int T = ep_new(b), L = ep_new(b), R = ep_new(b), M = ep_new(b), B = ep_new(b), C = ep_new(b), D = ep_new(b);
	t.step("L in T", add(b, T, L));
	t.step("R in T", add(b, T, R));
	t.step("B in L", add(b, L, B));
	t.step("M in R", add(b, R, M));
	t.step("B in M", add(b, M, B));
	int r = add(b, B, C);
	t.step("C in B", r);
	EXPECT_EQ(r, 0);
	r = add(b, C, D);
	t.step("D in C", r);
	EXPECT_EQ(res(r), "ELOOP");
	// The short side alone would have allowed it: the longest path up counts.
	t.step("del R from T", del(b, T, R));
	r = add(b, C, D);
	t.step("D in C after cutting the long path", r);
	EXPECT_EQ(r, 0);
}

// X is watched directly by P (depth 1 up) and by a chain Q1<-Q2<-Q3 (depth 3 up).
DIFF_TEST(nesting, depth_counts_the_deepest_watcher_above)
{
	int X = ep_new(b), P = ep_new(b), Q1 = ep_new(b), Q2 = ep_new(b), Q3 = ep_new(b), Y = ep_new(b), Z = ep_new(b);
	t.step("X in P", add(b, P, X));
	t.step("X in Q1", add(b, Q1, X));
	t.step("Q1 in Q2", add(b, Q2, Q1));
	t.step("Q2 in Q3", add(b, Q3, Q2));
	int r = add(b, X, Y);
	t.step("Y in X", r);
	EXPECT_EQ(r, 0);
	r = add(b, Y, Z);
	t.step("Z in Y", r);
	EXPECT_EQ(res(r), "ELOOP");
	// A full chain of five: nothing above the top either.
	int W = ep_new(b);
	r = add(b, W, Q3);
	t.step("Q3 in W", r);
	EXPECT_EQ(res(r), "ELOOP");
}

DIFF_TEST(nesting, failed_loop_add_leaves_nothing)
{
	int a = ep_new(b), x = ep_new(b);
	int efd = b.eventfd(1, EFD_NONBLOCK);
	add(b, x, efd);
	add(b, x, a, EPOLLIN, 0xfeedface00000061ULL);
	t.step("cycle", add(b, a, x, EPOLLIN, 0xfeedface00000062ULL));
	epoll_event out[4];
	int n = b.epoll_wait(a, out, 4, 0);
	t.events("a reports nothing", n, out);
	EXPECT_EQ(n, 0);
	int r = del(b, a, x);
	t.step("del from a", r);
	EXPECT_EQ(res(r), "ENOENT");
}

// One pipe watched by n epolls A_i, each of them inside one chain of `depth`
// epolls.  Paths pipe->A_i->...->top end `depth` levels up; limits per depth
// are 500/100/50/10.  pipe_first: pipe into A_i, then A_i into the chain
// (the second ADD fails); otherwise the other way round.
static void fanin(backend &b, trace &t, int depth, int n, bool pipe_first)
{
	raise_nofile(2048);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	std::vector<int> chain;
	for (int i = 0; i < depth; i++)
		chain.push_back(ep_new(b));
	for (int i = 0; i + 1 < depth; i++)
		ASSERT_EQ(add(b, chain[i + 1], chain[i]), 0);
	std::string tag = "depth " + std::to_string(depth) + (pipe_first ? " pipe-first" : " chain-first");
	std::vector<int> A;
	int failed_at = 0;
	for (int i = 1; i <= n; i++) {
		int a = ep_new(b);
		A.push_back(a);
		int r1, r2;
		if (pipe_first) {
			r1 = add(b, a, p[0], EPOLLIN, 0xfeedface00001000ULL + i);
			r2 = add(b, chain[0], a, EPOLLIN, 0xfeedface00002000ULL + i);
		} else {
			r2 = add(b, chain[0], a, EPOLLIN, 0xfeedface00002000ULL + i);
			r1 = add(b, a, p[0], EPOLLIN, 0xfeedface00001000ULL + i);
		}
		if (r1 != 0 || r2 != 0) {
			if (failed_at == 0)
				failed_at = i;
			t.step(tag + " A#" + std::to_string(i) + " pipe in A", r1);
			t.step(tag + " A#" + std::to_string(i) + " A in chain", r2);
		}
	}
	t.step(tag + " first failure at", failed_at);
	static const int limit[] = {0, 500, 100, 50, 10};
	int want = n > limit[depth] ? limit[depth] + 1 : 0;
	EXPECT_EQ(failed_at, want) << tag;
	if (failed_at) {
		int a = A[failed_at - 1];
		// The failing ADD is undone: nothing to delete.
		if (pipe_first)
			t.step(tag + " del failed A", del(b, chain[0], a));
		else
			t.step(tag + " del failed pipe", del(b, a, p[0]));
		EXPECT_EQ(errno, ENOENT);
	}
	// What was accepted still works end to end.
	t.step(tag + " write", b.write(p[1], "x", 1));
	// At depth 1 the top watches every accepted A directly.
	std::vector<epoll_event> out(n + 1);
	int top = chain[depth - 1];
	int nn = b.epoll_wait(top, out.data(), n + 1, 0);
	t.events(tag + " top", nn, out.data());
	EXPECT_EQ(nn, depth == 1 ? std::min(n, limit[1]) : 1);
	close_all(b, A);
	close_all(b, chain);
	b.close(p[0]);
	b.close(p[1]);
}

DIFF_TEST(nesting, path_limit_depth1_is_500)
{
	fanin(b, t, 1, 500, true);
	fanin(b, t, 1, 501, true);
	fanin(b, t, 1, 501, false);
}

DIFF_TEST(nesting, path_limit_depth2_is_100)
{
	fanin(b, t, 2, 100, true);
	fanin(b, t, 2, 101, true);
	fanin(b, t, 2, 101, false);
}

DIFF_TEST(nesting, path_limit_depth3_is_50)
{
	fanin(b, t, 3, 50, true);
	fanin(b, t, 3, 51, true);
	fanin(b, t, 3, 51, false);
}

DIFF_TEST(nesting, path_limit_depth4_is_10)
{
	fanin(b, t, 4, 10, true);
	fanin(b, t, 4, 11, true);
	fanin(b, t, 4, 11, false);
}

DIFF_TEST(nesting, direct_watchers_are_unlimited)
{
	raise_nofile(2048);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	std::vector<int> A;
	int bad = 0;
	for (int i = 0; i < 1100; i++) {
		int a = ep_new(b);
		A.push_back(a);
		if (add(b, a, p[0], EPOLLIN, 0xfeedface00003000ULL + i) != 0)
			bad++;
	}
	t.step("failures among 1100 direct watchers", bad);
	EXPECT_EQ(bad, 0);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	int n = b.epoll_wait(A[1099], out, 4, 0);
	t.events("last watcher", n, out);
	EXPECT_EQ(n, 1);
}

// Eleven A's (each watching the pipe) inside each of ten B's: 110 paths at
// depth 1 are fine; hanging the B's under T turns them into depth-2 paths
// eleven at a time, and the ADD that crosses 100 fails.
DIFF_TEST(nesting, path_limit_hit_by_the_add_that_multiplies_paths)
{
	raise_nofile(1024);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	int T = ep_new(b);
	std::vector<int> A, B;
	for (int i = 0; i < 11; i++) {
		A.push_back(ep_new(b));
		ASSERT_EQ(add(b, A[i], p[0]), 0);
	}
	int bad = 0;
	for (int j = 0; j < 10; j++) {
		B.push_back(ep_new(b));
		for (int i = 0; i < 11; i++)
			bad += add(b, B[j], A[i]) != 0;
	}
	t.step("depth-1 failures", bad);
	EXPECT_EQ(bad, 0);
	for (int j = 0; j < 10; j++) {
		int r = add(b, T, B[j], EPOLLIN, 0xfeedface00004000ULL + j);
		// 'B', not "B": GCC 12 at -O3 warns falsely (-Wrestrict, GCC PR
		// 105651) on a one-char literal + std::string&&.
		t.step('B' + std::to_string(j) + " in T", r);
		EXPECT_EQ(res(r), j < 9 ? "ok" : "EINVAL") << j;
	}
}

// An empty epoll may be reached by any number of paths; the limit is checked
// when a real file lands below it.
DIFF_TEST(nesting, path_limit_checked_when_file_added_below)
{
	raise_nofile(1024);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	int T = ep_new(b), X = ep_new(b);
	int bad = 0;
	for (int i = 0; i < 101; i++) {
		int a = ep_new(b);
		bad += add(b, a, X) != 0;
		bad += add(b, T, a) != 0;
	}
	t.step("empty X under 101 A's under T", bad);
	EXPECT_EQ(bad, 0);
	int r = add(b, X, p[0]);
	t.step("pipe in X", r);
	EXPECT_EQ(res(r), "EINVAL");
	int efd = b.eventfd(0, EFD_NONBLOCK);
	r = add(b, X, efd);
	t.step("eventfd in X", r);
	EXPECT_EQ(res(r), "EINVAL");
	t.step("del pipe from X", del(b, X, p[0]));
}

// 101 A's each watching the pipe, inside B: 101 depth-1 paths.  Putting B
// under T makes all of them depth-2 at once.
DIFF_TEST(nesting, path_limit_hit_by_adding_the_top)
{
	raise_nofile(1024);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	int T = ep_new(b), B = ep_new(b);
	int bad = 0;
	for (int i = 0; i < 101; i++) {
		int a = ep_new(b);
		bad += add(b, a, p[0]) != 0;
		bad += add(b, B, a) != 0;
	}
	t.step("101 A in B", bad);
	EXPECT_EQ(bad, 0);
	int r = add(b, T, B);
	t.step("B in T", r);
	EXPECT_EQ(res(r), "EINVAL");
	epoll_event out[4];
	t.step("write", b.write(p[1], "x", 1));
	int n = b.epoll_wait(T, out, 4, 0);
	t.events("T has nothing", n, out);
	EXPECT_EQ(n, 0);
	n = b.epoll_wait(B, out, 4, 0);
	t.step("B has the A's", n);
	EXPECT_EQ(n, 4);
}

// ep_poll_safewake() wakes a watching instance with EPOLLIN alone: an
// item on an epoll fd that asks only RDNORM|WRNORM is not woken by it.
DIFF_TEST(nesting, nested_wakeup_key_is_epollin_only)
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

// An item on an epoll fd that asks RDNORM but not IN is never woken
// (ep_poll_safewake()'s key is EPOLLIN), so a wait on its instance does
// not look into the watched one: a stale item there (queued, then made
// not ready by a MOD, which leaves it queued) keeps its place.  Asking the
// watched instance on that item's behalf ran __ep_eventpoll_poll(), which
// drops the stale item; a later MOD then queued it behind the others.
// (Fuzzer: seed 2956630757 program 13.)
DIFF_TEST(nesting, unwoken_rdnorm_item_leaves_the_watched_ready_list_alone)
{
	int inner = b.epoll_create1(EPOLL_CLOEXEC);
	int outer = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	int e = b.eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	t.step("outer watches inner for RDNORM|WRNORM", add(b, outer, inner, EPOLLRDNORM | EPOLLWRNORM, 0xe01));
	t.step("write the pipe", b.write(p[1], "x", 1));
	t.step("inner watches the read end", add(b, inner, p[0], EPOLLIN, 0xe02));
	epoll_event ev{};
	ev.events = EPOLLPRI;
	ev.data.u64 = 0xe03;
	t.step("MOD the read end to PRI (queued, not ready)", b.epoll_ctl(inner, EPOLL_CTL_MOD, p[0], &ev));
	t.step("inner watches a ready eventfd", add(b, inner, e, EPOLLIN, 0xe04));
	epoll_event out[4];
	t.events("outer", b.epoll_wait(outer, out, 4, 0), out);
	ev.events = EPOLLIN;
	ev.data.u64 = 0xe05;
	t.step("MOD the read end back to IN", b.epoll_ctl(inner, EPOLL_CTL_MOD, p[0], &ev));
	t.events("inner, one event", b.epoll_wait(inner, out, 1, 0), out);
	EXPECT_TRUE(t.contains("outer = 0"));
	EXPECT_TRUE(t.contains("inner, one event = 1 {IN data=e05}"));
}

// A chain as deep as the loop check allows is polled to its leaf: the
// ADD of a four-deep chain (three instances over one over a ready
// eventfd) into a fifth instance finds it ready.  (Fuzzer: seed 20261123
// program 1471.  This test does not reach the old depth cut in this
// process; the fuzzer's replay of the program,
// integration/fuzz/replays/deep-chain-polled-to-leaf-p1471.rep, does.)
DIFF_TEST(nesting, deepest_allowed_chain_is_polled_to_its_leaf)
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

// The nested wake-up runs inside the file's walk (ep_poll_safewake() at
// the end of ep_poll_callback()): the newest item, of a nested instance,
// puts that instance on its parent's ready list before the parent's own,
// older item for the same file.  (Fuzzer: seed 20261123 program 3594.)
DIFF_TEST(nesting, nested_wakeup_runs_inside_the_walk)
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

// A send on an AF_UNIX datagram socket whose peer is gone fails with
// ECONNREFUSED after allocating its skb: freeing it is an OUT wake-up of
// the sender, which reaches an instance watching the sender's instance
// (an edge there) even when the sender's own item is queued already.
// (Fuzzer: seed 2 program 3914.)
DIFF_TEST(nesting, dgram_send_to_a_dead_peer_wakes_outer_instances)
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
