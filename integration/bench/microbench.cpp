// integration/bench/microbench.cpp - uepoll-microbench: each epoll
// operation timed on the kernel's epoll ("native", the libc functions) and
// on uepoll ("uepoll", the in-process entry points of shim/api.hpp), in the
// same run.  Every benchmark is registered twice, as BM_x/native and
// BM_x/uepoll; integration/bench/ratios.py turns the JSON output into a
// table of ratios.  For uepoll every call that creates or does I/O on an fd
// goes through uepoll::api too, so that the engine sees it (fd table,
// edge-triggered re-arming, wake-ups of a waiter).
//
// What each measures (one iteration):
//   BM_ctl_add_del         EPOLL_CTL_ADD then EPOLL_CTL_DEL of a pipe's read end
//   BM_ctl_mod             EPOLL_CTL_MOD of an added pipe read end
//   BM_ctl_add_del_socketpair  ADD then DEL of one end of an AF_UNIX socketpair
//   BM_ctl_add_del_eventfd     ADD then DEL of an eventfd
//   BM_ctl_mod_eventfd     EPOLL_CTL_MOD of an added eventfd (counter non-zero)
//   BM_ctl_mod_roundtrip   cross-thread: the main thread re-arms an EPOLLET
//                          eventfd item (counter non-zero) with MOD, a second
//                          thread's epoll_wait(-1) returns it and hands back
//                          through a shared flag (std::atomic wait/notify)
//   BM_wait_idle_1fd       epoll_wait(timeout 0), 1 idle watched fd, 0 events
//   BM_wait_idle_1000fd    epoll_wait(timeout 0), 1000 idle watched fds, 0 events
//   BM_wait_1ready_1000fd  epoll_wait(timeout 0), 1000 watched fds, 1 ready (LT)
//   BM_pingpong_lt         a 1-byte round trip over an AF_UNIX socketpair between
//                          two threads, each blocked in epoll_wait(-1) on its end
//   BM_pingpong_et         the same with EPOLLET
//   BM_pingpong_lt_idle1000, BM_pingpong_lt_idle10000
//                          BM_pingpong_lt with 1000 / 10,000 idle eventfds
//                          (never readable) watched by both instances too
//   BM_wait_10ready_19000fd  epoll_wait(timeout 0), 19,000 watched eventfds,
//                          10 readable (LT): 10 events each call
//
// Each is registered for three sides: native, uepoll (tiers as configured:
// UEPOLL_TIERS, UEPOLL_TIERS_DEMOTE_AFTER, on by default) and
// uepoll_notiers (tiering off: every wait polls every watched fd, the
// behaviour before core/tiers.cpp).  The ping-pongs and waits run 200
// untimed rounds first, so that what the tiers do with idle fds (park them
// after a few idle waits) is done before the timing starts.
//
// The tables use the wall-clock time per iteration (real_time in the JSON);
// for the ping-pongs that is the round trip, while the CPU column is only
// the main thread's share.
//
// Usage: uepoll-microbench [Google Benchmark flags], e.g.
//   --benchmark_filter=pingpong --benchmark_format=json
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/eventpoll.hpp"
#include "shim/api.hpp"

namespace {

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "uepoll-microbench: %s: %s\n", what, std::strerror(errno));
	std::abort();
}

// The two backends, as types: a benchmark is a template over one of them.
struct native_backend {
	static constexpr const char *name = "native";
	static int epoll_create1(int flags) { return ::epoll_create1(flags); }
	static int epoll_ctl(int epfd, int op, int fd, epoll_event *ev) { return ::epoll_ctl(epfd, op, fd, ev); }
	static int epoll_wait(int epfd, epoll_event *evs, int max, int timeout)
	{
		return ::epoll_wait(epfd, evs, max, timeout);
	}
	static int pipe2(int fds[2], int flags) { return ::pipe2(fds, flags); }
	static int socketpair(int d, int t, int p, int sv[2]) { return ::socketpair(d, t, p, sv); }
	static int eventfd(unsigned v, int flags) { return ::eventfd(v, flags); }
	static ssize_t read(int fd, void *buf, size_t len) { return ::read(fd, buf, len); }
	static ssize_t write(int fd, const void *buf, size_t len) { return ::write(fd, buf, len); }
	static int close(int fd) { return ::close(fd); }
	static void configure() {}
};

// The tiers' threshold the shim configured from the environment (main()).
int configured_demote_after;

struct uepoll_backend {
	static constexpr const char *name = "uepoll";
	static void configure()
	{
		::uepoll::core::tiers_configure(configured_demote_after > 0, configured_demote_after);
	}
	static int epoll_create1(int flags) { return ::uepoll::api::epoll_create1(flags); }
	static int epoll_ctl(int epfd, int op, int fd, epoll_event *ev)
	{
		return ::uepoll::api::epoll_ctl(epfd, op, fd, ev);
	}
	static int epoll_wait(int epfd, epoll_event *evs, int max, int timeout)
	{
		return ::uepoll::api::epoll_wait(epfd, evs, max, timeout);
	}
	static int pipe2(int fds[2], int flags) { return ::uepoll::api::pipe2(fds, flags); }
	static int socketpair(int d, int t, int p, int sv[2]) { return ::uepoll::api::socketpair(d, t, p, sv); }
	static int eventfd(unsigned v, int flags) { return ::uepoll::api::eventfd(v, flags); }
	static ssize_t read(int fd, void *buf, size_t len) { return ::uepoll::api::read(fd, buf, len); }
	static ssize_t write(int fd, const void *buf, size_t len) { return ::uepoll::api::write(fd, buf, len); }
	static int close(int fd) { return ::uepoll::api::close(fd); }
};

// uepoll with tiering off (UEPOLL_TIERS=0): the comparison.
struct uepoll_notiers_backend : uepoll_backend {
	static constexpr const char *name = "uepoll_notiers";
	static void configure() { ::uepoll::core::tiers_configure(false, 0); }
};

template <class B> int make_epoll()
{
	int ep = B::epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	return ep;
}

template <class B> void ctl(int ep, int op, int fd, uint32_t events, uint64_t data = 0)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = data;
	if (B::epoll_ctl(ep, op, fd, &ev) != 0)
		die("epoll_ctl");
}

// N pipes, non-blocking; closed (through the backend) on destruction.
template <class B> struct pipes {
	std::vector<int> rd, wr;
	explicit pipes(int n)
	{
		for (int i = 0; i < n; i++) {
			int p[2];
			if (B::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
				die("pipe2");
			rd.push_back(p[0]);
			wr.push_back(p[1]);
		}
	}
	~pipes()
	{
		for (int fd : rd)
			B::close(fd);
		for (int fd : wr)
			B::close(fd);
	}
	pipes(const pipes &) = delete;
	pipes &operator=(const pipes &) = delete;
};

// N eventfds with a zero counter (never readable until written); closed
// (through the backend) on destruction.  One fd each: 19,000 watched fds
// fit under a 20,000 fd limit.
template <class B> struct eventfds {
	std::vector<int> fds;
	explicit eventfds(int n)
	{
		for (int i = 0; i < n; i++) {
			int fd = B::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (fd < 0)
				die("eventfd");
			fds.push_back(fd);
		}
	}
	~eventfds()
	{
		for (int fd : fds)
			B::close(fd);
	}
	eventfds(const eventfds &) = delete;
	eventfds &operator=(const eventfds &) = delete;
};

constexpr int WARM_UP_ROUNDS = 200;

// (a) ADD + DEL of one pipe read end.
template <class B> void bm_ctl_add_del(benchmark::State &state)
{
	B::configure();
	int ep = make_epoll<B>();
	pipes<B> p(1);
	for (auto _ : state) {
		ctl<B>(ep, EPOLL_CTL_ADD, p.rd[0], EPOLLIN);
		ctl<B>(ep, EPOLL_CTL_DEL, p.rd[0], 0);
	}
	B::close(ep);
}

// (b) MOD of an added pipe read end (new data each time).
template <class B> void bm_ctl_mod(benchmark::State &state)
{
	B::configure();
	int ep = make_epoll<B>();
	pipes<B> p(1);
	ctl<B>(ep, EPOLL_CTL_ADD, p.rd[0], EPOLLIN);
	uint64_t i = 0;
	for (auto _ : state)
		ctl<B>(ep, EPOLL_CTL_MOD, p.rd[0], EPOLLIN, ++i);
	B::close(ep);
}

template <class B> void wait_one(int ep);

// ADD + DEL of one end of a socketpair (created through the backend, so
// that uepoll's fd table knows it as a new file).
template <class B> void bm_ctl_add_del_socketpair(benchmark::State &state)
{
	int ep = make_epoll<B>();
	int sv[2];
	if (B::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair");
	for (auto _ : state) {
		ctl<B>(ep, EPOLL_CTL_ADD, sv[0], EPOLLIN | EPOLLOUT);
		ctl<B>(ep, EPOLL_CTL_DEL, sv[0], 0);
	}
	B::close(sv[0]);
	B::close(sv[1]);
	B::close(ep);
}

// ADD + DEL of an eventfd (created through the backend).
template <class B> void bm_ctl_add_del_eventfd(benchmark::State &state)
{
	int ep = make_epoll<B>();
	int efd = B::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		die("eventfd");
	for (auto _ : state) {
		ctl<B>(ep, EPOLL_CTL_ADD, efd, EPOLLIN);
		ctl<B>(ep, EPOLL_CTL_DEL, efd, 0);
	}
	B::close(efd);
	B::close(ep);
}

// MOD of an added eventfd whose counter is non-zero (ready each time).
template <class B> void bm_ctl_mod_eventfd(benchmark::State &state)
{
	int ep = make_epoll<B>();
	int efd = B::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		die("eventfd");
	ctl<B>(ep, EPOLL_CTL_ADD, efd, EPOLLIN);
	uint64_t i = 0;
	for (auto _ : state)
		ctl<B>(ep, EPOLL_CTL_MOD, efd, EPOLLIN, ++i);
	B::close(efd);
	B::close(ep);
}

// Cross-thread ctl latency: one iteration is the main thread re-arming an
// EPOLLET eventfd item (its counter stays 1) with MOD, then waiting on a
// shared flag until the waiter thread, blocked in epoll_wait(-1), has
// received the event and raised the flag.
template <class B> void bm_ctl_mod_roundtrip(benchmark::State &state)
{
	int ep = make_epoll<B>();
	int efd = B::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0)
		die("eventfd");
	ctl<B>(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 1);
	std::atomic<int> flag{0};
	std::atomic<bool> stop{false};
	// The ADD reports once: the waiter consumes that edge before timing.
	std::thread waiter([&] {
		for (;;) {
			wait_one<B>(ep);
			if (stop.load(std::memory_order_acquire))
				return;
			flag.store(1, std::memory_order_release);
			flag.notify_one();
		}
	});
	flag.wait(0, std::memory_order_acquire);
	for (auto _ : state) {
		flag.store(0, std::memory_order_relaxed);
		ctl<B>(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLET, 1);
		flag.wait(0, std::memory_order_acquire);
	}
	stop.store(true, std::memory_order_release);
	ctl<B>(ep, EPOLL_CTL_MOD, efd, EPOLLIN | EPOLLET, 1);
	waiter.join();
	B::close(efd);
	B::close(ep);
}

// (c) and (f): epoll_wait(timeout 0) on nfds watched pipe read ends, of
// which `ready` (0 or 1) have a byte that nobody reads (level-triggered, so
// it is reported on every call).
template <class B> void bm_wait(benchmark::State &state, int nfds, int ready)
{
	B::configure();
	int ep = make_epoll<B>();
	pipes<B> p(nfds);
	for (int i = 0; i < nfds; i++)
		ctl<B>(ep, EPOLL_CTL_ADD, p.rd[i], EPOLLIN, static_cast<uint64_t>(i));
	// The ready one is the last added.
	for (int i = nfds - ready; i < nfds; i++)
		if (B::write(p.wr[i], "x", 1) != 1)
			die("write");
	epoll_event evs[64];
	for (int i = 0; i < WARM_UP_ROUNDS; i++)
		B::epoll_wait(ep, evs, 64, 0);
	for (auto _ : state) {
		int n = B::epoll_wait(ep, evs, 64, 0);
		if (n != ready) {
			state.SkipWithError("epoll_wait returned an unexpected number of events");
			break;
		}
	}
	B::close(ep);
}

// epoll_wait(timeout 0) on nfds watched eventfds, `ready` of them readable
// (level-triggered: reported on every call).
template <class B> void bm_wait_efd(benchmark::State &state, int nfds, int ready)
{
	B::configure();
	int ep = make_epoll<B>();
	eventfds<B> e(nfds);
	for (int i = 0; i < nfds; i++)
		ctl<B>(ep, EPOLL_CTL_ADD, e.fds[i], EPOLLIN, static_cast<uint64_t>(i));
	uint64_t one = 1;
	for (int i = 0; i < ready; i++)
		if (B::write(e.fds[i * (nfds / ready)], &one, sizeof one) != sizeof one)
			die("write");
	epoll_event evs[64];
	for (int i = 0; i < WARM_UP_ROUNDS; i++)
		B::epoll_wait(ep, evs, 64, 0);
	for (auto _ : state) {
		int n = B::epoll_wait(ep, evs, 64, 0);
		if (n != ready) {
			state.SkipWithError("epoll_wait returned an unexpected number of events");
			break;
		}
	}
	B::close(ep);
}

// Reads until a short read: the socket is then empty (one byte is in flight
// at a time), which is also what EPOLLET asks for.  Returns whether a 'q'
// (stop) was read.
template <class B> bool drain(int fd)
{
	char buf[64];
	bool quit = false;
	for (;;) {
		ssize_t r = B::read(fd, buf, sizeof buf);
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
		if (r < static_cast<ssize_t>(sizeof buf))
			return quit;
	}
}

template <class B> void wait_one(int ep)
{
	epoll_event ev;
	for (;;) {
		int n = B::epoll_wait(ep, &ev, 1, -1);
		if (n == 1)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		die("epoll_wait(-1)");
	}
}

// (d) and (e): one iteration is the main thread writing a byte to its end
// and waiting (epoll_wait -1) until the echo thread, itself blocked in
// epoll_wait -1 on the other end, has read it and written one back.
// `idle` eventfds, never readable, are watched by both instances too.
template <class B> void bm_pingpong(benchmark::State &state, bool et, int idle = 0)
{
	B::configure();
	int sv[2];
	if (B::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair");
	int ep_main = make_epoll<B>(), ep_echo = make_epoll<B>();
	uint32_t events = EPOLLIN | (et ? EPOLLET : 0u);
	ctl<B>(ep_main, EPOLL_CTL_ADD, sv[0], events);
	ctl<B>(ep_echo, EPOLL_CTL_ADD, sv[1], events);
	eventfds<B> idle_fds(idle);
	for (int fd : idle_fds.fds) {
		ctl<B>(ep_main, EPOLL_CTL_ADD, fd, EPOLLIN);
		ctl<B>(ep_echo, EPOLL_CTL_ADD, fd, EPOLLIN);
	}

	std::thread echo([&] {
		for (;;) {
			wait_one<B>(ep_echo);
			if (drain<B>(sv[1]))
				return;
			if (B::write(sv[1], "p", 1) != 1)
				die("write (echo)");
		}
	});

	auto round_trip = [&] {
		if (B::write(sv[0], "p", 1) != 1)
			die("write");
		wait_one<B>(ep_main);
		drain<B>(sv[0]);
	};
	for (int i = 0; i < WARM_UP_ROUNDS; i++)
		round_trip();
	for (auto _ : state)
		round_trip();

	if (B::write(sv[0], "q", 1) != 1)
		die("write (stop)");
	echo.join();
	B::close(ep_main);
	B::close(ep_echo);
	B::close(sv[0]);
	B::close(sv[1]);
}

// Registers BM_<name>/native and BM_<name>/uepoll, next to each other.
template <class F> void reg(const std::string &name, F &&fn_for_backend)
{
	auto add = [&](const char *backend, void (*fn)(benchmark::State &)) {
		benchmark::RegisterBenchmark((name + "/" + backend).c_str(), fn);
	};
	add(native_backend::name, fn_for_backend(native_backend{}));
	add(uepoll_backend::name, fn_for_backend(uepoll_backend{}));
	add(uepoll_notiers_backend::name, fn_for_backend(uepoll_notiers_backend{}));
}

// 1000 pipes are 2000 fds: raise the soft limit to the hard one.
void raise_nofile()
{
	rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

} // namespace

int main(int argc, char **argv)
{
	raise_nofile();
	// The shim reads UEPOLL_TIERS* at its first call: keep what it chose
	// for the "uepoll" side.
	::uepoll::api::close(::uepoll::api::epoll_create1(EPOLL_CLOEXEC));
	configured_demote_after = ::uepoll::core::tiers_demote_after_configured();

	reg("BM_ctl_add_del", []<class B>(B) { return &bm_ctl_add_del<B>; });
	reg("BM_ctl_mod", []<class B>(B) { return &bm_ctl_mod<B>; });
	reg("BM_ctl_add_del_socketpair", []<class B>(B) { return &bm_ctl_add_del_socketpair<B>; });
	reg("BM_ctl_add_del_eventfd", []<class B>(B) { return &bm_ctl_add_del_eventfd<B>; });
	reg("BM_ctl_mod_eventfd", []<class B>(B) { return &bm_ctl_mod_eventfd<B>; });
	reg("BM_ctl_mod_roundtrip", []<class B>(B) { return &bm_ctl_mod_roundtrip<B>; });
	reg("BM_wait_idle_1fd", []<class B>(B) {
		return +[](benchmark::State &s) { bm_wait<B>(s, 1, 0); };
	});
	reg("BM_wait_idle_1000fd", []<class B>(B) {
		return +[](benchmark::State &s) { bm_wait<B>(s, 1000, 0); };
	});
	reg("BM_wait_1ready_1000fd", []<class B>(B) {
		return +[](benchmark::State &s) { bm_wait<B>(s, 1000, 1); };
	});
	reg("BM_pingpong_lt", []<class B>(B) {
		return +[](benchmark::State &s) { bm_pingpong<B>(s, false); };
	});
	reg("BM_pingpong_et", []<class B>(B) {
		return +[](benchmark::State &s) { bm_pingpong<B>(s, true); };
	});
	reg("BM_pingpong_lt_idle1000", []<class B>(B) {
		return +[](benchmark::State &s) { bm_pingpong<B>(s, false, 1000); };
	});
	reg("BM_pingpong_lt_idle10000", []<class B>(B) {
		return +[](benchmark::State &s) { bm_pingpong<B>(s, false, 10000); };
	});
	reg("BM_wait_10ready_19000fd", []<class B>(B) {
		return +[](benchmark::State &s) { bm_wait_efd<B>(s, 19000, 10); };
	});

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
