#!/usr/bin/env bats
# A Go writer that mkfifo()s its path and writes one message per open/close;
# a Python reader that loops open/read-to-EOF/close gets one session per loop.
# A failure shows the sessions as JSON strings, so a merged one ("a\nb\n")
# stands out in the diff.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

setup_file() { build_go mkfifo_writer; }
setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

expected_sessions() {
    local tag="$1" n="$2" i
    for ((i = 0; i < n; i++)); do
        printf '"%s-%d\\n"\n' "$tag" "$i"
    done
}

@test "sessions written while no reader was there are all kept, one per reader loop" {
    local ch="$MNT/jobs" n=25
    timeout 20 "$BATS_FILE_TMPDIR/mkfifo_writer" "$ch" early "$n"
    [ -f "$ch" ]
    [ "$(xattr "$ch" kind)" = pipe ]
    [ "$(stat -c %a "$ch")" = 644 ]
    run timeout 20 "$PY" "$INTEROP_DIR/session_reader.py" "$ch" "$n"
    diff <(expected_sessions early "$n") <(printf '%s\n' "$output")
    [ "$status" -eq 0 ]
    [ "$(xattr "$ch" stats.queued_bytes)" = 0 ]
}

@test "reader and writer running together: still exactly one session per loop" {
    local ch="$MNT/jobs" n=200
    bg timeout 20 "$PY" "$INTEROP_DIR/session_reader.py" "$ch" "$n" 10 > "$BATS_TEST_TMPDIR/got"
    local reader=$BG_PID
    timeout 20 "$BATS_FILE_TMPDIR/mkfifo_writer" "$ch" live "$n"
    local status=0
    wait "$reader" || status=$?
    diff <(expected_sessions live "$n") "$BATS_TEST_TMPDIR/got"
    [ "$status" -eq 0 ]
}

@test "a backlog then live sessions, with the writer reusing the existing channel" {
    local ch="$MNT/jobs"
    timeout 20 "$BATS_FILE_TMPDIR/mkfifo_writer" "$ch" before 10
    bg timeout 20 "$PY" "$INTEROP_DIR/session_reader.py" "$ch" 40 > "$BATS_TEST_TMPDIR/got"
    local reader=$BG_PID
    # The second run finds the path and must not fail on mkfifo (EEXIST).
    timeout 20 "$BATS_FILE_TMPDIR/mkfifo_writer" "$ch" after 30
    local status=0
    wait "$reader" || status=$?
    diff <(expected_sessions before 10; expected_sessions after 30) "$BATS_TEST_TMPDIR/got"
    [ "$status" -eq 0 ]
}
