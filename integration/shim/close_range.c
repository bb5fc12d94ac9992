/* close_range.c - close_range(2) over watched fds, with and without
 * CLOSE_RANGE_CLOEXEC, and closefrom(3).
 *
 * Why: close_range closes many fds in one call, without a close() per
 * number that a shim could see; its watched fds must leave their
 * instances exactly as close() would (and their numbers be reusable by a
 * new ADD), the fds outside the range must stay, and with
 * CLOSE_RANGE_CLOEXEC nothing is closed at all until exec, when the
 * marked fds go away.  An exec'ed copy of this program reports which fds
 * survived.  Invalid calls fail as the kernel fails them.
 *
 * The watched fds are moved to fixed numbers (100-103, 110) so the ranges
 * are known; the epoll fd stays low, outside them.
 */
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/wait.h>

#include "shimtest.h"

/* A pipe whose read end is moved to number `at`; returns the write end. */
static int pipe_at(int at)
{
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ST_OK(dup3(p[0], at, O_CLOEXEC));
	ST_OK(close(p[0]));
	return p[1];
}

static int fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* The exec'ed image: which of the given fds are open. */
static int after_exec(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		st_note("after exec: fd %s open = %d", argv[i], fd_open(atoi(argv[i])));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--after-exec") == 0)
		return after_exec(argc, argv);

	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = pipe_at(100 + i);
		st_step("add", st_ctl(ep, EPOLL_CTL_ADD, 100 + i, EPOLLIN, 0x100 + (uint64_t)i));
		st_write1(w[i], 'x');
	}
	st_wait("wait: 4 ready", ep, ST_SOON);

	st_note("-- close_range(101, 102, 0)");
	st_step("close_range", close_range(101, 102, 0));
	st_step("fd 101 open", fd_open(101));
	st_step("fd 103 open", fd_open(103));
	st_wait("wait: 100 and 103 remain", ep, ST_SOON);
	st_step("del 101", st_ctl(ep, EPOLL_CTL_DEL, 101, 0, 0));
	int w101 = pipe_at(101);
	st_step("add a new file on 101", st_ctl(ep, EPOLL_CTL_ADD, 101, EPOLLIN, 0x201));
	st_wait("wait: nothing written to the new 101", ep, ST_SOON);
	st_write1(w101, 'y');
	st_wait("wait after write", ep, ST_SOON);

	st_note("-- close_range(103, ~0U, 0)");
	st_step("close_range", close_range(103, ~0U, 0));
	st_step("fd 103 open", fd_open(103));
	st_wait("wait: 100 and 101 remain", ep, ST_SOON);
	st_step("add 103 after it was closed", st_ctl(ep, EPOLL_CTL_ADD, 103, EPOLLIN, 0x103));

	st_note("-- closefrom(102)");
	int w102 = pipe_at(102);
	st_step("add a new file on 102", st_ctl(ep, EPOLL_CTL_ADD, 102, EPOLLIN, 0x202));
	st_write1(w102, 'z');
	st_wait("wait: 100, 101, 102", ep, ST_SOON);
	closefrom(102);
	st_step("fd 102 open", fd_open(102));
	st_wait("wait: 100 and 101 remain", ep, ST_SOON);

	st_note("-- close_range(100, 101, CLOSE_RANGE_UNSHARE) on a copy");
	/* Copies on 104/105, closed with UNSHARE: the originals stay. */
	ST_OK(dup3(100, 104, O_CLOEXEC));
	ST_OK(dup3(101, 105, O_CLOEXEC));
	st_step("close_range unshare", close_range(104, 105, CLOSE_RANGE_UNSHARE));
	st_step("fd 104 open", fd_open(104));
	st_wait("wait: 100 and 101 remain", ep, ST_SOON);

	st_note("-- close_range(100, 101, CLOSE_RANGE_CLOEXEC)");
	/* Make the two watched fds inheritable, then mark them again. */
	ST_OK(fcntl(100, F_SETFD, 0));
	ST_OK(fcntl(101, F_SETFD, 0));
	/* A writer on 110, inheritable and outside the range: survives exec. */
	ST_OK(dup2(w[0], 110));
	st_step("close_range cloexec", close_range(100, 101, CLOSE_RANGE_CLOEXEC));
	st_step("fd 100 open", fd_open(100));
	st_step("fd 100 FD_CLOEXEC", fcntl(100, F_GETFD));
	st_step("fd 101 FD_CLOEXEC", fcntl(101, F_GETFD));
	st_step("fd 110 FD_CLOEXEC", fcntl(110, F_GETFD));
	st_wait("wait: still 100 and 101", ep, ST_SOON);

	pid_t pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "--after-exec", "100", "101", "110", (char *)NULL);
		_exit(127);
	}
	int status = 0;
	ST_OK(waitpid(pid, &status, 0));
	st_step("exec'ed child exit status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));

	st_note("-- invalid calls");
	st_step("first > last", close_range(5, 4, 0));
	st_step("unknown flag", close_range(100, 101, 0x8));
	st_step("fd 100 still open", fd_open(100));
	st_wait("wait: still 100 and 101", ep, ST_SOON);
	return 0;
}
