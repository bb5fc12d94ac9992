# integration/scenarios.cmake - the program scenarios (python, redis, node,
# nginx)
# as ctests, label `integration`, each runnable alone with
#   ctest --test-dir build -L integration [-R NAME]
# and all of them, with one table, by integration/run-scenarios.sh.
#
# Off by default (configure with -DUEPOLL_INTEGRATION_SCENARIOS=ON): they
# need programs scripts/setup-deps.sh does not install (redis-server and
# redis-benchmark, tcl, node, libpython3.11-testsuite), and python-asyncio and
# redis-benchmark take more than a minute, too long for the default test
# command.  Times measured here (2 shared cores): python-selectors ~35 s,
# python-asyncio ~2 min, redis-benchmark ~50-75 s, redis-testsuite ~9 min (79 units of
# Redis's own suite, both sides; its source is fetched with apt-get source),
# node-transcript ~3 s, node-testsuite ~8 min (162 tests of Node.js 18's
# test/parallel, both sides; Debian's nodejs and its source fetched with apt,
# unpacked, not installed; needs root for its mount namespace), measured
# 2026-12-07 at load 10-15 (docs/integration.md).
# The nginx scenarios (integration/nginx/*.sh, Debian's nginx, wrk, curl,
# python3) take 0.5-1.5 min each, nginx-million 6-7 min (measured times in
# README "Programs tested").
option(UEPOLL_INTEGRATION_SCENARIOS
  "register integration/run-scenarios.sh's scenarios with ctest (label integration)" OFF)

if(UEPOLL_INTEGRATION_SCENARIOS)
  # name | script | TIMEOUT (s): about 3x the time measured, below the
  # scenario's own bounds so that ctest reports a hang as a timeout.
  foreach(entry
      "python-selectors|python/selectors.sh|300"
      "python-asyncio|python/asyncio.sh|900"
      "redis-benchmark|redis/benchmark.sh|400"
      "redis-testsuite|redis/testsuite.sh|3000"
      "node-transcript|node/transcript.sh|120"
      "node-testsuite|node/testsuite.sh|1800"
      "nginx-static|nginx/static.sh|400"
      "nginx-workers|nginx/workers.sh|600"
      "nginx-proxy|nginx/proxy.sh|600"
      "nginx-aio|nginx/aio.sh|400"
      "nginx-clients|nginx/clients.sh|600"
      "nginx-lifecycle|nginx/lifecycle.sh|600"
      "nginx-idle|nginx/idle.sh|400"
      "nginx-million|nginx/million.sh|1800")
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 name)
    list(GET parts 1 script)
    list(GET parts 2 timeout)
    add_test(NAME integration_${name}
      COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/${script} $<TARGET_FILE:uepoll>)
    # RUN_SERIAL: each measures timings and rates that a parallel test
    # would disturb.
    set_tests_properties(integration_${name} PROPERTIES
      LABELS integration TIMEOUT ${timeout} RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
  endforeach()
  # All of them and the table, as one test.
  add_test(NAME integration_run_scenarios
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run-scenarios.sh $<TARGET_FILE:uepoll>)
  set_tests_properties(integration_run_scenarios PROPERTIES
    LABELS scenarios_table TIMEOUT 7200 RUN_SERIAL TRUE)
endif()
