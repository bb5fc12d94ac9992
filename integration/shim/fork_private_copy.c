/* fork_private_copy.c - the documented fork deviation, asserted.
 *
 * Why: on the kernel, parent and child share one instance after fork(),
 * so an ADD made by the child is seen by the parent.  uepoll documents
 * the opposite (tests/deviations_test.cpp, "deviation_fork_shares_no_
 * instance"): the child gets its own copy, its ADD stays in the child.
 * This program shows which of the two happened; ctest checks the native
 * transcript against fork_private_copy.native.txt and the uepoll one
 * against fork_private_copy.uepoll.txt, so a change in either direction
 * (the shim starting to share, or the copy breaking) is noticed.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "shimtest.h"

int main(void)
{
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_write1(p[1], 'x');
	pid_t pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		/* The child sees its own ADD, on both. */
		st_step("child: add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xc));
		st_wait("child: wait", ep, ST_SOON);
		exit(0);
	}
	int status = 0;
	ST_OK(waitpid(pid, &status, 0));
	st_step("child exit status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	/* The child's fds are closed, but p[0] is still open in the parent,
	 * so on the kernel the child's item lives on in the shared instance. */
	st_wait("parent: wait", ep, 0);
	st_step("parent: add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xd));
	st_wait("parent: wait after add", ep, 0);
	return 0;
}
