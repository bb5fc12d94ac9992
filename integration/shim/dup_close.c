/* dup_close.c - dup a watched fd, close the original number: the item stays.
 *
 * Why: the kernel keys an item by (file, fd number) but removes it only
 * when the FILE is released (its last fd closed), not when the number
 * that was ADDed is closed.  So after dup + close(original):
 *   - the item keeps reporting, with its data;
 *   - it can no longer be reached by ctl: through the closed number
 *     (EBADF) nor through the dup (ENOENT, a different key);
 *   - dup2() of the same file back onto the old number makes the old key
 *     valid again (ADD: EEXIST, DEL: 0);
 *   - closing the last fd of the file removes every item of the file.
 * Programs trip over this (the "epoll gotcha"); a shim must reproduce it,
 * not "fix" it.  The same goes for the epoll fd itself: an instance lives
 * while any fd refers to it.  Compared with the kernel, not asserted.
 */
#include <fcntl.h>

#include "shimtest.h"

static void watched_file(void)
{
	st_note("-- dup a watched pipe, close the original");
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	int orig = p[0];
	st_step("add original", st_ctl(ep, EPOLL_CTL_ADD, orig, EPOLLIN, 0xa));
	int d = dup(orig);
	st_step("dup succeeded", d >= 0 ? 1 : -1);
	st_step("close original", close(orig));
	st_write1(p[1], 'x');
	st_wait("wait: the item outlives its number", ep, ST_SOON);
	st_step("mod through the closed number", st_ctl(ep, EPOLL_CTL_MOD, orig, EPOLLIN, 0xa1));
	st_step("del through the closed number", st_ctl(ep, EPOLL_CTL_DEL, orig, 0, 0));
	st_step("mod through the dup", st_ctl(ep, EPOLL_CTL_MOD, d, EPOLLIN, 0xa2));
	st_step("del through the dup", st_ctl(ep, EPOLL_CTL_DEL, d, 0, 0));
	st_step("add the dup", st_ctl(ep, EPOLL_CTL_ADD, d, EPOLLIN, 0xd));
	st_wait("wait: both items of the file", ep, ST_SOON);

	/* The old number refers to the same file again: the old key is back. */
	st_step("dup2 onto the old number", dup2(d, orig) == orig);
	st_step("add the old number again", st_ctl(ep, EPOLL_CTL_ADD, orig, EPOLLIN, 0xa3));
	st_step("mod the old number", st_ctl(ep, EPOLL_CTL_MOD, orig, EPOLLIN, 0xa4));
	st_wait("wait after mod", ep, ST_SOON);
	st_step("del the old number", st_ctl(ep, EPOLL_CTL_DEL, orig, 0, 0));
	st_wait("wait after del", ep, ST_SOON);

	/* Closing every fd of the file removes its items. */
	st_step("close the old number", close(orig));
	st_wait("wait: the dup's item remains", ep, ST_SOON);
	st_step("close the dup, last fd of the file", close(d));
	st_wait("wait: no item left", ep, 0);
	st_step("del through the dup's number", st_ctl(ep, EPOLL_CTL_DEL, d, 0, 0));

	/* New files on the freed numbers are new items. */
	int q[2];
	ST_OK(pipe2(q, O_NONBLOCK | O_CLOEXEC));
	int r2 = q[0] == orig || q[0] == d;
	st_step("new pipe reuses a freed number", r2);
	st_step("add the new pipe", st_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 0xe));
	st_wait("wait: nothing written to the new pipe", ep, 0);
	st_write1(q[1], 'y');
	st_wait("wait after write", ep, ST_SOON);
	close(q[0]);
	close(q[1]);
	close(p[1]);
	close(ep);
}

/* F_DUPFD_CLOEXEC and dup3 are dups too. */
static void other_dups(void)
{
	st_note("-- fcntl(F_DUPFD_CLOEXEC) and dup3");
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0xf));
	int d1 = fcntl(p[0], F_DUPFD_CLOEXEC, 50);
	st_step("F_DUPFD_CLOEXEC >= 50", d1 >= 50 ? 1 : -1);
	int d2 = dup3(p[0], 60, O_CLOEXEC);
	st_step("dup3 onto 60", d2);
	st_step("close original", close(p[0]));
	st_step("close d1", close(d1));
	st_write1(p[1], 'x');
	st_wait("wait: the file is still open through 60", ep, ST_SOON);
	/* dup2 of something else onto the last fd closes the file. */
	st_step("dup2 the writer onto 60", dup2(p[1], 60));
	st_wait("wait: the item went with the file", ep, 0);
	st_step("add 60 (now the writer)", st_ctl(ep, EPOLL_CTL_ADD, 60, EPOLLOUT, 0x60));
	st_wait("wait: the writer is writable", ep, ST_SOON);
	close(60);
	close(p[1]);
	close(ep);
}

static void epoll_fd(void)
{
	st_note("-- dup the epoll fd, close the original");
	int ep = (int)ST_OK(epoll_create1(0));
	int p[2];
	ST_OK(pipe2(p, O_NONBLOCK | O_CLOEXEC));
	st_step("add", st_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1));
	int e2 = dup(ep);
	st_step("dup epoll fd succeeded", e2 >= 0 ? 1 : -1);
	st_step("close original epoll fd", close(ep));
	st_step("ctl on the closed number", st_ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 0x2));
	st_step("ctl on the dup: add", st_ctl(e2, EPOLL_CTL_ADD, p[1], EPOLLOUT, 0x2));
	st_step("ctl on the dup: add existing", st_ctl(e2, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x3));
	st_write1(p[1], 'x');
	st_wait("wait on the dup", e2, ST_SOON);
	st_step("wait on the closed number", epoll_wait(ep, (struct epoll_event[1]){{0, {0}}}, 1, 0));
	/* The instance is the same through each of its fds. */
	int e3 = fcntl(e2, F_DUPFD_CLOEXEC, 0);
	st_step("del through a third fd", st_ctl(e3, EPOLL_CTL_DEL, p[0], 0, 0));
	st_wait("wait on the dup after del", e2, ST_SOON);
	st_step("close the dup", close(e2));
	st_wait("wait on the third fd", e3, ST_SOON);
	st_step("close the last epoll fd", close(e3));
	st_step("wait on it", epoll_wait(e3, (struct epoll_event[1]){{0, {0}}}, 1, 0));
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	watched_file();
	other_dups();
	epoll_fd();
	return 0;
}
