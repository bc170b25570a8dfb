#!/usr/bin/env bats
# chanctl wait blocks in poll(2) on a watcher (an open with access mode 3,
# O_ACCMODE), which the daemon wakes on every change of queued messages,
# readers and writers: it sends no request while nothing changes, wakes
# when the condition comes true, and is counted as neither reader nor writer.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    SOCK="$BATS_TEST_TMPDIR/metrics.sock"
    mount_chanfs -o "metrics=unix:$SOCK"
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
}
teardown() { chanfs_teardown; }

# getxattr_requests: how many getxattr requests the daemon has answered.
getxattr_requests() {
    curl -sS --fail --max-time 10 --unix-socket "$SOCK" http://chanfs/metrics |
        awk 'index($0, "chanfs_fuse_requests_total{op=\"getxattr\"}") == 1 { print $NF; found = 1 }
             END { exit !found }'
}

@test "wait: no request while nothing changes; the timeout is exit status 5" {
    local before after
    before="$(getxattr_requests)"
    run timeout 20 "$CHANCTL_BIN" wait --messages 1 --timeout 0.5 "$MNT/q"
    [ "$status" = 5 ]
    [[ "$output" == *"timed out (stats.queued_messages is 0)"* ]]
    after="$(getxattr_requests)"
    # One stat read (a size probe and the read) for the one state it saw;
    # a loop reading the stat every 10 ms makes about fifty.
    echo "getxattr requests during the wait: $((after - before))" >&3
    [ "$((after - before))" -le 4 ]
}

@test "wait: wakes when the condition comes true, reading the stat once per change" {
    bg "$CHANCTL_BIN" wait --messages 3 --timeout 20 "$MNT/q"
    local waiter="$BG_PID" before after
    wait_until 5 is_blocked "$waiter"
    before="$(getxattr_requests)"
    "$CHANCTL_BIN" pub "$MNT/q" 1
    "$CHANCTL_BIN" pub "$MNT/q" 2
    run ! is_gone "$waiter"
    "$CHANCTL_BIN" pub "$MNT/q" 3
    timeout_wait 20 "$waiter"
    after="$(getxattr_requests)"
    # Each pub reads the framing (2 requests: the size, then the value; the
    # kernel may add a security.capability probe for its write) and opens,
    # writes and closes (writers 0->1, a message, writers 1->0: at most
    # three wake-ups, each one stat read of 2 requests); the waiter's first
    # read may come after `before`: 3 * (3 + 3 * 2) + 2 = 29 at most.
    echo "getxattr requests while it waited: $((after - before))" >&3
    [ "$((after - before))" -le 29 ]
}

@test "wait: the watcher is neither reader nor writer, on every kind" {
    local kind hold='import os, sys, time; fd = os.open(sys.argv[1], int(sys.argv[2])); time.sleep(60)'
    for kind in pipe queue topic; do
        "$CHANCTL_BIN" create --kind "$kind" "$MNT/$kind"
        bg "$CHANCTL_BIN" wait --readers 2 --timeout 20 "$MNT/$kind"
        local waiter="$BG_PID"
        wait_until 5 is_blocked "$waiter"
        [ "$(xattr "$MNT/$kind" stats.readers)" = 0 ]
        [ "$(xattr "$MNT/$kind" stats.writers)" = 0 ]
        bg /usr/bin/python3 -c "$hold" "$MNT/$kind" 0  # O_RDONLY
        bg /usr/bin/python3 -c "$hold" "$MNT/$kind" 1  # O_WRONLY
        # The two holders start in either order: wait for both.
        wait_until 5 stat_is "$MNT/$kind" stats.writers 1
        wait_until 5 stat_is "$MNT/$kind" stats.readers 1
        run ! is_gone "$waiter"
        bg /usr/bin/python3 -c "$hold" "$MNT/$kind" 0
        timeout_wait 20 "$waiter"
        [ "$(xattr "$MNT/$kind" stats.readers)" = 2 ]
        [ "$(xattr "$MNT/$kind" stats.writers)" = 1 ]
    done
}

@test "wait: a removed channel ends the wait with status 1" {
    bg "$CHANCTL_BIN" wait --messages 1 --timeout 20 "$MNT/q"
    local waiter="$BG_PID"
    wait_until 5 is_blocked "$waiter"
    rm "$MNT/q"
    wait_until 20 is_gone "$waiter"
    local rc=0
    wait "$waiter" || rc=$?
    [ "$rc" = 1 ]
}
