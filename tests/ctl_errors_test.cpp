// tests/ctl_errors_test.cpp - epoll_ctl errors: every errno the kernel gives and the order it checks them in.
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <signal.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <vector>

#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

namespace {

constexpr uint64_t D1 = 0xfeedface00000001ULL;
constexpr uint64_t D2 = 0xfeedface00000003ULL;
constexpr uint64_t D3 = 0xfeedface00000005ULL;

// An op that no kernel defines (ADD=1, DEL=2, MOD=3).
constexpr int OP_BOGUS = 99;

std::string ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : std::to_string(e);
}

// Records the result and checks it against the contract: want 0 for
// success, else the errno the call must fail with.
void check(trace &t, const std::string &what, long ret, int want)
{
	int e = errno;
	t.step(what, ret);
	if (want == 0) {
		EXPECT_EQ(ret, 0) << what << ": " << ename(e);
	} else {
		EXPECT_EQ(ret, -1) << what;
		if (ret == -1) {
			EXPECT_EQ(e, want) << what << ": got " << ename(e) << ", want " << ename(want);
		}
	}
	errno = e;
}

// The trace must hold a line containing needle.
void expect_line(const trace &t, const std::string &needle)
{
	EXPECT_TRUE(t.contains(needle)) << "no line with: " << needle << "\n" << t.str();
}

epoll_event mkev(uint32_t events, uint64_t data)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = data;
	return ev;
}

int ctl(backend &b, int ep, int op, int fd, uint32_t events, uint64_t data)
{
	epoll_event ev = mkev(events, data);
	return b.epoll_ctl(ep, op, fd, &ev);
}

// A number that is surely not an open fd in this process.
int closed_fd(backend &b)
{
	int fd = b.eventfd(0, EFD_CLOEXEC);
	EXPECT_GE(fd, 0);
	b.close(fd);
	return fd;
}

// Two pages: the first readable and writable, the second PROT_NONE, so
// that an object can be placed across the boundary.
struct guard_pages {
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *base = nullptr;
	guard_pages()
	{
		void *p = mmap(nullptr, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		EXPECT_NE(p, MAP_FAILED);
		base = (char *)p;
		EXPECT_EQ(mprotect(base + pg, pg, PROT_NONE), 0);
	}
	~guard_pages() { munmap(base, 2 * pg); }
	char *boundary() const { return base + pg; }
	epoll_event *none() const { return (epoll_event *)boundary(); }
};

// A page holding one valid event, then made read-only.
struct ro_event {
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	epoll_event *ev = nullptr;
	ro_event(uint32_t events, uint64_t data)
	{
		void *p = mmap(nullptr, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		EXPECT_NE(p, MAP_FAILED);
		ev = (epoll_event *)p;
		*ev = mkev(events, data);
		EXPECT_EQ(mprotect(p, pg, PROT_READ), 0);
	}
	~ro_event() { munmap(ev, pg); }
};

epoll_event *const KERNEL_PTR = (epoll_event *)0xffff800000000000ULL;

int open_path(const std::string &path, int flags)
{
	int fd = ::open(path.c_str(), flags | O_CLOEXEC);
	EXPECT_GE(fd, 0) << path << ": " << ename(errno);
	return fd;
}

// An O_PATH open file of whatever fd refers to (a different open file).
int o_path_of(int fd) { return open_path("/proc/self/fd/" + std::to_string(fd), O_PATH); }

int regular_file()
{
	char tmpl[] = "/tmp/uepoll-ctl-errors-XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);
	EXPECT_GE(fd, 0);
	unlink(tmpl);
	return fd;
}

// The interest mask the kernel stored for target fd tfd in epfd, read from
// /proc/self/fdinfo (native only: uepoll's epoll fd shows something else).
long native_interest(int epfd, int tfd)
{
	std::string path = "/proc/self/fdinfo/" + std::to_string(epfd);
	FILE *f = fopen(path.c_str(), "re");
	if (!f)
		return -1;
	char line[512];
	long found = -1;
	while (fgets(line, sizeof line, f)) {
		int fd;
		unsigned events;
		if (sscanf(line, "tfd: %d events: %x", &fd, &events) == 2 && fd == tfd)
			found = events;
	}
	fclose(f);
	return found;
}

// Every file kind the kernel refuses (no poll support).
struct unpollable {
	std::string name;
	int fd;
};

std::vector<unpollable> open_unpollables(backend &b)
{
	(void)b;
	std::vector<unpollable> v;
	v.push_back({"regular file", regular_file()});
	v.push_back({"directory", open_path("/tmp", O_RDONLY | O_DIRECTORY)});
	int mfd = memfd_create("uepoll-ctl-errors", MFD_CLOEXEC);
	EXPECT_GE(mfd, 0);
	v.push_back({"memfd", mfd});
	v.push_back({"/dev/null", open_path("/dev/null", O_RDWR)});
	v.push_back({"/dev/zero", open_path("/dev/zero", O_RDONLY)});
	v.push_back({"/dev/urandom", open_path("/dev/urandom", O_RDONLY)});
	v.push_back({"/proc/self/status", open_path("/proc/self/status", O_RDONLY)});
	return v;
}

} // namespace

// The event is read before anything else is checked: an unreadable event
// gives EFAULT even with a bad epfd, a bad fd, an unpollable fd, fd==epfd,
// a non-epoll epfd or an unknown op.
DIFF_TEST(ctl_errors, unreadable_event_is_efault_before_everything)
{
	guard_pages g;
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	int reg = regular_file();
	int bad = closed_fd(b);
	// Straddles the boundary: the first 8 bytes readable, the last 4 not.
	epoll_event *straddle = (epoll_event *)(g.boundary() - 8);
	struct {
		const char *name;
		epoll_event *ev;
	} ptrs[] = {{"NULL", nullptr},
		    {"(void*)1", (epoll_event *)1},
		    {"PROT_NONE", g.none()},
		    {"straddling PROT_NONE", straddle},
		    {"kernel address", KERNEL_PTR}};
	for (auto &ptr : ptrs) {
		for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, 0, 4, OP_BOGUS, -1}) {
			std::string w = std::string(ptr.name) + " op " + std::to_string(op);
			check(t, w + " good", b.epoll_ctl(ep, op, p[0], ptr.ev), EFAULT);
			check(t, w + " bad epfd", b.epoll_ctl(bad, op, p[0], ptr.ev), EFAULT);
			check(t, w + " epfd -1", b.epoll_ctl(-1, op, p[0], ptr.ev), EFAULT);
			check(t, w + " bad fd", b.epoll_ctl(ep, op, bad, ptr.ev), EFAULT);
			check(t, w + " bad epfd+fd", b.epoll_ctl(bad, op, bad, ptr.ev), EFAULT);
			check(t, w + " regular fd", b.epoll_ctl(ep, op, reg, ptr.ev), EFAULT);
			check(t, w + " fd==epfd", b.epoll_ctl(ep, op, ep, ptr.ev), EFAULT);
			check(t, w + " pipe as epfd", b.epoll_ctl(p[1], op, p[0], ptr.ev), EFAULT);
		}
	}
	// Nothing was added by the failed calls.
	check(t, "ADD after the faults", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), 0);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	int n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait", n, out);
	EXPECT_EQ(n, 1);
	// A faulting MOD leaves the item as it was.
	check(t, "MOD NULL", b.epoll_ctl(ep, EPOLL_CTL_MOD, p[0], nullptr), EFAULT);
	check(t, "MOD straddling", b.epoll_ctl(ep, EPOLL_CTL_MOD, p[0], straddle), EFAULT);
	n = b.epoll_wait(ep, out, 4, 0);
	t.events("wait after faulting MODs", n, out);
	expect_line(t, "wait after faulting MODs = 1 {IN data=feedface00000001}");
}

// An event that is readable but not writable is fine: the kernel only
// reads it.  One that ends exactly at the guard page is fine too.
DIFF_TEST(ctl_errors, read_only_event_is_accepted)
{
	guard_pages g;
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	{
		ro_event ro(EPOLLIN, D1);
		check(t, "ADD read-only", b.epoll_ctl(ep, EPOLL_CTL_ADD, p[0], ro.ev), 0);
		check(t, "MOD read-only", b.epoll_ctl(ep, EPOLL_CTL_MOD, p[0], ro.ev), 0);
	}
	epoll_event *edge = (epoll_event *)(g.boundary() - sizeof(epoll_event));
	*edge = mkev(EPOLLIN, D2);
	check(t, "MOD ending at the guard page", b.epoll_ctl(ep, EPOLL_CTL_MOD, p[0], edge), 0);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait = 1 {IN data=feedface00000003}");
}

// DEL never reads the event: NULL, garbage and unreadable pointers work,
// and the remaining checks still run in their order.
DIFF_TEST(ctl_errors, del_ignores_the_event_pointer)
{
	guard_pages g;
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	int reg = regular_file();
	int bad = closed_fd(b);
	struct {
		const char *name;
		epoll_event *ev;
	} ptrs[] = {{"NULL", nullptr}, {"(void*)1", (epoll_event *)1}, {"PROT_NONE", g.none()}, {"kernel", KERNEL_PTR}};
	for (auto &ptr : ptrs) {
		std::string w = std::string("DEL ") + ptr.name;
		check(t, w + " ADD first", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), 0);
		check(t, w + " present", b.epoll_ctl(ep, EPOLL_CTL_DEL, p[0], ptr.ev), 0);
		check(t, w + " absent", b.epoll_ctl(ep, EPOLL_CTL_DEL, p[0], ptr.ev), ENOENT);
		check(t, w + " bad epfd", b.epoll_ctl(bad, EPOLL_CTL_DEL, p[0], ptr.ev), EBADF);
		check(t, w + " bad fd", b.epoll_ctl(ep, EPOLL_CTL_DEL, bad, ptr.ev), EBADF);
		check(t, w + " regular fd", b.epoll_ctl(ep, EPOLL_CTL_DEL, reg, ptr.ev), EPERM);
		check(t, w + " fd==epfd", b.epoll_ctl(ep, EPOLL_CTL_DEL, ep, ptr.ev), EINVAL);
		check(t, w + " pipe as epfd", b.epoll_ctl(p[1], EPOLL_CTL_DEL, p[0], ptr.ev), EINVAL);
	}
	// The DELs really removed the item.
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait = 0");
}

// epfd is checked before fd, and both before poll support.
DIFF_TEST(ctl_errors, bad_epfd_is_ebadf_before_fd_checks)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	int reg = regular_file();
	int bad = closed_fd(b);
	int ep_path = o_path_of(ep);
	int reg_path = o_path_of(reg);
	epoll_event ev = mkev(EPOLLIN, D1);
	for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, OP_BOGUS}) {
		std::string w = "op " + std::to_string(op);
		check(t, w + " closed epfd", b.epoll_ctl(bad, op, p[0], &ev), EBADF);
		check(t, w + " epfd -1", b.epoll_ctl(-1, op, p[0], &ev), EBADF);
		check(t, w + " epfd INT_MAX", b.epoll_ctl(INT_MAX, op, p[0], &ev), EBADF);
		check(t, w + " bad epfd + bad fd", b.epoll_ctl(bad, op, bad, &ev), EBADF);
		check(t, w + " bad epfd + regular fd", b.epoll_ctl(bad, op, reg, &ev), EBADF);
		check(t, w + " O_PATH of the epoll fd", b.epoll_ctl(ep_path, op, p[0], &ev), EBADF);
		check(t, w + " O_PATH epfd + regular fd", b.epoll_ctl(ep_path, op, reg, &ev), EBADF);
		check(t, w + " O_PATH regular epfd + regular fd", b.epoll_ctl(reg_path, op, reg, &ev), EBADF);
		check(t, w + " O_PATH epfd == fd", b.epoll_ctl(ep_path, op, ep_path, &ev), EBADF);
	}
	// A closed epoll fd is just a closed number.
	int ep2 = b.epoll_create1(0);
	t.step("close ep2", b.close(ep2));
	check(t, "ADD on closed epoll fd", b.epoll_ctl(ep2, EPOLL_CTL_ADD, p[0], &ev), EBADF);
}

// fd is checked next: not open or O_PATH gives EBADF for every op, even
// when epfd is not an epoll fd, and before poll support is looked at.
DIFF_TEST(ctl_errors, bad_fd_is_ebadf)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	int reg = regular_file();
	int bad = closed_fd(b);
	int reg_path = o_path_of(reg);
	int pipe_path = o_path_of(p[0]);
	int ep_path = o_path_of(ep);
	int dev_path = open_path("/dev/ptmx", O_PATH);
	int dir_path = open_path("/tmp", O_PATH | O_DIRECTORY);
	epoll_event ev = mkev(EPOLLIN, D1);
	struct {
		const char *name;
		int fd;
	} fds[] = {{"closed", bad},
		   {"-1", -1},
		   {"INT_MIN", INT_MIN},
		   {"INT_MAX", INT_MAX},
		   {"O_PATH regular", reg_path},
		   {"O_PATH of a pipe", pipe_path},
		   {"O_PATH of the epoll fd", ep_path},
		   {"O_PATH /dev/ptmx", dev_path},
		   {"O_PATH dir", dir_path}};
	for (auto &f : fds) {
		for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, OP_BOGUS}) {
			std::string w = std::string(f.name) + " op " + std::to_string(op);
			check(t, w, b.epoll_ctl(ep, op, f.fd, &ev), EBADF);
			check(t, w + " pipe as epfd", b.epoll_ctl(p[1], op, f.fd, &ev), EBADF);
			check(t, w + " regular as epfd", b.epoll_ctl(reg, op, f.fd, &ev), EBADF);
		}
	}
	// EBADF for the target also beats the EXCLUSIVE rules.
	check(t, "O_PATH + EXCLUSIVE|ONESHOT",
	      ctl(b, ep, EPOLL_CTL_ADD, pipe_path, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, D1), EBADF);
	check(t, "O_PATH MOD + EXCLUSIVE", ctl(b, ep, EPOLL_CTL_MOD, pipe_path, EPOLLIN | EPOLLEXCLUSIVE, D1),
	      EBADF);
}

// Files without poll support give EPERM for every op, even when epfd is
// not an epoll fd, and before the EXCLUSIVE rules.
DIFF_TEST(ctl_errors, unpollable_files_give_eperm)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	auto files = open_unpollables(b);
	int reg_ep = regular_file();
	for (auto &f : files) {
		for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, OP_BOGUS}) {
			std::string w = f.name + " op " + std::to_string(op);
			check(t, w, ctl(b, ep, op, f.fd, EPOLLIN, D1), EPERM);
			check(t, w + " pipe as epfd", ctl(b, p[1], op, f.fd, EPOLLIN, D1), EPERM);
			check(t, w + " regular as epfd", ctl(b, reg_ep, op, f.fd, EPOLLIN, D1), EPERM);
			check(t, w + " itself as epfd", ctl(b, f.fd, op, f.fd, EPOLLIN, D1), EPERM);
		}
		check(t, f.name + " EXCLUSIVE|ONESHOT",
		      ctl(b, ep, EPOLL_CTL_ADD, f.fd, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, D1), EPERM);
		check(t, f.name + " MOD EXCLUSIVE", ctl(b, ep, EPOLL_CTL_MOD, f.fd, EPOLLIN | EPOLLEXCLUSIVE, D1),
		      EPERM);
		// A dup is the same file: still refused.
		int d = b.dup(f.fd);
		check(t, f.name + " dup ADD", ctl(b, ep, EPOLL_CTL_ADD, d, EPOLLIN, D1), EPERM);
		b.close(d);
	}
	// Nothing was added: the instance is empty.
	epoll_event out[8];
	t.events("wait", b.epoll_wait(ep, out, 8, 0), out);
	expect_line(t, "wait = 0");
}

// Everything with a poll method can be added, including char devices
// next to ones that cannot (/dev/random vs /dev/urandom), ttys, sysfs
// and /proc/self/mounts.
DIFF_TEST(ctl_errors, pollable_files_can_be_added)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	std::vector<std::pair<std::string, int>> fds;
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	fds.push_back({"pipe read end", p[0]});
	fds.push_back({"pipe write end", p[1]});
	int sv[2];
	t.step("socketpair stream", b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	fds.push_back({"unix stream", sv[0]});
	int dg[2];
	t.step("socketpair dgram", b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg));
	fds.push_back({"unix dgram", dg[0]});
	fds.push_back({"tcp socket", b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)});
	fds.push_back({"udp socket", b.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)});
	fds.push_back({"eventfd", b.eventfd(0, EFD_CLOEXEC)});
	fds.push_back({"timerfd", timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)});
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	fds.push_back({"signalfd", signalfd(-1, &mask, SFD_CLOEXEC)});
	fds.push_back({"inotify", inotify_init1(IN_CLOEXEC)});
	fds.push_back({"pidfd", (int)syscall(SYS_pidfd_open, getpid(), 0)});
	fds.push_back({"epoll fd", b.epoll_create1(EPOLL_CLOEXEC)});
	int ptm = open_path("/dev/ptmx", O_RDWR | O_NOCTTY);
	fds.push_back({"/dev/ptmx", ptm});
	EXPECT_EQ(grantpt(ptm), 0);
	EXPECT_EQ(unlockpt(ptm), 0);
	const char *pts = ptsname(ptm);
	EXPECT_NE(pts, nullptr);
	fds.push_back({"pty slave", open_path(pts ? pts : "/nonexistent", O_RDWR | O_NOCTTY)});
	fds.push_back({"/dev/random", open_path("/dev/random", O_RDONLY)});
	fds.push_back({"/proc/self/mounts", open_path("/proc/self/mounts", O_RDONLY)});
	int sysfs = -1;
	for (const char *path : {"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/uevent_seqnum",
				 "/sys/devices/system/cpu/online", "/sys/kernel/profiling"}) {
		sysfs = ::open(path, O_RDONLY | O_CLOEXEC);
		if (sysfs >= 0)
			break;
	}
	EXPECT_GE(sysfs, 0) << "no readable sysfs file";
	fds.push_back({"sysfs file", sysfs});
	uint64_t data = D1;
	for (auto &[name, fd] : fds) {
		EXPECT_GE(fd, 0) << name;
		check(t, name + " ADD", ctl(b, ep, EPOLL_CTL_ADD, fd, EPOLLIN, data), 0);
		check(t, name + " MOD", ctl(b, ep, EPOLL_CTL_MOD, fd, EPOLLOUT, data), 0);
		check(t, name + " DEL", ctl(b, ep, EPOLL_CTL_DEL, fd, 0, 0), 0);
		data += 2;
	}
}

// fd is epfd itself (same number or a dup of it), or epfd is not an epoll
// fd: EINVAL, after the EBADF/EPERM checks.
DIFF_TEST(ctl_errors, same_file_or_non_epoll_epfd_is_einval)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int d = b.dup(ep);
	int d2 = b.fcntl_dupfd(ep, 100, true);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	int sv[2];
	t.step("socketpair", b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	int efd = b.eventfd(0, EFD_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	for (int op : {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, OP_BOGUS}) {
		std::string w = "op " + std::to_string(op);
		check(t, w + " fd==epfd", ctl(b, ep, op, ep, EPOLLIN, D1), EINVAL);
		check(t, w + " fd=dup(epfd)", ctl(b, ep, op, d, EPOLLIN, D1), EINVAL);
		check(t, w + " epfd=dup, fd=epfd", ctl(b, d, op, ep, EPOLLIN, D1), EINVAL);
		check(t, w + " F_DUPFD of epfd", ctl(b, ep, op, d2, EPOLLIN, D1), EINVAL);
		check(t, w + " fd==epfd + EXCLUSIVE", ctl(b, ep, op, ep, EPOLLIN | EPOLLEXCLUSIVE, D1), EINVAL);
		check(t, w + " pipe as epfd", ctl(b, p[0], op, p[1], EPOLLIN, D1), EINVAL);
		check(t, w + " pipe as epfd, itself", ctl(b, p[0], op, p[0], EPOLLIN, D1), EINVAL);
		check(t, w + " socket as epfd", ctl(b, sv[0], op, p[0], EPOLLIN, D1), EINVAL);
		// uepoll's own epoll fds may be eventfds: a program's eventfd is not one.
		check(t, w + " eventfd as epfd", ctl(b, efd, op, p[0], EPOLLIN, D1), EINVAL);
		check(t, w + " eventfd as epfd, epoll target", ctl(b, efd, op, ep, EPOLLIN, D1), EINVAL);
		check(t, w + " timerfd as epfd", ctl(b, tfd, op, p[0], EPOLLIN, D1), EINVAL);
		check(t, w + " eventfd epfd + EXCLUSIVE MOD", ctl(b, efd, op, p[0], EPOLLIN | EPOLLEXCLUSIVE, D1),
		      EINVAL);
	}
	// The dup of an epoll fd works as an epfd.
	check(t, "ADD through dup(epfd)", ctl(b, d, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), 0);
	check(t, "ADD through epfd: same instance", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), EEXIST);
	check(t, "MOD through F_DUPFD(epfd)", ctl(b, d2, EPOLL_CTL_MOD, p[0], EPOLLIN, D2), 0);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait on epfd", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait on epfd = 1 {IN data=feedface00000003}");
}

// EPOLLEXCLUSIVE: only with ADD, never on an epoll target, and only with
// IN|OUT|ERR|HUP|WAKEUP|ET; without IN or OUT it is accepted.
DIFF_TEST(ctl_errors, exclusive_bit_rules)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int inner = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	const uint32_t X = EPOLLEXCLUSIVE;
	struct {
		const char *name;
		uint32_t bits;
	} refused[] = {{"ONESHOT", EPOLLIN | EPOLLONESHOT}, {"RDHUP", EPOLLIN | EPOLLRDHUP},
		       {"PRI", EPOLLIN | EPOLLPRI},	    {"RDNORM", EPOLLIN | EPOLLRDNORM},
		       {"WRNORM", EPOLLOUT | EPOLLWRNORM},  {"RDBAND", EPOLLIN | EPOLLRDBAND},
		       {"WRBAND", EPOLLOUT | EPOLLWRBAND},  {"MSG", EPOLLIN | EPOLLMSG},
		       {"bit 0x20", EPOLLIN | 0x20},	    {"bit 1<<20", EPOLLIN | (1u << 20)},
		       {"bit 1<<27", EPOLLIN | (1u << 27)}, {"ONESHOT alone", EPOLLONESHOT},
		       {"RDHUP alone", EPOLLRDHUP}};
	for (auto &r : refused)
		check(t, std::string("ADD EXCLUSIVE|") + r.name, ctl(b, ep, EPOLL_CTL_ADD, p[0], X | r.bits, D1), EINVAL);
	check(t, "ADD EXCLUSIVE of an epoll fd", ctl(b, ep, EPOLL_CTL_ADD, inner, X | EPOLLIN, D1), EINVAL);
	check(t, "ADD EXCLUSIVE alone of an epoll fd", ctl(b, ep, EPOLL_CTL_ADD, inner, X, D1), EINVAL);
	check(t, "MOD EXCLUSIVE of an absent item", ctl(b, ep, EPOLL_CTL_MOD, p[0], X | EPOLLIN, D1), EINVAL);
	check(t, "MOD EXCLUSIVE of an absent epoll fd", ctl(b, ep, EPOLL_CTL_MOD, inner, X | EPOLLIN, D1), EINVAL);
	check(t, "unknown op with EXCLUSIVE|ONESHOT", ctl(b, ep, OP_BOGUS, p[0], X | EPOLLONESHOT, D1), EINVAL);
	// None of the refused calls added anything.
	check(t, "MOD plain: still absent", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN, D1), ENOENT);
	check(t, "DEL inner: still absent", ctl(b, ep, EPOLL_CTL_DEL, inner, 0, 0), ENOENT);

	// Accepted combinations, each on a fresh instance.
	struct {
		const char *name;
		uint32_t bits;
	} accepted[] = {{"EXCLUSIVE alone", X},
			{"EXCLUSIVE|IN", X | EPOLLIN},
			{"EXCLUSIVE|OUT", X | EPOLLOUT},
			{"EXCLUSIVE|ERR|HUP", X | EPOLLERR | EPOLLHUP},
			{"EXCLUSIVE|ET", X | EPOLLET},
			{"EXCLUSIVE|IN|OUT|ERR|HUP|WAKEUP|ET", X | EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET}};
	for (auto &a : accepted) {
		int e = b.epoll_create1(EPOLL_CLOEXEC);
		check(t, std::string("ADD ") + a.name, ctl(b, e, EPOLL_CTL_ADD, p[0], a.bits, D1), 0);
		check(t, std::string("ADD again ") + a.name, ctl(b, e, EPOLL_CTL_ADD, p[0], a.bits, D1), EEXIST);
		b.close(e);
	}

	// EXCLUSIVE with neither IN nor OUT still reports ERR/HUP.
	check(t, "ADD EXCLUSIVE alone to ep", ctl(b, ep, EPOLL_CTL_ADD, p[0], X, D2), 0);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait with data", b.epoll_wait(ep, out, 4, 0), out);
	t.step("close writer", b.close(p[1]));
	t.events("wait after writer closed", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait with data = 0");
	expect_line(t, "wait after writer closed = 1 {HUP data=feedface00000003}");
}

// EXCLUSIVE on an epoll target is EINVAL even where the ADD would close a
// loop (that would otherwise be ELOOP).
DIFF_TEST(ctl_errors, exclusive_epoll_target_is_einval_before_eloop)
{
	int e1 = b.epoll_create1(EPOLL_CLOEXEC);
	int e2 = b.epoll_create1(EPOLL_CLOEXEC);
	check(t, "ADD e2 to e1", ctl(b, e1, EPOLL_CTL_ADD, e2, EPOLLIN, D1), 0);
	check(t, "ADD e1 to e2 EXCLUSIVE (cycle)", ctl(b, e2, EPOLL_CTL_ADD, e1, EPOLLIN | EPOLLEXCLUSIVE, D2), EINVAL);
	check(t, "ADD e1 to e2 (cycle)", ctl(b, e2, EPOLL_CTL_ADD, e1, EPOLLIN, D2), ELOOP);
	check(t, "ADD e1 to e2 EXCLUSIVE|ONESHOT (cycle)",
	      ctl(b, e2, EPOLL_CTL_ADD, e1, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, D2), EINVAL);
	// A present epoll item: EXCLUSIVE is EINVAL, not EEXIST.
	check(t, "ADD e2 to e1 again EXCLUSIVE", ctl(b, e1, EPOLL_CTL_ADD, e2, EPOLLIN | EPOLLEXCLUSIVE, D1), EINVAL);
	check(t, "ADD e2 to e1 again", ctl(b, e1, EPOLL_CTL_ADD, e2, EPOLLIN, D1), EEXIST);
}

// EXCLUSIVE checks come before the item lookup: a bad EXCLUSIVE ADD of a
// present item is EINVAL (not EEXIST), a good one EEXIST; an item added
// with EXCLUSIVE cannot be modified at all, but can be deleted.
DIFF_TEST(ctl_errors, exclusive_item_cannot_be_modified)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	check(t, "ADD EXCLUSIVE|IN", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE, D1), 0);
	check(t, "ADD again EXCLUSIVE|IN", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE, D1), EEXIST);
	check(t, "ADD again plain", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), EEXIST);
	check(t, "ADD again EXCLUSIVE|ONESHOT", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, D1),
	      EINVAL);
	check(t, "MOD plain", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN, D2), EINVAL);
	check(t, "MOD same mask", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, D2), EINVAL);
	check(t, "MOD to OUT", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLOUT, D2), EINVAL);
	check(t, "unknown op", ctl(b, ep, OP_BOGUS, p[0], EPOLLIN, D2), EINVAL);
	// The failed MODs did not change data or mask.
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait = 1 {IN data=feedface00000001}");
	check(t, "DEL", ctl(b, ep, EPOLL_CTL_DEL, p[0], 0, 0), 0);
	check(t, "MOD after DEL", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN, D2), ENOENT);
	check(t, "ADD plain", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D2), 0);
	check(t, "MOD plain item", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN, D3), 0);
	check(t, "MOD plain item to EXCLUSIVE", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLEXCLUSIVE, D2), EINVAL);
	t.events("wait after MOD", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait after MOD = 1 {IN data=feedface00000005}");
}

// The item lookup: ADD of a present (file, fd) is EEXIST, MOD/DEL of an
// absent one ENOENT.  Another fd number of the same file is another item.
DIFF_TEST(ctl_errors, eexist_and_enoent)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	check(t, "MOD absent", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN, D1), ENOENT);
	check(t, "DEL absent", ctl(b, ep, EPOLL_CTL_DEL, p[0], 0, 0), ENOENT);
	check(t, "ADD", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), 0);
	check(t, "ADD again", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), EEXIST);
	check(t, "ADD again other mask", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLOUT | EPOLLET, D2), EEXIST);
	check(t, "ADD again ONESHOT", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLONESHOT, D2), EEXIST);
	check(t, "MOD other end absent", ctl(b, ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, D2), ENOENT);
	int d = b.dup(p[0]);
	check(t, "MOD dup absent", ctl(b, ep, EPOLL_CTL_MOD, d, EPOLLIN, D2), ENOENT);
	check(t, "ADD dup", ctl(b, ep, EPOLL_CTL_ADD, d, EPOLLIN, D2), 0);
	check(t, "ADD dup again", ctl(b, ep, EPOLL_CTL_ADD, d, EPOLLIN, D2), EEXIST);
	check(t, "DEL", ctl(b, ep, EPOLL_CTL_DEL, p[0], 0, 0), 0);
	check(t, "DEL again", ctl(b, ep, EPOLL_CTL_DEL, p[0], 0, 0), ENOENT);
	check(t, "MOD after DEL", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN, D1), ENOENT);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait: only the dup", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait: only the dup = 1 {IN data=feedface00000003}");
	check(t, "ADD after DEL", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D3), 0);
	t.events("wait: both", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait: both = 2");
}

// An unknown op is EINVAL, but only after every earlier check passed; it
// changes nothing.
DIFF_TEST(ctl_errors, unknown_op_is_einval_last)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	int reg = regular_file();
	int bad = closed_fd(b);
	for (int op : {0, 4, 5, 7, 100, -1, INT_MIN, INT_MAX}) {
		std::string w = "op " + std::to_string(op);
		check(t, w + " absent", ctl(b, ep, op, p[0], EPOLLIN, D1), EINVAL);
		check(t, w + " bad epfd", ctl(b, bad, op, p[0], EPOLLIN, D1), EBADF);
		check(t, w + " bad fd", ctl(b, ep, op, bad, EPOLLIN, D1), EBADF);
		check(t, w + " regular", ctl(b, ep, op, reg, EPOLLIN, D1), EPERM);
		check(t, w + " fd==epfd", ctl(b, ep, op, ep, EPOLLIN, D1), EINVAL);
	}
	check(t, "ADD", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1), 0);
	for (int op : {0, 4, 100, -1})
		check(t, "op " + std::to_string(op) + " present", ctl(b, ep, op, p[0], EPOLLOUT, D2), EINVAL);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait = 1 {IN data=feedface00000001}");
}

// Bits with no meaning are accepted and kept (not reported, since no file
// reports them); ERR and HUP are always part of the interest.
DIFF_TEST(ctl_errors, undefined_event_bits_are_accepted)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	const uint32_t odd = 0x20 | (1u << 20) | (1u << 27) | (1u << 16) | 0x800;
	check(t, "ADD IN|odd bits", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | odd, D1), 0);
	if (b.is_native()) {
		EXPECT_EQ(native_interest(ep, p[0]), (long)(EPOLLIN | odd | EPOLLERR | EPOLLHUP));
	}
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait = 1 {IN data=feedface00000001}");
	check(t, "MOD odd bits only", ctl(b, ep, EPOLL_CTL_MOD, p[0], odd, D2), 0);
	t.events("wait, IN not wanted", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait, IN not wanted = 0");
	check(t, "MOD 0", ctl(b, ep, EPOLL_CTL_MOD, p[0], 0, D3), 0);
	check(t, "ADD write end with 0", ctl(b, ep, EPOLL_CTL_ADD, p[1], 0, D2), 0);
	t.events("wait, nothing wanted", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait, nothing wanted = 0");
	// With no reader left the write end reports ERR, wanted or not.
	t.step("close reader", b.close(p[0]));
	t.events("wait, reader gone: ERR on writer", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait, reader gone: ERR on writer = 1 {ERR data=feedface00000003}");
}

// EPOLLWAKEUP is accepted for ADD and MOD (also with EXCLUSIVE) and
// dropped on this kernel: it is never stored and never reported.
DIFF_TEST(ctl_errors, wakeup_is_accepted_and_dropped)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	check(t, "ADD IN|WAKEUP", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLWAKEUP, D1), 0);
	if (b.is_native()) {
		EXPECT_EQ(native_interest(ep, p[0]), (long)(EPOLLIN | EPOLLERR | EPOLLHUP));
	}
	check(t, "MOD IN|WAKEUP|ET", ctl(b, ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLWAKEUP | EPOLLET, D2), 0);
	if (b.is_native()) {
		EXPECT_EQ(native_interest(ep, p[0]), (long)(EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLET));
	}
	check(t, "ADD OUT|WAKEUP|EXCLUSIVE", ctl(b, ep, EPOLL_CTL_ADD, p[1], EPOLLOUT | EPOLLWAKEUP | EPOLLEXCLUSIVE, D3),
	      0);
	check(t, "ADD WAKEUP alone of dup", ctl(b, ep, EPOLL_CTL_ADD, b.dup(p[0]), EPOLLWAKEUP, D1), 0);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[4];
	t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "wait = 2 {IN data=feedface00000003} {OUT data=feedface00000005}");
}

// Successful calls leave errno alone.
DIFF_TEST(ctl_errors, errno_unchanged_on_success)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	struct {
		const char *name;
		int op;
		uint32_t events;
	} calls[] = {{"ADD", EPOLL_CTL_ADD, EPOLLIN},
		     {"MOD", EPOLL_CTL_MOD, EPOLLIN | EPOLLET},
		     {"MOD ONESHOT", EPOLL_CTL_MOD, EPOLLIN | EPOLLONESHOT},
		     {"DEL", EPOLL_CTL_DEL, 0},
		     {"ADD EXCLUSIVE", EPOLL_CTL_ADD, EPOLLIN | EPOLLEXCLUSIVE},
		     {"DEL again", EPOLL_CTL_DEL, 0}};
	for (auto &c : calls) {
		errno = 12345;
		int r = ctl(b, ep, c.op, p[0], c.events, D1);
		int e = errno;
		check(t, c.name, r, 0);
		t.step(std::string(c.name) + " errno kept", e == 12345);
		EXPECT_EQ(e, 12345) << c.name;
	}
	// After a failure, a success does not clear errno either.
	EXPECT_EQ(ctl(b, ep, EPOLL_CTL_DEL, p[0], 0, 0), -1);
	int r = ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1);
	int e = errno;
	check(t, "ADD after failed DEL", r, 0);
	t.step("errno still ENOENT", e == ENOENT);
	EXPECT_EQ(e, ENOENT);
}
