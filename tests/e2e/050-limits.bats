#!/usr/bin/env bats
# max_message (EMSGSIZE), capacity and the overflow policies.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

@test "EMSGSIZE for a message over max_message; nothing of it is queued" {
    "$CHANCTL_BIN" create --kind queue --delivery batch --framing lines --max-message 100 "$MNT/q"
    echo before > "$MNT/q"
    run write_once "$MNT/q" 'b"y" * 200 + b"\n"'
    [ "$output" = EMSGSIZE ]
    run write_once "$MNT/q" 'b"z" * 99 + b"\n"'
    [ "$output" = 100 ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 2 ]
    run read_once "$MNT/q" 1000
    [ "$output" = "b'before\\n$(printf 'z%.0s' {1..99})\\n'" ]
}

@test "EMSGSIZE on messages framing, and the shell reports it" {
    "$CHANCTL_BIN" create --kind queue --framing messages --max-message 10 "$MNT/m"
    run bash -c 'printf "%s" 0123456789AB > "$1"' _ "$MNT/m"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Message too long"* ]]
    [ "$(xattr "$MNT/m" stats.queued_messages)" = 0 ]
    [ "$(xattr "$MNT/m" stats.in_bytes)" = 0 ]
}

@test "overflow=error: ENOBUFS when full, nothing already queued is lost" {
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 10 --overflow error "$MNT/q"
    printf '12345678\n' > "$MNT/q"
    run bash -c 'echo more > "$1"' _ "$MNT/q"
    [ "$status" -ne 0 ]
    [[ "$output" == *"No buffer space available"* ]]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 1 ]
    [ "$(xattr "$MNT/q" stats.queued_bytes)" = 9 ]
}

@test "overflow=drop-oldest: the oldest messages go and are counted" {
    "$CHANCTL_BIN" create --kind queue --delivery batch --framing lines --capacity 20 --overflow drop-oldest "$MNT/q"
    local i
    for i in 1 2 3 4 5 6; do
        echo "msg$i" > "$MNT/q"
    done
    # 6 messages of 5 bytes into 20 bytes: the first two are dropped.
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 4 ]
    [ "$(xattr "$MNT/q" stats.drops)" = 2 ]
    [ "$(xattr "$MNT/q" stats.dropped_bytes)" = 10 ]
    run read_once "$MNT/q" 1000
    [ "$output" = "b'msg3\\nmsg4\\nmsg5\\nmsg6\\n'" ]
}

@test "overflow=block with a message larger than the capacity: accepted into an empty channel" {
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 10 "$MNT/q"
    timeout 5 bash -c 'echo "a line longer than ten bytes" > "$1"' _ "$MNT/q"
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 1 ]
}

@test "capacity 1 MiB by default: a pipe writer without a reader blocks at the limit" {
    touch "$MNT/p"
    bg timeout 20 dd if=/dev/zero of="$MNT/p" bs=64k count=32 status=none
    local w=$BG_PID
    wait_until 10 stat_is "$MNT/p" stats.blocked_writers 1
    [ "$(xattr "$MNT/p" stats.queued_bytes)" -le 1048576 ]
    # Draining lets the writer finish; the reader gets all 2 MiB.
    run timeout 20 bash -c 'cat "$1" | wc -c' _ "$MNT/p"
    [ "$output" = 2097152 ]
    timeout_wait 10 "$w"
}
