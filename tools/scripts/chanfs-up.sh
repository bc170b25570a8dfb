#!/usr/bin/env bash
# The README's first command: installs what is missing, builds chanfs and
# chanctl, installs them to /usr/local, and mounts a channel directory.
#   chanfs-up.sh [DIR] [chanfs options...]     (DIR defaults to ./channels)
# Unmount with: fusermount3 -u DIR
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${1:-channels}"
shift || true

"$repo/tools/scripts/install-deps.sh"
if [[ ! -f "$repo/build-release/build.ninja" ]]; then
    meson setup "$repo/build-release" "$repo" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$repo/build-release" >/dev/null
ninja -C "$repo/build-release" install >/dev/null

mkdir -p "$dir"
if mountpoint -q "$dir"; then
    echo "chanfs: $dir is already a mount point"
    exit 0
fi
/usr/local/bin/chanfs "$dir" "$@"
echo "chanfs mounted at $(cd "$dir" && pwd) (unmount: fusermount3 -u $dir; tool: chanctl --help)"
