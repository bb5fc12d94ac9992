// interpose/fdtable.cpp - fd number -> open file, and how we know that two
// fd numbers are the same open file.
//
// FILE IDENTITY.  The kernel keys epoll items by (struct file *, fd).  From
// user space the only exact test that two fds share an open file
// description is kcmp(KCMP_FILE); fstat's (st_dev, st_ino) is necessary but
// not sufficient: both ends of a pipe share an inode, and every eventfd,
// timerfd, signalfd and epoll fd shares the one anon_inode inode.  So:
//   - a file we saw created (socket, accept4, pipe2, eventfd, ... hooks) is
//     new: its slot says FD_FRESH, and every dup of it goes through our
//     dup hooks, so we follow it exactly with no syscall at all;
//   - a file first met at epoll_ctl (inherited, or made by a call we do
//     not hook) is compared with kcmp() against the tracked files with
//     the same (dev, ino); and when its last known fd is closed we look in
//     /proc/self/fd for an untracked dup before declaring it released.
#include "interpose/fdtable.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "interpose/file_index.hpp"
#include "interpose/hooks.hpp"
#include "interpose/sys.hpp"

namespace uepoll::interpose {

namespace {

constexpr int PAGE_SHIFT = 10;
constexpr int PAGE_SLOTS = 1 << PAGE_SHIFT;
constexpr int DIR_SIZE = 1 << 12; // 4M fd numbers
std::atomic<std::atomic<uintptr_t> *> dir[DIR_SIZE];
std::atomic<int> max_fd{-1};
const sys_ops *g_sys;

// A page is PAGE_SLOTS slots, then as many close generations: slot i's
// generation is at i + PAGE_SLOTS.  It counts the times the number became
// unknown again (closed, or found closed behind our back).  A lookup that
// asked the kernel about an unknown number puts its answer in the slot
// with a CAS from FD_UNKNOWN; that CAS cannot see a close-and-reuse of
// the number that happened during the questions (unknown, then a file,
// then unknown again: an ABA), the generation can (still_current()).
constexpr size_t PAGE_BYTES = 2 * PAGE_SLOTS * sizeof(uintptr_t);

std::atomic<uintptr_t> *slot_gen(std::atomic<uintptr_t> *s) { return s + PAGE_SLOTS; }

// Called before a slot is set to FD_UNKNOWN from anything else.
void gen_bump(std::atomic<uintptr_t> *s) { slot_gen(s)->fetch_add(1, std::memory_order_acq_rel); }

std::atomic<uintptr_t> *page_alloc()
{
	long p = raw_syscall(SYS_mmap, 0, PAGE_BYTES, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p < 0 ? nullptr : reinterpret_cast<std::atomic<uintptr_t> *>(p);
}

// Twin of file_can_poll(): does the file have a ->poll?  We cannot ask the
// kernel without epoll, so decide from the file type, as
// docs/epoll-contract.md lists (regular files, directories, block devices,
// memfd, /dev/null, /dev/zero, /dev/urandom and most of /proc have none).
// The link name of an anon-inode fd ("anon_inode:[eventfd]"): anon inodes
// all share one inode, and the name is what tells them apart.  Empty for
// other files.
struct anon_name {
	char s[64] = "";
	anon_name(int fd, const struct stat &st)
	{
		if ((st.st_mode & S_IFMT) != 0)
			return;
		// A timerfd, the usual anon-inode file made where we do not see it
		// (event loops make theirs by inline system calls), is the only
		// file timerfd_gettime() accepts: one plain call instead of the
		// /proc readlink, which costs several.  (On an expired periodic
		// timer it moves the expiry forward and counts the overruns, as
		// the next read() or timerfd_gettime() of the program would.)
		if (sys_raw_is_timerfd(fd) == 1) {
			strcpy(s, "anon_inode:[timerfd]");
			return;
		}
		char path[32];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		long n = g_sys->readlink(path, s, sizeof s - 1);
		s[n > 0 ? n : 0] = 0;
	}
	bool is(const char *name) const { return strcmp(s, name) == 0; }
};

bool file_can_poll(int fd, const struct stat &st, const anon_name &anon, bool *consumes)
{
	switch (st.st_mode & S_IFMT) {
	case S_IFSOCK:
	case S_IFIFO:
		return true;
	case 0:
		// Anon inodes poll (eventfd, timerfd, signalfd, epoll, inotify,
		// pidfd, userfaultfd, bpf maps...) but for these, whose
		// file_operations have no ->poll (checked against native epoll on
		// Linux 6.18: tests/special_files_test.cpp).
		return !anon.is("anon_inode:[fscontext]") && !anon.is("anon_inode:[landlock-ruleset]") &&
		       !anon.is("anon_inode:bpf-prog");
	case S_IFDIR:
	case S_IFBLK:
		return false;
	case S_IFCHR:
		// The memory devices have no poll but for /dev/random and /dev/kmsg.
		if (major(st.st_rdev) == 1)
			return minor(st.st_rdev) == 8 || minor(st.st_rdev) == 11;
		return true;
	case S_IFREG:
		break;
	default:
		return false;
	}
	struct statfs sf;
	if (g_sys->fstatfs(fd, &sf) < 0)
		return false;
	switch (static_cast<unsigned long>(sf.f_type)) {
	case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case 0x74726163: // tracefs
	case 0x50494446: // pidfs
		return true;
	case PROC_SUPER_MAGIC: {
		// Of /proc's regular files, the mount tables, swaps, kmsg,
		// sysctls and pressure files poll.
		char path[32], name[256];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		long n = g_sys->readlink(path, name, sizeof name - 1);
		if (n <= 0)
			return false;
		name[n] = 0;
		auto ends = [&](const char *s) {
			size_t l = strlen(s);
			return static_cast<size_t>(n) >= l && strcmp(name + n - l, s) == 0;
		};
		// The mount tables, /proc/swaps and PSI triggers report PRI|ERR
		// to the first poll after a change only (see epfile::consumed).
		*consumes = ends("/mounts") || ends("/mountinfo") || ends("/mountstats") ||
			    strcmp(name, "/proc/swaps") == 0 || strncmp(name, "/proc/pressure/", 15) == 0;
		return *consumes || strcmp(name, "/proc/kmsg") == 0 || strncmp(name, "/proc/sys/", 10) == 0;
	}
	default:
		return false;
	}
}

core::file_kind kind_of(int fd, const struct stat &st, long flags, const anon_name &anon)
{
	switch (st.st_mode & S_IFMT) {
	case S_IFSOCK: {
		// A datagram socket outside AF_UNIX gets room back after every
		// send (the skb is freed on transmit): each write is an OUT edge.
		int type = 0, domain = 0;
		socklen_t tl = sizeof type, dl = sizeof domain;
		if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
		    ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) == 0 && type == SOCK_DGRAM &&
		    domain != AF_UNIX)
			return core::file_kind::inet_dgram;
		return core::file_kind::socket;
	}
	case S_IFIFO:
		return (flags & O_ACCMODE) == O_WRONLY ? core::file_kind::pipe_write : core::file_kind::pipe_read;
	case 0:
		if (anon.is("anon_inode:[eventfd]"))
			return core::file_kind::eventfd;
		if (anon.is("anon_inode:[eventpoll]"))
			return core::file_kind::native_epoll;
		return core::file_kind::other;
	default:
		return core::file_kind::other;
	}
}

// Is fd the same open file as one we track?  The index answers in
// O(log n) kcmp calls; without kcmp's order, candidates share (dev, ino).
core::epfile *find_same_file(int fd, const struct stat &st, index_spot *spot)
{
	bool usable;
	core::epfile *indexed = file_index_find(fd, &usable, spot);
	if (usable)
		return indexed;
	int top = max_fd.load(std::memory_order_acquire);
	for (int n = 0; n <= top; n++) {
		if (n == fd)
			continue;
		core::epfile *f = fdt_file(fdt_peek(n));
		if (!f || f->dev != st.st_dev || f->ino != st.st_ino || f->dead.load(std::memory_order_acquire))
			continue;
		if (g_sys->kcmp_file(n, fd) == 0 && core::epfile_tryget(f))
			return f;
	}
	return nullptr;
}

// Files of unknown origin met so far (fdt_get on a number we never saw
// made), and that count at the last scan of /proc/self/fd.  A scan puts
// every open number it finds that is a copy of a tracked file into the
// table; until a new file of unknown origin is met, no copy we did not see
// made can have appeared for a file we track (short of inline system calls
// that dup without a trace), so the next close needs no scan: closing n
// such files costs one scan, not n.
std::atomic<unsigned long> unknown_meets{0};
std::atomic<unsigned long> scanned_at{~0UL};

core::epfile *find_same_file(int fd, const struct stat &st, index_spot *spot = nullptr);
void attach(int fd, core::epfile *f);
bool attach_if(int fd, core::epfile *f, uintptr_t expected);
bool still_current(std::atomic<uintptr_t> *s, int fd, core::epfile *f, uintptr_t gen0);
void note_identity(core::epfile *f, int fd);

// The numbers a close_range() of this thread is closing (empty: lo > hi).
thread_local unsigned closing_lo = 1, closing_hi = 0;

// An fd of f that the table does not know (dup'ed by a call we do not
// hook), found by scanning /proc/self/fd; -1 if there is none.  `closing`
// is f's fd being closed (still open; no longer in the table or the
// index).  The other untracked numbers met are identified on the way.
int find_untracked_dup(core::epfile *f, int closing, uintptr_t *found_gen)
{
	unsigned long meets = unknown_meets.load(std::memory_order_acquire);
	if (scanned_at.load(std::memory_order_acquire) == meets)
		return -1;
	long dfd = g_sys->open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	char buf[4096];
	int found = -1;
	for (;;) {
		long n = raw_syscall(SYS_getdents64, dfd, reinterpret_cast<long>(buf), sizeof buf);
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			auto *d = reinterpret_cast<struct dirent64 *>(buf + off);
			off += d->d_reclen;
			int num = 0;
			bool digits = d->d_name[0] != 0;
			for (const char *p = d->d_name; *p; p++) {
				if (*p < '0' || *p > '9')
					digits = false;
				else
					num = num * 10 + (*p - '0');
			}
			if (!digits || num == closing || num == dfd)
				continue;
			std::atomic<uintptr_t> *ns = fdt_slot(num, true);
			if (!ns)
				continue;
			uintptr_t gen0 = slot_gen(ns)->load(std::memory_order_acquire);
			if (ns->load(std::memory_order_acquire) != FD_UNKNOWN)
				continue;
			// Going away in the same close_range(): neither a copy that
			// outlives `closing` nor a number to put back in the table.
			if (static_cast<unsigned>(num) >= closing_lo && static_cast<unsigned>(num) <= closing_hi)
				continue;
			struct stat st;
			if (g_sys->fstat(num, &st) != 0)
				continue;
			if (found < 0 && st.st_dev == f->dev && st.st_ino == f->ino && g_sys->kcmp_file(num, closing) == 0) {
				found = num;
				*found_gen = gen0;
				continue;
			}
			// Only if the number is still unknown: a close of it may have
			// begun since (FD_CLOSING), and the file must not come back.
			if (core::epfile *same = find_same_file(num, st)) {
				if (attach_if(num, same, FD_UNKNOWN))
					still_current(ns, num, same, gen0);
				core::epfile_put(same);
			}
		}
	}
	g_sys->close(static_cast<int>(dfd));
	scanned_at.store(meets, std::memory_order_release);
	return found;
}

// Which files the identity index holds.  A file we saw created has no
// copy we did not see made, unless the process receives fds (SCM_RIGHTS,
// pidfd_getfd): until then only files of unknown origin and our epoll
// files are indexed, so a fresh file's ADD and close cost no kcmp.
std::atomic<bool> index_all{false};

bool index_wanted(const core::epfile *f)
{
	return !f->origin_known || f->kind == core::file_kind::epoll || index_all.load(std::memory_order_acquire);
}

// stale's number fd was closed behind our back: it is gone from fd, and
// from the index if that was its last.
void forget_stale(core::epfile *stale, int fd)
{
	core::epfile_fd_closing(stale, fd, -1);
	if (stale->dead.load(std::memory_order_acquire) && index_wanted(stale))
		file_index_remove(stale);
	core::epfile_put(stale);
}

// f was put into slot s of fd on what the kernel said of fd, asked after
// the slot's generation read gen0.  True if no close of the number ended
// since; else the kernel may have spoken of the number's next file, or of
// none: f leaves the slot again (as a file whose number was closed) and
// the caller looks again.  The caller's reference on f stays its own.
bool still_current(std::atomic<uintptr_t> *s, int fd, core::epfile *f, uintptr_t gen0)
{
	if (slot_gen(s)->load(std::memory_order_acquire) == gen0)
		return true;
	uintptr_t expected = reinterpret_cast<uintptr_t>(f);
	if (s->compare_exchange_strong(expected, FD_UNKNOWN, std::memory_order_acq_rel))
		forget_stale(f, fd);
	return false;
}

// Puts v into slot s of fd.  If the slot held a file, the number was
// closed behind our back (a raw syscall) and reused: that file is gone
// from this number, as if closed here.
void slot_replace(std::atomic<uintptr_t> *s, int fd, uintptr_t v)
{
	uintptr_t old = s->exchange(v, std::memory_order_acq_rel);
	if (core::epfile *stale = fdt_file(old))
		forget_stale(stale, fd);
	else if (old == FD_INTERNAL)
		core::internal_fd_lost(fd); // ours was closed behind our back
}

// Points slot `fd` at f (one more reference and fd number for f).
void attach(int fd, core::epfile *f)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, true);
	if (!s)
		return;
	core::epfile_get(f);
	{
		std::lock_guard g(f->f_lock);
		f->nfds++;
		if (f->poll_fd < 0)
			f->poll_fd = fd;
	}
	slot_replace(s, fd, reinterpret_cast<uintptr_t>(f));
}

// As attach(), only if the slot still holds `expected`: the kernel was
// asked about fd while it held that, and a close that began since
// (FD_CLOSING) may have ended too, so what the kernel said is stale.
// False (nothing changed) then.
bool attach_if(int fd, core::epfile *f, uintptr_t expected)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, true);
	if (!s)
		return false;
	core::epfile_get(f);
	bool set_poll_fd = false;
	{
		// Counted before the slot shows it: a closer of fd that reads
		// nfds once the slot holds f must count this number.
		std::lock_guard g(f->f_lock);
		f->nfds++;
		if (f->poll_fd < 0) {
			f->poll_fd = fd;
			set_poll_fd = true;
		}
	}
	if (s->compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(f), std::memory_order_acq_rel))
		return true;
	{
		std::lock_guard g(f->f_lock);
		f->nfds--;
		if (set_poll_fd && f->poll_fd == fd)
			f->poll_fd = -1;
	}
	core::epfile_put(f);
	return false;
}

// A file its creator described (FD_FRESH_KIND) was made with no fstat: its
// (dev, ino), which the search without kcmp compares, is filled in when it
// joins the identity index (a copy of it may now appear unseen).
void note_identity(core::epfile *f, int fd)
{
	struct stat st;
	if (f->dev == 0 && f->ino == 0 && g_sys->fstat(fd, &st) == 0) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
}

core::epfile *fget_op(int fd, long *err) { return fdt_get(fd, err); }

// Twin of __fget_files_rcu(): a reference to f, which slot s showed as
// v, only if s still shows it once the reference is held; the slot's own
// reference may have been put in between (a racing close), and the
// block reused.
bool get_if_slot(core::epfile *f, std::atomic<uintptr_t> *s, uintptr_t v)
{
	if (!core::epfile_tryget(f))
		return false;
	if (s->load(std::memory_order_acquire) == v)
		return true;
	core::epfile_put(f);
	return false;
}

// Puts a new file f (one reference: the slot's) into slot s if it still
// holds `seen`.  The caller's reference is taken first: once the slot
// shows f, a racing close (or a creator's mark on the number reused) may
// drop the slot's reference at once, and f must outlive our use of it.
// False (f freed) when the slot changed meanwhile.
bool publish_new(std::atomic<uintptr_t> *s, uintptr_t seen, core::epfile *f)
{
	core::epfile_get(f);
	if (s->compare_exchange_strong(seen, reinterpret_cast<uintptr_t>(f), std::memory_order_acq_rel))
		return true;
	core::epfile_put(f);
	core::epfile_put(f);
	return false;
}

// Adds a just-published file to the identity index, which holds no
// reference.  A close that ran between the publication and the add saw
// nothing to take out, and its file dies with our reference: taken out
// again then.  (The closer marks f dead before it scans the index under
// the index's lock, so either its scan finds our entry or we see dead.)
void index_new(core::epfile *f, int fd, const index_spot *spot)
{
	file_index_add(f, fd, spot);
	if (f->dead.load(std::memory_order_acquire))
		file_index_remove(f);
}

// The core made a file (a fake epoll fd).  Its (dev, ino) is the eventfd's
// anon inode: so a copy of that fd made where we do not see it (an
// SCM_RIGHTS message to ourselves) is found by find_same_file().
void fd_install_op(int fd, core::epfile *f)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, true);
	if (!s) {
		core::epfile_put(f);
		return;
	}
	struct stat st;
	if (f->dev == 0 && f->ino == 0 && g_sys->fstat(fd, &st) == 0) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
	// Held across the index add: a racing close of fd may put the slot's
	// reference as soon as the slot shows f (see index_new).
	core::epfile_get(f);
	slot_replace(s, fd, reinterpret_cast<uintptr_t>(f));
	index_new(f, fd, nullptr);
	core::epfile_put(f);
}

void fd_internal_op(int fd, bool internal)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, internal);
	if (!s)
		return;
	if (internal) {
		s->store(FD_INTERNAL, std::memory_order_release);
		return;
	}
	uintptr_t expected = FD_INTERNAL;
	gen_bump(s);
	s->compare_exchange_strong(expected, FD_UNKNOWN, std::memory_order_acq_rel);
}

void fd_closed_unseen_op(int fd, core::epfile *f)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, false);
	uintptr_t expected = reinterpret_cast<uintptr_t>(f);
	if (!s)
		return;
	gen_bump(s);
	if (s->compare_exchange_strong(expected, FD_UNKNOWN, std::memory_order_acq_rel))
		forget_stale(f, fd);
}

const file_ops table_ops = {fget_op, fd_install_op, fd_internal_op, fd_closed_unseen_op, hooks_close_deferred};

} // namespace

void fdtable_init(const sys_ops *sys) { g_sys = sys; }

const file_ops &fdtable_ops() { return table_ops; }
int fdt_max_fd() { return max_fd.load(std::memory_order_acquire); }

std::atomic<uintptr_t> *fdt_slot(int fd, bool create)
{
	if (fd < 0 || fd >= DIR_SIZE * PAGE_SLOTS)
		return nullptr;
	std::atomic<uintptr_t> *page = dir[fd >> PAGE_SHIFT].load(std::memory_order_acquire);
	if (!page) {
		if (!create)
			return nullptr;
		std::atomic<uintptr_t> *fresh = page_alloc();
		if (!fresh)
			return nullptr;
		if (!dir[fd >> PAGE_SHIFT].compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) {
			raw_syscall(SYS_munmap, reinterpret_cast<long>(fresh), PAGE_BYTES);
		} else {
			page = fresh;
		}
	}
	if (create) {
		int m = max_fd.load(std::memory_order_relaxed);
		while (fd > m && !max_fd.compare_exchange_weak(m, fd, std::memory_order_acq_rel)) {
		}
	}
	return &page[fd & (PAGE_SLOTS - 1)];
}

core::epfile *fdt_get(int fd, long *err)
{
	for (;;) {
		std::atomic<uintptr_t> *s = fdt_slot(fd, fd >= 0);
		if (!s) {
			*err = -EBADF;
			return nullptr;
		}
		uintptr_t gen0 = slot_gen(s)->load(std::memory_order_acquire);
		uintptr_t v = s->load(std::memory_order_acquire);
		if (v == FD_INTERNAL || v == FD_CLOSING) {
			*err = -EBADF;
			return nullptr;
		}
		if (core::epfile *f = fdt_file(v)) {
			if (get_if_slot(f, s, v))
				return f;
			continue; // dying under a racing close, or replaced: look again
		}
		if (v >= FD_FRESH_KIND && v <= FD_LAST_MARK) {
			// Made by a hooked creator that told us what it is: nothing to
			// ask the kernel.  (A number closed behind our back by an
			// inline system call is then taken for the file it was, as
			// any file the table knows is.)
			core::epfile *f = core::epfile_alloc();
			if (!f) {
				*err = -ENOMEM;
				return nullptr;
			}
			f->kind = static_cast<core::file_kind>(v - FD_FRESH_KIND);
			f->origin_known = true;
			f->poll_fd = fd;
			f->nfds = 1;
			if (!publish_new(s, v, f))
				continue;
			if (index_wanted(f)) {
				note_identity(f, fd);
				index_new(f, fd, nullptr);
			}
			return f;
		}
		// Not known yet: ask the kernel.  O_PATH fds cannot be used here,
		// as fdget() ignores them.
		long fl = g_sys->fcntl(fd, F_GETFL, 0);
		if (fl < 0 || (fl & O_PATH)) {
			*err = -EBADF;
			return nullptr;
		}
		struct stat st;
		if (g_sys->fstat(fd, &st) < 0) {
			*err = -EBADF;
			return nullptr;
		}
		index_spot spot;
		if (v == FD_UNKNOWN) {
			unknown_meets.fetch_add(1, std::memory_order_acq_rel);
			if (core::epfile *same = find_same_file(fd, st, &spot)) {
				if (attach_if(fd, same, FD_UNKNOWN) && still_current(s, fd, same, gen0))
					return same;
				core::epfile_put(same); // closing or filled meanwhile: look again
				continue;
			}
		}
		core::epfile *f = core::epfile_alloc();
		if (!f) {
			*err = -ENOMEM;
			return nullptr;
		}
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		anon_name anon(fd, st);
		f->can_poll = file_can_poll(fd, st, anon, &f->poll_consumes);
		f->kind = kind_of(fd, st, fl, anon);
		f->origin_known = fdt_is_fresh(v);
		f->poll_fd = fd;
		f->nfds = 1;
		if (!publish_new(s, v, f))
			continue; // another thread installed one first
		if (!still_current(s, fd, f, gen0)) {
			core::epfile_put(f);
			continue;
		}
		if (index_wanted(f))
			index_new(f, fd, &spot);
		return f;
	}
}

core::file_kind fdt_kind(int fd)
{
	// Through a reference, never a bare load of the slot: a racing close
	// may free the file between the load and the read of its kind.
	long err;
	core::epfile *f = fdt_get(fd, &err);
	if (!f)
		return core::file_kind::other;
	core::file_kind k = f->kind;
	core::epfile_put(f);
	return k;
}

void fdt_note_fresh(int fd)
{
	if (std::atomic<uintptr_t> *s = fdt_slot(fd, true))
		slot_replace(s, fd, FD_FRESH);
}

void fdt_note_fresh_kind(int fd, core::file_kind k)
{
	if (std::atomic<uintptr_t> *s = fdt_slot(fd, true))
		slot_replace(s, fd, FD_FRESH_KIND + static_cast<uintptr_t>(k));
}

void fdt_note_unknown(int fd)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, false);
	if (s && s->load(std::memory_order_acquire) != FD_UNKNOWN) {
		gen_bump(s);
		slot_replace(s, fd, FD_UNKNOWN);
	}
}

bool fdt_epoll_slot_stale(int fd, uintptr_t v)
{
	core::epfile *f = fdt_file(v);
	if (!f || f->kind != core::file_kind::epoll)
		return false;
	// Our epoll fd is an eventfd: anything else under its number replaced
	// it behind our back (a raw close, then a creator we do not hook:
	// fopen, a raw syscall).  Another eventfd cannot be told apart here.
	char path[32], name[32];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	long n = g_sys->readlink(path, name, sizeof name - 1);
	if (n > 0) {
		name[n] = 0;
		if (strcmp(name, "anon_inode:[eventfd]") == 0)
			return false;
	}
	std::atomic<uintptr_t> *s = fdt_slot(fd, false);
	uintptr_t expected = v;
	if (!s)
		return true;
	gen_bump(s);
	if (s->compare_exchange_strong(expected, FD_UNKNOWN, std::memory_order_acq_rel))
		forget_stale(f, fd);
	return true;
}

void fdt_index_everything()
{
	if (index_all.exchange(true, std::memory_order_acq_rel))
		return;
	int top = max_fd.load(std::memory_order_acquire);
	for (int n = 0; n <= top; n++) {
		long err;
		if (!fdt_file(fdt_peek(n)))
			continue;
		if (core::epfile *f = fdt_get(n, &err)) {
			note_identity(f, n);
			file_index_add(f, n); // a second number of one file finds it there
			core::epfile_put(f);
		}
	}
}

void fdt_note_pair(int a, int b, core::file_kind ka, core::file_kind kb)
{
	fdt_note_fresh_kind(a, ka);
	fdt_note_fresh_kind(b, kb);
	long err;
	core::epfile *fa = fdt_get(a, &err);
	core::epfile *fb = fdt_get(b, &err);
	if (fa && fb) {
		fa->kind = ka;
		fb->kind = kb;
		core::epfile_link_peers(fa, fb);
	}
	if (fa)
		core::epfile_put(fa);
	if (fb)
		core::epfile_put(fb);
}

void fdt_closing_range_begin(unsigned first, unsigned last)
{
	closing_lo = first;
	closing_hi = last;
}

void fdt_closing_range_end()
{
	closing_lo = 1;
	closing_hi = 0;
}

void fdt_closing(int fd)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, false);
	if (!s)
		return;
	uintptr_t v = s->load(std::memory_order_acquire);
	// Until the real call is over, no fdt_get may identify the number
	// anew (it is still open in the kernel): mark it closing.  A fresh
	// mark simply goes (a new file never looked at; a later number reuse
	// we do not see must not look new), as does "unknown".
	core::epfile *f;
	for (;;) {
		f = fdt_file(v);
		if (!f) {
			if (v == FD_INTERNAL)
				return; // not the program's: its callers refuse it first
			if (s->compare_exchange_weak(v, FD_CLOSING, std::memory_order_acq_rel))
				return;
			continue;
		}
		// Our own reference for the work below: the slot's may be put by
		// a racing close or a creator's mark the moment it leaves the slot.
		if (get_if_slot(f, s, v))
			break;
		v = s->load(std::memory_order_acquire);
	}
	int nfds;
	{
		std::lock_guard g(f->f_lock);
		nfds = f->nfds;
	}
	// Its last known fd, still open: the index finds it by it, O(log n).
	bool indexed = index_wanted(f);
	bool unindexed = indexed && nfds <= 1 && file_index_remove_fd(f, fd);
	v = s->exchange(FD_CLOSING, std::memory_order_acq_rel);
	if (fdt_file(v) != f) {
		// A racing close of the same number took it first.
		if (unindexed)
			index_new(f, fd, nullptr); // unless that close ended it
		if (core::epfile *other_file = fdt_file(v))
			forget_stale(other_file, fd);
		core::epfile_put(f); // ours
		return;
	}
	int other = -1;
	if (nfds > 1) {
		// Usually its poll_fd is another of its numbers; else scan.
		int p = f->poll_fd.load(std::memory_order_acquire);
		if (p >= 0 && p != fd && fdt_peek(p) == reinterpret_cast<uintptr_t>(f))
			other = p;
		int top = max_fd.load(std::memory_order_acquire);
		for (int n = 0; n <= top && other < 0; n++)
			if (n != fd && fdt_peek(n) == reinterpret_cast<uintptr_t>(f))
				other = n;
	}
	if (other < 0 && !f->origin_known && !f->f_ep.empty()) {
		uintptr_t other_gen = 0;
		other = find_untracked_dup(f, fd, &other_gen);
		if (other >= 0 && !attach_if(other, f, FD_UNKNOWN))
			other = -1; // being closed too, since the scan
		if (other >= 0 && !still_current(fdt_slot(other, false), other, f, other_gen))
			other = -1; // closed, and perhaps reused, since the scan
		if (other >= 0) {
			if (unindexed)
				file_index_add(f, other);
			unindexed = false;
		}
	}
	if (other < 0 && f->kind == core::file_kind::socket)
		loopback_closing(f);
	core::epfile_fd_closing(f, fd, other);
	if (f->dead.load(std::memory_order_acquire) && indexed && !unindexed)
		file_index_remove(f);
	core::epfile_put(f); // the slot's
	core::epfile_put(f); // ours
}

void fdt_closed(int fd)
{
	std::atomic<uintptr_t> *s = fdt_slot(fd, false);
	uintptr_t expected = FD_CLOSING;
	if (!s)
		return;
	gen_bump(s);
	s->compare_exchange_strong(expected, FD_UNKNOWN, std::memory_order_acq_rel);
}

void fdt_dup(int oldfd, int newfd)
{
	uintptr_t v = fdt_peek(oldfd);
	if (v == FD_INTERNAL || v == FD_CLOSING)
		return;
	// An unknown oldfd is identified now (fdt_get below), rarely needed
	// but exact: the copy is known to share its file, where finding that
	// out later needs kcmp, and a sandbox may refuse kcmp (deviation 8).
	long err;
	core::epfile *f = fdt_get(oldfd, &err); // makes a FRESH file real: it now has two fds
	if (!f)
		return;
	attach(newfd, f);
	core::epfile_put(f);
}

} // namespace uepoll::interpose
