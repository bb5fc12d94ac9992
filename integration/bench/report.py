#!/usr/bin/env python3
"""report.py - the tables and plot data of run-all.sh.

Usage:
  report.py micro-tsv JSON COLUMN ROUND
      Google Benchmark JSON of uepoll-preload-bench -> measurement lines
      (tab-separated: part, work, column, round, value) on stdout.  The
      epoll benchmarks go to COLUMN (native, uepoll, ...); the poll-loop
      ones to "poll", and only from the native run (a poll loop under the
      shim would measure the shim's poll hook, not a poll backend).
      real_time per iteration, in ns; errored benchmarks are left out.
  report.py report TSV OUTDIR COLUMN... [--header FILE]
      All measurement lines -> OUTDIR/results.md (one table per part:
      median per column, ratios, spread) and the plot data
      OUTDIR/rtt_idle_cpus1.dat, rtt_idle_cpus2.dat (RTT in us against idle
      watched fds) and OUTDIR/rps_idle.dat (req/s against idle keepalive
      connections), one column per COLUMN, for plots.gp.  FILE (markdown:
      date, machine, command) goes first in results.md.

The medians are the lower middle value for an even count, like
run-servers.sh.  Spread is (max - min) / median of the rounds, per column.
"""
import json
import re
import sys
from collections import defaultdict

# uepoll-preload-bench names -> (work label, backend).  The order of
# MICRO_WORKS is the order of the table.
MICRO_WORKS = [
    ("ctl_add_del", "epoll_ctl ADD+DEL"),
    ("ctl_mod", "epoll_ctl MOD"),
    ("wait/1_of_1", "wait(0), 1 ready of 1 watched"),
    ("wait/100_of_100", "wait(0), 100 ready of 100 watched"),
    ("wait/10_of_19000", "wait(0), 10 ready of 19,000 watched"),
]
for cpus in (1, 2):
    for idle in (0, 100, 1000, 10000):
        MICRO_WORKS.append(
            (f"rtt/idle:{idle}/cpus:{cpus}",
             f"RTT, {idle:,} idle fds, {'1 core' if cpus == 1 else '2 cores'}"))
MICRO_LABEL = dict(MICRO_WORKS)


def micro_key(name):
    """'wait/poll/1_of_1/real_time' -> ('wait/1_of_1', 'poll')."""
    parts = name.split("/")
    if parts and parts[-1] == "real_time":
        parts = parts[:-1]
    if len(parts) < 2 or parts[1] not in ("epoll", "poll"):
        return None, None
    return "/".join([parts[0]] + parts[2:]), parts[1]


def micro_tsv(path, column, rnd):
    with open(path) as f:
        data = json.load(f)
    for b in data.get("benchmarks", []):
        if b.get("error_occurred") or b.get("run_type", "iteration") != "iteration":
            continue
        key, backend = micro_key(b["name"])
        if key not in MICRO_LABEL:
            continue
        col = column if backend == "epoll" else "poll"
        if backend == "poll" and column != "native":
            continue
        ns = b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        print(f"micro\t{MICRO_LABEL[key]}\t{col}\t{rnd}\t{ns:.1f}")


def lower_median(vs):
    s = sorted(vs)
    return s[(len(s) - 1) // 2]


def fmt_value(part, v):
    if v is None:
        return "–"
    if part == "micro":  # ns -> us
        us = v / 1000
        return f"{us:.2f}" if us < 10 else f"{us:.1f}" if us < 100 else f"{us:,.0f}"
    return f"{v:,.0f}"


def report(tsv, outdir, columns, header):
    runs = defaultdict(list)  # (part, work, column) -> values
    works = defaultdict(list)  # part -> works in first-seen order
    with open(tsv) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 5:
                continue
            part, work, col, _rnd, value = fields
            runs[(part, work, col)].append(float(value))
            if work not in works[part]:
                works[part].append(work)
    # Micro rows in the order of MICRO_WORKS, whatever order they ran in.
    order = [label for _, label in MICRO_WORKS]
    works["micro"].sort(key=lambda w: order.index(w) if w in order else len(order))

    med = {k: lower_median(v) for k, v in runs.items()}
    uep = [c for c in columns if c.startswith("uepoll")]
    out = []
    if header:
        with open(header) as f:
            out.append(f.read().rstrip() + "\n")
    titles = {
        "micro": ("Micro (uepoll-preload-bench)", "µs per operation, lower is better"),
        "servers": ("Servers (nginx, wrk)", "requests/s, higher is better"),
    }
    for part in ("micro", "servers"):
        if not works[part]:
            continue
        title, unit = titles[part]
        nrounds = max(len(runs[(part, w, c)]) for w in works[part] for c in columns)
        out.append(f"## {title}\n\n{unit}; median of {nrounds} round(s) per cell; "
                   "ratios of medians; spread = (max − min) / median of the rounds, "
                   "per column in the column order.\n")
        ratio_cols = [(u, "native") for u in uep] + [(u, "poll") for u in uep]
        head = ["work"] + columns + [f"{a}/{b}" for a, b in ratio_cols] + ["spread %"]
        out.append("| " + " | ".join(head) + " |")
        out.append("| --- |" + " ---: |" * (len(head) - 2) + " --- |")
        for w in works[part]:
            cells = [w]
            for c in columns:
                cells.append(fmt_value(part, med.get((part, w, c))))
            for a, b in ratio_cols:
                va, vb = med.get((part, w, a)), med.get((part, w, b))
                cells.append(f"{va / vb:.2f}" if va and vb else "–")
            spreads = []
            for c in columns:
                v = runs.get((part, w, c))
                if not v or len(v) < 2:
                    spreads.append("–")
                else:
                    spreads.append(f"{100 * (max(v) - min(v)) / lower_median(v):.0f}")
            cells.append("/".join(spreads))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    with open(f"{outdir}/results.md", "w") as f:
        f.write("\n".join(out) + "\n")

    # Plot data: the x value, then one median per column ("NaN" if none).
    def dat(path, comment, points):
        with open(path, "w") as f:
            f.write(f"# {comment}\n")
            f.write("x\t" + "\t".join(f'"{c}"' for c in columns) + "\n")
            for x, work, part in points:
                vals = []
                for c in columns:
                    v = med.get((part, work, c))
                    if v is not None and part == "micro":
                        v /= 1000
                    vals.append("NaN" if v is None else f"{v:.3f}")
                if all(v == "NaN" for v in vals):
                    continue  # not measured (a part not run): no point
                f.write(f"{x}\t" + "\t".join(vals) + "\n")

    for cpus in (1, 2):
        pts = [(idle, MICRO_LABEL[f"rtt/idle:{idle}/cpus:{cpus}"], "micro") for idle in (0, 100, 1000, 10000)]
        dat(f"{outdir}/rtt_idle_cpus{cpus}.dat",
            f"round-trip time in us (median) against idle watched fds, {cpus} core(s); from results.md", pts)
    pts = []
    for w in works["servers"]:
        m = re.fullmatch(r"nginx 1w c=10(?:, ([\d,]+) idle)?", w)
        if m:
            pts.append((int((m.group(1) or "0").replace(",", "")), w, "servers"))
    pts.sort()
    dat(f"{outdir}/rps_idle.dat",
        "nginx 1 worker, wrk c=10: req/s (median) against idle keepalive connections; from results.md", pts)


def main(argv):
    if len(argv) == 5 and argv[1] == "micro-tsv":
        micro_tsv(argv[2], argv[3], argv[4])
        return 0
    if len(argv) >= 5 and argv[1] == "report":
        args = argv[2:]
        header = None
        if "--header" in args:
            i = args.index("--header")
            header = args[i + 1]
            del args[i:i + 2]
        report(args[0], args[1], args[2:], header)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
