#!/usr/bin/env bash
# Runs chanfs-bench (tools/bench/): chanfs against the kernel's pipe, FIFO
# and Unix sockets and a bare FUSE loop, in one interleaved run.
#   bench.sh [--quick] [--json FILE] [--compare OLD.json] [other chanfs-bench options]
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
exec "$repo/build-release/tools/bench/chanfs-bench" "$@"
