/* exec_inherit.c - exec() with an inherited, non-CLOEXEC epoll fd.
 *
 * Why: a program may exec with an epoll fd it forgot to mark CLOEXEC
 * (or, like a shell, on purpose).  Under the shim that fd is a plain
 * eventfd to the new image (the instance lived in the old image's
 * memory), so what the new image can DO with it differs from the kernel
 * and is not compared.  What is compared: the new image starts and does
 * not crash when it touches the inherited fd (epoll_wait, epoll_ctl,
 * poll, close - results not printed), the number is open in it, a
 * CLOEXEC epoll fd is not, and the new image's own epoll works.  Done
 * through fork+execv, posix_spawn (a clone(CLONE_VM|CLONE_VFORK) that
 * runs no fork handlers) and system(3); in each case the parent's
 * instance is unchanged afterwards.
 */
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include "shimtest.h"

extern char **environ;

static int fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* The new image: argv = prog --image2 LABEL INHERITED CLOEXEC_ONE */
static int image2(char **argv)
{
	const char *label = argv[2];
	int inh = atoi(argv[3]), cx = atoi(argv[4]);
	st_note("%s: new image running", label);
	st_note("%s: inherited epoll fd open = %d", label, fd_open(inh));
	st_note("%s: CLOEXEC epoll fd open = %d", label, fd_open(cx));
	/* Touch the inherited fd every way a program might; on the kernel it
	 * is a working instance, under the shim an eventfd.  Not printed. */
	struct epoll_event evs[4];
	struct pollfd pfd = {inh, POLLIN, 0};
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	(void)epoll_wait(inh, evs, 4, 0);
	(void)st_ctl(inh, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x99);
	(void)epoll_wait(inh, evs, 4, 0);
	(void)st_ctl(inh, EPOLL_CTL_DEL, p[0], 0, 0);
	(void)poll(&pfd, 1, 0);
	st_note("%s: touched the inherited fd", label);
	st_step("close the inherited fd", close(inh));
	/* Its own epoll works. */
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("new image: add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x2));
	st_write1(p[1], 'x');
	st_wait("new image: wait", ep, ST_SOON);
	return 0;
}

static void report(const char *what, int status)
{
	char label[64];
	snprintf(label, sizeof label, "%s exit status", what);
	st_step(label, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--image2") == 0)
		return image2(argv);

	int inh = (int)ST_OK(epoll_create1(0));
	int cx = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("add to the inheritable instance", st_ctl(inh, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1));
	st_step("add to the CLOEXEC instance", st_ctl(cx, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x3));
	st_write1(p[1], 'x');
	st_wait("wait before exec", inh, ST_SOON);
	char a_inh[16], a_cx[16];
	snprintf(a_inh, sizeof a_inh, "%d", inh);
	snprintf(a_cx, sizeof a_cx, "%d", cx);

	/* fork + execv */
	pid_t pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		char *args[] = {argv[0], "--image2", "fork+exec", a_inh, a_cx, NULL};
		execv("/proc/self/exe", args);
		_exit(127);
	}
	int status = 0;
	ST_OK(waitpid(pid, &status, 0));
	report("fork+exec", status);
	st_wait("parent: wait after fork+exec", inh, ST_SOON);

	/* posix_spawn */
	char *sargs[] = {argv[0], "--image2", "posix_spawn", a_inh, a_cx, NULL};
	int r = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, sargs, environ);
	if (r == 0)
		ST_OK(waitpid(pid, &status, 0)); /* the child's lines first */
	st_step("posix_spawn", r == 0 ? 0 : -r);
	report("posix_spawn", status);
	st_wait("parent: wait after posix_spawn", inh, ST_SOON);

	/* system(3): /bin/sh inherits the fd (and the shim, under LD_PRELOAD) */
	char cmd[64];
	snprintf(cmd, sizeof cmd, "test -e /proc/self/fd/%d && exit 3", inh);
	status = system(cmd);
	report("system", status);
	st_wait("parent: wait after system", inh, ST_SOON);
	st_wait("parent: CLOEXEC instance", cx, ST_SOON);
	return 0;
}
