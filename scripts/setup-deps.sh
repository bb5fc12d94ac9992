#!/bin/sh
# setup-deps.sh - install what uepoll needs to build and test (Debian 12).
#
# Idempotent: when every package is already installed it neither touches the
# network nor runs apt-get, so a second run is fast and works offline.
# Runs as root, or through sudo when not root and sudo exists.
#
# Usage: scripts/setup-deps.sh
set -eu

# Build: compilers, CMake and the libraries CMakeLists.txt finds (g++ brings
# the sanitizer runtimes libasan8, libubsan1 and libtsan2 that
# scripts/test-all.sh uses).  Run and test: nginx, wrk and curl for
# integration/nginx/run-main.sh (with python3 and procps' pgrep); socat and
# python3 for the shim tests and the benchmark scripts; gnuplot-nox for the
# plots of integration/bench/run-all.sh; iproute2 (ss, ip) for debugging the
# network side by hand.
# (Debian 12's nginx-light is only a transitional package for nginx.)
# libjemalloc2: the shim test shim_jemalloc_basic_modes (uepoll under
# another malloc, as redis-server runs).
PACKAGES="build-essential cmake g++ pkg-config libboost-dev libtbb-dev
libunwind-dev libgtest-dev libgmock-dev libbenchmark-dev nginx curl wrk
socat python3 gnuplot-nox procps iproute2 ca-certificates libjemalloc2"

# Packages dpkg does not report as "install ok installed".
missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "setup-deps: all packages already installed"
    exit 0
fi
echo "setup-deps: missing:$missing"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "setup-deps: not root and no sudo; install as root:$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh container has no package lists at all: fetch them first. Otherwise
# try the current lists and refresh them only if that fails (stale lists).
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    $SUDO apt-get update
fi
# shellcheck disable=SC2086 # $missing is a word list on purpose
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $missing
fi
echo "setup-deps: done"
