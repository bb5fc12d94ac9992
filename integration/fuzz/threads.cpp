// integration/fuzz/threads.cpp - waiters against a mutator, property checks.
//
// Retirement is published with a sequence number: the mutator, after the
// call that removed an item returned, stores the item's data with seq+1 and
// then bumps seq.  A waiter reads seq before it calls epoll_wait; data
// retired at or before that value must not come back from that call.
#include "integration/fuzz/threads.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
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

void waiter(const side &s, shared_state &st, std::vector<int> epfds, uint64_t seed)
{
	uint64_t r = seed;
	epoll_event evs[32];
	while (!st.done.load(std::memory_order_acquire)) {
		r = mix64(r);
		int ep = epfds[r % epfds.size()];
		int max = 1 + static_cast<int>((r >> 16) % 32);
		int timeout = static_cast<int>((r >> 32) % 5); // 0..4 ms: mostly blocked
		uint64_t start = st.seq.load(std::memory_order_acquire);
		int n = s.b->epoll_wait(ep, evs, max, timeout);
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

// The body of the child: returns the lines to send back.
std::vector<std::string> child(const program &setup, const program &mut, int threads, const side &s, uint64_t seed)
{
	world w(s, false);
	for (auto &o : setup)
		w.run(o);
	shared_state st;
	w.on_retire = [&st](uint64_t d) { st.retire(d); };
	std::vector<int> epfds;
	for (auto &[fd, f] : w.fds)
		if (w.files[f].kind == fkind::epoll)
			epfds.push_back(fd);
	std::vector<std::thread> ws;
	if (!epfds.empty())
		for (int i = 1; i < threads; i++)
			ws.emplace_back(waiter, std::cref(s), std::ref(st), epfds, mix64(seed + i));
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
	static char *region = static_cast<char *>(
		mmap(nullptr, REGION, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
	if (region == MAP_FAILED)
		abort();
	region[0] = 0;
	fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		alarm(CHILD_SECONDS);
		std::string txt;
		for (auto &l : child(res.setup, res.mutator, threads, s, seed))
			txt += l + "\n";
		txt.resize(std::min(txt.size(), REGION - 1));
		memcpy(region, txt.c_str(), txt.size() + 1);
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

} // namespace uepoll::fuzz
