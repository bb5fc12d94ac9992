// interpose/fdtable.hpp - the process's fd numbers as uepoll knows them:
// the twin of the kernel's files_struct/fdtable.  fd -> the open file
// (core::epfile) behind it, for the numbers that matter: watched fds, our
// fake epoll fds, our own internal eventfds, and fds we saw created.
//
// A slot is read without a lock (one atomic load: the I/O hooks' hot path)
// and changed with atomic exchanges, so the close path works inside a
// signal handler.  Pages of slots come from mmap, never from malloc.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/eventpoll.hpp"
#include "interpose/sys.hpp"

namespace uepoll::interpose {

// Slot values; anything larger is a core::epfile * holding one reference.
constexpr uintptr_t FD_UNKNOWN = 0;  // never seen, or closed
constexpr uintptr_t FD_FRESH = 1;    // created by a hooked call: a new file, no dup of it yet
constexpr uintptr_t FD_INTERNAL = 2; // uepoll's own fd: the program must not see it
// A close (or a dup2/dup3 onto the number) is under way: the number is
// still open in the kernel, but its file already left every instance.
// fdt_get answers EBADF, as fdget() may once the close has begun; were the
// kernel asked, it would find the old file still there and put it back
// (issue 11: the instance then outlived its last fd).  fdt_closed() clears
// it after the real call.
constexpr uintptr_t FD_CLOSING = 3;
// FD_FRESH_KIND + k: as FD_FRESH, and the creator said what the file is: a
// file that polls, of core::file_kind k.  Its first fget then needs no
// system call (no fcntl, fstat, readlink, getsockopt).
constexpr uintptr_t FD_FRESH_KIND = 16;
constexpr uintptr_t FD_LAST_MARK = FD_FRESH_KIND + 15; // below this: marks; above: epfile pointers
inline bool fdt_is_fresh(uintptr_t v) { return v == FD_FRESH || (v >= FD_FRESH_KIND && v <= FD_LAST_MARK); }

// Sets the kernel-call table the fd table uses (once, before any other
// call); interpose/init.cpp then hands fdtable_ops() to the core.
void fdtable_init(const sys_ops *sys);
// The fd table as the core sees it (core/platform.hpp's file_ops).
const file_ops &fdtable_ops();

// The slot of fd, or nullptr when it has none (and create is false).
std::atomic<uintptr_t> *fdt_slot(int fd, bool create);

inline uintptr_t fdt_peek(int fd)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, false);
	return s ? s->load(std::memory_order_acquire) : FD_UNKNOWN;
}
inline bool fdt_is_internal(int fd) { return fdt_peek(fd) == FD_INTERNAL; }
inline core::epfile *fdt_file(uintptr_t v) { return v > FD_LAST_MARK ? reinterpret_cast<core::epfile *>(v) : nullptr; }

// Twin of fdget(): the file behind fd with a reference, created on first use.
core::epfile *fdt_get(int fd, long *err);

// The kind of file behind fd, as the epoll entry points ask it (is it a
// native epoll fd?); file_kind::other when fd is not open.
core::file_kind fdt_kind(int fd);

// A hooked creator returned fd: it is a new open file.
void fdt_note_fresh(int fd);
// The same, when the creator knows the file polls and is of kind k (a
// socket, an eventfd, a timerfd...): its first ADD makes no system call.
void fdt_note_fresh_kind(int fd, core::file_kind k);
// fd was made by a call that may return a file we already track (an
// SCM_RIGHTS message, pidfd_getfd): whatever the slot held is gone from
// that number; the file is identified at its first use.
void fdt_note_unknown(int fd);
// The process may now hold copies of its files made where we do not see
// (it received fds): from now on every file is in the identity index
// (interpose/file_index.hpp), the ones already open too (once).
void fdt_index_everything();
// Slot value v of fd says "one of our epoll fds": true (and the slot
// cleared) when the kernel's fd there is no longer it.  For the error
// paths only (a readlink).
bool fdt_epoll_slot_stale(int fd, uintptr_t v);
// pipe2/socketpair returned a pair: new files, each the other's peer.
void fdt_note_pair(int a, int b, core::file_kind ka, core::file_kind kb);
// fd is about to be closed or replaced (close, dup2 onto it...): take it
// out of the table and out of every instance, before the number can be
// reused; its slot says FD_CLOSING until fdt_closed(fd), which every
// caller makes once the real call returned (whether it failed or not).
void fdt_closing(int fd);
// The real close/dup2 of fd is over: a slot still FD_CLOSING becomes
// FD_UNKNOWN (after a failure too: the number is closed, or, after a
// failed dup2, holds a file that its next use identifies afresh).  A slot
// a creator already filled with the number's next file is left alone.
void fdt_closed(int fd);
// close_range() is about to close [first, last] (it takes each number out
// with fdt_closing() first, then makes the real call): until
// fdt_closing_range_end(), a scan for untracked copies skips those
// numbers, which are still open but about to go.
void fdt_closing_range_begin(unsigned first, unsigned last);
void fdt_closing_range_end();
// A dup made newfd refer to oldfd's file.
void fdt_dup(int oldfd, int newfd);
// The highest fd number the table has a slot for.
int fdt_max_fd();

} // namespace uepoll::interpose
