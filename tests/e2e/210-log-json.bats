#!/usr/bin/env bats
# -o log_format=json: every log line is one JSON object with level and
# event, plus channel and errno when the line has them; the default stays
# text.
bats_require_minimum_version 1.5.0
load helpers

teardown() { chanfs_teardown; }

@test "log_format=json: one object per line, with level, event, channel and errno" {
    mount_chanfs -o log_format=json
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    # A refused setting logs a line about the channel.
    run setfattr -n user.chanfs.capacity -v nonsense "$MNT/q"
    [ "$status" -ne 0 ]
    # A bridge to a directory that does not exist fails with ENOENT.
    run setfattr -n user.chanfs.fifo -v "in:$BATS_TEST_TMPDIR/missing/dir/f" "$MNT/q"
    [ "$status" -ne 0 ]
    stop_chanfs
    python3 - "$CHANFS_LOG" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
records = [json.loads(line) for line in lines]  # every line parses
for r in records:
    assert r["level"] in ("trace", "debug", "info", "warn", "error", "critical"), r
    assert isinstance(r["event"], str) and r["event"], r
    assert isinstance(r["time"], float), r
assert any(r["event"].startswith("chanfs ") and "mounted at" in r["event"] for r in records)
about_q = [r for r in records if r.get("channel") == "/q"]
assert len(about_q) >= 3, about_q
assert about_q, [r["event"] for r in records]
assert any(r.get("errno") == "ENOENT" for r in records), [r["event"] for r in records]
PY
}

@test "log_format: text is the default, anything else is refused" {
    mount_chanfs
    grep -q '^\[[0-9-]* [0-9:.]*\] \[info\] chanfs .* mounted at' "$CHANFS_LOG"
    stop_chanfs
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    run "$CHANFS_BIN" "$MNT" -f -o log_format=xml
    [ "$status" = 2 ]
    [[ "$output" == *"invalid option -o log_format=xml: expected text or json"* ]]
    rmdir "$MNT"
    MNT=""
}
