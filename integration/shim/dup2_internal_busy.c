/* dup2_internal_busy.c - dup2/dup3 onto every number below RLIMIT_NOFILE
 * while the shim's own fds there are in use: a thread blocked in
 * epoll_wait (under the shim: in ppoll on its wake-up eventfd) and the
 * helper thread blocked in ppoll on its control eventfd.
 *
 * Why: natively these dups succeed and the blocked wait goes on.  Under
 * the shim the kernel's ppoll looks its fds up by number at every wake-up:
 * a number given to the program while a ppoll holds it would be polled
 * (and read) as the program's file.  The dups here put one end of a
 * socketpair on every free number, with bytes waiting in it: a stray read
 * through a moved number would take some, a stray write (a waker's kick)
 * would add some on the other end.  Both counts are checked at the end.
 * Each blocked wait has no timeout: alarm() fails a hang.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "shimtest.h"

static int g_ep;
static volatile pid_t g_tid;

/* A wait with no timeout: the event must come (alarm() bounds it). */
static void *wait_forever(void *arg)
{
	(void)arg;
	g_tid = (pid_t)syscall(SYS_gettid);
	st_wait("blocked thread wait", g_ep, -1);
	return NULL;
}

/* Until thread tid sleeps (blocked in its wait, most likely); bounded. */
static void wait_until_sleeping(pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			buf[n] = 0;
			char *p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return;
		}
		usleep(1000);
	}
}

static int readable(int fd)
{
	int n = -1;
	ioctl(fd, FIONREAD, &n);
	return n;
}

int main(void)
{
	alarm(50);
	st_limit_nofile(256);
	g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2], s[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ST_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s));
	st_step("add", st_ctl(g_ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xb1));
	/* A poll of the instance: under the shim the helper thread starts and
	 * then sleeps in ppoll on its control fd. */
	st_write1(p[1], 'a');
	struct pollfd pf = {g_ep, POLLIN, 0};
	st_step("poll the instance", poll(&pf, 1, ST_SOON));
	st_drain(p[0]);
	/* A thread blocked in the wait: under the shim, in ppoll on its own
	 * wake-up eventfd. */
	pthread_t t;
	if (pthread_create(&t, NULL, wait_forever, NULL))
		ST_DIE("pthread_create");
	while (!g_tid)
		usleep(1000);
	wait_until_sleeping(g_tid);
	/* Bytes waiting in s[0]: a stray read through one of the numbers
	 * below would take some. */
	st_step("send 16", write(s[1], "0123456789abcdef", 16));
	int failed = 0, first_fail = -1;
	for (int fd = 3; fd < 256; fd++) {
		if (fd == g_ep || fd == p[0] || fd == p[1] || fd == s[0] || fd == s[1])
			continue;
		int r = fd % 2 ? dup2(s[0], fd) : dup3(s[0], fd, O_CLOEXEC);
		if (r != fd) {
			failed++;
			if (first_fail < 0)
				first_fail = fd;
		}
	}
	st_note("dup2/dup3 failures = %d", failed);
	if (first_fail >= 0)
		fprintf(stderr, "dup2_internal_busy: first failure at fd %d\n", first_fail);
	/* The blocked wait still works, and so does the helper's poll. */
	st_write1(p[1], 'b');
	pthread_join(t, NULL);
	pf.revents = 0;
	st_step("poll the instance again", poll(&pf, 1, ST_SOON));
	st_wait("main wait", g_ep, ST_SOON);
	st_drain(p[0]);
	/* Free some numbers: the shim's fds get numbers again, and a second
	 * blocked thread and the helper use them. */
	for (int fd = 200; fd < 256; fd++)
		if (fd != g_ep && fd != p[0] && fd != p[1] && fd != s[0] && fd != s[1])
			close(fd);
	g_tid = 0;
	if (pthread_create(&t, NULL, wait_forever, NULL))
		ST_DIE("pthread_create");
	while (!g_tid)
		usleep(1000);
	wait_until_sleeping(g_tid);
	for (int fd = 200; fd < 256; fd++) {
		if (fd == g_ep || fd == p[0] || fd == p[1] || fd == s[0] || fd == s[1])
			continue;
		if (dup2(s[0], fd) != fd)
			failed++;
	}
	st_note("second dup2 failures = %d", failed);
	st_write1(p[1], 'c');
	pthread_join(t, NULL);
	pf.revents = 0;
	st_step("poll the instance at last", poll(&pf, 1, ST_SOON));
	st_drain(p[0]);
	st_wait("nothing", g_ep, 0);
	/* Nothing read from s[0], nothing written through it to s[1]. */
	st_note("s[0] readable = %d", readable(s[0]));
	st_note("s[1] readable = %d", readable(s[1]));
	/* Free two numbers for shimtest.h's count of eventpoll fds at exit. */
	close(254);
	close(255);
	return 0;
}
