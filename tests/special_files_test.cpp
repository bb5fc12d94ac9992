// tests/special_files_test.cpp - files whose readiness is unusual: a FIFO
// whose writers come and go, /proc files whose readiness is consumed by
// being polled, and files with no poll method at all.
#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/landlock.h>
#include <sched.h>
#include <string>
#include <sys/mount.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <vector>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::backend;
using uepoll::test::trace;

namespace {

std::string fifo_path(const char *what) { return std::string("/tmp/uepoll-") + what + "-" + std::to_string(getpid()); }

} // namespace

// A reader's level-triggered item reports HUP after the last writer closes;
// a new writer that opens the FIFO and writes one byte makes it readable
// again (pipe_poll: HUP only while there are no writers).
DIFF_TEST(special_files, fifo_reader_sees_a_new_writer_after_hup)
{
	std::string path = fifo_path("fifo-reconnect");
	unlink(path.c_str());
	ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int r = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int w = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_TRUE(r >= 0 && w >= 0);
	t.step("add reader", add(b, ep, r, EPOLLIN, 0xf1));
	epoll_event evs[4];
	t.events("nothing yet", b.epoll_wait(ep, evs, 4, 0), evs);
	t.step("close the writer", b.close(w));
	t.events("hup", b.epoll_wait(ep, evs, 4, 1000), evs);
	int w2 = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_GE(w2, 0);
	t.events("a new writer, nothing written", b.epoll_wait(ep, evs, 4, 0), evs);
	t.step("write one byte", b.write(w2, "x", 1));
	t.events("readable again", b.epoll_wait(ep, evs, 4, 1000), evs);
	char c;
	t.step("read it", b.read(r, &c, 1));
	t.events("nothing again", b.epoll_wait(ep, evs, 4, 0), evs);
	b.close(w2);
	b.close(r);
	unlink(path.c_str());
}

// The same with an edge-triggered item and the new writer in another
// process (an open and a write uepoll does not see).
DIFF_TEST(special_files, fifo_et_reader_sees_a_writer_of_another_process)
{
	std::string path = fifo_path("fifo-et");
	unlink(path.c_str());
	ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int r = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_GE(r, 0);
	t.step("add reader", add(b, ep, r, EPOLLIN | EPOLLET, 0xf2));
	epoll_event evs[4];
	t.events("no writer ever", b.epoll_wait(ep, evs, 4, 0), evs);
	pid_t pid = fork();
	if (pid == 0) {
		int w = open(path.c_str(), O_WRONLY | O_CLOEXEC);
		_exit(w >= 0 && write(w, "y", 1) == 1 ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	t.step("writer process", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	t.events("its byte and its close", b.epoll_wait(ep, evs, 4, 1000), evs);
	b.close(r);
	unlink(path.c_str());
}

// /proc/self/mounts reports PRI|ERR once after the mount table changed,
// and the first poll consumes it (mounts_poll: the event count is copied
// into the file at poll).  Natively epoll_wait reports PRI after a mount in
// a child; uepoll must not throw away the poll result that saw it.
static void proc_mounts_scenario(uepoll::test::backend &b, uepoll::test::trace &t);

// Needs the right to make a mount namespace (CAP_SYS_ADMIN): a container
// without it skips, saying so (it cannot set the test up, on either side).
TEST(special_files, proc_mounts_pri_after_a_mount_change)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNS) == 0 ? 0 : 1);
	int status = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		GTEST_SKIP() << "unshare(CLONE_NEWNS) is refused here (no CAP_SYS_ADMIN): no private mount namespace to change";
	uepoll::test::differential(proc_mounts_scenario);
}

static void proc_mounts_scenario([[maybe_unused]] uepoll::test::backend &b, [[maybe_unused]] uepoll::test::trace &t)
{
	// A private mount namespace, so that the mount is this test's alone.
	ASSERT_EQ(unshare(CLONE_NEWNS), 0);
	ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int m = open("/proc/self/mounts", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(m, 0);
	t.step("add mounts", add(b, ep, m, EPOLLPRI, 0xf3));
	epoll_event evs[4];
	t.events("no change yet", b.epoll_wait(ep, evs, 4, 0), evs);
	std::string dir = "/tmp/uepoll-mnt-" + std::to_string(getpid());
	mkdir(dir.c_str(), 0700);
	pid_t pid = fork();
	if (pid == 0)
		_exit(mount("none", dir.c_str(), "tmpfs", 0, nullptr) == 0 ? 0 : 1);
	int status = 0;
	waitpid(pid, &status, 0);
	t.step("mount in a child", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	t.events("after the mount", b.epoll_wait(ep, evs, 4, 1000), evs);
	t.events("consumed", b.epoll_wait(ep, evs, 4, 0), evs);
	pid = fork();
	if (pid == 0)
		_exit(umount(dir.c_str()) == 0 ? 0 : 1);
	waitpid(pid, &status, 0);
	t.step("umount in a child", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	t.events("after the umount", b.epoll_wait(ep, evs, 4, 1000), evs);
	rmdir(dir.c_str());
}

// A file without a poll method cannot be watched: EPERM (ep_insert's
// file_can_poll()).  Among anon inodes: fsopen()/fspick() contexts, landlock
// rulesets, bpf programs; besides them regular files and directories.
static void files_without_poll_scenario(uepoll::test::backend &b, uepoll::test::trace &t);

// fsopen() and fspick() need CAP_SYS_ADMIN: a container without it skips,
// saying so.
TEST(special_files, files_without_poll_are_eperm)
{
	long fd = syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */);
	if (fd < 0)
		GTEST_SKIP() << "fsopen() is refused here (errno " << errno << ", no CAP_SYS_ADMIN): no fs context to add";
	close(static_cast<int>(fd));
	uepoll::test::differential(files_without_poll_scenario);
}

static void files_without_poll_scenario([[maybe_unused]] uepoll::test::backend &b, [[maybe_unused]] uepoll::test::trace &t)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int fsfd = static_cast<int>(syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */));
	ASSERT_GE(fsfd, 0);
	t.step("add an fsopen context", add(b, ep, fsfd, EPOLLIN, 1));
	int pick = static_cast<int>(syscall(SYS_fspick, AT_FDCWD, "/", 1 /* FSPICK_CLOEXEC */));
	ASSERT_GE(pick, 0);
	t.step("add an fspick context", add(b, ep, pick, EPOLLIN, 2));
	landlock_ruleset_attr la{};
	la.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE;
	int ll = static_cast<int>(syscall(SYS_landlock_create_ruleset, &la, sizeof la, 0));
	ASSERT_GE(ll, 0);
	t.step("add a landlock ruleset", add(b, ep, ll, EPOLLIN, 5));
	// A program that returns 0 (r0 = 0; exit), as a socket filter.
	bpf_insn insns[2] = {};
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[1].code = BPF_JMP | BPF_EXIT;
	bpf_attr pa{};
	pa.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	pa.insns = reinterpret_cast<uintptr_t>(insns);
	pa.insn_cnt = 2;
	pa.license = reinterpret_cast<uintptr_t>("GPL");
	int prog = static_cast<int>(syscall(SYS_bpf, BPF_PROG_LOAD, &pa, sizeof pa));
	ASSERT_GE(prog, 0) << "BPF_PROG_LOAD (the tests run as root)";
	t.step("add a bpf program", add(b, ep, prog, EPOLLIN, 6));
	// Anon inodes that do poll, for contrast.
	bpf_attr ma{};
	ma.map_type = BPF_MAP_TYPE_ARRAY;
	ma.key_size = 4;
	ma.value_size = 4;
	ma.max_entries = 1;
	int map = static_cast<int>(syscall(SYS_bpf, BPF_MAP_CREATE, &ma, sizeof ma));
	ASSERT_GE(map, 0);
	t.step("add a bpf map", add(b, ep, map, EPOLLIN, 7));
	int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
	ASSERT_GE(uffd, 0);
	t.step("add a userfaultfd", add(b, ep, uffd, EPOLLIN, 8));
	int reg = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	t.step("add a regular file", add(b, ep, reg, EPOLLIN, 3));
	int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t.step("add a directory", add(b, ep, dir, EPOLLIN, 4));
	close(fsfd);
	close(pick);
	close(reg);
	close(dir);
	close(ll);
	close(prog);
	close(map);
	close(uffd);
}

// A signalfd is ready for the thread that polls it (its pending signals).
// Main thread: SIGINT blocked and sent to itself; poll() on the instance
// says 1.  Another thread's epoll_wait(0) polls the item for itself (no
// pending SIGINT), reports nothing, and the item leaves the ready list;
// natively poll() in the main thread then says 0 (no new wake-up queued
// the item again).  uepoll polls armed items again before answering a
// poll() on the instance, from the main thread: 1.  Deviation 9.
TEST(special_files, deviation_signalfd_ready_only_for_the_polling_thread)
{
	uepoll::test::scenario fn = [](backend &b, trace &t) {
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGINT);
		ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &m, nullptr), 0);
		int sfd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
		ASSERT_GE(sfd, 0);
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("add signalfd", add(b, ep, sfd, EPOLLIN, 0x51));
		t.step("pthread_kill self SIGINT", pthread_kill(pthread_self(), SIGINT));
		pollfd pf = {ep, POLLIN, 0};
		t.step("poll the instance", b.poll(&pf, 1, 0));
		struct args {
			backend *b;
			int ep;
			int n;
		} a{&b, ep, -2};
		pthread_t th;
		ASSERT_EQ(pthread_create(
				  &th, nullptr,
				  [](void *p) -> void * {
					  auto *x = static_cast<args *>(p);
					  epoll_event evs[4];
					  x->n = x->b->epoll_wait(x->ep, evs, 4, 0);
					  return nullptr;
				  },
				  &a),
			  0);
		pthread_join(th, nullptr);
		t.step("other thread's wait(0)", a.n);
		pf.revents = 0;
		t.step("poll the instance again", b.poll(&pf, 1, 0));
	};
	const std::vector<std::string> native = {
		"add signalfd = 0",
		"pthread_kill self SIGINT = 0",
		"poll the instance = 1",
		"other thread's wait(0) = 0",
		"poll the instance again = 0",
	};
	trace nat = uepoll::test::run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, native) << nat.str();
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	trace ue = uepoll::test::run_isolated(fn, uepoll::test::uepoll_backend());
	std::vector<std::string> documented = native;
	documented[4] = "poll the instance again = 1";
	EXPECT_EQ(ue.lines, documented) << ue.str();
#endif
}
