/* preload_probe.c - what launcher.sh needs to know about a process started
 * through the `uepoll` launcher: its LD_PRELOAD, which of libuepoll.so and
 * libshimtest_marker.so are mapped, and whether an epoll_create1 made a
 * kernel instance.  Prints key=value lines; exits with argv[1] (default
 * 0) so that the launcher's exit status can be checked too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "shimtest.h"

static int mapped(const char *needle)
{
	FILE *m = fopen("/proc/self/maps", "re");
	char line[1024];
	int found = 0;
	if (!m)
		ST_DIE("open /proc/self/maps");
	while (fgets(line, sizeof line, m))
		if (strstr(line, needle))
			found = 1;
	fclose(m);
	return found;
}

int main(int argc, char **argv)
{
	const char *pre = getenv("LD_PRELOAD");
	printf("LD_PRELOAD=%s\n", pre ? pre : "(unset)");
	printf("mapped libuepoll=%d\n", mapped("/libuepoll"));
	printf("mapped marker=%d\n", mapped("/libshimtest_marker"));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	printf("epoll_create1 ok=%d\n", ep >= 0);
	printf("eventpoll fds=%d\n", st_count_fd_links("anon_inode:[eventpoll]"));
	return argc > 1 ? atoi(argv[1]) : 0;
}
