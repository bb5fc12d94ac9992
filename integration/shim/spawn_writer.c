/* spawn_writer.c - a partial read, then a process spawned without fork()'s
 * handlers writes the pipe (issue 13, deviation 1 of docs/deviations.md).
 *
 * Why: on a pipe made in this process, uepoll keeps an EPOLLET item's read
 * side suppressed after a read that leaves data, as the kernel reports
 * nothing then; that is sound only while every writer is in the process.
 * posix_spawn(), system() and popen() give the child the non-CLOEXEC write
 * end through glibc's own spawn (no fork handler runs): the shim must see
 * them as escapes, or the child's write would never be reported (a lost
 * edge, a hang).  Compared: the child's write is reported after each.
 */
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "shimtest.h"

extern char **environ;

static void one(const char *how)
{
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK)); /* no CLOEXEC: the child inherits it */
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN | EPOLLET, 0x1));
	ST_OK(write(p[1], "0123456789", 10));
	char label[96];
	snprintf(label, sizeof label, "%s: first wait", how);
	st_wait(label, ep, ST_SOON);
	char buf[64];
	snprintf(label, sizeof label, "%s: partial read", how);
	st_step(label, read(p[0], buf, 3));
	snprintf(label, sizeof label, "%s: after the partial read", how);
	st_wait(label, ep, 0);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "printf y >&%d", p[1]);
	int status = -1;
	if (how[0] == 'p' && how[1] == 'o') {
		FILE *f = popen(cmd, "r");
		status = f ? pclose(f) : -1;
	} else if (how[0] == 's') {
		status = system(cmd);
	} else {
		char *argv[] = {"sh", "-c", cmd, NULL};
		pid_t pid;
		if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0)
			waitpid(pid, &status, 0);
	}
	snprintf(label, sizeof label, "%s: child exit status", how);
	st_step(label, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	/* The child's write is a new edge on the kernel; under the shim the
	 * spawn re-armed the item, so its poll sees the data. */
	snprintf(label, sizeof label, "%s: after the child's write", how);
	st_wait(label, ep, ST_SOON);
	snprintf(label, sizeof label, "%s: drain", how);
	st_step(label, read(p[0], buf, sizeof buf));
	close(ep);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	one("posix_spawn");
	one("system");
	one("popen");
	return 0;
}
