// tests/sandbox_test.cpp - epoll inside a seccomp sandbox that refuses the
// calls uepoll would rather use: kcmp (file identity) and
// process_vm_readv/writev (user copies that report EFAULT instead of
// faulting).  Docker's and podman's default profiles refuse all three to a
// container without CAP_SYS_PTRACE.  Each scenario installs the filter in
// its own forked child (DIFF_TEST isolates both runs), so native epoll runs
// under the same filter; it must not care, and uepoll must fall back
// (interpose/sys.hpp) and answer the same.
#include <cerrno>
#include <cstdio>
#include <string>
#include <cstddef>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <poll.h>
#include <unistd.h>
#include <vector>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::backend;
using uepoll::test::run_isolated;
using uepoll::test::scenario;
using uepoll::test::trace;

namespace {

// Installs, for every thread of this process, a filter that answers each
// of `nrs` with EPERM (as Docker's default profile does) and allows the rest.
bool refuse_syscalls(const std::vector<int> &nrs)
{
	std::vector<sock_filter> f = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	};
	for (int nr : nrs) {
		f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1));
		f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
	}
	f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	sock_fprog prog = {static_cast<unsigned short>(f.size()), f.data()};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return false;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0;
}

// The filter really refuses what it names (else the scenarios below would
// test nothing): recorded in the trace, so both runs must agree on it.
void record_refusals(trace &t)
{
	pid_t me = getpid();
	t.step("kcmp refused", syscall(SYS_kcmp, me, me, 0 /* KCMP_FILE */, 0, 0) == -1 && errno == EPERM);
	char a = 0, b = 0;
	iovec l = {&a, 1}, r = {&b, 1};
	t.step("process_vm_readv refused", syscall(SYS_process_vm_readv, me, &l, 1, &r, 1, 0) == -1 && errno == EPERM);
}

} // namespace

// Copies to and from the caller's memory: good pointers work, bad ones are
// EFAULT, with process_vm_* refused.
DIFF_TEST(sandbox, user_copies_without_process_vm)
{
	ASSERT_TRUE(refuse_syscalls({SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp}));
	record_refusals(t);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int efd = b.eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	t.step("add (a valid event)", add(b, ep, efd, EPOLLIN, 0x5a5a));
	t.step("add (event pointer 1)", b.epoll_ctl(ep, EPOLL_CTL_MOD, efd, reinterpret_cast<epoll_event *>(1)));
	epoll_event evs[4];
	int n = b.epoll_wait(ep, evs, 4, 0);
	t.events("wait, one ready", n, evs);
	// A read-only page: epoll_wait cannot copy its events there.
	void *ro = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(ro, MAP_FAILED);
	t.step("wait into a read-only page", b.epoll_wait(ep, static_cast<epoll_event *>(ro), 4, 0));
	// A page with no access at all: neither side may copy through it.
	void *none = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(none, MAP_FAILED);
	t.step("mod (event in a PROT_NONE page)", b.epoll_ctl(ep, EPOLL_CTL_MOD, efd, static_cast<epoll_event *>(none)));
	t.step("wait into a PROT_NONE page", b.epoll_wait(ep, static_cast<epoll_event *>(none), 4, 0));
	munmap(none, 4096);
	t.step("wait into an unmapped address", b.epoll_wait(ep, reinterpret_cast<epoll_event *>(8), 4, 0));
	timespec ts = {0, 0};
	n = b.epoll_pwait2(ep, evs, 4, &ts, nullptr);
	t.events("pwait2, timespec copied", n, evs);
	t.step("pwait2, timespec at address 8",
	       b.epoll_pwait2(ep, evs, 4, reinterpret_cast<const timespec *>(8), nullptr));
	sigset_t mask;
	sigemptyset(&mask);
	n = b.epoll_pwait(ep, evs, 4, 0, &mask);
	t.events("pwait, mask copied", n, evs);
	munmap(ro, 4096);
}

// An item lives as long as its file: a copy made by a call uepoll does not
// see (syscall(SYS_dup)) keeps it after the original number is closed, with
// kcmp refused.  (Compares the pipe's read end with its copy; the write
// end, same inode, is not taken for it: the open flags differ.)
DIFF_TEST(sandbox, dup_behind_the_shim_keeps_the_item_without_kcmp)
{
	ASSERT_TRUE(refuse_syscalls({SYS_kcmp}));
	record_refusals(t);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	// Made by a call uepoll does not see either: it cannot know which
	// numbers share the file, and must compare files to find out.
	int p[2];
	ASSERT_EQ(syscall(SYS_pipe2, p, O_NONBLOCK | O_CLOEXEC), 0);
	t.step("add read end", add(b, ep, p[0], EPOLLIN, 0x77));
	int copy = static_cast<int>(syscall(SYS_dup, p[0]));
	ASSERT_GE(copy, 0);
	t.step("close the original number", b.close(p[0]));
	t.step("write", b.write(p[1], "x", 1));
	epoll_event evs[4];
	int n = b.epoll_wait(ep, evs, 4, 0);
	t.events("wait: the item is still there", n, evs);
	// The copy is the same file through another number: a new item, keyed
	// (file, fd) as the kernel keys it.
	t.step("add the copy (same file, new fd)", add(b, ep, copy, EPOLLIN, 0x78));
	n = b.epoll_wait(ep, evs, 4, 0);
	t.events("wait: both items", n, evs);
}

// Deviation 8 (docs/deviations.md): without kcmp, two opens of one FIFO
// with the same flags look like one open file.  The item of the first is
// kept alive through the second after the first is closed, where the
// kernel removes it with its file.
TEST(sandbox, deviation_fifo_opened_twice_looks_like_one_file_without_kcmp)
{
	std::string path = "/tmp/uepoll-sandbox-fifo-" + std::to_string(getpid());
	ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
	scenario fn = [&path](backend &b, trace &t) {
		ASSERT_TRUE(refuse_syscalls({SYS_kcmp}));
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		// Two open file descriptions of one FIFO, by calls uepoll does not see.
		int r1 = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
		int r2 = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
		int w = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
		ASSERT_TRUE(r1 >= 0 && r2 >= 0 && w >= 0);
		t.step("add first reader", add(b, ep, r1, EPOLLIN, 0x81));
		t.step("close first reader", b.close(r1));
		t.step("write", b.write(w, "x", 1));
		epoll_event evs[4];
		t.events("wait", b.epoll_wait(ep, evs, 4, 0), evs);
	};
	const std::vector<std::string> native = {
		"add first reader = 0",
		"close first reader = 0",
		"write = 1",
		"wait = 0",
	};
	uepoll::test::expect_deviation(fn, native, {{3, "wait = 1 {IN data=81}"}});
	unlink(path.c_str());
}

namespace {

// A timerfd made by a call uepoll does not see, expired already or not.
int unseen_timerfd(bool expired)
{
	int fd = static_cast<int>(syscall(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
	if (fd >= 0 && expired) {
		itimerspec its{};
		its.it_value.tv_nsec = 1000; // 1 us: expired by the time anyone looks
		syscall(SYS_timerfd_settime, fd, 0, &its, nullptr);
		pollfd p{fd, POLLIN, 0};
		poll(&p, 1, 5000);
	}
	return fd;
}

} // namespace

// Two timerfds made alike behind uepoll's back are two files, with kcmp
// refused too: an anon-inode file has the same (dev, ino) as every other
// and a timerfd no id, so uepoll once took the second for a copy of the
// first, whose item then outlived its only number (uepoll-fuzz seeds 1
// and 1085910571 inside the podman container of integration/docker-check).
DIFF_TEST(sandbox, unseen_timerfds_are_distinct_files_without_kcmp)
{
	ASSERT_TRUE(refuse_syscalls({SYS_kcmp}));
	record_refusals(t);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int far = unseen_timerfd(false);
	ASSERT_GE(far, 0);
	t.step("add the idle timerfd", add(b, ep, far, EPOLLIN | EPOLLET, 0x91));
	int ready = unseen_timerfd(true);
	ASSERT_GE(ready, 0);
	t.step("add the expired one", add(b, ep, ready, EPOLLIN, 0x92));
	t.step("close the idle one", b.close(far));
	epoll_event evs[4];
	t.events("wait: only the expired one", b.epoll_wait(ep, evs, 4, 0), evs);
	t.step("close the expired one", b.close(ready));
	t.events("wait: nothing", b.epoll_wait(ep, evs, 4, 0), evs);
}

// Deviation 8 (docs/deviations.md): the other side of that choice.  A copy
// of a timerfd made behind uepoll's back (syscall(SYS_dup)) is taken for a
// file of its own with kcmp refused: when the original number is closed,
// its item goes, where the kernel keeps it until the file's last close.
TEST(sandbox, deviation_unseen_timerfd_copy_is_another_file_without_kcmp)
{
	scenario fn = [](backend &b, trace &t) {
		ASSERT_TRUE(refuse_syscalls({SYS_kcmp}));
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		int tfd = unseen_timerfd(false);
		ASSERT_GE(tfd, 0);
		t.step("add", add(b, ep, tfd, EPOLLIN, 0x93));
		int copy = static_cast<int>(syscall(SYS_dup, tfd));
		ASSERT_GE(copy, 0);
		t.step("close the original number", b.close(tfd));
		itimerspec its{};
		its.it_value.tv_nsec = 1000;
		t.step("arm the copy", syscall(SYS_timerfd_settime, copy, 0, &its, nullptr));
		pollfd p{copy, POLLIN, 0};
		poll(&p, 1, 5000);
		epoll_event evs[4];
		t.events("wait", b.epoll_wait(ep, evs, 4, 0), evs);
	};
	const std::vector<std::string> native = {
		"add = 0",
		"close the original number = 0",
		"arm the copy = 0",
		"wait = 1 {IN data=93}",
	};
	uepoll::test::expect_deviation(fn, native, {{3, "wait = 0"}});
}

// A copy made by dup(), which uepoll sees, of a timerfd it did not see
// made: the copy is known to share the file at once (the dup identifies
// the original), so with kcmp refused the item keyed by the copy's number
// outlives that number while the original is open, as on the kernel.
// (uepoll-fuzz seed 598520739 program 372, inside the podman container.)
DIFF_TEST(sandbox, seen_dup_of_an_unseen_timerfd_without_kcmp)
{
	ASSERT_TRUE(refuse_syscalls({SYS_kcmp}));
	record_refusals(t);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int tfd = unseen_timerfd(true);
	ASSERT_GE(tfd, 0);
	int copy = b.dup(tfd);
	ASSERT_GE(copy, 0);
	t.step("add the copy", add(b, ep, copy, EPOLLIN | EPOLLPRI, 0x94));
	t.step("close the copy", b.close(copy));
	epoll_event evs[4];
	t.events("wait: the file is still open", b.epoll_wait(ep, evs, 4, 0), evs);
	t.step("close the original", b.close(tfd));
	t.events("wait: gone with the file", b.epoll_wait(ep, evs, 4, 0), evs);
}
