/* exit_observed.c - a process exits normally while the shim's helper
 * thread is running.
 *
 * Why: the helper thread starts the first time an instance is observed
 * (watched by another instance, or passed to poll/select) and never
 * stops; a program that then returns from main runs the static
 * destructors while the helper may be walking the engine's lists.  The
 * kernel's contract is simply that exit works.  100 fresh child
 * processes each nest an instance, poll it, and return from their "main"
 * through exit(0); the parent counts how each ended.  (An earlier uepoll
 * crashed with SIGSEGV at exit in about one child in ten.)
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>

#include "shimtest.h"

static int child_main(void)
{
	int p[2];
	struct epoll_event out[4];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	int inner = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int outer = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	ST_OK(st_ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1));
	ST_OK(st_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 0x2));
	ST_OK(epoll_wait(outer, out, 4, 0));
	struct pollfd pfd = {inner, POLLIN, 0};
	ST_OK(poll(&pfd, 1, 0));
	st_write1(p[1], 'x');
	if (epoll_wait(outer, out, 4, ST_SOON) != 1)
		return 3;
	return 0; /* instances still open, helper running */
}

int main(void)
{
	int ok = 0, failed = 0, signalled = 0;
	for (int i = 0; i < 100; i++) {
		pid_t pid = (pid_t)ST_OK(fork());
		if (pid == 0)
			exit(child_main()); /* atexit handlers and destructors run */
		int status;
		ST_OK(waitpid(pid, &status, 0));
		if (WIFSIGNALED(status))
			signalled++;
		else if (WEXITSTATUS(status) == 0)
			ok++;
		else
			failed++;
	}
	st_note("children that exited with 0 = %d", ok);
	st_note("children that exited with another status = %d", failed);
	st_note("children killed by a signal = %d", signalled);
	return 0;
}
