/* integration/shim/inline_close.h - close(2) made with an inline system
 * call instruction: no libc symbol in between, so no preloaded library
 * (and no syscall(2) interposer) can see it.  What a program's own
 * assembly, a static library with its own syscall stubs, or a seccomp/
 * io_uring path looks like to the shim.
 */
#ifndef INLINE_CLOSE_H
#define INLINE_CLOSE_H

#include <sys/syscall.h>

/* close(2) with no libc symbol in between: what the shim cannot see. */
static inline long inline_close(int fd)
{
	long r;
#if defined(__x86_64__)
	__asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_close), "D"((long)fd) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_close;
	register long x0 __asm__("x0") = fd;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8) : "memory");
	r = x0;
#else
#error "inline_close: add this architecture"
#endif
	return r;
}

#endif
