#!/usr/bin/env bats
# Real programs on real channels (issue 11): GNU coreutils, less and shell
# loops against a mount, each compared with what a kernel FIFO or an
# ordinary file does.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    mount_chanfs -o allow_other
    OUTSIDE="$(mktemp -d /tmp/chanfs-programs.XXXXXX)"
    chmod 0755 "$OUTSIDE"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$OUTSIDE"
    return "$status"
}

long_name() {
    printf 'n%.0s' $(seq 256)
}

@test "every lookup of a 256-byte name fails with ENAMETOOLONG, checked first" {
    local long
    long="$(long_name)"
    mkdir "$MNT/d"
    echo x > "$MNT/c"
    # Each command names the over-long component; the kernel looks it up
    # first, so every one must say "File name too long" (ENOENT or EPERM
    # would send a user looking for the wrong problem).
    local cmds=(
        "stat $MNT/$long"
        "chmod 0600 $MNT/$long"
        "chown nobody $MNT/$long"
        "rmdir $MNT/$long"
        "unlink $MNT/$long"
        "rm -f -- $MNT/$long"
        "mv $MNT/$long $MNT/other"
        "mv $MNT/c $MNT/$long"
        "ln $MNT/c $MNT/$long"
        "ln -s c $MNT/$long"
        "mknod $MNT/$long p"
        "mkfifo $MNT/$long"
        "touch $MNT/$long"
        "mkdir $MNT/$long"
        "stat $MNT/d/$long"
    )
    local c
    for c in "${cmds[@]}"; do
        run -1 $c
        echo "$c: $output"
        [[ "$output" == *"File name too long"* ]]
    done
    # 255 bytes is still a name.
    local ok="${long:1}"
    echo y > "$MNT/$ok"
    [ "$(cat "$MNT/$ok")" = y ]
}
