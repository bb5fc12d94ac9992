/* integration/bench/idle_conns.c - uepoll-idle-conns: holds N idle HTTP
 * keepalive connections open to a server, for the benchmark of a server
 * with many idle clients (run-all.sh).
 *
 * Usage: uepoll-idle-conns PORT N [PATH]
 *
 * Opens N TCP connections to 127.0.0.1:PORT, sends one HTTP/1.1 keepalive
 * request (GET PATH, default /) on each and reads its whole response
 * (headers and Content-Length bytes), so that the server has accepted,
 * served and parked every one as an idle keepalive connection.
 * Then it prints "idle-conns: ready N" on stdout and holds them, silent,
 * until it is killed (SIGTERM/SIGINT: it exits 0).  Exit 1 with a message
 * when a connection or a response fails.
 *
 * It raises its RLIMIT_NOFILE to N + 64 (needs the hard limit, or root, to
 * allow it); the server must allow N more connections too (nginx:
 * worker_connections, worker_rlimit_nofile).
 *
 * Connections go in batches of BATCH (64): connect all of the batch, send
 * all its requests, then read all its responses.  One at a time, a server
 * whose every wait costs O(open connections) (a poll backend, uepoll
 * without tiers) needs about N^2/2 fd checks to take them in: minutes for
 * 10,000 on a loaded 2-core VM.  A batch is far below nginx's listen
 * backlog (511), so no connection waits on a full accept queue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what, long i)
{
	fprintf(stderr, "uepoll-idle-conns: connection %ld: %s: %s\n", i, what, strerror(errno));
	exit(1);
}

static void raise_nofile(long n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want; /* allowed to root (CAP_SYS_RESOURCE) */
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fprintf(stderr, "uepoll-idle-conns: cannot raise RLIMIT_NOFILE to %lu: %s\n", (unsigned long)want,
			strerror(errno));
		exit(1);
	}
}

/* Reads one response: the headers, then Content-Length bytes of body. */
static void read_response(int fd, long i)
{
	char buf[4096];
	size_t have = 0;
	char *end = NULL;
	while (!end) {
		if (have == sizeof buf - 1) {
			errno = EMSGSIZE;
			die("response headers too long", i);
		}
		ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read", i);
		if (r == 0) {
			errno = ECONNRESET;
			die("server closed before the end of the headers", i);
		}
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
		errno = EPROTO;
		die("status is not HTTP/1.1 200", i);
	}
	long length = -1;
	for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
		if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
			length = strtol(line + 17, NULL, 10);
	if (length < 0) {
		errno = EPROTO;
		die("no Content-Length", i);
	}
	long body = (long)(have - (size_t)(end + 4 - buf));
	while (body < length) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read (body)", i);
		body += r;
	}
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s PORT N [PATH]\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	long n = strtol(argv[2], NULL, 10);
	const char *path = argc > 3 ? argv[3] : "/";
	if (port <= 0 || port > 65535 || n < 0) {
		fprintf(stderr, "uepoll-idle-conns: bad PORT or N\n");
		return 2;
	}
	raise_nofile(n);

	/* Installed before the connections, so that a kill while connecting
	 * ends the program cleanly too (a plain exit; the kernel closes). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	char req[512];
	int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
			      path);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	enum { BATCH = 64 };
	int fds[BATCH];
	for (long first = 0; first < n && !stop; first += BATCH) {
		long count = n - first < BATCH ? n - first : BATCH;
		for (long k = 0; k < count; k++) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				die("socket", first + k);
			if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
				die("connect", first + k);
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			fds[k] = fd;
		}
		for (long k = 0; k < count; k++)
			if (write(fds[k], req, (size_t)reqlen) != reqlen)
				die("write", first + k);
		for (long k = 0; k < count; k++)
			read_response(fds[k], first + k);
	}
	if (stop)
		return 0;
	printf("idle-conns: ready %ld\n", n);
	fflush(stdout);
	while (!stop)
		pause();
	return 0;
}
