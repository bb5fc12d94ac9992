// tests/waiters.hpp - threads blocked in epoll_wait, for the wake-one
// tests (exclusive_test.cpp, threads_test.cpp): wait until they all sleep,
// trigger one event, count who returned, end the rest with a stop eventfd.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "tests/backend.hpp"

namespace uepoll::test {

// The data of the level-triggered stop eventfd every waiter's instance watches.
constexpr uint64_t kStop = 0x5709000000000001ULL;

// True while thread tid sleeps in a syscall an epoll_wait may block in
// (the kernel's own, or the poll family uepoll blocks in).
inline bool sleeping_in_wait(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	long nr = -1;
	int ok = fscanf(f, "%ld", &nr);
	fclose(f);
	return ok == 1 && (nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == SYS_epoll_pwait2 ||
			   nr == SYS_poll || nr == SYS_ppoll);
}

// One thread per epoll fd, each blocked in a single epoll_wait.  The test
// waits until all sleep, triggers an event, counts who returned, and ends
// the rest through a level-triggered stop eventfd it added to every instance.
class waiters {
public:
	struct result {
		int n = -1;
		int err = 0;
		std::vector<uint64_t> data;
		bool got(uint64_t d) const
		{
			for (auto x : data)
				if (x == d)
					return true;
			return false;
		}
	};

	waiters(backend &b, std::vector<int> eps, int timeout_ms = 10000)
		: b_(b), tids_(eps.size()), results(eps.size())
	{
		for (size_t i = 0; i < eps.size(); i++)
			threads_.emplace_back([this, i, ep = eps[i], timeout_ms] {
				tids_[i] = gettid();
				epoll_event evs[8];
				int n = b_.epoll_wait(ep, evs, 8, timeout_ms);
				results[i].err = n < 0 ? errno : 0;
				results[i].n = n;
				for (int k = 0; k < n; k++)
					results[i].data.push_back(evs[k].data.u64);
				done_++;
			});
	}
	~waiters() { join(); }

	// Every thread asleep in its wait (bounded, so a broken backend fails instead of hanging).
	bool all_blocked(int bound_ms = 5000)
	{
		auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(bound_ms);
		while (std::chrono::steady_clock::now() < end) {
			bool all = true;
			for (auto &tid : tids_)
				if (tid == 0 || !sleeping_in_wait(tid))
					all = false;
			if (all)
				return true;
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
		}
		return false;
	}

	// Waits until at least want threads returned or bound_ms passed; how many returned.
	int returned(int want, int bound_ms)
	{
		auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(bound_ms);
		while (done_ < want && std::chrono::steady_clock::now() < end)
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
		return done_;
	}

	void join()
	{
		for (auto &th : threads_)
			if (th.joinable())
				th.join();
	}

	int count_got(uint64_t d) const
	{
		int c = 0;
		for (auto &r : results)
			c += r.got(d);
		return c;
	}

private:
	backend &b_;
	std::vector<std::atomic<pid_t>> tids_;
	std::atomic<int> done_{0};
	std::vector<std::thread> threads_;

public:
	std::vector<result> results;
};

inline int stop_all(backend &b, int stopfd)
{
	uint64_t one = 1;
	return (int)b.write(stopfd, &one, sizeof one);
}

} // namespace uepoll::test
