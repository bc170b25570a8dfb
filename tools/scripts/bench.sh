#!/usr/bin/env bash
# Runs chanfs-bench (tools/bench/): chanfs against the kernel's pipe, FIFO
# and Unix sockets and a bare FUSE loop, in one interleaved run.
#   bench.sh [--quick] [--json FILE] [--plot FILE.svg] [--compare OLD.json] [other chanfs-bench options]
# --plot draws the run's ratios against the kernel FIFO with gnuplot
# (tools/scripts/bench_plot.py; a JSON file is kept in a temporary place if
# --json was not given).
# --compare OLD.json prints each ratio's change against an earlier --json run
# and flags a drop larger than the spread of the rounds; it never changes
# the exit status (a benchmark, not a test).
# Installs what is missing, builds a release build in build-release/ (the
# one chanfs-up.sh installs) and runs it. Needs root (it mounts twice).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

"$repo/tools/scripts/install-deps.sh"
if [[ ! -f "$repo/build-release/build.ninja" ]]; then
    meson setup "$repo/build-release" "$repo" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$repo/build-release" >/dev/null

plot="" json="" args=()
while (($#)); do
    case "$1" in
        --plot) plot="${2:?--plot needs FILE.svg}"; shift 2 ;;
        --plot=*) plot="${1#--plot=}"; shift ;;
        --json) json="${2:?--json needs FILE}"; args+=(--json "$json"); shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
if [[ -z "$plot" ]]; then
    exec "$repo/build-release/tools/bench/chanfs-bench" "${args[@]}"
fi
command -v gnuplot >/dev/null || {
    echo "bench.sh: --plot needs gnuplot (apt-get install gnuplot-nox)" >&2
    exit 2
}
tmp=""
if [[ -z "$json" ]]; then
    tmp="$(mktemp /tmp/chanfs-bench.XXXXXX.json)"
    trap 'rm -f "$tmp"' EXIT
    json="$tmp"
    args+=(--json "$json")
fi
"$repo/build-release/tools/bench/chanfs-bench" "${args[@]}"
"$repo/tools/scripts/bench_plot.py" "$json" "$plot"
echo "bench.sh: plot written to $plot"
