// integration/bench/idle_wakeups.cpp - uepoll-idle-wakeups: how often an
// idle process that watches 10,000 fds through uepoll wakes up.
//
// Set-up, all through shim/api.hpp (the in-process uepoll):
//   - 5000 pipes (10,000 fds), none ever readable while measuring;
//   - instance A watches all 10,000 (EPOLLIN) and is made OBSERVED with one
//     poll(A, timeout 0): from then on uepoll's helper thread polls A's fds;
//   - instance B watches the same 10,000, and a thread makes 200
//     epoll_wait(B, 0) (with tiers on, the default, they park B's fds in
//     the shards' poller threads) and then sits in epoll_wait(B, -1).
// Then the main thread sleeps SECONDS (default 5) and counts, for every
// thread of the process, the context switches (voluntary + nonvoluntary,
// from /proc/self/task/TID/status) during the sleep.  Each is one wake-up;
// the main thread's own sleep accounts for about one.
//
// Output: one line per thread, the engine's counters
// (uepoll::core::stats()), and last exactly one line
//   idle-wakeups: threads=N fds=10000 seconds=S wakeups_per_s=X
// where X is the total over all threads (the measuring thread included).
//
// Usage: uepoll-idle-wakeups [SECONDS]
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <poll.h>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "core/eventpoll.hpp"
#include "shim/api.hpp"

namespace api = uepoll::api;

namespace {

constexpr int NPIPES = 5000;
constexpr int NFDS = 2 * NPIPES;

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "uepoll-idle-wakeups: %s: %s\n", what, std::strerror(errno));
	std::exit(1);
}

void raise_nofile(rlim_t want)
{
	rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit");
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want)
		rl.rlim_max = want; // works as root
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("setrlimit(RLIMIT_NOFILE) (need 10,000 fds and a few more)");
}

struct task_info {
	std::string comm;
	unsigned long switches = 0; // voluntary + nonvoluntary
};

// Every thread of this process: TID -> name and context switches so far.
std::map<int, task_info> snapshot()
{
	std::map<int, task_info> out;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		die("opendir /proc/self/task");
	while (dirent *e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		int tid = std::atoi(e->d_name);
		std::string dir = std::string("/proc/self/task/") + e->d_name;
		task_info t;
		std::ifstream comm(dir + "/comm");
		std::getline(comm, t.comm);
		std::ifstream status(dir + "/status");
		std::string line;
		bool seen = false;
		while (std::getline(status, line)) {
			unsigned long v;
			if (std::sscanf(line.c_str(), "voluntary_ctxt_switches: %lu", &v) == 1 ||
			    std::sscanf(line.c_str(), "nonvoluntary_ctxt_switches: %lu", &v) == 1) {
				t.switches += v;
				seen = true;
			}
		}
		if (seen)
			out[tid] = t;
	}
	closedir(d);
	return out;
}

void add_all(int ep, const std::vector<int> &fds)
{
	for (int fd : fds) {
		epoll_event ev{};
		ev.events = EPOLLIN; // a pipe's write end never has IN: idle too
		ev.data.fd = fd;
		if (api::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			die("epoll_ctl(ADD)");
	}
}

} // namespace

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
	if (seconds <= 0) {
		std::fprintf(stderr, "usage: uepoll-idle-wakeups [SECONDS]\n");
		return 2;
	}
	raise_nofile(NFDS + 256);

	std::vector<int> fds, wr;
	for (int i = 0; i < NPIPES; i++) {
		int p[2];
		if (api::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
			die("pipe2");
		fds.push_back(p[0]);
		fds.push_back(p[1]);
		wr.push_back(p[1]);
	}

	// A: observed, so the helper thread polls its 10,000 fds.
	int ep_a = api::epoll_create1(EPOLL_CLOEXEC);
	if (ep_a < 0)
		die("epoll_create1");
	add_all(ep_a, fds);
	pollfd pa{ep_a, POLLIN, 0};
	if (api::poll(&pa, 1, 0) != 0)
		die("poll(A) should find nothing ready");

	// B: a thread blocked in epoll_wait(-1).
	int ep_b = api::epoll_create1(EPOLL_CLOEXEC);
	if (ep_b < 0)
		die("epoll_create1");
	add_all(ep_b, fds);
	std::atomic<int> waiter_tid{0};
	std::atomic<bool> stop{false};
	std::thread waiter([&] {
		waiter_tid.store(gettid());
		epoll_event evs[16];
		// Waits that find everything idle: with tiers on, they park B's
		// 10,000 fds in the shards' pollers (core/tiers.cpp), so that
		// the blocked wait below polls none of them and the pollers hold
		// them; with UEPOLL_TIERS=0 they change nothing.
		for (int i = 0; i < 200; i++)
			if (api::epoll_wait(ep_b, evs, 16, 0) != 0)
				die("epoll_wait(B, 0) should find nothing ready");
		while (!stop.load()) {
			int n = api::epoll_wait(ep_b, evs, 16, -1);
			if (n < 0 && errno != EINTR)
				die("epoll_wait(B)");
		}
	});

	// Let everyone settle: the helper builds its poll set, the waiter blocks.
	std::this_thread::sleep_for(std::chrono::milliseconds(500));

	uepoll::core::core_stats s0 = uepoll::core::stats();
	std::map<int, task_info> before = snapshot();
	auto t0 = std::chrono::steady_clock::now();
	std::this_thread::sleep_for(std::chrono::seconds(seconds));
	auto t1 = std::chrono::steady_clock::now();
	std::map<int, task_info> after = snapshot();
	uepoll::core::core_stats s1 = uepoll::core::stats();
	double elapsed = std::chrono::duration<double>(t1 - t0).count();

	int main_tid = gettid();
	unsigned long total = 0, total_others = 0;
	std::printf("%-8s %-16s %-8s %10s %12s\n", "tid", "comm", "role", "switches", "wakeups/s");
	for (const auto &[tid, a] : after) {
		auto b = before.find(tid);
		unsigned long d = a.switches - (b == before.end() ? 0 : b->second.switches);
		const char *role = tid == main_tid		  ? "main"
				   : tid == waiter_tid.load()	  ? "waiter"
				   : a.comm == "uepoll-poller" ? "poller"
							       : "helper";
		std::printf("%-8d %-16s %-8s %10lu %12.2f\n", tid, a.comm.c_str(), role, d, d / elapsed);
		total += d;
		if (tid != main_tid)
			total_others += d;
	}
	std::printf("engine: instances=%lu items=%lu helper_wakeups=%lu (+%lu) helper_polled_fds=%lu (+%lu) "
		    "waits=%lu (+%lu)\n",
		    s1.instances, s1.items, s1.helper_wakeups, s1.helper_wakeups - s0.helper_wakeups,
		    s1.helper_polls, s1.helper_polls - s0.helper_polls, s1.waits, s1.waits - s0.waits);
	std::printf("tiers: cold=%lu pollers=%lu poller_wakeups=%lu (+%lu) poller_polled_fds=%lu (+%lu)\n", s1.cold,
		    s1.pollers, s1.poller_wakeups, s1.poller_wakeups - s0.poller_wakeups, s1.poller_polls,
		    s1.poller_polls - s0.poller_polls);
	std::printf("without the measuring thread: %.2f wakeups/s\n", total_others / elapsed);

	// Stop the waiter: one byte makes B (and A) ready.
	stop.store(true);
	if (api::write(wr[0], "x", 1) != 1)
		die("write");
	waiter.join();
	for (int fd : fds)
		api::close(fd);
	api::close(ep_a);
	api::close(ep_b);

	std::printf("idle-wakeups: threads=%zu fds=%d seconds=%d wakeups_per_s=%.2f\n", after.size(), NFDS, seconds,
		    total / elapsed);
	return 0;
}
