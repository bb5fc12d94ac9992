/* scm_rights_epoll.c - an epoll fd passed to ourselves through SCM_RIGHTS.
 *
 * Why: the received fd is a new number for the same epoll instance (the
 * kernel's file, installed by recvmsg).  Natively it is that instance in
 * every way: items added through it are the instance's, a wait on it
 * reports the instance's events, poll() on it says POLLIN when they are
 * ready, and closing the original number leaves the instance alive.
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "shimtest.h"

static void send_fd(int sock, int fd)
{
	char c = 'f';
	struct iovec iov = {&c, 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof u.buf;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	if (sendmsg(sock, &m, 0) != 1)
		ST_DIE("sendmsg");
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = {&c, 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof u.buf;
	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		ST_DIE("recvmsg");
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		ST_DIE("no SCM_RIGHTS");
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

int main(void)
{
	alarm(50);
	int s[2];
	ST_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s));
	int ep = (int)ST_OK(epoll_create1(EPOLL_CLOEXEC));
	int e1 = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	int e2 = (int)ST_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	st_step("add e1 through the original", st_ctl(ep, EPOLL_CTL_ADD, e1, EPOLLIN, 0x81));
	send_fd(s[0], ep);
	int rx = recv_fd(s[1]);
	st_step("received a new number", rx != ep);
	st_step("add e2 through the received", st_ctl(rx, EPOLL_CTL_ADD, e2, EPOLLIN, 0x82));
	st_step("add e1 again through the received", st_ctl(rx, EPOLL_CTL_ADD, e1, EPOLLIN, 0x81));
	struct pollfd p = {rx, POLLIN, 0};
	st_step("poll received, idle", poll(&p, 1, 0));
	uint64_t one = 1;
	ST_OK(write(e2, &one, sizeof one));
	st_wait("wait on the original", ep, ST_SOON);
	p.revents = 0;
	st_step("poll received, ready", poll(&p, 1, ST_SOON));
	st_note("revents = %s", st_bits(p.revents));
	ST_OK(write(e1, &one, sizeof one));
	st_step("close the original", close(ep));
	st_wait("wait on the received", rx, ST_SOON);
	st_step("del e1 through the received", st_ctl(rx, EPOLL_CTL_DEL, e1, 0, 0));
	st_step("close the received", close(rx));
	close(e1);
	close(e2);
	close(s[0]);
	close(s[1]);
	return 0;
}
