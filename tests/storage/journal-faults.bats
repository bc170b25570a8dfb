#!/usr/bin/env bats
# Durable channels when the state directory misbehaves (docs/storage-faults.md,
# "## Journal"): a full tmpfs, an ext4 that aborts (read-only, fdatasync
# fails), and segment files damaged by hand with fixed seeds. Messages are
# numbered; every test counts what was acknowledged, refused, delivered and
# restored, and fails on any loss, duplicate, or success for a write that
# was not saved. Runs as root (tmpfs and loop mounts).
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load storage_helpers

setup() {
    storage_require_root
    WORK="$(mktemp -d /tmp/chanfs-journal-faults.XXXXXX)"
    STATE="$WORK/state"
    mkdir "$STATE"
    CHANFS_SOURCE="$STATE"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    storage_teardown || status=1
    rm -rf "$WORK"
    return "$status"
}

# stop_daemon: kill -9 (nothing flushed), the dead mount removed.
stop_daemon() {
    kill -KILL "$CHANFS_PID" 2>/dev/null || true
    wait "$CHANFS_PID" 2>/dev/null || true
    CHANFS_PID=""
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    rmdir "$MNT" 2>/dev/null || true
    if [[ -f "$CHANFS_LOG" ]]; then mv "$CHANFS_LOG" "$CHANFS_LOG.$(date +%s%N)"; fi
}


# write_numbered FILE FROM TO [SIZE]: one write(2) per message "msg-N" padded
# to SIZE bytes with a newline; prints "ok N" or "err N ERRNO-NAME" for each.
write_numbered() {
    python3 - "$@" <<'EOF'
import errno, os, sys
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = int(sys.argv[4]) if len(sys.argv) > 4 else 0
fd = os.open(path, os.O_WRONLY)
for i in range(lo, hi + 1):
    msg = ("msg-%d" % i).encode()
    msg = msg + b"." * max(0, size - len(msg) - 1) + b"\n"
    try:
        n = os.write(fd, msg)
        print("ok %d" % i if n == len(msg) else "short %d" % i)
    except OSError as e:
        print("err %d %s" % (i, errno.errorcode.get(e.errno, str(e.errno))))
os.close(fd)
EOF
}

# drain_numbers FILE: the numbers of the messages FILE holds now, one a line.
drain_numbers() {
    timeout 20 python3 - "$1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
data = b""
while True:
    try:
        chunk = os.read(fd, 1 << 20)
    except BlockingIOError:
        break
    if not chunk:
        break
    data += chunk
for line in data.split(b"\n"):
    if line:
        print(line.split(b".")[0].decode()[4:])
EOF
}

# same_numbers A B: the two files list the same numbers in the same order;
# prints what differs.
same_numbers() {
    if ! diff "$1" "$2" >"$WORK/diff"; then
        echo "expected $(wc -l <"$1") numbers ($1), got $(wc -l <"$2") ($2):" >&2
        head -20 "$WORK/diff" >&2
        return 1
    fi
}

channel_dir() { echo "$STATE/state/channels/$(stat -c %i "$1")"; }

@test "a full state directory: writes get ENOSPC, nothing refused is delivered or restored, writes work again once there is room" {
    storage_tmpfs "$STATE" 8M
    mount_chanfs
    durable_queue "$MNT/live" always
    durable_queue "$MNT/kept" batch
    write_numbered "$MNT/live" 1 100 200 >"$WORK/live.out"
    write_numbered "$MNT/kept" 1 100 200 >"$WORK/kept.out"
    # Fill the file system, write, then free the space and write again.
    storage_fill "$STATE"
    write_numbered "$MNT/live" 101 300 200 >>"$WORK/live.out"
    write_numbered "$MNT/kept" 101 300 200 >>"$WORK/kept.out"
    [ "$(xattr "$MNT/live" stats.storage_error | cut -c1-16)" = "refusing writes:" ]
    storage_free "$STATE"
    write_numbered "$MNT/live" 301 400 200 >>"$WORK/live.out"
    write_numbered "$MNT/kept" 301 400 200 >>"$WORK/kept.out"
    [ "$(xattr "$MNT/live" stats.storage_error)" = ok ]
    local f
    for f in live kept; do
        grep '^ok ' "$WORK/$f.out" | cut -d' ' -f2 >"$WORK/$f.acked"
        local refused other
        refused="$(grep -c '^err .* ENOSPC$' "$WORK/$f.out" || true)"
        other="$(grep -v -e '^ok ' -e ' ENOSPC$' "$WORK/$f.out" | head -3)"
        echo "$f: acknowledged $(wc -l <"$WORK/$f.acked"), refused with ENOSPC $refused"
        [ -z "$other" ] || { echo "$f: other results: $other" >&2; false; }
        [ "$refused" -ge 150 ]
        # Every write after the space came back was acknowledged.
        [ "$(awk '$1 == "ok" && $2 >= 301' "$WORK/$f.out" | wc -l)" = 100 ]
    done
    # Live: a reader gets exactly the acknowledged messages, in order.
    drain_numbers "$MNT/live" >"$WORK/live.delivered"
    same_numbers "$WORK/live.acked" "$WORK/live.delivered"
    # Restored: after kill -9, exactly the acknowledged messages come back.
    stop_daemon
    mount_chanfs
    drain_numbers "$MNT/kept" >"$WORK/kept.restored"
    same_numbers "$WORK/kept.acked" "$WORK/kept.restored"
    [ "$(drain_numbers "$MNT/live" | wc -l)" = 0 ]
    grep -q "No space left on device; the write is refused" "$CHANFS_LOG".* 
}

@test "an ext4 that aborts: fsync=always loses nothing acknowledged, every later write fails and the stats say why" {
    storage_ext4 "$STATE" 64
    mount_chanfs
    durable_queue "$MNT/always" always
    durable_queue "$MNT/batch" batch
    write_numbered "$MNT/always" 1 200 100 >"$WORK/always.out"
    write_numbered "$MNT/batch" 1 200 100 >"$WORK/batch.out"
    storage_ext4_abort "$STATE"
    write_numbered "$MNT/always" 201 300 100 >>"$WORK/always.out"
    write_numbered "$MNT/batch" 201 300 100 >>"$WORK/batch.out"
    local f
    for f in always batch; do
        run xattr "$MNT/$f" stats.storage_error
        echo "$f: stats.storage_error = $output"
        [[ "$output" == failed:* ]]
        # From the first refusal on, every write is refused: never a
        # success after a failed write or fdatasync.
        awk '/^err/ { failed = 1 } /^ok/ && failed { print "acknowledged after a failure: " $0; bad = 1 } END { exit bad }' "$WORK/$f.out"
        [ -z "$(grep '^err' "$WORK/$f.out" | grep -v -e ' EROFS$' -e ' EIO$')" ]
        grep '^ok ' "$WORK/$f.out" | cut -d' ' -f2 >"$WORK/$f.acked"
        echo "$f: acknowledged $(wc -l <"$WORK/$f.acked"), refused $(grep -c '^err' "$WORK/$f.out")"
    done
    stop_daemon
    storage_remount "$STATE"
    mount_chanfs
    drain_numbers "$MNT/always" >"$WORK/always.restored"
    same_numbers "$WORK/always.acked" "$WORK/always.restored"
    # batch: what comes back is acknowledged messages in order, without
    # duplicates; the lost ones are the last batch window's (counted).
    drain_numbers "$MNT/batch" >"$WORK/batch.restored"
    head -n "$(wc -l <"$WORK/batch.restored")" "$WORK/batch.acked" >"$WORK/batch.prefix"
    same_numbers "$WORK/batch.prefix" "$WORK/batch.restored"
    echo "batch: acknowledged $(wc -l <"$WORK/batch.acked"), restored $(wc -l <"$WORK/batch.restored")"
}

# make_queue_with N: a durable queue "q" holding msg-1..msg-N (100-byte
# messages), and the daemon stopped; QDIR is its journal directory.
make_queue_with() {
    mount_chanfs
    touch "$MNT/q"
    setfattr -n user.chanfs.capacity -v 64M "$MNT/q"
    durable_queue "$MNT/q"
    write_numbered "$MNT/q" 1 "$1" "${2:-100}" >"$WORK/q.out"
    ! grep -q '^err' "$WORK/q.out"
    QDIR="$(channel_dir "$MNT/q")"
    stop_daemon
}

# expect_numbers FILE FROM TO [EXCEPT...]: FILE delivers exactly these now.
expect_numbers() {
    local file="$1" from="$2" to="$3"
    shift 3
    local except=" $* "
    local i
    for ((i = from; i <= to; i++)); do
        [[ "$except" == *" $i "* ]] || echo "$i"
    done >"$WORK/expected"
    drain_numbers "$file" >"$WORK/got"
    same_numbers "$WORK/expected" "$WORK/got"
}

@test "a flipped byte (fixed seeds) costs its record only; the damaged file is kept aside" {
    local seed
    for seed in 3 11 29; do
        make_queue_with 1000
        local seg victim
        seg="$(ls "$QDIR"/*.seg)"
        victim="$(python3 - "$seg" "$seed" <<'EOF'
import random, sys
path, seed = sys.argv[1], int(sys.argv[2])
data = bytearray(open(path, "rb").read())
rng = random.Random(seed)
pos = rng.randrange(8, len(data))
data[pos] ^= 1 << rng.randrange(8)
open(path, "wb").write(data)
# the message whose record holds the byte: records are 8 + 1 + 8 + 100 bytes
print((pos - 8) // 117 + 1)
EOF
)"
        mount_chanfs
        expect_numbers "$MNT/q" 1 1000 "$victim"
        [ -f "$seg.damaged" ]
        grep -q "seq $victim (1 entries) missing, 1 of them not consumed: lost" "$CHANFS_LOG"
        grep -q "the damaged file is kept as $seg.damaged" "$CHANFS_LOG"
        rm -f "$MNT/q"
        stop_daemon
    done
}

@test "a flipped bit in a segment header deletes nothing and loses nothing" {
    make_queue_with 300
    local seg
    seg="$(ls "$QDIR"/*.seg)"
    python3 -c 'import sys; p = sys.argv[1]; d = bytearray(open(p, "rb").read()); d[5] ^= 4; open(p, "wb").write(d)' "$seg"
    mount_chanfs
    [ -f "$seg" ]
    expect_numbers "$MNT/q" 1 300
    grep -q "the file header is damaged at offset 0 (8 bytes); the records after it are kept" "$CHANFS_LOG"
}

@test "a deleted middle segment is logged with the number of messages it held; the rest serve" {
    # 12 segments' worth: 60 KiB messages, about 69 per 4 MiB segment.
    make_queue_with 200 61440
    local segs middle first next
    mapfile -t segs < <(ls "$QDIR"/*.seg)
    [ "${#segs[@]}" -ge 3 ]
    middle="${segs[1]}"
    first=$((10#$(basename "$middle" .seg)))
    next=$((10#$(basename "${segs[2]}" .seg)))
    rm "$middle"
    mount_chanfs
    expect_numbers "$MNT/q" 1 200 $(seq "$first" $((next - 1)))
    grep -q "seq $first..$((next - 1)) ($((next - first)) entries) missing, $((next - first)) of them not consumed: lost" "$CHANFS_LOG"
}

@test "a segment cut below its header is logged and kept aside" {
    make_queue_with 200 61440
    local segs
    mapfile -t segs < <(ls "$QDIR"/*.seg)
    truncate -s 5 "${segs[-1]}"
    mount_chanfs
    grep -q "${segs[-1]}: the file is shorter than its header (5 bytes)" "$CHANFS_LOG"
    [ -f "${segs[-1]}.damaged" ]
    local first
    first=$((10#$(basename "${segs[-1]}" .seg)))
    expect_numbers "$MNT/q" 1 $((first - 1))
}

@test "a segment replaced by a directory: that channel comes up failed with the reason in its stats, the others serve" {
    mount_chanfs
    durable_queue "$MNT/ok"
    durable_queue "$MNT/q"
    write_numbered "$MNT/ok" 1 50 >/dev/null
    write_numbered "$MNT/q" 1 50 >/dev/null
    QDIR="$(channel_dir "$MNT/q")"
    stop_daemon
    local seg
    seg="$(ls "$QDIR"/*.seg)"
    rm "$seg"
    mkdir "$seg"
    mount_chanfs
    expect_numbers "$MNT/ok" 1 50
    run xattr "$MNT/q" stats.storage_error
    [[ "$output" == *"is not a file"* ]]
    run write_numbered "$MNT/q" 51 51
    [ "$output" = "err 51 EIO" ]
    [ -d "$seg" ]
    grep -q "$seg is not a file" "$CHANFS_LOG"
}

@test "consumed messages stay consumed when the end of the active segment is lost" {
    mount_chanfs
    durable_queue "$MNT/q"
    write_numbered "$MNT/q" 1 1000 100 >/dev/null
    QDIR="$(channel_dir "$MNT/q")"
    local seg size
    seg="$(ls "$QDIR"/*.seg)"
    size="$(stat -c %s "$seg")"
    # Consume 600, one read each, so their records come after the messages.
    python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(600):
    os.read(fd, 100)
' "$MNT/q"
    stop_daemon
    truncate -s "$size" "$seg"
    mount_chanfs
    expect_numbers "$MNT/q" 601 1000
}

@test "a segment cut short: the missing messages are counted from the consumed file" {
    mount_chanfs
    durable_queue "$MNT/q"
    write_numbered "$MNT/q" 1 1000 100 >/dev/null
    # One consumed (one read of one message): the consumed file is saved.
    python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.read(fd, 100)' "$MNT/q"
    QDIR="$(channel_dir "$MNT/q")"
    stop_daemon
    local seg
    seg="$(ls "$QDIR"/*.seg)"
    # Keep the header and the first 700 records (117 bytes each).
    truncate -s $((8 + 700 * 117)) "$seg"
    mount_chanfs
    expect_numbers "$MNT/q" 2 700
    grep -q "its end is missing (the file was cut short?): seq 701..1000 (300 entries) missing, 300 of them not consumed: lost" "$CHANFS_LOG"
}
