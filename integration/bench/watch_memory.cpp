// integration/bench/watch_memory.cpp - uepoll-watch-memory: the memory a
// watched fd costs the process (RSS), on native epoll and on uepoll in one
// run.  The kernel keeps its epitem and eppoll_entry (~200 B) outside the
// process, so the native figure is about 0 and uepoll's is what it costs
// beyond native (the performance issue's budget: 128 B per watched fd).
//
// For each backend and kind: make N fds (eventfds, or N/2 socketpairs)
// through the backend, ADD every one to one instance, and report
// (RSS after the ADDs - RSS before the fds were made) / N.  Both the fds'
// creation and the ADDs are counted: uepoll may describe a file when it is
// made (a socketpair's two ends) or at its first ADD.  The fds are closed
// between phases.
//
// Usage: uepoll-watch-memory [N]   (default 19000; RLIMIT_NOFILE is raised
// to the hard limit, and N lowered to fit under it)
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "shim/api.hpp"

namespace {

[[noreturn]] void die(const char *what)
{
	std::fprintf(stderr, "uepoll-watch-memory: %s: %s\n", what, std::strerror(errno));
	std::exit(1);
}

struct native_backend {
	static constexpr const char *name = "native";
	static int epoll_create1(int flags) { return ::epoll_create1(flags); }
	static int epoll_ctl(int epfd, int op, int fd, epoll_event *ev) { return ::epoll_ctl(epfd, op, fd, ev); }
	static int eventfd(unsigned v, int flags) { return ::eventfd(v, flags); }
	static int socketpair(int d, int t, int p, int sv[2]) { return ::socketpair(d, t, p, sv); }
	static int close(int fd) { return ::close(fd); }
};

struct uepoll_backend {
	static constexpr const char *name = "uepoll";
	static int epoll_create1(int flags) { return ::uepoll::api::epoll_create1(flags); }
	static int epoll_ctl(int epfd, int op, int fd, epoll_event *ev)
	{
		return ::uepoll::api::epoll_ctl(epfd, op, fd, ev);
	}
	static int eventfd(unsigned v, int flags) { return ::uepoll::api::eventfd(v, flags); }
	static int socketpair(int d, int t, int p, int sv[2]) { return ::uepoll::api::socketpair(d, t, p, sv); }
	static int close(int fd) { return ::uepoll::api::close(fd); }
};

// Resident set size in bytes (/proc/self/statm, second field).
long rss_bytes()
{
	FILE *f = std::fopen("/proc/self/statm", "re");
	long size = 0, resident = 0;
	if (!f || std::fscanf(f, "%ld %ld", &size, &resident) != 2)
		die("/proc/self/statm");
	std::fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

template <class B> double bytes_per_watch(int n, bool socketpairs)
{
	std::vector<int> fds;
	fds.reserve(static_cast<size_t>(n));
	int ep = B::epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	long before = rss_bytes();
	if (socketpairs) {
		for (int i = 0; i + 1 < n; i += 2) {
			int sv[2];
			if (B::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
				die("socketpair");
			fds.push_back(sv[0]);
			fds.push_back(sv[1]);
		}
	} else {
		for (int i = 0; i < n; i++) {
			int fd = B::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (fd < 0)
				die("eventfd");
			fds.push_back(fd);
		}
	}
	for (size_t i = 0; i < fds.size(); i++) {
		epoll_event ev{};
		ev.events = EPOLLIN;
		ev.data.u64 = i;
		if (B::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
			die("epoll_ctl ADD");
	}
	long after = rss_bytes();
	for (int fd : fds)
		B::close(fd);
	B::close(ep);
	return static_cast<double>(after - before) / static_cast<double>(fds.size());
}

} // namespace

int main(int argc, char **argv)
{
	int n = argc > 1 ? std::atoi(argv[1]) : 19000;
	rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    static_cast<rlim_t>(n) + 64 > rl.rlim_cur)
		n = static_cast<int>(rl.rlim_cur) - 64;
	std::printf("watched fds: %d (RSS after making and adding them - RSS before, per fd)\n", n);
	// Each phase in a child of its own: memory an earlier phase freed, kept
	// by the allocator, would hide what a later one needs.
	auto phase = [&](bool uepoll, bool pairs) {
		int p[2];
		if (pipe(p) != 0)
			die("pipe");
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			double v = uepoll ? bytes_per_watch<uepoll_backend>(n, pairs) : bytes_per_watch<native_backend>(n, pairs);
			if (write(p[1], &v, sizeof v) != static_cast<ssize_t>(sizeof v))
				_exit(1);
			_exit(0);
		}
		close(p[1]);
		double v = 0;
		if (read(p[0], &v, sizeof v) != static_cast<ssize_t>(sizeof v))
			die("phase failed");
		waitpid(pid, nullptr, 0);
		close(p[0]);
		return v;
	};
	for (bool pairs : {false, true}) {
		double u = phase(true, pairs), k = phase(false, pairs);
		std::printf("%-11s uepoll %7.1f B/fd   native %7.1f B/fd   beyond native %7.1f B/fd\n",
			    pairs ? "socketpair" : "eventfd", u, k, u - k);
	}
	return 0;
}
