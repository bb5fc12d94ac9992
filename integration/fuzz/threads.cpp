// integration/fuzz/threads.cpp - waiters against a mutator, property checks.
//
// Retirement is published with a sequence number: the mutator, after the
// call that removed an item returned, stores the item's data with seq+1 and
// then bumps seq.  A waiter reads seq before it calls epoll_wait; data
// retired at or before that value must not come back from that call.
#include "integration/fuzz/threads.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace uepoll::fuzz {

namespace {

constexpr unsigned CHILD_SECONDS = 30;
constexpr size_t REGION = 4u << 20;
constexpr int MAX_REPORTED = 20; // violations kept per round

std::string hex(uint64_t v)
{
	char b[24];
	snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
	return b;
}

struct shared_state {
	std::atomic<uint64_t> seq{0};
	std::atomic<bool> done{false};
	std::atomic<long> waits{0};
	// Per waiter thread: bumped before and after each epoll_wait (odd:
	// inside one), for grace().
	static constexpr int MAX_WAITERS = 16;
	std::atomic<uint64_t> wait_calls[MAX_WAITERS] = {};
	std::mutex mu; // retired, violations
	std::unordered_map<uint64_t, uint64_t> retired;
	std::vector<std::string> violations;

	void retire(uint64_t data)
	{
		std::lock_guard g(mu);
		uint64_t s = seq.load() + 1;
		retired.emplace(data, s);
		seq.store(s, std::memory_order_release);
	}
	// Returns when every wait that was in progress at the call has
	// returned: the kernel releases a closed epoll instance only when the
	// last call holding its file (an epoll_wait blocked on it) is over, and
	// until then its items and the items watching it live on.  Bounded
	// (the waits time out within 4 ms).
	void grace()
	{
		uint64_t seen[MAX_WAITERS];
		for (int i = 0; i < MAX_WAITERS; i++)
			seen[i] = wait_calls[i].load(std::memory_order_acquire);
		for (int i = 0; i < MAX_WAITERS; i++)
			for (int spins = 0; (seen[i] & 1) && wait_calls[i].load(std::memory_order_acquire) == seen[i] &&
					    spins < 100000;
			     spins++)
				usleep(50);
	}
	void violation(const std::string &v)
	{
		std::lock_guard g(mu);
		if (violations.size() < MAX_REPORTED)
			violations.push_back(v);
	}
	// Reported at a wait that started when seq was `start`: fine?
	void check(uint64_t data, uint32_t events, uint64_t start, int ep)
	{
		if (!data_valid(data)) {
			violation("wait on fd " + std::to_string(ep) + " reported data " + hex(data) + " that was never registered");
			return;
		}
		std::lock_guard g(mu);
		auto it = retired.find(data);
		if (it != retired.end() && it->second <= start && violations.size() < MAX_REPORTED)
			violations.push_back("wait on fd " + std::to_string(ep) + " started at seq " + std::to_string(start) +
					     " reported data " + hex(data) + " (events " + hex(events) +
					     ") retired at seq " + std::to_string(it->second) + " (op #" +
					     std::to_string(data_id(data)) + ")");
	}
};

void waiter(const side &s, shared_state &st, std::vector<int> epfds, uint64_t seed, int index)
{
	std::atomic<uint64_t> &calls = st.wait_calls[index];
	uint64_t r = seed;
	epoll_event evs[32];
	while (!st.done.load(std::memory_order_acquire)) {
		r = mix64(r);
		int ep = epfds[r % epfds.size()];
		int max = 1 + static_cast<int>((r >> 16) % 32);
		int timeout = static_cast<int>((r >> 32) % 5); // 0..4 ms: mostly blocked
		calls.fetch_add(1, std::memory_order_seq_cst);
		uint64_t start = st.seq.load(std::memory_order_acquire);
		int n = s.b->epoll_wait(ep, evs, max, timeout);
		calls.fetch_add(1, std::memory_order_release);
		st.waits.fetch_add(1, std::memory_order_relaxed);
		for (int i = 0; i < n; i++)
			st.check(evs[i].data.u64, evs[i].events, start, ep);
	}
}

constexpr uint32_t POLL_BITS = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM |
			       EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP;

// After the threads stopped: every instance's level-triggered items that
// are ready must be reported, and nothing else but live items.
void final_check(world &w, shared_state &st)
{
	for (auto &[epfd, epf] : w.fds) {
		if (w.files[epf].kind != fkind::epoll)
			continue;
		static epoll_event evs[1024];
		int n = w.s.b->epoll_wait(epfd, evs, 1024, 0);
		std::vector<uint64_t> got;
		for (int i = 0; i < n; i++) {
			got.push_back(evs[i].data.u64);
			bool live = false;
			for (auto &it : w.items)
				live |= it.ep == epf && it.data == evs[i].data.u64;
			if (!live)
				st.violation("final wait on fd " + std::to_string(epfd) + " reported data " +
					     hex(evs[i].data.u64) + " that is not registered there");
		}
		for (auto &it : w.items) {
			if (it.ep != epf || (it.events & (EPOLLET | EPOLLONESHOT)) || w.files[it.file].kind == fkind::epoll)
				continue;
			int fd = w.fd_of_file(it.file);
			pollfd p{fd, static_cast<short>(it.events & POLL_BITS), 0};
			if (fd < 0 || ::poll(&p, 1, 0) != 1)
				continue;
			uint32_t want = p.revents & (it.events | EPOLLERR | EPOLLHUP);
			if (want && std::find(got.begin(), got.end(), it.data) == got.end())
				st.violation("final wait on fd " + std::to_string(epfd) + " lost the event of fd " +
					     std::to_string(it.fd) + " (data " + hex(it.data) + ", mask " +
					     mask_str(it.events) + ", ready " + hex(want) + ")");
		}
	}
}

// Lets the waiters get into epoll_wait between the mutator's ops, so that
// ctl and close land while they are blocked, not only between their calls.
void pace(uint64_t r)
{
	if (r % 4 == 0)
		usleep(static_cast<useconds_t>(20 + (r >> 8) % 400));
	else
		sched_yield();
}

// The record goes back through a shared mapping of a memfd, which a child
// that execs itself under LD_PRELOAD (--preload) maps again; its number
// sits above the programs' numbers, as runner.cpp's own fds do.
constexpr int REGION_FD_MIN = 950;
int region_fd = -1;

char *map_region(int fd)
{
	void *p = mmap(nullptr, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		abort();
	return static_cast<char *>(p);
}

char *shared_region()
{
	static char *r;
	if (!r) {
		int fd = memfd_create("uepoll-fuzz-threads", MFD_CLOEXEC);
		region_fd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, REGION_FD_MIN);
		close(fd);
		if (region_fd < 0 || ftruncate(region_fd, REGION) != 0)
			abort();
		r = map_region(region_fd);
	}
	return r;
}

void write_lines(char *region, const std::vector<std::string> &lines)
{
	std::string txt;
	for (auto &l : lines)
		txt += l + "\n";
	txt.resize(std::min(txt.size(), REGION - 1));
	memcpy(region, txt.c_str(), txt.size() + 1);
}

// In the child of a --preload side: becomes a fresh uepoll-fuzz under
// LD_PRELOAD that runs the round on libc, which the shim answers
// (exec_threads()).  Without it the child would run native epoll.
[[noreturn]] void exec_preloaded(uint64_t seed, int setup_ops, int mutator_ops, int threads, const char *lib)
{
	int rfd = fcntl(region_fd, F_DUPFD, REGION_FD_MIN); // without FD_CLOEXEC
	if (rfd < 0)
		_exit(125);
	std::string a[] = {std::to_string(seed), std::to_string(setup_ops), std::to_string(mutator_ops),
			   std::to_string(threads), std::to_string(rfd)};
	const char *argv[] = {"uepoll-fuzz", "--exec-threads", a[0].c_str(), a[1].c_str(), a[2].c_str(),
			      a[3].c_str(), a[4].c_str(), nullptr};
	setenv("LD_PRELOAD", lib, 1);
	execv("/proc/self/exe", const_cast<char *const *>(argv));
	_exit(126);
}

// The body of the child: returns the lines to send back.
std::vector<std::string> child(const program &setup, const program &mut, int threads, const side &s, uint64_t seed)
{
	world w(s, false);
	for (auto &o : setup)
		w.run(o);
	shared_state st;
	w.on_retire = [&st](uint64_t d) { st.retire(d); };
	w.on_epoll_release = [&st] { st.grace(); };
	std::vector<int> epfds;
	for (auto &[fd, f] : w.fds)
		if (w.files[f].kind == fkind::epoll)
			epfds.push_back(fd);
	std::vector<std::thread> ws;
	if (!epfds.empty())
		for (int i = 1; i < threads && i <= shared_state::MAX_WAITERS; i++)
			ws.emplace_back(waiter, std::cref(s), std::ref(st), epfds, mix64(seed + i), i - 1);
	uint64_t r = mix64(seed ^ 0x70616365ULL);
	for (auto &o : mut) {
		w.run(o);
		pace(r = mix64(r));
	}
	st.done.store(true, std::memory_order_release);
	for (auto &t : ws)
		t.join();
	final_check(w, st);
	std::vector<std::string> out{"ops " + std::to_string(w.ops_run), "waits " + std::to_string(st.waits.load())};
	for (auto &v : st.violations)
		out.push_back("violation " + v);
	return out;
}

} // namespace

mt_result run_mt(uint64_t seed, int setup_ops, int mutator_ops, int threads, const side &s)
{
	mt_result res;
	res.setup = generate(seed, setup_ops);
	res.mutator = generate_mutator(seed, mutator_ops, static_cast<uint32_t>(setup_ops));
	char *region = shared_region();
	region[0] = 0;
	fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		alarm(CHILD_SECONDS); // survives the exec
		if (s.preload)
			exec_preloaded(seed, setup_ops, mutator_ops, threads, s.preload);
		write_lines(region, child(res.setup, res.mutator, threads, s, seed));
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	std::string txt(region);
	size_t start = 0;
	while (start < txt.size()) {
		size_t nl = txt.find('\n', start);
		std::string l = txt.substr(start, nl - start);
		if (l.rfind("ops ", 0) == 0)
			res.ops = atol(l.c_str() + 4);
		else if (l.rfind("waits ", 0) == 0)
			res.waits = atol(l.c_str() + 6);
		else if (l.rfind("violation ", 0) == 0)
			res.violations.push_back(l.substr(10));
		start = nl + 1;
	}
	if (WIFSIGNALED(status))
		res.violations.push_back(std::string("the run died: ") + strsignal(WTERMSIG(status)) +
					 (WTERMSIG(status) == SIGALRM ? " (hung)" : ""));
	else if (WEXITSTATUS(status) != 0)
		res.violations.push_back("the run exited with " + std::to_string(WEXITSTATUS(status)));
	return res;
}

int exec_threads(char **argv)
{
	uint64_t seed = strtoull(argv[0], nullptr, 10);
	int setup_ops = atoi(argv[1]), mutator_ops = atoi(argv[2]), threads = atoi(argv[3]), fd = atoi(argv[4]);
	char *region = map_region(fd);
	close(fd);
	program setup = generate(seed, setup_ops);
	program mut = generate_mutator(seed, mutator_ops, static_cast<uint32_t>(setup_ops));
	signal(SIGPIPE, SIG_IGN);
	write_lines(region, child(setup, mut, threads, native_side(), seed));
	return 0;
}

} // namespace uepoll::fuzz
