#!/usr/bin/env bats
# 200 KB messages from two concurrent writers in different languages: every
# read returns one whole message, never interleaved with the other writer's.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

SIZE=200000
setup_file() { build_c big_writer; }
setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

# check_tags FILE TAG:COUNT...: FILE holds "TAG SEQ" lines; each tag's
# sequence numbers are exactly 0..COUNT-1, in order.
check_tags() {
    local file="$1" spec tag n
    shift
    local total=0
    for spec in "$@"; do
        tag="${spec%:*}" n="${spec#*:}"
        total=$((total + n))
        diff <(seq 0 $((n - 1))) <(awk -v t="$tag" '$1 == t {print $2}' "$file")
    done
    [ "$(wc -l < "$file")" = "$total" ]
}

@test "messages framing: C and Node write 200 KB messages at once, Python reads whole ones" {
    local q="$MNT/blobs"
    "$CHANCTL_BIN" create --kind queue --framing messages "$q"
    bg timeout 20 "$PY" "$INTEROP_DIR/messages_reader.py" "$q" 24 "$SIZE" > "$BATS_TEST_TMPDIR/got"
    local reader=$BG_PID
    timeout 20 "$BATS_FILE_TMPDIR/big_writer" messages "$q" c 12 "$SIZE" &
    local w1=$!
    timeout 20 node "$INTEROP_DIR/big_writer.js" messages "$q" js 12 "$SIZE" &
    local w2=$!
    wait "$w1"
    wait "$w2"
    wait "$reader"
    check_tags "$BATS_TEST_TMPDIR/got" c:12 js:12
    [ "$(xattr "$q" stats.drops)" = 0 ]
}

@test "lp32 framing: Ruby (split header) and C write 200 KB frames at once, Python reads whole ones" {
    local q="$MNT/frames"
    "$CHANCTL_BIN" create --kind queue --framing lp32 "$q"
    bg timeout 20 "$PY" "$INTEROP_DIR/lp32_reader.py" "$q" 24 --pattern "$SIZE" > "$BATS_TEST_TMPDIR/got"
    local reader=$BG_PID
    timeout 20 ruby "$INTEROP_DIR/big_writer.rb" lp32 "$q" rb 12 "$SIZE" &
    local w1=$!
    timeout 20 "$BATS_FILE_TMPDIR/big_writer" lp32 "$q" c 12 "$SIZE" &
    local w2=$!
    wait "$w1"
    wait "$w2"
    wait "$reader"
    check_tags "$BATS_TEST_TMPDIR/got" rb:12 c:12
    [ "$(xattr "$q" stats.drops)" = 0 ]
}

@test "messages framing on a pipe: Node and Ruby writers, backlog read after both finish" {
    local p="$MNT/pipe"
    "$CHANCTL_BIN" create --kind pipe --framing messages --capacity 16M "$p"
    # Hold a writer so both writers form one session with one end mark.
    exec 4> "$p"
    timeout 20 node "$INTEROP_DIR/big_writer.js" messages "$p" js 8 "$SIZE" &
    local w1=$!
    timeout 20 ruby "$INTEROP_DIR/big_writer.rb" messages "$p" rb 8 "$SIZE" &
    local w2=$!
    wait "$w1"
    wait "$w2"
    exec 4>&-
    [ "$(xattr "$p" stats.queued_messages)" = 16 ]
    run -0 timeout 20 "$PY" "$INTEROP_DIR/messages_reader.py" "$p" 16 "$SIZE" --eof
    printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/got"
    check_tags "$BATS_TEST_TMPDIR/got" js:8 rb:8
}
