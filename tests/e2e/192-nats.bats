#!/usr/bin/env bats
# backend=nats (docs/nats.md) against one local nats-server -js the test
# starts on a free port (and kills in teardown): two mounts of the same
# server stand for two hosts. Queue exactly once across them, topic replay
# and order, EMSGSIZE, pipe refused, bad settings and options, stats, and
# the server killed (ENOBUFS past capacity, writes held) then back.
bats_require_minimum_version 1.5.0
load helpers

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_nats() {
    nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" -sd "$NATS_DIR" >>"$NATS_DIR/server.log" 2>&1 3>&- &
    NATS_PID=$!
    wait_until 10 bash -c "exec 9<>/dev/tcp/127.0.0.1/$NATS_PORT" 2>/dev/null
}

stop_nats() {
    if [[ -n "${NATS_PID:-}" ]]; then
        kill -KILL "$NATS_PID" 2>/dev/null || true
        wait "$NATS_PID" 2>/dev/null || true
        NATS_PID=""
    fi
}

# mount_b: a second daemon (host B) on the same server. Sets MNT_B, PID_B.
mount_b() {
    MNT_B="$(mktemp -d /tmp/chanfs-test-b.XXXXXX)"
    LOG_B="$BATS_TEST_TMPDIR/chanfs-b.log"
    "$CHANFS_BIN" "$MNT_B" -f -o log_level=debug -o "nats=$NATS_URL" "$@" 2>"$LOG_B" 3>&- &
    PID_B=$!
    wait_until 10 mountpoint -q "$MNT_B"
}

setup() {
    NATS_DIR="$(mktemp -d /tmp/chanfs-nats.XXXXXX)"
    NATS_PORT="$(free_port)"
    NATS_MON="$(free_port)"
    NATS_URL="nats://127.0.0.1:$NATS_PORT"
    start_nats
}

teardown() {
    local status=0
    if [[ -n "${PID_B:-}" ]]; then
        kill -TERM "$PID_B" 2>/dev/null || true
        wait "$PID_B" 2>/dev/null || status=$?
        fusermount3 -u -z "$MNT_B" 2>/dev/null || true
        rmdir "$MNT_B" 2>/dev/null || true
    fi
    chanfs_teardown || status=$?
    stop_nats
    rm -rf "$NATS_DIR"
    return "$status"
}

# js_streams KIND: one line per JetStream stream of the kind's streams (q:
# queues, t: topics; names chanfs_<kind><R>_<dirhash>, docs/nats.md), from
# the server's monitoring port: "NAME MESSAGES CONSUMERS CONSUMER-NAMES...".
js_streams() {
    curl -sS --fail --max-time 5 "http://127.0.0.1:$NATS_MON/jsz?consumers=true" |
        /usr/bin/python3 -c '
import json, sys
kind = sys.argv[1]
for acc in json.load(sys.stdin).get("account_details", []):
    for st in acc.get("stream_detail", []):
        if not st["name"].startswith("chanfs_" + kind):
            continue
        names = [c["name"] for c in st.get("consumer_detail") or []]
        print(st["name"], st["state"]["messages"], len(names), *names)
' "$1"
}

# js_is KIND MESSAGES CONSUMERS: the kind's streams hold that many messages
# and consumers in all (and there is at least one such stream).
js_is() {
    local out
    out="$(js_streams "$1")" || return 1
    [[ -n "$out" ]] || return 1
    [[ "$(awk '{m += $2; c += $3} END {print m, c}' <<<"$out")" == "$2 $3" ]]
}

gone() { [[ ! -e "$1" ]]; }

# js_wait SECONDS KIND MESSAGES CONSUMERS: js_is polled for up to SECONDS
# (wait_until counts 20 ms rounds, and one scrape takes longer than that).
js_wait() {
    local end=$((SECONDS + $1))
    shift
    until js_is "$@"; do
        if ((SECONDS >= end)); then
            echo "timed out waiting for js_is $*; the streams: $(js_streams "$1")" >&2
            return 1
        fi
        sleep 0.1
    done
}

nats_queue() {
    "$CHANCTL_BIN" create --kind queue --framing lines --backend nats "$@"
}

# queue_on_two_hosts FRAMING [ACK_WAIT]: host A and host B mounted, a NATS
# queue jobs/q made on A, seen on B, both linked to the server.
queue_on_two_hosts() {
    local wait_opt=""
    [[ -z "${2:-}" ]] || wait_opt=",nats_ack_wait=$2"
    mount_chanfs -o "nats=$NATS_URL$wait_opt"
    if [[ -n "$wait_opt" ]]; then mount_b -o "${wait_opt#,}"; else mount_b; fi
    mkdir "$MNT/jobs" "$MNT_B/jobs"
    "$CHANCTL_BIN" create --kind queue --framing "$1" --backend nats "$MNT/jobs/q"
    # The shared tree (docs/nats.md) brings the NATS channel to host B.
    wait_until 10 stat_is "$MNT_B/jobs/q" backend nats
    wait_until 10 stat_is "$MNT/jobs/q" stats.nats_connected 1
    wait_until 10 stat_is "$MNT_B/jobs/q" stats.nats_connected 1
}

@test "a queue over NATS gives each message to exactly one reader on one of two hosts" {
    queue_on_two_hosts lines
    out="$BATS_TEST_TMPDIR"
    bg timeout 20 cat "$MNT/jobs/q" >"$out/a"
    bg timeout 20 cat "$MNT_B/jobs/q" >"$out/b"
    # Numbered jobs written one per write() from both hosts.
    python3 - "$MNT/jobs/q" "$MNT_B/jobs/q" <<'EOF'
import os, sys
fa = os.open(sys.argv[1], os.O_WRONLY)
fb = os.open(sys.argv[2], os.O_WRONLY)
for i in range(1000):
    os.write(fa if i % 2 else fb, b"%d\n" % i)
EOF
    wait_until 20 bash -c "[[ \$(cat '$out/a' '$out/b' | wc -l) -ge 1000 ]]"
    [[ "$(cat "$out/a" "$out/b" | sort -n | uniq | wc -l)" == 1000 ]]
    [[ "$(cat "$out/a" "$out/b" | wc -l)" == 1000 ]]
    [[ "$(cat "$out/a" "$out/b" | sort -n | head -1)" == 0 ]]
    [[ "$(cat "$out/a" "$out/b" | sort -n | tail -1)" == 999 ]]
}

@test "a topic over NATS replays its last messages and shows both hosts one order" {
    mount_chanfs -o "nats=$NATS_URL"
    mount_b
    mkdir "$MNT/plant"
    setfattr -n user.chanfs.backend -v nats "$MNT/plant"  # a directory default
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 3 "$MNT/plant/temp"
    # The shared tree brings the directory and the channel to host B.
    wait_until 10 stat_is "$MNT_B/plant/temp" replay 3
    [[ "$(xattr "$MNT/plant/temp" backend)" == nats ]]
    wait_until 10 stat_is "$MNT/plant/temp" stats.nats_connected 1
    wait_until 10 stat_is "$MNT_B/plant/temp" stats.nats_connected 1
    for i in 1 2 3 4 5; do echo "r$i" >"$MNT/plant/temp"; done
    # A new subscriber on the other host gets the last 3, then what comes.
    wait_until 10 bash -c "[[ \$(timeout 0.5 cat '$MNT_B/plant/temp' | tr '\n' ' ') == 'r3 r4 r5 ' ]]"
    out="$BATS_TEST_TMPDIR"
    bg timeout 10 cat "$MNT/plant/temp" >"$out/a"
    bg timeout 10 cat "$MNT_B/plant/temp" >"$out/b"
    wait_until 10 stat_is "$MNT/plant/temp" stats.readers 1
    wait_until 10 stat_is "$MNT_B/plant/temp" stats.readers 1
    for i in $(seq 1 50); do echo "a$i" >"$MNT/plant/temp"; echo "b$i" >"$MNT_B/plant/temp"; done
    wait_until 10 bash -c "[[ \$(grep -c . '$out/a') -ge 103 && \$(grep -c . '$out/b') -ge 103 ]]"
    cmp "$out/a" "$out/b"
}

@test "NATS refuses a pipe, a message over max payload, bad settings and bad options" {
    mount_chanfs -o "nats=$NATS_URL"
    touch "$MNT/p"
    run -1 setfattr -n user.chanfs.backend -v nats "$MNT/p"
    [[ "$output" == *"Invalid argument"* ]]
    grep -q "use kind queue or topic" "$CHANFS_LOG"
    run -1 setfattr -n user.chanfs.backend -v carrier-pigeon "$MNT/p"
    run -1 "$CHANCTL_BIN" create --kind queue --backend nats --replicas 2 "$MNT/r2"
    run -1 "$CHANCTL_BIN" create --kind queue --backend nats --replicas 3 "$MNT/r3"
    grep -q "replicas=3 but the NATS cluster has 1 server" "$CHANFS_LOG"
    # max_message (1M for lines) is clamped to the server's max payload
    # (1M) less header room.
    nats_queue "$MNT/big"
    wait_until 10 stat_is "$MNT/big" stats.nats_connected 1
    run -1 python3 -c "
import os, sys
fd = os.open('$MNT/big', os.O_WRONLY)
os.write(fd, b'x' * (1024 * 1024 - 100) + b'\\n')"
    [[ "$output" == *"Message too long"* ]]
    grep -q "the store's limit" "$CHANFS_LOG"
    # Bad URL and a missing creds file: the mount is refused with the reason.
    m="$(mktemp -d)"
    run -2 "$CHANFS_BIN" "$m" -f -o nats=http://127.0.0.1:1
    [[ "$output" == *"expected nats://HOST"* ]]
    run -2 "$CHANFS_BIN" "$m" -f -o "nats=$NATS_URL,nats_creds=/nonexistent/x.creds"
    [[ "$output" == *"nats_creds file /nonexistent/x.creds: No such file"* ]]
    rmdir "$m"
}

@test "backend=nats without -o nats= is refused with the reason" {
    mount_chanfs
    touch "$MNT/q"
    setfattr -n user.chanfs.kind -v queue "$MNT/q"
    run -1 setfattr -n user.chanfs.backend -v nats "$MNT/q"
    grep -q "mount with -o nats=" "$CHANFS_LOG"
    [[ "$(xattr "$MNT/q" backend)" == memory ]]
    # A directory default is checked the same way.
    mkdir "$MNT/d"
    run -1 setfattr -n user.chanfs.backend -v nats "$MNT/d"
    [[ "$output" == *"Invalid argument"* ]]
    [ "$(grep -c "mount with -o nats=" "$CHANFS_LOG")" -ge 2 ]
    run -1 xattr "$MNT/d" backend
}

@test "a NATS directory: touch of a pipe is refused, chanctl create works, a refused create leaves nothing" {
    mount_chanfs -o "nats=$NATS_URL"
    mkdir "$MNT/d"
    setfattr -n user.chanfs.backend -v nats "$MNT/d"
    # Its default kind is pipe: an open that creates one is refused.
    run -1 touch "$MNT/d/p"
    [[ "$output" == *"Invalid argument"* ]]
    [ ! -e "$MNT/d/p" ]
    grep -q "create .*/d/p refused.*use kind queue or topic" "$CHANFS_LOG"
    # chanctl gives the name its kind before anything opens it.
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/d/q"
    [ "$(xattr "$MNT/d/q" backend)" = nats ]
    # The clamp shows: lines' 1 MiB max_message, less header room under
    # the server's 1 MiB max payload.
    wait_until 10 stat_is "$MNT/d/q" stats.nats_connected 1
    (($(xattr "$MNT/d/q" max_message) < 1048576))
    # replicas over the cluster's one server is refused on the directory.
    run -1 setfattr -n user.chanfs.replicas -v 3 "$MNT/d"
    grep -q "replicas=3 but the NATS cluster has 1 server" "$CHANFS_LOG"
    run -1 xattr "$MNT/d" replicas
    # A create whose settings are refused leaves no channel behind.
    run -1 "$CHANCTL_BIN" create --kind queue --backend bogus "$MNT/x"
    [ ! -e "$MNT/x" ]
    run -1 "$CHANCTL_BIN" create --kind pipe --backend nats "$MNT/y"
    [ ! -e "$MNT/y" ]
}

@test "NATS down: past capacity is ENOBUFS, a write is held, reads wait; all recovers when it is back" {
    mount_chanfs -o "nats=$NATS_URL"
    nats_queue --capacity 4096 --overflow error "$MNT/e"
    wait_until 10 stat_is "$MNT/e" stats.nats_connected 1
    [[ "$(xattr "$MNT/e" stats.backend)" == nats ]]
    stop_nats
    wait_until 15 stat_is "$MNT/e" stats.nats_connected 0
    [[ -n "$(xattr "$MNT/e" stats.nats_error)" ]]
    grep -q "nats: disconnected" "$CHANFS_LOG"
    run -1 python3 -c "
import os
fd = os.open('$MNT/e', os.O_WRONLY)
os.write(fd, b'b' * 4999 + b'\\n')"
    [[ "$output" == *"No buffer space available"* ]]
    bg bash -c "echo held >'$MNT/e' && touch '$BATS_TEST_TMPDIR/written'"
    writer=$BG_PID
    wait_until 5 stat_is "$MNT/e" stats.nats_pending 1
    [[ ! -e "$BATS_TEST_TMPDIR/written" ]]  # not answered before JetStream has it
    bg timeout 30 cat "$MNT/e" >"$BATS_TEST_TMPDIR/read"
    reader=$BG_PID
    wait_until 5 is_blocked "$reader"
    start_nats
    wait_until 20 test -e "$BATS_TEST_TMPDIR/written"
    wait_until 20 grep -qx held "$BATS_TEST_TMPDIR/read"
    wait_until 10 stat_is "$MNT/e" stats.nats_connected 1
    [[ "$(xattr "$MNT/e" stats.nats_pending)" == 0 ]]
    [[ "$(grep -c "nats: disconnected" "$CHANFS_LOG")" == 1 ]]
}

@test "a mount with the NATS server down comes up and unmounts quickly" {
    stop_nats
    mount_chanfs -o "nats=$NATS_URL"
    nats_queue "$MNT/q"
    [[ "$(xattr "$MNT/q" stats.nats_connected)" == 0 ]]
    start=$(date +%s%N)
    stop_chanfs
    (( ($(date +%s%N) - start) / 1000000 < 5000 ))
}

@test "the config file's [nats] table names the cluster; its channels use it" {
    cat >"$BATS_TEST_TMPDIR/chanfs.toml" <<EOF2
[nats]
servers = ["$NATS_URL"]

[dir."plant"]
backend = "nats"

[channel."plant/jobs"]
kind = "queue"
framing = "lines"
EOF2
    mount_chanfs -o "config=$BATS_TEST_TMPDIR/chanfs.toml"
    wait_until 10 stat_is "$MNT/plant/jobs" stats.nats_connected 1
    [[ "$(xattr "$MNT/plant/jobs" backend)" == nats ]]
    echo job1 >"$MNT/plant/jobs"
    [[ "$(timeout 5 head -n1 "$MNT/plant/jobs")" == job1 ]]
}

# scrape_a: GET /metrics of host A's daemon (-o metrics=unix:$SOCK).
scrape_a() {
    curl -sS --fail --max-time 10 --unix-socket "$SOCK" http://chanfs/metrics
}

# metric NAME [LABELS]: the value of one series in host A's scrape.
metric() {
    scrape_a | awk -v name="$1" -v labels="${2:-}" '
        labels == "" && $1 == name { print $2; found = 1 }
        labels != "" && index($0, name "{" labels "}") == 1 { print $NF; found = 1 }
        END { exit !found }' | head -n 1
}

# metric_is NAME VALUE: true when the unlabelled series NAME has VALUE.
metric_is() { [[ "$(metric "$1" 2>/dev/null)" == "$2" ]]; }

@test "NATS link and channel numbers: stats.nats_acked, nats_redelivered and the chanfs_nats_* series" {
    SOCK="$BATS_TEST_TMPDIR/metrics.sock"
    mount_chanfs -o "nats=$NATS_URL,metrics=unix:$SOCK"
    mount_b
    mkdir "$MNT/jobs"
    nats_queue "$MNT/jobs/q"
    wait_until 10 test -e "$MNT_B/jobs/q"
    wait_until 10 stat_is "$MNT/jobs/q" stats.nats_connected 1
    wait_until 10 stat_is "$MNT_B/jobs/q" stats.nats_connected 1
    printf '1\n2\n' >"$MNT/jobs/q"
    [[ "$(timeout 10 head -n1 "$MNT/jobs/q")" == 1 ]]
    [[ "$(timeout 10 head -n1 "$MNT_B/jobs/q")" == 2 ]]
    # Acknowledged after the read's reply: one on each host.
    wait_until 5 stat_is "$MNT/jobs/q" stats.nats_acked 1
    wait_until 5 stat_is "$MNT_B/jobs/q" stats.nats_acked 1
    [[ "$(xattr "$MNT_B/jobs/q" stats.nats_redelivered)" == 0 ]]
    # A reader on A parks (A's pull is open at the server) and goes away;
    # the message JetStream hands to A's pull is given back and taken by B's
    # reader: its delivery count is 2, a redelivery on B.
    bg cat "$MNT/jobs/q"
    local gone=$BG_PID
    wait_until 10 stat_is "$MNT/jobs/q" stats.blocked_readers 1
    kill "$gone"
    wait_until 5 stat_is "$MNT/jobs/q" stats.blocked_readers 0
    bg timeout 20 cat "$MNT_B/jobs/q" >"$BATS_TEST_TMPDIR/b.out"
    wait_until 10 stat_is "$MNT_B/jobs/q" stats.blocked_readers 1
    echo x >"$MNT/jobs/q"
    wait_until 10 bash -c "[[ \$(cat '$BATS_TEST_TMPDIR/b.out') == x ]]"
    wait_until 5 stat_is "$MNT_B/jobs/q" stats.nats_redelivered 1
    wait_until 5 stat_is "$MNT_B/jobs/q" stats.nats_acked 2
    [[ "$(xattr "$MNT/jobs/q" stats.nats_acked)" == 1 ]]
    [[ "$(xattr "$MNT/jobs/q" stats.nats_redelivered)" == 0 ]]

    # Host A's scrape: valid, the link's series and the channel's.
    scrape_a >"$BATS_TEST_TMPDIR/scrape"
    promtool check metrics <"$BATS_TEST_TMPDIR/scrape"
    grep -qx '# TYPE chanfs_nats_publishes_acked_total counter' "$BATS_TEST_TMPDIR/scrape"
    grep -qx '# TYPE chanfs_channel_nats_redelivered_total counter' "$BATS_TEST_TMPDIR/scrape"
    local ch='path="/jobs/q",kind="queue",backend="nats"'
    [[ "$(metric chanfs_nats_connected)" == 1 ]]
    [[ "$(metric chanfs_nats_cluster_servers)" == 1 ]]
    (( $(metric chanfs_nats_publishes_acked_total) >= 2 ))
    [[ "$(metric chanfs_nats_publish_failures_total)" == 0 ]]
    [[ "$(metric chanfs_nats_disconnects_total)" == 0 ]]
    [[ "$(metric chanfs_channel_nats_connected "$ch")" == 1 ]]
    [[ "$(metric chanfs_channel_nats_pending_messages "$ch")" == 0 ]]
    [[ "$(metric chanfs_channel_nats_acked_total "$ch")" == 1 ]]
    [[ "$(metric chanfs_channel_nats_redelivered_total "$ch")" == 0 ]]
    [[ "$(metric chanfs_channel_queued_messages "$ch")" == 0 ]]

    # The server goes away: the link's gauge and disconnect counter follow.
    stop_nats
    wait_until 10 metric_is chanfs_nats_connected 0
    [[ "$(metric chanfs_nats_disconnects_total)" == 1 ]]
    [[ "$(metric chanfs_channel_nats_connected "$ch")" == 0 ]]
}

@test "the config file's [nats] ack_wait: a bad value refuses the mount naming key and value; -o nats_* win over [nats]" {
    printf '[nats]\nservers = ["%s"]\nack_wait = 0\n' "$NATS_URL" >"$BATS_TEST_TMPDIR/bad.toml"
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    run -2 "$CHANFS_BIN" "$MNT" -f -o "config=$BATS_TEST_TMPDIR/bad.toml"
    [[ "$output" == *"ack_wait = 0"*"1 to 3600"* ]]
    ! mountpoint -q "$MNT"
    rmdir "$MNT"
    MNT=""
    # A [nats] table that names a server nothing listens on, and prefix
    # "fromfile": -o nats= and -o nats_prefix= win, the table's ack_wait
    # stays (the log line at connect names what the link uses).
    cat >"$BATS_TEST_TMPDIR/chanfs.toml" <<EOF2
[nats]
servers = ["nats://127.0.0.1:1"]
prefix = "fromfile"
ack_wait = 9
EOF2
    mount_chanfs -o "config=$BATS_TEST_TMPDIR/chanfs.toml,nats=$NATS_URL,nats_prefix=fromopt"
    mkdir "$MNT/jobs"
    nats_queue "$MNT/jobs/q"
    wait_until 10 stat_is "$MNT/jobs/q" stats.nats_connected 1
    grep -q "nats: connected to $NATS_URL" "$CHANFS_LOG"
    grep -q "prefix fromopt, ack wait 9 s" "$CHANFS_LOG"
}

@test "rm of a NATS queue while the server is down: once it is back, the consumer and messages go; made again it is empty" {
    queue_on_two_hosts lines
    printf 'old1\nold2\nold3\n' >"$MNT/jobs/q"
    # In the stream, with the channel's durable consumer.
    js_wait 10 q 3 1
    stop_nats
    wait_until 15 stat_is "$MNT/jobs/q" stats.nats_connected 0
    rm "$MNT/jobs/q"
    [[ ! -e "$MNT/jobs/q" ]]
    start_nats
    # Back: the clean-up waited for the link (NatsLink::whenConnected).
    js_wait 15 q 0 0
    wait_until 10 gone "$MNT_B/jobs/q"
    # Made again with the same name, on either host: none of the old.
    nats_queue "$MNT/jobs/q"
    wait_until 10 stat_is "$MNT_B/jobs/q" stats.nats_connected 1
    wait_until 10 stat_is "$MNT/jobs/q" stats.nats_connected 1
    echo new >"$MNT/jobs/q"
    [[ "$(timeout 10 head -n1 "$MNT_B/jobs/q")" == new ]]
    # Read and acknowledged: nothing else was in the stream.
    js_wait 10 q 0 1
    grep -q "removed from NATS stream" "$CHANFS_LOG"
}

@test "rm of a NATS topic while the server is down: once it is back, its push consumers and messages go; made again it replays none" {
    mount_chanfs -o "nats=$NATS_URL"
    mount_b
    mkdir "$MNT/news" "$MNT_B/news"
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 10 --backend nats "$MNT/news/t"
    wait_until 10 stat_is "$MNT_B/news/t" replay 10
    wait_until 10 stat_is "$MNT/news/t" stats.nats_connected 1
    wait_until 10 stat_is "$MNT_B/news/t" stats.nats_connected 1
    printf 'old1\nold2\nold3\n' >"$MNT/news/t"
    # One push consumer per mount; both hosts replay the three.
    js_wait 10 t 3 2
    wait_until 10 bash -c "[[ \$(timeout 0.5 cat '$MNT_B/news/t' | tr '\n' ' ') == 'old1 old2 old3 ' ]]"
    stop_nats
    wait_until 15 stat_is "$MNT/news/t" stats.nats_connected 0
    rm "$MNT/news/t"
    start_nats
    # A's clean-up deletes its consumer and purges the subject; B lets go
    # of its own consumer once the tree tells it the channel went.
    js_wait 15 t 0 0
    wait_until 10 gone "$MNT_B/news/t"
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 10 --backend nats "$MNT/news/t"
    wait_until 10 stat_is "$MNT_B/news/t" stats.nats_connected 1
    wait_until 10 stat_is "$MNT/news/t" stats.nats_connected 1
    echo new >"$MNT/news/t"
    # A new subscriber on either host replays only what came after.
    wait_until 10 bash -c "[[ \$(timeout 0.5 cat '$MNT_B/news/t' | tr '\n' ' ') == 'new ' ]]"
    wait_until 10 bash -c "[[ \$(timeout 0.5 cat '$MNT/news/t' | tr '\n' ' ') == 'new ' ]]"
}

# held_reader CHANNEL OUT HOLD [EVERY]: a reader on host A that reads two
# messages (the first pull asks for one, the second fetches ahead the rest),
# waits until the other 18 of 20 are queued here (fetched, unacknowledged),
# touches OUT.held, then either closes (HOLD=close), keeps the file open
# taking nothing (HOLD=open), or reads the 18 one every EVERY seconds
# (HOLD=slow). What it read goes to OUT, one line per message.
held_reader() {
    /usr/bin/python3 -c '
import os, sys, time
path, out, hold = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_RDONLY)
f = open(out, "wb", buffering=0)
f.write(os.read(fd, 4096))
f.write(os.read(fd, 4096))
end = time.monotonic() + 10
while int(os.getxattr(path, "user.chanfs.stats.queued_messages")) < 18:
    if time.monotonic() > end:
        sys.exit("the rest was not fetched ahead: %s queued" %
                 os.getxattr(path, "user.chanfs.stats.queued_messages").decode())
    time.sleep(0.02)
open(out + ".held", "w").close()
if hold == "open":
    # Up to 60 s, but not past the shell that started it: teardown kills
    # that one (a bg job), and python then has a new parent.
    parent, end = os.getppid(), time.monotonic() + 60
    while os.getppid() == parent and time.monotonic() < end:
        time.sleep(0.1)
elif hold == "slow":
    # One message per pause, for as long as this host has them (poll, so a
    # message given back to the stream meanwhile leaves no read hanging).
    import select
    p = select.poll()
    p.register(fd, select.POLLIN)
    got, end = 0, time.monotonic() + 15
    while got < 18 and time.monotonic() < end:
        time.sleep(float(sys.argv[4]))
        if p.poll(1000):
            f.write(os.read(fd, 4096))
            got += 1
os.close(fd)
' "$@"
}

# twenty_jobs FILE: m1 .. m20, one message per write.
twenty_jobs() {
    /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for i in range(1, 21):
    os.write(fd, b"m%d\n" % i)' "$1"
}

# A queue of framing messages (one message per read) on both hosts,
# mounted with -o nats_ack_wait=$1, holding m1 .. m20.
fetch_ahead_setup() {
    queue_on_two_hosts messages "$1"
    twenty_jobs "$MNT/jobs/q"
    js_wait 10 q 20 1
}

# each_once FILE...: together the files hold m1 .. m20, each exactly once.
each_once() {
    diff <(cat "$@" | sort) <(seq 1 20 | sed 's/^/m/' | sort)
}

@test "NATS queue: what a host fetched ahead goes back when its last reader closes, well before the ack wait" {
    fetch_ahead_setup 30
    out="$BATS_TEST_TMPDIR"
    held_reader "$MNT/jobs/q" "$out/a" close
    [[ "$(wc -l <"$out/a")" == 2 ]]
    # Given back (NAK) at the close: host B gets all 18 now, not after the
    # 30 s ack wait (nor after the idle give-back at half of it).
    timeout 10 head -n 18 "$MNT_B/jobs/q" >"$out/b"
    each_once "$out/a" "$out/b"
    wait_until 5 stat_is "$MNT_B/jobs/q" stats.nats_redelivered 18
    [[ "$(xattr "$MNT/jobs/q" stats.queued_messages)" == 0 ]]
    js_wait 10 q 0 1
    [[ "$(xattr "$MNT/jobs/q" stats.nats_acked)" == 2 ]]
}

@test "NATS queue: what a host fetched ahead goes back once its open reader took nothing for half the ack wait" {
    fetch_ahead_setup 4
    out="$BATS_TEST_TMPDIR"
    bg held_reader "$MNT/jobs/q" "$out/a" open
    wait_until 10 test -e "$out/a.held"
    # The reader stays open: without the idle give-back the keep-alive
    # (+WPI) would keep the 18 on host A for as long as it is open.
    timeout 10 head -n 18 "$MNT_B/jobs/q" >"$out/b"
    [[ "$(wc -l <"$out/a")" == 2 ]]
    each_once "$out/a" "$out/b"
    [[ "$(xattr "$MNT/jobs/q" stats.queued_messages)" == 0 ]]
    js_wait 10 q 0 1
    # What A gave back was not taken by A again: A's pull that fetched
    # ahead was still open at the server (5 s), which serves it first.
    [[ "$(xattr "$MNT/jobs/q" stats.nats_redelivered)" == 0 ]]
    [[ "$(xattr "$MNT_B/jobs/q" stats.nats_redelivered)" == 18 ]]
}

@test "NATS queue: messages a host holds longer than the ack wait are kept alive (+WPI): none reaches a reader twice" {
    fetch_ahead_setup 2
    out="$BATS_TEST_TMPDIR"
    # Host A holds 18 fetched messages and its reader takes one every
    # 0.25 s (so they are never idle for half the ack wait): the last is
    # taken about 4.5 s, over 2 ack waits, after they came.
    bg held_reader "$MNT/jobs/q" "$out/a" slow 0.25
    local reader=$BG_PID
    wait_until 10 test -e "$out/a.held"
    # A reader parked on host B all that time: JetStream would hand it
    # whatever it redelivers.
    bg cat "$MNT_B/jobs/q" >"$out/b"
    local cat_b=$BG_PID
    wait_until 10 stat_is "$MNT_B/jobs/q" stats.blocked_readers 1
    timeout_wait 25 "$reader"
    js_wait 10 q 0 1
    kill "$cat_b"
    wait "$cat_b" || true
    # Without the keep-alive JetStream hands what A holds to B after 2 s
    # while A still delivers it: m11 and m19 came twice. (Should A's reader
    # ever pause for half the ack wait, A gives the rest back and B gets
    # it: still each once, so only that is asserted.)
    each_once "$out/a" "$out/b"
    [[ $(( $(xattr "$MNT/jobs/q" stats.nats_acked) + $(xattr "$MNT_B/jobs/q" stats.nats_acked) )) == 20 ]]
}
