/* basic_modes.c - level-triggered, edge-triggered and one-shot items over
 * one transport: a pipe, an AF_UNIX socketpair or a TCP loopback
 * connection (argv[1]: pipe | socketpair | tcp).
 *
 * Why: these are the three delivery modes every event loop relies on, and
 * each transport reaches uepoll's poll(2)-based engine differently (pipe
 * and socketpair peers are known to the shim from their creation, a TCP
 * connection is two unrelated sockets).  Each scenario gets a fresh
 * instance and a fresh (reader, writer) pair; the transcript records the
 * ctl results, the waits, and the events with their data.
 *
 * Only kernel-defined behaviour is recorded: an expected event is waited
 * for with a generous bound, "nothing" is a wait with timeout 0, ET files
 * are drained to EAGAIN before the next edge is expected, and EPOLLOUT is
 * looked at only where it does not depend on TCP acknowledgement timing.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "shimtest.h"

static const char *transport;

struct pair {
	int r; /* watched end, non-blocking */
	int w; /* the peer we write to */
};

static struct pair make_pair(void)
{
	struct pair p;
	if (strcmp(transport, "pipe") == 0) {
		int fds[2];
		ST_OK(pipe2(fds, O_NONBLOCK | O_CLOEXEC));
		p.r = fds[0];
		p.w = fds[1];
	} else if (strcmp(transport, "socketpair") == 0) {
		int sv[2];
		ST_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
		p.r = sv[0];
		p.w = sv[1];
	} else {
		struct sockaddr_in a;
		socklen_t len = sizeof a;
		int one = 1;
		int l = (int)ST_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ST_OK(bind(l, (struct sockaddr *)&a, sizeof a));
		ST_OK(listen(l, 4));
		ST_OK(getsockname(l, (struct sockaddr *)&a, &len));
		p.w = (int)ST_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		ST_OK(connect(p.w, (struct sockaddr *)&a, sizeof a));
		p.r = (int)ST_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
		ST_OK(setsockopt(p.w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
		ST_OK(setsockopt(p.r, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
		ST_OK(close(l));
	}
	return p;
}

static void write_bytes(int fd, const char *s)
{
	size_t n = strlen(s);
	if (write(fd, s, n) != (ssize_t)n)
		ST_DIE("write %zu bytes", n);
}

static void level_triggered(void)
{
	st_note("-- level-triggered (%s)", transport);
	struct pair p = make_pair();
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add IN|RDHUP", st_ctl(ep, EPOLL_CTL_ADD, p.r, EPOLLIN | EPOLLRDHUP, 0x11));
	st_wait("wait, nothing written", ep, 0);
	write_bytes(p.w, "abc");
	st_wait("wait after write", ep, ST_SOON);
	st_wait("wait again, still readable", ep, 0);
	char c;
	st_step("read 1 of 3", read(p.r, &c, 1));
	st_wait("wait after partial read", ep, 0);
	st_step("drain", st_drain(p.r));
	st_wait("wait after drain", ep, 0);
	st_step("add again", st_ctl(ep, EPOLL_CTL_ADD, p.r, EPOLLIN, 0x12));
	st_step("mod data", st_ctl(ep, EPOLL_CTL_MOD, p.r, EPOLLIN | EPOLLRDHUP, 0x13));
	write_bytes(p.w, "d");
	st_wait("wait after mod and write", ep, ST_SOON);
	st_step("drain", st_drain(p.r));
	/* The writer goes away: end of file, and HUP/RDHUP as the kind of
	 * file defines them. */
	st_step("close writer", close(p.w));
	st_wait("wait after writer closed", ep, ST_SOON);
	st_step("read at end of file", read(p.r, &c, 1));
	st_wait("wait again after end of file", ep, 0);
	st_step("del", st_ctl(ep, EPOLL_CTL_DEL, p.r, 0, 0));
	st_step("del again", st_ctl(ep, EPOLL_CTL_DEL, p.r, 0, 0));
	st_step("mod deleted", st_ctl(ep, EPOLL_CTL_MOD, p.r, EPOLLIN, 0x14));
	st_wait("wait after del", ep, 0);
	close(p.r);
	close(ep);
}

static void edge_triggered(void)
{
	st_note("-- edge-triggered (%s)", transport);
	struct pair p = make_pair();
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add IN|ET", st_ctl(ep, EPOLL_CTL_ADD, p.r, EPOLLIN | EPOLLET, 0x21));
	st_wait("wait, nothing written", ep, 0);
	write_bytes(p.w, "abc");
	st_wait("wait after write", ep, ST_SOON);
	st_wait("wait again, no new edge", ep, 0);
	st_step("drain to EAGAIN", st_drain(p.r));
	st_wait("wait after drain", ep, 0);
	for (int i = 0; i < 3; i++) {
		write_bytes(p.w, "x");
		st_wait("wait after a new write", ep, ST_SOON);
		st_wait("wait again", ep, 0);
		st_step("drain to EAGAIN", st_drain(p.r));
	}
	/* New data while the previous has not been read is a new arrival,
	 * hence a new edge, for every one of these files (each arrival wakes
	 * the file's waiters). */
	write_bytes(p.w, "y");
	st_wait("wait after write", ep, ST_SOON);
	write_bytes(p.w, "z");
	st_wait("wait after a second write, first not read", ep, ST_SOON);
	st_step("drain to EAGAIN", st_drain(p.r));
	/* MOD re-evaluates readiness: an unread byte is reported again. */
	write_bytes(p.w, "m");
	st_wait("wait after write", ep, ST_SOON);
	st_wait("wait again", ep, 0);
	st_step("mod IN|ET", st_ctl(ep, EPOLL_CTL_MOD, p.r, EPOLLIN | EPOLLET, 0x22));
	st_wait("wait after mod", ep, 0);
	st_wait("wait again after mod", ep, 0);
	st_step("drain to EAGAIN", st_drain(p.r));
	/* Hang-up is an edge too. */
	st_step("close writer", close(p.w));
	st_wait("wait after writer closed", ep, ST_SOON);
	st_wait("wait again", ep, 0);
	close(p.r);
	close(ep);

	if (strcmp(transport, "pipe") != 0) {
		/* A fresh socket is writable: one OUT edge, then silence. */
		p = make_pair();
		ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
		st_step("add OUT|ET on a fresh socket", st_ctl(ep, EPOLL_CTL_ADD, p.r, EPOLLOUT | EPOLLET, 0x23));
		st_wait("wait", ep, ST_SOON);
		st_wait("wait again", ep, 0);
		close(p.r);
		close(p.w);
		close(ep);
	}
}

static void one_shot(void)
{
	st_note("-- one-shot (%s)", transport);
	struct pair p = make_pair();
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	st_step("add IN|ONESHOT", st_ctl(ep, EPOLL_CTL_ADD, p.r, EPOLLIN | EPOLLONESHOT, 0x31));
	write_bytes(p.w, "a");
	st_wait("wait after write", ep, ST_SOON);
	st_wait("wait again, disarmed", ep, 0);
	write_bytes(p.w, "b");
	st_wait("wait after another write, still disarmed", ep, 0);
	st_step("add while disarmed", st_ctl(ep, EPOLL_CTL_ADD, p.r, EPOLLIN, 0x32));
	st_step("mod re-arms", st_ctl(ep, EPOLL_CTL_MOD, p.r, EPOLLIN | EPOLLONESHOT, 0x33));
	st_wait("wait after mod", ep, 0);
	st_wait("wait again", ep, 0);
	st_step("drain", st_drain(p.r));
	st_step("mod re-arms", st_ctl(ep, EPOLL_CTL_MOD, p.r, EPOLLIN | EPOLLONESHOT | EPOLLET, 0x34));
	st_wait("wait, nothing to read", ep, 0);
	write_bytes(p.w, "c");
	st_wait("wait after write", ep, ST_SOON);
	st_wait("wait again", ep, 0);
	st_step("mod to level-triggered", st_ctl(ep, EPOLL_CTL_MOD, p.r, EPOLLIN, 0x35));
	st_wait("wait after mod", ep, 0);
	st_wait("wait again, level-triggered", ep, 0);
	st_step("del", st_ctl(ep, EPOLL_CTL_DEL, p.r, 0, 0));
	st_wait("wait after del", ep, 0);
	close(p.r);
	close(p.w);
	close(ep);
}

/* The same instance seen through the other waits: epoll_pwait with and
 * without a mask, epoll_pwait2 with a zero and a finite timeout. */
static void other_waits(void)
{
	st_note("-- epoll_pwait and epoll_pwait2 (%s)", transport);
	struct pair p = make_pair();
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event evs[ST_MAXEV];
	sigset_t mask;
	sigemptyset(&mask);
	struct timespec zero = {0, 0}, soon = {ST_SOON / 1000, 0};
	st_step("add IN", st_ctl(ep, EPOLL_CTL_ADD, p.r, EPOLLIN, 0x41));
	st_events("pwait, nothing", epoll_pwait(ep, evs, ST_MAXEV, 0, NULL), evs);
	st_events("pwait2 zero timeout, nothing", epoll_pwait2(ep, evs, ST_MAXEV, &zero, &mask), evs);
	write_bytes(p.w, "a");
	st_events("pwait with mask", epoll_pwait(ep, evs, ST_MAXEV, ST_SOON, &mask), evs);
	st_events("pwait2 finite timeout", epoll_pwait2(ep, evs, ST_MAXEV, &soon, NULL), evs);
	st_events("pwait2 no timeout", epoll_pwait2(ep, evs, ST_MAXEV, NULL, NULL), evs);
	st_events("pwait2 bad maxevents", epoll_pwait2(ep, evs, 0, &zero, NULL), evs);
	struct timespec bad = {0, 1000000000L};
	st_events("pwait2 bad timeout", epoll_pwait2(ep, evs, ST_MAXEV, &bad, NULL), evs);
	close(p.r);
	close(p.w);
	close(ep);
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "pipe") && strcmp(argv[1], "socketpair") && strcmp(argv[1], "tcp"))) {
		fprintf(stderr, "usage: %s pipe|socketpair|tcp\n", argv[0]);
		return 2;
	}
	transport = argv[1];
	level_triggered();
	edge_triggered();
	one_shot();
	other_waits();
	return 0;
}
