// core/slab.hpp - twin of the kernel's slab caches (epi_cache, pwq_cache,
// kmem_cache_alloc/free).
//
// Why oneTBB's scalable allocator: epitems are allocated and freed at the
// rate a server accepts connections, from many threads at once.  tbbmalloc
// keeps per-thread free lists of same-sized blocks, which is exactly what a
// slab cache is, and it keeps uepoll's allocations out of the host
// program's malloc arena: the program's malloc may be interrupted by a
// signal whose handler calls close(), and close() may free an epitem.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

#include <tbb/scalable_allocator.h>

namespace uepoll::core {

// STL allocator for the core's few vectors (the poll set).
template <typename T> using slab_allocator = tbb::scalable_allocator<T>;

// Twin of kmem_cache_alloc + constructor: returns nullptr on ENOMEM.
template <typename T, typename... Args> T *slab_new(Args &&...args)
{
	void *p = scalable_malloc(sizeof(T));
	if (!p)
		return nullptr;
	return new (p) T(std::forward<Args>(args)...);
}

// Twin of kmem_cache_free + destructor.
template <typename T> void slab_delete(T *p)
{
	if (!p)
		return;
	p->~T();
	scalable_free(p);
}

// The one T of the process, made at its first use in static storage and
// never destroyed: threads may still use it while exit() runs the static
// destructors, and its first use may come from inside the program's
// malloc (jemalloc closes an fd through syscall() while it initialises
// under its own lock), where calling malloc again would deadlock.
template <typename T> T &static_forever()
{
	alignas(T) static unsigned char storage[sizeof(T)];
	static T *p = new (storage) T();
	return *p;
}

} // namespace uepoll::core
