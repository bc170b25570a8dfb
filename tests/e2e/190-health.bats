#!/usr/bin/env bats
# chanctl health MOUNT: 0 when the daemon answers, and a status of its own
# for "not a chanfs mount" (3), a stale mount whose daemon was killed (4),
# a daemon that does not answer in time (5); --json says the same.
bats_require_minimum_version 1.5.0
load helpers

teardown() {
    # A stopped daemon must be able to see its SIGTERM.
    [[ -n "${CHANFS_PID:-}" ]] && kill -CONT "$CHANFS_PID" 2>/dev/null
    chanfs_teardown
}

@test "health: a live mount answers (0), as text and JSON" {
    mount_chanfs
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    run "$CHANCTL_BIN" health "$MNT"
    [ "$status" = 0 ]
    [[ "$output" == "$MNT: chanfs answers (1 entries, "* ]]
    run "$CHANCTL_BIN" health --json "$MNT/"
    [ "$status" = 0 ]
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["state"] == "ok" and r["exit_status"] == 0 and r["entries"] == 1, r
assert r["max_memory"] > 0, r' "$output"
}

@test "health: a plain directory and a non-chanfs mount are not chanfs (3)" {
    local dir="$BATS_TEST_TMPDIR/plain"
    mkdir "$dir"
    run "$CHANCTL_BIN" health "$dir"
    [ "$status" = 3 ]
    [[ "$output" == *"not a chanfs mount (not a mount point)"* ]]
    run "$CHANCTL_BIN" health /proc
    [ "$status" = 3 ]
    [[ "$output" == *"not a chanfs mount (a proc mount)"* ]]
    run "$CHANCTL_BIN" health --json /proc
    [ "$status" = 3 ]
    [[ "$output" == *'"state": "not_chanfs"'* ]]
    run "$CHANCTL_BIN" health "$BATS_TEST_TMPDIR/missing"
    [ "$status" = 1 ]
    [[ "$output" == *"no such file or directory"* ]]
}

@test "health: a stale mount after kill -9 (no auto_unmount) is 4" {
    mount_chanfs
    kill -KILL "$CHANFS_PID"
    wait "$CHANFS_PID" 2>/dev/null || true
    CHANFS_PID=""
    # The mount is still listed, and looking at it fails with ENOTCONN.
    in_mount_table "$MNT"
    run stat "$MNT"
    [[ "$output" == *"Transport endpoint is not connected"* ]]
    run "$CHANCTL_BIN" health "$MNT"
    [ "$status" = 4 ]
    [[ "$output" == *"stale mount"*"ENOTCONN"* ]]
    run "$CHANCTL_BIN" health --json "$MNT"
    [ "$status" = 4 ]
    [[ "$output" == *'"state": "stale"'* ]]
}

@test "health: a daemon that does not answer within --timeout is 5" {
    mount_chanfs
    kill -STOP "$CHANFS_PID"
    run timeout 20 "$CHANCTL_BIN" health --timeout 0.5 "$MNT"
    [ "$status" = 5 ]
    [[ "$output" == *"did not answer within 0.5 s"* ]]
    kill -CONT "$CHANFS_PID"
    run "$CHANCTL_BIN" health "$MNT"
    [ "$status" = 0 ]
    run "$CHANCTL_BIN" health --timeout 0 "$MNT"
    [ "$status" = 2 ]
}
