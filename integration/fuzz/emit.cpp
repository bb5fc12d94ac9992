// integration/fuzz/emit.cpp - the two sides, and a minimized program as a
// ready-to-paste DIFF_TEST (tests/trace.hpp).
//
// The statements come from the executor itself (each handler writes the
// C++ of what it just did, see world::code), so the test repeats exactly
// the calls of the run; the helpers they call are the executor's own
// (integration/fuzz/steps.hpp), which the test #includes.
#include "integration/fuzz/emit.hpp"

namespace uepoll::fuzz {

side native_side() { return {&test::native_backend(), "native"}; }
side uepoll_side() { return {&test::uepoll_backend(), "uepoll"}; }

// The top of a DIFF_TEST body: the slots, the buffers, and the helpers of
// steps.hpp (the executor's own) by their short names.
std::string gtest_preamble()
{
	return R"(	using namespace uepoll::fuzz;
	int s[16];
	std::fill(std::begin(s), std::end(s), -1);
	[[maybe_unused]] epoll_event ev{}, out[64];
	[[maybe_unused]] timespec ts0{};
	[[maybe_unused]] static char buf[1 << 17];
	[[maybe_unused]] auto keep = [&](int i, long r) {
		if (r >= 0)
			s[i] = static_cast<int>(r);
	};
)";
}

std::string gtest_case(const std::string &name, const std::string &header, const std::vector<line> &lines)
{
	std::string s;
	s += "// " + header + "\n";
	s += "// Needs: <algorithm> \"integration/fuzz/steps.hpp\" \"tests/trace.hpp\"\n";
	std::string code;
	for (auto &l : lines)
		if (l.text.empty() && l.note.rfind("code:", 0) == 0)
			code += '\t' + l.note.substr(5) + "\n"; // '\t': GCC PR 105651 (describe.cpp)
	s += "DIFF_TEST(fuzz, " + name + ")\n{\n" + gtest_preamble() + "\n" + code + "}\n";
	return s;
}

} // namespace uepoll::fuzz
