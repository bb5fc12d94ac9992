#!/usr/bin/env bash
# python/selectors.sh - CPython's test_epoll and test_selectors, natively
# and under the shim (python/regrtest.sh compares them test by test).
# Usage: integration/python/selectors.sh [LIBRARY]   (~17 s per side)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ -z ${1:-} ]] || export UEPOLL_LIB=$1
# 120 s per test file: both files take ~17 s together here.
exec "$HERE/regrtest.sh" selectors 120 test_epoll test_selectors
