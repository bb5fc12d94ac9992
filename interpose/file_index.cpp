// interpose/file_index.cpp - see file_index.hpp.  A sorted array of
// (epfile, label) pairs and a hash table epfile -> label, in pages from
// mmap (never malloc: the close path runs in signal handlers and inside
// malloc's own calls), under a spinlock.
//
// LABELS.  Each entry carries a 64-bit label that grows along the array
// (an order-maintenance list): a file whose place we must find again, to
// drop it at its close, is found by its label (hash, then a binary search
// of the labels) with no kcmp at all.  A new entry takes the middle of its
// neighbours' gap; when a gap is used up every label is spread out again
// (evenly: some 2^64/n apart, so that takes ~log2(2^64/n) inserts at one
// spot, and the O(n) pass is memory work, never a system call).
//
// THE LOCK AND SIGNALS.  Like the core's spinlocks (core/spinlock.hpp) the
// holder raises the thread's lock depth: a signal handler that interrupts
// it and calls close() has the close deferred to the holder's release
// (core/deferred.cpp), and the program's wrapped handlers do not run inside
// it at all (interpose/hooks_signal.cpp).  That replaces the blocking of
// every signal around the section (two rt_sigprocmask calls per lock).  A
// handler we did not wrap that still reaches the index on the holder's
// thread does not wait for it: its search answers "unusable" (the caller
// falls back to the (dev, ino) scan), its insert is skipped, and its
// removal is queued, the file held, until the holder releases the lock.
#include "interpose/file_index.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/spinlock.hpp"
#include "interpose/fdtable.hpp"
#include "interpose/hooks.hpp"
#include "interpose/sys.hpp"

namespace uepoll::interpose {

namespace {

struct entry {
	core::epfile *f;
	uint64_t label;
};

entry *entries;
size_t count, capacity;
unsigned long generation; // changes with every insert or erase

// epfile -> label, open addressing with linear probing (key 0: empty),
// deletion by shifting back (no tombstones); at most half full.
entry *hash;
size_t hash_cap;

std::atomic<bool> busy{false};
thread_local bool tls_holding;
// Removals asked for by a handler that interrupted this thread's holder.
// Each slot is taken by a handler (which runs whole between two of the
// holder's instructions) and emptied by the holder with one exchange: no
// handler can slip between a read and a write of the holder's.
constexpr int MAX_PENDING = 8;
thread_local std::atomic<core::epfile *> tls_pending[MAX_PENDING];

void *map_pages(void *old, size_t old_bytes, size_t bytes)
{
	long p = old ? raw_syscall(SYS_mremap, reinterpret_cast<long>(old), static_cast<long>(old_bytes),
				   static_cast<long>(bytes), MREMAP_MAYMOVE)
		     : raw_syscall(SYS_mmap, 0, static_cast<long>(bytes), PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p < 0 && p > -4096 ? nullptr : reinterpret_cast<void *>(p);
}

size_t hash_slot(const core::epfile *f)
{
	uint64_t k = reinterpret_cast<uintptr_t>(f) * 0x9e3779b97f4a7c15ULL;
	return static_cast<size_t>(k >> 20) & (hash_cap - 1);
}

entry *hash_find(const core::epfile *f)
{
	if (!hash_cap)
		return nullptr;
	for (size_t i = hash_slot(f);; i = (i + 1) & (hash_cap - 1)) {
		if (hash[i].f == f)
			return &hash[i];
		if (!hash[i].f)
			return nullptr;
	}
}

void hash_put(core::epfile *f, uint64_t label)
{
	size_t i = hash_slot(f);
	while (hash[i].f && hash[i].f != f)
		i = (i + 1) & (hash_cap - 1);
	hash[i] = {f, label};
}

void hash_del(const core::epfile *f)
{
	entry *e = hash_find(f);
	if (!e)
		return;
	size_t i = static_cast<size_t>(e - hash);
	// Shift back the entries after it that probed past i.
	for (size_t j = (i + 1) & (hash_cap - 1); hash[j].f; j = (j + 1) & (hash_cap - 1)) {
		size_t home = hash_slot(hash[j].f);
		if (((j - home) & (hash_cap - 1)) >= ((j - i) & (hash_cap - 1))) {
			hash[i] = hash[j];
			i = j;
		}
	}
	hash[i] = {nullptr, 0};
}

// Room for one more entry in both tables.
bool grow()
{
	if (count == capacity) {
		size_t cap = capacity ? capacity * 2 : 512;
		void *p = map_pages(entries, capacity * sizeof(entry), cap * sizeof(entry));
		if (!p)
			return false;
		entries = static_cast<entry *>(p);
		capacity = cap;
	}
	if (2 * (count + 1) > hash_cap) {
		size_t cap = hash_cap ? hash_cap * 2 : 1024;
		void *p = map_pages(nullptr, 0, cap * sizeof(entry));
		if (!p)
			return false;
		if (hash)
			raw_syscall(SYS_munmap, reinterpret_cast<long>(hash), static_cast<long>(hash_cap * sizeof(entry)));
		hash = static_cast<entry *>(p);
		hash_cap = cap;
		for (size_t i = 0; i < count; i++)
			hash_put(entries[i].f, entries[i].label);
	}
	return true;
}

void erase_at(size_t i)
{
	hash_del(entries[i].f);
	memmove(&entries[i], &entries[i + 1], (count - i - 1) * sizeof entries[0]);
	count--;
	generation++;
}

void relabel()
{
	uint64_t step = UINT64_MAX / (count + 1);
	for (size_t i = 0; i < count; i++) {
		entries[i].label = step * (i + 1);
		hash_put(entries[i].f, entries[i].label);
	}
}

void insert_at(size_t pos, core::epfile *f)
{
	if (hash_find(f) || !grow())
		return; // already indexed (never twice), or no memory
	memmove(&entries[pos + 1], &entries[pos], (count - pos) * sizeof entries[0]);
	count++;
	generation++;
	uint64_t lo = pos > 0 ? entries[pos - 1].label : 0;
	uint64_t hi = pos + 1 < count ? entries[pos + 1].label : UINT64_MAX;
	entries[pos] = {f, lo + (hi - lo) / 2};
	if (hi - lo < 2)
		relabel(); // this gap is used up
	else
		hash_put(f, entries[pos].label);
}

// f's index, or count if f is not indexed: by its label, no kcmp.
size_t position_of(const core::epfile *f)
{
	entry *e = hash_find(f);
	if (!e)
		return count;
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (entries[mid].label < e->label)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < count && entries[lo].f == f ? lo : count;
}

// The lock (see the top of the file).  held is false when this thread
// already holds it (a handler interrupted the holder).
struct index_lock {
	bool held;
	index_lock() : held(!tls_holding)
	{
		if (!held)
			return;
		core::depth_enter();
		// Set before waiting: a handler that interrupts us from here on
		// must not wait for a lock its own thread is taking.
		tls_holding = true;
		std::atomic_signal_fence(std::memory_order_seq_cst);
		while (busy.exchange(true, std::memory_order_acquire))
			__builtin_ia32_pause();
	}
	~index_lock()
	{
		if (!held)
			return;
		// Removals a handler queued meanwhile: under the lock, then
		// their files are let go outside it.
		core::epfile *drop[MAX_PENDING];
		int n = 0;
		for (std::atomic<core::epfile *> &slot : tls_pending) {
			core::epfile *f = slot.exchange(nullptr, std::memory_order_relaxed);
			if (!f)
				continue;
			if (size_t pos = position_of(f); pos < count)
				erase_at(pos);
			drop[n++] = f;
		}
		busy.store(false, std::memory_order_release);
		// Cleared after the release: a handler in between queues its
		// removal for this thread's next section rather than wait (the
		// file is held meanwhile, its entry dropped as dead if met).
		std::atomic_signal_fence(std::memory_order_seq_cst);
		tls_holding = false;
		core::depth_leave();
		while (n > 0)
			core::epfile_put(drop[--n]);
	}
};

// A removal by a handler that interrupted this thread's holder: queued,
// f held until then.  False when the queue is full.
bool queue_removal(core::epfile *f)
{
	for (std::atomic<core::epfile *> &slot : tls_pending) {
		if (slot.load(std::memory_order_relaxed))
			continue;
		core::epfile_get(f);
		slot.store(f, std::memory_order_relaxed);
		return true;
	}
	return false;
}

// An fd by which entry i can be compared now, or -1 (then it is dropped:
// its file is dead or its number was reused behind our back).
int entry_fd(size_t i)
{
	core::epfile *f = entries[i].f;
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
	long pid = -1; // asked once per search (sys.hpp: never cached)
restart:
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int efd = entry_fd(mid);
		if (efd < 0) {
			erase_at(mid);
			goto restart;
		}
		if (efd != fd && pid < 0)
			pid = sys_raw_getpid();
		long c = efd == fd ? 0 : sys_raw_kcmp_file(pid, fd, efd);
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
	if (!g.held)
		return; // a handler inside the holder: f stays unindexed
	size_t pos;
	if (spot && spot->valid && spot->generation == generation) {
		insert_at(spot->pos, f); // nothing moved since the search
		return;
	}
	if (search(fd, &pos) != found::before)
		return; // already there, or no order to keep it in
	insert_at(pos, f);
}

bool file_index_remove_fd(core::epfile *f, int)
{
	index_lock g;
	if (!g.held)
		return false; // the caller's file_index_remove() queues it
	size_t pos = position_of(f);
	if (pos == count)
		return false;
	erase_at(pos);
	return true;
}

void file_index_remove(core::epfile *f)
{
	index_lock g;
	if (!g.held) {
		// Queue full (eight removals inside one section): keep f
		// forever rather than free it under the index; a search drops
		// its entry as dead when it meets it.
		if (!queue_removal(f))
			core::epfile_get(f);
		return;
	}
	if (size_t pos = position_of(f); pos < count)
		erase_at(pos);
}

core::epfile *file_index_find(int fd, bool *usable, index_spot *spot)
{
	index_lock g;
	if (!g.held) {
		*usable = false; // the caller scans by (dev, ino) instead
		if (spot)
			spot->valid = false;
		return nullptr;
	}
	size_t pos;
	found r = search(fd, &pos);
	*usable = r != found::unusable;
	if (spot) {
		spot->valid = r == found::before;
		spot->pos = pos;
		spot->generation = generation;
	}
	if (r != found::at || !core::epfile_tryget(entries[pos].f))
		return nullptr;
	return entries[pos].f;
}

} // namespace uepoll::interpose
