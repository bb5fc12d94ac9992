// interpose/hooks_create.cpp - the creators of pollable fds.  Each marks
// its new fd FD_FRESH in the fd table: a new open file, so a later ADD
// needs no identity search, and a number reused after a close we did not
// see is recognised as a new file.  pipe2 and socketpair also record that
// the two ends are peers (a write on one is an edge on the other).
#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <mutex>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"
#include "shim/api.hpp"

namespace uepoll::interpose {

// In-process TCP connections over loopback: the client and the server end
// live in this process, so a write on one is an edge on the other, as for
// a socketpair.  connect() records the client's address; accept() looks
// up the peer of the socket it returns.  Empty (and free) unless the
// program connects to itself.
namespace {
struct loopback_entry {
	sockaddr_storage addr;
	socklen_t len;
	core::epfile *file; // one reference
};
constexpr int LOOPBACK_MAX = 128;
loopback_entry loopback[LOOPBACK_MAX];
int nloopback;
core::spinlock loopback_lock;

bool is_loopback(const struct sockaddr *a)
{
	if (!a)
		return false;
	if (a->sa_family == AF_INET)
		return (ntohl(reinterpret_cast<const sockaddr_in *>(a)->sin_addr.s_addr) >> 24) == 127;
	if (a->sa_family == AF_INET6) {
		const auto *a6 = reinterpret_cast<const sockaddr_in6 *>(a);
		return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) || IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr);
	}
	return false;
}

// Drops entries whose file is gone.  Called with loopback_lock held.
void loopback_sweep()
{
	for (int i = 0; i < nloopback;) {
		if (loopback[i].file->dead.load(std::memory_order_acquire)) {
			core::epfile_put(loopback[i].file);
			loopback[i] = loopback[--nloopback];
		} else {
			i++;
		}
	}
}
} // namespace

void loopback_connected(int fd, const struct sockaddr *dest)
{
	if (!is_loopback(dest))
		return;
	sockaddr_storage me;
	socklen_t len = sizeof me;
	if (raw_syscall(SYS_getsockname, fd, reinterpret_cast<long>(&me), reinterpret_cast<long>(&len)) < 0)
		return;
	long err;
	core::epfile *f = fdt_get(fd, &err);
	if (!f)
		return;
	std::lock_guard g(loopback_lock);
	loopback_sweep();
	if (nloopback == LOOPBACK_MAX) {
		core::epfile_put(f);
		return;
	}
	loopback[nloopback++] = {me, len, f};
}

void loopback_accepted(int fd)
{
	{
		std::lock_guard g(loopback_lock);
		if (nloopback == 0)
			return;
	}
	sockaddr_storage peer;
	socklen_t len = sizeof peer;
	if (raw_syscall(SYS_getpeername, fd, reinterpret_cast<long>(&peer), reinterpret_cast<long>(&len)) < 0)
		return;
	core::epfile *client = nullptr;
	{
		std::lock_guard g(loopback_lock);
		loopback_sweep();
		for (int i = 0; i < nloopback; i++) {
			if (loopback[i].len == len && memcmp(&loopback[i].addr, &peer, len) == 0) {
				client = loopback[i].file;
				loopback[i] = loopback[--nloopback];
				break;
			}
		}
	}
	if (!client)
		return;
	long err;
	if (core::epfile *server = fdt_get(fd, &err)) {
		core::epfile_link_peers(server, client);
		core::epfile_put(server);
	}
	core::epfile_put(client);
}

} // namespace uepoll::interpose

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
		core::file_kind k = domain == AF_UNIX ? core::file_kind::unix_socket : core::file_kind::socket;
		fdt_note_pair(sv[0], sv[1], k, k);
		errno = saved;
	}
	return r;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	ensure_init();
	int r = UEPOLL_CALL_NEXT(int, connect, SYS_connect, fd, addr, len);
	if (r == 0 || errno == EINPROGRESS) {
		int saved = errno;
		loopback_connected(fd, addr);
		uintptr_t v = fdt_peek(fd);
		long err;
		if (fdt_file(v)) {
			if (core::epfile *f = fdt_get(fd, &err)) {
				core::ep_io_hint(f, core::io_side::reset, 0, 0);
				core::epfile_put(f);
			}
		}
		errno = saved;
	}
	return r;
}

static int accepted(int listener, int r)
{
	io_hint(listener, fdt_peek(listener), true, io_result(r), 1);
	if (r >= 0) {
		int saved = errno;
		fdt_note_fresh(r);
		loopback_accepted(r);
		errno = saved;
	}
	return r;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	ensure_init();
	return accepted(fd, UEPOLL_CALL_NEXT(int, accept, SYS_accept, fd, addr, len));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	ensure_init();
	return accepted(fd, UEPOLL_CALL_NEXT(int, accept4, SYS_accept4, fd, addr, len, flags));
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
