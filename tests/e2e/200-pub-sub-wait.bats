#!/usr/bin/env bats
# chanctl pub, sub and wait: the framing applied for the script, counts,
# timeouts (exit 5), and no race between a subscriber and a writer started
# right after it signals --ready-fd.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

@test "pub: one message per operand, per stdin line, or a whole --file, in each framing" {
    "$CHANCTL_BIN" create --kind queue --delivery batch "$MNT/lines"
    "$CHANCTL_BIN" pub "$MNT/lines" one "two words"
    printf 'three\nfour\n' | "$CHANCTL_BIN" pub "$MNT/lines"
    [ "$(xattr "$MNT/lines" stats.queued_messages)" = 4 ]
    [ "$(read_once "$MNT/lines" 100)" = "b'one\\ntwo words\\nthree\\nfour\\n'" ]

    "$CHANCTL_BIN" create --kind queue --delivery batch --framing lp32 "$MNT/frames"
    "$CHANCTL_BIN" pub "$MNT/frames" a bcd
    [ "$(read_once "$MNT/frames" 100)" = "b'\\x01\\x00\\x00\\x00a\\x03\\x00\\x00\\x00bcd'" ]

    "$CHANCTL_BIN" create --kind queue --delivery batch --framing messages "$MNT/msgs"
    printf 'x\ny\n' > "$BATS_TEST_TMPDIR/body"
    "$CHANCTL_BIN" pub --file "$BATS_TEST_TMPDIR/body" "$MNT/msgs"
    [ "$(xattr "$MNT/msgs" stats.queued_messages)" = 1 ]
    [ "$(read_once "$MNT/msgs" 100)" = "b'x\\ny\\n'" ]

    run "$CHANCTL_BIN" pub "$BATS_TEST_TMPDIR/body" hi
    [ "$status" = 1 ]
    [[ "$output" == *"not a chanfs channel"* ]]
}

@test "sub -n: exits 0 after COUNT and leaves the rest of a queue for others" {
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    "$CHANCTL_BIN" pub "$MNT/q" m1 m2 m3 m4 m5
    run "$CHANCTL_BIN" sub -n 2 "$MNT/q"
    [ "$status" = 0 ]
    [ "$output" = $'m1\nm2' ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 3 ]
    run "$CHANCTL_BIN" sub -n 3 --json "$MNT/q"
    [ "$status" = 0 ]
    [ "$output" = $'{"message": "m3\\n"}\n{"message": "m4\\n"}\n{"message": "m5\\n"}' ]
    # lp32: the same count, frames or decoded bodies.
    "$CHANCTL_BIN" create --kind queue --framing lp32 "$MNT/l"
    "$CHANCTL_BIN" pub "$MNT/l" alpha beta gamma
    run "$CHANCTL_BIN" sub -n 2 --lp32-decode "$MNT/l"
    [ "$status" = 0 ]
    [ "$output" = $'alpha\nbeta' ]
    [ "$(xattr "$MNT/l" stats.queued_messages)" = 1 ]
}

@test "sub --timeout: exit 5 with what arrived printed; end of stream before COUNT is 1" {
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    "$CHANCTL_BIN" pub "$MNT/q" only
    run timeout 20 "$CHANCTL_BIN" sub -n 3 --timeout 0.3 "$MNT/q"
    [ "$status" = 5 ]
    [[ "$output" == "only"*"timed out after 1 message"* ]]
    # A pipe whose writer closes: end of stream.
    "$CHANCTL_BIN" create --kind pipe --framing lines "$MNT/p"
    bg sh -c "printf 'a\nb\n' > '$MNT/p'"
    run timeout 20 "$CHANCTL_BIN" sub "$MNT/p"
    [ "$status" = 0 ]
    [ "$output" = $'a\nb' ]
    bg sh -c "printf 'a\n' > '$MNT/p'"
    run timeout 20 "$CHANCTL_BIN" sub -n 2 "$MNT/p"
    [ "$status" = 1 ]
    [[ "$output" == *"end of stream after 1 of 2 messages"* ]]
}

@test "sub --ready-fd: a topic writer started right after it signals is never missed" {
    "$CHANCTL_BIN" create --kind topic "$MNT/news"
    local i
    for i in $(seq 1 20); do
        rm -f "$BATS_TEST_TMPDIR/ready" "$BATS_TEST_TMPDIR/out"
        mkfifo "$BATS_TEST_TMPDIR/ready"
        # The subscriber writes a newline to fd 4 once it is subscribed;
        # the writer starts the moment that line is read, not a moment later.
        "$CHANCTL_BIN" sub -n 1 --timeout 20 --ready-fd 4 "$MNT/news" \
            4>"$BATS_TEST_TMPDIR/ready" > "$BATS_TEST_TMPDIR/out" 3>&- &
        local sub=$!
        read -r _ < "$BATS_TEST_TMPDIR/ready"
        "$CHANCTL_BIN" pub "$MNT/news" "round $i"
        wait "$sub"
        [ "$(cat "$BATS_TEST_TMPDIR/out")" = "round $i" ]
    done
    # The signal comes after subscribing: without a subscriber, a topic
    # message is gone, so each round above would have timed out (exit 5).
    [ "$(xattr "$MNT/news" stats.readers)" = 0 ]
}

@test "wait: --messages N, --readers N and --empty block until they hold; --timeout is 5" {
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    bg "$CHANCTL_BIN" wait --messages 3 --timeout 20 "$MNT/q"
    local waiter="$BG_PID"
    "$CHANCTL_BIN" pub "$MNT/q" 1 2
    run ! is_gone "$waiter"
    "$CHANCTL_BIN" pub "$MNT/q" 3
    timeout_wait 20 "$waiter"

    bg "$CHANCTL_BIN" wait --empty --timeout 20 "$MNT/q"
    waiter="$BG_PID"
    "$CHANCTL_BIN" sub -n 2 "$MNT/q" > /dev/null
    run ! is_gone "$waiter"
    "$CHANCTL_BIN" sub -n 1 "$MNT/q" > /dev/null
    timeout_wait 20 "$waiter"

    bg "$CHANCTL_BIN" wait --readers 2 --timeout 20 "$MNT/q"
    waiter="$BG_PID"
    local hold='import os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); time.sleep(60)'
    bg /usr/bin/python3 -c "$hold" "$MNT/q"
    wait_until 5 stat_is "$MNT/q" stats.readers 1
    run ! is_gone "$waiter"
    bg /usr/bin/python3 -c "$hold" "$MNT/q"
    timeout_wait 20 "$waiter"

    run timeout 20 "$CHANCTL_BIN" wait --messages 1 --timeout 0.2 "$MNT/q"
    [ "$status" = 5 ]
    [[ "$output" == *"timed out (stats.queued_messages is 0)"* ]]
    run "$CHANCTL_BIN" wait --timeout 1 "$MNT/q"
    [ "$status" = 2 ]
    run "$CHANCTL_BIN" wait --empty --readers 1 "$MNT/q"
    [ "$status" = 2 ]
}
