/*
 * scripts/sanitizers/system_malloc.c - oneTBB's scalable_malloc/scalable_free
 * on top of malloc/free, for the sanitizer builds of scripts/test-all.sh only.
 *
 * uepoll allocates its epitems, epfiles and poll sets with tbbmalloc
 * (core/slab.hpp).  tbbmalloc is not instrumented and the sanitizers do not
 * intercept it, so in a sanitizer build:
 *   - ASan sees none of those objects: no use-after-free, overflow or leak
 *     report is possible for them;
 *   - TSan does not see a block being freed and handed out again: the new
 *     owner's constructor "races" with the old owner's last accesses
 *     (reports in slab_new), and a std::mutex in a reused block (libstdc++'s
 *     ~mutex does nothing) keeps the lock-order history of the dead object,
 *     which gives lock-order-inversion reports between two unrelated
 *     instances that happened to get the same address.  Both kinds were
 *     seen, and both went away with this file, on the unit suite.
 * test-all.sh compiles this file and links the object into the sanitizer
 * builds' executables (CMAKE_EXE_LINKER_FLAGS): a definition in the
 * executable wins over libtbbmalloc.so's, so every scalable_* call of uepoll
 * goes to the sanitizer's malloc/free.  The normal build is not touched.
 * core/slab.hpp uses only these two functions (tbb::scalable_allocator
 * calls them too); add any other scalable_* function it starts to use.
 */
#include <stdlib.h>

void *scalable_malloc(size_t size)
{
	return malloc(size);
}

void scalable_free(void *p)
{
	free(p);
}
