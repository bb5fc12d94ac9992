// integration/fuzz/selftest.hpp - `uepoll-fuzz --self-test`.
#pragma once

#include <string>

#include "integration/fuzz/report.hpp"
#include "tests/backend.hpp"

namespace uepoll::fuzz {

// A deliberately wrong wrapper of native epoll, by name
// ("oneshot_never_disarms", "skips_every_other_event", "ghost_after_del"),
// or nullptr.
test::backend *injected_bug(const std::string &name);

// Runs native epoll against deliberately wrong backends; true when every
// injected bug was detected and minimized and native epoll passed.
bool self_test(totals &tot);

} // namespace uepoll::fuzz
