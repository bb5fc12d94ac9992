/* vfork_is_fork.c - the documented vfork deviation, asserted.
 *
 * Why: a vfork() child runs in its parent's memory, the parent suspended,
 * until the child execs or exits.  Under the shim such a child's close()
 * would go through the shim and edit the parent's instances, so
 * libuepoll.so exports vfork() as fork() (docs/deviations.md, "vfork() is
 * a fork()").  The difference is seen without any timing assumption: the
 * child stores into a global and _exit()s, and the parent reads the
 * global as soon as vfork() returns and again after waitpid().  On the
 * kernel the store is in the parent's own memory (and the parent resumed
 * only after the child exited); under the shim the child stored into its
 * own copy, so the parent never sees it, however the two were scheduled.
 * Same on both, and the reason for the deviation: the child also closes
 * a watched fd, and the parent's instance still reports it (vfork shares
 * memory, not the fd table).  ctest checks the native transcript against
 * vfork_is_fork.native.txt and the uepoll one against
 * vfork_is_fork.uepoll.txt, so a change in either direction (the shim
 * passing vfork through, or the kernel's vfork changing) is noticed.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "shimtest.h"

/* 0 until the child stores 1. */
static volatile int child_store;

int main(void)
{
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("parent: add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xa));
	st_write1(p[1], 'x');
	pid_t pid = vfork();
	if (pid < 0)
		ST_DIE("vfork");
	if (pid == 0) {
		/* Only what a vfork child may do: a store, a close, _exit. */
		child_store = 1;
		close(p[0]);
		_exit(7);
	}
	st_step("parent: child's store seen when vfork returned", child_store);
	int status = 0;
	ST_OK(waitpid(pid, &status, 0));
	st_step("child exit status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	st_step("parent: child's store seen after waitpid", child_store);
	/* The child's close() closed its own fd only: the item is still in the
	 * parent's instance and p[0] still open in the parent. */
	st_wait("parent: wait", ep, ST_SOON);
	st_step("parent: drain", st_drain(p[0]));
	return 0;
}
