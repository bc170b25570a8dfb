#!/usr/bin/env bats
# systemd Type=notify: with NOTIFY_SOCKET set, chanfs says READY=1 only once
# the mount answers (the tree and durable channels restored), STATUS= with
# entries and memory, WATCHDOG=1 while the request loop answers when
# WATCHDOG_USEC asks for it, and STOPPING=1 on the way out. The socket is
# the test's own (notify_listener.py), not systemd's.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    WORK="$(mktemp -d /tmp/chanfs-notify.XXXXXX)"
    NSOCK="$WORK/notify.sock"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    [[ -n "${LISTENER:-}" ]] && kill "$LISTENER" 2>/dev/null
    rm -rf "$WORK"
    return "$status"
}

# listen [CHANNEL]: starts the listener; its records go to $WORK/records.
listen() {
    python3 "$BATS_TEST_DIRNAME/notify_listener.py" "$NSOCK" "$MNT_FOR_LISTENER" "$@" \
        > "$WORK/records" 3>&- &
    LISTENER=$!
    wait_until 10 test -e "$NSOCK.bound"
}

watchdogs_at_least() { (($(grep -c WATCHDOG "$WORK/records") >= $1)); }

# field N KEY: KEY of the Nth record (1-based), "" if absent.
field() {
    sed -n "${1}p" "$WORK/records" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read() or "{}")
key = sys.argv[1]
print(r.get("fields", {}).get(key, r.get(key, "")))' "$2"
}

@test "notify: READY=1 after the mount answers and the durable channel is back, then STOPPING=1" {
    # A state directory with a durable queue holding two messages.
    mkdir "$WORK/state"
    CHANFS_SOURCE="$WORK/state" mount_chanfs
    "$CHANCTL_BIN" create --kind queue --durable "$MNT/kept"
    printf 'a\nb\n' > "$MNT/kept"
    stop_chanfs
    MNT_FOR_LISTENER="$WORK/mnt"
    mkdir "$MNT_FOR_LISTENER"
    listen kept
    NOTIFY_SOCKET="$NSOCK" "$CHANFS_BIN" "$WORK/state" "$MNT_FOR_LISTENER" -f 2>"$WORK/log" 3>&- &
    CHANFS_PID=$!
    MNT="$MNT_FOR_LISTENER"
    wait_until 10 grep -q READY "$WORK/records"
    # Nothing before READY; at READY the mount answered and the messages were back.
    [ "$(field 1 READY)" = 1 ]
    [ "$(field 1 mount_error)" = "" ]
    [ "$(field 1 entries)" = 1 ]
    [ "$(field 1 queued)" = 2 ]
    [[ "$(field 1 STATUS)" == "1 entries, "*" bytes of memory" ]]
    kill -TERM "$CHANFS_PID"
    timeout_wait 10 "$CHANFS_PID"
    CHANFS_PID=""
    timeout_wait 10 "$LISTENER"
    LISTENER=""
    # READY first, STOPPING last, and nothing after it.
    local last
    last="$(wc -l < "$WORK/records")"
    [ "$(field "$last" STOPPING)" = 1 ]
    run ! grep -q '"error"' "$WORK/records"
}

@test "notify: WATCHDOG=1 keeps coming while the request loop answers" {
    MNT_FOR_LISTENER="$WORK/mnt"
    mkdir "$MNT_FOR_LISTENER"
    listen
    # 200 ms: pings every 100 ms; the count is checked, never the timing.
    NOTIFY_SOCKET="$NSOCK" WATCHDOG_USEC=200000 "$CHANFS_BIN" "$MNT_FOR_LISTENER" -f \
        2>"$WORK/log" 3>&- &
    CHANFS_PID=$!
    MNT="$MNT_FOR_LISTENER"
    wait_until 20 watchdogs_at_least 3
    [ "$(field 1 READY)" = 1 ]
    # No WATCHDOG before READY.
    [ "$(field 1 WATCHDOG)" = "" ]
    [ "$(field 2 WATCHDOG)" = 1 ]
    [[ "$(field 2 STATUS)" == "0 entries, "* ]]
}

@test "notify: without NOTIFY_SOCKET nothing is sent and the mount works" {
    mount_chanfs
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    echo hi > "$MNT/q"
    [ "$(read_once "$MNT/q" 10)" = "b'hi\\n'" ]
    run ! grep -qi "notify\|watchdog" "$CHANFS_LOG"
}
