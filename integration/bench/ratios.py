#!/usr/bin/env python3
"""ratios.py - table of native vs uepoll from uepoll-microbench's JSON.

Usage: ratios.py [FILE.json]      (default: standard input)

FILE.json is the output of `uepoll-microbench --benchmark_format=json` (or
--benchmark_out=FILE --benchmark_out_format=json).  Benchmarks are named
BM_<what>/native, BM_<what>/uepoll and BM_<what>/uepoll_notiers (tiering
off); the table has one row per <what> with the wall-clock time per
iteration (real_time) of each backend, in ns, and the ratios to native.

With --benchmark_repetitions=N the median aggregate is used when present
(else the median of the repetitions).  A benchmark that was skipped with an
error shows "error".  The script never fails on the numbers: benchmarks are
not assertions.
"""
import json
import statistics
import sys

BACKENDS = ("native", "uepoll", "uepoll_notiers")
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def split_name(name):
    """'BM_x/native[/real_time][_median]' -> ('BM_x', 'native', aggregate or None)."""
    parts = name.split("/")
    if parts and parts[-1] == "real_time":
        parts.pop()
    aggregate = None
    last = parts[-1] if parts else ""
    if last not in BACKENDS:
        # the longest backend name first: "uepoll_notiers_median"
        for b in sorted(BACKENDS, key=len, reverse=True):
            if last.startswith(b + "_"):
                aggregate = last[len(b) + 1:]
                last = b
                break
    if len(parts) < 2 or last not in BACKENDS:
        return None
    return "/".join(parts[:-1]), last, aggregate


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    if len(argv) == 2:
        with open(argv[1]) as f:
            data = json.load(f)
    else:
        data = json.load(sys.stdin)

    runs = {}     # (bench, backend) -> [ns, ...]   plain iterations
    medians = {}  # (bench, backend) -> ns          median aggregates
    errors = set()
    order = []
    for b in data.get("benchmarks", []):
        parsed = split_name(b.get("run_name", b["name"]))
        if parsed is None:
            parsed = split_name(b["name"])
        if parsed is None:
            continue
        bench, backend, _ = parsed
        if bench not in order:
            order.append(bench)
        if b.get("error_occurred"):
            errors.add((bench, backend))
            continue
        ns = b["real_time"] * TO_NS.get(b.get("time_unit", "ns"), 1.0)
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[(bench, backend)] = ns
        else:
            runs.setdefault((bench, backend), []).append(ns)

    def value(bench, backend):
        key = (bench, backend)
        if key in errors:
            return None, "error"
        if key in medians:
            return medians[key], None
        if key in runs:
            return statistics.median(runs[key]), None
        return None, "-"

    rows = []
    for bench in order:
        n, n_txt = value(bench, "native")
        u, u_txt = value(bench, "uepoll")
        o, o_txt = value(bench, "uepoll_notiers")
        ratio = f"{u / n:.2f}" if n and u else "-"
        oratio = f"{o / n:.2f}" if n and o else "-"
        rows.append((bench, n_txt or f"{n:.0f}", u_txt or f"{u:.0f}", ratio, o_txt or f"{o:.0f}", oratio))

    header = ("benchmark", "native ns/op", "uepoll ns/op", "uepoll/native",
              "tiers off ns/op", "tiers off/native")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(6)]
    fmt = "  ".join([f"{{:<{widths[0]}}}"] + [f"{{:>{w}}}" for w in widths[1:]])
    print(fmt.format(*header))
    print(fmt.format(*("-" * w for w in widths)))
    for r in rows:
        print(fmt.format(*r))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
