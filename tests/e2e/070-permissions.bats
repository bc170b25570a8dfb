#!/usr/bin/env bats
# Mounted with allow_other: the kernel enforces modes (default_permissions)
# for other users. Both halves are checked, so a mount that denies everyone
# or allows everyone fails.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    mount_chanfs -o allow_other
    # Outside the mount, on an ordinary filesystem: the reference the
    # matrix compares errnos with, and a home for bridge files.
    OUTSIDE="$(mktemp -d /tmp/chanfs-perms.XXXXXX)"
    chmod 0755 "$OUTSIDE"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$OUTSIDE"
    return "$status"
}

# matrix GROUP: the rows of perms_matrix.py's GROUP, on the mount and (where
# a row says so) on $OUTSIDE/ref for comparison.
matrix() {
    mkdir "$OUTSIDE/ref"
    run timeout 120 /usr/bin/python3 "$BATS_TEST_DIRNAME/perms_matrix.py" "$MNT" "$OUTSIDE/ref" \
        "$CHANFS_LOG" "$1"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *" rows passed"* ]]
}

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

@test "matrix, access: read and write by mode bits, owner, group and root, like a normal filesystem" {
    matrix access
}

@test "matrix, xattrs: EACCES without write permission, EPERM for a non-owner, owner and root allowed" {
    matrix xattrs
}

@test "matrix, deletion: 0777 vs sticky directories, owner, directory owner and root" {
    matrix deletion
}

@test "matrix, ownership: chmod, chown and times by non-owner (EPERM), owner and root" {
    matrix ownership
}

@test "matrix, directories: mkdir and rmdir in 0755, 0777 and sticky directories" {
    matrix directories
}

# try_as USER open|connect PATH: opens PATH for writing (a FIFO) or
# connects to it (a socket) as USER with only USER's primary group; prints
# "ok" or the errno name.
try_as() {
    local user="$1" what="$2" path="$3"
    setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups /usr/bin/python3 -c '
import errno, os, socket, sys
try:
    if sys.argv[1] == "open":
        os.close(os.open(sys.argv[2], os.O_WRONLY | os.O_NONBLOCK))
    else:
        socket.socket(socket.AF_UNIX).connect(sys.argv[2])
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
' "$what" "$path"
}

@test "bridge files have the channel's owner and mode, refuse others, and follow chmod and chown" {
    mkdir "$MNT/pub" "$OUTSIDE/b"
    chmod 0777 "$MNT/pub" "$OUTSIDE/b"
    as_nobody touch "$MNT/pub/ch"
    as_nobody chmod 0640 "$MNT/pub/ch"
    # Root sets one bridge, the owner the other: both files are nobody's 0640.
    setfattr -n user.chanfs.fifo -v "in:$OUTSIDE/b/ch.fifo" "$MNT/pub/ch"
    as_nobody setfattr -n user.chanfs.uds -v "listen:$OUTSIDE/b/ch.sock" "$MNT/pub/ch"
    [ "$(stat -c '%U:%G %a' "$OUTSIDE/b/ch.fifo")" = "nobody:nogroup 640" ]
    [ "$(stat -c '%U:%G %a' "$OUTSIDE/b/ch.sock")" = "nobody:nogroup 640" ]
    # The owner gets in; daemon (not owner, not in nogroup) is refused.
    [ "$(try_as nobody open "$OUTSIDE/b/ch.fifo")" = ok ]
    [ "$(try_as nobody connect "$OUTSIDE/b/ch.sock")" = ok ]
    [ "$(try_as daemon open "$OUTSIDE/b/ch.fifo")" = EACCES ]
    [ "$(try_as daemon connect "$OUTSIDE/b/ch.sock")" = EACCES ]
    # Made private, the channel takes its bridge files with it.
    as_nobody chmod 0600 "$MNT/pub/ch"
    [ "$(stat -c '%U:%G %a' "$OUTSIDE/b/ch.fifo")" = "nobody:nogroup 600" ]
    [ "$(stat -c '%U:%G %a' "$OUTSIDE/b/ch.sock")" = "nobody:nogroup 600" ]
    # Given to daemon, the channel's files are daemon's: now nobody is refused.
    chown daemon:daemon "$MNT/pub/ch"
    [ "$(stat -c '%U:%G %a' "$OUTSIDE/b/ch.fifo")" = "daemon:daemon 600" ]
    [ "$(stat -c '%U:%G %a' "$OUTSIDE/b/ch.sock")" = "daemon:daemon 600" ]
    [ "$(try_as daemon open "$OUTSIDE/b/ch.fifo")" = ok ]
    [ "$(try_as daemon connect "$OUTSIDE/b/ch.sock")" = ok ]
    [ "$(try_as nobody open "$OUTSIDE/b/ch.fifo")" = EACCES ]
    [ "$(try_as nobody connect "$OUTSIDE/b/ch.sock")" = EACCES ]
}

@test "a bridge file gets the channel's group even when its owner is not in that group" {
    mkdir "$MNT/pub" "$OUTSIDE/b"
    chmod 0777 "$MNT/pub" "$OUTSIDE/b"
    as_nobody touch "$MNT/pub/ch"
    # Root shares nobody's channel with group daemon, which nobody is not in.
    chgrp daemon "$MNT/pub/ch"
    chmod 0660 "$MNT/pub/ch"
    as_nobody setfattr -n user.chanfs.fifo -v "in:$OUTSIDE/b/ch.fifo" "$MNT/pub/ch"
    [ "$(stat -c '%U:%G %a' "$OUTSIDE/b/ch.fifo")" = "nobody:daemon 660" ]
    [ "$(try_as daemon open "$OUTSIDE/b/ch.fifo")" = ok ]
}
