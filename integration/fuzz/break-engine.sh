#!/usr/bin/env bash
# integration/fuzz/break-engine.sh - proves that the fuzzer finds bugs in
# the engine itself, not only in the wrappers of native epoll that
# `uepoll-fuzz --self-test` injects.
#
# It copies the source tree, puts one bug at a time into
# core/eventpoll.cpp, rebuilds uepoll-fuzz and runs it with a fixed seed
# until the first divergence, which the fuzzer minimizes.  For each bug it
# prints the ops it took to find it and the size of the minimized program;
# it exits non-zero if a bug was not found within the budget.
#
#   integration/fuzz/break-engine.sh [--ops N] [--seed S]     (about 5 min)
#
# The bugs (each the issue's example):
#   no_err_hup      ADD forgets to add EPOLLERR|EPOLLHUP to the interest set
#   no_lt_requeue   ep_send_events does not put a reported LT item back
#   item_outlives_close
#                   closing a file's last fd leaves its items in place
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
ops=1000000
seed=1
while [ $# -gt 0 ]; do
	case $1 in
	--ops) ops=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	*) echo "usage: $0 [--ops N] [--seed S]" >&2; exit 2 ;;
	esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/src
mkdir -p "$src"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$src")
target=$src/core/eventpoll.cpp
cp "$target" "$work/eventpoll.cpp.orig"

# break NAME: replaces one exact piece of core/eventpoll.cpp; fails loudly
# if the piece is not there any more (the engine changed: update it here).
break_engine() {
	cp "$work/eventpoll.cpp.orig" "$target"
	python3 - "$target" "$1" <<'EOF'
import sys
path, bug = sys.argv[1], sys.argv[2]
s = open(path).read()
edits = {
    "no_err_hup": ("\t\t\tepds.events |= EPOLLERR | EPOLLHUP;\n\t\t\terror = ep_insert(",
                   "\t\t\terror = ep_insert("),
    "no_lt_requeue": ("\t\t\t// LT: back to the tail; callbacks use the ovflist meanwhile.\n\t\t\tep->rdllist.push_back(*epi);",
                      "\t\t\tepi->on_list = false; // re-armed by ep_slot_update() below"),
    "item_outlives_close": ("static void eventpoll_release_file(epfile *f)\n{\n",
                            "static void eventpoll_release_file(epfile *f)\n{\n\t(void)f;\n\treturn;\n"),
}
old, new = edits[bug]
if s.count(old) != 1:
    sys.exit(f"break-engine: the piece for {bug} is not in {path} exactly once")
open(path, "w").write(s.replace(old, new))
EOF
}

build=$work/build
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
failed=0
printf '%-22s %-10s %-12s %s\n' bug found ops-to-find minimized
for bug in no_err_hup no_lt_requeue item_outlives_close; do
	break_engine "$bug"
	make -C "$build" -j"$(nproc)" uepoll-fuzz >/dev/null
	log=$work/$bug.log
	"$build/integration/fuzz/uepoll-fuzz" --ops "$ops" --seed "$seed" >"$log" 2>&1 || true
	first=$(grep -m1 -io 'divergence in seed [0-9]* program [0-9]*.* at op #[0-9]*' "$log" || true)
	if [ -z "$first" ]; then
		printf '%-22s %-10s\n' "$bug" no
		failed=1
		continue
	fi
	program=$(sed -E 's/.* program ([0-9]+).*/\1/' <<<"$first")
	op=$(sed -E 's/.*op #([0-9]+)/\1/' <<<"$first")
	per=$(grep -m1 -o 'programs of [0-9]*' "$log" | grep -o '[0-9]*$' || echo 200)
	min=$(grep -m1 -o 'minimized to [0-9]* ops' "$log" | grep -o '[0-9]*' || echo '?')
	printf '%-22s %-10s %-12s %s\n' "$bug" yes "$((program * per + op + 1))" "$min ops (program $program, op #$op)"
	grep -m1 -A2 -i 'divergence in seed' "$log" | tail -2 | sed 's/^/    /'
done
exit $failed
