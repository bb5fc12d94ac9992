// tests/enospc_test.cpp - the max_user_watches limit: exactly L watches per user, ENOSPC beyond, freed by DEL and close.
//
// The limit (/proc/sys/fs/epoll/max_user_watches) is system-wide, so these
// are plain TESTs: each lowers it once, under a lock shared by every run on
// the machine, runs its scenarios in children that switch to a fresh,
// otherwise unused uid (the kernel counts watches per real uid of the
// instance's creator), and restores it whatever happens.  uepoll reads the
// limit from /proc/sys/fs/epoll/max_user_watches at each ADD, as the
// kernel does.  Where the limit cannot be written (a read-only /proc/sys in
// a container: EROFS; not root: EACCES or EPERM) the tests skip, saying
// which; any other error fails.
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <set>
#include <string>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "tests/trace.hpp"

using uepoll::test::backend;
using uepoll::test::trace;

namespace {

const char *const LIMIT_PATH = "/proc/sys/fs/epoll/max_user_watches";
// Serializes every process that changes the limit.
const char *const LOCK_PATH = "/tmp/uepoll-enospc.lock";
// The original limit while a run has it changed: a run killed in the
// middle leaves it behind, and the next run puts it back first.
const char *const SAVED_PATH = "/tmp/uepoll-enospc.saved";

// Large enough that root processes running other tests at the same time
// (nesting tests make ~1000 watches) stay far below it.
constexpr long LIMIT = 10000;
constexpr int INSTANCES = 50;
constexpr int TARGETS = LIMIT / INSTANCES; // fds watched by each instance
static_assert(INSTANCES * TARGETS == LIMIT);

constexpr uint64_t D1 = 0xfeedface00000001ULL;

std::string ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : std::to_string(e);
}

bool read_file(const char *path, std::string &out)
{
	int fd = ::open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[128];
	ssize_t n = ::read(fd, buf, sizeof buf - 1);
	::close(fd);
	if (n <= 0)
		return false;
	out.assign(buf, n);
	while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
		out.pop_back();
	return !out.empty();
}

// Returns 0, or the errno of the open, write or close that failed.
int write_file_errno(const char *path, const std::string &s, bool create = false)
{
	int fd = ::open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return errno;
	std::string line = s + "\n";
	ssize_t n = ::write(fd, line.data(), line.size());
	int e = n < 0 ? errno : n == (ssize_t)line.size() ? 0 : EIO;
	if (::close(fd) != 0 && e == 0)
		e = errno;
	return e;
}

bool write_file(const char *path, const std::string &s, bool create = false)
{
	int e = write_file_errno(path, s, create);
	errno = e;
	return e == 0;
}

// The errors that say the limit cannot be written here at all: a read-only
// /proc/sys (EROFS, as in a container) or no right to it (EACCES, EPERM: not
// root, or a user namespace that does not own it).
bool cannot_write_limit(int e)
{
	return e == EROFS || e == EACCES || e == EPERM;
}

std::string cannot_write_message(int e)
{
	return std::string("cannot write ") + LIMIT_PATH + " (" + ename(e) +
	       (e == EROFS ? ": /proc/sys is mounted read-only, as in a container"
			   : ": these tests need root in the initial user namespace") +
	       "), so the limit cannot be lowered";
}

// Lowers the limit for its lifetime.  Forked children never run its
// destructor (they leave with _exit).
struct limit_guard {
	int lockfd = -1;
	std::string orig;
	bool changed = false;
	// Not empty when the limit cannot be written here: the test skips with
	// this message instead of failing.
	std::string skip;

	explicit limit_guard(long value)
	{
		// Before the lock, which a user other than root cannot take either:
		// a limit that cannot be written at all is a missing precondition.
		if (::access(LIMIT_PATH, W_OK) != 0 && cannot_write_limit(errno)) {
			skip = cannot_write_message(errno);
			return;
		}
		lockfd = ::open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		EXPECT_GE(lockfd, 0) << LOCK_PATH << ": " << ename(errno);
		if (lockfd < 0)
			return;
		EXPECT_EQ(flock(lockfd, LOCK_EX), 0);
		EXPECT_TRUE(read_file(LIMIT_PATH, orig)) << LIMIT_PATH;
		// Whether the limit can be written at all, by writing back the value
		// it has: no change, and an error names the missing precondition.
		if (int e = write_file_errno(LIMIT_PATH, orig); cannot_write_limit(e)) {
			skip = cannot_write_message(e);
			return;
		} else {
			EXPECT_EQ(e, 0) << "writing " << LIMIT_PATH << " back to " << orig << ": " << ename(e);
		}
		std::string stale;
		if (read_file(SAVED_PATH, stale)) {
			EXPECT_TRUE(write_file(LIMIT_PATH, stale)) << "restoring a limit left by a killed run";
			unlink(SAVED_PATH);
			EXPECT_TRUE(read_file(LIMIT_PATH, orig)) << LIMIT_PATH;
		}
		EXPECT_TRUE(write_file(SAVED_PATH, orig, true)) << SAVED_PATH;
		changed = write_file(LIMIT_PATH, std::to_string(value));
		EXPECT_TRUE(changed) << "writing " << LIMIT_PATH << " (must run as root): " << ename(errno);
	}
	~limit_guard()
	{
		if (changed) {
			EXPECT_TRUE(write_file(LIMIT_PATH, orig)) << "restoring " << LIMIT_PATH << " to " << orig;
		}
		// A skipped run saved nothing; a stale file of a killed run stays
		// for the next run that can write the limit.
		if (skip.empty())
			unlink(SAVED_PATH);
		if (lockfd >= 0) {
			flock(lockfd, LOCK_UN);
			::close(lockfd);
		}
	}
	bool ok() const { return changed; }
};

// Every uid some process currently runs with (real, effective, saved, fs).
std::set<long> uids_in_use()
{
	std::set<long> s;
	DIR *d = opendir("/proc");
	if (!d)
		return s;
	while (dirent *e = readdir(d)) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		std::string path = std::string("/proc/") + e->d_name + "/status";
		FILE *f = fopen(path.c_str(), "re");
		if (!f)
			continue;
		char line[256];
		while (fgets(line, sizeof line, f)) {
			long a, b, c, x;
			if (sscanf(line, "Uid: %ld %ld %ld %ld", &a, &b, &c, &x) == 4) {
				s.insert(a);
				s.insert(b);
				s.insert(c);
				s.insert(x);
			}
		}
		fclose(f);
	}
	closedir(d);
	return s;
}

// A uid no process uses, so that its watch count starts at 0.
uid_t fresh_uid(uid_t start, uid_t avoid)
{
	auto used = uids_in_use();
	uid_t u = start;
	while (used.count(u) || u == avoid)
		u++;
	return u;
}

// Drops to uid (and gid) in this child: its instances count against it.
void become(uid_t uid)
{
	ASSERT_EQ(setgroups(0, nullptr), 0);
	ASSERT_EQ(setresgid(uid, uid, uid), 0);
	ASSERT_EQ(setresuid(uid, uid, uid), 0);
	ASSERT_EQ(getuid(), uid);
}

int count_fds()
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	while (dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

int ctl(backend &b, int ep, int op, int fd, uint32_t events, uint64_t data)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.u64 = data;
	return b.epoll_ctl(ep, op, fd, &ev);
}

// ADDs targets[from..] to ep until one fails; returns how many worked and
// the errno of the failure (0 if none failed).
std::pair<int, int> add_all(backend &b, int ep, const std::vector<int> &targets, size_t from = 0)
{
	int ok = 0;
	for (size_t i = from; i < targets.size(); i++) {
		if (ctl(b, ep, EPOLL_CTL_ADD, targets[i], EPOLLIN, D1 + 2 * i) != 0)
			return {ok, errno};
		ok++;
	}
	return {ok, 0};
}

// The watched fds: TARGETS/2 pipes, both ends.
std::vector<int> make_targets(backend &b, trace &t)
{
	std::vector<int> v;
	int bad = 0;
	for (int i = 0; i < TARGETS / 2; i++) {
		int p[2];
		if (b.pipe2(p, O_CLOEXEC) != 0) {
			bad++;
			continue;
		}
		v.push_back(p[0]);
		v.push_back(p[1]);
	}
	t.step("target pipes that failed", bad);
	EXPECT_EQ(bad, 0);
	return v;
}

// Fills LIMIT watches over INSTANCES instances; records the result.
std::vector<int> fill_to_limit(backend &b, trace &t, const std::vector<int> &targets, const std::string &m)
{
	std::vector<int> eps;
	long added = 0;
	int failed = 0;
	for (int i = 0; i < INSTANCES; i++) {
		int ep = b.epoll_create1(EPOLL_CLOEXEC);
		EXPECT_GE(ep, 0);
		eps.push_back(ep);
		auto [n, e] = add_all(b, ep, targets);
		added += n;
		if (e)
			failed = e;
	}
	t.step(m + "watches added", added);
	t.step(m + "first failure errno", failed);
	EXPECT_EQ(added, LIMIT) << m;
	EXPECT_EQ(failed, 0) << m << ename(failed);
	return eps;
}

void check(trace &t, const std::string &what, long ret, int want)
{
	int e = errno;
	t.step(what, ret);
	if (want == 0) {
		EXPECT_EQ(ret, 0) << what << ": " << ename(e);
	} else {
		EXPECT_EQ(ret, -1) << what;
		if (ret == -1) {
			EXPECT_EQ(e, want) << what << ": got " << ename(e) << ", want " << ename(want);
		}
	}
	errno = e;
}

void scenario_limit(backend &b, trace &t, uid_t uid)
{
	become(uid);
	if (::testing::Test::HasFatalFailure())
		return;
	// The baseline is taken after the backend's start-up: uepoll opens
	// the max_user_watches sysctl once, when it starts (as a kept fd of
	// its own), and what this test counts is what its steps leave open.
	// Tiering is off: a shard's poller (core/tiers.cpp), started when a
	// wait first parks an idle fd, keeps a control eventfd of its own for
	// the life of the process, which would count here.
	b.tiers(0);
	b.close(b.epoll_create1(EPOLL_CLOEXEC));
	int fds_before = count_fds();
	std::string lim;
	EXPECT_TRUE(read_file(LIMIT_PATH, lim));
	t.note("limit " + lim);

	auto targets = make_targets(b, t);
	int extra[2];
	t.step("extra pipe", b.pipe2(extra, O_CLOEXEC));
	auto eps = fill_to_limit(b, t, targets, "");

	// At the limit: one more watch fails, in any instance, with any file.
	check(t, "ADD one more", ctl(b, eps[0], EPOLL_CTL_ADD, extra[0], EPOLLIN, D1), ENOSPC);
	check(t, "ADD one more, last instance", ctl(b, eps.back(), EPOLL_CTL_ADD, extra[1], EPOLLOUT, D1), ENOSPC);
	int fresh = b.epoll_create1(EPOLL_CLOEXEC);
	t.step("create a fresh instance at the limit", fresh >= 0);
	check(t, "ADD to the fresh instance", ctl(b, fresh, EPOLL_CTL_ADD, extra[0], EPOLLIN, D1), ENOSPC);
	check(t, "ADD an epoll fd", ctl(b, fresh, EPOLL_CTL_ADD, eps[0], EPOLLIN, D1), ENOSPC);
	check(t, "ADD EXCLUSIVE", ctl(b, fresh, EPOLL_CTL_ADD, extra[0], EPOLLIN | EPOLLEXCLUSIVE, D1), ENOSPC);
	// The earlier checks still come first.
	check(t, "ADD present item", ctl(b, eps[0], EPOLL_CTL_ADD, targets[0], EPOLLIN, D1), EEXIST);
	check(t, "ADD fd==epfd", ctl(b, fresh, EPOLL_CTL_ADD, fresh, EPOLLIN, D1), EINVAL);
	check(t, "ADD bad EXCLUSIVE", ctl(b, fresh, EPOLL_CTL_ADD, extra[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, D1),
	      EINVAL);
	check(t, "MOD absent", ctl(b, fresh, EPOLL_CTL_MOD, extra[0], EPOLLIN, D1), ENOENT);
	// MOD needs no new watch.
	check(t, "MOD at the limit", ctl(b, eps[0], EPOLL_CTL_MOD, targets[0], EPOLLIN | EPOLLET, 0xfeedface000000ffULL), 0);
	check(t, "MOD at the limit, other instance",
	      ctl(b, eps[7], EPOLL_CTL_MOD, targets[1], EPOLLOUT, 0xfeedface000000fdULL), 0);
	// The watches still report.
	t.step("write", b.write(targets[1], "x", 1));
	epoll_event out[4];
	int n = b.epoll_wait(eps[0], out, 4, 0);
	t.events("wait on instance 0", n, out);
	EXPECT_TRUE(t.contains("wait on instance 0 = 1 {IN data=feedface000000ff}")) << t.str();
	n = b.epoll_wait(eps[7], out, 4, 0);
	t.events("wait on instance 7", n, out);

	// DEL frees one watch, exactly one.
	check(t, "DEL", ctl(b, eps[3], EPOLL_CTL_DEL, targets[5], 0, 0), 0);
	check(t, "ADD after DEL", ctl(b, fresh, EPOLL_CTL_ADD, extra[0], EPOLLIN, D1), 0);
	check(t, "ADD after that", ctl(b, fresh, EPOLL_CTL_ADD, extra[1], EPOLLOUT, D1), ENOSPC);
	check(t, "DEL again", ctl(b, fresh, EPOLL_CTL_DEL, extra[0], 0, 0), 0);
	check(t, "re-ADD the deleted one", ctl(b, eps[3], EPOLL_CTL_ADD, targets[5], EPOLLIN, D1), 0);
	check(t, "full again", ctl(b, fresh, EPOLL_CTL_ADD, extra[0], EPOLLIN, D1), ENOSPC);

	// Closing an instance frees its watches.
	t.step("close instance 9", b.close(eps[9]));
	auto [k, e] = add_all(b, fresh, targets);
	t.step("adds after closing an instance", k);
	t.step("errno of the add that stopped", e);
	EXPECT_EQ(k, TARGETS);
	check(t, "one more", ctl(b, fresh, EPOLL_CTL_ADD, extra[0], EPOLLIN, D1), ENOSPC);
	eps[9] = fresh;

	// Closing a watched file frees its watch in every instance.
	t.step("close target 0", b.close(targets[0]));
	int again = 0;
	for (int ep : eps)
		if (ctl(b, ep, EPOLL_CTL_ADD, extra[0], EPOLLIN, D1) == 0)
			again++;
	t.step("adds after closing a file watched everywhere", again);
	EXPECT_EQ(again, INSTANCES);
	int spare = b.epoll_create1(EPOLL_CLOEXEC);
	check(t, "and no more", ctl(b, spare, EPOLL_CTL_ADD, extra[1], EPOLLOUT, D1), ENOSPC);

	// Nothing leaked: after closing everything, exactly LIMIT again.
	for (int ep : eps)
		b.close(ep);
	b.close(spare);
	std::vector<int> targets2(targets.begin() + 1, targets.end());
	targets2.push_back(extra[0]);
	auto eps2 = fill_to_limit(b, t, targets2, "second round: ");
	int spare2 = b.epoll_create1(EPOLL_CLOEXEC);
	check(t, "second round one more", ctl(b, spare2, EPOLL_CTL_ADD, extra[1], EPOLLOUT, D1), ENOSPC);
	for (int ep : eps2)
		b.close(ep);
	b.close(spare2);
	for (size_t i = 1; i < targets.size(); i++)
		b.close(targets[i]);
	b.close(extra[0]);
	b.close(extra[1]);
	int fds_after = count_fds();
	t.step("fd count back to the start", fds_before == fds_after);
	EXPECT_EQ(fds_before, fds_after);
}

} // namespace

// Exactly L watches per user across instances, L+1 is ENOSPC; MOD at the
// limit works; DEL, closing an instance and closing a watched file each
// free what they held; nothing leaks.
TEST(enospc, max_user_watches_is_exact)
{
	limit_guard guard(LIMIT);
	if (!guard.skip.empty())
		GTEST_SKIP() << guard.skip;
	ASSERT_TRUE(guard.ok());
	uid_t u_native = fresh_uid(40000 + getpid() % 1000, (uid_t)-1);
	uid_t u_uepoll = fresh_uid(u_native + 1, u_native);
	uepoll::test::differential(
		[&](backend &b, trace &t) { scenario_limit(b, t, b.is_native() ? u_native : u_uepoll); });
}

// Deviation 5 (docs/deviations.md): the kernel counts watches per real uid,
// uepoll per process.  Two processes of one uid: the first takes all L
// watches; the kernel then refuses the second one's ADD, uepoll allows it.
TEST(enospc, deviation_watches_counted_per_process)
{
	limit_guard guard(LIMIT);
	if (!guard.skip.empty())
		GTEST_SKIP() << guard.skip;
	ASSERT_TRUE(guard.ok());
	auto run = [&](backend &b, uid_t uid) -> long {
		// Returns the second process's ADD result: 0, or -errno.
		int ready[2], done[2], res[2];
		EXPECT_EQ(pipe2(ready, O_CLOEXEC), 0);
		EXPECT_EQ(pipe2(done, O_CLOEXEC), 0);
		EXPECT_EQ(pipe2(res, O_CLOEXEC), 0);
		fflush(nullptr);
		pid_t a = fork();
		if (a == 0) {
			become(uid);
			trace t;
			auto targets = make_targets(b, t);
			auto eps = fill_to_limit(b, t, targets, "");
			char c = ::testing::Test::HasFailure() ? 'F' : 'R';
			(void)!::write(ready[1], &c, 1);
			(void)!::read(done[0], &c, 1);
			_exit(0);
		}
		char c = 0;
		EXPECT_EQ(::read(ready[0], &c, 1), 1);
		EXPECT_EQ(c, 'R') << "the first process could not fill the limit";
		pid_t s = fork();
		if (s == 0) {
			become(uid);
			int ep = b.epoll_create1(EPOLL_CLOEXEC);
			int efd = b.eventfd(0, EFD_CLOEXEC);
			long r = ctl(b, ep, EPOLL_CTL_ADD, efd, EPOLLIN, D1) == 0 ? 0 : -errno;
			if (ep < 0 || efd < 0)
				r = -1000;
			(void)!::write(res[1], &r, sizeof r);
			_exit(0);
		}
		long r = -2000;
		EXPECT_EQ(::read(res[0], &r, sizeof r), (ssize_t)sizeof r);
		(void)!::write(done[1], "x", 1);
		int st = 0;
		waitpid(s, &st, 0);
		waitpid(a, &st, 0);
		for (int *p : {ready, done, res}) {
			::close(p[0]);
			::close(p[1]);
		}
		return r;
	};
	uid_t u_native = fresh_uid(41000 + getpid() % 1000, (uid_t)-1);
	long nat = run(uepoll::test::native_backend(), u_native);
	EXPECT_EQ(nat, -ENOSPC) << "native: the kernel counts per uid";
	backend &ue = uepoll::test::uepoll_backend();
	if (!ue.is_native()) {
		uid_t u_uepoll = fresh_uid(u_native + 1, u_native);
		long r = run(ue, u_uepoll);
		EXPECT_EQ(r, 0) << "uepoll: counted per process, the second process has its own budget";
	}
}
