// integration/fuzz/minimize.cpp - ddmin (Zeller and Hildebrandt) on ops.
#include "integration/fuzz/minimize.hpp"

#include <algorithm>

namespace uepoll::fuzz {

namespace {

struct budget {
	const std::function<bool(const program &)> &fails;
	int left;
	int used = 0;
	bool test(const program &p)
	{
		if (left <= 0)
			return false;
		left--;
		used++;
		return fails(p);
	}
};

program without(const program &p, size_t from, size_t to)
{
	program q(p.begin(), p.begin() + static_cast<long>(from));
	q.insert(q.end(), p.begin() + static_cast<long>(to), p.end());
	return q;
}

// Removes chunks of 1/n of the program while the failure stays, refining n.
program ddmin(program p, budget &b)
{
	size_t n = 2;
	while (p.size() >= 2 && b.left > 0) {
		size_t chunk = (p.size() + n - 1) / n;
		bool reduced = false;
		for (size_t start = 0; start < p.size(); start += chunk) {
			program q = without(p, start, std::min(p.size(), start + chunk));
			if (b.test(q)) {
				p = std::move(q);
				n = std::max<size_t>(n - 1, 2);
				reduced = true;
				break;
			}
		}
		if (!reduced) {
			if (n >= p.size())
				break;
			n = std::min(p.size(), n * 2);
		}
	}
	return p;
}

// Tries each op alone, from the end, until none can go.
program one_by_one(program p, budget &b)
{
	bool changed = true;
	while (changed && b.left > 0) {
		changed = false;
		for (size_t i = p.size(); i-- > 0 && b.left > 0;) {
			program q = without(p, i, i + 1);
			if (b.test(q)) {
				p = std::move(q);
				changed = true;
			}
		}
	}
	return p;
}

} // namespace

program minimize(const program &p, const std::function<bool(const program &)> &fails, int max_tests,
		 minimize_stats *stats)
{
	budget b{fails, max_tests};
	program m = one_by_one(ddmin(p, b), b);
	if (stats) {
		stats->tests = b.used;
		stats->exhausted = b.left <= 0;
	}
	return m;
}

} // namespace uepoll::fuzz
