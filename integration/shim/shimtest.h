/* integration/shim/shimtest.h - what every shim test program shares.
 *
 * The programs in this directory are ordinary C programs: they call epoll
 * and friends through libc, and are run twice by compare.sh, once natively
 * and once with libuepoll.so in LD_PRELOAD.  Each prints a TRANSCRIPT on
 * stdout - return values, errno names, events with their data - that must
 * be byte-identical in the two runs.  So a transcript holds only what the
 * kernel defines: no fd numbers (the shim may hold a few fds of its own),
 * no pids, no times, and events sorted by data wherever the kernel
 * defines no order.
 *
 * On stderr (not compared) each program says which epoll it ran on
 * ("shimtest: backend=uepoll" or "=native", from /proc/self/maps), so
 * compare.sh can check that the preload really took, and at exit how
 * many anon_inode:[eventpoll] fds it still holds (0 under the shim).
 *
 * A setup call that fails (pipe, socket, fork...) is not part of the
 * contract under test: the program says so on stderr and exits 99.
 */
#ifndef SHIMTEST_H
#define SHIMTEST_H

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <sys/epoll.h>
#include <unistd.h>

/* errno's name ("EBADF"), or its number if glibc has no name for it. */
static inline const char *st_errname(int e)
{
	static __thread char buf[32];
	const char *n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof buf, "errno%d", e);
	return buf;
}

/* Setup failure: not what the test is about; exit 99. */
#define ST_DIE(...)                                                  \
	do {                                                         \
		fprintf(stderr, "shimtest: setup failed at %s:%d: ", \
			__FILE__, __LINE__);                         \
		fprintf(stderr, __VA_ARGS__);                        \
		fprintf(stderr, " (errno %s)\n", st_errname(errno)); \
		exit(99);                                            \
	} while (0)

/* Checks a setup call that must succeed. */
#define ST_OK(expr)                                  \
	({                                           \
		long st_r_ = (long)(expr);           \
		if (st_r_ < 0)                       \
			ST_DIE("%s", #expr);         \
		st_r_;                               \
	})

/* Records "label = ret" or "label = -1 ENAME" on stdout; returns ret. */
static inline long st_step(const char *label, long ret)
{
	int e = errno;
	if (ret < 0)
		printf("%s = %ld %s\n", label, ret, st_errname(e));
	else
		printf("%s = %ld\n", label, ret);
	errno = e;
	return ret;
}

/* Records a free-form line. */
#define st_note(...)                 \
	do {                         \
		printf(__VA_ARGS__); \
		putchar('\n');       \
	} while (0)

/* "IN|OUT|RDHUP"; unknown bits as hex. */
static inline const char *st_bits(uint32_t ev)
{
	static __thread char buf[128];
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{EPOLLIN, "IN"},         {EPOLLPRI, "PRI"},       {EPOLLOUT, "OUT"},
		{EPOLLERR, "ERR"},       {EPOLLHUP, "HUP"},       {EPOLLRDNORM, "RDNORM"},
		{EPOLLRDBAND, "RDBAND"}, {EPOLLWRNORM, "WRNORM"}, {EPOLLWRBAND, "WRBAND"},
		{EPOLLMSG, "MSG"},       {EPOLLRDHUP, "RDHUP"},
	};
	buf[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (ev & names[i].bit) {
			if (buf[0])
				strcat(buf, "|");
			strcat(buf, names[i].name);
			ev &= ~names[i].bit;
		}
	}
	if (ev) {
		size_t l = strlen(buf);
		snprintf(buf + l, sizeof buf - l, "%s0x%" PRIx32, l ? "|" : "", ev);
	}
	if (!buf[0])
		strcpy(buf, "0");
	return buf;
}

static inline int st_cmp_ev(const void *a, const void *b)
{
	const struct epoll_event *x = a, *y = b;
	if (x->data.u64 != y->data.u64)
		return x->data.u64 < y->data.u64 ? -1 : 1;
	return x->events < y->events ? -1 : x->events > y->events;
}

/* Records the result of a wait: "label = n {IN data=..} {..}", the events
 * sorted by data (the kernel defines no order among ready items). */
static inline int st_events(const char *label, int n, struct epoll_event *evs)
{
	int e = errno;
	if (n < 0) {
		printf("%s = %d %s\n", label, n, st_errname(e));
		errno = e;
		return n;
	}
	qsort(evs, (size_t)n, sizeof *evs, st_cmp_ev);
	printf("%s = %d", label, n);
	for (int i = 0; i < n; i++)
		printf(" {%s data=%" PRIx64 "}", st_bits(evs[i].events), (uint64_t)evs[i].data.u64);
	putchar('\n');
	errno = e;
	return n;
}

/* epoll_ctl with an event built in place. */
static inline int st_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.u64 = data;
	return epoll_ctl(ep, op, fd, &ev);
}

#define ST_MAXEV 16

/* Waits and records: for an expected event pass a generous timeout (it
 * returns as soon as something is ready), for "nothing" pass 0. */
static inline int st_wait(const char *label, int ep, int timeout_ms)
{
	struct epoll_event evs[ST_MAXEV];
	int n = epoll_wait(ep, evs, ST_MAXEV, timeout_ms);
	return st_events(label, n, evs);
}

/* A generous bound for "this event must come". */
#define ST_SOON 5000

/* A thread body: one wait on the epoll fd passed as (intptr_t)arg, for an
 * event that must come, recorded as "thread wait". */
static inline void *st_wait_thread(void *arg)
{
	st_wait("thread wait", (int)(intptr_t)arg, ST_SOON);
	return NULL;
}

/* Lowers the soft RLIMIT_NOFILE to n (the shim keeps its own fds just
 * under it, so a small limit puts them where a test can reach them). */
static inline void st_limit_nofile(rlim_t n)
{
	struct rlimit rl;
	ST_OK(getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = n;
	ST_OK(setrlimit(RLIMIT_NOFILE, &rl));
}

/* CLOCK_MONOTONIC in seconds. */
static inline double st_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* A SIGALRM every `us` microseconds (0 stops it), handled by fn with
 * sa_flags `flags`: a signal storm against the code the program runs. */
static inline void st_alarm_storm(void (*fn)(int), int flags, long us)
{
	if (fn) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = fn;
		sa.sa_flags = flags;
		sigemptyset(&sa.sa_mask);
		ST_OK(sigaction(SIGALRM, &sa, NULL));
	}
	struct itimerval it = {{0, us}, {0, us}};
	ST_OK(setitimer(ITIMER_REAL, &it, NULL));
}

/* Number of open fds of this process whose /proc link is exactly target
 * ("anon_inode:[eventpoll]"). */
static inline int st_count_fd_links(const char *target)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char path[300], link[256];
	int count = 0;
	if (!d)
		ST_DIE("opendir /proc/self/fd");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
		ssize_t l = readlink(path, link, sizeof link - 1);
		if (l < 0)
			continue;
		link[l] = 0;
		if (strcmp(link, target) == 0)
			count++;
	}
	closedir(d);
	return count;
}

/* Which epoll this process runs on, on stderr (for compare.sh). */
static inline void st_report_backend(void)
{
	FILE *m = fopen("/proc/self/maps", "re");
	char line[512];
	int shim = 0;
	if (m) {
		while (fgets(line, sizeof line, m))
			if (strstr(line, "libuepoll"))
				shim = 1;
		fclose(m);
	}
	fprintf(stderr, "shimtest: backend=%s\n", shim ? "uepoll" : "native");
}

/* Runs before main in every program: stdout line-buffered (so a fork never
 * duplicates pending output and an exec loses none), and the backend
 * line on stderr. */
static void st_at_exit(void)
{
	fprintf(stderr, "shimtest: eventpoll fds at exit = %d\n",
		st_count_fd_links("anon_inode:[eventpoll]"));
}

__attribute__((constructor)) static void st_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	st_report_backend();
	atexit(st_at_exit);
}

/* Byte-sized I/O helpers for setup (their results are checked). */
static inline void st_write1(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		ST_DIE("write 1 byte");
}

/* Reads until EAGAIN (fd must be non-blocking); returns the byte count. */
static inline long st_drain(int fd)
{
	char buf[4096];
	long total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r > 0) {
			total += r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN)
			ST_DIE("drain read");
		return total;
	}
}

/* Runs phase k of a test in a forked child: fn(out) writes one line of
 * results to out and ends the child with _exit(0) (its threads may still
 * block).  The line lands in line (cap bytes); the test dies if the child
 * failed or said nothing.  Each phase gets a fresh process, so fresh
 * instances and threads. */
static inline void st_phase_line(int k, void (*fn)(int out), char *line, size_t cap)
{
	int r[2];
	ST_OK(pipe2(r, O_CLOEXEC));
	pid_t pid = (pid_t)ST_OK(fork());
	if (pid == 0) {
		close(r[0]);
		fn(r[1]);
		_exit(1); /* fn must not return */
	}
	close(r[1]);
	ssize_t n = read(r[0], line, cap - 1);
	close(r[0]);
	int status;
	ST_OK(waitpid(pid, &status, 0));
	if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		ST_DIE("phase %d failed (status %d)", k, status);
	line[n] = 0;
}

/* A seccomp filter (x86-64) whose action for each of the n syscall numbers
 * in nrs is `action` (SECCOMP_RET_ERRNO | e, SECCOMP_RET_KILL_PROCESS...),
 * every other call allowed; installed with no_new_privs, through
 * syscall(SYS_seccomp) with flags (e.g. SECCOMP_FILTER_FLAG_TSYNC), or,
 * via_prctl, through prctl(PR_SET_SECCOMP): the two ways a program does.
 * Needs <linux/audit.h>, <linux/filter.h>, <linux/seccomp.h>, <stddef.h>,
 * <sys/prctl.h>, <sys/syscall.h>; at most 24 numbers. */
#ifdef SECCOMP_RET_ALLOW
static inline void st_seccomp_filter(const int *nrs, int n, unsigned action, unsigned flags, int via_prctl)
{
	struct sock_filter f[64];
	int k = 0;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (int i = 0; i < n && i < 24; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {(unsigned short)k, f};
	ST_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	if (via_prctl)
		ST_OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
	else
		ST_OK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog));
}
#endif

#endif
