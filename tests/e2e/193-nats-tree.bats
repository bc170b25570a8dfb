#!/usr/bin/env bats
# The shared tree (docs/nats.md, "The shared tree"): two mounts on one
# nats-server (JetStream) stand for two hosts. mkdir, touch, chanctl
# create, setfattr, rm, rmdir and mv inside a NATS-backed directory on one
# mount appear on the other; a local directory stays local. Every wait is a
# loop with a timeout.
bats_require_minimum_version 1.5.0
load helpers

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() {
    /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" 2>/dev/null
}

# start_nats: the server on $PORT with its store in $WORK/js (kept across
# a restart), log appended to $WORK/nats.log; waits until it listens.
start_nats() {
    nats-server -a 127.0.0.1 -p "$PORT" -js -sd "$WORK/js" >>"$WORK/nats.log" 2>&1 3>&- &
    NATS_PID=$!
    wait_until 10 port_open "$PORT"
}

# stop_nats: SIGTERM to the server the test started, reaped.
stop_nats() {
    if [[ -n "${NATS_PID:-}" ]]; then
        kill -TERM "$NATS_PID" 2>/dev/null || true
        wait "$NATS_PID" 2>/dev/null || true
        NATS_PID=""
    fi
}

setup() {
    WORK="$(mktemp -d /tmp/chanfs-natstree.XXXXXX)"
    PORT="$(free_port)"
    start_nats
    mkdir "$WORK/state-a" "$WORK/state-b"
    CHANFS_SOURCE="$WORK/state-a" mount_chanfs -o "nats=nats://127.0.0.1:$PORT"
    A="$MNT" A_PID="$CHANFS_PID"
    mv "$CHANFS_LOG" "$BATS_TEST_TMPDIR/a.log"  # the daemon keeps writing to it
    CHANFS_SOURCE="$WORK/state-b" mount_chanfs -o "nats=nats://127.0.0.1:$PORT"
    B="$MNT" B_PID="$CHANFS_PID"
    mv "$CHANFS_LOG" "$BATS_TEST_TMPDIR/b.log"
    MNT="" CHANFS_PID=""
}

teardown() {
    local status=0 side
    for side in a b; do
        if [[ $side == a ]]; then MNT="${A:-}" CHANFS_PID="${A_PID:-}"; else MNT="${B:-}" CHANFS_PID="${B_PID:-}"; fi
        CHANFS_LOG="$BATS_TEST_TMPDIR/$side.log"
        chanfs_teardown || status=1
    done
    stop_nats
    rm -rf "$WORK"
    return "$status"
}

# A NATS-backed directory /plant made on A, seen on B. Its channels are
# queues: a pipe cannot be a NATS channel, and one made here stays local.
plant() {
    mkdir "$A/plant"
    setfattr -n user.chanfs.kind -v queue "$A/plant"
    setfattr -n user.chanfs.backend -v nats "$A/plant"
    wait_until 10 stat_is "$B/plant" backend nats
}

gone() { [[ ! -e "$1" ]]; }

@test "mkdir, touch, chanctl create and setfattr on one mount appear on the other" {
    plant
    mkdir "$A/plant/sub"
    touch "$A/plant/sub/t1"
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 10 "$A/plant/temp"
    wait_until 5 test -d "$B/plant/sub"
    wait_until 5 test -f "$B/plant/sub/t1"
    wait_until 5 stat_is "$B/plant/temp" replay 10
    [[ "$(xattr "$B/plant/temp" kind)" == topic ]]
    [[ "$(xattr "$B/plant/temp" framing)" == lines ]]
    [[ "$(xattr "$B/plant/temp" backend)" == nats ]]
    run ls "$B/plant"
    [[ "$output" == *sub* && "$output" == *temp* ]]
    setfattr -n user.chanfs.capacity -v 64K "$A/plant/temp"
    wait_until 5 stat_is "$B/plant/temp" capacity 65536
    chmod 0600 "$A/plant/sub/t1"
    wait_until 5 bash -c '[[ "$(stat -c %a "$1")" == 600 ]]' _ "$B/plant/sub/t1"
    # And the other way.
    touch "$B/plant/from-b"
    wait_until 5 test -f "$A/plant/from-b"
}

@test "rm, rmdir and mv on one mount appear on the other" {
    plant
    mkdir "$A/plant/d"
    touch "$A/plant/d/q" "$A/plant/x"
    wait_until 5 test -f "$B/plant/d/q"
    wait_until 5 test -f "$B/plant/x"
    rm "$A/plant/x"
    wait_until 5 gone "$B/plant/x"
    mv "$A/plant/d" "$A/plant/e"
    wait_until 5 test -f "$B/plant/e/q"
    wait_until 5 gone "$B/plant/d"
    mv "$A/plant/e/q" "$A/plant/q2"
    wait_until 5 test -f "$B/plant/q2"
    wait_until 5 gone "$B/plant/e/q"
    rmdir "$A/plant/e"
    wait_until 5 gone "$B/plant/e"
    [[ -f "$B/plant/q2" ]]
}

@test "a local directory stays local" {
    plant
    mkdir "$A/local"
    touch "$A/local/x"
    setfattr -n user.chanfs.kind -v queue "$A/local"
    # The tree is stored in order: once a later shared change is on B,
    # anything of /local would be there too.
    mkdir "$A/plant/after"
    wait_until 5 test -d "$B/plant/after"
    [[ ! -e "$B/local" ]]
    # A directory that stops being NATS-backed leaves the other mounts.
    setfattr -n user.chanfs.backend -v memory "$A/plant"
    wait_until 5 gone "$B/plant"
}

@test "a mount that comes later gets the whole shared tree" {
    plant
    mkdir "$A/plant/sub"
    "$CHANCTL_BIN" create --kind queue "$A/plant/sub/jobs"
    wait_until 5 test -f "$B/plant/sub/jobs"
    mkdir "$WORK/state-c"
    CHANFS_SOURCE="$WORK/state-c" mount_chanfs -o "nats=nats://127.0.0.1:$PORT"
    C="$MNT" C_PID="$CHANFS_PID"
    mv "$CHANFS_LOG" "$BATS_TEST_TMPDIR/c.log"
    wait_until 5 stat_is "$C/plant/sub/jobs" kind queue
    MNT="$C" CHANFS_PID="$C_PID" CHANFS_LOG="$BATS_TEST_TMPDIR/c.log"
    chanfs_teardown
}

@test "a queue made on one mount carries messages to the other" {
    plant
    touch "$A/plant/jobs"
    wait_until 5 test -f "$B/plant/jobs"
    echo job1 >"$A/plant/jobs"
    run timeout 10 head -n1 "$B/plant/jobs"
    [[ "$status" -eq 0 && "$output" == job1 ]]
}

@test "rm of a NATS queue: made again it has none of the old messages; a cat parked on the other mount ends" {
    plant
    touch "$A/plant/jobs"
    wait_until 5 test -f "$B/plant/jobs"
    echo old >"$A/plant/jobs"
    rm "$A/plant/jobs"
    wait_until 5 gone "$B/plant/jobs"
    touch "$A/plant/jobs"
    wait_until 5 test -f "$B/plant/jobs"
    echo new >"$A/plant/jobs"
    run timeout 10 head -n1 "$B/plant/jobs"
    [[ "$status" -eq 0 && "$output" == new ]]
    # A reader parked on B; rm on A: B's cat ends (end-of-stream), no hang.
    timeout 20 cat "$B/plant/jobs" >"$WORK/cat.out" 2>&1 3>&- &
    local cat_pid=$!
    wait_until 5 stat_is "$B/plant/jobs" stats.blocked_readers 1
    rm "$A/plant/jobs"
    local rc=0
    wait "$cat_pid" || rc=$?
    [[ "$rc" -eq 0 ]]  # 124: timeout killed it, the cat hung
    [[ ! -s "$WORK/cat.out" ]]
}

@test "changes made while the server is down reach the other mount once it is back" {
    plant
    stop_nats
    mkdir "$A/plant/offline"
    start_nats
    wait_until 15 test -d "$B/plant/offline"
}

@test "changes made while the server is down survive a restart of the mount that made them" {
    plant
    stop_nats
    mkdir "$A/plant/offline"
    setfattr -n user.chanfs.capacity -v 7 "$A/plant"
    # A stops before the server is back: its outbox is on disk.
    MNT="$A" CHANFS_PID="$A_PID" CHANFS_LOG="$BATS_TEST_TMPDIR/a.log"
    chanfs_teardown
    A="" A_PID=""
    [[ -s "$WORK/state-a/state/tree-outbox.log" ]]
    grep -q "kept in tree-outbox.log" "$BATS_TEST_TMPDIR/a.log"
    CHANFS_SOURCE="$WORK/state-a" mount_chanfs -o "nats=nats://127.0.0.1:$PORT"
    A="$MNT" A_PID="$CHANFS_PID"
    mv "$CHANFS_LOG" "$BATS_TEST_TMPDIR/a2.log"
    MNT="" CHANFS_PID=""
    grep -q "change(s) to the shared tree wait from the last run" "$BATS_TEST_TMPDIR/a2.log"
    start_nats
    wait_until 15 test -d "$B/plant/offline"
    wait_until 15 stat_is "$B/plant" capacity 7
    # All stored: the file is emptied.
    wait_until 10 bash -c "[[ ! -s '$WORK/state-a/state/tree-outbox.log' ]]"
    [[ -d "$A/plant/offline" ]]
}

@test "the README example: a directory with only backend=nats, channels made by chanctl" {
    mkdir "$A/plant"
    setfattr -n user.chanfs.backend -v nats "$A/plant"
    # Its default kind is pipe, which cannot be NATS-backed: touch is refused.
    run -1 touch "$A/plant/pipe"
    [[ "$output" == *"Invalid argument"* ]]
    [[ ! -e "$A/plant/pipe" ]]
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 10 "$A/plant/temp"
    "$CHANCTL_BIN" create --kind queue --framing lines "$A/plant/jobs"
    wait_until 5 stat_is "$B/plant/temp" replay 10
    wait_until 5 stat_is "$B/plant/jobs" kind queue
    [[ "$(xattr "$B/plant/temp" backend)" == nats ]]
    [[ ! -e "$B/plant/pipe" ]]
}
