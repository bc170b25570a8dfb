#!/usr/bin/env bash
# Builds the Debian package from this source tree:
#   packaging/build-deb.sh OUTDIR
# dpkg-buildpackage wants debian/ at the top of the source, so the tree is
# copied (without .git and build directories) to a temporary directory,
# packaging/debian is copied to its debian/, and the build runs there. The
# .deb (and its .buildinfo and .changes) end up in OUTDIR. The build
# dependencies must be installed (tools/scripts/install-deps.sh --test).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: build-deb.sh OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

work="$(mktemp -d /tmp/chanfs-deb.XXXXXX)"
trap 'rm -rf "$work"' EXIT
version="$(dpkg-parsechangelog -l "$repo/packaging/debian/changelog" -S Version)"
src="$work/chanfs-$version"
mkdir "$src"
# --one-file-system: never descend into a mount inside the tree (a chanfs
# mounted there by chanfs-up.sh would block tar on its channels).
tar -C "$repo" --one-file-system --exclude-vcs --exclude='./build' --exclude='./build-*' --exclude='./debian' \
    -cf - . | tar -C "$src" -xf -
cp -r "$repo/packaging/debian" "$src/debian"

cd "$src"
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
dpkg-buildpackage -us -uc -b
# The package, its -dbgsym package and the .buildinfo/.changes naming them.
cp "$work"/*_"$version"_*.deb "$work"/chanfs_"$version"_*.buildinfo "$work"/chanfs_"$version"_*.changes "$out"/
ls "$out"/chanfs_"$version"_*.deb
