#!/usr/bin/env bats
# Mounted with allow_other: the kernel enforces modes (default_permissions)
# for other users. Both halves are checked, so a mount that denies everyone
# or allows everyone fails.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs -o allow_other; }
teardown() { chanfs_teardown; }

as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

@test "nobody can read a 0644 channel and is denied a 0600 one" {
    echo public > "$MNT/open"
    echo secret > "$MNT/closed"
    chmod 0644 "$MNT/open"
    chmod 0600 "$MNT/closed"
    run as_nobody timeout 10 cat "$MNT/open"
    [ "$status" -eq 0 ]
    [ "$output" = public ]
    run as_nobody timeout 10 cat "$MNT/closed"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Permission denied"* ]]
    # The refused open took nothing.
    [ "$(timeout 10 cat "$MNT/closed")" = secret ]
}

@test "nobody cannot write a 0644 channel but can write a 0666 one" {
    touch "$MNT/ro" "$MNT/rw"
    chmod 0644 "$MNT/ro"
    chmod 0666 "$MNT/rw"
    run as_nobody bash -c 'echo hi > "$1"' _ "$MNT/ro"
    [[ "$output" == *"Permission denied"* ]]
    as_nobody bash -c 'echo hi > "$1"' _ "$MNT/rw"
    [ "$(xattr "$MNT/rw" stats.queued_bytes)" = 3 ]
    [ "$(xattr "$MNT/ro" stats.queued_bytes)" = 0 ]
}

@test "a channel belongs to the user who created it, with its umask" {
    mkdir "$MNT/shared"
    chmod 0777 "$MNT/shared"
    as_nobody bash -c 'umask 022; touch "$1"; mkfifo "$2"' _ "$MNT/shared/mine" "$MNT/shared/fifo"
    [ "$(stat -c '%U:%G %a' "$MNT/shared/mine")" = "nobody:nogroup 644" ]
    [ "$(stat -c '%U:%G %a' "$MNT/shared/fifo")" = "nobody:nogroup 644" ]
    # The owner may change its settings; root may too.
    as_nobody setfattr -n user.chanfs.capacity -v 4096 "$MNT/shared/mine"
    [ "$(xattr "$MNT/shared/mine" capacity)" = 4096 ]
}

@test "nobody cannot create channels in a 0755 directory owned by root" {
    mkdir "$MNT/private"
    chmod 0755 "$MNT/private"
    run as_nobody touch "$MNT/private/x"
    [[ "$output" == *"Permission denied"* ]]
    [ ! -e "$MNT/private/x" ]
}
