/* anon_identity_many.c - copies of anon-inode files made where the shim
 * does not see them, found among many such files.
 *
 * Why: every eventfd and timerfd shares one (dev, ino); the shim tells an
 * unseen copy from a new file by a search of its identity index (kcmp), and
 * drops a file from the index at its close by the entry's label, with no
 * kcmp (interpose/file_index.cpp).  Here N timerfds and N eventfds are made
 * by inline system calls, every fifth of them copied by an inline dup, all
 * watched; then the originals of the copied files are closed in a
 * scrambled order, with others: the kernel keeps an item while its file
 * has an fd left (the copy), and drops it with the file's last fd.  What is
 * ready is made deterministic: eventfds are written, timers armed and
 * waited for with poll() before the epoll_wait that is recorded.
 *
 * Where a seccomp profile refuses kcmp (a container), an unseen copy of a
 * timerfd cannot be told from a new timerfd (deviation 8): the timerfds
 * are then copied by dup(), which the shim sees; the eventfds (which have
 * an id) still by the inline system call.  The transcript says which.
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include "inline_syscall.h"
#include "shimtest.h"

#define N 200

static int t[N], e[N], dt[N], de[N];

static void arm(int tfd)
{
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	its.it_value.tv_nsec = 1000000;
	ST_OK(timerfd_settime(tfd, 0, &its, NULL));
}

static void fire(int efd)
{
	uint64_t one = 1;
	ST_OK(write(efd, &one, sizeof one));
}

static void expired(int tfd)
{
	struct pollfd p = {.fd = tfd, .events = POLLIN};
	if (poll(&p, 1, ST_SOON) != 1)
		ST_DIE("timer %d did not expire", tfd);
}

static void wait_all(const char *label, int ep)
{
	static struct epoll_event evs[4 * N];
	st_events(label, epoll_wait(ep, evs, 4 * N, 0), evs);
}

/* Does this process's seccomp profile refuse kcmp? (Both sides alike.) */
static int kcmp_refused(void)
{
	long pid = (long)getpid();
	int fd = (int)ST_OK(inline_syscall3(SYS_eventfd2, 0, EFD_CLOEXEC, 0));
	long r = syscall(SYS_kcmp, pid, pid, 0 /* KCMP_FILE */, (long)fd, (long)fd);
	close(fd);
	return r != 0;
}

int main(void)
{
	alarm(50);
	int hooked_timer_dups = kcmp_refused();
	st_step("timerfd copies made by dup() (kcmp refused)", hooked_timer_dups);
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	long fails = 0;
	for (int i = 0; i < N; i++) {
		t[i] = (int)ST_OK(inline_syscall3(SYS_timerfd_create, CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC, 0));
		e[i] = (int)ST_OK(inline_syscall3(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC, 0));
		fails += st_ctl(ep, EPOLL_CTL_ADD, t[i], EPOLLIN, (uint64_t)i) != 0;
		fails += st_ctl(ep, EPOLL_CTL_ADD, e[i], EPOLLIN, (uint64_t)(1000 + i)) != 0;
	}
	for (int i = 0; i < N; i += 5) {
		dt[i] = hooked_timer_dups ? (int)ST_OK(dup(t[i])) : (int)ST_OK(inline_syscall3(SYS_dup, t[i], 0, 0));
		de[i] = (int)ST_OK(inline_syscall3(SYS_dup, e[i], 0, 0));
		fails += st_ctl(ep, EPOLL_CTL_ADD, dt[i], EPOLLIN, (uint64_t)(2000 + i)) != 0;
		fails += st_ctl(ep, EPOLL_CTL_ADD, de[i], EPOLLIN, (uint64_t)(3000 + i)) != 0;
	}
	st_step("failed ADDs", fails);
	/* An ADD of a copy's number again: the same (file, fd) key. */
	st_step("ADD copy again", st_ctl(ep, EPOLL_CTL_ADD, dt[5], EPOLLIN, 0));
	/* Close the originals of the copied files (i % 5 == 0) and the files
	 * of i % 5 == 1, in a scrambled order (37 is prime to N). */
	for (int k = 0; k < N; k++) {
		int i = (k * 37) % N;
		if (i % 5 == 0 || i % 5 == 1) {
			fails += close(t[i]) != 0;
			fails += close(e[i]) != 0;
		}
	}
	st_step("failed closes", fails);
	/* Ready: the copied files through their copies, and i % 5 == 2. */
	for (int i = 0; i < N; i++) {
		if (i % 5 == 0) {
			arm(dt[i]);
			fire(de[i]);
		} else if (i % 5 == 2) {
			arm(t[i]);
			fire(e[i]);
		}
	}
	for (int i = 0; i < N; i++) {
		if (i % 5 == 0)
			expired(dt[i]);
		else if (i % 5 == 2)
			expired(t[i]);
	}
	wait_all("ready (closed originals keep their items)", ep);
	/* The copies' close is their files' last: every item of them goes. */
	for (int i = 0; i < N; i += 5) {
		fails += close(dt[i]) != 0;
		fails += close(de[i]) != 0;
	}
	st_step("failed closes of copies", fails);
	wait_all("ready (copied files gone)", ep);
	for (int i = 0; i < N; i++)
		if (i % 5 >= 2) {
			close(t[i]);
			close(e[i]);
		}
	wait_all("nothing left", ep);
	st_step("close ep", close(ep));
	return 0;
}
