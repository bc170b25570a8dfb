#!/usr/bin/env bats
# Python reads lp32 frames with O_NONBLOCK + poll (header, then exactly the
# body) while a Go program writes them.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

setup_file() { build_go lp32_writer; }
setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

# lp32_roundtrip KIND: the reader checks EAGAIN on the empty channel, then the
# Go writer starts; every body must come back exactly and in order.
lp32_roundtrip() {
    local ch="$MNT/frames" n=60
    "$CHANCTL_BIN" create --kind "$1" --framing lp32 "$ch"
    bg timeout 20 "$PY" "$INTEROP_DIR/lp32_reader.py" "$ch" "$n" \
        --ready "$BATS_TEST_TMPDIR/ready" > "$BATS_TEST_TMPDIR/got"
    local reader=$BG_PID
    wait_until 10 test -e "$BATS_TEST_TMPDIR/ready"
    timeout 20 "$BATS_FILE_TMPDIR/lp32_writer" "$ch" "$n" > "$BATS_TEST_TMPDIR/sent"
    wait "$reader"
    [ "$(wc -l < "$BATS_TEST_TMPDIR/sent")" = "$n" ]
    diff "$BATS_TEST_TMPDIR/sent" "$BATS_TEST_TMPDIR/got"
    [ "$(xattr "$ch" stats.queued_messages)" = 0 ]
}

@test "lp32 queue: Python O_NONBLOCK+poll reader gets every Go frame exactly, in order" {
    lp32_roundtrip queue
}

@test "lp32 pipe: Python O_NONBLOCK+poll reader gets every Go frame exactly, in order" {
    lp32_roundtrip pipe
}
