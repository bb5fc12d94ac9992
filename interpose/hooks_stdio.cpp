// interpose/hooks_stdio.cpp - stdio on a watched fd.  glibc's FILE reads
// and writes its fd through its internal __read/__write, which no
// preloaded library sees: an edge-triggered item on a pipe written with
// fputs+fflush, or read with fgets, would never be re-armed (issue 11).
// Each hook calls the real function and then, when the FILE's buffer
// shows that bytes went to (or came from) the fd, gives the core the same
// hint a write()/read() would.  The buffer pointers are glibc's public
// struct _IO_FILE; nothing is changed in them.
//
// Not covered: the *_unlocked calls (putc_unlocked and getc_unlocked are
// inline macros that reach glibc's __overflow/__uflow), fscanf & co.,
// fgetwc & the wide calls, and stdio reached from inside glibc (e.g.
// getaddrinfo reading /etc/hosts: no pollable fd).  Their edges need the
// core (issue 11 item 4).
#include <cstdarg>
#include <cstring>
#include <fcntl.h>
#include <sys/syscall.h>

#include "interpose/hooks.hpp"
#include "interpose/api.hpp"

namespace uepoll::interpose {

namespace {

// The bytes a write-side call left in the buffer, and the read buffer's
// bounds, before the call.
struct stdio_mark {
	int fd = -1;
	uintptr_t slot = FD_UNKNOWN;
	long pending = 0;
	char *read_base = nullptr, *read_end = nullptr;
};

stdio_mark stdio_before(FILE *f)
{
	stdio_mark m;
	if (!f)
		return m;
	m.fd = f->_fileno;
	m.slot = fdt_peek(m.fd);
	if (m.slot == FD_UNKNOWN)
		return m;
	m.pending = f->_IO_write_ptr - f->_IO_write_base;
	m.read_base = f->_IO_read_base;
	m.read_end = f->_IO_read_end;
	return m;
}

// A write-side call that put `added` bytes into f: what is not in the
// buffer now went to the fd (by one write or several).
void stdio_wrote(FILE *f, const stdio_mark &m, long added)
{
	if (m.slot == FD_UNKNOWN || added < 0)
		return;
	long written = m.pending + added - (f->_IO_write_ptr - f->_IO_write_base);
	if (written > 0)
		io_hint(m.fd, m.slot, false, written, written);
	else if (ferror(f) && (errno == EAGAIN || errno == EWOULDBLOCK))
		io_hint(m.fd, m.slot, false, -EAGAIN, 1); // the fd was full: its next room is an edge
}

// A read-side call: a refill shows as a new read buffer; a refill that
// found nothing sets the error (EAGAIN) or end-of-file flag.
void stdio_read(FILE *f, const stdio_mark &m)
{
	if (m.slot == FD_UNKNOWN)
		return;
	if (f->_IO_read_base != m.read_base || f->_IO_read_end != m.read_end) {
		long got = f->_IO_read_end - f->_IO_read_base;
		io_hint(m.fd, m.slot, true, got, got);
	} else if (ferror(f) && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		io_hint(m.fd, m.slot, true, -EAGAIN, 1);
	} else if (feof(f)) {
		io_hint(m.fd, m.slot, true, 0, 1);
	}
}

// There is no raw system call behind a stdio function: while dlsym runs
// on this thread (next_resolve() false), the call fails.
template <typename T> T unresolved(T err)
{
	errno = ENOSYS;
	return err;
}

} // namespace

} // namespace uepoll::interpose

namespace uepoll::api {

using namespace uepoll::interpose;

#define STDIO_NEXT(name, err) \
	if (!next_resolve() || !real.name) \
		return unresolved(err)

int fflush(FILE *f)
{
	STDIO_NEXT(fflush, EOF);
	if (!f)
		return real.fflush(f); // every stream: no single fd to hint
	stdio_mark m = stdio_before(f);
	int r = real.fflush(f);
	errno_guard keep_errno;
	stdio_wrote(f, m, 0);
	return r;
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
	STDIO_NEXT(fwrite, 0);
	stdio_mark m = stdio_before(f);
	size_t r = real.fwrite(p, size, n, f);
	errno_guard keep_errno;
	stdio_wrote(f, m, static_cast<long>(r * size));
	return r;
}

int fputs(const char *s, FILE *f)
{
	STDIO_NEXT(fputs, EOF);
	stdio_mark m = stdio_before(f);
	int r = real.fputs(s, f);
	errno_guard keep_errno;
	stdio_wrote(f, m, r >= 0 ? static_cast<long>(strlen(s)) : 0);
	return r;
}

int fputc(int c, FILE *f)
{
	STDIO_NEXT(fputc, EOF);
	stdio_mark m = stdio_before(f);
	int r = real.fputc(c, f);
	errno_guard keep_errno;
	stdio_wrote(f, m, r == EOF ? 0 : 1);
	return r;
}

int puts(const char *s)
{
	STDIO_NEXT(puts, EOF);
	stdio_mark m = stdio_before(stdout);
	int r = real.puts(s);
	errno_guard keep_errno;
	stdio_wrote(stdout, m, r >= 0 ? static_cast<long>(strlen(s)) + 1 : 0);
	return r;
}

int vfprintf(FILE *f, int flag, const char *fmt, va_list ap)
{
	if (!next_resolve() || (flag < 0 ? !real.vfprintf : !real.__vfprintf_chk))
		return unresolved(-1);
	stdio_mark m = stdio_before(f);
	int r = flag < 0 ? real.vfprintf(f, fmt, ap) : real.__vfprintf_chk(f, flag, fmt, ap);
	errno_guard keep_errno;
	stdio_wrote(f, m, r > 0 ? r : 0);
	return r;
}

// dprintf formats into a FILE of its own over fd and flushes it: one
// write of its result.
int vdprintf(int fd, int flag, const char *fmt, va_list ap)
{
	if (!next_resolve() || (flag < 0 ? !real.vdprintf : !real.__vdprintf_chk))
		return unresolved(-1);
	uintptr_t v = fdt_peek(fd);
	io_call c = io_begin(fd, v, false);
	int r = flag < 0 ? real.vdprintf(fd, fmt, ap) : real.__vdprintf_chk(fd, flag, fmt, ap);
	if (v != FD_UNKNOWN)
		io_hint_stamped(fd, v, false, io_result(r), r > 0 ? r : 1, c.st);
	io_end(c);
	return r;
}

size_t fread(void *p, size_t size, size_t n, FILE *f)
{
	STDIO_NEXT(fread, 0);
	stdio_mark m = stdio_before(f);
	size_t r = real.fread(p, size, n, f);
	errno_guard keep_errno;
	stdio_read(f, m);
	return r;
}

char *fgets(char *s, int n, FILE *f)
{
	STDIO_NEXT(fgets, nullptr);
	stdio_mark m = stdio_before(f);
	char *r = real.fgets(s, n, f);
	errno_guard keep_errno;
	stdio_read(f, m);
	return r;
}

int fgetc(FILE *f)
{
	STDIO_NEXT(fgetc, EOF);
	stdio_mark m = stdio_before(f);
	int r = real.fgetc(f);
	errno_guard keep_errno;
	stdio_read(f, m);
	return r;
}

ssize_t getdelim(char **line, size_t *cap, int delim, FILE *f)
{
	STDIO_NEXT(getdelim, -1);
	stdio_mark m = stdio_before(f);
	ssize_t r = real.getdelim(line, cap, delim, f);
	errno_guard keep_errno;
	stdio_read(f, m);
	return r;
}

// fopen opens through glibc's internal open, which we never see: a new
// file (as open's), and the max_user_watches sysctl opened for writing.
FILE *fopen(const char *path, const char *mode)
{
	STDIO_NEXT(fopen, nullptr);
	bool writes = mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+'));
	note_open_for_write(path, writes ? O_WRONLY : O_RDONLY);
	FILE *f = real.fopen(path, mode);
	if (f) {
		errno_guard keep_errno;
		fdt_note_fresh(::fileno(f));
	}
	return f;
}

// fdopen: a FILE on an fd of an in-process pair.  Its writes may go out
// through glibc's internal __write (the *_unlocked calls, a full buffer),
// past every hook: the pair no longer counts as one whose every write the
// hooks see (core/io_hints.cpp, read_leaves_no_edge()).
FILE *fdopen(int fd, const char *mode)
{
	STDIO_NEXT(fdopen, nullptr);
	FILE *f = real.fdopen(fd, mode);
	// Only a file we know has a peer to forget (no identification of an
	// fd we never saw: its slot says so without a system call).
	core::epfile *known = f ? fdt_file(fdt_peek(fd)) : nullptr;
	if (known && known->peer.load(std::memory_order_relaxed)) {
		errno_guard keep_errno;
		long err;
		if (core::epfile *ef = fdt_get(fd, &err)) {
			core::epfile_stdio_opened(ef);
			core::epfile_put(ef);
		}
	}
	return f;
}

} // namespace uepoll::api
