#!/usr/bin/env bats
# Storage faults, the tree and daemon half: the state directory on a small
# tmpfs or a loop-mounted ext4 that fills up or goes read-only, a second
# daemon on the same state directory, a stale mountpoint, and a damaged or
# deleted tree.log. Tree changes are numbered (tree_ops.py): every
# acknowledged one must be there after kill -9 and a remount, every refused
# one must be gone at once (undone in memory) and after the remount.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load storage_helpers

TREE_OPS="$BATS_TEST_DIRNAME/tree_ops.py"

setup() {
    storage_require_root
    WORK="$(mktemp -d /tmp/chanfs-storage.XXXXXX)"
    STATE="$WORK/state"
    mkdir "$STATE"
    CHANFS_SOURCE="$STATE"
    EXTRA_MNTS=()
}

teardown() {
    local status=0 m
    chanfs_teardown || status=$?
    for m in "${EXTRA_MNTS[@]}"; do
        fusermount3 -u -z "$m" 2>/dev/null || true
    done
    storage_teardown || status=1
    rm -rf "$WORK"
    return "$status"
}

# crash_and_remount: kill -9, the dead mount removed, a new daemon on the
# same state directory.
crash_and_remount() {
    kill -KILL "$CHANFS_PID" 2>/dev/null || true
    wait "$CHANFS_PID" 2>/dev/null || true
    CHANFS_PID=""
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    rmdir "$MNT" 2>/dev/null || true
    mv "$CHANFS_LOG" "$CHANFS_LOG.$((++CRASHES))"
    mount_chanfs "$@"
}
CRASHES=0

# write_numbered FILE FROM TO: one line per number, one write(2) each;
# prints how many were acknowledged.
write_numbered() {
    python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
n = 0
for i in range(int(sys.argv[2]), int(sys.argv[3]) + 1):
    try:
        os.write(fd, b"%d\n" % i)
        n += 1
    except OSError:
        break
print(n)
' "$@"
}

# drain FILE: everything FILE holds now, without waiting for more.
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

# tree_fault_round FAULT_ERRNO...: the whole cycle on a state directory
# already mounted at $STATE: changes that are saved, the fault (the caller
# made it), changes refused, space back, changes saved again (a durable
# queue with 50 fsync=always messages among them), kill -9, remount.
tree_changes_survive_the_fault() {
    local fault="$1" undo="$2"
    shift 2
    mount_chanfs
    python3 "$TREE_OPS" run "$MNT" "$WORK/model" before 20 | sed "s/^/# before the fault: /" >&3
    python3 "$TREE_OPS" check "$MNT" "$WORK/model"
    "$fault"
    run python3 "$TREE_OPS" run "$MNT" "$WORK/model" during 60 "$@"
    echo "# during the fault: $output" >&3
    [ "$status" -eq 0 ]
    # Refused changes are refused, not answered 0 and forgotten.
    [[ "$output" == *"refused="* ]]
    [[ "$output" != *"refused=0"* ]]
    # What the mount shows now is what was acknowledged: refused ones undone.
    python3 "$TREE_OPS" check "$MNT" "$WORK/model"
    # A restart while the fault lasts mounts the saved tree (no room to
    # rewrite tree.log is no reason not to mount).
    crash_and_remount
    python3 "$TREE_OPS" check "$MNT" "$WORK/model"
    if [[ -n "$undo" ]]; then "$undo"; fi
    run python3 "$TREE_OPS" run "$MNT" "$WORK/model" after 20
    echo "# after the fault: $output" >&3
    [ "$status" -eq 0 ]
    [[ "$output" == *"refused=0"* ]]
    durable_queue "$MNT/dq" always
    [ "$(write_numbered "$MNT/dq" 1 50)" = 50 ]
    python3 - "$WORK/model" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["entries"]["dq"] = {"type": "chan", "mode": 0o644, "uid": 0, "gid": 0,
                      "x": {"durable": "1", "kind": "queue"}}
json.dump(m, open(sys.argv[1], "w"))
PY
    crash_and_remount
    python3 "$TREE_OPS" check "$MNT" "$WORK/model"
    drain "$MNT/dq" >"$WORK/dq.out"
    seq 1 50 | cmp - "$WORK/dq.out"
}

fill_state() { storage_fill "$STATE"; }
free_state() { storage_free "$STATE"; }

@test "full tmpfs: tree changes are refused with ENOSPC and undone; a torn record never hides what comes after" {
    storage_tmpfs "$STATE" 2M
    tree_changes_survive_the_fault fill_state free_state ENOSPC
    grep -q "cannot append to .*tree.log: No space left on device; the change is refused" "$CHANFS_LOG.1"
    grep -q "tree.log not rewritten (No space left on device); going on with it as it is" "$CHANFS_LOG.2"
}

@test "full ext4: tree changes are refused with ENOSPC and undone; nothing acknowledged is lost" {
    storage_ext4 "$STATE" 8
    tree_changes_survive_the_fault fill_state free_state ENOSPC
}

abort_state() {
    sync -f "$STATE/state/tree.log"
    storage_ext4_abort "$STATE"
}

@test "ext4 aborted (read-only): tree changes are refused with EROFS and undone; the tree comes back after a remount" {
    storage_ext4 "$STATE" 8
    mount_chanfs
    python3 "$TREE_OPS" run "$MNT" "$WORK/model" before 20 | sed "s/^/# before the fault: /" >&3
    # The batch sync has run: what was acknowledged is on the disk.
    sleep 0.2
    abort_state
    run python3 "$TREE_OPS" run "$MNT" "$WORK/model" during 30 EROFS EIO
    echo "# during the fault: $output" >&3
    [ "$status" -eq 0 ]
    [[ "$output" != *"refused=0"* ]]
    [[ "$output" == *"acknowledged=0 "* ]]
    python3 "$TREE_OPS" check "$MNT" "$WORK/model"
    kill -KILL "$CHANFS_PID"
    wait "$CHANFS_PID" 2>/dev/null || true
    CHANFS_PID=""
    fusermount3 -u -z "$MNT"
    storage_remount "$STATE"
    mount_chanfs
    python3 "$TREE_OPS" check "$MNT" "$WORK/model"
}

@test "a second daemon on the same state directory exits 2 naming the first one's pid; the first one's messages are untouched" {
    mount_chanfs
    durable_queue "$MNT/q" always
    [ "$(write_numbered "$MNT/q" 1 100)" = 100 ]
    local first="$CHANFS_PID" other="$WORK/other"
    mkdir "$other"
    EXTRA_MNTS+=("$other")
    run timeout 10 "$CHANFS_BIN" "$STATE" "$other" -f
    echo "# second daemon: status $status: $output" >&3
    [ "$status" -eq 2 ]
    [[ "$output" == *"in use by another chanfs (pid $first"* ]]
    ! in_mount_table "$other"
    # In the background too: the parent reports the child's refusal.
    run timeout 10 "$CHANFS_BIN" "$STATE" "$other"
    [ "$status" -eq 2 ]
    [[ "$output" == *"pid $first"* ]]
    # The lock dies with its holder, even by kill -9.
    crash_and_remount
    drain "$MNT/q" >"$WORK/q.out"
    seq 1 100 | cmp - "$WORK/q.out"
}

@test "a stale mountpoint (daemon killed, no auto_unmount) is refused with a clear message; -o force_mount replaces it" {
    CHANFS_SOURCE="" mount_chanfs
    local mnt="$MNT"
    # A live mount is not stacked over silently either.
    run timeout 10 "$CHANFS_BIN" "$mnt" -f
    [ "$status" -eq 2 ]
    [[ "$output" == *"is already a FUSE mount (fuse.chanfs), still served"* ]]
    kill -KILL "$CHANFS_PID"
    wait "$CHANFS_PID" 2>/dev/null || true
    CHANFS_PID=""
    in_mount_table "$mnt"
    run timeout 10 "$CHANFS_BIN" "$mnt" -f
    echo "# over the dead mount: status $status: $output" >&3
    [ "$status" -eq 2 ]
    [[ "$output" == *"whose daemon is gone"* ]]
    [[ "$output" == *"force_mount"* ]]
    "$CHANFS_BIN" "$mnt" -f -o force_mount 2>"$WORK/forced.log" 3>&- &
    CHANFS_PID=$!
    wait_until 10 grep -q "mounted at" "$WORK/forced.log"
    echo hello >"$mnt/c"
    [ "$(timeout 5 head -n 1 "$mnt/c")" = hello ]
    grep -q "the dead fuse.chanfs mount there was unmounted" "$WORK/forced.log"
    [ "$(awk -v m="$mnt" '$2 == m' /proc/mounts | wc -l)" -eq 1 ]
}

# make_tree: 30 channels c01..c30 made in this order after a fresh mount
# (one record each), every third one durable with 20 messages.
make_tree() {
    mount_chanfs
    local i
    for i in $(seq -w 1 30); do
        if ((10#$i % 3 == 0)); then
            durable_queue "$MNT/c$i" always
            [ "$(write_numbered "$MNT/c$i" 1 20)" = 20 ]
        else
            touch "$MNT/c$i"
            setfattr -n user.chanfs.capacity -v "$((4096 + 10#$i))" "$MNT/c$i"
        fi
        stat -c "%i c$i" "$MNT/c$i" >>"$WORK/inos"
    done
    kill -KILL "$CHANFS_PID"
    wait "$CHANFS_PID" 2>/dev/null || true
    (cd "$STATE/state/channels" && find . -type f -exec sha256sum {} + | sort -k2) >"$WORK/journals.sum"
}

# same_journals: every journal made before the damage is still there byte
# for byte, under channels/ if its channel came back, in orphaned/ if not.
same_journals() {
    (cd "$STATE/state" && find channels orphaned -type f -path '*/[0-9]*' -exec sha256sum {} + 2>/dev/null) |
        sed -e 's#  channels/#  ./#' -e 's#  orphaned/#  ./#' >"$WORK/now.sum"
    local line
    while read -r line; do
        grep -qxF "$line" "$WORK/now.sum" || { echo "journal changed or gone: $line"; return 1; }
    done <"$WORK/journals.sum"
}

# after_damage: remount; each channel is back as made, or as it was
# earlier in its history (a durable one then not durable, its journal in
# orphaned/), or gone; no journal is lost or changed, and new durable
# channels never take an old number.
after_damage() {
    crash_and_remount
    grep -q "\[error\] state .*tree.log" "$CHANFS_LOG"
    ls "$STATE/state/" | grep -q '^tree.log.damaged'
    same_journals
    local i ino name back=0 earlier=0 gone=0 highest=0
    for i in $(seq 1 40); do durable_queue "$MNT/new$i" always; echo "new $i" >"$MNT/new$i"; done
    same_journals
    while read -r ino name; do
        ((ino > highest)) && highest=$ino
        if [[ ! -e "$MNT/$name" ]]; then
            gone=$((gone + 1))
            if ((10#${name#c} % 3 == 0)); then
                [ -d "$STATE/state/orphaned/$ino" ]
                grep -q "kept aside as .*orphaned/$ino" "$CHANFS_LOG"
            fi
            continue
        fi
        [ "$(stat -c %i "$MNT/$name")" = "$ino" ]
        if ((10#${name#c} % 3 == 0)) && [[ "$(xattr "$MNT/$name" durable)" == 1 ]]; then
            back=$((back + 1))
            drain "$MNT/$name" | cmp - <(seq 1 20)
        elif ((10#${name#c} % 3 == 0)); then
            earlier=$((earlier + 1))
            [ -d "$STATE/state/orphaned/$ino" ]
        elif [[ "$(xattr "$MNT/$name" capacity)" == "$((4096 + 10#${name#c}))" ]]; then
            back=$((back + 1))
        else
            earlier=$((earlier + 1))
        fi
    done <"$WORK/inos"
    echo "# restored as made $back, in an earlier state $earlier, lost $gone of 30" >&3
    [ "$back" -gt 0 ]
    [ $((gone + earlier)) -gt 0 ]
    for i in $(seq 1 40); do [ "$(stat -c %i "$MNT/new$i")" -gt "$highest" ]; done
}

# damage_at FILE SEED KIND: flips one byte at, or cuts the file at, an
# offset drawn with SEED from the records after the first quarter.
damage_at() {
    python3 - "$@" <<'PY'
import random, sys
path, seed, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = bytearray(open(path, "rb").read())
rng = random.Random(seed)
off = rng.randrange(len(data) // 4, len(data) - 1)
if kind == "flip":
    data[off] ^= 1 << rng.randrange(8)
else:
    del data[off:]
open(path, "wb").write(data)
print(f"{kind} at {off} of {len(data)}")
PY
}

@test "tree.log with a flipped bit (seed 1311): logged at error level, kept aside, the rest restored; lost channels' journals kept, never reused" {
    make_tree
    cp "$STATE/state/tree.log" "$WORK/tree.before"
    damage_at "$STATE/state/tree.log" 1311 flip >&3
    cp "$STATE/state/tree.log" "$WORK/tree.damaged"
    after_damage
    cmp "$WORK/tree.damaged" "$STATE/state/tree.log.damaged"
}

@test "tree.log cut short (seed 2718): logged, kept aside, the rest restored; lost channels' journals kept, never reused" {
    make_tree
    damage_at "$STATE/state/tree.log" 2718 truncate >&3
    after_damage
}

@test "tree.log deleted: logged at error level; every journal is kept aside and no new channel overwrites one" {
    make_tree
    rm "$STATE/state/tree.log"
    crash_and_remount
    grep -q "\[error\] state .*tree.log: missing" "$CHANFS_LOG"
    for i in $(seq 1 40); do durable_queue "$MNT/new$i" always; echo "new $i" >"$MNT/new$i"; done
    local ino name
    while read -r ino name; do
        if ((10#${name#c} % 3 == 0)); then [ -d "$STATE/state/orphaned/$ino" ]; fi
        [ "$(stat -c %i "$MNT/new1")" -gt "$ino" ]
    done <"$WORK/inos"
    (cd "$STATE/state/orphaned" && find . -type f -exec sha256sum {} + | sort -k2) | diff "$WORK/journals.sum" -
}

@test "repeated log lines are limited: 2000 setxattr calls and 300 unfinished lines give a few lines and a summary" {
    CHANFS_SOURCE="" mount_chanfs
    touch "$MNT/c"
    setfattr -n user.chanfs.kind -v queue "$MNT/c"
    python3 -c '
import os, sys
for i in range(2000):
    os.setxattr(sys.argv[1], "user.chanfs.capacity", str(4096 + i).encode())
for i in range(300):
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.write(fd, b"no newline")
    os.close(fd)
' "$MNT/c"
    stop_chanfs
    local set unfinished
    set="$(grep -c "/c: capacity set to" "$CHANFS_LOG")"
    unfinished="$(grep -c "unfinished 10-byte lines message" "$CHANFS_LOG")"
    echo "# setxattr lines: $set of 2000, unfinished-line lines: $unfinished of 300" >&3
    [ "$set" -lt 200 ]
    [ "$unfinished" -lt 100 ]
    grep -q "similar lines suppressed .*(setxattr)" "$CHANFS_LOG"
    grep -q "similar lines suppressed .*(writer closed with an unfinished message)" "$CHANFS_LOG"
}
