// interpose/sys_raw.cpp - the kernel calls of core/platform.hpp as raw
// syscall(2)s: what the preloaded shim hands the core.  A raw syscall never
// re-enters our own exported symbols (nor another preload's), is not a
// glibc cancellation point, and never touches errno.
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kcmp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/eventpoll.hpp"
#include "interpose/hooks.hpp"
#include "interpose/sys.hpp"

#if !defined(__x86_64__)
#error "uepoll's raw syscalls are written for x86-64 Linux"
#endif

namespace uepoll::interpose {

// syscall(2) without errno: the raw return value, -errno on failure.
static inline long raw(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0)
{
	long ret;
	register long r10 asm("r10") = d;
	register long r8 asm("r8") = e;
	register long r9 asm("r9") = f;
	asm volatile("syscall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
		     : "rcx", "r11", "memory");
	return ret;
}

long raw_syscall(long nr, long a, long b, long c, long d, long e, long f) { return raw(nr, a, b, c, d, e, f); }

#define L(x) reinterpret_cast<long>(x)

static long r_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	return raw(SYS_ppoll, L(fds), static_cast<long>(n), L(ts), L(mask), mask ? 8 : 0);
}
static long r_read(int fd, void *buf, size_t len) { return raw(SYS_read, fd, L(buf), static_cast<long>(len)); }
static long r_write(int fd, const void *buf, size_t len) { return raw(SYS_write, fd, L(buf), static_cast<long>(len)); }
static long r_close(int fd) { return raw(SYS_close, fd); }
static long r_eventfd(unsigned v, int flags) { return raw(SYS_eventfd2, v, flags); }
static long r_fcntl(int fd, int cmd, long arg) { return raw(SYS_fcntl, fd, cmd, arg); }
static long r_dup3(int a, int b, int flags) { return raw(SYS_dup3, a, b, flags); }
static long r_fstat(int fd, struct stat *st) { return raw(SYS_fstat, fd, L(st)); }
static long r_fstatfs(int fd, struct statfs *st) { return raw(SYS_fstatfs, fd, L(st)); }
static long r_readlink(const char *p, char *buf, size_t len) { return raw(SYS_readlink, L(p), L(buf), static_cast<long>(len)); }
static long r_open(const char *p, int flags) { return raw(SYS_openat, AT_FDCWD, L(p), flags, 0); }
static long r_pread(int fd, void *buf, size_t len, long off)
{
	return raw(SYS_pread64, fd, L(buf), static_cast<long>(len), off);
}
static long r_getpid() { return raw(SYS_getpid); }

// ---- sandboxes ------------------------------------------------------------
// A seccomp filter may refuse kcmp or process_vm_{read,write}v, in one of
// two ways.  It may answer EPERM or ENOSYS (Docker's and podman's default
// profiles, systemd's SystemCallErrorNumber=): each call is then tried
// first, and the first refusal switches it to its fallback for good.  Or it
// may kill the process (SECCOMP_RET_KILL_PROCESS: what systemd does by
// default for a call its SystemCallFilter= does not allow): there is
// nothing to learn from, our first call would be our last, and the program
// never made that call itself.  So while a filter is in place (Seccomp: 2
// in /proc/thread-self/status), each call is first made by a child process
// that dies instead of us: a raw clone() with no exit signal, so the
// program's SIGCHLD handler and its waitpid(-1) never see it (only __WALL
// waits for it).  One clone per call, at start-up and after the program
// installs a filter of its own (prctl/seccomp, interpose/hooks_sandbox.cpp);
// none at all outside a sandbox.
// sys_raw_refused() says which calls were found refused (the shim logs it).
static std::atomic<unsigned> refused{0};

static bool is_refusal(long r) { return r == -EPERM || r == -ENOSYS; }
static void note_refused(unsigned what) { refused.fetch_or(what, std::memory_order_relaxed); }

unsigned sys_raw_refused() { return refused.load(std::memory_order_relaxed); }

// The calls we make of each kind, on ourselves: both fail with EBADF / a
// short count when permitted, so only a filter answers EPERM or ENOSYS.
static long try_kcmp()
{
	long pid = raw(SYS_getpid);
	return raw(SYS_kcmp, pid, pid, KCMP_FILE, -1, -1);
}
static long try_process_vm()
{
	char probe = 0, copy = 1;
	struct iovec local = {&copy, 1}, remote = {&probe, 1};
	return raw(SYS_process_vm_readv, raw(SYS_getpid), L(&local), 1, L(&remote), 1, 0);
}

static long try_timerfd_gettime()
{
	struct itimerspec its;
	return raw(SYS_timerfd_gettime, -1, L(&its));
}

// Is this thread under a seccomp filter?  When /proc cannot tell us, we
// assume it is: the child's try is safe either way.
static bool seccomp_filtered()
{
	long fd = raw(SYS_openat, AT_FDCWD, L("/proc/thread-self/status"), O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return true;
	char buf[4096];
	long n = 0, r;
	while (n < static_cast<long>(sizeof buf) - 1 && (r = raw(SYS_read, fd, L(buf + n), sizeof buf - 1 - n)) > 0)
		n += r;
	raw(SYS_close, fd);
	buf[n] = 0;
	static constexpr char key[] = "\nSeccomp:";
	for (long i = 0; i + static_cast<long>(sizeof key) - 1 <= n; i++) {
		if (__builtin_memcmp(buf + i, key, sizeof key - 1) != 0)
			continue;
		const char *q = buf + i + sizeof key - 1;
		while (*q == ' ' || *q == '\t')
			q++;
		return *q != '0';
	}
	return true;
}

// Makes the call in a child (a copy of us, fork-like, that runs nothing
// but the call and exit_group).  True when the child was refused, killed,
// or could not be made.
static bool refused_in_child(long (*call)())
{
	long pid = raw(SYS_clone, 0, 0, 0, 0, 0);
	if (pid == 0)
		raw(SYS_exit_group, is_refusal(call()) ? 1 : 0);
	if (pid < 0)
		return true; // a sandbox that refuses clone: take the fallbacks, they are safe
	int status = 0;
	while (raw(SYS_wait4, pid, L(&status), __WALL, 0) == -EINTR) {
	}
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

unsigned sys_raw_probe()
{
	bool filtered = seccomp_filtered();
	unsigned have = sys_raw_refused();
	if (!(have & SYS_REFUSED_KCMP) && (filtered ? refused_in_child(try_kcmp) : is_refusal(try_kcmp())))
		note_refused(SYS_REFUSED_KCMP);
	if (!(have & SYS_REFUSED_PROCESS_VM) &&
	    (filtered ? refused_in_child(try_process_vm) : is_refusal(try_process_vm())))
		note_refused(SYS_REFUSED_PROCESS_VM);
	if (!(have & SYS_REFUSED_TIMERFD_GETTIME) &&
	    (filtered ? refused_in_child(try_timerfd_gettime) : is_refusal(try_timerfd_gettime())))
		note_refused(SYS_REFUSED_TIMERFD_GETTIME);
	return sys_raw_refused();
}

long sys_raw_is_timerfd(int fd)
{
	if (sys_raw_refused() & SYS_REFUSED_TIMERFD_GETTIME)
		return -ENOSYS;
	struct itimerspec its;
	long r = raw(SYS_timerfd_gettime, fd, L(&its));
	if (is_refusal(r)) {
		note_refused(SYS_REFUSED_TIMERFD_GETTIME);
		return r;
	}
	return r == 0 ? 1 : 0;
}

// The open-file identity kcmp gives, from what else the kernel shows of a
// file: (dev, ino), the open flags (the access mode tells a pipe's two ends
// apart), and an eventfd's id (fdinfo "eventfd-id", unique per eventfd; all
// anon-inode files share one inode).  Two descriptions of one FIFO or
// regular file opened with the same flags look the same: see
// docs/deviations.md, "kcmp refused".
struct file_identity {
	unsigned long dev, ino;
	long flags, efd_id;
	auto operator<=>(const file_identity &) const = default;
};

static long eventfd_id(int fd)
{
	char path[40] = "/proc/self/fdinfo/";
	char *p = path + 18;
	char digits[12];
	int n = 0;
	for (unsigned v = static_cast<unsigned>(fd); n == 0 || v; v /= 10)
		digits[n++] = static_cast<char>('0' + v % 10);
	while (n)
		*p++ = digits[--n];
	*p = 0;
	long dfd = raw(SYS_openat, AT_FDCWD, L(path), O_RDONLY | O_CLOEXEC, 0);
	if (dfd < 0)
		return -1;
	char buf[512];
	long len = raw(SYS_read, dfd, L(buf), sizeof buf - 1);
	raw(SYS_close, dfd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	static constexpr char key[] = "eventfd-id:";
	for (long i = 0; i + static_cast<long>(sizeof key) - 1 <= len; i++) {
		if (__builtin_memcmp(buf + i, key, sizeof key - 1) != 0)
			continue;
		long id = 0;
		for (const char *q = buf + i + sizeof key - 1; *q == ' ' || *q == '\t' || (*q >= '0' && *q <= '9'); q++)
			if (*q >= '0')
				id = id * 10 + (*q - '0');
		return id;
	}
	return -1;
}

static long identity_of(int fd, file_identity *id)
{
	struct stat st;
	long r = raw(SYS_fstat, fd, L(&st));
	if (r < 0)
		return r;
	long fl = raw(SYS_fcntl, fd, F_GETFL);
	if (fl < 0)
		return fl;
	long extra = -1;
	if ((st.st_mode & S_IFMT) == 0) {
		// An anon inode: every such file has the same (dev, ino).  An
		// eventfd has an id; the others (timerfd, signalfd, a native
		// epoll, ...) have nothing of their own, and two of them made
		// alike would look like one file: a new timerfd taken for a copy
		// of another, whose items then outlive it.  Each is taken for a
		// file of its own instead (keyed by its number); the rarer copy
		// of one made behind our back is then missed (deviation 8).
		extra = eventfd_id(fd);
		if (extra < 0)
			extra = -2 - fd;
	}
	*id = {st.st_dev, st.st_ino, fl, extra};
	return 0;
}

long sys_raw_getpid() { return r_getpid(); }

long sys_raw_kcmp_file(long pid, int a, int b)
{
	if (!(sys_raw_refused() & SYS_REFUSED_KCMP)) {
		long r = raw(SYS_kcmp, pid, pid, KCMP_FILE, a, b);
		if (!is_refusal(r))
			return r;
		note_refused(SYS_REFUSED_KCMP);
	}
	file_identity ia, ib;
	long r = identity_of(a, &ia);
	if (r == 0)
		r = identity_of(b, &ib);
	if (r < 0)
		return r;
	return ia == ib ? 0 : ia < ib ? 1 : 2; // kcmp's answers: 0 same, 1 less, 2 greater
}

static long r_kcmp_file(int a, int b) { return sys_raw_kcmp_file(r_getpid(), a, b); }

// /proc/self/mem, for the copies when process_vm_* are refused: opened on
// first use and kept (an internal fd).  The file's side of an access to it
// is forced (FOLL_FORCE: it would read a PROT_NONE page), the buffer's side
// is an ordinary user copy with the kernel's checks.  So the caller's
// memory is always the buffer: pwrite() from it copies from the user,
// pread() into it copies to the user, and our own memory is the offset.
// An internal fd (core/internal_fd.hpp): a dup2 onto its number moves it,
// a close behind our back loses it and the next copy opens it again.
// The open file is bound to the memory of the process that opened it: a
// forked child (by fork(), or by a raw clone that ran no fork handler)
// would read and write its PARENT's memory through the inherited fd.  So
// self_mem_pid says whose memory it is, and a child opens its own first.
static core::internal_fd self_mem("/proc/self/mem", O_RDWR);
static std::atomic<int> self_mem_pid{0}; // -pid while that process opens its own

static void self_mem_follow_fork()
{
	int pid = static_cast<int>(r_getpid());
	int seen = self_mem_pid.load(std::memory_order_acquire);
	if (seen == pid)
		return;
	if (seen != -pid && self_mem_pid.compare_exchange_strong(seen, -pid, std::memory_order_acq_rel)) {
		long r = raw(SYS_openat, AT_FDCWD, L("/proc/self/mem"), O_RDWR | O_CLOEXEC, 0);
		if (r >= 0)
			self_mem.adopt(r); // closes the parent's copy, if any
		else if (self_mem.peek() >= 0)
			self_mem.destroy(); // never the parent's memory: opened again at the next copy
		self_mem_pid.store(pid, std::memory_order_release);
		return;
	}
	while (self_mem_pid.load(std::memory_order_acquire) != pid)
		__builtin_ia32_pause(); // another thread of ours opens it
}

// Copies len bytes between the caller's memory `user` and ours `own`
// through /proc/self/mem.  Returns the count copied before a fault (as
// process_vm_* do), or -EFAULT if none.
static long copy_via_self_mem(long nr, void *user, const void *own, size_t len)
{
	self_mem_follow_fork();
	size_t done = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		core::internal_fd_use u = self_mem.acquire();
		if (u.fd() < 0) {
			u.end();
			self_mem.renew(-1); // opened on first use, or again after a move left it none
			u = self_mem.acquire();
		}
		if (u.fd() < 0)
			return -EFAULT; // neither way is open to us: refuse rather than fault
		long r = 0;
		while (done < len) {
			r = raw(nr, u.fd(), L(static_cast<char *>(user) + done), static_cast<long>(len - done),
				L(static_cast<const char *>(own) + done));
			if (r == -EINTR)
				continue;
			if (r <= 0)
				break;
			done += static_cast<size_t>(r);
		}
		if (r != -EBADF && r != -ESPIPE)
			break;
		// Closed or replaced behind our back: open it again, once.
		int seen = u.fd();
		u.end();
		self_mem.renew(seen);
	}
	return done ? static_cast<long>(done) : (len ? -EFAULT : 0);
}

// process_vm_writev/readv on ourselves: the kernel checks the user range
// and reports EFAULT (or a short count) instead of faulting.
static long r_copy_to_user(void *dst, const void *src, size_t len)
{
	if (!(sys_raw_refused() & SYS_REFUSED_PROCESS_VM)) {
		struct iovec local = {const_cast<void *>(src), len}, remote = {dst, len};
		long r = raw(SYS_process_vm_writev, r_getpid(), L(&local), 1, L(&remote), 1, 0);
		if (!is_refusal(r))
			return r;
		note_refused(SYS_REFUSED_PROCESS_VM);
	}
	return copy_via_self_mem(SYS_pread64, dst, src, len);
}
// The top of the main thread's stack as the dynamic linker saw it at
// start-up (the stack pointer _start was given).
extern "C" void *__libc_stack_end;

// Is [src, src + len) in the main thread's stack, between the current
// stack pointer and the stack's top?  That range is mapped for sure (the
// stack's mapping only grows, and we run on it), so the kernel's copy
// could not fault there: it can be read directly, with no system call.
// An epoll_event for epoll_ctl is nearly always a local of the caller.
// Only the main thread, and only on its own stack (not a signal handler's
// alternate stack): other stacks' bounds are not known without asking.
static bool on_live_main_stack(const void *src, size_t len)
{
	// Which thread this is, asked once per thread (a fork keeps it: the
	// child runs on the stack of the thread that forked).
	static thread_local int is_main = -1;
	if (is_main < 0)
		is_main = raw(SYS_gettid) == r_getpid();
	if (!is_main)
		return false;
	// The stack can be no deeper than RLIMIT_STACK: a stack pointer farther
	// from the top is on another stack (an alternate signal stack, or the
	// stack of the thread that forked this process).
	static std::atomic<uintptr_t> max_depth{0};
	uintptr_t depth = max_depth.load(std::memory_order_relaxed);
	if (!depth) {
		struct rlimit rl;
		depth = raw(SYS_prlimit64, 0, RLIMIT_STACK, 0, L(&rl)) == 0 && rl.rlim_cur < (1UL << 30) ? rl.rlim_cur
													: 1UL << 30;
		max_depth.store(depth, std::memory_order_relaxed);
	}
	auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
	auto top = reinterpret_cast<uintptr_t>(__libc_stack_end);
	auto p = reinterpret_cast<uintptr_t>(src);
	return sp < top && top - sp <= depth && p >= sp && p <= top && len <= top - p;
}

static long r_copy_from_user(void *dst, const void *src, size_t len)
{
	if (on_live_main_stack(src, len)) {
		memcpy(dst, src, len);
		return static_cast<long>(len);
	}
	if (!(sys_raw_refused() & SYS_REFUSED_PROCESS_VM)) {
		struct iovec local = {dst, len}, remote = {const_cast<void *>(src), len};
		long r = raw(SYS_process_vm_readv, r_getpid(), L(&local), 1, L(&remote), 1, 0);
		if (!is_refusal(r))
			return r;
		note_refused(SYS_REFUSED_PROCESS_VM);
	}
	return copy_via_self_mem(SYS_pwrite64, const_cast<void *>(src), dst, len);
}
static long r_futex_wait(const uint32_t *addr, uint32_t expected)
{
	return raw(SYS_futex, L(addr), FUTEX_WAIT_PRIVATE, expected, 0);
}
static long r_futex_wake(const uint32_t *addr, int count) { return raw(SYS_futex, L(addr), FUTEX_WAKE_PRIVATE, count); }
static long r_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	return raw(SYS_rt_sigprocmask, how, L(set), L(old), 8);
}
static long r_monotonic(struct timespec *ts) { return raw(SYS_clock_gettime, CLOCK_MONOTONIC, L(ts)); }
static long r_nofile_limit()
{
	struct rlimit rl;
	if (raw(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, L(&rl)) < 0)
		return 1024;
	return rl.rlim_cur > 1L << 30 ? 1L << 30 : static_cast<long>(rl.rlim_cur);
}

static long r_inq(int fd)
{
	int n = 0;
	long r = raw(SYS_ioctl, fd, SIOCINQ, L(&n));
	return r < 0 ? r : n;
}

static long r_outq(int fd)
{
	int n = 0;
	long r = raw(SYS_ioctl, fd, SIOCOUTQ, L(&n));
	return r < 0 ? r : n;
}

static long r_sndbuf(int fd)
{
	int n = 0;
	socklen_t len = sizeof n;
	long r = raw(SYS_getsockopt, fd, SOL_SOCKET, SO_SNDBUF, L(&n), L(&len));
	return r < 0 ? r : n;
}

const sys_ops &sys_raw()
{
	static constexpr sys_ops ops = {
		r_ppoll, r_read, r_write, r_close, r_eventfd, r_fcntl, r_dup3, r_fstat, r_fstatfs, r_readlink, r_open, r_pread,
		r_kcmp_file, r_copy_to_user, r_copy_from_user, r_futex_wait, r_futex_wake,
		r_sigprocmask, r_monotonic, r_nofile_limit, r_inq, r_outq, r_sndbuf,
	};
	return ops;
}

} // namespace uepoll::interpose
