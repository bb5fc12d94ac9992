// shim/log.cpp - log lines and backtraces.
//
// Why libunwind: a backtrace has to be taken inside a signal handler (a
// crash) and from inside epoll_ctl (UEPOLL_TRACE_CTL) without allocating;
// libunwind's local unwinder walks the stack from the current context
// with no malloc and names frames from the symbol tables, which glibc's
// backtrace() cannot promise (it may dlopen libgcc_s on first use).
#define UNW_LOCAL_ONLY
#include "shim/log.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <initializer_list>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <libunwind.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose/raw.hpp"

namespace uepoll::shim {

static long write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		long w = interpose::raw_syscall(SYS_write, fd, reinterpret_cast<long>(buf), static_cast<long>(len));
		if (w <= 0)
			return w < 0 ? w : -EIO;
		buf += w;
		len -= static_cast<size_t>(w);
	}
	return 0;
}

static void emit(const char *buf, size_t len)
{
	core::internal_fd *file = cfg().log_file;
	if (!file) {
		write_all(2, buf, len);
		return;
	}
	int seen;
	{
		core::internal_fd_use u = file->acquire();
		seen = u.fd();
		if (seen >= 0 && write_all(seen, buf, len) != -EBADF)
			return;
	}
	// Closed behind our back (or moved away with no number left): open it
	// again, once.  A log line is lost rather than written elsewhere.
	if (file->renew(seen) >= 0) {
		core::internal_fd_use u = file->acquire();
		if (u.fd() >= 0)
			write_all(u.fd(), buf, len);
	}
}

bool log_enabled(log_level level) { return static_cast<int>(level) <= static_cast<int>(cfg().level); }

void log(log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	int saved = errno;
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "uepoll[%ld]: ", interpose::raw_syscall(SYS_getpid));
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
	va_end(ap);
	size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : std::min<size_t>(m, sizeof buf - n - 2));
	buf[len++] = '\n';
	emit(buf, len);
	errno = saved;
}

// Writes the frames above the caller's, skipping `skip` more, at most
// `max` of them.  No allocation: safe in a signal handler.
static void emit_backtrace(int skip, int max)
{
	unw_context_t ctx;
	unw_cursor_t cur;
	if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0)
		return;
	for (int frame = -skip; unw_step(&cur) > 0 && frame < max; frame++) {
		if (frame < 0)
			continue;
		unw_word_t ip = 0, off = 0;
		unw_get_reg(&cur, UNW_REG_IP, &ip);
		char name[256] = "?";
		unw_get_proc_name(&cur, name, sizeof name, &off);
		char line[400];
		int n = snprintf(line, sizeof line, "uepoll:   #%d 0x%lx %s+0x%lx\n", frame,
				 static_cast<unsigned long>(ip), name, static_cast<unsigned long>(off));
		emit(line, static_cast<size_t>(std::min<int>(n, sizeof line - 1)));
	}
}

void log_backtrace(log_level level, int skip)
{
	if (log_enabled(level))
		emit_backtrace(skip + 1, 32);
}

static void crash_handler(int sig, siginfo_t *info, void *)
{
	char buf[160];
	int n = snprintf(buf, sizeof buf, "uepoll[%ld]: fatal signal %d (%s) at address %p; backtrace:\n",
			 interpose::raw_syscall(SYS_getpid), sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
			 info ? info->si_addr : nullptr);
	emit(buf, static_cast<size_t>(std::min<int>(n, sizeof buf - 1)));
	emit_backtrace(1, 48);
	// Die the way the program would have died without us.
	signal(sig, SIG_DFL);
	raise(sig);
}

void install_crash_reporter()
{
	if (!cfg().crash_report)
		return;
	for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) {
		struct sigaction old;
		if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL)
			continue;
		struct sigaction sa{};
		sa.sa_sigaction = crash_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		sigaction(sig, &sa, nullptr);
	}
}

} // namespace uepoll::shim
