#!/usr/bin/env python3
"""Draws a chanfs-bench run's ratios as an SVG with gnuplot:
    bench_plot.py BENCH.json OUT.svg
For each measure (64 KiB, 1 MiB, 1 KiB messages, round trip), one bar per
transport: the bare FUSE loop and the chanfs channels against the kernel
FIFO (vs_fifo, "speed": above 1 is faster than the FIFO). Called by
bench.sh --plot; standard library and gnuplot (Debian gnuplot-nox) only."""
import json
import os
import subprocess
import sys
import tempfile

TRANSPORTS = ["bare FUSE loop", "chanfs pipe/bytes", "chanfs queue/lines", "chanfs topic/lines"]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench_plot.py BENCH.json OUT.svg")
    run = json.load(open(sys.argv[1]))
    figures, titles, ratios = [], {}, {}
    for row in run.get("figures", []):
        if row.get("transport") not in TRANSPORTS or row.get("vs_fifo") is None:
            continue
        fig = row["figure"]
        if fig not in titles:
            figures.append(fig)
            titles[fig] = row.get("title", fig)
        ratios[(fig, row["transport"])] = row["vs_fifo"]
    if not figures:
        sys.exit("bench_plot.py: no ratios against the kernel FIFO in " + sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "ratios.dat")
        with open(data, "w") as f:
            f.write("measure " + " ".join('"%s"' % t for t in TRANSPORTS) + "\n")
            for fig in figures:
                values = [ratios.get((fig, t)) for t in TRANSPORTS]
                f.write('"%s" ' % titles[fig].replace('"', "'") +
                        " ".join("NaN" if v is None else repr(v) for v in values) + "\n")
        script = os.path.join(tmp, "plot.gp")
        with open(script, "w") as f:
            f.write(f"""set terminal svg size 1000,480 dynamic font "sans,11"
set output {json.dumps(sys.argv[2])}
set title {json.dumps("chanfs-bench %s, %s (%s cpus): speed against the kernel FIFO" % (run.get("version", "?"), run.get("date", "?"), run.get("cpus", "?")))}
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "x kernel FIFO (higher is faster)"
# Log scale: 1 KiB messages run at a hundredth of the FIFO, throughput
# at about it; both must be readable.
set logscale y
set yrange [0.005:5]
set grid ytics mytics
set key outside right top
set xtics rotate by -15 noenhanced
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2
plot for [i=2:{len(TRANSPORTS) + 1}] {json.dumps(data)} using i:xtic(1) title columnheader(i)
""")
        subprocess.run(["gnuplot", script], check=True)


if __name__ == "__main__":
    main()
