#!/usr/bin/env bash
# python/asyncio.sh - the event-loop modules of CPython's test_asyncio,
# natively and under the shim (python/regrtest.sh compares them test by
# test).  Usage: integration/python/asyncio.sh [LIBRARY]
#
# The whole of test_asyncio (2352 tests) took 3 min 6 s natively here, too
# long for every run; these modules are the ones that drive selector event
# loops over real sockets, pipes and subprocesses.  PY_ASYNCIO_FULL=1 runs
# the whole package instead.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ -z ${1:-} ]] || export UEPOLL_LIB=$1
if [[ ${PY_ASYNCIO_FULL:-0} == 1 ]]; then
    exec "$HERE/regrtest.sh" asyncio-full 600 test_asyncio
fi
# 300 s per module: a hang fails the side instead of stopping the run.
exec "$HERE/regrtest.sh" asyncio 300 \
    test_asyncio.test_events test_asyncio.test_base_events \
    test_asyncio.test_subprocess test_asyncio.test_streams \
    test_asyncio.test_sock_lowlevel test_asyncio.test_selector_events
