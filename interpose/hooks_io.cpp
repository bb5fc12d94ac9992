// interpose/hooks_io.cpp - the I/O hooks.  After the real call, an fd whose
// file is watched with EPOLLET (or whose peer's is) gives the core an edge
// hint: "this file was read/written, re-arm what a new edge could bring"
// (core/eventpoll.cpp, ep_io_hint).  For every other fd the cost is one
// table load.  What the call returns, its errno and its data are never
// changed; read/write on one of our fake epoll fds fail with EINVAL as on
// a real epoll fd.
#include <cstring>
#include <sys/sendfile.h>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"
#include "interpose/api.hpp"

namespace uepoll::interpose {

void io_hint(int fd, uintptr_t slot, bool read_side, long result, long requested)
{
	io_hint_stamped(fd, slot, read_side, result, requested, core::io_stamp{});
}

// Before the real call: what the pollers had seen of the other end, and
// the I/O window that keeps the helper off this call's wake-ups.
io_call io_begin(int fd, uintptr_t slot, bool read_side)
{
	io_call c;
	core::epfile *f = fdt_file(slot);
	bool stamp = f && (f->peer.load(std::memory_order_relaxed) || f->kind == core::file_kind::eventfd);
	// Items a ctl queued unconfirmed are settled before the call changes
	// the file (ep_io_stamp() does it for the files it stamps): one that
	// becomes ready only now must be queued now, behind what was queued
	// since (a socket whose peer is gone has no stamp; uepoll-fuzz seed
	// 373719950 program 627).
	bool settle = f && !stamp && core::ep_any_unconfirmed();
	if (!f || (!stamp && !settle && !core::helper_running()))
		return c;
	long err;
	if (core::epfile *ref = fdt_get(fd, &err)) {
		if (stamp)
			c.st = core::ep_io_stamp(ref, read_side);
		else if (settle)
			core::ep_confirm_queued(ref);
		c.win = core::ep_io_window_open(ref);
		core::epfile_put(ref);
	}
	return c;
}

void io_end(io_call &c)
{
	if (!c.win.f[0])
		return;
	errno_guard keep_errno;
	core::ep_io_window_close(c.win);
}

void io_hint_stamped(int fd, uintptr_t slot, bool read_side, long result, long requested, const core::io_stamp &st)
{
	core::epfile *f = fdt_file(slot);
	// A datagram socket's send wakes the sender itself (a freed skb), even
	// with no peer left: it must reach the core too.
	if (!f || (!f->et_items.load(std::memory_order_relaxed) && !f->peer.load(std::memory_order_relaxed) &&
		   f->kind != core::file_kind::eventfd && f->kind != core::file_kind::unix_dgram &&
		   f->kind != core::file_kind::inet_dgram && !f->peer_closed.load(std::memory_order_relaxed)))
		return;
	errno_guard keep_errno;
	long err;
	if (core::epfile *ref = fdt_get(fd, &err)) {
		core::ep_io_hint_stamped(ref, read_side ? core::io_event::read : core::io_event::write, result, requested,
					 st);
		core::epfile_put(ref);
	}
}

// True (with errno) when the call must fail before it is made, as on the
// kernel: our internal fds do not exist for the program, and an epoll fd
// has no read or write.
// Socket calls (sock = true) pass an epoll fd through: our eventfd says
// ENOTSOCK as a real epoll fd does.
// A number that says "epoll fd" is checked first: it may have been closed
// behind our back and reused (issue 11), and is then forgotten (v reloaded).
static inline bool io_refused(int fd, uintptr_t &v, bool sock)
{
	if (v == FD_INTERNAL) {
		errno = EBADF;
		return true;
	}
	core::epfile *f = fdt_file(v);
	if (!sock && f && f->kind == core::file_kind::epoll) {
		int saved = errno;
		if (fdt_epoll_slot_stale(fd, v)) {
			errno = saved;
			v = fdt_peek(fd);
			return false;
		}
		errno = EINVAL; // an epoll fd has no read or write
		return true;
	}
	return false;
}

// The file kind of a slot, other when unknown.
static inline core::file_kind kind_of_slot(uintptr_t v)
{
	core::epfile *f = fdt_file(v);
	return f ? f->kind : core::file_kind::other;
}

// SCM_RIGHTS fds a recvmsg installed: numbers we did not see made, maybe
// copies of files we track (an epoll fd sent to ourselves).  Whatever
// their slots held is gone; each is identified at its first use.
static void note_received_fds(const struct msghdr *msg)
{
	if (!msg || !msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr))
		return;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(const_cast<struct msghdr *>(msg), cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0))
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(cm);
		if (n)
			fdt_index_everything();
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, data + i * sizeof fd, sizeof fd);
			fdt_note_unknown(fd);
		}
	}
}

// A message that carries fds (SCM_RIGHTS) may give another process a
// writer of an in-process pair: an escape (core::ep_files_may_escape()),
// made before the send.
static void note_sent_fds(const struct msghdr *msg)
{
	if (!msg || !msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr))
		return;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(const_cast<struct msghdr *>(msg), cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			errno_guard keep_errno;
			core::ep_files_may_escape();
			return;
		}
	}
}

static size_t iov_len(const struct iovec *iov, int n)
{
	size_t total = 0;
	for (int i = 0; iov && i < n; i++)
		total += iov[i].iov_len;
	return total;
}

} // namespace uepoll::interpose

namespace uepoll::api {

using namespace uepoll::interpose;

#define IO_HOOK_(sock, side, requested, call)                  \
	uintptr_t v = fdt_peek(fd);                            \
	if (io_refused(fd, v, sock))                           \
		return -1;                                     \
	io_call c_ = io_begin(fd, v, side);                    \
	auto r = call;                                         \
	if (v != FD_UNKNOWN)                                   \
		io_hint_stamped(fd, v, side, io_result(r), static_cast<long>(requested), c_.st); \
	io_end(c_);                                            \
	return r
#define IO_HOOK(side, requested, call) IO_HOOK_(false, side, requested, call)
#define SOCK_HOOK(side, requested, call) IO_HOOK_(true, side, requested, call)

ssize_t read(int fd, void *buf, size_t len) { IO_HOOK(true, len, UEPOLL_CALL_NEXT(ssize_t, read, SYS_read, fd, buf, len)); }
ssize_t readv(int fd, const struct iovec *iov, int n)
{
	IO_HOOK(true, iov_len(iov, n), UEPOLL_CALL_NEXT(ssize_t, readv, SYS_readv, fd, iov, n));
}
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	SOCK_HOOK(true, len, UEPOLL_CALL_NEXT(ssize_t, recvfrom, SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr));
}
ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
	SOCK_HOOK(true, len, UEPOLL_CALL_NEXT(ssize_t, recvfrom, SYS_recvfrom, fd, buf, len, flags, addr, alen));
}
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	SOCK_HOOK(true, msg ? iov_len(msg->msg_iov, static_cast<int>(msg->msg_iovlen)) : 0, ([&] {
			auto rr = UEPOLL_CALL_NEXT(ssize_t, recvmsg, SYS_recvmsg, fd, msg, flags);
			if (rr >= 0)
				note_received_fds(msg);
			return rr;
		}()));
}
int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout)
{
	SOCK_HOOK(true, vlen, ([&] {
			auto rr = UEPOLL_CALL_NEXT(int, recvmmsg, SYS_recvmmsg, fd, vec, vlen, flags, timeout);
			for (int i = 0; i < rr; i++)
				note_received_fds(&vec[i].msg_hdr);
			return rr;
		}()));
}
ssize_t write(int fd, const void *buf, size_t len)
{
	IO_HOOK(false, len, UEPOLL_CALL_NEXT(ssize_t, write, SYS_write, fd, buf, len));
}
ssize_t writev(int fd, const struct iovec *iov, int n)
{
	IO_HOOK(false, iov_len(iov, n), UEPOLL_CALL_NEXT(ssize_t, writev, SYS_writev, fd, iov, n));
}
ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	SOCK_HOOK(false, len, UEPOLL_CALL_NEXT(ssize_t, sendto, SYS_sendto, fd, buf, len, flags, nullptr, 0));
}
ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen)
{
	SOCK_HOOK(false, len, UEPOLL_CALL_NEXT(ssize_t, sendto, SYS_sendto, fd, buf, len, flags, addr, alen));
}
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	note_sent_fds(msg);
	SOCK_HOOK(false, msg ? iov_len(msg->msg_iov, static_cast<int>(msg->msg_iovlen)) : 0,
		UEPOLL_CALL_NEXT(ssize_t, sendmsg, SYS_sendmsg, fd, msg, flags));
}
int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
{
	for (unsigned i = 0; vec && i < vlen; i++)
		note_sent_fds(&vec[i].msg_hdr);
	SOCK_HOOK(false, vlen, UEPOLL_CALL_NEXT(int, sendmmsg, SYS_sendmmsg, fd, vec, vlen, flags));
}

ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	int fd = out_fd;
	uintptr_t vin = fdt_peek(in_fd);
	IO_HOOK(false, count, ([&] {
			auto rr = UEPOLL_CALL_NEXT(ssize_t, sendfile, SYS_sendfile, out_fd, in_fd, offset, count);
			if (vin != FD_UNKNOWN)
				io_hint(in_fd, vin, true, io_result(rr), static_cast<long>(count));
			return rr;
		}()));
}

ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len, unsigned flags)
{
	int fd = fd_out;
	uintptr_t vin = fdt_peek(fd_in);
	IO_HOOK(false, len, ([&] {
			auto rr = UEPOLL_CALL_NEXT(ssize_t, splice, SYS_splice, fd_in, off_in, fd_out, off_out, len, flags);
			if (vin != FD_UNKNOWN)
				io_hint(fd_in, vin, true, io_result(rr), static_cast<long>(len));
			return rr;
		}()));
}

// ---- issue 11: the I/O paths past read/write --------------------------------

// eventfd_read/eventfd_write: glibc's call its internal __read/__write.
int eventfd_read(int fd, uint64_t *value) { return api::read(fd, value, sizeof *value) == sizeof *value ? 0 : -1; }
int eventfd_write(int fd, uint64_t value) { return api::write(fd, &value, sizeof value) == sizeof value ? 0 : -1; }

ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	IO_HOOK(true, iov_len(iov, n),
		(next_resolve() && real.preadv2 ? real.preadv2(fd, iov, n, off, flags)
						: errno_ret<ssize_t>(raw_syscall(SYS_preadv2, fd, reinterpret_cast<long>(iov),
										 n, off, 0, flags))));
}
ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	IO_HOOK(false, iov_len(iov, n),
		(next_resolve() && real.pwritev2 ? real.pwritev2(fd, iov, n, off, flags)
						 : errno_ret<ssize_t>(raw_syscall(SYS_pwritev2, fd, reinterpret_cast<long>(iov),
										  n, off, 0, flags))));
}

// The fortified variants check the buffer size, then read as read() does.
ssize_t read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__builtin_trap(); // __chk_fail(): a buffer overflow, as glibc's would abort
	return api::read(fd, buf, len);
}
ssize_t recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen)
		__builtin_trap();
	return api::recvfrom(fd, buf, len, flags, addr, alen);
}

// vmsplice writes into a pipe's write end, or reads out of a read end.
ssize_t vmsplice(int fd, const struct iovec *iov, size_t n, unsigned flags)
{
	bool read_side = kind_of_slot(fdt_peek(fd)) == core::file_kind::pipe_read;
	IO_HOOK(read_side, iov_len(iov, static_cast<int>(n)),
		UEPOLL_CALL_NEXT(ssize_t, vmsplice, SYS_vmsplice, fd, iov, n, flags));
}

// tee copies without consuming: only `out` is written.
ssize_t tee(int in, int out, size_t len, unsigned flags)
{
	int fd = out;
	IO_HOOK(false, len, UEPOLL_CALL_NEXT(ssize_t, tee, SYS_tee, in, out, len, flags));
}

ssize_t copy_file_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags)
{
	int fd = out;
	uintptr_t vin = fdt_peek(in);
	IO_HOOK(false, len, ([&] {
			auto rr = UEPOLL_CALL_NEXT(ssize_t, copy_file_range, SYS_copy_file_range, in, off_in, out,
						   off_out, len, flags);
			if (vin != FD_UNKNOWN)
				io_hint(in, vin, true, io_result(rr), static_cast<long>(len));
			return rr;
		}()));
}

} // namespace uepoll::api
