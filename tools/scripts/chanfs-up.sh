#!/usr/bin/env bash
# The README's first command: installs what is missing, builds chanfs and
# chanctl, installs them to /usr/local, and mounts a channel directory.
#   chanfs-up.sh [DIR] [chanfs options...]     (DIR defaults to /run/chan)
# Unmount with: fusermount3 -u DIR
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${1:-/run/chan}"
shift || true

mkdir -p "$dir"
if mountpoint -q "$dir"; then
    echo "chanfs: $dir is already a mount point"
    exit 0
fi
# Mounting over files hides them (from the source tree, "channels" is the
# channels/ source directory): refuse, and say why.
if [[ -n "$(ls -A "$dir")" ]]; then
    echo "chanfs-up.sh: $dir is not empty; mounting there would hide its files. Pick an empty directory, e.g. /run/chan" >&2
    exit 2
fi

"$repo/tools/scripts/install-deps.sh"
if [[ ! -f "$repo/build-release/build.ninja" ]]; then
    meson setup "$repo/build-release" "$repo" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$repo/build-release" >/dev/null
ninja -C "$repo/build-release" install >/dev/null

/usr/local/bin/chanfs "$dir" "$@"
echo "chanfs mounted at $(cd "$dir" && pwd) (unmount: fusermount3 -u $dir; tool: chanctl --help)"
