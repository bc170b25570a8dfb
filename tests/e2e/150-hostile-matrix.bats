#!/usr/bin/env bats
# Hostile and bad input, as a table (hostile_matrix.py): each row preloads
# its own channel, tries one bad operation, checks the exact errno (and for
# some rows the daemon's log line), then that the settings are unchanged and
# every preloaded message is still there, whole and in order. A failing row
# prints "FAIL [group: row]: what was wrong".
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

matrix() {
    run timeout 120 /usr/bin/python3 "$BATS_TEST_DIRNAME/hostile_matrix.py" "$MNT" "$CHANFS_LOG" "$1"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *" rows passed"* ]]
}

@test "hostile matrix, settings: garbage, out-of-range and unknown xattrs, EBUSY while open" {
    matrix settings
}

@test "hostile matrix, bridges: malformed FIFO and socket values" {
    matrix bridges
}

@test "hostile matrix, I/O: EMSGSIZE, truncated frames at close, truncate, seeks" {
    matrix io
}

@test "hostile matrix, names: directories, renames, device nodes, links, long names" {
    matrix names
}

@test "a missing or non-directory mountpoint: a clear message and exit code 2" {
    run -2 "$CHANFS_BIN" "$BATS_TEST_TMPDIR/no-such-dir" -f
    [[ "$output" == *"mountpoint $BATS_TEST_TMPDIR/no-such-dir: No such file or directory"* ]]
    touch "$BATS_TEST_TMPDIR/a-file"
    run -2 "$CHANFS_BIN" "$BATS_TEST_TMPDIR/a-file" -f
    [[ "$output" == *"mountpoint $BATS_TEST_TMPDIR/a-file: Not a directory"* ]]
    ! in_mount_table "$BATS_TEST_TMPDIR/a-file"
}
