#!/usr/bin/env bats
# epoll, level- and edge-triggered, with a reader that drains and one that
# takes one message per wake-up, on a pipe channel and on a kernel FIFO side
# by side: a FIFO raises an edge on every write, so must a channel.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

setup() {
    mount_chanfs
    FIFO_DIR="$(mktemp -d /tmp/chanfs-epoll.XXXXXX)"
    mkfifo "$FIFO_DIR/fifo"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$FIFO_DIR"
    return "$status"
}

both() {
    run timeout 30 $PY "$INTEROP_DIR/epoll_wakeups.py" "$FIFO_DIR/fifo" "$1" "$2"
    echo "fifo: $output"
    [ "$status" -eq 0 ]
    for kind in pipe queue topic; do
        touch "$MNT/$kind"
        setfattr -n user.chanfs.kind -v "$kind" "$MNT/$kind"
        run timeout 30 $PY "$INTEROP_DIR/epoll_wakeups.py" "$MNT/$kind" "$1" "$2"
        echo "$kind channel: $output"
        [ "$status" -eq 0 ]
    done
}

@test "level-triggered epoll, draining reader: a wake-up per write" { both lt drain; }
@test "level-triggered epoll, one message per wake-up: data left keeps it ready" { both lt one; }
@test "edge-triggered epoll, draining reader: an edge per write" { both et drain; }
@test "edge-triggered epoll, one message per wake-up: every write raises a new edge" { both et one; }
