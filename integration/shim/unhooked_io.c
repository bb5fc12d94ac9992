/* unhooked_io.c - edge-triggered items read and written through the
 * paths that are not read(2)/write(2): glibc's own I/O (eventfd_read,
 * eventfd_write, stdio), the vector and positioned calls, the fortified
 * _chk variants, the splice family, and syscall(SYS_read/SYS_write).
 *
 * Why: uepoll re-arms an EPOLLET item from the I/O calls it sees.  Natively
 * every change of readiness after a drain is a new edge, whichever call
 * made it: draining an eventfd with eventfd_read() and refilling it with
 * eventfd_write() must be reported, a real program waits on that edge
 * forever otherwise.  Each case: an ET item, the fd drained by path X,
 * refilled by path Y while another thread is blocked in epoll_wait (the
 * shim cannot have looked at the empty fd in between); the waiter's
 * result is compared.  (preadv/pwritev
 * take an offset, which an eventfd or a pipe refuses: preadv2/pwritev2
 * with offset -1 are their usable form.)
 *
 * Each case then writes a second time with nothing read in between:
 * natively a new edge too (eventfd_signal, sock_def_readable and
 * pipe_write wake every time).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "shimtest.h"

/* The fortified entry points (what -D_FORTIFY_SOURCE=2 code calls). */
extern ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
extern ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
extern ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *a,
			      socklen_t *al);

/* How a case reads or writes: fd, 8-byte value (eventfds) or one byte. */
typedef long (*io_fn)(int fd, int is_efd);

static long r_read(int fd, int e) { char b[8]; return read(fd, b, e ? 8 : 1); }
static long r_eventfd_read(int fd, int e) { (void)e; eventfd_t v; return eventfd_read(fd, &v); }
static long r_readv(int fd, int e) { char b[8]; struct iovec v = {b, e ? 8u : 1u}; return readv(fd, &v, 1); }
static long r_preadv2(int fd, int e) { char b[8]; struct iovec v = {b, e ? 8u : 1u}; return preadv2(fd, &v, 1, -1, 0); }
static long r_read_chk(int fd, int e) { char b[8]; return __read_chk(fd, b, e ? 8 : 1, 8); }
static long r_recv_chk(int fd, int e) { char b[8]; (void)e; return __recv_chk(fd, b, 1, 8, 0); }
static long r_recvfrom_chk(int fd, int e) { char b[8]; (void)e; return __recvfrom_chk(fd, b, 1, 8, 0, NULL, NULL); }
static long r_sys_read(int fd, int e) { char b[8]; return syscall(SYS_read, fd, b, e ? 8 : 1); }

static long w_write(int fd, int e) { uint64_t one = 1; return write(fd, &one, e ? 8 : 1); }
static long w_eventfd_write(int fd, int e) { (void)e; return eventfd_write(fd, 1); }
static long w_writev(int fd, int e) { uint64_t one = 1; struct iovec v = {&one, e ? 8u : 1u}; return writev(fd, &v, 1); }
static long w_pwritev2(int fd, int e) { uint64_t one = 1; struct iovec v = {&one, e ? 8u : 1u}; return pwritev2(fd, &v, 1, -1, 0); }
static long w_sys_write(int fd, int e) { uint64_t one = 1; return syscall(SYS_write, fd, &one, e ? 8 : 1); }
static long w_stdio(int fd, int e)
{
	(void)e;
	/* fdopen on a dup: fclose then closes the dup, not the watched fd. */
	FILE *f = fdopen(dup(fd), "w");
	if (!f)
		ST_DIE("fdopen");
	long r = fputs("s", f) >= 0 && fflush(f) == 0 ? 1 : -1;
	fclose(f);
	return r;
}
static long w_fprintf(int fd, int e)
{
	(void)e;
	return dprintf(fd, "d");
}
static long w_vmsplice(int fd, int e)
{
	(void)e;
	char c = 'v';
	struct iovec v = {&c, 1};
	return vmsplice(fd, &v, 1, 0);
}

/* One ET item on the read end; drained by rd, refilled by wr, twice. */
/* A waiter blocked in epoll_wait while the fd is filled; main prints. */
static int g_wait_ep, g_wait_n;
static struct epoll_event g_wait_evs[ST_MAXEV];
static void *blocked_waiter(void *arg)
{
	(void)arg;
	g_wait_n = epoll_wait(g_wait_ep, g_wait_evs, ST_MAXEV, ST_SOON);
	return NULL;
}

/* Gives the waiter time to block; a late one still sees the edge (the
 * result does not depend on this). */
static void let_block(void)
{
	struct timespec ts = {0, 5000000};
	nanosleep(&ts, NULL);
}

static void one_case(const char *kind, const char *rname, io_fn rd, const char *wname, io_fn wr)
{
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int rfd, wfd, efd = strcmp(kind, "eventfd") == 0;
	if (efd) {
		rfd = wfd = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	} else if (strcmp(kind, "pipe") == 0) {
		int p[2];
		ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
		rfd = p[0];
		wfd = p[1];
	} else {
		int s[2];
		ST_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s));
		rfd = s[0];
		wfd = s[1];
	}
	char label[160];
	printf("-- %s: drain by %s, fill by %s\n", kind, rname, wname);
	st_step("add ET", st_ctl(ep, EPOLL_CTL_ADD, rfd, EPOLLIN | EPOLLET, 0x61));
	st_step("fill", wr(wfd, efd) >= 0);
	st_wait("first edge", ep, ST_SOON);
	for (int round = 1; round <= 2; round++) {
		snprintf(label, sizeof label, "drain %d", round);
		st_step(label, rd(rfd, efd) >= 0);
		/* The edge must reach a waiter already blocked (the shim cannot
		 * have looked at the empty fd in between). */
		g_wait_ep = ep;
		pthread_t t;
		if (pthread_create(&t, NULL, blocked_waiter, NULL))
			ST_DIE("pthread_create");
		let_block();
		snprintf(label, sizeof label, "fill %d", round);
		st_step(label, wr(wfd, efd) >= 0);
		pthread_join(t, NULL);
		snprintf(label, sizeof label, "blocked waiter after fill %d", round);
		st_events(label, g_wait_n, g_wait_evs);
	}
	st_step("fill again", wr(wfd, efd) >= 0);
	st_wait("edge after fill again", ep, ST_SOON);
	close(ep);
	if (rfd != wfd)
		close(wfd);
	close(rfd);
}

int main(void)
{
	alarm(50);
	static const struct {
		const char *name;
		io_fn fn;
	} rds[] = {{"read", r_read},	 {"eventfd_read", r_eventfd_read}, {"readv", r_readv},
		   {"preadv2", r_preadv2},	   {"__read_chk", r_read_chk},
		   {"SYS_read", r_sys_read}},
	  wrs[] = {{"write", w_write},	 {"eventfd_write", w_eventfd_write}, {"writev", w_writev},
		   {"pwritev2", w_pwritev2},	     {"SYS_write", w_sys_write}},
	  pipe_wrs[] = {{"fputs+fflush", w_stdio}, {"dprintf", w_fprintf}, {"vmsplice", w_vmsplice}},
	  sock_rds[] = {{"__recv_chk", r_recv_chk}, {"__recvfrom_chk", r_recvfrom_chk}};
	for (size_t i = 0; i < sizeof rds / sizeof rds[0]; i++)
		for (size_t j = 0; j < sizeof wrs / sizeof wrs[0]; j++)
			one_case("eventfd", rds[i].name, rds[i].fn, wrs[j].name, wrs[j].fn);
	for (size_t j = 0; j < sizeof pipe_wrs / sizeof pipe_wrs[0]; j++)
		one_case("pipe", "read", r_read, pipe_wrs[j].name, pipe_wrs[j].fn);
	for (size_t i = 0; i < sizeof sock_rds / sizeof sock_rds[0]; i++)
		one_case("socketpair", sock_rds[i].name, sock_rds[i].fn, "write", w_write);
	return 0;
}
