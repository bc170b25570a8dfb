#!/usr/bin/env bats
# Channels across machines: a 3-node NATS JetStream cluster (n1..n3) and two
# chanfs hosts (hA, hB), each in its own network namespace. Only what a user
# sees is used: mount options, xattrs, stats, chanctl, cat and echo.
bats_require_minimum_version 1.5.0
load cluster_helpers

setup_file() { cluster_setup_file 3; }
teardown_file() { cluster_teardown_file; }
setup() {
    cluster_setup
    # The redelivery test waits out the ack wait: 2 s there (the option's
    # default, 30 s, elsewhere, so a slow ack is never taken for a dead host).
    case "$BATS_TEST_DESCRIPTION" in
    *"redelivered on the other host"*) CLUSTER_MOUNT_OPTS=(-o nats_ack_wait=2) ;;
    *) CLUSTER_MOUNT_OPTS=() ;;
    esac
    mount_host hA
    mount_host hB
}
teardown() { cluster_teardown; }

@test "topic with replay, written on A: cat on A and on B get the same messages in the same order" {
    nats_dir "$MA/plant"
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 10 "$MA/plant/temp"
    wait_until 5 test -e "$MB/plant/temp"
    [ "$(xattr "$MA/plant/temp" stats.backend)" = nats ]
    [ "$(xattr "$MB/plant/temp" stats.backend)" = nats ]
    # A reader that opens gets the last 10 its host has received (replay
    # counts what has arrived there; docs/nats.md, "topic"): the probes show
    # when both hosts have all 20, and only then do the readers open.
    bg cat "$MA/plant/temp" >"$BATS_TEST_TMPDIR/a.probe"
    bg cat "$MB/plant/temp" >"$BATS_TEST_TMPDIR/b.probe"
    wait_until 10 stat_is "$MA/plant/temp" stats.readers 1
    wait_until 10 stat_is "$MB/plant/temp" stats.readers 1
    seq 1 20 >"$MA/plant/temp"
    wait_until 10 has_lines 20 "$BATS_TEST_TMPDIR/a.probe"
    wait_until 10 has_lines 20 "$BATS_TEST_TMPDIR/b.probe"
    [ "$(cat "$BATS_TEST_TMPDIR/b.probe")" = "$(seq 1 20)" ]
    bg cat "$MA/plant/temp" >"$BATS_TEST_TMPDIR/a.out"
    bg cat "$MB/plant/temp" >"$BATS_TEST_TMPDIR/b.out"
    wait_until 10 has_lines 10 "$BATS_TEST_TMPDIR/a.out"
    wait_until 10 has_lines 10 "$BATS_TEST_TMPDIR/b.out"
    [ "$(cat "$BATS_TEST_TMPDIR/a.out")" = "$(seq 11 20)" ]
    [ "$(cat "$BATS_TEST_TMPDIR/b.out")" = "$(seq 11 20)" ]
    # Then writers on both hosts at once: one global order, the stream's.
    bg sh -c "seq 21 2 399 >'$MA/plant/temp'"
    local wa=$BG_PID
    bg sh -c "seq 22 2 400 >'$MB/plant/temp'"
    local wb=$BG_PID
    timeout_wait 20 "$wa"
    timeout_wait 20 "$wb"
    wait_secs 20 has_lines 390 "$BATS_TEST_TMPDIR/a.out"
    wait_secs 20 has_lines 390 "$BATS_TEST_TMPDIR/b.out"
    cmp "$BATS_TEST_TMPDIR/a.out" "$BATS_TEST_TMPDIR/b.out"
    [ "$(sort -n "$BATS_TEST_TMPDIR/a.out")" = "$(seq 11 400)" ]
    # Each writer's own messages keep their order.
    [ "$(tail -n +11 "$BATS_TEST_TMPDIR/a.out" | awk '$1 % 2 == 1')" = "$(seq 21 2 399)" ]
    [ "$(tail -n +11 "$BATS_TEST_TMPDIR/a.out" | awk '$1 % 2 == 0')" = "$(seq 22 2 400)" ]
}

@test "queue: three readers on each host, 10,000 numbered messages from writers on both hosts, each delivered exactly once" {
    nats_dir "$MA/w"
    "$CHANCTL_BIN" create --kind queue --framing lines "$MA/w/jobs"
    wait_until 5 test -e "$MB/w/jobs"
    local h r
    for h in A B; do
        local m="$MA"
        [[ $h == B ]] && m="$MB"
        for r in 1 2 3; do
            bg cat "$m/w/jobs" >"$BATS_TEST_TMPDIR/$h$r.out"
        done
    done
    wait_until 10 stat_is "$MA/w/jobs" stats.blocked_readers 3
    wait_until 10 stat_is "$MB/w/jobs" stats.blocked_readers 3
    bg sh -c "seq 1 5000 >'$MA/w/jobs'"
    local wa=$BG_PID
    bg sh -c "seq 5001 10000 >'$MB/w/jobs'"
    local wb=$BG_PID
    timeout_wait 60 "$wa"
    timeout_wait 60 "$wb"
    wait_secs 60 has_lines 10000 "$BATS_TEST_TMPDIR"/*.out
    # Nothing more is on its way: the stream has delivered everything and
    # had it all acknowledged, and all six readers are parked again.
    wait_secs 20 consumer_drained "$(stream_of "$TEST_PREFIX")"
    wait_until 10 stat_is "$MA/w/jobs" stats.blocked_readers 3
    wait_until 10 stat_is "$MB/w/jobs" stats.blocked_readers 3
    [ "$(lines_in "$BATS_TEST_TMPDIR"/*.out)" -eq 10000 ]
    [ -z "$(cat "$BATS_TEST_TMPDIR"/*.out | sort -n | uniq -d | head)" ]
    [ "$(cat "$BATS_TEST_TMPDIR"/*.out | sort -n)" = "$(seq 1 10000)" ]
    # The readers of both hosts competed for the one queue.
    (($(lines_in "$BATS_TEST_TMPDIR"/A?.out) > 0))
    (($(lines_in "$BATS_TEST_TMPDIR"/B?.out) > 0))
}

@test "the stream leader kill -9ed mid-write: every acknowledged message arrives, none twice" {
    nats_dir "$MA/lk"
    setfattr -n user.chanfs.replicas -v 3 "$MA/lk"
    "$CHANCTL_BIN" create --kind queue --framing lines "$MA/lk/q"
    wait_until 5 test -e "$MB/lk/q"
    echo 0 >"$MA/lk/q"
    local stream leader
    wait_secs 10 stream_of "$TEST_PREFIX" >/dev/null
    stream="$(stream_of "$TEST_PREFIX")"
    local acked="$BATS_TEST_TMPDIR/acked"
    : >"$acked"
    bg numbered_writer "$MA/lk/q" 1 3000 "$acked"
    local writer=$BG_PID
    wait_secs 20 has_lines 300 "$acked"
    leader="$(nc leader "$stream")"
    nc kill "$leader"
    local at_kill
    at_kill="$(lines_in "$acked")"
    timeout_wait 90 "$writer"
    # Writes went on after the failover.
    (($(lines_in "$acked") > at_kill))
    bg cat "$MB/lk/q" >"$BATS_TEST_TMPDIR/out"
    wait_secs 30 has_lines "$(($(lines_in "$acked") + 1))" "$BATS_TEST_TMPDIR/out"
    wait_secs 20 consumer_drained "$stream"
    wait_until 10 stat_is "$MB/lk/q" stats.blocked_readers 1
    [ -z "$(sort -n "$BATS_TEST_TMPDIR/out" | uniq -d | head)" ]
    # Every acknowledged number is there (out may also hold a number whose
    # write failed after the stream had stored it: the writer saw an error).
    [ -z "$(comm -23 <(sort "$acked") <(sort "$BATS_TEST_TMPDIR/out") | head)" ]
    echo "acked $(lines_in "$acked") of 3000, $(lines_in "$acked.err") errors; leader $leader killed after $at_kill" >&3
}

@test "a chanfs daemon kill -9ed while its readers hold unacknowledged messages: they are redelivered on the other host" {
    nats_dir "$MA/dk"
    "$CHANCTL_BIN" create --kind queue --framing lines "$MA/dk/q"
    wait_until 5 test -e "$MB/dk/q"
    # Make the stream exist before A's daemon is frozen.
    echo 0 >"$MB/dk/q"
    [ "$(timeout 10 head -n1 "$MB/dk/q")" = 0 ]
    local stream
    stream="$(stream_of "$TEST_PREFIX")"
    local r
    for r in 1 2 3; do bg cat "$MA/dk/q"; done
    wait_until 10 stat_is "$MA/dk/q" stats.blocked_readers 3
    # Frozen, A's daemon can neither answer its readers nor acknowledge:
    # what JetStream delivers to its pulls now is held unacknowledged.
    freeze_host hA
    printf '1\n2\n3\n' >"$MB/dk/q"
    wait_secs 20 consumer_ack_pending_at_least "$stream" 1
    kill_host hA
    bg cat "$MB/dk/q" >"$BATS_TEST_TMPDIR/b.out"
    # Redelivered after the 2 s ack wait (nats_ack_wait=2), not the default 30 s.
    wait_secs 15 has_lines 3 "$BATS_TEST_TMPDIR/b.out"
    # Each once: A had them unacknowledged (above), so B's are redeliveries
    # (the consumer's num_redelivered counts only unacknowledged ones: 0 by now).
    [ "$(sort -n "$BATS_TEST_TMPDIR/b.out")" = "$(printf '1\n2\n3')" ]
}

@test "queue: a message fetched for a reader on A that went away goes to the reader waiting on B at once" {
    nats_dir "$MA/gone"
    "$CHANCTL_BIN" create --kind queue --framing lines "$MA/gone/q"
    wait_until 5 test -e "$MB/gone/q"
    echo 0 >"$MA/gone/q"
    [ "$(timeout 10 head -n1 "$MB/gone/q")" = 0 ]
    # A reader on A parks (A pulls one message for it, the pull stays open
    # at the server for 5 s) and is killed.
    bg cat "$MA/gone/q"
    local gone=$BG_PID
    wait_until 10 stat_is "$MA/gone/q" stats.blocked_readers 1
    kill "$gone"
    wait_until 5 stat_is "$MA/gone/q" stats.blocked_readers 0
    bg cat "$MB/gone/q" >"$BATS_TEST_TMPDIR/b.out"
    wait_until 10 stat_is "$MB/gone/q" stats.blocked_readers 1
    # JetStream hands it to A's older pull first: A must give it back (not
    # keep it queued with no reader, for the 30 s ack wait).
    echo x >"$MA/gone/q"
    wait_secs 4 has_lines 1 "$BATS_TEST_TMPDIR/b.out"
    [ "$(cat "$BATS_TEST_TMPDIR/b.out")" = x ]
}

@test "the tree: mkdir, touch, setfattr, chanctl create, rm and rmdir on A are seen on B, and back" {
    mkdir "$MA/local"
    touch "$MA/local/x"
    nats_dir "$MA/t"
    setfattr -n user.chanfs.kind -v queue "$MA/t"
    wait_until 5 test -d "$MB/t"
    wait_until 5 stat_is "$MB/t" backend nats
    [ "$(xattr "$MB/t" kind)" = queue ]
    mkdir "$MA/t/sub"
    wait_until 5 test -d "$MB/t/sub"
    touch "$MA/t/sub/c"
    wait_until 5 test -f "$MB/t/sub/c"
    [ "$(xattr "$MB/t/sub/c" kind)" = queue ]
    [ "$(xattr "$MB/t/sub/c" stats.backend)" = nats ]
    setfattr -n user.chanfs.capacity -v 65536 "$MA/t/sub/c"
    wait_until 5 stat_is "$MB/t/sub/c" capacity "$(xattr "$MA/t/sub/c" capacity)"
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 3 "$MA/t/tp"
    wait_until 5 test -f "$MB/t/tp"
    # chanctl makes the file, then sets each setting: B may see them one by one.
    wait_until 5 stat_is "$MB/t/tp" kind topic
    wait_until 5 stat_is "$MB/t/tp" replay 3
    rm "$MA/t/sub/c"
    wait_until 5 test ! -e "$MB/t/sub/c"
    rmdir "$MA/t/sub"
    wait_until 5 test ! -e "$MB/t/sub"
    # And from B to A.
    mkdir "$MB/t/fromb"
    touch "$MB/t/fromb/c2"
    wait_until 5 test -f "$MA/t/fromb/c2"
    # Local directories stay local: once a later NATS change has reached B,
    # the earlier local one still has not.
    touch "$MA/t/marker"
    wait_until 5 test -e "$MB/t/marker"
    [ ! -e "$MB/local" ]
}

@test "the tree: mv on A is seen on B, the channel keeps its settings" {
    nats_dir "$MA/m"
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 8K "$MA/m/a"
    wait_until 5 test -e "$MB/m/a"
    mv "$MA/m/a" "$MA/m/b"
    wait_until 5 test -e "$MB/m/b"
    wait_until 5 test ! -e "$MB/m/a"
    [ "$(xattr "$MB/m/b" capacity)" = "$(xattr "$MA/m/b" capacity)" ]
    echo moved >"$MA/m/b"
    [ "$(timeout 10 head -n1 "$MB/m/b")" = moved ]
}

@test "NATS down: writes park then follow overflow, reads stay interruptible, stats show the link, recovery when the cluster returns" {
    nats_dir "$MA/nd"
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 4096 --overflow error "$MA/nd/err"
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 4096 --overflow block "$MA/nd/blk"
    echo warm >"$MA/nd/blk"
    [ "$(timeout 10 head -n1 "$MA/nd/blk")" = warm ]
    [ "$(xattr "$MA/nd/err" stats.backend)" = nats ]
    wait_until 10 stat_is "$MA/nd/err" stats.nats_connected 1
    nc kill n1
    nc kill n2
    nc kill n3
    wait_secs 15 stat_is "$MA/nd/err" stats.nats_connected 0
    [ -n "$(xattr "$MA/nd/err" stats.nats_error)" ]
    # overflow=error: more than the capacity cannot be held: ENOBUFS at once.
    [ "$(timeout 10 /usr/bin/python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    print(os.write(fd, b"x" * 4999 + b"\n"))
except OSError as e:
    print(errno.errorcode[e.errno])' "$MA/nd/err")" = ENOBUFS ]
    # overflow=block: a write is held (parked) until the cluster has it.
    bg sh -c "echo parked >'$MA/nd/blk'"
    local parked=$BG_PID
    wait_until 5 stat_is "$MA/nd/blk" stats.nats_pending 1
    is_blocked "$parked"
    # A reader blocked meanwhile ends at SIGINT.
    interruptible_cat "$MA/nd/err" "$BATS_TEST_TMPDIR/int.out"
    local reader=$BG_PID
    wait_until 5 stat_is "$MA/nd/err" stats.blocked_readers 1
    kill -INT "$reader"
    wait_until 3 is_gone "$reader"
    run wait "$reader"
    [ "$status" -eq 130 ]
    # One log line per disconnect, not one per message.
    grep -iq 'disconnect' "$LOG_hA"
    # The cluster returns: the parked write completes and is delivered.
    nc start n1
    nc start n2
    nc start n3
    # A whole cluster coming back with ~30 streams of the earlier tests
    # elects its leaders again: 20 s was once too short on 2 busy cores.
    NC_TIMEOUT_S=60 nc wait
    wait_secs 30 stat_is "$MA/nd/err" stats.nats_connected 1
    timeout_wait 30 "$parked"
    [ "$(timeout 10 head -n1 "$MA/nd/blk")" = parked ]
    [ "$(xattr "$MA/nd/blk" stats.nats_pending)" = 0 ]
    echo ok >"$MA/nd/err"
    [ "$(timeout 10 head -n1 "$MB/nd/err")" = ok ]
    (($(grep -ic 'disconnect' "$LOG_hA") <= 3))
}

@test "a host that mounts while the cluster is down comes up, reports the link, and works once the cluster returns" {
    unmount_host hB
    HOSTS_UP=(hA)
    nc kill n1
    nc kill n2
    nc kill n3
    mount_host hB
    # Made while the cluster is away: the channel exists and says why it
    # cannot reach NATS; a write to it is held.
    nats_dir "$MB/late"
    "$CHANCTL_BIN" create --kind queue --framing lines "$MB/late/q"
    [ "$(xattr "$MB/late/q" stats.backend)" = nats ]
    [ "$(xattr "$MB/late/q" stats.nats_connected)" = 0 ]
    [ -n "$(xattr "$MB/late/q" stats.nats_error)" ]
    bg sh -c "echo fromB >'$MB/late/q'"
    local parked=$BG_PID
    wait_until 5 stat_is "$MB/late/q" stats.nats_pending 1
    nc start n1
    nc start n2
    nc start n3
    # A whole cluster coming back with ~30 streams of the earlier tests
    # elects its leaders again: 20 s was once too short on 2 busy cores.
    NC_TIMEOUT_S=60 nc wait
    wait_secs 30 stat_is "$MB/late/q" stats.nats_connected 1
    timeout_wait 30 "$parked"
    wait_until 10 test -e "$MA/late/q"
    [ "$(timeout 10 head -n1 "$MA/late/q")" = fromB ]
}
