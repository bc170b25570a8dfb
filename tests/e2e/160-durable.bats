#!/usr/bin/env bats
# The state directory (SOURCE): after kill -9 of the daemon and a remount,
# the tree comes back with every setting, owner and mode; durable channels
# come back with every acknowledged message not yet consumed, in order; a
# damaged log tail is cut off, never delivered.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    WORK="$(mktemp -d /tmp/chanfs-durable.XXXXXX)"
    STATE="$WORK/state"
    mkdir "$STATE"
    CHANFS_SOURCE="$STATE"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$WORK"
    return "$status"
}

# crash_and_remount: kill -9 of the daemon (nothing flushed, nothing
# closed), the dead mount removed, a new daemon on the same state directory.
crash_and_remount() {
    kill -KILL "$CHANFS_PID" 2>/dev/null || true  # a test may have killed it already
    wait "$CHANFS_PID" 2>/dev/null || true
    CHANFS_PID=""
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    rmdir "$MNT" 2>/dev/null || true
    mv "$CHANFS_LOG" "$CHANFS_LOG.before-crash"
    mount_chanfs "$@"
}

# What ls -l and getfattr show of a tree, without the live stats and times.
tree_listing() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
        stat -c '%i %F %U %G %a %n' "$p"
        getfattr -d -m - --absolute-names "$p" 2>/dev/null | grep -v -e '^# file' -e 'stats\.' -e '^$'
    done)
}


# drain FILE: prints everything FILE holds now, without waiting for more.
drain() {
    timeout 10 python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
while True:
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        break
    if not chunk:
        break
    sys.stdout.buffer.write(chunk)
' "$1"
}

# seg_count CHANNEL_INO: the segment files of a durable channel.
seg_count() {
    find "$STATE/state/channels/$1" -name '*.seg' | wc -l
}

@test "kill -9 and a remount bring back the tree: names, inode numbers, settings, defaults, owner, mode, bridges" {
    mount_chanfs -o allow_other
    mkdir -p "$MNT/sensors/indoor" "$MNT/jobs"
    setfattr -n user.chanfs.kind -v topic "$MNT/sensors"
    setfattr -n user.chanfs.replay -v 5 "$MNT/sensors"
    touch "$MNT/sensors/indoor/temp" "$MNT/jobs/resize" "$MNT/jobs/old" "$MNT/gone"
    setfattr -n user.chanfs.kind -v queue "$MNT/jobs/resize"
    setfattr -n user.chanfs.framing -v lp32 "$MNT/jobs/resize"
    setfattr -n user.chanfs.capacity -v 64K "$MNT/jobs/resize"
    setfattr -n user.chanfs.overflow -v drop-oldest "$MNT/jobs/resize"
    chmod 0640 "$MNT/jobs/resize"
    chown nobody:nogroup "$MNT/jobs/resize"
    chmod 1777 "$MNT/jobs"
    mv "$MNT/jobs/old" "$MNT/sensors/renamed"
    rm "$MNT/gone"
    mkfifo "$MNT/legacy"
    setfattr -n user.chanfs.fifo -v "in:$WORK/legacy.fifo" "$MNT/legacy"
    [ -p "$WORK/legacy.fifo" ]
    local before after
    before="$(tree_listing "$MNT")"
    [[ "$before" == *"nobody nogroup 640 ./jobs/resize"* ]]
    [[ "$before" == *'user.chanfs.framing="lp32"'* ]]

    crash_and_remount -o allow_other
    after="$(tree_listing "$MNT")"
    diff <(echo "$before") <(echo "$after")
    [ ! -e "$MNT/gone" ]
    # The directory's defaults still apply to new channels, and the restored
    # FIFO bridge carries data.
    touch "$MNT/sensors/new"
    [ "$(xattr "$MNT/sensors/new" kind)" = topic ]
    echo "through the fifo" >"$WORK/legacy.fifo"
    [ "$(timeout 5 head -n 1 "$MNT/legacy")" = "through the fifo" ]
    grep -q "restored" "$CHANFS_LOG"
}

@test "a durable queue: after kill -9, every message not consumed comes back in order; consumed ones do not" {
    mount_chanfs
    durable_queue "$MNT/q"
    python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for i in range(1, 5001):
    os.write(fd, b"%d\n" % i)
' "$MNT/q"
    # A reader takes exactly the first 1234 messages, one per read.
    python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(1, 1235):
    got = os.read(fd, len(b"%d\n" % i))
    assert got == b"%d\n" % i, (i, got)
' "$MNT/q"
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 3766 ]

    crash_and_remount
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 3766 ]
    [ "$(xattr "$MNT/q" durable)" = 1 ]
    drain "$MNT/q" >"$WORK/rest"
    seq 1235 5000 | cmp - "$WORK/rest"
    grep -q "durable channel /q: 3766 entries restored" "$CHANFS_LOG"
}

@test "kill -9 while a writer runs: every acknowledged message is there after the remount, in order" {
    mount_chanfs
    durable_queue "$MNT/log" never
    # The writer prints each number once write(2) has returned for it.
    python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
i = 0
try:
    while True:
        i += 1
        os.write(fd, b"%d\n" % i)
        print(i, flush=True)
except OSError:
    pass
' "$MNT/log" >"$WORK/acked" 2>/dev/null 3>&- &
    local writer=$!
    wait_until 10 test -s "$WORK/acked"
    sleep 0.5
    kill -KILL "$CHANFS_PID"
    wait "$writer" || true
    local acked
    acked="$(tail -n 1 "$WORK/acked")"
    echo "acknowledged before the kill: $acked" >&3
    [ "$acked" -gt 100 ]

    crash_and_remount
    drain "$MNT/log" >"$WORK/restored"
    # 1..n in order, with n = acked, or acked + 1 (a write in flight may have made it).
    local n
    n="$(wc -l <"$WORK/restored")"
    echo "restored after the remount: $n" >&3
    seq 1 "$n" | cmp - "$WORK/restored"
    [ "$n" -ge "$acked" ] && [ "$n" -le $((acked + 1)) ]
}

@test "non-durable channels keep their definition across a restart, not their data" {
    mount_chanfs
    touch "$MNT/plain"
    setfattr -n user.chanfs.kind -v queue "$MNT/plain"
    echo "in memory only" >"$MNT/plain"
    [ "$(xattr "$MNT/plain" stats.queued_messages)" = 1 ]
    crash_and_remount
    [ "$(xattr "$MNT/plain" kind)" = queue ]
    [ "$(xattr "$MNT/plain" stats.queued_messages)" = 0 ]
    [ ! -e "$STATE/state/channels/$(stat -c %i "$MNT/plain")" ]
}

@test "a corrupt last record and a torn tail are logged and cut off, never delivered" {
    mount_chanfs
    durable_queue "$MNT/q"
    printf 'first\nsecond\nthird\n' >"$MNT/q"
    local ino seg
    ino="$(stat -c %i "$MNT/q")"
    kill -KILL "$CHANFS_PID"
    wait "$CHANFS_PID" 2>/dev/null || true
    seg="$(find "$STATE/state/channels/$ino" -name '*.seg')"
    # One byte of "third" flipped, then half a record appended.
    python3 -c '
import sys
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
i = data.rindex(b"third")
data[i] ^= 0x20
data += b"\x30\x00\x00\x00\x12\x34"
open(p, "wb").write(data)
' "$seg"
    crash_and_remount
    grep -q "checksum mismatch" "$CHANFS_LOG"
    [ "$(timeout 5 head -n 2 "$MNT/q" | tr '\n' ' ')" = "first second " ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 0 ]
    # The log goes on after the cut.
    echo fourth >"$MNT/q"
    crash_and_remount
    [ "$(timeout 5 head -n 1 "$MNT/q")" = fourth ]
}

@test "segments are deleted once consumed; a topic keeps only its retention and comes back with its replay" {
    mount_chanfs
    touch "$MNT/q" "$MNT/t"
    setfattr -n user.chanfs.kind -v queue "$MNT/q"
    setfattr -n user.chanfs.framing -v messages "$MNT/q"
    setfattr -n user.chanfs.capacity -v 64M "$MNT/q"
    setfattr -n user.chanfs.durable -v 1 "$MNT/q"
    setfattr -n user.chanfs.kind -v topic "$MNT/t"
    setfattr -n user.chanfs.framing -v messages "$MNT/t"
    setfattr -n user.chanfs.replay -v 2 "$MNT/t"
    setfattr -n user.chanfs.retention_bytes -v 4M "$MNT/t"
    setfattr -n user.chanfs.durable -v 1 "$MNT/t"
    python3 -c '
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_WRONLY)
    for i in range(48):   # 12 MiB in 256 KiB messages
        os.write(fd, bytes([97 + i % 26]) * (256 * 1024 - 8) + b"%8d" % i)
    os.close(fd)
' "$MNT/q" "$MNT/t"
    local qino tino
    qino="$(stat -c %i "$MNT/q")"
    tino="$(stat -c %i "$MNT/t")"
    [ "$(seg_count "$qino")" -ge 3 ]
    # The topic's oldest segments went as soon as newer ones held 4 MiB.
    local tbytes
    tbytes="$(du -sb "$STATE/state/channels/$tino" | cut -f1)"
    echo "topic log: $tbytes bytes for 12 MiB published, retention 4 MiB" >&3
    [ "$tbytes" -le $((9 * 1024 * 1024)) ]
    [ "$tbytes" -ge $((4 * 1024 * 1024)) ]

    timeout 10 python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(48):
    assert os.read(fd, 1 << 20)[-8:] == b"%8d" % i
' "$MNT/q"
    [ "$(seg_count "$qino")" -eq 1 ]

    crash_and_remount
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 0 ]
    # A new subscriber gets the last `replay` messages published before the crash.
    timeout 10 python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
assert os.read(fd, 1 << 20)[-8:] == b"%8d" % 46
assert os.read(fd, 1 << 20)[-8:] == b"%8d" % 47
' "$MNT/t"
}

@test "fsync=always: writes are acknowledged after their fdatasync and survive kill -9" {
    mount_chanfs
    durable_queue "$MNT/q" always
    for i in 1 2 3; do echo "synced $i" >"$MNT/q"; done
    crash_and_remount
    [ "$(timeout 5 head -n 3 "$MNT/q" | tr '\n' ' ')" = "synced 1 synced 2 synced 3 " ]
}

@test "durable without a state directory, or with a bad value, is EINVAL with a log line" {
    CHANFS_SOURCE="" mount_chanfs
    touch "$MNT/q"
    run setfattr -n user.chanfs.durable -v 1 "$MNT/q"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Invalid argument"* ]]
    grep -q "durable channels need a state directory" "$CHANFS_LOG"
    [ "$(xattr "$MNT/q" durable)" = 0 ]
    run setfattr -n user.chanfs.fsync -v sometimes "$MNT/q"
    [[ "$output" == *"Invalid argument"* ]]
    grep -q "expected always, batch or never" "$CHANFS_LOG"
    # A directory cannot default to durable without one either.
    mkdir "$MNT/d"
    run setfattr -n user.chanfs.durable -v 1 "$MNT/d"
    [[ "$output" == *"Invalid argument"* ]]
}

@test "turning durable off deletes the channel's log; removing a channel deletes it too" {
    mount_chanfs
    touch "$MNT/a" "$MNT/b"
    setfattr -n user.chanfs.durable -v 1 "$MNT/a"
    setfattr -n user.chanfs.durable -v 1 "$MNT/b"
    local a b
    a="$(stat -c %i "$MNT/a")"
    b="$(stat -c %i "$MNT/b")"
    [ -d "$STATE/state/channels/$a" ] && [ -d "$STATE/state/channels/$b" ]
    setfattr -n user.chanfs.durable -v 0 "$MNT/a"
    [ ! -e "$STATE/state/channels/$a" ]
    rm "$MNT/b"
    [ ! -e "$STATE/state/channels/$b" ]
    crash_and_remount
    [ -e "$MNT/a" ] && [ ! -e "$MNT/b" ]
}

@test "the config file applies on top of the restored tree" {
    printf '[channel."cfg"]\nkind = "queue"\ndurable = true\n' >"$STATE/chanfs.toml"
    mount_chanfs
    [ "$(xattr "$MNT/cfg" durable)" = 1 ]
    echo kept >"$MNT/cfg"
    setfattr -n user.chanfs.capacity -v 4096 "$MNT/cfg"
    touch "$MNT/made-by-hand"
    printf '[channel."cfg"]\nkind = "queue"\ndurable = true\ncapacity = "8K"\n' >"$STATE/chanfs.toml"
    crash_and_remount
    [ "$(xattr "$MNT/cfg" capacity)" = 8192 ]
    [ -e "$MNT/made-by-hand" ]
    [ "$(timeout 5 head -n 1 "$MNT/cfg")" = kept ]
}
