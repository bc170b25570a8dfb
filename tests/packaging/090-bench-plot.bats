#!/usr/bin/env bats
# bench.sh --plot: bench_plot.py turns chanfs-bench's JSON into an SVG of
# the ratios against the kernel FIFO (gnuplot). bench-sample.json is the
# shape chanfs-bench writes, with the README's 2026-11-23 figures.
bats_require_minimum_version 1.5.0

PLOT="$BATS_TEST_DIRNAME/../../tools/scripts/bench_plot.py"

@test "bench_plot: an SVG with a bar group per measure and a bar per transport" {
    run "$PLOT" "$BATS_TEST_DIRNAME/bench-sample.json" "$BATS_TEST_TMPDIR/plot.svg"
    [ "$status" = 0 ]
    python3 -c '
import sys, xml.etree.ElementTree as ET
svg = open(sys.argv[1]).read()
ET.fromstring(svg)  # well-formed
for text in ["bare FUSE loop", "chanfs pipe/bytes", "chanfs queue/lines", "chanfs topic/lines",
             "throughput, 64 KiB writes", "round trip, 64 B each way", "kernel FIFO"]:
    assert text in svg, text
' "$BATS_TEST_TMPDIR/plot.svg"
}

@test "bench_plot: a JSON without FIFO ratios is refused, nothing drawn" {
    echo '{"figures": []}' > "$BATS_TEST_TMPDIR/empty.json"
    run "$PLOT" "$BATS_TEST_TMPDIR/empty.json" "$BATS_TEST_TMPDIR/plot.svg"
    [ "$status" = 1 ]
    [[ "$output" == *"no ratios against the kernel FIFO"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/plot.svg" ]
}
