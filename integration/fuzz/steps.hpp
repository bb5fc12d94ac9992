// integration/fuzz/steps.hpp - the helpers of the fuzzer's steps, in one
// copy: the executor (execute.cpp) calls them, and so do the DIFF_TESTs it
// emits (emit.cpp), which #include this file.  What an op writes and how a
// read is hashed, the resync drain, loopback sockets, timerfds, the fan of
// nested instances, and settle(): the wait for the kernel after an op on a
// loopback socket.  Header-only, so that a test in tests/ needs nothing
// from the fuzzer's own sources.
#pragma once

#include <arpa/inet.h>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <vector>

#include "integration/fuzz/program.hpp" // make_data
#include "tests/backend.hpp"
#include "tests/trace.hpp"

namespace uepoll::fuzz {

// ---- data -------------------------------------------------------------------

// What write op `id` writes: n bytes of a pattern of the id, the first 8
// of them `v` (an eventfd's counter takes a chosen value).
inline void pattern(char *buf, uint32_t id, size_t n, uint64_t v)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = static_cast<char>(id * 131 + i * 7);
	if (n >= 8)
		memcpy(buf, &v, 8);
}

// FNV-1a of what a read returned: a record line shows it, not the bytes.
inline uint32_t fnv(const char *p, long n)
{
	uint32_t h = 2166136261u;
	for (long i = 0; i < n; i++)
		h = (h ^ static_cast<unsigned char>(p[i])) * 16777619u;
	return h;
}

inline std::string hex(uint64_t v)
{
	char b[24];
	snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
	return b;
}

// A test's read: notes the hash as the fuzzer's record has it (" h=...").
inline long hashed(test::trace &t, const char *buf, long r)
{
	if (r > 0)
		t.note("h=" + hex(fnv(buf, r)));
	return r;
}

// ---- reads ------------------------------------------------------------------

constexpr int DRAIN_READS = 64; // reads per file in a resync drain

// Reads fd until EAGAIN, EOF or DRAIN_READS reads; the bytes read.  *capped
// (if given): it stopped at DRAIN_READS (a semaphore eventfd gives 1 per
// read, its counter can be near 2^64).
inline long drain(test::backend &b, int fd, char *buf, size_t n, bool *capped = nullptr)
{
	long total = 0;
	bool cap = true;
	for (int i = 0; i < DRAIN_READS; i++) {
		long r = b.read(fd, buf, n);
		if (r <= 0) {
			cap = false;
			break;
		}
		total += r;
	}
	if (capped)
		*capped = cap;
	return total;
}

// ---- loopback sockets ---------------------------------------------------------
//
// connect() goes through the backend: on uepoll it is the shim's hook,
// which pairs the two ends of a loopback connection of one process.

inline sockaddr_in loopback_any()
{
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

inline void nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A TCP listener on 127.0.0.1, any port.
inline int lo_listen(test::backend &b)
{
	int l = b.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sockaddr_in sa = loopback_any();
	if (l >= 0 && (b.bind(l, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 || b.listen(l, 64) != 0))
		return -1;
	return l;
}

// A client connected to the listener (blocking connect: loopback answers
// at once), then non-blocking.  Waits, bounded, for the connection to reach
// the listener's queue.
inline int lo_connect(test::backend &b, int l)
{
	sockaddr_in sa{};
	socklen_t len = sizeof sa;
	if (getsockname(l, reinterpret_cast<sockaddr *>(&sa), &len) != 0)
		return -1;
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -1;
	if (b.connect(c, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0)
		return -1;
	nodelay(c);
	fcntl(c, F_SETFL, O_NONBLOCK);
	pollfd p{l, POLLIN, 0};
	::poll(&p, 1, 2000);
	return c;
}

inline int lo_accept(test::backend &b, int l)
{
	int a = b.accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (a >= 0)
		nodelay(a);
	return a;
}

// Two UDP sockets on 127.0.0.1 connected to each other; *x and *y are set
// (-1 if not made) even when the pairing fails.  0, or -1 on failure.
inline int udp_pair(test::backend &b, int *x, int *y)
{
	*x = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	*y = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sockaddr_in ax = loopback_any(), ay = loopback_any();
	socklen_t lx = sizeof ax, ly = sizeof ay;
	bool ok = *x >= 0 && *y >= 0 && b.bind(*x, reinterpret_cast<sockaddr *>(&ax), sizeof ax) == 0 &&
		  b.bind(*y, reinterpret_cast<sockaddr *>(&ay), sizeof ay) == 0 &&
		  getsockname(*x, reinterpret_cast<sockaddr *>(&ax), &lx) == 0 &&
		  getsockname(*y, reinterpret_cast<sockaddr *>(&ay), &ly) == 0 &&
		  b.connect(*x, reinterpret_cast<sockaddr *>(&ay), ly) == 0 &&
		  b.connect(*y, reinterpret_cast<sockaddr *>(&ax), lx) == 0;
	return ok ? 0 : -1;
}

// ---- timerfds -------------------------------------------------------------------

// A timerfd (made by libc: the backends have no timerfd_create) either
// expired already, which the bounded poll makes certain before anything
// else runs, or armed an hour ahead: never a state that changes with time
// during the program.  *ready (if given): the poll's result.
inline int timer(bool expired, int *ready = nullptr)
{
	int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int r = 0;
	if (fd >= 0) {
		itimerspec its{};
		its.it_value.tv_sec = expired ? 0 : 3600;
		its.it_value.tv_nsec = expired ? 1 : 0;
		timerfd_settime(fd, 0, &its, nullptr);
		pollfd p{fd, POLLIN, 0};
		r = expired ? ::poll(&p, 1, 2000) : 0;
	}
	if (ready)
		*ready = r;
	return fd;
}

// ---- nesting ----------------------------------------------------------------------

// A chain of `depth` instances, then `leaves` instances that each watch fd
// and are added to the bottom of the chain (or to `into`): fd is reached
// by `leaves` paths nested depth+1 levels up (reverse_path_check's limits),
// and the chain meets the depth limit (ELOOP).  The top of the chain goes
// into instance `into`, if given (>= 0).  Every item asks for EPOLLIN and
// has make_data(id, sub) as data.  created(fd or -1, what) is told of each
// instance made, added(ret, what) of each ADD; a failed creation ends it.
template <class Created, class Added>
void fan_out(test::backend &b, int fd, int into, int leaves, int depth, uint32_t id, Created created, Added added)
{
	auto add = [&](int ep, int f, uint32_t sub, const std::string &what) {
		epoll_event e{};
		e.events = EPOLLIN;
		e.data.u64 = make_data(id, sub);
		added(ep, f, e, b.epoll_ctl(ep, EPOLL_CTL_ADD, f, &e), what);
	};
	std::vector<int> chain;
	for (int i = 0; i < depth; i++) {
		int e = b.epoll_create1(EPOLL_CLOEXEC);
		created(e, "chain " + std::to_string(i));
		if (e < 0)
			return;
		if (!chain.empty())
			add(e, chain.back(), 100 + i, "chain " + std::to_string(i) + " add previous");
		chain.push_back(e);
	}
	for (int j = 0; j < leaves; j++) {
		int e = b.epoll_create1(EPOLL_CLOEXEC);
		created(e, "leaf " + std::to_string(j));
		if (e < 0)
			return;
		add(e, fd, 1 + 2 * j, "leaf " + std::to_string(j) + " add file");
		int parent = chain.empty() ? into : chain.front();
		if (parent >= 0)
			add(parent, e, 2 + 2 * j, "leaf " + std::to_string(j) + " into parent");
	}
	if (!chain.empty() && into >= 0)
		add(into, chain.back(), 200, "chain top into instance");
}

// fan_out() in a test: each call a step of `label`.
inline void fan(test::backend &b, test::trace &t, int fd, int into, int leaves, int depth, uint32_t id,
		const std::string &label)
{
	fan_out(
		b, fd, into, leaves, depth, id, [&](int e, const std::string &what) { t.step(label + ": " + what, e); },
		[&](int, int, const epoll_event &, int r, const std::string &what) { t.step(label + ": " + what, r); });
}

// ---- settle -------------------------------------------------------------------------
//
// Loopback delivery runs in softirq context, normally before the sending
// call returns; under load it may be deferred to ksoftirqd.  And a TCP end
// that received a FIN acknowledges it late: delayed ACK (TCP_ATO_MIN, 40 ms),
// and TCP_QUICKACK cannot push that ACK while the FIN is still unread in the
// receive queue (tcp_cleanup_rbuf() acks early only with an empty queue), so
// it goes out either when the delayed-ACK timer fires or when the program
// reads the FIN, whichever comes first.  The FIN sender's move FIN_WAIT1 ->
// FIN_WAIT2 is a wake-up: a new edge that would land at a random step.
// Likewise the ICMP port unreachable that answers a UDP send to a closed
// port sets the sender's error (a wake-up, and the next send fails) at
// whatever time the softirq gets to it.
//
// So after an op on an inet socket, settle() waits for the kernel, bounded,
// until:
//   - no packet is queued on any CPU's backlog (/proc/net/softnet_stat),
//   - no TCP socket among fds is in a state that an in-flight or delayed
//     segment will end: SYN_SENT, SYN_RECV, FIN_WAIT1, CLOSING, LAST_ACK
//     (so a FIN's ACK has landed, from the timer if need be),
//   - the sockets of expect_err (UDP sockets that sent to a closed port)
//     show POLLERR,
//   - and the poll state, queues and TCP state of every fd stopped
//     changing (every pending ACK pushed with TCP_QUICKACK).
// It only waits; it does no I/O on the sockets and changes nothing that is
// compared, so what the next step sees no longer depends on timing.  Other
// fds among fds (pipes, -1) are harmless: their state does not move.

// Packets waiting in the softirq backlogs of all CPUs (column 12 of
// /proc/net/softnet_stat: input_pkt_queue + process_queue), or 0 if the
// file cannot be read.
inline long softnet_backlog()
{
	FILE *f = fopen("/proc/net/softnet_stat", "re");
	if (!f)
		return 0;
	long total = 0;
	char buf[512];
	while (fgets(buf, sizeof buf, f)) {
		char *p = buf;
		for (int col = 0; col < 11 && p; col++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (p)
			total += strtol(p, nullptr, 16);
	}
	fclose(f);
	return total;
}

inline bool tcp_transient(int state)
{
	switch (state) {
	case TCP_SYN_SENT:
	case TCP_SYN_RECV:
	case TCP_FIN_WAIT1:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

// A TCP end holds its FIN's ACK back for up to TCP_DELACK_MAX (200 ms);
// past this settle() gives up.
constexpr long SETTLE_LIMIT_US = 1000000;

// True when settled, false when it gave up after limit_us.
inline bool settle(const std::vector<int> &fds, const std::vector<int> &expect_err = {},
		   long limit_us = SETTLE_LIMIT_US)
{
	if (fds.empty())
		return true;
	bool busy = false;
	auto snap = [&] {
		std::vector<long> s;
		busy = softnet_backlog() != 0;
		for (int fd : fds) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
			pollfd p{fd, POLLIN | POLLOUT | POLLPRI | POLLRDHUP, 0};
			int in = -1, out = -1;
			tcp_info ti{};
			socklen_t len = sizeof ti;
			::poll(&p, 1, 0);
			ioctl(fd, SIOCINQ, &in);
			ioctl(fd, SIOCOUTQ, &out);
			// TCP_INFO answers on TCP sockets only.
			busy |= getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && tcp_transient(ti.tcpi_state);
			for (int e : expect_err)
				busy |= e == fd && !(p.revents & POLLERR);
			s.insert(s.end(), {p.revents, in, out, ti.tcpi_state});
		}
		return s;
	};
	timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	auto elapsed_us = [&] {
		timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		return (t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000;
	};
	std::vector<long> prev = snap();
	for (int i = 0, stable = 0; stable < 2; i++) {
		if (i < 20) {
			sched_yield();
		} else {
			timespec ts{0, 200000};
			nanosleep(&ts, nullptr);
		}
		std::vector<long> now = snap();
		stable = now == prev && !busy ? stable + 1 : 0;
		prev = std::move(now);
		if (elapsed_us() > limit_us)
			return false;
	}
	return true;
}

} // namespace uepoll::fuzz
