#!/usr/bin/env bats
# -o metrics: the Prometheus endpoint. Names and types are what promtool
# accepts, values follow a known workload, the per-channel series stop at
# metrics_max_channels, only loopback is served without metrics_bind_any,
# and scrapes stay correct while channels are busy.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    SOCK="$BATS_TEST_TMPDIR/metrics.sock"
}
teardown() { chanfs_teardown; }

# scrape: GET /metrics over the Unix socket; fails on an HTTP error.
scrape() {
    curl -sS --fail --max-time 10 --unix-socket "$SOCK" http://chanfs/metrics
}

# sample NAME LABELS: the value of one series, e.g. sample
# chanfs_channel_queued_messages 'path="/q"'; fails if it is not there.
sample() {
    scrape | awk -v name="$1" -v labels="$2" '
        { split($0, parts, " ") }
        labels == "" && parts[1] == name { print parts[2]; found = 1 }
        labels != "" && index($0, name "{" labels) == 1 { print $NF; found = 1 }
        END { exit !found }' | head -n 1
}

@test "metrics: promtool accepts a scrape; every family has its type" {
    mount_chanfs -o "metrics=unix:$SOCK"
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    "$CHANCTL_BIN" create --kind topic "$MNT/t"
    echo hello > "$MNT/q"
    scrape > "$BATS_TEST_TMPDIR/scrape"
    promtool check metrics < "$BATS_TEST_TMPDIR/scrape"
    local name type
    for spec in chanfs_build_info:gauge chanfs_memory_bytes:gauge chanfs_memory_limit_bytes:gauge \
        chanfs_entries:gauge chanfs_entries_limit:gauge chanfs_channels:gauge \
        chanfs_parked_requests:gauge chanfs_metrics_omitted_channels:gauge \
        chanfs_fuse_requests_total:counter chanfs_fuse_request_duration_seconds:histogram \
        chanfs_fuse_interrupts_total:counter chanfs_fuse_failed_replies_total:counter \
        chanfs_journal_fsync_duration_seconds:histogram \
        chanfs_channel_queued_messages:gauge chanfs_channel_queued_bytes:gauge \
        chanfs_channel_readers:gauge chanfs_channel_writers:gauge \
        chanfs_channel_blocked_readers:gauge chanfs_channel_blocked_writers:gauge \
        chanfs_channel_in_messages_total:counter chanfs_channel_in_bytes_total:counter \
        chanfs_channel_out_messages_total:counter chanfs_channel_out_bytes_total:counter \
        chanfs_channel_dropped_messages_total:counter chanfs_channel_dropped_bytes_total:counter \
        chanfs_channel_subscriber_backlog_max_bytes:gauge chanfs_bridge_connected:gauge \
        chanfs_bridge_clients:gauge chanfs_bridge_bytes_total:counter chanfs_bridge_failed:gauge; do
        name="${spec%%:*}"
        type="${spec#*:}"
        grep -qx "# TYPE $name $type" "$BATS_TEST_TMPDIR/scrape" || {
            echo "missing: # TYPE $name $type" >&2
            return 1
        }
    done
    grep -q '^chanfs_build_info{version="[0-9.]*"} 1$' "$BATS_TEST_TMPDIR/scrape"
    grep -q '^chanfs_channel_queued_messages{path="/q",kind="queue",backend="memory"} 1$' \
        "$BATS_TEST_TMPDIR/scrape"
    # Only a topic has a subscriber backlog.
    grep -q '^chanfs_channel_subscriber_backlog_max_bytes{path="/t",kind="topic"' "$BATS_TEST_TMPDIR/scrape"
    run ! grep -q '^chanfs_channel_subscriber_backlog_max_bytes{path="/q"' "$BATS_TEST_TMPDIR/scrape"
    # Anything but /metrics is not found.
    run curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://chanfs/other
    [ "$output" = 404 ]
}

@test "metrics: values follow a known workload" {
    mount_chanfs -o "metrics=unix:$SOCK"
    "$CHANCTL_BIN" create --kind queue "$MNT/jobs"
    printf 'one\ntwo\nthree\n' > "$MNT/jobs"
    local l='path="/jobs",kind="queue",backend="memory"'
    [ "$(sample chanfs_channel_queued_messages "$l")" = 3 ]
    [ "$(sample chanfs_channel_queued_bytes "$l")" = 14 ]
    [ "$(sample chanfs_channel_in_messages_total "$l")" = 3 ]
    [ "$(sample chanfs_channel_in_bytes_total "$l")" = 14 ]
    [ "$(sample chanfs_channel_out_messages_total "$l")" = 0 ]
    [ "$(read_once "$MNT/jobs" 4)" = "b'one\\n'" ]
    [ "$(sample chanfs_channel_queued_messages "$l")" = 2 ]
    [ "$(sample chanfs_channel_out_messages_total "$l")" = 1 ]
    [ "$(sample chanfs_channel_out_bytes_total "$l")" = 4 ]
    [ "$(sample chanfs_entries '')" = 1 ]
    [ "$(sample chanfs_channels '')" = 1 ]
    [ "$(sample chanfs_memory_bytes '')" -gt 0 ]
    # A blocked reader is a parked request and a blocked reader of its channel.
    "$CHANCTL_BIN" create --kind queue "$MNT/empty"
    bg cat "$MNT/empty"
    wait_until 5 stat_is "$MNT/empty" stats.blocked_readers 1
    [ "$(sample chanfs_parked_requests '')" = 1 ]
    [ "$(sample chanfs_channel_blocked_readers 'path="/empty"')" = 1 ]
    [ "$(sample chanfs_channel_readers 'path="/empty"')" = 1 ]
    # Interrupting it (the reader is killed) is counted.
    kill -TERM "$BG_PID"
    wait_until 5 stat_is "$MNT/empty" stats.blocked_readers 0
    [ "$(sample chanfs_fuse_interrupts_total '')" -ge 1 ]
    # Requests are counted by operation: five getxattr more than before
    # (Python's getxattr is one request when the value fits 128 bytes).
    local before after
    before="$(sample chanfs_fuse_requests_total 'op="getxattr"')"
    /usr/bin/python3 -c '
import os, sys
for _ in range(5):
    os.getxattr(sys.argv[1], "user.chanfs.stats.readers")
' "$MNT/jobs"
    after="$(sample chanfs_fuse_requests_total 'op="getxattr"')"
    [ "$((after - before))" = 5 ]
    [ "$(sample chanfs_fuse_request_duration_seconds_count '')" -gt 0 ]
}

@test "metrics: a topic's slowest subscriber backlog in bytes" {
    mount_chanfs -o "metrics=unix:$SOCK"
    "$CHANCTL_BIN" create --kind topic --framing lines "$MNT/news"
    # A subscriber that opens and never reads: everything published waits for it.
    bg /usr/bin/python3 -c 'import os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); time.sleep(60)' "$MNT/news"
    wait_until 5 stat_is "$MNT/news" stats.readers 1
    printf '%s\n' 0123456789 0123456789 0123456789 > "$MNT/news"
    [ "$(sample chanfs_channel_subscriber_backlog_max_bytes 'path="/news"')" = 33 ]
}

@test "metrics: past metrics_max_channels, channels are counted and left out" {
    mount_chanfs -o "metrics=unix:$SOCK,metrics_max_channels=2"
    local i
    for i in a b c d e; do "$CHANCTL_BIN" create --kind queue "$MNT/$i"; done
    scrape > "$BATS_TEST_TMPDIR/scrape"
    promtool check metrics < "$BATS_TEST_TMPDIR/scrape"
    [ "$(grep -c '^chanfs_channel_queued_messages{' "$BATS_TEST_TMPDIR/scrape")" = 2 ]
    # The first two by path, the same every scrape.
    grep -q '^chanfs_channel_queued_messages{path="/a"' "$BATS_TEST_TMPDIR/scrape"
    grep -q '^chanfs_channel_queued_messages{path="/b"' "$BATS_TEST_TMPDIR/scrape"
    grep -qx 'chanfs_metrics_omitted_channels 3' "$BATS_TEST_TMPDIR/scrape"
    grep -qx 'chanfs_channels 5' "$BATS_TEST_TMPDIR/scrape"
}

@test "metrics: a TCP address is loopback only unless metrics_bind_any" {
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    run "$CHANFS_BIN" "$MNT" -f -o metrics=0.0.0.0:0
    [ "$status" = 1 ]
    [[ "$output" == *"not a loopback address"*"metrics_bind_any"* ]]
    [[ "$output" == *"nothing mounted"* ]]
    not_in_mount_table "$MNT"
    run "$CHANFS_BIN" "$MNT" -f -o metrics=example.org:80
    [ "$status" = 1 ]
    [[ "$output" == *"not a numeric"* ]]
    rmdir "$MNT"
    # Port 0: the daemon picks one and logs it.
    mount_chanfs -o metrics=127.0.0.1:0
    wait_until 5 grep -q 'metrics at 127.0.0.1:[0-9]*/metrics' "$CHANFS_LOG"
    local url
    url="http://$(grep -o 'metrics at 127.0.0.1:[0-9]*' "$CHANFS_LOG" | head -n 1 | cut -d' ' -f3)/metrics"
    curl -sS --fail --max-time 10 "$url" | promtool check metrics
}

@test "metrics: scrapes under load stay valid and never disturb the data" {
    mount_chanfs -o "metrics=unix:$SOCK"
    "$CHANCTL_BIN" create --kind pipe --framing lines "$MNT/busy"
    local i
    for i in $(seq 1 50); do "$CHANCTL_BIN" create --kind topic "$MNT/idle$i"; done
    seq 1 200000 > "$BATS_TEST_TMPDIR/want"
    bg sh -c "cat '$MNT/busy' > '$BATS_TEST_TMPDIR/got'"
    local reader="$BG_PID"
    bg sh -c "cat '$BATS_TEST_TMPDIR/want' > '$MNT/busy'"
    local writer="$BG_PID"
    local n=0
    while ! is_gone "$reader" && ((n < 200)); do
        scrape > "$BATS_TEST_TMPDIR/scrape"
        promtool check metrics < "$BATS_TEST_TMPDIR/scrape"
        grep -qx 'chanfs_channels 51' "$BATS_TEST_TMPDIR/scrape"
        n=$((n + 1))
    done
    timeout_wait 60 "$writer"
    timeout_wait 60 "$reader"
    BG_PIDS=()
    cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
    ((n >= 1))
    [ "$(sample chanfs_channel_out_messages_total 'path="/busy"')" = 200000 ]
}

@test "metrics: the Grafana dashboard uses only names a scrape has" {
    mount_chanfs -o "metrics=unix:$SOCK"
    "$CHANCTL_BIN" create --kind topic "$MNT/t"
    scrape > "$BATS_TEST_TMPDIR/scrape"
    local dashboard="$BATS_TEST_DIRNAME/../../packaging/grafana/chanfs-dashboard.json"
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$dashboard"
    local names name
    names="$(grep -oE 'chanfs_[a-z_]+' "$dashboard" | sort -u)"
    [ -n "$names" ]
    for name in $names; do
        name="${name%_bucket}"
        grep -q "^# TYPE $name " "$BATS_TEST_TMPDIR/scrape" || {
            echo "dashboard uses $name, which no scrape has" >&2
            return 1
        }
    done
}
