#!/usr/bin/env bash
# test-all.sh - every test of uepoll, in one command (what CI runs).
#
# Usage: scripts/test-all.sh
#
# Phases, in order:
#   deps        scripts/setup-deps.sh (installs only what is missing)
#   build       configure and build everything in build/ (RelWithDebInfo)
#   test        ctest in build/: the unit suite (tests/), the shim tests
#               (integration/shim), fuzz_short, fuzz_self_test, the replays
#               and fuzz_random_seed (a new seed each run, printed first;
#               UEPOLL_FUZZ_SEED=S repeats seed S)
#   release-build  build-release/: everything (library, launcher, tests,
#               fuzzer, benchmarks) with -DCMAKE_BUILD_TYPE=Release, -O3,
#               as a packager builds it: GCC warns differently at -O3, and
#               -Werror makes each warning a broken build
#   release-test   ctest in build-release/: all of it but fuzz_random_seed
#               (one random seed per run is enough; build/ runs it)
#   asan-build  build-asan/: -DUEPOLL_SANITIZE=address (ASan + UBSan),
#               the unit suite and the fuzzer
#   asan-test   the unit suite, fuzz_short, fuzz_self_test and the replays
#               under ASan + UBSan (not fuzz_random_seed, nor
#               fuzz_short_preloaded: nothing is preloaded under a sanitizer)
#   tsan-build  build-tsan/: -DUEPOLL_SANITIZE=thread, the unit suite only
#   tsan-test   the unit suite under TSan
# A failed phase does not stop the later ones, except that the tests of a
# build that failed are not run. At the end a summary prints each phase with
# its time, and the exit status is 1 if any phase failed, else 0.
#
# The sanitizer runs stop at the first report (halt_on_error=1) and fail the
# test that made it; every report found in their output (also those of
# forked children) is printed again at the end of the phase, and makes the
# phase fail even if the test itself passed. The full output of each ctest
# run is kept in <build dir>/ctest-all.log.
#
# Environment (defaults: everything runs):
#   UEPOLL_SKIP_DEPS=1        no setup-deps.sh
#   UEPOLL_SKIP_SANITIZERS=1  neither the ASan nor the TSan phases
#   UEPOLL_SKIP_ASAN=1        no ASan/UBSan phases
#   UEPOLL_SKIP_TSAN=1        no TSan phases
#   UEPOLL_SKIP_RELEASE=1     no Release phases
#   UEPOLL_FUZZ_SEED=S        fuzz_random_seed fuzzes seed S instead of a
#                             random one (to repeat a failed run)
#   UEPOLL_ASAN_FUZZ=0        ASan phases without the fuzzer
#   UEPOLL_SKIP_TESTS=1       build/ is built but its ctest is not run
#   UEPOLL_FAIL_FAST=1        stop at the first phase that fails
#   UEPOLL_JOBS=N             parallel build jobs (default 2)
#   UEPOLL_CTEST_JOBS=N       parallel tests in build/ (default 2)
#   UEPOLL_SAN_CTEST_JOBS=N   parallel tests in the sanitizer runs (default 2)
#   UEPOLL_BUILD_TYPE=T       build type of build/ (default RelWithDebInfo)
#   UEPOLL_SAN_CXX_FLAGS=F    optimisation flags of the sanitizer builds
#                             (default "-O1 -g": asserts on, good stacks)
#   UEPOLL_SAN_TBBMALLOC=1    keep tbbmalloc in the sanitizer builds (by
#                             default scripts/sanitizers/system_malloc.c
#                             routes it to malloc, so that ASan and TSan
#                             see uepoll's allocations)
#   UEPOLL_CTEST_ARGS=ARGS    extra ctest arguments for every ctest run,
#                             e.g. "-R ^lt\." or "-E ^signals\."
#   ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS: appended to this script's
#                             settings (later settings win)

# The phase functions are called through phase(); shellcheck cannot see it.
# shellcheck disable=SC2317
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

JOBS=${UEPOLL_JOBS:-2}
CTEST_JOBS=${UEPOLL_CTEST_JOBS:-2}
SAN_CTEST_JOBS=${UEPOLL_SAN_CTEST_JOBS:-2}
BUILD_TYPE=${UEPOLL_BUILD_TYPE:-RelWithDebInfo}
SAN_CXX_FLAGS=${UEPOLL_SAN_CXX_FLAGS:--O1 -g}
SKIP_SAN=${UEPOLL_SKIP_SANITIZERS:-0}
SKIP_ASAN=${UEPOLL_SKIP_ASAN:-$SKIP_SAN}
SKIP_TSAN=${UEPOLL_SKIP_TSAN:-$SKIP_SAN}
SKIP_RELEASE=${UEPOLL_SKIP_RELEASE:-0}
SAN_TBBMALLOC=${UEPOLL_SAN_TBBMALLOC:-0}
# The fuzzer under ASan too (about 20 s to build, 15 s to run); not under
# TSan, where fuzz_short alone takes minutes.
if [[ ${UEPOLL_ASAN_FUZZ:-1} == 1 ]]; then
    ASAN_FUZZ_TARGET=(uepoll-fuzz) ASAN_FUZZ_DIR=integration/fuzz
else
    ASAN_FUZZ_TARGET=() ASAN_FUZZ_DIR=""
fi
# shellcheck disable=SC2206 # word splitting wanted
CTEST_EXTRA=(${UEPOLL_CTEST_ARGS:-})
CTEST_LOCAL=() # more ctest arguments of one run (see run_ctest)

# Sanitizer settings. halt_on_error: the first report ends the process, so
# that it cannot be lost among later ones and fails the test.
SAN_DIR="$ROOT/scripts/sanitizers"
ASAN_OPTS="halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:print_summary=1"
UBSAN_OPTS="halt_on_error=1:print_stacktrace=1:print_summary=1"
# die_after_fork=0: the unit suite forks multi-threaded processes whose
# children go on to start threads (uepoll's helper thread in the child of
# uepoll::api::fork, the stress tests' workers). TSan's default kills such a
# child ("starting new threads after multi-threaded fork is not
# supported"); that is a limit of TSan, not a bug, so let them run (TSan
# may then miss races in those children, it does not invent any).
TSAN_OPTS="halt_on_error=1:second_deadlock_stack=1:history_size=4:die_after_fork=0:print_summary=1"
for kind in asan ubsan tsan lsan; do
    supp="$SAN_DIR/$kind.supp"
    # A suppressions file counts only if it has a line that is not a comment.
    if [[ -f $supp ]] && grep -qv '^[[:space:]]*\(#\|$\)' "$supp"; then
        case $kind in
            asan) ASAN_OPTS+=":suppressions=$supp" ;;
            ubsan) UBSAN_OPTS+=":suppressions=$supp" ;;
            tsan) TSAN_OPTS+=":suppressions=$supp" ;;
            lsan) export LSAN_OPTIONS="suppressions=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" ;;
        esac
    fi
done
ASAN_OPTS+=${ASAN_OPTIONS:+:$ASAN_OPTIONS}
UBSAN_OPTS+=${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
TSAN_OPTS+=${TSAN_OPTIONS:+:$TSAN_OPTIONS}

# What marks a sanitizer report in a test's output.
SAN_REPORT_RE='^(==[0-9]+==ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer|ThreadSanitizer: (reported|unexpected|CHECK)|.*: runtime error: |SUMMARY: (Address|Leak|UndefinedBehavior|Thread)Sanitizer|==[0-9]+==.*Sanitizer.*(CHECK failed|DEADLYSIGNAL|fatal))'

# ------------------------------------------------------------------ phases

PHASES=() TIMES=() RESULTS=()
FAILED=0
T0=$(date +%s.%N)

log() { printf '\n[test-all] %s\n' "$*"; }

record() { # NAME SECONDS RESULT
    PHASES+=("$1") TIMES+=("$2") RESULTS+=("$3")
}

# phase NAME FUNCTION ARGS...: runs FUNCTION and records its time and result.
phase() {
    local name=$1 start end secs
    shift
    log "==== $name"
    start=$(date +%s.%N)
    if "$@"; then
        end=$(date +%s.%N)
        secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
        record "$name" "$secs" ok
        log "---- $name: ok (${secs} s)"
        return 0
    fi
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    record "$name" "$secs" FAIL
    log "---- $name: FAILED (${secs} s)"
    FAILED=1
    if [[ ${UEPOLL_FAIL_FAST:-0} == 1 ]]; then
        summary
        exit 1
    fi
    return 1
}

skip() { # NAME WHY
    record "$1" - "skipped ($2)"
    log "==== $1: skipped ($2)"
}

fmt_time() { # SECONDS -> "1m23.4s"
    awk -v s="$1" 'BEGIN { if (s == "-") { print "-"; exit }
        m = int(s / 60); printf "%dm%04.1fs", m, s - 60 * m }'
}

summary() {
    local i total
    total=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo
    echo "==================== test-all summary ===================="
    printf '%-14s %10s  %s\n' phase time result
    for i in "${!PHASES[@]}"; do
        printf '%-14s %10s  %s\n' "${PHASES[$i]}" "$(fmt_time "${TIMES[$i]}")" "${RESULTS[$i]}"
    done
    printf '%-14s %10s\n' total "$(fmt_time "$total")"
    local pass=0 fail=0
    for i in "${!RESULTS[@]}"; do
        case ${RESULTS[$i]} in
            ok) pass=$((pass + 1)) ;;
            FAIL) fail=$((fail + 1)) ;;
        esac
    done
    echo "phases: $pass passed, $fail failed"
    echo "=========================================================="
}

# ------------------------------------------------------------ the work

do_deps() {
    sh scripts/setup-deps.sh
}

# configure DIR ARGS...
configure() {
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@"
}

do_build() {
    configure build -DCMAKE_BUILD_TYPE="$BUILD_TYPE" &&
        cmake --build build -j"$JOBS"
}

do_release_build() {
    configure build-release -DCMAKE_BUILD_TYPE=Release &&
        cmake --build build-release -j"$JOBS"
}

# san_build DIR KIND TARGET...: TARGETs built with -DUEPOLL_SANITIZE=KIND.
# Unless UEPOLL_SAN_TBBMALLOC=1, scripts/sanitizers/system_malloc.c is
# linked into the executables so that uepoll's tbbmalloc allocations go
# through the sanitizer's malloc (see that file for why).
san_build() {
    local dir=$1 kind=$2 ldflags="" target
    local -a targets=()
    shift 2
    for target in "$@"; do targets+=(--target "$target"); done
    mkdir -p "$dir" || return 1
    if [[ $SAN_TBBMALLOC != 1 ]]; then
        cc -O1 -g -fPIC -c scripts/sanitizers/system_malloc.c \
            -o "$ROOT/$dir/system_malloc.o" || return 1
        ldflags="$ROOT/$dir/system_malloc.o"
    fi
    configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_FLAGS_RELWITHDEBINFO="$SAN_CXX_FLAGS" \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$SAN_CXX_FLAGS" \
        -DCMAKE_EXE_LINKER_FLAGS="$ldflags" \
        -DUEPOLL_SANITIZE="$kind" &&
        cmake --build "$dir" -j"$JOBS" "${targets[@]}"
}

# scan_reports LOG: prints every sanitizer report in LOG (with the lines
# that follow it, its stack); 1 if there is one.
scan_reports() {
    local log=$1 n
    # ctest -V prefixes each line of a test's output with "NUM: ".
    n=$(sed -E 's/^[0-9]+: //' "$log" | grep -cE "$SAN_REPORT_RE")
    ((n == 0)) && return 0
    echo "[test-all] $n sanitizer report lines in $log:" >&2
    sed -E 's/^[0-9]+: //' "$log" | grep -E "^SUMMARY: [A-Za-z]+Sanitizer" |
        sort | uniq -c | sort -rn >&2
    echo "[test-all] the reports (60 lines from each start; all in $log):" >&2
    sed -E 's/^[0-9]+: //' "$log" |
        grep -E -A60 "$SAN_REPORT_RE" | head -n 800 >&2
    return 1
}

# run_ctest DIR JOBS ENV...: ctest in DIR with the environment ENV
# (VAR=VALUE words). ctest runs with -V so that the whole output of every
# test lands in DIR/ctest-all.log (a sanitizer report in a test that passes
# anyway, or in a forked child, is found there too); the terminal gets
# ctest's progress and summary lines, then the output of each test that
# failed (as --output-on-failure would show it, at most 400 lines each).
# A caller may set the array CTEST_LOCAL (local to it) to more ctest
# arguments.
run_ctest() {
    local dir=$1 jobs=$2 log status n
    shift 2
    log="$dir/ctest-all.log"
    env "$@" ctest --test-dir "$dir" -j"$jobs" -V --no-tests=error \
        "${CTEST_LOCAL[@]}" "${CTEST_EXTRA[@]}" </dev/null 2>&1 |
        tee "$log" |
        grep --line-buffered -vE '^([0-9]+: |test [0-9]+$| *Start +[0-9]+: |UpdateCTestConfiguration|Constructing a list|Done constructing|Updating test list|Added [0-9]+ tests|Checking test dependency|$)'
    status=${PIPESTATUS[0]}
    # ctest marks failures and skips alike with ***: a disabled test (the
    # 'pending' label) or a skipped one is not a failure.
    # shellcheck disable=SC2013 # one test number per line
    for n in $(grep -vE '\*\*\*(Not Run \(Disabled\)|Skipped)' "$log" |
        sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#([0-9]+): .*\*\*\*.*/\1/p'); do
        echo
        echo "[test-all] ---- output of failed test #$n:"
        sed -nE "s/^$n: //p" "$log" | head -n 400
    done
    return "$status"
}

do_test() {
    run_ctest build "$CTEST_JOBS"
}

# fuzz_random_seed (label fuzz_random) runs once per test command, in build/.
do_release_test() {
    local -a CTEST_LOCAL=(-LE fuzz_random)
    run_ctest build-release "$CTEST_JOBS"
}

# san_test DIR SUBDIRS ENV...: the tests defined in each of the
# space-separated SUBDIRS of DIR (tests: the unit suite; integration/fuzz:
# fuzz_short and fuzz_self_test), with the environment ENV (VAR=VALUE
# words); fails on a failed test or on any sanitizer report.
san_test() {
    local dir=$1 sub status=0
    # Not fuzz_random_seed: its cap (2 minutes) would bound its time under
    # a sanitizer, but not its share of the run; build/ runs it.
    local -a CTEST_LOCAL=(-LE fuzz_random)
    local -a subs
    read -ra subs <<<"$2"
    shift 2
    echo "[test-all] environment: $*"
    for sub in "${subs[@]}"; do
        run_ctest "$dir/$sub" "$SAN_CTEST_JOBS" "$@" || status=1
        scan_reports "$dir/$sub/ctest-all.log" || status=1
    done
    return "$status"
}

# ------------------------------------------------------------------- main

log "uepoll test-all in $ROOT: $(nproc) cpus, -j$JOBS, ctest -j$CTEST_JOBS (sanitizers -j$SAN_CTEST_JOBS)"

if [[ ${UEPOLL_SKIP_DEPS:-0} == 1 ]]; then
    skip deps UEPOLL_SKIP_DEPS=1
else
    phase deps do_deps
fi

if phase build do_build; then
    if [[ ${UEPOLL_SKIP_TESTS:-0} == 1 ]]; then
        skip test UEPOLL_SKIP_TESTS=1
    else
        phase test do_test
    fi
else
    skip test "build failed"
fi

if [[ $SKIP_RELEASE == 1 ]]; then
    skip release UEPOLL_SKIP_RELEASE=1
elif phase release-build do_release_build; then
    phase release-test do_release_test
else
    skip release-test "release-build failed"
fi

if [[ $SKIP_ASAN == 1 ]]; then
    skip asan UEPOLL_SKIP_ASAN/UEPOLL_SKIP_SANITIZERS
elif phase asan-build san_build build-asan address uepoll_tests "${ASAN_FUZZ_TARGET[@]}"; then
    phase asan-test san_test build-asan "tests ${ASAN_FUZZ_DIR}" \
        ASAN_OPTIONS="$ASAN_OPTS" UBSAN_OPTIONS="$UBSAN_OPTS" ${LSAN_OPTIONS:+LSAN_OPTIONS="$LSAN_OPTIONS"}
else
    skip asan-test "asan-build failed"
fi

if [[ $SKIP_TSAN == 1 ]]; then
    skip tsan UEPOLL_SKIP_TSAN/UEPOLL_SKIP_SANITIZERS
elif phase tsan-build san_build build-tsan thread uepoll_tests; then
    phase tsan-test san_test build-tsan tests TSAN_OPTIONS="$TSAN_OPTS"
else
    skip tsan-test "tsan-build failed"
fi

summary
exit $FAILED
