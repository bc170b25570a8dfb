#!/usr/bin/env bats
# FIFO bridges (user.chanfs.fifo = in:/path | out:/path): programs that only
# speak named pipes join a channel.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    mount_chanfs -o allow_other
    # Outside the mount, reachable by nobody for the permission cases.
    FIFODIR="$(mktemp -d /tmp/chanfs-fifo.XXXXXX)"
    chmod 0755 "$FIFODIR"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$FIFODIR"
    return "$status"
}

as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

@test "in: a legacy writer echoes into a real FIFO, cat reads it from the mount" {
    touch "$MNT/legacy"
    chmod 0640 "$MNT/legacy"
    setfattr -n user.chanfs.fifo -v "in:$FIFODIR/legacy.fifo" "$MNT/legacy"
    [ -p "$FIFODIR/legacy.fifo" ]
    [ "$(stat -c %a "$FIFODIR/legacy.fifo")" = 640 ]
    [ "$(xattr "$MNT/legacy" fifo)" = "in:$FIFODIR/legacy.fifo" ]
    timeout 5 bash -c 'echo "from legacy" > "$1"' _ "$FIFODIR/legacy.fifo"
    [ "$(timeout 10 cat "$MNT/legacy")" = "from legacy" ]
    # Each FIFO writer session is a pipe session of the channel.
    wait_until 5 stat_is "$MNT/legacy" stats.queued_bytes 0
    timeout 5 bash -c 'echo "second writer" > "$1"' _ "$FIFODIR/legacy.fifo"
    [ "$(timeout 10 cat "$MNT/legacy")" = "second writer" ]
    [ "$(xattr "$MNT/legacy" stats.fifo_bytes)" = 26 ]
}

@test "in: nothing is lost while no reader is on the mount side" {
    "$CHANCTL_BIN" create --kind queue --fifo-in "$FIFODIR/in.fifo" "$MNT/q"
    timeout 10 bash -c 'seq 1 500 > "$1"' _ "$FIFODIR/in.fifo"
    wait_until 5 stat_is "$MNT/q" stats.queued_messages 500
    run timeout 10 head -c 1892 "$MNT/q"
    [ "$output" = "$(seq 1 500)" ]
}

@test "out: cat on the real FIFO gets what is echoed into the mount" {
    touch "$MNT/feed"
    setfattr -n user.chanfs.fifo -v "out:$FIFODIR/out.fifo" "$MNT/feed"
    [ -p "$FIFODIR/out.fifo" ]
    echo "first session" > "$MNT/feed"
    echo "second session" > "$MNT/feed"
    # No FIFO reader yet: both stay queued in the channel.
    [ "$(xattr "$MNT/feed" stats.fifo_connected)" = 0 ]
    [ "$(xattr "$MNT/feed" stats.queued_bytes)" = 29 ]
    # End-of-stream marks survive the bridge: one session per cat.
    [ "$(timeout 10 cat "$FIFODIR/out.fifo")" = "first session" ]
    [ "$(timeout 10 cat "$FIFODIR/out.fifo")" = "second session" ]
    [ "$(xattr "$MNT/feed" stats.queued_bytes)" = 0 ]
}

@test "out: an empty pipe session reaches the FIFO reader as an empty one" {
    touch "$MNT/feed"
    setfattr -n user.chanfs.fifo -v "out:$FIFODIR/out.fifo" "$MNT/feed"
    echo one > "$MNT/feed"
    # A reader keeps the channel open while a writer opens and closes
    # without writing: an empty session (an end-of-stream mark alone).
    exec 6<> "$MNT/feed"
    exec 6>&-
    echo three > "$MNT/feed"
    [ "$(timeout 10 cat "$FIFODIR/out.fifo")" = one ]
    run timeout 10 cat "$FIFODIR/out.fifo"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ "$(timeout 10 cat "$FIFODIR/out.fifo")" = three ]
}

@test "out: a topic's FIFO reader is one subscriber among others" {
    "$CHANCTL_BIN" create --kind topic --fifo-out "$FIFODIR/news.fifo" "$MNT/news"
    bg timeout 20 /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
got = b""
while got.count(b"\n") < 3:
    got += os.read(fd, 100)
sys.stdout.write(got.decode())
' "$MNT/news" > "$BATS_TEST_TMPDIR/sub"
    local sub=$BG_PID
    wait_until 5 stat_is "$MNT/news" stats.readers 2
    printf 'a\nb\nc\n' > "$MNT/news"
    run timeout 10 head -n 3 "$FIFODIR/news.fifo"
    [ "$output" = $'a\nb\nc' ]
    timeout_wait 10 "$sub"
    [ "$(cat "$BATS_TEST_TMPDIR/sub")" = $'a\nb\nc' ]
}

@test "removing the channel, the setting, or the mount removes the FIFOs chanfs made" {
    touch "$MNT/a" "$MNT/b" "$MNT/c"
    mkfifo "$FIFODIR/mine.fifo"
    setfattr -n user.chanfs.fifo -v "in:$FIFODIR/a.fifo" "$MNT/a"
    setfattr -n user.chanfs.fifo -v "out:$FIFODIR/b.fifo" "$MNT/b"
    setfattr -n user.chanfs.fifo -v "in:$FIFODIR/mine.fifo" "$MNT/c"
    rm "$MNT/a"
    [ ! -e "$FIFODIR/a.fifo" ]
    setfattr -x user.chanfs.fifo "$MNT/b"
    [ ! -e "$FIFODIR/b.fifo" ]
    run getfattr -n user.chanfs.fifo "$MNT/b"
    [ "$status" -ne 0 ]
    setfattr -n user.chanfs.fifo -v "out:$FIFODIR/b.fifo" "$MNT/b"
    stop_chanfs
    [ ! -e "$FIFODIR/b.fifo" ]
    # A FIFO that existed before is left alone.
    [ -p "$FIFODIR/mine.fifo" ]
}

@test "bad bridge values are refused with a reason, and the old bridge stays" {
    touch "$MNT/ch"
    setfattr -n user.chanfs.fifo -v "in:$FIFODIR/ok.fifo" "$MNT/ch"
    touch "$FIFODIR/regular"
    for value in "in:$FIFODIR/regular" "in:relative.fifo" "sideways:/x" "out:$FIFODIR/no/such/dir.fifo" \
        "in:$MNT/inside.fifo"; do
        run setfattr -n user.chanfs.fifo -v "$value" "$MNT/ch"
        [ "$status" -ne 0 ]
    done
    grep -q "exists and is not a FIFO" "$CHANFS_LOG"
    grep -q "must be absolute" "$CHANFS_LOG"
    grep -q "inside the chanfs mount" "$CHANFS_LOG"
    [ "$(xattr "$MNT/ch" fifo)" = "in:$FIFODIR/ok.fifo" ]
    [ -p "$FIFODIR/ok.fifo" ]
    [ -f "$FIFODIR/regular" ]
    run setfattr -n user.chanfs.fifo -v "in:$FIFODIR/regular" "$MNT/ch"
    [[ "$output" == *"File exists"* ]]
}

@test "nobody cannot make chanfs create a FIFO where nobody cannot write; can where it can" {
    mkdir "$MNT/pub"
    chmod 0777 "$MNT/pub"
    as_nobody touch "$MNT/pub/ch"
    # Refused: $FIFODIR is root's 0755 directory.
    run as_nobody setfattr -n user.chanfs.fifo -v "in:$FIFODIR/evil.fifo" "$MNT/pub/ch"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Permission denied"* ]]
    [ ! -e "$FIFODIR/evil.fifo" ]
    # Allowed: a directory nobody may write to.
    mkdir "$FIFODIR/open"
    chmod 0777 "$FIFODIR/open"
    as_nobody setfattr -n user.chanfs.fifo -v "in:$FIFODIR/open/ok.fifo" "$MNT/pub/ch"
    [ "$(stat -c %U "$FIFODIR/open/ok.fifo")" = nobody ]
}

@test "only the channel's owner or root may set a bridge" {
    touch "$MNT/rootch"
    chmod 0666 "$MNT/rootch"
    mkdir "$FIFODIR/open"
    chmod 0777 "$FIFODIR/open"
    run as_nobody setfattr -n user.chanfs.fifo -v "in:$FIFODIR/open/x.fifo" "$MNT/rootch"
    [[ "$output" == *"Operation not permitted"* ]]
    [ ! -e "$FIFODIR/open/x.fifo" ]
}

@test "chanctl create --fifo-in, stat shows the bridge and its stats" {
    cd "$FIFODIR"
    "$CHANCTL_BIN" create --kind queue --fifo-in rel.fifo "$MNT/q"
    [ "$(xattr "$MNT/q" fifo)" = "in:$FIFODIR/rel.fifo" ]
    timeout 5 bash -c 'echo hi > "$1"' _ "$FIFODIR/rel.fifo"
    wait_until 5 stat_is "$MNT/q" stats.queued_messages 1
    run "$CHANCTL_BIN" stat "$MNT/q"
    [[ "$output" == *"fifo"*"in:$FIFODIR/rel.fifo"* ]]
    [[ "$output" == *"stats.fifo_bytes"*"3"* ]]
}
