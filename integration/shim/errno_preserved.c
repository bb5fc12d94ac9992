/* errno_preserved.c - a successful call leaves errno alone; a failing one
 * sets the kernel's errno.
 *
 * Why: libc functions never set errno on success, and programs depend on
 * it (e.g. code that sets errno = 0, calls, and checks errno; or that
 * saves errno around a cleanup close()).  The shim does work of its own
 * inside these calls (eventfd reads that hit EAGAIN, /proc lookups,
 * polls interrupted...), any of which could leak an errno.  Each
 * successful call below runs with errno = 1234 and the transcript shows
 * errno afterwards; each failing call shows its errno name.
 */
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "shimtest.h"

/* Runs `call` with errno = 1234; prints "label = ret, errno = E". */
#define PRESERVED(label, call)                                                      \
	do {                                                                        \
		errno = 1234;                                                       \
		long r_ = (long)(call);                                             \
		int e_ = errno;                                                     \
		if (e_ == 1234)                                                     \
			printf("%s = %ld, errno untouched\n", label, r_);          \
		else                                                                \
			printf("%s = %ld, errno = %s\n", label, r_, st_errname(e_)); \
	} while (0)

int main(void)
{
	struct epoll_event evs[ST_MAXEV];
	int p[2], q[2], sv[2];
	st_note("-- successful calls");
	PRESERVED("pipe2", pipe2(p, O_NONBLOCK | O_CLOEXEC));
	PRESERVED("pipe2", pipe2(q, O_NONBLOCK | O_CLOEXEC));
	PRESERVED("socketpair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
	errno = 1234;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	st_note("epoll_create1 ok = %d, errno %s", ep >= 0, errno == 1234 ? "untouched" : st_errname(errno));
	errno = 1234;
	int ep0 = epoll_create(10);
	st_note("epoll_create ok = %d, errno %s", ep0 >= 0, errno == 1234 ? "untouched" : st_errname(errno));
	PRESERVED("ctl add pipe", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 0x1));
	PRESERVED("ctl add socket", st_ctl(ep, EPOLL_CTL_ADD, sv[0], EPOLLIN | EPOLLOUT, 0x2));
	PRESERVED("ctl add pipe 2", st_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN | EPOLLONESHOT, 0x3));
	PRESERVED("ctl add nested instance", st_ctl(ep0, EPOLL_CTL_ADD, ep, EPOLLIN, 0x4));
	PRESERVED("ctl mod", st_ctl(ep, EPOLL_CTL_MOD, sv[0], EPOLLIN, 0x5));
	PRESERVED("epoll_wait, 0 events", epoll_wait(ep, evs, ST_MAXEV, 0));
	PRESERVED("epoll_wait with timeout, 0 events", epoll_wait(ep, evs, ST_MAXEV, 10));
	PRESERVED("nested epoll_wait, 0 events", epoll_wait(ep0, evs, ST_MAXEV, 0));
	PRESERVED("write", write(p[1], "x", 1));
	PRESERVED("epoll_wait, 1 event", epoll_wait(ep, evs, ST_MAXEV, ST_SOON));
	PRESERVED("epoll_wait, ET, 0 events", epoll_wait(ep, evs, ST_MAXEV, 0));
	char buf[8];
	PRESERVED("read", read(p[0], buf, sizeof buf));
	PRESERVED("write", write(q[1], "y", 1));
	sigset_t mask;
	sigemptyset(&mask);
	PRESERVED("epoll_pwait, 1 event", epoll_pwait(ep, evs, ST_MAXEV, ST_SOON, &mask));
	PRESERVED("write", write(sv[1], "z", 1));
	struct timespec soon = {5, 0}, zero = {0, 0};
	PRESERVED("epoll_pwait2, 1 event", epoll_pwait2(ep, evs, ST_MAXEV, &soon, &mask));
	PRESERVED("nested epoll_wait, 1 event", epoll_wait(ep0, evs, ST_MAXEV, ST_SOON));
	struct pollfd pfd = {ep, POLLIN, 0};
	PRESERVED("poll on the epoll fd", poll(&pfd, 1, ST_SOON));
	st_note("poll revents = %s", st_bits((uint32_t)pfd.revents));
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(ep, &rs);
	struct timeval tv = {5, 0};
	PRESERVED("select on the epoll fd", select(ep + 1, &rs, NULL, NULL, &tv));
	PRESERVED("recv", recv(sv[0], buf, sizeof buf, 0));
	PRESERVED("epoll_pwait2, 0 events", epoll_pwait2(ep, evs, ST_MAXEV, &zero, NULL));
	PRESERVED("ctl del", st_ctl(ep, EPOLL_CTL_DEL, sv[0], 0, 0));
	int d;
	errno = 1234;
	d = dup(p[0]);
	st_note("dup ok = %d, errno %s", d >= 0, errno == 1234 ? "untouched" : st_errname(errno));
	PRESERVED("dup2 onto 70", dup2(p[0], 70));
	PRESERVED("dup3 onto 71", dup3(p[0], 71, O_CLOEXEC));
	PRESERVED("fcntl F_DUPFD", fcntl(p[0], F_DUPFD, 72));
	PRESERVED("fcntl F_GETFL", fcntl(p[0], F_GETFL) & O_NONBLOCK ? 1 : 0);
	PRESERVED("close a dup of a watched fd", close(d));
	PRESERVED("close_range over dups", close_range(70, 72, 0));
	PRESERVED("close_range cloexec", close_range(p[0], p[0], CLOSE_RANGE_CLOEXEC));
	int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	PRESERVED("ctl add eventfd", st_ctl(ep, EPOLL_CTL_ADD, e, EPOLLIN, 0x6));
	PRESERVED("close a watched eventfd", close(e));
	PRESERVED("close a watched pipe", close(p[0]));
	fflush(stdout);
	errno = 1234;
	pid_t pid = fork();
	if (pid == 0) {
		st_note("child: fork errno %s", errno == 1234 ? "untouched" : st_errname(errno));
		PRESERVED("child: epoll_wait", epoll_wait(ep, evs, ST_MAXEV, 0));
		PRESERVED("child: close the epoll fd", close(ep));
		_exit(0);
	}
	int fork_errno = errno;
	int status;
	waitpid(pid, &status, 0); /* the child's lines first */
	st_note("parent: fork errno %s", fork_errno == 1234 ? "untouched" : st_errname(fork_errno));
	PRESERVED("close the nested instance", close(ep0));
	PRESERVED("close the epoll fd", close(ep));

	st_note("-- failing calls");
	/* A number no fd has (p[0]'s number is reused below). */
	const int closed = 900;
	(void)fcntl(closed, F_GETFD);
	PRESERVED("epoll_create1 bad flags", epoll_create1(12345));
	PRESERVED("epoll_create 0", epoll_create(0));
	PRESERVED("ctl on a closed epoll fd", st_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 0));
	PRESERVED("ctl on a pipe as epoll fd", st_ctl(q[0], EPOLL_CTL_ADD, q[1], EPOLLIN, 0));
	ep = epoll_create1(EPOLL_CLOEXEC);
	PRESERVED("ctl bad op", st_ctl(ep, 77, q[0], EPOLLIN, 0));
	PRESERVED("ctl add itself", st_ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
	PRESERVED("ctl add a regular file", st_ctl(ep, EPOLL_CTL_ADD, open("/proc/self/exe", O_RDONLY | O_CLOEXEC), EPOLLIN, 0));
	PRESERVED("ctl mod absent", st_ctl(ep, EPOLL_CTL_MOD, q[0], EPOLLIN, 0));
	PRESERVED("ctl del absent", st_ctl(ep, EPOLL_CTL_DEL, q[0], 0, 0));
	PRESERVED("ctl add closed fd", st_ctl(ep, EPOLL_CTL_ADD, closed, EPOLLIN, 0));
	PRESERVED("ctl exclusive with mod", (st_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN | EPOLLEXCLUSIVE, 0),
					     st_ctl(ep, EPOLL_CTL_MOD, q[0], EPOLLIN | EPOLLEXCLUSIVE, 0)));
	PRESERVED("ctl null event", epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], NULL));
	PRESERVED("wait maxevents 0", epoll_wait(ep, evs, 0, 0));
	PRESERVED("wait on a pipe", epoll_wait(q[0], evs, ST_MAXEV, 0));
	PRESERVED("wait on a closed fd", epoll_wait(closed, evs, ST_MAXEV, 0));
	PRESERVED("close a closed fd", close(closed));
	PRESERVED("dup a closed fd", dup(closed));
	return 0;
}
