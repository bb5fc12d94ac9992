// tests/deviations_test.cpp - the documented, unavoidable deviations of uepoll (ET re-reports, other writers, fork).
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <sys/syscall.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "tests/ops.hpp"
#include "tests/sockets.hpp"
#include "tests/trace.hpp"

#ifndef UEPOLL_TESTS_NATIVE_ONLY
#include "shim/api.hpp"
#endif

using uepoll::test::add;
using uepoll::test::mod;

namespace {

using uepoll::test::backend;
using uepoll::test::backend_fork;
using uepoll::test::run_isolated;
using uepoll::test::scenario;
using uepoll::test::trace;
using lines = std::vector<std::string>;


} // namespace

// Deviation 1: after an ET report and a partial read, with no new data,
// uepoll cannot tell that nothing arrived and reports the fd once more
// (an over-report: programs read until EAGAIN).  Only where a writer may
// be outside the process (here a FIFO; a pipe whose end a fork let out:
// et_partial.forked_writer_keeps_the_rereport_and_loses_nothing) or no
// byte count exists (a listener, below; a datagram socket): an in-process
// pipe, socketpair or loopback TCP pair now matches (tests/et_partial_test.cpp).
TEST(deviations, deviation_et_partial_read_reported_again)
{
	scenario fn = [](backend &b, trace &t) {
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		// A FIFO: anyone may open it and write, past every hook of ours.
		char path[] = "/tmp/uepoll-fifo-XXXXXX";
		int tmp = mkstemp(path);
		::close(tmp);
		::unlink(path);
		int p[2] = {-1, -1};
		if (mkfifo(path, 0600) == 0) {
			p[0] = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
			p[1] = ::open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
			::unlink(path);
		}
		t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000d001ULL));
		t.step("write", b.write(p[1], "0123456789", 10));
		epoll_event out[4];
		t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
		char c;
		t.step("partial read", b.read(p[0], &c, 1));
		t.events("after partial read", b.epoll_wait(ep, out, 4, 100), out);
		// Read to EAGAIN, as the ET rule says: a new write is then an edge
		// on both.  (Without the drain it would be one on the kernel only:
		// uepoll does not know who holds a FIFO's other end, and its extra
		// report spent the edge; deviation 2.)
		char buf[16];
		t.step("drain", b.read(p[0], buf, sizeof buf));
		t.step("write", b.write(p[1], "x", 1));
		t.events("after new write", b.epoll_wait(ep, out, 4, 0), out);
	};
	const lines native = {
		"add = 0",
		"write = 10",
		"wait = 1 {IN data=feedface0000d001}",
		"partial read = 1",
		"after partial read = 0",
		"drain = 9",
		"write = 1",
		"after new write = 1 {IN data=feedface0000d001}",
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, native) << nat.str();
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	lines documented = native;
	documented[4] = "after partial read = 1 {IN data=feedface0000d001}";
	EXPECT_EQ(ue.lines, documented) << ue.str();
#endif
}

// Deviation 1, on a listener: an accept() that leaves a connection queued
// is a partial read; uepoll reports the listener once more.
TEST(deviations, deviation_et_partial_accept_reported_again)
{
	scenario fn = [](backend &b, trace &t) {
		sockaddr_in sa;
		int l = uepoll::test::tcp_listener(b, &sa, 4, SOCK_NONBLOCK);
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		t.step("add", add(b, ep, l, EPOLLIN | EPOLLET, 0xfeedface0000d002ULL));
		int c1 = uepoll::test::tcp_connect(b, sa);
		int c2 = uepoll::test::tcp_connect(b, sa);
		t.step("connected", c1 >= 0 && c2 >= 0);
		epoll_event out[4];
		t.events("wait", uepoll::test::wait_some(b, ep, out, 4), out);
		int a = b.accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		t.step("accept one", a >= 0);
		t.events("after partial accept", b.epoll_wait(ep, out, 4, 100), out);
	};
	const lines native = {
		"add = 0",
		"connected = 1",
		"wait = 1 {IN data=feedface0000d002}",
		"accept one = 1",
		"after partial accept = 0",
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, native) << nat.str();
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	lines documented = native;
	documented[4] = "after partial accept = 1 {IN data=feedface0000d002}";
	EXPECT_EQ(ue.lines, documented) << ue.str();
#endif
}

// Deviation 1 seen through nesting: the extra report makes the instance
// readable, so an instance that watches it reports it too (and an EPOLLET
// or EPOLLONESHOT item of the outer instance spends its edge on it).
TEST(deviations, deviation_et_partial_read_seen_by_an_outer_instance)
{
	scenario fn = [](backend &b, trace &t) {
		int inner = b.epoll_create1(EPOLL_CLOEXEC);
		int outer = b.epoll_create1(EPOLL_CLOEXEC);
		// Datagrams: a read takes one of two, and no byte count tells
		// "nothing new" (FIONREAD gives the next datagram's size).
		int p[2];
		b.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p);
		t.step("add", add(b, inner, p[0], EPOLLIN | EPOLLET, 0xfeedface0000d003ULL));
		t.step("write", b.write(p[1], "01234", 5) + b.write(p[1], "56789", 5));
		epoll_event out[4];
		t.events("wait inner", b.epoll_wait(inner, out, 4, 0), out);
		t.step("outer watches inner", add(b, outer, inner, EPOLLIN | EPOLLONESHOT, 0xfeedface0000d004ULL));
		char c[8];
		t.step("partial read", b.read(p[0], c, sizeof c));
		t.events("wait outer", b.epoll_wait(outer, out, 4, 0), out);
	};
	const lines native = {
		"add = 0",
		"write = 10",
		"wait inner = 1 {IN data=feedface0000d003}",
		"outer watches inner = 0",
		"partial read = 5",
		"wait outer = 0",
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, native) << nat.str();
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	lines documented = native;
	documented[5] = "wait outer = 1 {IN data=feedface0000d004}";
	EXPECT_EQ(ue.lines, documented) << ue.str();
#endif
}

// Deviation 2: data written by another process to a file whose edge was
// already reported, and not touched since, is a new edge for the kernel;
// uepoll stopped polling the fd after the report and sees nothing until
// the program does I/O on it or MODs it.
TEST(deviations, deviation_et_write_from_another_process)
{
	scenario fn = [](backend &b, trace &t) {
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		int p[2];
		b.pipe2(p, O_NONBLOCK);
		t.step("add", add(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000d011ULL));
		t.step("write", b.write(p[1], "x", 1));
		epoll_event out[4];
		t.events("wait", b.epoll_wait(ep, out, 4, 0), out);
		fflush(nullptr);
		pid_t pid = fork();
		if (pid == 0)
			_exit(::write(p[1], "y", 1) == 1 ? 0 : 1);
		int status = -1;
		waitpid(pid, &status, 0);
		t.step("other process wrote", WIFEXITED(status) && WEXITSTATUS(status) == 0);
		t.events("after the other write", b.epoll_wait(ep, out, 4, 100), out);
		t.step("mod", mod(b, ep, p[0], EPOLLIN | EPOLLET, 0xfeedface0000d012ULL));
		t.events("after mod", b.epoll_wait(ep, out, 4, 0), out);
		char buf[8];
		t.step("drain", b.read(p[0], buf, sizeof buf));
	};
	const lines native = {
		"add = 0",
		"write = 1",
		"wait = 1 {IN data=feedface0000d011}",
		"other process wrote = 1",
		"after the other write = 1 {IN data=feedface0000d011}",
		"mod = 0",
		"after mod = 1 {IN data=feedface0000d012}",
		"drain = 2",
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, native) << nat.str();
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	lines documented = native;
	documented[4] = "after the other write = 0";
	EXPECT_EQ(ue.lines, documented) << ue.str();
#endif
}

// Deviation 3: after fork() the kernel's parent and child share one
// instance; uepoll gives the child its own copy, so an ADD in the child is
// invisible to the parent.
TEST(deviations, deviation_fork_shares_no_instance)
{
	scenario fn = [](backend &b, trace &t) {
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		int p[2];
		b.pipe2(p, O_NONBLOCK);
		t.step("write", b.write(p[1], "x", 1));
		fflush(nullptr);
		pid_t pid = backend_fork(b);
		if (pid == 0) {
			// The child sees its own ADD on both.
			int r = add(b, ep, p[0], EPOLLIN, 0xfeedface0000d021ULL);
			epoll_event ev[4];
			int n = b.epoll_wait(ep, ev, 4, 0);
			_exit(r == 0 && n == 1 && ev[0].data.u64 == 0xfeedface0000d021ULL ? 0 : 1);
		}
		int status = -1;
		waitpid(pid, &status, 0);
		t.step("child added and saw it", WIFEXITED(status) && WEXITSTATUS(status) == 0);
		epoll_event out[4];
		t.events("parent wait", b.epoll_wait(ep, out, 4, 0), out);
		t.step("parent add", add(b, ep, p[0], EPOLLIN, 0xfeedface0000d022ULL));
		t.events("parent wait after add", b.epoll_wait(ep, out, 4, 0), out);
	};
	const lines native = {
		"write = 1",
		"child added and saw it = 1",
		"parent wait = 1 {IN data=feedface0000d021}",
		"parent add = -1 EEXIST",
		"parent wait after add = 1 {IN data=feedface0000d021}",
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, native) << nat.str();
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	const lines documented = {
		"write = 1",
		"child added and saw it = 1",
		"parent wait = 0",
		"parent add = 0",
		"parent wait after add = 1 {IN data=feedface0000d022}",
	};
	EXPECT_EQ(ue.lines, documented) << ue.str();
#endif
}

// Deviation 4: SIGSTOP then SIGCONT while a thread waits.  The kernel ends
// epoll_wait with EINTR (it returns -EINTR, never a restart); uepoll waits
// in ppoll(), which the kernel restarts after a stop when no handler ran,
// so the wait goes on to its timeout.  Only a handler-less stop is
// concerned: a signal with a handler gives EINTR on both.
TEST(deviations, deviation_stop_continue_no_eintr)
{
	scenario fn = [](backend &b, trace &t) {
		int ep = b.epoll_create1(0);
		int p[2];
		b.pipe2(p, O_NONBLOCK);
		add(b, ep, p[0], EPOLLIN, 0xfeedface0000d401ULL);
		pid_t me = getpid();
		fflush(nullptr);
		pid_t stopper = fork();
		if (stopper == 0) {
			usleep(200 * 1000);
			kill(me, SIGSTOP);
			usleep(50 * 1000);
			kill(me, SIGCONT);
			_exit(0);
		}
		epoll_event out[4];
		// Generous: the stop comes after 0.2 s; uepoll's wait ends at 3 s.
		t.step("epoll_wait", b.epoll_wait(ep, out, 4, 3000));
		int st;
		waitpid(stopper, &st, 0);
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, lines{"epoll_wait = -1 EINTR"}) << nat.str();
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
	EXPECT_EQ(ue.lines, lines{"epoll_wait = 0"}) << ue.str();
#endif
}

// Deviation 5: the fake epoll fd is an eventfd underneath (so that poll,
// select and native epoll can watch it): /proc/self/fd shows
// anon_inode:[eventfd], not anon_inode:[eventpoll], and /proc/self/fdinfo
// has no tfd: lines.
TEST(deviations, deviation_epoll_fd_is_an_eventfd_underneath)
{
	scenario fn = [](backend &b, trace &t) {
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		char path[64], link[128] = {};
		snprintf(path, sizeof path, "/proc/self/fd/%d", ep);
		ssize_t n = readlink(path, link, sizeof link - 1);
		t.note("link = " + std::string(link, n > 0 ? n : 0));
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	EXPECT_EQ(nat.lines, lines{"link = anon_inode:[eventpoll]"}) << nat.str();
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
	EXPECT_EQ(ue.lines, lines{"link = anon_inode:[eventfd]"}) << ue.str();
#endif
}

// Deviation 6: io_uring_setup(2) fails with ENOSYS under uepoll, as on a
// kernel without io_uring: an io_uring can submit IORING_OP_EPOLL_CTL and
// poll requests that never pass through the shim (libuv does).
TEST(deviations, deviation_io_uring_setup_is_enosys)
{
	scenario fn = [](backend &b, trace &t) {
		long r;
#ifndef UEPOLL_TESTS_NATIVE_ONLY
		if (!b.is_native())
			r = uepoll::api::syscall(SYS_io_uring_setup, 0, 0, 0, 0, 0, 0);
		else
#endif
			r = ::syscall(SYS_io_uring_setup, 0, nullptr);
		// entries=0 with a NULL params pointer: the kernel says EFAULT or
		// EINVAL (or ENOSYS/EPERM where io_uring is off); uepoll ENOSYS.
		t.step("io_uring_setup", r);
		(void)b;
	};
	trace nat = run_isolated(fn, uepoll::test::native_backend());
	ASSERT_EQ(nat.lines.size(), 1u) << nat.str();
#ifndef UEPOLL_TESTS_NATIVE_ONLY
	trace ue = run_isolated(fn, uepoll::test::uepoll_backend());
	EXPECT_EQ(ue.lines, lines{"io_uring_setup = -1 ENOSYS"}) << ue.str();
#endif
}
