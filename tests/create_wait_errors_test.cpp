// tests/create_wait_errors_test.cpp - epoll_create/epoll_create1 and epoll_wait/pwait/pwait2 errors, their order, EMFILE and faulting event buffers.
#include <cerrno>
#include <climits>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

namespace {

constexpr uint64_t D1 = 0xfeedface00000001ULL;
constexpr uint64_t D2 = 0xfeedface00000003ULL;

// The largest maxevents the kernel takes: INT_MAX / sizeof(struct epoll_event).
constexpr int EP_MAX_EVENTS = (int)(INT_MAX / sizeof(struct epoll_event));

// In the executable's .bss (low addresses): a range of EP_MAX_EVENTS events
// starting here stays inside user space, which a stack or mmap address
// near the top of the address space would not.
epoll_event low_buf[4];

std::string ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : std::to_string(e);
}

// Records the result and checks it: want >= 0 is the value the call must
// return, want < 0 is minus the errno it must fail with.
void check(trace &t, const std::string &what, long ret, int want)
{
	int e = errno;
	t.step(what, ret);
	if (want >= 0) {
		EXPECT_EQ(ret, want) << what << ": " << ename(e);
	} else {
		EXPECT_EQ(ret, -1) << what;
		if (ret == -1) {
			EXPECT_EQ(e, -want) << what << ": got " << ename(e) << ", want " << ename(-want);
		}
	}
	errno = e;
}

void expect_line(const trace &t, const std::string &needle)
{
	EXPECT_TRUE(t.contains(needle)) << "no line with: " << needle << "\n" << t.str();
}

// fd numbers may differ between the runs (uepoll may hold fds of its own):
// record whether a creation worked, not the number.
long fdres(long fd) { return fd < 0 ? fd : 0; }

int ctl(backend &b, int ep, int op, int fd, uint32_t events, uint64_t data)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = data;
	return b.epoll_ctl(ep, op, fd, &ev);
}

int closed_fd(backend &b)
{
	int fd = b.eventfd(0, EFD_CLOEXEC);
	EXPECT_GE(fd, 0);
	b.close(fd);
	return fd;
}

int o_path_of(int fd)
{
	std::string p = "/proc/self/fd/" + std::to_string(fd);
	int r = ::open(p.c_str(), O_PATH | O_CLOEXEC);
	EXPECT_GE(r, 0) << p;
	return r;
}

// Two pages: the first read-write, the second PROT_NONE.
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
};

// A read-only page.
struct ro_page {
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	void *p = nullptr;
	ro_page()
	{
		p = mmap(nullptr, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		EXPECT_NE(p, MAP_FAILED);
	}
	~ro_page() { munmap(p, pg); }
};

void *const KERNEL_PTR = (void *)0xffff800000000000ULL;

// An epoll instance with a pipe whose read end is ready, watched with the
// given flags.
struct ready_instance {
	int ep = -1;
	int p[2] = {-1, -1};
	ready_instance(backend &b, trace &t, uint32_t flags = 0)
	{
		ep = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("pipe", b.pipe2(p, O_CLOEXEC));
		t.step("add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | flags, D1));
		t.step("write", b.write(p[1], "x", 1));
	}
};

// The three waits, each with timeout 0 (pwait2: {0, 0}) and the given mask.
enum class waiter { wait, pwait, pwait2 };
const char *wname(waiter w) { return w == waiter::wait ? "wait" : w == waiter::pwait ? "pwait" : "pwait2"; }

int do_wait(backend &b, waiter w, int ep, void *evs, int max, const sigset_t *mask = nullptr)
{
	static const timespec zero{0, 0};
	switch (w) {
	case waiter::wait:
		return b.epoll_wait(ep, (epoll_event *)evs, max, 0);
	case waiter::pwait:
		return b.epoll_pwait(ep, (epoll_event *)evs, max, 0, mask);
	default:
		return b.epoll_pwait2(ep, (epoll_event *)evs, max, &zero, mask);
	}
}

constexpr waiter all_waiters[] = {waiter::wait, waiter::pwait, waiter::pwait2};

// Open fds of this process (/proc/self/fd, minus the one used to list it).
int count_fds()
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	while (dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

} // namespace

// epoll_create: size is only checked for > 0; the fd is not close-on-exec
// and reads as O_RDWR.
DIFF_TEST(create_wait_errors, epoll_create_size_and_flags)
{
	for (int size : {0, -1, INT_MIN})
		check(t, "epoll_create(" + std::to_string(size) + ")", fdres(b.epoll_create(size)), -EINVAL);
	for (int size : {1, 2, 1000, INT_MAX}) {
		std::string w = "epoll_create(" + std::to_string(size) + ")";
		int ep = b.epoll_create(size);
		check(t, w, fdres(ep), 0);
		int fdfl = fcntl(ep, F_GETFD);
		int flfl = fcntl(ep, F_GETFL);
		t.step(w + " F_GETFD", fdfl);
		t.step(w + " F_GETFL", flfl);
		EXPECT_EQ(fdfl, 0) << w;
		EXPECT_EQ(flfl, O_RDWR) << w;
		b.close(ep);
	}
}

// epoll_create1: EPOLL_CLOEXEC is the only flag.
DIFF_TEST(create_wait_errors, epoll_create1_flags)
{
	struct {
		const char *name;
		int flags;
	} bad[] = {{"1", 1},
		   {"O_NONBLOCK", O_NONBLOCK},
		   {"EPOLL_CLOEXEC|O_NONBLOCK", EPOLL_CLOEXEC | O_NONBLOCK},
		   {"EPOLL_CLOEXEC|1", EPOLL_CLOEXEC | 1},
		   {"O_RDWR", O_RDWR},
		   {"-1", -1},
		   {"INT_MIN", INT_MIN},
		   {"EFD_SEMAPHORE", EFD_SEMAPHORE}};
	for (auto &f : bad)
		check(t, std::string("epoll_create1(") + f.name + ")", fdres(b.epoll_create1(f.flags)), -EINVAL);
	for (int flags : {0, (int)EPOLL_CLOEXEC}) {
		std::string w = flags ? "epoll_create1(EPOLL_CLOEXEC)" : "epoll_create1(0)";
		int ep = b.epoll_create1(flags);
		check(t, w, fdres(ep), 0);
		int fdfl = fcntl(ep, F_GETFD);
		int flfl = fcntl(ep, F_GETFL);
		t.step(w + " F_GETFD", fdfl);
		t.step(w + " F_GETFL", flfl);
		EXPECT_EQ(fdfl, flags ? FD_CLOEXEC : 0) << w;
		EXPECT_EQ(flfl, O_RDWR) << w;
		b.close(ep);
	}
}

// With RLIMIT_NOFILE exhausted, creation fails with EMFILE and leaks
// nothing; with exactly one free fd it works.
DIFF_TEST(create_wait_errors, emfile_when_no_fd_is_free)
{
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	// Warm up: whatever uepoll sets up once per process is set up now.
	{
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("warm-up add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1));
		epoll_event out[2];
		t.events("warm-up wait", b.epoll_wait(ep, out, 2, 0), out);
		t.step("warm-up close", b.close(ep));
	}
	int before = count_fds();
	rlimit old{};
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	rlimit low = old;
	low.rlim_cur = 64;
	ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	std::vector<int> fill;
	int last = 0;
	for (int i = 0; i < 100; i++) {
		int d = b.dup(p[0]);
		if (d < 0) {
			last = errno;
			break;
		}
		fill.push_back(d);
	}
	t.step("filling stopped with EMFILE", last == EMFILE);
	ASSERT_EQ(last, EMFILE);
	check(t, "epoll_create(1)", fdres(b.epoll_create(1)), -EMFILE);
	check(t, "epoll_create1(0)", fdres(b.epoll_create1(0)), -EMFILE);
	check(t, "epoll_create1(EPOLL_CLOEXEC)", fdres(b.epoll_create1(EPOLL_CLOEXEC)), -EMFILE);
	// Flags are checked before a free fd is looked for.
	check(t, "epoll_create(0)", fdres(b.epoll_create(0)), -EINVAL);
	check(t, "epoll_create1(1)", fdres(b.epoll_create1(1)), -EINVAL);
	check(t, "still full", fdres(b.dup(p[0])), -EMFILE);

	// One free fd is enough for an instance that works.
	b.close(fill.back());
	fill.pop_back();
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	check(t, "epoll_create1 with one free fd", fdres(ep), 0);
	check(t, "then full again", fdres(b.dup(p[0])), -EMFILE);
	check(t, "add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D2), 0);
	t.step("write", b.write(p[1], "x", 1));
	epoll_event out[2];
	int n = b.epoll_wait(ep, out, 2, 0);
	t.events("wait", n, out);
	expect_line(t, "wait = 1 {IN data=feedface00000003}");
	t.step("close ep", b.close(ep));

	for (int d : fill)
		b.close(d);
	ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	int after = count_fds();
	t.step("fd count unchanged", before == after);
	EXPECT_EQ(before, after);
}

// pwait2 reads and checks its timeout before anything else.
DIFF_TEST(create_wait_errors, pwait2_timeout_checked_first)
{
	guard_pages g;
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int bad = closed_fd(b);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	epoll_event out[4];
	sigset_t *bad_mask = (sigset_t *)1;
	struct {
		const char *name;
		const timespec *ts;
	} unreadable[] = {{"(void*)1", (const timespec *)1},
			  {"PROT_NONE", (const timespec *)g.boundary()},
			  {"straddling", (const timespec *)(g.boundary() - 8)},
			  {"kernel", (const timespec *)KERNEL_PTR}};
	for (auto &u : unreadable) {
		std::string w = std::string("timeout ") + u.name;
		check(t, w, b.epoll_pwait2(ep, out, 4, u.ts, nullptr), -EFAULT);
		check(t, w + " bad epfd", b.epoll_pwait2(bad, out, 4, u.ts, nullptr), -EFAULT);
		check(t, w + " maxevents 0", b.epoll_pwait2(ep, out, 0, u.ts, nullptr), -EFAULT);
		check(t, w + " kernel events", b.epoll_pwait2(ep, (epoll_event *)KERNEL_PTR, 4, u.ts, nullptr), -EFAULT);
		check(t, w + " bad mask", b.epoll_pwait2(ep, out, 4, u.ts, bad_mask), -EFAULT);
		check(t, w + " pipe as epfd", b.epoll_pwait2(p[0], out, 4, u.ts, nullptr), -EFAULT);
	}
	struct {
		const char *name;
		timespec ts;
	} invalid[] = {{"tv_sec -1", {-1, 0}},
		       {"tv_nsec -1", {0, -1}},
		       {"tv_nsec 1e9", {0, 1000000000}},
		       {"tv_sec LONG_MIN", {LONG_MIN, 0}},
		       {"tv_nsec LONG_MAX", {0, LONG_MAX}}};
	for (auto &iv : invalid) {
		std::string w = std::string("timeout ") + iv.name;
		check(t, w, b.epoll_pwait2(ep, out, 4, &iv.ts, nullptr), -EINVAL);
		check(t, w + " bad epfd", b.epoll_pwait2(bad, out, 4, &iv.ts, nullptr), -EINVAL);
		check(t, w + " kernel events", b.epoll_pwait2(ep, (epoll_event *)KERNEL_PTR, 4, &iv.ts, nullptr),
		      -EINVAL);
		check(t, w + " bad mask", b.epoll_pwait2(ep, out, 4, &iv.ts, bad_mask), -EINVAL);
		check(t, w + " bad mask + bad epfd", b.epoll_pwait2(bad, out, 4, &iv.ts, bad_mask), -EINVAL);
	}
	// Edge values that are valid.
	timespec tiny{0, 1};
	check(t, "timeout {0,1}", b.epoll_pwait2(ep, out, 4, &tiny, nullptr), 0);
	timespec *edge = (timespec *)(g.boundary() - sizeof(timespec));
	*edge = {0, 0};
	check(t, "timeout ending at the guard page", b.epoll_pwait2(ep, out, 4, edge, nullptr), 0);
}

// A non-NULL mask is read before the epfd and maxevents are checked (libc
// always passes sigsetsize 8, so only an unreadable mask can be tried).
DIFF_TEST(create_wait_errors, unreadable_sigmask_is_efault_before_epfd)
{
	guard_pages g;
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int bad = closed_fd(b);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	epoll_event out[4];
	struct {
		const char *name;
		const sigset_t *mask;
	} masks[] = {{"(void*)1", (const sigset_t *)1},
		     {"PROT_NONE", (const sigset_t *)g.boundary()},
		     {"straddling", (const sigset_t *)(g.boundary() - 4)},
		     {"kernel", (const sigset_t *)KERNEL_PTR}};
	for (waiter w : {waiter::pwait, waiter::pwait2}) {
		for (auto &m : masks) {
			std::string s = std::string(wname(w)) + " mask " + m.name;
			check(t, s, do_wait(b, w, ep, out, 4, m.mask), -EFAULT);
			check(t, s + " bad epfd", do_wait(b, w, bad, out, 4, m.mask), -EFAULT);
			check(t, s + " maxevents 0", do_wait(b, w, ep, out, 0, m.mask), -EFAULT);
			check(t, s + " kernel events", do_wait(b, w, ep, KERNEL_PTR, 4, m.mask), -EFAULT);
			check(t, s + " pipe as epfd", do_wait(b, w, p[0], out, 4, m.mask), -EFAULT);
		}
		// The kernel reads only 8 bytes: a mask that ends there is fine.
		sigset_t *edge = (sigset_t *)(g.boundary() - 8);
		memset(edge, 0, 8);
		check(t, std::string(wname(w)) + " mask of 8 bytes before the guard page", do_wait(b, w, ep, out, 4, edge),
		      0);
		sigset_t empty;
		sigemptyset(&empty);
		check(t, std::string(wname(w)) + " good mask", do_wait(b, w, ep, out, 4, &empty), 0);
	}
}

// epfd not open or O_PATH: EBADF, which this kernel checks before
// maxevents and before the address of the events.
DIFF_TEST(create_wait_errors, bad_epfd_is_ebadf_first)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int bad = closed_fd(b);
	int ep_path = o_path_of(ep);
	int ep2 = b.epoll_create1(0);
	t.step("close ep2", b.close(ep2));
	epoll_event out[4];
	struct {
		const char *name;
		int fd;
	} fds[] = {{"closed", bad}, {"-1", -1}, {"INT_MAX", INT_MAX}, {"O_PATH of the epoll fd", ep_path}, {"closed epoll fd", ep2}};
	for (waiter w : all_waiters) {
		for (auto &f : fds) {
			std::string s = std::string(wname(w)) + " epfd " + f.name;
			check(t, s, do_wait(b, w, f.fd, out, 4), -EBADF);
			check(t, s + " maxevents 0", do_wait(b, w, f.fd, out, 0), -EBADF);
			check(t, s + " maxevents -1", do_wait(b, w, f.fd, out, -1), -EBADF);
			check(t, s + " maxevents too big", do_wait(b, w, f.fd, out, EP_MAX_EVENTS + 1), -EBADF);
			check(t, s + " kernel events", do_wait(b, w, f.fd, KERNEL_PTR, 4), -EBADF);
			check(t, s + " NULL events", do_wait(b, w, f.fd, nullptr, 4), -EBADF);
		}
	}
}

// maxevents must be in 1..INT_MAX/sizeof(struct epoll_event); the
// largest value works even with a small buffer (only ready events are
// written).
DIFF_TEST(create_wait_errors, maxevents_range)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	for (waiter w : all_waiters) {
		for (int m : {0, -1, INT_MIN, EP_MAX_EVENTS + 1, INT_MAX}) {
			std::string s = std::string(wname(w)) + " maxevents " + std::to_string(m);
			check(t, s, do_wait(b, w, ep, low_buf, m), -EINVAL);
			// maxevents before the address check and before "not an epoll fd".
			check(t, s + " kernel events", do_wait(b, w, ep, KERNEL_PTR, m), -EINVAL);
			check(t, s + " pipe as epfd", do_wait(b, w, p[0], low_buf, m), -EINVAL);
		}
		std::string s = std::string(wname(w)) + " maxevents max";
		check(t, s + ", nothing ready", do_wait(b, w, ep, low_buf, EP_MAX_EVENTS), 0);
		check(t, s + ", NULL events, nothing ready", do_wait(b, w, ep, nullptr, EP_MAX_EVENTS), 0);
	}
	t.step("add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1));
	t.step("write", b.write(p[1], "x", 1));
	for (waiter w : all_waiters) {
		memset(low_buf, 0, sizeof low_buf);
		int n = do_wait(b, w, ep, low_buf, EP_MAX_EVENTS);
		t.events(std::string(wname(w)) + " maxevents max, one ready", n, low_buf);
		EXPECT_EQ(n, 1);
	}
	expect_line(t, "pwait2 maxevents max, one ready = 1 {IN data=feedface00000001}");
}

// The events range must lie in user space: a kernel address or a range
// running past the top is EFAULT whether or not anything is ready.
DIFF_TEST(create_wait_errors, events_range_outside_user_space_is_efault)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	struct {
		const char *name;
		void *ptr;
		int max;
	} ranges[] = {{"kernel address", KERNEL_PTR, 1},
		      {"kernel address, many", KERNEL_PTR, 100},
		      {"non-canonical", (void *)0x0000800000000000ULL, 1},
		      {"all ones", (void *)~0ULL, 1},
		      {"crossing the top", (void *)0x00007fffffff0000ULL, 0x10000},
		      {"maximum size running past the top", (void *)0x00007fffc0000000ULL, EP_MAX_EVENTS}};
	for (int round = 0; round < 2; round++) {
		for (waiter w : all_waiters) {
			for (auto &r : ranges) {
				std::string s = std::string(round ? "ready: " : "idle: ") + wname(w) + " " + r.name;
				check(t, s, do_wait(b, w, ep, r.ptr, r.max), -EFAULT);
			}
			// The address check comes before "not an epoll fd".
			check(t, std::string(wname(w)) + " pipe as epfd, kernel events", do_wait(b, w, p[0], KERNEL_PTR, 1),
			      -EFAULT);
		}
		if (round == 0) {
			t.step("add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, D1));
			t.step("write", b.write(p[1], "x", 1));
		}
	}
	// The faults consumed nothing: the edge is still there.
	epoll_event out[4];
	t.events("good wait", b.epoll_wait(ep, out, 4, 0), out);
	expect_line(t, "good wait = 1 {IN data=feedface00000001}");
}

// A user address that cannot be written (NULL, (void*)1, read-only or
// PROT_NONE memory) is not an error while nothing is ready.
DIFF_TEST(create_wait_errors, unwritable_events_fine_while_nothing_ready)
{
	guard_pages g;
	ro_page ro;
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	t.step("add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1));
	struct {
		const char *name;
		void *ptr;
	} ptrs[] = {{"NULL", nullptr}, {"(void*)1", (void *)1}, {"read-only", ro.p}, {"PROT_NONE", g.boundary()}};
	for (waiter w : all_waiters)
		for (auto &pt : ptrs)
			check(t, std::string(wname(w)) + " " + pt.name, do_wait(b, w, ep, pt.ptr, 4), 0);
	// With a short bound too (the call blocks, then returns 0).
	check(t, "wait NULL, 20 ms", b.epoll_wait(ep, nullptr, 4, 20), 0);
	// A non-epoll epfd is still EINVAL (it is checked after the address).
	for (waiter w : all_waiters)
		check(t, std::string(wname(w)) + " pipe as epfd, NULL", do_wait(b, w, p[0], nullptr, 4), -EINVAL);
}

// With something ready, the first event that cannot be written is EFAULT
// and nothing is lost: the next good wait reports it.
DIFF_TEST(create_wait_errors, unwritable_events_efault_when_ready)
{
	guard_pages g;
	ro_page ro;
	struct {
		const char *name;
		void *ptr;
	} ptrs[] = {{"NULL", nullptr},
		    {"(void*)1", (void *)1},
		    {"read-only", ro.p},
		    {"PROT_NONE", g.boundary()},
		    {"straddling", g.boundary() - 6}};
	for (uint32_t flags : {0u, (uint32_t)EPOLLET, (uint32_t)EPOLLONESHOT}) {
		ready_instance r(b, t, flags);
		for (waiter w : all_waiters)
			for (auto &pt : ptrs)
				check(t, std::string(wname(w)) + " " + pt.name, do_wait(b, w, r.ep, pt.ptr, 4), -EFAULT);
		epoll_event out[4];
		int n = b.epoll_wait(r.ep, out, 4, 0);
		t.events("good wait", n, out);
		EXPECT_EQ(n, 1) << "flags " << flags;
	}
}

// The first event fits, the second crosses into a PROT_NONE page: the call
// returns 1 and the second item stays queued, ahead of the first.
DIFF_TEST(create_wait_errors, partial_copy_returns_what_fit)
{
	guard_pages g;
	// Slot 0 ends 6 bytes before the boundary; slot 1 crosses it.
	epoll_event *evs = (epoll_event *)(g.boundary() - sizeof(epoll_event) - 6);
	for (uint32_t flags : {0u, (uint32_t)EPOLLET}) {
		std::string m = flags ? "ET " : "LT ";
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		int a[2], c[2];
		t.step(m + "pipe a", b.pipe2(a, O_CLOEXEC));
		t.step(m + "pipe c", b.pipe2(c, O_CLOEXEC));
		t.step(m + "write a", b.write(a[1], "x", 1));
		t.step(m + "write c", b.write(c[1], "x", 1));
		// Both ready at ADD: the ready list holds a, then c.
		t.step(m + "add a", ctl(b, ep, EPOLL_CTL_ADD, a[0], EPOLLIN | flags, D1));
		t.step(m + "add c", ctl(b, ep, EPOLL_CTL_ADD, c[0], EPOLLIN | flags, D2));
		memset(evs, 0, sizeof(epoll_event));
		int n = b.epoll_wait(ep, evs, 2, 0);
		t.events(m + "partial", n, evs, true);
		EXPECT_EQ(n, 1);
		epoll_event out[4];
		n = b.epoll_wait(ep, out, 4, 0);
		t.events(m + "next", n, out, true);
		n = b.epoll_wait(ep, out, 4, 0);
		t.events(m + "after", n, out, true);
		b.close(ep);
	}
	expect_line(t, "LT partial = 1 {IN data=feedface00000001}");
	expect_line(t, "LT next = 2 {IN data=feedface00000003} {IN data=feedface00000001}");
	expect_line(t, "ET partial = 1 {IN data=feedface00000001}");
	expect_line(t, "ET next = 1 {IN data=feedface00000003}");
	expect_line(t, "ET after = 0");
}

// A fault on the very first event leaves the ready list as it was.
DIFF_TEST(create_wait_errors, fault_on_first_event_keeps_order)
{
	guard_pages g;
	for (uint32_t flags : {0u, (uint32_t)EPOLLET}) {
		std::string m = flags ? "ET " : "LT ";
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		int a[2], c[2];
		t.step(m + "pipe a", b.pipe2(a, O_CLOEXEC));
		t.step(m + "pipe c", b.pipe2(c, O_CLOEXEC));
		t.step(m + "write a", b.write(a[1], "x", 1));
		t.step(m + "write c", b.write(c[1], "x", 1));
		t.step(m + "add a", ctl(b, ep, EPOLL_CTL_ADD, a[0], EPOLLIN | flags, D1));
		t.step(m + "add c", ctl(b, ep, EPOLL_CTL_ADD, c[0], EPOLLIN | flags, D2));
		check(t, m + "fault", b.epoll_wait(ep, (epoll_event *)g.boundary(), 2, 0), -EFAULT);
		epoll_event out[4];
		int n = b.epoll_wait(ep, out, 4, 0);
		t.events(m + "next", n, out, true);
		EXPECT_EQ(n, 2);
		b.close(ep);
	}
	expect_line(t, "LT next = 2 {IN data=feedface00000001} {IN data=feedface00000003}");
	expect_line(t, "ET next = 2 {IN data=feedface00000001} {IN data=feedface00000003}");
}

// epfd open but not an epoll fd: EINVAL, the last check.
DIFF_TEST(create_wait_errors, non_epoll_epfd_is_einval)
{
	int p[2];
	t.step("pipe", b.pipe2(p, O_CLOEXEC));
	int sv[2];
	t.step("socketpair", b.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	int efd = b.eventfd(1, EFD_CLOEXEC);
	int dn = ::open("/dev/null", O_RDWR | O_CLOEXEC);
	EXPECT_GE(dn, 0);
	epoll_event out[4];
	struct {
		const char *name;
		int fd;
	} fds[] = {{"pipe", p[0]}, {"socket", sv[0]}, {"eventfd", efd}, {"/dev/null", dn}};
	for (waiter w : all_waiters)
		for (auto &f : fds)
			check(t, std::string(wname(w)) + " " + f.name, do_wait(b, w, f.fd, out, 4), -EINVAL);
	// Nothing was read from the eventfd.
	uint64_t v = 0;
	t.step("eventfd read", b.read(efd, &v, sizeof v));
	t.step("eventfd value", (long)v);
	EXPECT_EQ(v, 1u);
}

// Successful creates and waits leave errno alone.
DIFF_TEST(create_wait_errors, errno_unchanged_on_success)
{
	auto kept = [&](const std::string &what, long r) {
		int e = errno;
		t.step(what, r);
		t.step(what + " errno kept", e == 12345);
		EXPECT_EQ(e, 12345) << what;
	};
	errno = 12345;
	int ep = b.epoll_create(1);
	kept("epoll_create", fdres(ep));
	errno = 12345;
	int ep1 = b.epoll_create1(EPOLL_CLOEXEC);
	kept("epoll_create1", fdres(ep1));
	epoll_event out[4];
	for (int round = 0; round < 2; round++) {
		std::string m = round ? "ready: " : "idle: ";
		for (waiter w : all_waiters) {
			errno = 12345;
			int n = do_wait(b, w, ep, out, 4);
			kept(m + wname(w), n);
		}
		sigset_t empty;
		sigemptyset(&empty);
		errno = 12345;
		kept(m + "pwait with mask", b.epoll_pwait(ep, out, 4, 0, &empty));
		errno = 12345;
		kept(m + "wait 10 ms", b.epoll_wait(ep, out, 4, round ? 5000 : 10));
		if (round == 0) {
			int p[2];
			t.step("pipe", b.pipe2(p, O_CLOEXEC));
			t.step("add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1));
			t.step("write", b.write(p[1], "x", 1));
		}
	}
	errno = 12345;
	kept("close", b.close(ep1));
}

// An epoll fd closed behind the epoll layer's back (a system call no hook
// sees: a program's own syscall instruction) is not open: epoll_wait fails
// with EBADF as fdget() does, whatever the instance holds and however long
// the wait would block: an armed item (the first look's poll checks the
// number), nothing at all (timeout 0: a poll of its own; blocking: the
// blocking poll checks it), a queued item with nothing armed.  Then the
// number is gone for close() too.
DIFF_TEST(create_wait_errors, epfd_closed_unseen_is_ebadf)
{
	const char *cases[] = {"armed item", "empty, timeout 0", "empty, blocking", "queued item"};
	for (int k = 0; k < 4; k++) {
		std::string c = std::string(cases[k]) + ": ";
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		int p[2];
		t.step(c + "pipe", b.pipe2(p, O_NONBLOCK | O_CLOEXEC));
		if (k == 0)
			t.step(c + "add", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D1));
		if (k == 3) {
			t.step(c + "write", b.write(p[1], "x", 1));
			t.step(c + "add ready", ctl(b, ep, EPOLL_CTL_ADD, p[0], EPOLLIN, D2));
		}
		ASSERT_EQ(syscall(SYS_close, ep), 0);
		epoll_event out[4];
		check(t, c + "wait", b.epoll_wait(ep, out, 4, k == 2 ? 5000 : 0), -EBADF);
		check(t, c + "wait again", b.epoll_wait(ep, out, 4, 0), -EBADF);
		check(t, c + "close", b.close(ep), -EBADF);
		b.close(p[0]);
		b.close(p[1]);
	}
}
