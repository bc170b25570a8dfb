#!/usr/bin/env bash
# Runs chanfs-bench (tools/bench/): chanfs against the kernel's pipe, FIFO
# and Unix sockets and a bare FUSE loop, in one interleaved run.
#   bench.sh [--quick] [--json FILE] [other chanfs-bench options]
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
