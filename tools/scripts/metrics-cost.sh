#!/usr/bin/env bash
# Measures what a /metrics scrape costs (time and size) with many channels:
#   metrics-cost.sh [CHANFS_BIN] [COUNTS...]     (default counts: 1000 10000)
# For each count it mounts a private chanfs with -o metrics=unix:SOCK and
# metrics_max_channels equal to the count (every channel gets its series;
# METRICS_MAX_CHANNELS=1000 measures the default limit instead), creates
# that many channels, scrapes 20 times and prints the median and worst time
# and the body size. Needs root or FUSE access; cleans up after itself.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${1:-$repo/build-release/fs/chanfs}"
shift || true
counts=("$@")
((${#counts[@]})) || counts=(1000 10000)

work="$(mktemp -d /tmp/chanfs-metrics-cost.XXXXXX)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    fusermount3 -u -z "$work/mnt" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

printf '%-9s %-10s %-10s %-10s %s\n' channels median_ms max_ms bytes series_lines
for n in "${counts[@]}"; do
    mkdir -p "$work/mnt"
    "$bin" "$work/mnt" -f -o "metrics=unix:$work/m.sock,metrics_max_channels=${METRICS_MAX_CHANNELS:-$n},log_level=warn" 2>"$work/log" &
    pid=$!
    for _ in $(seq 200); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
    /usr/bin/python3 -c '
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(n // 100 + 1):
    os.mkdir(f"{root}/d{d:03}")
for i in range(n):
    open(f"{root}/d{i // 100:03}/c{i:05}", "w").close()
' "$work/mnt" "$n"
    times=()
    for _ in $(seq 20); do
        times+=("$(curl -sS -o "$work/body" -w '%{time_total}' --unix-socket "$work/m.sock" http://chanfs/metrics)")
    done
    sorted=($(printf '%s\n' "${times[@]}" | sort -n))
    printf '%-9s %-10.1f %-10.1f %-10s %s\n' "$n" "$(echo "${sorted[10]} * 1000" | bc -l)" \
        "$(echo "${sorted[19]} * 1000" | bc -l)" "$(stat -c %s "$work/body")" "$(grep -vc '^#' "$work/body")"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    fusermount3 -u -z "$work/mnt" 2>/dev/null || true
done
