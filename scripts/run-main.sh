#!/usr/bin/env bash
# run-main.sh - the main job in one command: dependencies, build, nginx on
# native epoll and on uepoll.
#
# Usage: scripts/run-main.sh [ARGS...]
#
#   1. scripts/setup-deps.sh (installs only what is missing; nothing to do,
#      no network, on a machine that has everything);
#   2. configures and builds libuepoll.so in build/ (RelWithDebInfo);
#   3. integration/nginx/run-main.sh ARGS... with that library.
#
# ARGS go to integration/nginx/run-main.sh unchanged, e.g. --quick (2 s of
# wrk per run) or a library path that replaces the one just built. Its exit
# status is this script's: 0 all passed, 1 something failed.
#
# Environment:
#   UEPOLL_BUILD_DIR   build directory (default: build, in the source tree)
#   UEPOLL_BUILD_TYPE  CMAKE_BUILD_TYPE (default: RelWithDebInfo)
#   UEPOLL_JOBS        parallel build jobs (default: 2)
#   UEPOLL_SKIP_DEPS=1 do not run scripts/setup-deps.sh
# and those of integration/nginx/run-main.sh (WRK_SECONDS, KEEP_TMP, ...).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BUILD_DIR=${UEPOLL_BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
BUILD_TYPE=${UEPOLL_BUILD_TYPE:-RelWithDebInfo}
JOBS=${UEPOLL_JOBS:-2}

log() { printf '[run-main] %s\n' "$*"; }

if [[ ${UEPOLL_SKIP_DEPS:-0} != 1 ]]; then
    log "dependencies"
    sh scripts/setup-deps.sh
fi

log "configure and build $BUILD_DIR ($BUILD_TYPE, -j$JOBS)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
# Only the library: the nginx job needs nothing else.
cmake --build "$BUILD_DIR" -j"$JOBS" --target uepoll

LIB="$BUILD_DIR/shim/libuepoll.so"
[[ -f $LIB ]] || { echo "run-main: $LIB was not built" >&2; exit 1; }

# The library goes in through UEPOLL_LIB, so that a library argument in ARGS
# still wins.
log "integration/nginx/run-main.sh $* (UEPOLL_LIB=$LIB)"
UEPOLL_LIB=$LIB exec bash integration/nginx/run-main.sh "$@"
