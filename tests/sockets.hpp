// tests/sockets.hpp - loopback sockets on either backend: the 127.0.0.1
// address, binding to it on an ephemeral port, a TCP listener there, and a
// blocking TCP connect to it.  socket, bind, listen, connect and close go
// through the backend, as a program's would (uepoll pairs sockets of one
// process from them).  A failed step is a test failure, and the helper
// returns -1 (or false) after closing what it made.
#pragma once

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "tests/backend.hpp"

namespace uepoll::test {

// 127.0.0.1, port 0 (any).
inline sockaddr_in loopback()
{
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

// A test failure naming the call and errno unless r (a libc-style return) is >= 0.
inline bool expect_ok(long r, const char *what)
{
	int e = errno;
	EXPECT_GE(r, 0) << what << ": " << strerror(e);
	return r >= 0;
}

// Binds fd to 127.0.0.1 on an ephemeral port; the address with that port in *addr.
inline bool bind_loopback(backend &b, int fd, sockaddr_in *addr)
{
	*addr = loopback();
	bool bound = expect_ok(b.bind(fd, (sockaddr *)addr, sizeof *addr), "bind 127.0.0.1:0");
	socklen_t len = sizeof *addr;
	bool named = expect_ok(getsockname(fd, (sockaddr *)addr, &len), "getsockname");
	return bound && named;
}

// A listening TCP socket (SOCK_CLOEXEC, plus `flags` such as SOCK_NONBLOCK)
// on 127.0.0.1 with an ephemeral port; its address in *addr.
inline int tcp_listener(backend &b, sockaddr_in *addr, int backlog = 16, int flags = 0)
{
	int l = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (!expect_ok(l, "socket"))
		return -1;
	if (!bind_loopback(b, l, addr) || !expect_ok(b.listen(l, backlog), "listen")) {
		b.close(l);
		return -1;
	}
	return l;
}

// A blocking TCP socket (SOCK_CLOEXEC) connected to addr.  The connect is
// done when it returns: the listener must have room in its queue.
inline int tcp_connect(backend &b, const sockaddr_in &addr)
{
	int c = b.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!expect_ok(c, "socket"))
		return -1;
	if (!expect_ok(b.connect(c, (const sockaddr *)&addr, sizeof addr), "connect")) {
		b.close(c);
		return -1;
	}
	return c;
}

// A connected loopback TCP pair: *client (blocking) and *server (the
// accepted end, SOCK_NONBLOCK); the listener is closed.  False, after a
// test failure, if a step failed.
inline bool loopback_tcp_pair(backend &b, int *client, int *server)
{
	sockaddr_in sa;
	int l = tcp_listener(b, &sa, 4);
	if (l < 0)
		return false;
	*client = tcp_connect(b, sa);
	*server = *client >= 0 ? b.accept4(l, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC) : -1;
	b.close(l);
	return *client >= 0 && expect_ok(*server, "accept4");
}

// Two UDP sockets (SOCK_NONBLOCK) bound on 127.0.0.1 and connected to each
// other.
inline bool udp_pair(backend &b, int *x, int *y)
{
	*x = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	*y = b.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sockaddr_in ax, ay;
	return *x >= 0 && *y >= 0 && bind_loopback(b, *x, &ax) && bind_loopback(b, *y, &ay) &&
	       b.connect(*x, (sockaddr *)&ay, sizeof ay) == 0 && b.connect(*y, (sockaddr *)&ax, sizeof ax) == 0;
}

} // namespace uepoll::test
