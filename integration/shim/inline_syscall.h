/* integration/shim/inline_syscall.h - system calls made with an inline
 * system call instruction: no libc symbol in between, so no preloaded library
 * (and no syscall(2) interposer) can see it.  What a program's own
 * assembly, a static library with its own syscall stubs, or a seccomp/
 * io_uring path looks like to the shim.
 */
#ifndef INLINE_SYSCALL_H
#define INLINE_SYSCALL_H

#include <sys/syscall.h>

/* A system call with no libc symbol in between: what the shim cannot see.
 * -errno on failure. */
static inline long inline_syscall3(long nr, long a, long b, long c)
{
	long r;
#if defined(__x86_64__)
	__asm__ volatile("syscall" : "=a"(r) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	r = x0;
#else
#error "inline_syscall3: add this architecture"
#endif
	return r;
}

static inline long inline_close(int fd) { return inline_syscall3(SYS_close, fd, 0, 0); }

#endif
