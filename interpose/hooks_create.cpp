// interpose/hooks_create.cpp - the creators of pollable fds.  Each marks
// its new fd FD_FRESH in the fd table: a new open file, so a later ADD
// needs no identity search, and a number reused after a close we did not
// see is recognised as a new file.  pipe2 and socketpair also record that
// the two ends are peers (a write on one is an edge on the other).
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"
#include "shim/api.hpp"

namespace uepoll::api {

using namespace uepoll::interpose;

static int fresh(int fd)
{
	if (fd >= 0)
		fdt_note_fresh(fd);
	return fd;
}

int socket(int domain, int type, int protocol)
{
	ensure_init();
	return fresh(UEPOLL_CALL_NEXT(int, socket, SYS_socket, domain, type, protocol));
}

int socketpair(int domain, int type, int protocol, int sv[2])
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, socketpair, SYS_socketpair, domain, type, protocol, sv);
	if (r == 0) {
		int saved = errno;
		fdt_note_pair(sv[0], sv[1], core::file_kind::socket, core::file_kind::socket);
		errno = saved;
	}
	return r;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, accept, SYS_accept, fd, addr, len);
	io_hint(fd, fdt_peek(fd), true, io_result(r), 1);
	return fresh(r);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, accept4, SYS_accept4, fd, addr, len, flags);
	io_hint(fd, fdt_peek(fd), true, io_result(r), 1);
	return fresh(r);
}

int pipe2(int fds[2], int flags)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, pipe2, SYS_pipe2, fds, flags);
	if (r == 0) {
		int saved = errno;
		fdt_note_pair(fds[0], fds[1], core::file_kind::pipe_read, core::file_kind::pipe_write);
		errno = saved;
	}
	return r;
}

int pipe(int fds[2]) { return pipe2(fds, 0); }

int eventfd(unsigned initval, int flags)
{
	ensure_init();
	return fresh(UEPOLL_CALL_NEXT(int, eventfd, SYS_eventfd2, initval, flags));
}

} // namespace uepoll::api
