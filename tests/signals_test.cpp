// tests/signals_test.cpp - signals during epoll waits: EINTR (never restarted), pwait masks, stop/continue, close in a handler, errno.
#include <atomic>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

using uepoll::test::add;

namespace {

std::atomic<int> g_handled{0};
// For the handler that closes a watched fd through the backend under test.
backend *g_backend = nullptr;
std::atomic<int> g_close_fd{-1};
std::atomic<int> g_close_ret{-2};

void count_handler(int)
{
	int e = errno;
	g_handled++;
	// A handler that clobbers errno and restores it, as well-behaved ones do.
	errno = EDOM;
	errno = e;
}

void closing_handler(int)
{
	int e = errno;
	int fd = g_close_fd.exchange(-1);
	if (fd >= 0)
		g_close_ret = g_backend->close(fd);
	g_handled++;
	errno = e;
}

void install(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa {};
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(sig, &sa, nullptr), 0);
	g_handled = 0;
}

// Keeps signalling `target` every 20 ms until stop() (bounded to ~6 s):
// whichever signal arrives while the target is blocked interrupts it, so
// the test does not depend on when the target starts waiting.
struct pinger {
	std::atomic<bool> done{false};
	std::thread th;
	pinger(pthread_t target, int sig)
	{
		th = std::thread([this, target, sig] {
			for (int i = 0; i < 300 && !done; i++) {
				pthread_kill(target, sig);
				usleep(20 * 1000);
			}
		});
	}
	void stop()
	{
		done = true;
		if (th.joinable())
			th.join();
	}
	~pinger() { stop(); }
};

sigset_t only(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	return s;
}

// Blocks in each of the three wait calls while pinged with a handled signal.
void interrupted_by_handler(backend &b, trace &t, int flags)
{
	install(SIGUSR1, count_handler, flags);
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000001ULL);
	epoll_event out[4];
	for (int which = 0; which < 3; which++) {
		g_handled = 0;
		int r;
		{
			pinger pg(pthread_self(), SIGUSR1);
			if (which == 0) {
				r = b.epoll_wait(ep, out, 4, 5000);
			} else if (which == 1) {
				sigset_t none;
				sigemptyset(&none);
				r = b.epoll_pwait(ep, out, 4, 5000, &none);
			} else {
				timespec ts{5, 0};
				r = b.epoll_pwait2(ep, out, 4, &ts, nullptr);
			}
			pg.stop();
		}
		static const char *names[] = {"epoll_wait", "epoll_pwait", "epoll_pwait2"};
		t.step(names[which], r);
		EXPECT_EQ(r, -1) << names[which];
		EXPECT_EQ(errno, EINTR) << names[which];
		t.step(std::string(names[which]) + " handler ran", g_handled > 0);
		EXPECT_GT(g_handled.load(), 0);
	}
}

} // namespace

DIFF_TEST(signals, sa_restart_handler_interrupts_wait_with_eintr)
{
	interrupted_by_handler(b, t, SA_RESTART);
}

DIFF_TEST(signals, plain_handler_interrupts_wait_with_eintr)
{
	interrupted_by_handler(b, t, 0);
}

// The pwait mask blocks SIGUSR1 for the call only: the signal sent meanwhile
// stays pending, the call ends normally on the event, and the handler runs
// once the old mask is back.
static void masked_wait(backend &b, trace &t, bool pwait2)
{
	install(SIGUSR1, count_handler, SA_RESTART);
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000002ULL);
	pthread_t self = pthread_self();
	std::thread w([&] {
		usleep(50 * 1000);
		pthread_kill(self, SIGUSR1);
		usleep(50 * 1000);
		b.write(p[1], "x", 1);
	});
	sigset_t mask = only(SIGUSR1);
	epoll_event out[4];
	errno = 0;
	int r;
	if (pwait2) {
		timespec ts{5, 0};
		r = b.epoll_pwait2(ep, out, 4, &ts, &mask);
	} else {
		r = b.epoll_pwait(ep, out, 4, 5000, &mask);
	}
	int e = errno;
	int handled = g_handled;
	w.join();
	t.events("masked wait", r, out);
	EXPECT_EQ(r, 1);
	EXPECT_NE(e, EINTR);
	t.step("handler ran after return", handled > 0);
	EXPECT_GT(handled, 0);
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, nullptr, &now);
	t.step("mask restored", sigismember(&now, SIGUSR1));
	EXPECT_EQ(sigismember(&now, SIGUSR1), 0);
}

DIFF_TEST(signals, pwait_mask_blocks_signal_for_the_call)
{
	masked_wait(b, t, false);
}

DIFF_TEST(signals, pwait2_mask_blocks_signal_for_the_call)
{
	masked_wait(b, t, true);
}

// A signal already pending and unblocked by the call's mask interrupts a
// blocking wait at once (no timing involved).
DIFF_TEST(signals, pending_signal_unblocked_by_mask_interrupts_at_once)
{
	install(SIGUSR2, count_handler, SA_RESTART);
	sigset_t blk = only(SIGUSR2), old;
	pthread_sigmask(SIG_BLOCK, &blk, &old);
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000003ULL);
	sigset_t none;
	sigemptyset(&none);
	epoll_event out[4];

	raise(SIGUSR2);
	t.step("pending before pwait", g_handled.load());
	int r = b.epoll_pwait(ep, out, 4, -1, &none);
	t.step("pwait forever", r);
	EXPECT_EQ(r, -1);
	EXPECT_EQ(errno, EINTR);
	t.step("handled", g_handled.load());
	EXPECT_EQ(g_handled.load(), 1);

	raise(SIGUSR2);
	timespec forever_ts{3600, 0};
	r = b.epoll_pwait2(ep, out, 4, &forever_ts, &none);
	t.step("pwait2 1h", r);
	EXPECT_EQ(errno, EINTR);
	t.step("handled", g_handled.load());

	// Events win over the pending signal: they are returned, and as the call
	// did not fail with EINTR the old mask comes back before the signal can
	// be delivered: it stays pending.
	t.step("write", b.write(p[1], "x", 1));
	raise(SIGUSR2);
	r = b.epoll_pwait(ep, out, 4, -1, &none);
	t.events("pwait with event ready", r, out);
	EXPECT_EQ(r, 1);
	t.step("handled", g_handled.load());
	EXPECT_EQ(g_handled.load(), 2);
	sigset_t pend;
	sigpending(&pend);
	t.step("still pending", sigismember(&pend, SIGUSR2));
	EXPECT_EQ(sigismember(&pend, SIGUSR2), 1);
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, nullptr, &now);
	t.step("still blocked after the calls", sigismember(&now, SIGUSR2));
	EXPECT_EQ(sigismember(&now, SIGUSR2), 1);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	t.step("handled once unblocked", g_handled.load());
	EXPECT_EQ(g_handled.load(), 3);
}

// Timeout 0 with nothing ready returns 0 even with a signal pending that the
// call's mask unblocks: the kernel gives up before it looks at signals, and
// the signal stays pending under the restored mask.
DIFF_TEST(signals, pending_signal_with_timeout_zero)
{
	install(SIGUSR2, count_handler, SA_RESTART);
	sigset_t blk = only(SIGUSR2), old;
	pthread_sigmask(SIG_BLOCK, &blk, &old);
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000004ULL);
	sigset_t none;
	sigemptyset(&none);
	epoll_event out[4];
	raise(SIGUSR2);
	int r = b.epoll_pwait(ep, out, 4, 0, &none);
	t.step("pwait timeout 0", r);
	EXPECT_EQ(r, 0);
	t.step("handled", g_handled.load());
	EXPECT_EQ(g_handled.load(), 0);
	timespec zero{0, 0};
	r = b.epoll_pwait2(ep, out, 4, &zero, &none);
	t.step("pwait2 timeout 0", r);
	EXPECT_EQ(r, 0);
	t.step("handled", g_handled.load());
	EXPECT_EQ(g_handled.load(), 0);
	sigset_t pend;
	sigpending(&pend);
	t.step("still pending", sigismember(&pend, SIGUSR2));
	EXPECT_EQ(sigismember(&pend, SIGUSR2), 1);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	t.step("handled once unblocked", g_handled.load());
	EXPECT_EQ(g_handled.load(), 1);
}

// SIGSTOP then SIGCONT: native epoll_wait returns EINTR, uepoll's ppoll is
// restarted by the kernel; see deviations.deviation_stop_continue_no_eintr.

// The handler closes the watched socket (through the backend) while the
// thread is blocked on it: no deadlock, EINTR, the item is gone and the
// peer sees the close.
DIFF_TEST(signals, handler_closes_watched_fd_during_wait)
{
	g_backend = &b;
	install(SIGUSR1, closing_handler, SA_RESTART);
	int ep = b.epoll_create1(0);
	int sv[2];
	ASSERT_EQ(b.socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	timeval tv{5, 0};
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	add(b, ep, sv[0], EPOLLIN | EPOLLRDHUP, 0xfeedface00000007ULL);
	g_close_fd = sv[0];
	g_close_ret = -2;
	epoll_event out[4];
	int r;
	{
		pinger pg(pthread_self(), SIGUSR1);
		r = b.epoll_wait(ep, out, 4, 5000);
		pg.stop();
	}
	t.step("wait", r);
	EXPECT_EQ(r, -1);
	EXPECT_EQ(errno, EINTR);
	t.step("close in handler", g_close_ret.load());
	EXPECT_EQ(g_close_ret.load(), 0);
	r = b.epoll_wait(ep, out, 4, 0);
	t.events("item gone", r, out);
	EXPECT_EQ(r, 0);
	char c;
	ssize_t n = b.recv(sv[1], &c, 1, 0);
	t.step("peer sees EOF", n);
	EXPECT_EQ(n, 0);
	// The number is free and the instance still works.
	int efd = b.eventfd(1, 0);
	t.step("number reused", efd == sv[0]);
	t.step("add", add(b, ep, efd, EPOLLIN, 0xfeedface00000008ULL));
	r = b.epoll_wait(ep, out, 4, 0);
	t.events("new item", r, out);
	EXPECT_EQ(r, 1);
	g_backend = nullptr;
}

// Same, the watched fd is the only one and the handler closes it with
// the waiter blocked in epoll_pwait2 forever: only the signal ends it.
DIFF_TEST(signals, handler_closes_only_watched_fd_during_pwait2)
{
	g_backend = &b;
	install(SIGUSR1, closing_handler, 0);
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface00000009ULL);
	g_close_fd = p[0];
	g_close_ret = -2;
	epoll_event out[4];
	int r;
	{
		pinger pg(pthread_self(), SIGUSR1);
		r = b.epoll_pwait2(ep, out, 4, nullptr, nullptr);
		pg.stop();
	}
	t.step("pwait2", r);
	EXPECT_EQ(errno, EINTR);
	t.step("close in handler", g_close_ret.load());
	// The writer now has no reader.
	signal(SIGPIPE, SIG_IGN);
	ssize_t w = b.write(p[1], "x", 1);
	t.step("write to closed pipe", w);
	EXPECT_EQ(errno, EPIPE);
	r = b.epoll_wait(ep, out, 4, 0);
	t.events("nothing", r, out);
	EXPECT_EQ(r, 0);
	g_backend = nullptr;
}

// Successful calls leave errno alone, even when a handler ran during or
// right after them; the disposition and mask are untouched.
DIFF_TEST(signals, errno_and_signal_state_preserved)
{
	install(SIGUSR1, count_handler, SA_RESTART);
	int ep = b.epoll_create1(0);
	int p[2];
	ASSERT_EQ(b.pipe2(p, O_NONBLOCK), 0);
	add(b, ep, p[0], EPOLLIN, 0xfeedface0000000aULL);
	sigset_t before;
	pthread_sigmask(SIG_SETMASK, nullptr, &before);
	epoll_event out[4];
	errno = ENOTTY;
	int r = b.epoll_wait(ep, out, 4, 0);
	t.step("wait 0", r);
	t.step("errno kept", errno == ENOTTY);
	EXPECT_EQ(errno, ENOTTY);

	sigset_t mask = only(SIGUSR1);
	errno = EXDEV;
	pthread_t self = pthread_self();
	std::thread w([&] {
		usleep(30 * 1000);
		pthread_kill(self, SIGUSR1);
		usleep(30 * 1000);
		b.write(p[1], "x", 1);
	});
	r = b.epoll_pwait(ep, out, 4, 5000, &mask);
	int e = errno;
	w.join();
	t.events("pwait", r, out);
	t.step("errno kept after pwait", e == EXDEV);
	EXPECT_EQ(e, EXDEV);
	t.step("handler ran", g_handled.load() > 0);

	errno = ENOEXEC;
	timespec ts{0, 0};
	r = b.epoll_pwait2(ep, out, 4, &ts, &mask);
	t.events("pwait2", r, out);
	t.step("errno kept after pwait2", errno == ENOEXEC);
	EXPECT_EQ(errno, ENOEXEC);

	sigset_t after;
	pthread_sigmask(SIG_SETMASK, nullptr, &after);
	bool same = true;
	for (int s = 1; s < NSIG; s++)
		same = same && sigismember(&before, s) == sigismember(&after, s);
	t.step("mask unchanged", same);
	EXPECT_TRUE(same);
	struct sigaction sa {};
	sigaction(SIGUSR1, nullptr, &sa);
	t.step("handler unchanged", sa.sa_handler == count_handler);
	EXPECT_TRUE(sa.sa_handler == count_handler);
	// Handlers running around a call that does not block change nothing.
	{
		pinger pg(pthread_self(), SIGUSR1);
		errno = 0;
		r = b.epoll_wait(ep, out, 4, 0);
		pg.stop();
	}
	t.events("wait 0 with LT item", r, out);
	EXPECT_EQ(r, 1);
}
