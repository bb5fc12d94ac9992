// tests/trace.cpp - recording, formatting and the two-backend runner.
#include "tests/trace.hpp"

#ifndef UEPOLL_TESTS_NATIVE_ONLY
#include "shim/api.hpp"
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>

namespace uepoll::test {

std::string event_bits(uint32_t ev)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{EPOLLIN, "IN"},       {EPOLLPRI, "PRI"},       {EPOLLOUT, "OUT"},       {EPOLLERR, "ERR"},
		{EPOLLHUP, "HUP"},     {EPOLLRDNORM, "RDNORM"}, {EPOLLRDBAND, "RDBAND"}, {EPOLLWRNORM, "WRNORM"},
		{EPOLLWRBAND, "WRBAND"}, {EPOLLMSG, "MSG"},     {EPOLLRDHUP, "RDHUP"},
	};
	std::string s;
	for (auto &n : names) {
		if (ev & n.bit) {
			if (!s.empty())
				s += '|';
			s += n.name;
			ev &= ~n.bit;
		}
	}
	if (ev) {
		char buf[32];
		snprintf(buf, sizeof buf, "%s0x%x", s.empty() ? "" : "|", ev);
		s += buf;
	}
	return s.empty() ? "0" : s;
}

long trace::step(const std::string &what, long ret)
{
	int e = errno;
	if (ret < 0)
		lines.push_back(what + " = -1 " + (strerrorname_np(e) ? strerrorname_np(e) : std::to_string(e)));
	else
		lines.push_back(what + " = " + std::to_string(ret));
	errno = e;
	return ret;
}

void trace::events(const std::string &what, int n, const struct epoll_event *evs, bool ordered)
{
	if (n < 0) {
		step(what, n);
		return;
	}
	std::vector<std::string> items;
	for (int i = 0; i < n; i++) {
		char buf[64];
		snprintf(buf, sizeof buf, " {%s data=%llx}", event_bits(evs[i].events).c_str(),
			 (unsigned long long)evs[i].data.u64);
		items.push_back(buf);
	}
	if (!ordered)
		std::sort(items.begin(), items.end());
	std::string s = what + " = " + std::to_string(n);
	for (auto &i : items)
		s += i;
	lines.push_back(s);
}

bool trace::contains(const std::string &needle) const
{
	for (auto &l : lines)
		if (l.find(needle) != std::string::npos)
			return true;
	return false;
}

std::string trace::str() const
{
	std::string s;
	for (auto &l : lines)
		s += "  " + l + "\n";
	return s;
}

trace run_isolated(const scenario &fn, backend &b)
{
	int p[2];
	if (pipe(p) != 0)
		abort();
	fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		::close(p[0]);
		trace t;
		fn(b, t);
		std::string s;
		for (auto &l : t.lines)
			s += l + '\n';
		if (::testing::Test::HasFailure())
			s += "!! assertion failed in the " + std::string(b.name()) + " run\n";
		size_t off = 0;
		while (off < s.size()) {
			ssize_t w = ::write(p[1], s.data() + off, s.size() - off);
			if (w <= 0)
				break;
			off += w;
		}
		_exit(0);
	}
	::close(p[1]);
	std::string s;
	char buf[4096];
	ssize_t r;
	while ((r = ::read(p[0], buf, sizeof buf)) > 0)
		s.append(buf, r);
	::close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	trace t;
	size_t start = 0;
	while (start < s.size()) {
		size_t nl = s.find('\n', start);
		t.lines.push_back(s.substr(start, nl - start));
		start = nl + 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		t.lines.push_back("!! " + std::string(b.name()) + " run died, status " + std::to_string(status));
	return t;
}

trace differential(const scenario &fn, bool isolate)
{
	trace nat, ue;
#ifdef UEPOLL_TESTS_NATIVE_ONLY
	// Checking the scenarios themselves against a kernel: native twice.
	backend &other = native_backend();
#else
	backend &other = uepoll_backend();
#endif
	if (isolate) {
		nat = run_isolated(fn, native_backend());
		ue = run_isolated(fn, other);
	} else {
		fn(native_backend(), nat);
		fn(other, ue);
	}
	EXPECT_EQ(nat.lines, ue.lines) << "native:\n" << nat.str() << "uepoll:\n" << ue.str();
	for (auto &l : nat.lines)
		EXPECT_EQ(l.rfind("!!", 0), std::string::npos) << l;
	for (auto &l : ue.lines)
		EXPECT_EQ(l.rfind("!!", 0), std::string::npos) << l;
	return nat;
}

int wait_some(backend &b, int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
	return b.epoll_wait(epfd, evs, max, timeout_ms);
}

void expect_deviation(const scenario &fn, const std::vector<std::string> &native,
		      const std::vector<std::pair<size_t, std::string>> &changed)
{
	trace nat = run_isolated(fn, native_backend());
	EXPECT_EQ(nat.lines, native) << nat.str();
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	trace ue = run_isolated(fn, uepoll_backend());
	std::vector<std::string> documented = native;
	for (const auto &[i, line] : changed)
		if (i < documented.size())
			documented[i] = line;
	EXPECT_EQ(ue.lines, documented) << ue.str();
#endif
}

pid_t backend_fork([[maybe_unused]] backend &b)
{
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	if (!b.is_native())
		return uepoll::api::fork();
#endif
	return fork();
}

} // namespace uepoll::test
