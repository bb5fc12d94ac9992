// integration/bench/preload_bench.cpp - uepoll-preload-bench: the
// operations of the one-command benchmark (run-all.sh), written with the
// plain libc calls only, so that the same binary measures the kernel's epoll
// when run as is and any libuepoll.so when run with LD_PRELOAD=LIBRARY.
// (uepoll-microbench links the engine in; this one must not, so that the
// library under test is the one given, e.g. a colleague's build or main's.)
//
// Every operation is registered for the epoll API and, where it has a
// meaning, for a plain poll(2) loop doing the same work: the poll loop passes
// every fd to poll() on each iteration and scans every revents, which is
// what a program's own poll backend (nginx's `use poll`) costs.  Names:
//   ctl_add_del/epoll              EPOLL_CTL_ADD then EPOLL_CTL_DEL of an eventfd
//   ctl_mod/epoll                  EPOLL_CTL_MOD of an added eventfd (new data)
//   wait/{epoll,poll}/R_of_W       epoll_wait(timeout 0) / poll(timeout 0) on W
//                                  watched eventfds of which R are readable
//                                  (level-triggered: reported on every call)
//   rtt/{epoll,poll}/idle:N/cpus:C a 1-byte round trip over an AF_UNIX
//                                  socketpair between two threads, each blocked
//                                  (timeout -1) on its end; the echo thread's
//                                  set also holds N idle eventfds (a server with
//                                  N idle connections), the main thread's only
//                                  its end.  C=1: both threads pinned to the
//                                  same CPU; C=2: each to its own CPU.
// Time is wall-clock per iteration (real_time in the JSON).
//
// Usage: uepoll-preload-bench [Google Benchmark flags]
//        LD_PRELOAD=libuepoll.so uepoll-preload-bench --benchmark_filter=/epoll/
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sched.h>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "uepoll-preload-bench: %s: %s\n", what, std::strerror(errno));
	std::abort();
}

void ctl(int ep, int op, int fd, uint32_t events, uint64_t data = 0)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = data;
	if (epoll_ctl(ep, op, fd, &ev) != 0)
		die("epoll_ctl");
}

// N non-blocking eventfds, the first `ready` of them readable (counter 1,
// never read); closed on destruction.  An eventfd is one fd per watched
// file, where a pipe would be two: 19,000 watched fit under 20,000.
struct eventfds {
	std::vector<int> fds;
	eventfds(int n, int ready)
	{
		fds.reserve(static_cast<size_t>(n));
		for (int i = 0; i < n; i++) {
			int fd = eventfd(i < ready ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (fd < 0)
				die("eventfd");
			fds.push_back(fd);
		}
	}
	~eventfds()
	{
		for (int fd : fds)
			close(fd);
	}
	eventfds(const eventfds &) = delete;
	eventfds &operator=(const eventfds &) = delete;
};

// ------------------------------------------------------------ epoll_ctl

void bm_ctl_add_del(benchmark::State &state)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	eventfds e(1, 0);
	for (auto _ : state) {
		ctl(ep, EPOLL_CTL_ADD, e.fds[0], EPOLLIN);
		ctl(ep, EPOLL_CTL_DEL, e.fds[0], 0);
	}
	close(ep);
}

void bm_ctl_mod(benchmark::State &state)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	eventfds e(1, 0);
	ctl(ep, EPOLL_CTL_ADD, e.fds[0], EPOLLIN);
	uint64_t i = 0;
	for (auto _ : state)
		ctl(ep, EPOLL_CTL_MOD, e.fds[0], EPOLLIN, ++i);
	close(ep);
}

// ------------------------------------------------------------ wait(0)

void bm_wait_epoll(benchmark::State &state, int ready, int watched)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	eventfds e(watched, ready);
	for (int i = 0; i < watched; i++)
		ctl(ep, EPOLL_CTL_ADD, e.fds[static_cast<size_t>(i)], EPOLLIN, static_cast<uint64_t>(i));
	std::vector<epoll_event> evs(static_cast<size_t>(std::max(ready, 1)) + 16);
	for (auto _ : state) {
		int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 0);
		if (n != ready) {
			state.SkipWithError("epoll_wait returned an unexpected number of events");
			break;
		}
		benchmark::DoNotOptimize(n);
	}
	close(ep);
}

// The poll loop: one poll() over every fd, then a scan of every revents for
// the ready ones (a poll backend cannot know where they are).
void bm_wait_poll(benchmark::State &state, int ready, int watched)
{
	eventfds e(watched, ready);
	std::vector<pollfd> pfds;
	for (int fd : e.fds)
		pfds.push_back({fd, POLLIN, 0});
	std::vector<int> got(static_cast<size_t>(watched));
	for (auto _ : state) {
		int n = poll(pfds.data(), pfds.size(), 0);
		int k = 0;
		for (const pollfd &p : pfds)
			if (p.revents)
				got[static_cast<size_t>(k++)] = p.fd;
		if (n != ready || k != ready) {
			state.SkipWithError("poll returned an unexpected number of ready fds");
			break;
		}
		benchmark::DoNotOptimize(got[0]);
	}
}

// ------------------------------------------------------------ round trip

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus()
{
	cpu_set_t set;
	CPU_ZERO(&set);
	std::vector<int> cpus;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		die("sched_getaffinity");
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus.push_back(c);
	return cpus;
}

void pin_self(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		die("sched_setaffinity");
}

// Reads until EAGAIN (one byte is in flight at a time); whether a 'q' (stop)
// or the end of the stream was read.
bool drain(int fd)
{
	char buf[64];
	bool quit = false;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return quit;
			die("read");
		}
		if (r == 0)
			return true;
		if (std::memchr(buf, 'q', static_cast<size_t>(r)))
			quit = true;
	}
}

void send_byte(int fd, char c)
{
	while (write(fd, &c, 1) != 1)
		if (errno != EINTR)
			die("write");
}

// A waiter over one socket end and `idle` idle eventfds, through epoll or a
// poll loop; wait() returns when the socket end is readable.
struct epoll_waiter {
	int ep;
	std::vector<epoll_event> evs;
	epoll_waiter(int sock, const std::vector<int> &idle) : evs(16)
	{
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0)
			die("epoll_create1");
		ctl(ep, EPOLL_CTL_ADD, sock, EPOLLIN, 0);
		for (size_t i = 0; i < idle.size(); i++)
			ctl(ep, EPOLL_CTL_ADD, idle[i], EPOLLIN, i + 1);
	}
	~epoll_waiter() { close(ep); }
	void wait()
	{
		for (;;) {
			int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("epoll_wait");
			for (int i = 0; i < n; i++)
				if (evs[static_cast<size_t>(i)].data.u64 == 0)
					return;
		}
	}
};

struct poll_waiter {
	std::vector<pollfd> pfds;
	poll_waiter(int sock, const std::vector<int> &idle)
	{
		pfds.push_back({sock, POLLIN, 0});
		for (int fd : idle)
			pfds.push_back({fd, POLLIN, 0});
	}
	void wait()
	{
		for (;;) {
			int n = poll(pfds.data(), pfds.size(), -1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("poll");
			// A poll backend walks the whole array for the ready entries.
			bool sock_ready = false;
			for (const pollfd &p : pfds)
				if (p.revents && p.fd == pfds[0].fd)
					sock_ready = true;
			if (sock_ready)
				return;
		}
	}
};

template <class Waiter> void bm_rtt(benchmark::State &state, int idle, int ncpus)
{
	std::vector<int> cpus = allowed_cpus();
	if (static_cast<int>(cpus.size()) < ncpus) {
		state.SkipWithError("not enough CPUs in the affinity mask");
		return;
	}
	cpu_set_t saved;
	if (sched_getaffinity(0, sizeof saved, &saved) != 0)
		die("sched_getaffinity");
	int main_cpu = cpus[0], echo_cpu = ncpus == 1 ? cpus[0] : cpus[1];

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair");
	eventfds idle_fds(idle, 0);
	Waiter main_w(sv[0], {});
	Waiter echo_w(sv[1], idle_fds.fds);

	std::thread echo([&] {
		pin_self(echo_cpu);
		for (;;) {
			echo_w.wait();
			if (drain(sv[1]))
				return;
			send_byte(sv[1], 'p');
		}
	});
	pin_self(main_cpu);

	for (auto _ : state) {
		send_byte(sv[0], 'p');
		main_w.wait();
		drain(sv[0]);
	}

	send_byte(sv[0], 'q');
	echo.join();
	close(sv[0]);
	close(sv[1]);
	if (sched_setaffinity(0, sizeof saved, &saved) != 0)
		die("sched_setaffinity (restore)");
}

// 19,000 watched eventfds and the benchmark's own fds: raise the soft limit
// (to the hard one, or higher when allowed).
void raise_nofile()
{
	rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlimit want{65536, 65536};
	if (rl.rlim_max < want.rlim_max && setrlimit(RLIMIT_NOFILE, &want) == 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

} // namespace

int main(int argc, char **argv)
{
	raise_nofile();

	benchmark::RegisterBenchmark("ctl_add_del/epoll", bm_ctl_add_del)->UseRealTime();
	benchmark::RegisterBenchmark("ctl_mod/epoll", bm_ctl_mod)->UseRealTime();

	const int wait_sets[][2] = {{1, 1}, {100, 100}, {10, 19000}};
	for (const auto &rw : wait_sets) {
		int r = rw[0], w = rw[1];
		// '/', not "/": GCC PR 105651 (-Wrestrict at -O3 on a one-char literal + std::string&&).
		std::string suffix = '/' + std::to_string(r) + "_of_" + std::to_string(w);
		benchmark::RegisterBenchmark(("wait/epoll" + suffix).c_str(),
					     [r, w](benchmark::State &s) { bm_wait_epoll(s, r, w); })
			->UseRealTime();
		benchmark::RegisterBenchmark(("wait/poll" + suffix).c_str(),
					     [r, w](benchmark::State &s) { bm_wait_poll(s, r, w); })
			->UseRealTime();
	}

	for (int ncpus : {1, 2})
		for (int idle : {0, 100, 1000, 10000}) {
			std::string suffix = "/idle:" + std::to_string(idle) + "/cpus:" + std::to_string(ncpus);
			benchmark::RegisterBenchmark(("rtt/epoll" + suffix).c_str(),
						     [idle, ncpus](benchmark::State &s) {
							     bm_rtt<epoll_waiter>(s, idle, ncpus);
						     })
				->UseRealTime();
			benchmark::RegisterBenchmark(("rtt/poll" + suffix).c_str(),
						     [idle, ncpus](benchmark::State &s) {
							     bm_rtt<poll_waiter>(s, idle, ncpus);
						     })
				->UseRealTime();
		}

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
