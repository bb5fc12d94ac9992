/* exit_observed.c - a process exits normally while the shim's helper
 * thread is running.
 *
 * Why: the helper thread starts the first time an instance is observed
 * (watched by another instance, or passed to poll/select) and never
 * stops; a program that then returns from main runs the static
 * destructors while the helper may be walking the engine's lists.  The
 * kernel's contract is simply that exit works, also while another thread
 * is still doing I/O.  200 fresh child processes each nest an instance,
 * poll it, start a thread that keeps writing to and draining a pipe the
 * observed instance watches (so the helper keeps waking up), and return
 * from their "main" through exit(0); the parent counts how each ended.
 * (uepoll 0.1.0 crashed with SIGSEGV at exit, in the helper walking the
 * list of instances that the static destructors were tearing down.)
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include "shimtest.h"

static int spin_rd = -1, spin_wr = -1;

/* Keeps the helper busy: every byte wakes its poll of the observed
 * instance.  Runs until the process exits under it. */
static void *spinner(void *arg)
{
	(void)arg;
	char buf[64];
	for (;;) {
		if (write(spin_wr, "s", 1) < 0 && errno != EAGAIN)
			return NULL;
		while (read(spin_rd, buf, sizeof buf) > 0) {
		}
	}
}

static int child_main(void)
{
	int p[2], s[2];
	struct epoll_event out[4];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ST_OK(pipe2(s, O_NONBLOCK | O_CLOEXEC));
	int inner = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int outer = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	ST_OK(st_ctl(inner, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1));
	ST_OK(st_ctl(inner, EPOLL_CTL_ADD, s[0], EPOLLIN | EPOLLET, 0x4));
	ST_OK(st_ctl(outer, EPOLL_CTL_ADD, inner, EPOLLIN, 0x2));
	ST_OK(epoll_wait(outer, out, 4, 0));
	struct pollfd pfd = {inner, POLLIN, 0};
	ST_OK(poll(&pfd, 1, 0));
	st_write1(p[1], 'x');
	if (epoll_wait(outer, out, 4, ST_SOON) != 1)
		return 3;
	spin_rd = s[0];
	spin_wr = s[1];
	pthread_t t;
	if (pthread_create(&t, NULL, spinner, NULL) != 0)
		return 4;
	/* Let the spinner get going (no timing is asserted: a slower start
	 * only makes the exit less likely to meet the helper mid-walk). */
	struct timespec ms = {0, 1000000};
	nanosleep(&ms, NULL);
	return 0; /* instances still open, helper and spinner running */
}

int main(void)
{
	int ok = 0, failed = 0, signalled = 0;
	for (int i = 0; i < 200; i++) {
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
