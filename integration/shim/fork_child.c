/* fork_child.c - fork(), then use the inherited epoll fd in the child.
 *
 * Why: pre-fork servers (nginx, gunicorn...) create an instance, fork, and
 * the children keep using it; daemons fork and the parent carries on.
 * uepoll gives the child its OWN COPY of each instance (documented: the
 * kernel's parent and child share one), so this test compares only what
 * is the same either way:
 *   - the child sees the items registered before fork, and their
 *     readiness (level-triggered, and an edge-triggered event still
 *     pending at fork on an instance the parent does not use afterwards);
 *   - data written after fork, by the parent or the child, reaches a
 *     level-triggered waiter in the other process;
 *   - the child can ctl the inherited instance for files it alone has
 *     (they die with the child, so the parent sees no trace either way),
 *     create instances of its own, close the inherited fd;
 *   - the parent's instance works unchanged after the child is gone.
 * The documented difference is asserted separately (fork_private_copy.c).
 * The child's lines come before the parent's next ones: the parent waits
 * for it (or for its "ready" byte) before printing.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "shimtest.h"

static void wait_child(pid_t pid)
{
	int status = 0;
	ST_OK(waitpid(pid, &status, 0));
	st_step("child exit status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int main(void)
{
	int ep = (int)ST_OK(epoll_create1(0));
	int et = (int)ST_OK(epoll_create1(0)); /* used by the child only after fork */
	int a[2], b[2], e[2], x[2];
	ST_OK(pipe2(a, O_NONBLOCK));
	ST_OK(pipe2(b, O_NONBLOCK));
	ST_OK(pipe2(e, O_NONBLOCK));
	ST_OK(pipe2(x, O_NONBLOCK));
	st_step("parent: add a", st_ctl(ep, EPOLL_CTL_ADD, a[0], EPOLLIN, 0xa));
	st_step("parent: add b", st_ctl(ep, EPOLL_CTL_ADD, b[0], EPOLLIN, 0xb));
	st_step("parent: add x to the ET instance", st_ctl(et, EPOLL_CTL_ADD, x[0], EPOLLIN | EPOLLET, 0x1));
	st_write1(a[1], 'a');
	st_write1(x[1], 'x');
	st_wait("parent: wait", ep, ST_SOON);

	st_note("-- first child: uses the inherited instances");
	pid_t pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		st_wait("child: wait on the inherited instance", ep, ST_SOON);
		st_wait("child: wait on the ET instance (edge pending at fork)", et, ST_SOON);
		st_wait("child: ET instance again", et, 0);
		st_write1(b[1], 'b');
		st_wait("child: after writing to b", ep, ST_SOON);
		int d[2];
		ST_OK(pipe2(d, O_NONBLOCK));
		st_step("child: add its own pipe to the inherited instance",
			st_ctl(ep, EPOLL_CTL_ADD, d[0], EPOLLIN, 0xd));
		st_write1(d[1], 'd');
		st_wait("child: wait", ep, ST_SOON);
		st_step("child: mod its own pipe", st_ctl(ep, EPOLL_CTL_MOD, d[0], EPOLLIN, 0xd2));
		st_wait("child: wait after mod", ep, ST_SOON);
		st_step("child: del its own pipe", st_ctl(ep, EPOLL_CTL_DEL, d[0], 0, 0));
		int mine = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
		st_step("child: add a to a new instance", st_ctl(mine, EPOLL_CTL_ADD, a[0], EPOLLIN, 0xc));
		st_wait("child: wait on the new instance", mine, ST_SOON);
		st_step("child: close the inherited instance", close(ep));
		st_step("child: ctl on it after close", st_ctl(ep, EPOLL_CTL_DEL, a[0], 0, 0));
		exit(0);
	}
	wait_child(pid);
	st_wait("parent: wait after the child wrote to b", ep, ST_SOON);
	st_step("parent: add a again", st_ctl(ep, EPOLL_CTL_ADD, a[0], EPOLLIN, 0xa2));
	st_step("parent: drain a", st_drain(a[0]));
	st_step("parent: drain b", st_drain(b[0]));
	st_wait("parent: wait after draining", ep, 0);

	st_note("-- second child: blocks until the parent writes");
	st_step("parent: add e", st_ctl(ep, EPOLL_CTL_ADD, e[0], EPOLLIN, 0xe));
	int ready[2];
	ST_OK(pipe2(ready, 0));
	pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		close(ready[0]);
		st_note("child: waiting");
		st_write1(ready[1], 'r');
		struct epoll_event evs[ST_MAXEV];
		/* 20 s: far more than needed; the parent writes right away. */
		st_events("child: wait for the parent's write", epoll_wait(ep, evs, ST_MAXEV, 20000), evs);
		exit(0);
	}
	close(ready[1]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		ST_DIE("child ready");
	st_write1(e[1], 'e');
	wait_child(pid);
	st_wait("parent: wait", ep, ST_SOON);
	st_step("parent: drain e", st_drain(e[0]));

	st_note("-- third child: exits at once");
	pid = (pid_t)ST_OK(fork());
	if (pid == 0)
		_exit(7);
	wait_child(pid);
	st_write1(b[1], 'b');
	st_wait("parent: wait", ep, ST_SOON);
	st_step("parent: del b", st_ctl(ep, EPOLL_CTL_DEL, b[0], 0, 0));
	st_wait("parent: wait after del", ep, 0);
	return 0;
}
