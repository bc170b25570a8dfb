#!/usr/bin/env bats
# C, Node.js and Ruby programs writing and reading a lines queue: every line
# is delivered exactly once across competing readers.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

setup_file() { build_c queue_io; }
setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

# qio LANG ARGS...: runs the queue_io program of one language.
qio() {
    local lang="$1"
    shift
    case "$lang" in
        c) timeout 20 "$BATS_FILE_TMPDIR/queue_io" "$@" ;;
        js) timeout 20 node "$INTEROP_DIR/queue_io.js" "$@" ;;
        rb) timeout 20 ruby "$INTEROP_DIR/queue_io.rb" "$@" ;;
    esac
}

# expected_lines TAG COUNT: what queue_io write TAG COUNT sends.
expected_lines() {
    local i
    for ((i = 0; i < $2; i++)); do
        printf '%-15.15s\n' "$(printf '%s:%06d' "$1" "$i")" | tr ' ' .
    done
}

# send_end CHANNEL N: one END line per reader, after all the data.
send_end() {
    local i
    for ((i = 0; i < $2; i++)); do
        printf 'END............\n' > "$1"
    done
}

@test "C, Node and Ruby writers; C, Node and Ruby readers compete: each line exactly once" {
    local q="$MNT/work" n=300 lang
    "$CHANCTL_BIN" create --kind queue --framing lines "$q"
    local readers=()
    for lang in c js rb; do
        bg qio "$lang" read "$q" > "$BATS_TEST_TMPDIR/got.$lang"
        readers+=("$BG_PID")
    done
    wait_until 10 stat_is "$q" stats.readers 3
    local writers=()
    for lang in c js rb; do
        qio "$lang" write "$q" "$lang" "$n" &
        writers+=($!)
    done
    local p
    for p in "${writers[@]}"; do wait "$p"; done
    send_end "$q" 3
    for p in "${readers[@]}"; do wait "$p"; done

    cat "$BATS_TEST_TMPDIR"/got.* | sort > "$BATS_TEST_TMPDIR/got"
    for lang in c js rb; do expected_lines "$lang" "$n"; done | sort > "$BATS_TEST_TMPDIR/want"
    [ "$(wc -l < "$BATS_TEST_TMPDIR/want")" = 900 ]
    [ -z "$(uniq -d "$BATS_TEST_TMPDIR/got")" ]
    diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
    # A single writer's lines reach each reader in the order they were sent.
    for lang in c js rb; do
        for f in "$BATS_TEST_TMPDIR"/got.*; do
            grep "^$lang:" "$f" | sort -c
        done
    done
    [ "$(xattr "$q" stats.queued_messages)" = 0 ]
    [ "$(xattr "$q" stats.out_messages)" = 903 ]
}

@test "queue pairs across languages keep order: C->Node, Node->Ruby, Ruby->C" {
    local n=200 pair w r
    for pair in c:js js:rb rb:c; do
        w="${pair%:*}" r="${pair#*:}"
        "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/$w-$r"
        # The writer goes first: a queue keeps messages until someone reads.
        qio "$w" write "$MNT/$w-$r" "$w" "$n"
        send_end "$MNT/$w-$r" 1
        [ "$(xattr "$MNT/$w-$r" stats.queued_messages)" = $((n + 1)) ]
        run -0 qio "$r" read "$MNT/$w-$r"
        [ "$output" = "$(expected_lines "$w" "$n")" ]
    done
}

@test "an empty queue read blocks in every language until a line arrives" {
    local q="$MNT/q" lang
    "$CHANCTL_BIN" create --kind queue --framing lines "$q"
    for lang in c js rb; do
        bg qio "$lang" read "$q" > "$BATS_TEST_TMPDIR/got.$lang"
        local pid=$BG_PID
        wait_until 10 stat_is "$q" stats.blocked_readers 1
        sleep 0.1
        is_blocked "$pid"
        local want
        want="$(printf '%-15.15s' "$lang:000042" | tr ' ' .)"
        echo "$want" > "$q"
        send_end "$q" 1
        wait "$pid"
        [ "$(cat "$BATS_TEST_TMPDIR/got.$lang")" = "$want" ]
    done
}
