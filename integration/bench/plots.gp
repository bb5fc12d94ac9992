# plots.gp - the PNGs of run-all.sh, from the .dat files report.py writes.
#
# Usage: gnuplot -e "dir='OUTDIR'" integration/bench/plots.gp
#
# Reads OUTDIR/rtt_idle_cpus1.dat, rtt_idle_cpus2.dat and rps_idle.dat
# (first column the number of idle fds or connections, then one column per
# backend, titled in the header line) and writes OUTDIR/rtt_idle.png
# (round-trip time against idle watched fds, 1 core and 2 cores side by
# side) and OUTDIR/rps_idle.png (nginx req/s against idle keepalive
# connections).  Any number of backend columns: each "uepoll ENV" column of
# run-all.sh gets a line.  A file without data rows (a part not run) gives
# no PNG.
if (!exists("dir")) dir = "."
# rows(F): the data rows of F (lines that are not comments, minus the header).
rows(f) = int(system("grep -cv '^#' '".f."' 2>/dev/null || true")) - 1

set grid
set key top left
set datafile missing "NaN"
set style data linespoints
# The x values (0, 100, 1000, 10000 ...) are evenly spaced categories,
# labelled from the first column: 0 has no place on a log axis.
set offsets 0.2, 0.2, 0, 0

if (rows(dir."/rtt_idle_cpus1.dat") > 0) {
    set terminal pngcairo size 1200,500 font ",10"
    set output dir."/rtt_idle.png"
    set multiplot layout 1,2 title "ping-pong round trip over a socketpair, the echo thread watching N idle eventfds (median)"
    set logscale y
    set xlabel "idle watched fds"
    set ylabel "round trip, µs (log scale)"
    do for [c in "1 2"] {
        f = dir."/rtt_idle_cpus".c.".dat"
        set title (c eq "1" ? "both threads on 1 core" : "each thread on its own core")
        plot for [i=2:*] f using 0:i:xtic(1) title columnheader(i) noenhanced lw 2 pt 7
    }
    unset multiplot
    unset logscale y
}

if (rows(dir."/rps_idle.dat") > 0) {
    set terminal pngcairo size 800,500 font ",10"
    set output dir."/rps_idle.png"
    set yrange [0:*]
    set xlabel "idle keepalive connections held open"
    set ylabel "requests/s, median"
    set title "nginx 1 worker: wrk c=10 beside N idle keepalive connections"
    plot for [i=2:*] dir."/rps_idle.dat" using 0:i:xtic(1) title columnheader(i) noenhanced lw 2 pt 7
}
