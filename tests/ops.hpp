// tests/ops.hpp - the epoll_ctl calls every test makes, on either backend.
#pragma once

#include <sys/epoll.h>

#include "tests/backend.hpp"

namespace uepoll::test {

inline int ctl(backend &b, int ep, int op, int fd, uint32_t events, uint64_t data)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = data;
	return b.epoll_ctl(ep, op, fd, &ev);
}
inline int add(backend &b, int ep, int fd, uint32_t events, uint64_t data) { return ctl(b, ep, EPOLL_CTL_ADD, fd, events, data); }
inline int mod(backend &b, int ep, int fd, uint32_t events, uint64_t data) { return ctl(b, ep, EPOLL_CTL_MOD, fd, events, data); }
inline int del(backend &b, int ep, int fd) { return b.epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr); }

} // namespace uepoll::test
