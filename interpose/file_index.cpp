// interpose/file_index.cpp - see file_index.hpp.  A sorted array of
// epfile pointers in pages from mmap (never malloc: the close path runs in
// signal handlers and inside malloc's own calls), under a spinlock held
// with every signal blocked, so a handler's close() on this thread can
// never wait for it.
#include "interpose/file_index.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose/fdtable.hpp"
#include "interpose/hooks.hpp"

namespace uepoll::interpose {

namespace {

core::epfile **entries;
size_t count, capacity;
unsigned long generation; // changes with every insert or erase
std::atomic<bool> busy{false};

// The lock, with all signals blocked while held (raw calls: no libc
// wrapper that could be interposed or cancelled).
struct index_lock {
	sigset_t old;
	index_lock()
	{
		sigset_t all;
		sigfillset(&all);
		raw_syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&all), reinterpret_cast<long>(&old), 8);
		while (busy.exchange(true, std::memory_order_acquire))
			__builtin_ia32_pause();
	}
	~index_lock()
	{
		busy.store(false, std::memory_order_release);
		raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&old), 0, 8);
	}
};

bool grow()
{
	size_t cap = capacity ? capacity * 2 : 512;
	size_t bytes = cap * sizeof(core::epfile *);
	void *p = capacity ? reinterpret_cast<void *>(raw_syscall(SYS_mremap, reinterpret_cast<long>(entries),
								    capacity * sizeof(core::epfile *), bytes,
								    MREMAP_MAYMOVE))
			   : reinterpret_cast<void *>(raw_syscall(SYS_mmap, 0, bytes, PROT_READ | PROT_WRITE,
								    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	if (reinterpret_cast<long>(p) < 0 && reinterpret_cast<long>(p) > -4096)
		return false;
	entries = static_cast<core::epfile **>(p);
	capacity = cap;
	return true;
}

void erase_at(size_t i)
{
	memmove(&entries[i], &entries[i + 1], (count - i - 1) * sizeof entries[0]);
	count--;
	generation++;
}

void insert_at(size_t pos, core::epfile *f)
{
	if (count == capacity && !grow())
		return;
	memmove(&entries[pos + 1], &entries[pos], (count - pos) * sizeof entries[0]);
	entries[pos] = f;
	count++;
	generation++;
}

// An fd by which entry i can be compared now, or -1 (then it is dropped:
// its file is dead or its number was reused behind our back).
int entry_fd(size_t i)
{
	core::epfile *f = entries[i];
	int pfd = f->poll_fd.load(std::memory_order_acquire);
	if (pfd < 0 || f->dead.load(std::memory_order_acquire) || fdt_peek(pfd) != reinterpret_cast<uintptr_t>(f))
		return -1;
	return pfd;
}

enum class found { at, before, unusable };

// Binary search for fd's file: found::at with *pos its index, or
// found::before with *pos where it would go.  Drops stale entries met.
found search(int fd, size_t *pos)
{
restart:
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int efd = entry_fd(mid);
		if (efd < 0) {
			erase_at(mid);
			goto restart;
		}
		long c = efd == fd ? 0 : sys_raw().kcmp_file(fd, efd);
		if (c == 0) {
			*pos = mid;
			return found::at;
		}
		if (c == 1)
			hi = mid;
		else if (c == 2)
			lo = mid + 1;
		else if (c == -EBADF && entry_fd(mid) < 0) {
			erase_at(mid); // closed between the check and the call
			goto restart;
		} else {
			return found::unusable;
		}
	}
	*pos = lo;
	return found::before;
}

} // namespace

void file_index_add(core::epfile *f, int fd, const index_spot *spot)
{
	index_lock g;
	size_t pos;
	if (spot && spot->valid && spot->generation == generation) {
		insert_at(spot->pos, f); // nothing moved since the search
		return;
	}
	if (search(fd, &pos) != found::before)
		return; // already there, or no order to keep it in
	insert_at(pos, f);
}

bool file_index_remove_fd(core::epfile *f, int fd)
{
	index_lock g;
	size_t pos;
	if (search(fd, &pos) != found::at || entries[pos] != f)
		return false;
	erase_at(pos);
	return true;
}

void file_index_remove(core::epfile *f)
{
	index_lock g;
	// f has no fd left to search with: a scan, for the rare deaths that
	// file_index_remove_fd() did not see coming (a number reused behind
	// our back).
	for (size_t i = 0; i < count; i++)
		if (entries[i] == f) {
			erase_at(i);
			return;
		}
}

core::epfile *file_index_find(int fd, bool *usable, index_spot *spot)
{
	index_lock g;
	size_t pos;
	found r = search(fd, &pos);
	*usable = r != found::unusable;
	if (spot) {
		spot->valid = r == found::before;
		spot->pos = pos;
		spot->generation = generation;
	}
	if (r != found::at || !core::epfile_tryget(entries[pos]))
		return nullptr;
	return entries[pos];
}

} // namespace uepoll::interpose
