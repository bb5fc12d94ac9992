/* dup2_internal.c - dup2/dup3 onto every number below RLIMIT_NOFILE.
 *
 * Why: natively dup2 onto any number below the limit succeeds.  The shim
 * keeps a few fds of its own just under the limit (wake-up eventfds, the
 * helper's); dup2 onto one failed with EBUSY (issue 11: RLIMIT_NOFILE 256,
 * first at fd 192).  The shim must move its fd out of the way and give the
 * program its number; epoll must keep working after (a thread waits, the
 * helper runs for a poll on the instance).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>

#include "shimtest.h"

static int g_ep;

int main(void)
{
	alarm(50);
	st_limit_nofile(256);
	g_ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("add", st_ctl(g_ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xe1));
	/* Let the shim make its fds: a wait in this thread and in another,
	 * and a poll of the instance (the helper). */
	st_wait("idle", g_ep, 0);
	pthread_t t;
	if (pthread_create(&t, NULL, st_wait_thread, (void *)(intptr_t)g_ep))
		ST_DIE("pthread_create");
	struct pollfd pf = {g_ep, POLLIN, 0};
	st_write1(p[1], 'a');
	pthread_join(t, NULL);
	st_step("poll", poll(&pf, 1, ST_SOON));
	st_drain(p[0]);
	int failed = 0, first_fail = -1;
	for (int fd = 3; fd < 256; fd++) {
		if (fd == g_ep || fd == p[0] || fd == p[1])
			continue;
		int r = fd % 2 ? dup2(p[1], fd) : dup3(p[1], fd, O_CLOEXEC);
		if (r != fd) {
			failed++;
			if (first_fail < 0)
				first_fail = fd;
		}
	}
	st_note("dup2/dup3 failures = %d", failed);
	if (first_fail >= 0)
		fprintf(stderr, "dup2_internal: first failure at fd %d\n", first_fail);
	/* Every number but three is now the pipe's write end: write on a few. */
	st_step("write through 200", write(200, "b", 1));
	st_step("write through 255", write(255, "c", 1));
	if (pthread_create(&t, NULL, st_wait_thread, (void *)(intptr_t)g_ep))
		ST_DIE("pthread_create");
	pthread_join(t, NULL);
	pf.revents = 0;
	st_step("poll again", poll(&pf, 1, ST_SOON));
	st_step("drained", st_drain(p[0]));
	st_wait("nothing", g_ep, 0);
	/* Free two numbers for shimtest.h's count of eventpoll fds at exit. */
	close(254);
	close(255);
	return 0;
}
