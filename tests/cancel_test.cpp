// tests/cancel_test.cpp - epoll_wait, epoll_pwait and epoll_pwait2 are
// cancellation points (glibc's are): pthread_cancel of a thread blocked in
// one ends it, and the instance and the cancelling process go on as if the
// waiter had never been there.  (The same in a preloaded process:
// integration/shim/cancel_wait.c.)
#include <cerrno>
#include <ctime>
#include <pthread.h>
#include <string>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/ops.hpp"
#include "tests/trace.hpp"

using uepoll::test::add;
using uepoll::test::backend;
using uepoll::test::del;
using uepoll::test::trace;

namespace {

struct waiter_args {
	backend *b;
	int ep;
	int kind; // 0 epoll_wait, 1 epoll_pwait, 2 epoll_pwait2
};

void *wait_forever(void *p)
{
	auto *a = static_cast<waiter_args *>(p);
	epoll_event evs[4];
	sigset_t m;
	sigemptyset(&m);
	for (;;) {
		if (a->kind == 0)
			a->b->epoll_wait(a->ep, evs, 4, -1);
		else if (a->kind == 1)
			a->b->epoll_pwait(a->ep, evs, 4, -1, &m);
		else
			a->b->epoll_pwait2(a->ep, evs, 4, nullptr, &m);
	}
	return nullptr;
}

// "cancelled", "not cancelled" or "no join within 10 s" (the bound keeps a
// waiter that is never cancelled from hanging the test).
const char *join_bounded(pthread_t t)
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	void *ret = nullptr;
	if (pthread_timedjoin_np(t, &ret, &ts) != 0)
		return "no join within 10 s";
	return ret == PTHREAD_CANCELED ? "cancelled" : "not cancelled";
}

// Cancels `waiters` threads blocked on ep in call `kind`, `rounds` times;
// after each round the instance is used by this thread: ADD, an event,
// a wait that reports it, DEL.  Records only what differs from the
// expected, so the trace is short and equal on both backends.
void cancel_rounds(backend &b, trace &t, int kind, int waiters, int rounds)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	int efd = b.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int cancelled = 0, reused = 0;
	for (int round = 0; round < rounds; round++) {
		waiter_args a{&b, ep, kind};
		pthread_t th[2];
		for (int i = 0; i < waiters; i++)
			ASSERT_EQ(pthread_create(&th[i], nullptr, wait_forever, &a), 0);
		// Let them block (a cancel that comes earlier is acted on at the
		// call's entry: the same outcome).
		timespec pause = {0, 1000000};
		nanosleep(&pause, nullptr);
		for (int i = 0; i < waiters; i++)
			pthread_cancel(th[i]);
		for (int i = 0; i < waiters; i++) {
			const char *how = join_bounded(th[i]);
			if (std::string(how) == "cancelled")
				cancelled++;
			else
				t.note(std::string("round ") + std::to_string(round) + ": " + how);
			if (std::string(how) == "no join within 10 s")
				return;
		}
		uint64_t one = 1, v;
		epoll_event evs[4];
		bool ok = add(b, ep, efd, EPOLLIN, 0x91) == 0 && b.write(efd, &one, sizeof one) == 8 &&
			  b.epoll_wait(ep, evs, 4, 5000) == 1 && evs[0].data.u64 == 0x91 &&
			  b.read(efd, &v, sizeof v) == 8 && del(b, ep, efd) == 0;
		reused += ok;
	}
	t.step("cancelled", cancelled);
	t.step("instance reused after the round", reused);
}

} // namespace

DIFF_TEST(cancel, epoll_wait_one_waiter) { cancel_rounds(b, t, 0, 1, 50); }
DIFF_TEST(cancel, epoll_wait_two_waiters) { cancel_rounds(b, t, 0, 2, 50); }
DIFF_TEST(cancel, epoll_pwait_one_waiter) { cancel_rounds(b, t, 1, 1, 50); }
DIFF_TEST(cancel, epoll_pwait_two_waiters) { cancel_rounds(b, t, 1, 2, 50); }
DIFF_TEST(cancel, epoll_pwait2_one_waiter) { cancel_rounds(b, t, 2, 1, 50); }
DIFF_TEST(cancel, epoll_pwait2_two_waiters) { cancel_rounds(b, t, 2, 2, 50); }

// A cancel already pending is acted on when the call starts, even one that
// would not block (timeout 0).
DIFF_TEST(cancel, pending_cancel_acts_at_a_zero_timeout_wait)
{
	int ep = b.epoll_create1(EPOLL_CLOEXEC);
	struct args {
		backend *b;
		int ep;
	} a{&b, ep};
	pthread_t th;
	ASSERT_EQ(pthread_create(
			  &th, nullptr,
			  [](void *p) -> void * {
				  auto *x = static_cast<args *>(p);
				  // Cancel ourselves; nothing before the wait is a
				  // cancellation point.
				  pthread_cancel(pthread_self());
				  epoll_event evs[1];
				  x->b->epoll_wait(x->ep, evs, 1, 0);
				  return nullptr;
			  },
			  &a),
		  0);
	t.note(std::string("thread: ") + join_bounded(th));
}
