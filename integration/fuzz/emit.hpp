// integration/fuzz/emit.hpp - a recorded run as a GoogleTest DIFF_TEST.
#pragma once

#include <string>
#include <vector>

#include "integration/fuzz/world.hpp"

namespace uepoll::fuzz {

// The helpers the emitted statements use: the top of a DIFF_TEST body.
std::string gtest_preamble();
// A DIFF_TEST(fuzz, name) whose body repeats the run that recorded `lines`
// with code emission on; `header` becomes its first comment line.
std::string gtest_case(const std::string &name, const std::string &header, const std::vector<line> &lines);

} // namespace uepoll::fuzz
