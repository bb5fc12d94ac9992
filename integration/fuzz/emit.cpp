// integration/fuzz/emit.cpp - the two sides, and a minimized program as a
// ready-to-paste DIFF_TEST (tests/trace.hpp).
//
// The statements come from the executor itself (each handler writes the
// C++ of what it just did, see world::code), so the test repeats exactly
// the calls of the run; this file only adds the helpers they use.
#include "integration/fuzz/emit.hpp"

#include <algorithm>

#include "shim/api.hpp"

namespace uepoll::fuzz {

side native_side() { return {&test::native_backend(), ::connect, "native"}; }
side uepoll_side() { return {&test::uepoll_backend(), api::connect, "uepoll"}; }

std::string gtest_preamble()
{
	return R"(	int s[16];
	std::fill(std::begin(s), std::end(s), -1);
	[[maybe_unused]] epoll_event ev{}, out[64];
	[[maybe_unused]] timespec ts0{};
	[[maybe_unused]] static char buf[1 << 17];
	[[maybe_unused]] auto keep = [&](int i, long r) {
		if (r >= 0)
			s[i] = static_cast<int>(r);
	};
)";
}

namespace {

// The helpers of the emitted statements, each included only when used
// (after the helpers it uses).
struct helper {
	const char *name;
	std::vector<const char *> uses;
	const char *text;
};

const std::vector<helper> &helpers()
{
	static const std::vector<helper> h = {
		{"pattern", {}, R"(	auto pattern = [&](unsigned id, size_t n, unsigned long long v) {
		for (size_t i = 0; i < n; i++)
			buf[i] = static_cast<char>(id * 131 + i * 7);
		if (n >= 8)
			memcpy(buf, &v, 8);
	};
)"},
		{"hashed", {}, R"(	auto hashed = [&](long r) {
		uint32_t h = 2166136261u;
		for (long i = 0; i < r; i++)
			h = (h ^ static_cast<unsigned char>(buf[i])) * 16777619u;
		t.note("h=" + std::to_string(h));
		return r;
	};
)"},
		{"drain", {}, R"(	auto drain = [&](int fd) {
		long total = 0;
		for (int i = 0; i < 64; i++) {
			long r = b.read(fd, buf, sizeof buf);
			if (r <= 0)
				break;
			total += r;
		}
		return total;
	};
)"},
		{"settle", {}, R"(	// Wait for the kernel as the fuzzer does (execute.cpp, world::settle()):
	// no packet in a softirq backlog, no TCP end in SYN_SENT, SYN_RECV,
	// FIN_WAIT1, CLOSING or LAST_ACK (a FIN's ACK may come from the
	// delayed-ACK timer), pending ACKs flushed, every socket's state stable.
	auto settle = [&] {
		auto backlog = [] {
			long total = 0;
			if (FILE *f = fopen("/proc/net/softnet_stat", "re")) {
				char line[512];
				while (fgets(line, sizeof line, f)) {
					char *p = line;
					for (int col = 0; col < 11 && p; col++)
						if ((p = strchr(p, ' ')))
							p++;
					if (p)
						total += strtol(p, nullptr, 16);
				}
				fclose(f);
			}
			return total;
		};
		bool busy = false;
		auto snap = [&] {
			std::vector<long> v;
			busy = backlog() != 0;
			for (int fd : s) {
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
				pollfd p{fd, POLLIN | POLLOUT | POLLPRI | POLLRDHUP, 0};
				int in = -1, outq = -1;
				tcp_info ti{};
				socklen_t len = sizeof ti;
				::poll(&p, 1, 0);
				ioctl(fd, SIOCINQ, &in);
				ioctl(fd, SIOCOUTQ, &outq);
				if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
					busy |= ti.tcpi_state == TCP_SYN_SENT || ti.tcpi_state == TCP_SYN_RECV ||
						ti.tcpi_state == TCP_FIN_WAIT1 || ti.tcpi_state == TCP_CLOSING ||
						ti.tcpi_state == TCP_LAST_ACK;
				v.insert(v.end(), {p.revents, in, outq, ti.tcpi_state});
			}
			return v;
		};
		std::vector<long> prev = snap();
		for (int i = 0, stable = 0; stable < 2 && i < 5000; i++) {
			if (i < 20)
				sched_yield();
			else
				usleep(200);
			std::vector<long> now = snap();
			stable = now == prev && !busy ? stable + 1 : 0;
			prev = now;
		}
	};
)"},
		{"lo_addr", {}, R"(	auto lo_addr = [] {
		sockaddr_in sa{};
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sa;
	};
)"},
		{"do_connect", {}, R"(	auto do_connect = [&](int fd, const sockaddr *a, socklen_t len) {
#ifndef UEPOLL_TESTS_NATIVE_ONLY
		if (!b.is_native())
			return uepoll::api::connect(fd, a, len);
#endif
		return ::connect(fd, a, len);
	};
)"},
		{"lo_listen", {"lo_addr"}, R"(	auto lo_listen = [&] {
		int l = b.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		sockaddr_in sa = lo_addr();
		if (l >= 0 && (b.bind(l, (sockaddr *)&sa, sizeof sa) != 0 || b.listen(l, 64) != 0))
			return -1;
		return l;
	};
)"},
		{"lo_connect", {"do_connect"}, R"(	auto lo_connect = [&](int l) {
		sockaddr_in sa{};
		socklen_t len = sizeof sa;
		if (getsockname(l, (sockaddr *)&sa, &len) != 0)
			return -1;
		int c = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || do_connect(c, (sockaddr *)&sa, sizeof sa) != 0)
			return -1;
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(c, F_SETFL, O_NONBLOCK);
		pollfd p{l, POLLIN, 0};
		::poll(&p, 1, 2000);
		return c;
	};
)"},
		{"lo_accept", {}, R"(	auto lo_accept = [&](int l) {
		int a = b.accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;
		if (a >= 0)
			setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		return a;
	};
)"},
		{"udp_pair", {"lo_addr", "do_connect"}, R"(	auto udp_pair = [&](int *x, int *y) {
		*x = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		*y = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		sockaddr_in ax = lo_addr(), ay = lo_addr();
		socklen_t lx = sizeof ax, ly = sizeof ay;
		bool ok = *x >= 0 && *y >= 0 && b.bind(*x, (sockaddr *)&ax, sizeof ax) == 0 &&
			  b.bind(*y, (sockaddr *)&ay, sizeof ay) == 0 && getsockname(*x, (sockaddr *)&ax, &lx) == 0 &&
			  getsockname(*y, (sockaddr *)&ay, &ly) == 0 && do_connect(*x, (sockaddr *)&ay, ly) == 0 &&
			  do_connect(*y, (sockaddr *)&ax, lx) == 0;
		return ok ? 0 : -1;
	};
)"},
		{"timer", {}, R"(	auto timer = [&](int expired) {
		int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (fd >= 0) {
			itimerspec its{};
			its.it_value.tv_sec = expired ? 0 : 3600;
			its.it_value.tv_nsec = expired ? 1 : 0;
			timerfd_settime(fd, 0, &its, nullptr);
			pollfd p{fd, POLLIN, 0};
			if (expired)
				::poll(&p, 1, 2000);
		}
		return fd;
	};
)"},
		{"fan", {}, R"(	// A chain of `depth` instances, then `leaves` instances watching fd added
	// to the bottom of the chain (or to `into`); the chain's top goes into `into`.
	auto fan = [&](int fd, int into, int leaves, int depth, unsigned id, const std::string &what) {
		auto add = [&](int ep, int f, unsigned sub, const std::string &step) {
			epoll_event e{};
			e.events = EPOLLIN;
			e.data.u64 = (uint64_t(sub) << 20) | id;
			t.step(what + ": " + step, b.epoll_ctl(ep, EPOLL_CTL_ADD, f, &e));
		};
		std::vector<int> chain;
		for (int i = 0; i < depth; i++) {
			int e = t.step(what + ": chain " + std::to_string(i), b.epoll_create1(EPOLL_CLOEXEC));
			if (e < 0)
				return;
			if (!chain.empty())
				add(e, chain.back(), 100 + i, "chain " + std::to_string(i) + " add previous");
			chain.push_back(e);
		}
		for (int j = 0; j < leaves; j++) {
			int e = t.step(what + ": leaf " + std::to_string(j), b.epoll_create1(EPOLL_CLOEXEC));
			if (e < 0)
				return;
			add(e, fd, 1 + 2 * j, "leaf " + std::to_string(j) + " add file");
			int parent = chain.empty() ? into : chain.front();
			if (parent >= 0)
				add(parent, e, 2 + 2 * j, "leaf " + std::to_string(j) + " into parent");
		}
		if (!chain.empty() && into >= 0)
			add(into, chain.back(), 200, "chain top into instance");
	};
)"},
	};
	return h;
}

void include(const std::string &name, std::vector<std::string> &order)
{
	if (std::find(order.begin(), order.end(), name) != order.end())
		return;
	for (auto &h : helpers()) {
		if (name != h.name)
			continue;
		for (auto *u : h.uses)
			include(u, order);
		order.push_back(name);
	}
}

} // namespace

std::string gtest_helpers(const std::string &code)
{
	std::vector<std::string> order;
	for (auto &h : helpers())
		if (code.find(std::string(h.name) + "(") != std::string::npos)
			include(h.name, order);
	std::string s;
	for (auto &name : order)
		for (auto &h : helpers())
			if (name == h.name)
				s += h.text;
	return s;
}

std::string gtest_case(const std::string &name, const std::string &header, const std::vector<line> &lines)
{
	std::string s;
	s += "// " + header + "\n";
	s += "// Needs: <algorithm> <arpa/inet.h> <climits> <cstdio> <cstdlib> <cstring> <fcntl.h> <linux/sockios.h>\n";
	s += "// <netinet/in.h> <netinet/tcp.h> <poll.h> <sched.h> <sys/eventfd.h> <sys/ioctl.h> <sys/timerfd.h> <unistd.h>\n";
	s += "// <vector> \"tests/trace.hpp\", and \"shim/api.hpp\" unless UEPOLL_TESTS_NATIVE_ONLY.\n";
	std::string code;
	for (auto &l : lines)
		if (l.text.empty() && l.note.rfind("code:", 0) == 0)
			code += '\t' + l.note.substr(5) + "\n"; // '\t': GCC PR 105651 (describe.cpp)
	s += "DIFF_TEST(fuzz, " + name + ")\n{\n" + gtest_preamble() + gtest_helpers(code) + "\n" + code + "}\n";
	return s;
}

} // namespace uepoll::fuzz
