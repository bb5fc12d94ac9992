// core/internal_fd.cpp - the registry of uepoll's own fds: where their
// numbers go, how one is moved out of the program's way (dup2 onto it),
// how a lost one is made again.  The protocol is in core/internal_fd.hpp.
#include "core/internal_fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <mutex>
#include <sys/eventfd.h>

#include "core/internal.hpp"

namespace uepoll::core {

struct internal_fd_registry {
	// Serialises whatever picks or gives up numbers (moves, renewals,
	// destruction), and is held across a move's bounded wait.  Taken with
	// no use held, at most under ep->mtx (an ADD reads max_user_watches).
	sleeping_mutex move_mutex;
	spinlock list_lock; // the list; a leaf
	internal_fd *head = nullptr;

	void link(internal_fd *e)
	{
		std::lock_guard g(list_lock);
		if (e->listed_)
			return;
		e->next_ = head;
		head = e;
		e->listed_ = true;
	}
	void unlink(internal_fd *e)
	{
		std::lock_guard g(list_lock);
		for (internal_fd **p = &head; *p; p = &(*p)->next_)
			if (*p == e) {
				*p = e->next_;
				break;
			}
		e->listed_ = false;
	}
};

namespace {

// Threads may exit (and destroy their entries) while exit() runs the
// static destructors.  Its first use may come from inside jemalloc's
// initialisation (ensure_init() -> core_init() -> here): a malloc there
// deadlocked redis-server at start-up.
internal_fd_registry &registry() { return static_forever<internal_fd_registry>(); }

// The fd table's mark "ours" goes from fd, unless the program got the
// number meanwhile (the fd table then holds the program's file there).
void unmark(int fd)
{
	if (fd >= 0)
		g_files->fd_internal(fd, false);
}

void sleep_1ms()
{
	timespec ts{0, 1000000};
	g_sys->ppoll(nullptr, 0, &ts, nullptr);
}

} // namespace

long internal_fd::make_raw() const
{
	if (polled())
		return g_sys->eventfd(0, flags_ | EFD_CLOEXEC);
	return g_sys->open(path_, flags_ | O_CLOEXEC);
}

// Where our fds live: far from the numbers the program gets (the lowest
// free ones), and not so high that the kernel must grow the fd table a
// lot.  Returns the number raw now has, or -errno.  keep_raw (a move):
// raw stays open, the result is a second number of its file, anywhere
// free when nothing is free up there.  Otherwise (a new fd) raw is
// closed once copied, or kept where it is when nothing is free up there.
// Under move_mutex.
int internal_fd::place(long raw, bool keep_raw)
{
	long limit = g_sys->nofile_limit();
	long low = limit > 128 ? limit - 64 : limit / 2;
	if (low > 65536)
		low = 65536;
	long n = g_sys->fcntl(static_cast<int>(raw), F_DUPFD_CLOEXEC, low);
	if (n < 0 && keep_raw)
		n = g_sys->fcntl(static_cast<int>(raw), F_DUPFD_CLOEXEC, 0);
	if (n < 0) {
		if (keep_raw)
			return static_cast<int>(n);
		n = raw;
	} else if (!keep_raw) {
		g_sys->close(static_cast<int>(raw));
	}
	// The kernel gave us n, so n was free: an entry that still says n lost
	// it behind our back, and must not take our new file for its own.
	{
		internal_fd_registry &r = registry();
		std::lock_guard g(r.list_lock);
		for (internal_fd *e = r.head; e; e = e->next_) {
			int stale = static_cast<int>(n);
			if (e != this)
				e->fd_.compare_exchange_strong(stale, -1, std::memory_order_seq_cst);
		}
	}
	g_files->fd_internal(static_cast<int>(n), true);
	return static_cast<int>(n);
}

int internal_fd::renew(int seen)
{
	internal_fd_registry &r = registry();
	std::lock_guard m(r.move_mutex);
	int cur = fd_.load(std::memory_order_seq_cst);
	if (cur >= 0 && cur != seen)
		return cur; // made again already, by another user
	if (cur >= 0) {
		// Not ours any more: forgotten, never closed (the program's now).
		fd_.store(-1, std::memory_order_seq_cst);
		unmark(cur);
	}
	long raw = make_raw();
	if (raw < 0)
		return static_cast<int>(raw);
	int n = place(raw, false);
	fd_.store(n, std::memory_order_seq_cst);
	r.link(this);
	return n;
}

int internal_fd::adopt(long raw)
{
	if (raw < 0)
		return static_cast<int>(raw);
	internal_fd_registry &r = registry();
	std::lock_guard m(r.move_mutex);
	int n = place(raw, false);
	int old = fd_.exchange(n, std::memory_order_seq_cst);
	if (old >= 0 && old != n) {
		unmark(old);
		g_sys->close(old);
	}
	r.link(this);
	return n;
}

void internal_fd::destroy()
{
	internal_fd_registry &r = registry();
	std::lock_guard m(r.move_mutex);
	r.unlink(this);
	for (int fd : {fd_.exchange(-1, std::memory_order_seq_cst), stuck_fd_}) {
		if (fd >= 0) {
			unmark(fd);
			g_sys->close(fd);
		}
	}
	stuck_fd_ = -1;
}

// Waits until no use counted in users_[idx] is left, kicking the pollers
// through kick_fd (ours, and open) every millisecond; false after the bound.
// Under move_mutex.
bool internal_fd::wait_unused(unsigned idx, int kick_fd)
{
	if (users_[idx].load(std::memory_order_seq_cst) == 0)
		return true;
	timespec start;
	g_sys->monotonic(&start);
	for (;;) {
		if (polled() && kick_fd >= 0)
			efd_signal(kick_fd); // a spurious wake-up for its owner: it looks again
		sleep_1ms();
		if (users_[idx].load(std::memory_order_seq_cst) == 0)
			return true;
		timespec now;
		g_sys->monotonic(&now);
		long waited = (now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec);
		if (waited > INTERNAL_FD_MOVE_BOUND_NS)
			return false;
	}
}

int internal_fd_vacate(int fd)
{
	internal_fd_registry &r = registry();
	std::lock_guard m(r.move_mutex);
	internal_fd *e = nullptr;
	{
		std::lock_guard g(r.list_lock);
		for (internal_fd *x = r.head; x && !e; x = x->next_)
			if (x->fd_.load(std::memory_order_seq_cst) == fd || x->stuck_fd_ == fd)
				e = x;
	}
	if (!e) {
		// Marked, but no entry has it: nothing of ours uses it.
		unmark(fd);
		return 0;
	}
	unsigned cur = e->gen_.load(std::memory_order_seq_cst) & 1;
	// The other counter must be empty before it can count the uses of fd:
	// it may still hold the uses an earlier move gave up on (stuck_fd_),
	// or, rarely, a use that read the generation before the last flip.
	int other_kick = e->stuck_fd_ >= 0 ? e->stuck_fd_ : fd;
	if (!e->wait_unused(cur ^ 1, other_kick))
		return -EBUSY;
	if (e->stuck_fd_ >= 0) {
		int s = e->stuck_fd_;
		e->stuck_fd_ = -1;
		unmark(s);
		if (s == fd)
			return 0; // the caller's dup replaces it
		g_sys->close(s);
	}
	// Where it goes; nowhere (-1) when no number is free: its users then do
	// without (docs/design.md), and the program gets its number.
	int n = e->place(fd, true);
	e->fd_.store(n < 0 ? -1 : n, std::memory_order_seq_cst);
	e->gen_.fetch_add(1, std::memory_order_seq_cst);
	if (!e->wait_unused(cur, fd)) {
		e->stuck_fd_ = fd; // still ours and open, until its uses end
		return -EBUSY;
	}
	unmark(fd);
	return 0;
}

void internal_fd_lost(int fd)
{
	internal_fd_registry &r = registry();
	std::lock_guard g(r.list_lock);
	for (internal_fd *e = r.head; e; e = e->next_) {
		int stale = fd;
		e->fd_.compare_exchange_strong(stale, -1, std::memory_order_seq_cst);
	}
}

void internal_fds_fork_prepare() { registry().list_lock.lock(); }
void internal_fds_fork_parent() { registry().list_lock.unlock(); }

void internal_fds_fork_child(const internal_fd *kept)
{
	internal_fd_registry &r = registry();
	r.list_lock.reset();
	r.move_mutex.reset();
	for (internal_fd **p = &r.head; *p;) {
		internal_fd *e = *p;
		// The other threads are gone, and so are their uses.
		e->users_[0].store(0);
		e->users_[1].store(0);
		if (e->stuck_fd_ >= 0) {
			unmark(e->stuck_fd_);
			g_sys->close(e->stuck_fd_);
			e->stuck_fd_ = -1;
		}
		if (e->per_thread_ && e != kept) {
			int fd = e->fd_.exchange(-1);
			if (fd >= 0) {
				unmark(fd);
				g_sys->close(fd);
			}
			*p = e->next_;
			e->listed_ = false;
			continue;
		}
		p = &e->next_;
	}
}

} // namespace uepoll::core
