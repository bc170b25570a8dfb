#!/usr/bin/env bats
# A topic with a Python publisher and C, Node.js and Ruby subscribers: every
# subscriber gets every message, in order.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

setup_file() { build_c queue_io; }
setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

subscriber() {
    case "$1" in
        c) timeout 20 "$BATS_FILE_TMPDIR/queue_io" read "$2" ;;
        js) timeout 20 node "$INTEROP_DIR/queue_io.js" read "$2" ;;
        rb) timeout 20 ruby "$INTEROP_DIR/queue_io.rb" read "$2" ;;
    esac
}

# expected_lines TAG FIRST COUNT
expected_lines() {
    local i
    for ((i = $2; i < $2 + $3; i++)); do
        printf '%-15.15s\n' "$(printf '%s:%06d' "$1" "$i")" | tr ' ' .
    done
}

@test "Python publishes, C, Node and Ruby subscribers each get all messages in order" {
    local t="$MNT/news" n=500 lang
    "$CHANCTL_BIN" create --kind topic --framing lines "$t"
    local subs=()
    for lang in c js rb; do
        bg subscriber "$lang" "$t" > "$BATS_TEST_TMPDIR/got.$lang"
        subs+=("$BG_PID")
    done
    wait_until 10 stat_is "$t" stats.readers 3
    timeout 20 "$PY" "$INTEROP_DIR/lines_writer.py" "$t" py "$n" --end
    local p
    for p in "${subs[@]}"; do wait "$p"; done
    expected_lines py 0 "$n" > "$BATS_TEST_TMPDIR/want"
    for lang in c js rb; do
        diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got.$lang"
    done
    [ "$(xattr "$t" stats.out_messages)" = $((3 * (n + 1))) ]
}

@test "a late subscriber in each language gets the last 'replay' messages, then live ones" {
    local t="$MNT/news" lang
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 5 "$t"
    # Nobody subscribed: the topic keeps only the last 5 and never blocks.
    timeout 20 "$PY" "$INTEROP_DIR/lines_writer.py" "$t" py 40
    [ "$(xattr "$t" stats.queued_messages)" = 5 ]
    local subs=()
    for lang in c js rb; do
        bg subscriber "$lang" "$t" > "$BATS_TEST_TMPDIR/got.$lang"
        subs+=("$BG_PID")
    done
    wait_until 10 stat_is "$t" stats.readers 3
    timeout 20 "$PY" "$INTEROP_DIR/lines_writer.py" "$t" py 3 40 --end
    local p
    for p in "${subs[@]}"; do wait "$p"; done
    expected_lines py 35 8 > "$BATS_TEST_TMPDIR/want"
    for lang in c js rb; do
        diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got.$lang"
    done
}
