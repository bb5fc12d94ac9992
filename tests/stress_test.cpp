// tests/stress_test.cpp - random concurrent epoll_ctl/epoll_wait/close/dup on two instances; no crash, no lost event.
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <mutex>
#include <random>
#include <set>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/trace.hpp"

using uepoll::test::backend;

namespace {

constexpr int kSlots = 64;
constexpr int kThreads = 4;
constexpr auto kRunTime = std::chrono::milliseconds(1500);
constexpr uint64_t kTag = 0xfeedULL << 48;

// data = tag | generation << 16 | ep << 8 | slot: a reported event can be
// traced back to the registration that produced it.
uint64_t make_data(unsigned gen, int ep, int slot) { return kTag | (uint64_t)gen << 16 | (uint64_t)ep << 8 | (uint64_t)slot; }

// One pipe or socketpair.  The lock makes the bookkeeping match the kernel:
// every call on its fds happens under it, so expected results are exact.
struct slot {
	std::mutex mu;
	int r = -1, w = -1;
	bool sock = false;
	unsigned gen = 0;
	std::array<bool, 2> reg{};
	std::array<uint32_t, 2> events{};
	std::array<uint64_t, 2> data{};
};

struct world {
	backend &b;
	int ep[2];
	slot slots[kSlots];
	std::atomic<bool> stop{false};
	std::atomic<long> ops{0}, waits{0}, reported{0}, closes{0};
	std::mutex fail_mu;
	std::vector<std::string> failures;

	explicit world(backend &be) : b(be) {}

	void fail(const std::string &s)
	{
		std::lock_guard<std::mutex> g(fail_mu);
		if (failures.size() < 20)
			failures.push_back(s);
	}

	// Fresh fds for slot i (lock held or single-threaded).
	void open_slot(int i, bool sock)
	{
		slot &s = slots[i];
		int fds[2];
		int r = sock ? b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) : b.pipe2(fds, O_NONBLOCK);
		if (r != 0) {
			fail("creating slot fds: errno " + std::to_string(errno));
			s.r = s.w = -1;
			return;
		}
		s.r = fds[0];
		s.w = fds[1];
		s.sock = sock;
		s.gen++;
		s.reg = {};
	}

	void expect_ctl(const char *what, int ret, int want_errno)
	{
		int e = errno;
		if (want_errno == 0 && ret != 0)
			fail(std::string(what) + " failed with errno " + std::to_string(e));
		if (want_errno != 0 && (ret != -1 || e != want_errno))
			fail(std::string(what) + " returned " + std::to_string(ret) + " errno " + std::to_string(e) +
			     ", wanted errno " + std::to_string(want_errno));
	}

	void slot_op(std::mt19937 &rng, int i)
	{
		slot &s = slots[i];
		std::lock_guard<std::mutex> g(s.mu);
		if (s.r < 0)
			return;
		int k = rng() & 1;
		static const uint32_t masks[] = {EPOLLIN, EPOLLIN | EPOLLET, EPOLLIN | EPOLLRDHUP, EPOLLIN | EPOLLONESHOT,
						 EPOLLIN | EPOLLET | EPOLLONESHOT};
		int op = rng() % 100;
		char buf[64];
		if (op < 20) {
			epoll_event ev{};
			ev.events = masks[rng() % 5];
			ev.data.u64 = make_data(s.gen, k, i);
			int r = b.epoll_ctl(ep[k], EPOLL_CTL_ADD, s.r, &ev);
			expect_ctl("ADD", r, s.reg[k] ? EEXIST : 0);
			if (!s.reg[k] && r == 0) {
				s.reg[k] = true;
				s.events[k] = ev.events;
				s.data[k] = ev.data.u64;
			}
		} else if (op < 32) {
			epoll_event ev{};
			ev.events = masks[rng() % 5];
			ev.data.u64 = make_data(s.gen, k, i);
			int r = b.epoll_ctl(ep[k], EPOLL_CTL_MOD, s.r, &ev);
			expect_ctl("MOD", r, s.reg[k] ? 0 : ENOENT);
			if (s.reg[k] && r == 0) {
				s.events[k] = ev.events;
				s.data[k] = ev.data.u64;
			}
		} else if (op < 42) {
			int r = b.epoll_ctl(ep[k], EPOLL_CTL_DEL, s.r, nullptr);
			expect_ctl("DEL", r, s.reg[k] ? 0 : ENOENT);
			s.reg[k] = false;
		} else if (op < 50) {
			// Close without DEL: the items must go with the file.
			b.close(s.r);
			b.close(s.w);
			closes++;
			open_slot(i, rng() & 1);
		} else if (op < 58) {
			// A short-lived second number for the file: the items stay.
			int d;
			switch (rng() % 3) {
			case 0:
				d = b.dup(s.r);
				break;
			case 1:
				d = b.fcntl_dupfd(s.r, 100 + (int)(rng() % 200), rng() & 1);
				break;
			default:
				d = b.dup3(s.r, 400 + i, O_CLOEXEC);
				break;
			}
			if (d < 0)
				fail("dup failed: errno " + std::to_string(errno));
			else
				b.close(d);
		} else if (op < 80) {
			if (s.sock)
				b.send(s.w, "x", 1, MSG_DONTWAIT);
			else
				b.write(s.w, "x", 1);
		} else {
			size_t n = 1 + rng() % sizeof buf;
			if (s.sock)
				b.recv(s.r, buf, n, MSG_DONTWAIT);
			else
				b.read(s.r, buf, n);
		}
	}

	void wait_op(std::mt19937 &rng)
	{
		int k = rng() & 1;
		epoll_event out[16];
		int max = 1 + rng() % 16;
		int n = b.epoll_wait(ep[k], out, max, rng() % 8 == 0 ? 1 : 0);
		waits++;
		if (n < 0) {
			fail("epoll_wait failed: errno " + std::to_string(errno));
			return;
		}
		if (n > max)
			fail("epoll_wait returned more than maxevents");
		for (int j = 0; j < n && j < max; j++) {
			uint64_t d = out[j].data.u64;
			// Generations race with concurrent closes; tag, instance and slot do not.
			if ((d & 0xffff000000000000ULL) != kTag || (int)((d >> 8) & 0xff) != k || (d & 0xff) >= kSlots)
				fail("garbage data in event");
			if (!(out[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				fail("event without IN/HUP/ERR");
		}
		reported += n;
	}

	void worker(unsigned seed)
	{
		std::mt19937 rng(seed);
		while (!stop) {
			if (rng() % 4 == 0)
				wait_op(rng);
			else
				slot_op(rng, rng() % kSlots);
			ops++;
		}
	}

	// Single-threaded: every slot holds exactly one fresh byte, so every
	// registered item that is armed must be reported once, and nothing else.
	void final_check()
	{
		char buf[256];
		for (int i = 0; i < kSlots; i++) {
			slot &s = slots[i];
			if (s.r < 0)
				continue;
			while ((s.sock ? b.recv(s.r, buf, sizeof buf, MSG_DONTWAIT) : b.read(s.r, buf, sizeof buf)) > 0) {
			}
			// ONESHOT items may be disarmed: re-arm them with the same mask.
			for (int k = 0; k < 2; k++) {
				if (s.reg[k] && (s.events[k] & EPOLLONESHOT)) {
					epoll_event ev{};
					ev.events = s.events[k];
					ev.data.u64 = s.data[k];
					expect_ctl("final MOD", b.epoll_ctl(ep[k], EPOLL_CTL_MOD, s.r, &ev), 0);
				}
			}
		}
		for (int k = 0; k < 2; k++) {
			epoll_event out[2 * kSlots];
			int n = b.epoll_wait(ep[k], out, 2 * kSlots, 0);
			if (n != 0)
				fail("instance " + std::to_string(k) + " reports " + std::to_string(n) +
				     " events with every slot drained");
		}
		for (int i = 0; i < kSlots; i++) {
			slot &s = slots[i];
			if (s.r < 0)
				continue;
			ssize_t w = s.sock ? b.send(s.w, "z", 1, MSG_DONTWAIT) : b.write(s.w, "z", 1);
			if (w != 1)
				fail("final write failed");
		}
		for (int k = 0; k < 2; k++) {
			std::set<uint64_t> want;
			for (int i = 0; i < kSlots; i++)
				if (slots[i].r >= 0 && slots[i].reg[k])
					want.insert(slots[i].data[k]);
			epoll_event out[2 * kSlots];
			int n = b.epoll_wait(ep[k], out, 2 * kSlots, 0);
			std::set<uint64_t> got;
			for (int j = 0; j < n; j++) {
				if (!got.insert(out[j].data.u64).second)
					fail("item reported twice in one wait");
				if (!(out[j].events & EPOLLIN))
					fail("final event without IN");
			}
			for (uint64_t d : want)
				if (!got.count(d))
					fail("lost event: instance " + std::to_string(k) + " slot " + std::to_string(d & 0xff));
			for (uint64_t d : got)
				if (!want.count(d))
					fail("stale or unknown item reported: instance " + std::to_string(k) + " data " +
					     std::to_string(d));
		}
	}
};

void stress(backend &b)
{
	world wd(b);
	wd.ep[0] = b.epoll_create1(EPOLL_CLOEXEC);
	wd.ep[1] = b.epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(wd.ep[0], 0);
	ASSERT_GE(wd.ep[1], 0);
	for (int i = 0; i < kSlots; i++)
		wd.open_slot(i, i & 1);
	std::vector<std::thread> th;
	for (int i = 0; i < kThreads; i++)
		th.emplace_back([&wd, i] { wd.worker(0x5eed0000u + (unsigned)i); });
	std::this_thread::sleep_for(kRunTime);
	wd.stop = true;
	for (auto &x : th)
		x.join();
	wd.final_check();
	printf("stress on %s: %ld ops, %ld waits, %ld events, %ld closes\n", b.name(), wd.ops.load(), wd.waits.load(),
	       wd.reported.load(), wd.closes.load());
	EXPECT_GT(wd.ops.load(), 100);
	EXPECT_GT(wd.closes.load(), 0);
	EXPECT_GT(wd.reported.load(), 0);
	for (auto &f : wd.failures)
		ADD_FAILURE() << b.name() << ": " << f;
}

// Runs in a forked child so that a crash or hang is reported, not inherited.
void run_forked(backend &b)
{
	fflush(nullptr);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		alarm(60);
		stress(b);
		fflush(nullptr);
		_exit(::testing::Test::HasFailure() ? 1 : 0);
	}
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status)) << b.name() << " stress run died, status " << status;
	EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0) << b.name() << " stress run failed (see above)";
}

} // namespace

TEST(stress, random_ctl_wait_close_native) { run_forked(uepoll::test::native_backend()); }

#ifndef UEPOLL_TESTS_NATIVE_ONLY
TEST(stress, random_ctl_wait_close_uepoll) { run_forked(uepoll::test::uepoll_backend()); }
#endif
