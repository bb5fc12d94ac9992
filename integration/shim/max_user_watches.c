/* max_user_watches.c - the sysctl fs.epoll.max_user_watches changed while
 * an instance lives.
 *
 * Why: the kernel checks the limit at every ADD (ep_insert against
 * max_user_watches, read from the sysctl each time): lowering it makes the
 * next ADD fail with ENOSPC, raising it lets ADDs through again, on the
 * instance that already existed.  The shim read it once (at epoll_create).
 * Now it reads it at most once per millisecond, and at every ADD once the
 * process opened the file for writing (its own fopen): the first steps pin
 * deviation 10, a write by another process, the last ones this process's
 * own writes.
 * Needs a writable /proc/sys (root); otherwise says so and prints nothing
 * else (both runs alike).  The old value is always restored.
 */
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>

#include "shimtest.h"

static const char *path = "/proc/sys/fs/epoll/max_user_watches";

static long read_limit(void)
{
	FILE *f = fopen(path, "re");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_limit(long v)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Watches this user has now, from every process: /proc/<pid>/fdinfo is
 * not ours to scan, so the limit is set relative to a probe instead. */
/* Writes v from a child process (another process for the shim: its
 * hooks in the child do not tell the parent). */
static int write_limit_elsewhere(long v)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(write_limit(v) == 0 ? 0 : 1);
	int status = 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(void)
{
	alarm(50);
	long old = read_limit();
	/* Probed from a child: this process must not open the file for
	 * writing before the steps of deviation 10 (that would make every
	 * ADD read it). */
	if (old < 0 || write_limit_elsewhere(old) != 0) {
		fprintf(stderr, "max_user_watches: %s is not writable here: nothing to test\n", path);
		st_note("skipped");
		return 0;
	}
	int fds[8];
	for (int i = 0; i < 8; i++)
		fds[i] = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));

	/* Written by another process (docs/deviations.md, deviation 10): the
	 * shim reads the sysctl again at most once per millisecond, so an
	 * ADD 2 ms after the writer is gone sees the new value. */
	int ep0 = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add before another process writes", st_ctl(ep0, EPOLL_CTL_ADD, fds[3], EPOLLIN, 0xf3));
	if (write_limit_elsewhere(1) != 0) {
		write_limit_elsewhere(old);
		ST_DIE("write 1 from a child");
	}
	struct timespec two_ms = {0, 2000000};
	nanosleep(&two_ms, NULL);
	st_step("add after another process lowered the limit", st_ctl(ep0, EPOLL_CTL_ADD, fds[4], EPOLLIN, 0xf4));
	if (write_limit_elsewhere(old) != 0)
		ST_DIE("restore from a child");
	nanosleep(&two_ms, NULL);
	st_step("add after another process restored it", st_ctl(ep0, EPOLL_CTL_ADD, fds[4], EPOLLIN, 0xf4));

	/* Written by this process: counts from its next ADD on. */
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add 0", st_ctl(ep, EPOLL_CTL_ADD, fds[0], EPOLLIN, 0xf0));
	/* Every user's count is charged against the limit: 0 is below any
	 * count this user has (this instance holds one watch). */
	if (write_limit(1) != 0)
		ST_DIE("write 1");
	st_step("add 1 with the limit at 1", st_ctl(ep, EPOLL_CTL_ADD, fds[1], EPOLLIN, 0xf1));
	st_step("MOD is not an insert", st_ctl(ep, EPOLL_CTL_MOD, fds[0], EPOLLIN | EPOLLET, 0xf0));
	int ep2 = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add to a new instance", st_ctl(ep2, EPOLL_CTL_ADD, fds[2], EPOLLIN, 0xf2));
	if (write_limit(old) != 0)
		ST_DIE("restore");
	st_step("add 1 after restoring", st_ctl(ep, EPOLL_CTL_ADD, fds[1], EPOLLIN, 0xf1));
	st_step("add to the new instance after restoring", st_ctl(ep2, EPOLL_CTL_ADD, fds[2], EPOLLIN, 0xf2));
	st_step("restored", read_limit() == old);
	return 0;
}
