#!/usr/bin/env bats
# The Debian package: packaging/build-deb.sh builds it with
# dpkg-buildpackage, lintian finds no errors, and on this machine it
# installs with apt-get, mounts through `mount -t fuse.chanfs` and the fstab
# line, and purges leaving nothing behind. The teardown always purges.
bats_require_minimum_version 1.5.0
load ../../e2e/helpers

setup_file() {
    if dpkg-query -W -f='${Status}' chanfs 2>/dev/null | grep -q "install ok installed"; then
        echo "a chanfs package is already installed here; this test would purge it" >&2
        return 1
    fi
    export DEB_DIR="$BATS_FILE_TMPDIR/deb"
    # noopt (-O0, and so no _FORTIFY_SOURCE): what this file tests is the
    # packaging, and the release build (-O3, -Werror) already compiled the
    # same code; an optimized package build cost .ci/run 430 s of its
    # 20-minute budget. build-deb.sh itself builds optimized, as shipped.
    DEB_BUILD_OPTIONS="parallel=$(nproc) noopt" \
        "$PACKAGING_SRC/build-deb.sh" "$DEB_DIR" > "$BATS_FILE_TMPDIR/build.log" 2>&1 || {
        tail -n 40 "$BATS_FILE_TMPDIR/build.log" >&2
        return 1
    }
    export DEB="$(ls "$DEB_DIR"/chanfs_"$CHANFS_VERSION"_*.deb)"
}

teardown_file() {
    if dpkg-query -W -f='${Status}' chanfs 2>/dev/null | grep -q "ok installed\|config-files"; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq chanfs >/dev/null 2>&1 || dpkg --purge chanfs
    fi
}

setup() {
    STATE="$(mktemp -d /tmp/chanfs-state.XXXXXX)"
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
}

teardown() {
    local pid
    # mount.fuse3 runs it as plain `chanfs`, found on the PATH.
    for pid in $(pgrep -f -- "^(/usr/bin/)?chanfs $STATE $MNT "); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    rmdir "$MNT" 2>/dev/null || true
    rm -rf "$STATE"
}

@test "build-deb.sh builds chanfs_VERSION (the meson version) and lintian reports no errors" {
    [ -f "$DEB" ]
    [ "$(dpkg-deb -f "$DEB" Version)" = "$CHANFS_VERSION" ]
    [ -f "$DEB_DIR/chanfs_${CHANFS_VERSION}_$(dpkg --print-architecture).changes" ]
    # Every tag, for the log; only errors fail.
    run lintian --info --display-experimental --pedantic "$DEB_DIR"/chanfs_*.changes
    echo "$output"
    # In the TAP log even when the test passes.
    sed 's/^/# lintian: /' <<<"${output:-(no tags)}" >&3
    [[ "$output" != *"Skipping"* ]]
    ! grep -q '^E: ' <<<"$output"
}

@test "the package holds the daemon, chanctl, both units, man pages and bash completion, and no mount helper of its own" {
    run dpkg-deb -c "$DEB"
    local f
    for f in ./usr/bin/chanfs ./usr/bin/chanctl ./lib/systemd/system/chanfs@.service \
        ./usr/lib/systemd/user/chanfs.service ./usr/share/man/man8/chanfs.8.gz \
        ./usr/share/man/man1/chanctl.1.gz ./usr/share/bash-completion/completions/chanctl \
        ./usr/share/doc/chanfs/copyright; do
        [[ "$output" == *" $f"$'\n'* || "$output" == *" $f" ]] || { echo "missing $f"; return 1; }
    done
    # mount.fuse3 (as /sbin/mount.fuse, from fuse3) runs `chanfs` from the
    # default PATH for -t fuse.chanfs: no /sbin/mount.fuse.chanfs is needed.
    [[ "$output" != *mount.fuse* ]]
    [[ "$(dpkg-deb -f "$DEB" Depends)" == *fuse3* ]]
}

# in_host_view CMD: runs CMD in a private mount namespace where
# /usr/local/bin and /usr/local/sbin are empty, so the packaged /usr/bin/chanfs
# is what mount.fuse3 finds even where `chanfs-up.sh` installed one under
# /usr/local. Mounts made inside vanish with the namespace.
in_host_view() {
    unshare --mount --propagation private bash -euo pipefail -c '
        mount -t tmpfs -o size=1M tmpfs /usr/local/bin
        mount -t tmpfs -o size=1M tmpfs /usr/local/sbin
        eval "$1"' _ "$1"
}

@test "apt-get install ./chanfs_*.deb; mount -t fuse.chanfs and the fstab line; echo and cat; umount; purge leaves nothing behind" {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$DEB" >/dev/null
    [ "$(dpkg-query -W -f='${Status}' chanfs)" = "install ok installed" ]
    [ -x /usr/bin/chanfs ] && [ -x /usr/bin/chanctl ]
    # In the system manual tree (chanfs-up.sh may have put copies under
    # /usr/local/share/man, which man would find first).
    [ "$(man -M /usr/share/man -w chanfs)" = /usr/share/man/man8/chanfs.8.gz ]
    [ "$(man -M /usr/share/man -w chanctl)" = /usr/share/man/man1/chanctl.1.gz ]
    # The installed units pass systemd-analyze with their real paths and
    # their Documentation= man page.
    ln -s /lib/systemd/system/chanfs@.service "$BATS_TEST_TMPDIR/chanfs@run-chan.service"
    run systemd-analyze verify "$BATS_TEST_TMPDIR/chanfs@run-chan.service"
    echo "$output"
    [ "$status" -eq 0 ] && [ -z "$output" ]
    # Nothing was enabled or started by installing.
    [ ! -e /etc/systemd/system/multi-user.target.wants/chanfs@.service ]

    export STATE MNT
    run in_host_view '
        mount -t fuse.chanfs "$STATE" "$MNT" -o allow_other,log_level=info
        grep " $MNT fuse.chanfs " /proc/mounts
        pid=$(pgrep -f -- "^chanfs $STATE $MNT ")
        echo "daemon: $(readlink /proc/$pid/exe)"
        echo "hello from the package" > "$MNT/greeting"
        echo "read: $(timeout 10 cat "$MNT/greeting")"
        chanctl create --kind queue "$MNT/jobs" && echo "kind: $(chanctl stat "$MNT/jobs" | grep -w kind)"
        umount "$MNT"
        for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
        kill -0 $pid 2>/dev/null && echo "daemon still running" || echo "daemon gone"
        # The fstab line of the README, from a private fstab.
        printf "%s %s fuse.chanfs defaults,allow_other,_netdev 0 0\n" "$STATE" "$MNT" > "$STATE/fstab"
        mount --fstab "$STATE/fstab" "$MNT"
        grep " $MNT fuse.chanfs " /proc/mounts | grep -q allow_other && echo "fstab mounted"
        umount "$MNT"
        grep -q " $MNT " /proc/mounts && echo "still mounted" || echo "unmounted"'
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"$STATE $MNT fuse.chanfs rw"*"allow_other"* ]]
    [[ "$output" == *"daemon: /usr/bin/chanfs"* ]]
    [[ "$output" == *"read: hello from the package"* ]]
    [[ "$output" == *"kind"*"queue"* ]]
    [[ "$output" == *"daemon gone"* ]]
    [[ "$output" == *"fstab mounted"*"unmounted" ]]

    local files
    files="$(dpkg -L chanfs | while read -r f; do [ -d "$f" ] || echo "$f"; done)"
    [ -n "$files" ]
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq chanfs >/dev/null
    run dpkg-query -W -f='${Status}' chanfs
    [[ "$output" != *installed* ]]
    local f left=()
    for f in $files; do [ -e "$f" ] && left+=("$f"); done
    [ "${#left[@]}" -eq 0 ] || { echo "left behind: ${left[*]}"; return 1; }
    [ ! -e /var/lib/chanfs ] && [ ! -e /etc/chanfs ]
    local p
    for p in $(pgrep -x chanfs); do
        [[ "$(readlink "/proc/$p/exe")" != /usr/bin/chanfs* ]] || { echo "daemon $p left"; return 1; }
    done
    ! grep -q " fuse.chanfs .*$MNT\| $MNT fuse" /proc/mounts
}
