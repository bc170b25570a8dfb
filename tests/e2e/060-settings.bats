#!/usr/bin/env bats
# Settings and stats as user.chanfs.* xattrs, directory defaults, and chanctl.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

@test "getfattr -d shows settings and live stats" {
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 10 "$MNT/news"
    echo hello > "$MNT/news"
    run getfattr -d -m - --absolute-names "$MNT/news"
    [[ "$output" == *'user.chanfs.kind="topic"'* ]]
    [[ "$output" == *'user.chanfs.framing="lines"'* ]]
    [[ "$output" == *'user.chanfs.replay="10"'* ]]
    [[ "$output" == *'user.chanfs.capacity="1048576"'* ]]
    [[ "$output" == *'user.chanfs.stats.in_messages="1"'* ]]
    [[ "$output" == *'user.chanfs.stats.queued_messages="1"'* ]]
    [[ "$output" == *'user.chanfs.stats.blocked_readers="0"'* ]]
}

@test "bad values are refused with EINVAL, logged, and the old setting stays" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/q"
    echo keep > "$MNT/q"
    local key value
    for kv in kind=bogus framing=frames capacity=-1 capacity=12Q max_message=0 \
        overflow=sometimes replay=many; do
        key="${kv%%=*}"
        value="${kv#*=}"
        run setfattr -n "user.chanfs.$key" -v "$value" "$MNT/q"
        [ "$status" -ne 0 ]
        [[ "$output" == *"Invalid argument"* ]]
        grep -q "user.chanfs.$key='$value'" "$CHANFS_LOG"
    done
    [ "$(xattr "$MNT/q" kind)" = queue ]
    [ "$(xattr "$MNT/q" framing)" = lines ]
    [ "$(xattr "$MNT/q" capacity)" = 1048576 ]
    [ "$(xattr "$MNT/q" overflow)" = block ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 1 ]
    run setfattr -n user.chanfs.nosuchkey -v 1 "$MNT/q"
    [[ "$output" == *"Invalid argument"* ]]
}

@test "stats are read-only and other namespaces are not stored" {
    touch "$MNT/p"
    run setfattr -n user.chanfs.stats.drops -v 0 "$MNT/p"
    [[ "$output" == *"Operation not permitted"* ]]
    run setfattr -n user.comment -v hi "$MNT/p"
    [[ "$output" == *"Operation not supported"* ]]
    run getfattr -n user.comment "$MNT/p"
    [ "$status" -ne 0 ]
}

@test "settings take effect: a bigger capacity admits what a full channel refused" {
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 8 "$MNT/q"
    run /usr/bin/python3 -c '
import errno, os, subprocess, sys
path = sys.argv[1]
w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
def attempt(data):
    try:
        return str(os.write(w, data))
    except OSError as e:
        return errno.errorcode[e.errno]
out = [attempt(b"1234567\n"), attempt(b"next\n")]
subprocess.run(["setfattr", "-n", "user.chanfs.capacity", "-v", "64K", path], check=True)
out.append(attempt(b"next\n"))
print(" ".join(out))
' "$MNT/q"
    [ "$output" = "8 EAGAIN 5" ]
    [ "$(xattr "$MNT/q" capacity)" = 65536 ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 2 ]
}

@test "changing kind or framing with open handles is refused with EBUSY" {
    touch "$MNT/p"
    exec 4> "$MNT/p"
    run setfattr -n user.chanfs.kind -v queue "$MNT/p"
    [[ "$output" == *"Device or resource busy"* ]]
    run setfattr -n user.chanfs.framing -v lines "$MNT/p"
    [[ "$output" == *"Device or resource busy"* ]]
    # Other settings may change while open.
    setfattr -n user.chanfs.capacity -v 4096 "$MNT/p"
    exec 4>&-
    setfattr -n user.chanfs.kind -v queue "$MNT/p"
    [ "$(xattr "$MNT/p" kind)" = queue ]
    [ "$(xattr "$MNT/p" capacity)" = 4096 ]
}

@test "a directory's settings are defaults for channels created in it" {
    mkdir -p "$MNT/sensors/deep"
    setfattr -n user.chanfs.kind -v topic "$MNT/sensors"
    setfattr -n user.chanfs.replay -v 5 "$MNT/sensors"
    setfattr -n user.chanfs.framing -v lp32 "$MNT/sensors/deep"
    touch "$MNT/sensors/temp" "$MNT/sensors/deep/raw" "$MNT/plain"
    [ "$(xattr "$MNT/sensors/temp" kind)" = topic ]
    [ "$(xattr "$MNT/sensors/temp" replay)" = 5 ]
    [ "$(xattr "$MNT/sensors/deep/raw" kind)" = topic ]
    [ "$(xattr "$MNT/sensors/deep/raw" framing)" = lp32 ]
    [ "$(xattr "$MNT/plain" kind)" = pipe ]
    setfattr -x user.chanfs.kind "$MNT/sensors"
    touch "$MNT/sensors/after"
    [ "$(xattr "$MNT/sensors/after" kind)" = pipe ]
    run setfattr -n user.chanfs.kind -v bogus "$MNT/sensors"
    [[ "$output" == *"Invalid argument"* ]]
}

@test "only the owner (or root) may change settings" {
    touch "$MNT/p"
    chmod 0666 "$MNT/p"
    run setpriv --reuid=nobody --regid=nogroup --clear-groups \
        setfattr -n user.chanfs.capacity -v 100 "$MNT/p"
    [ "$status" -ne 0 ]
    [ "$(xattr "$MNT/p" capacity)" = 1048576 ]
}

@test "chanctl create, set, stat and ls, human and --json" {
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 10 "$MNT/news"
    [ "$(xattr "$MNT/news" replay)" = 10 ]
    "$CHANCTL_BIN" set "$MNT/news" --capacity 2M overflow=drop-oldest
    [ "$(xattr "$MNT/news" capacity)" = 2097152 ]
    [ "$(xattr "$MNT/news" overflow)" = drop-oldest ]
    echo hi > "$MNT/news"
    run "$CHANCTL_BIN" stat "$MNT/news"
    [ "$status" -eq 0 ]
    [[ "$output" == *"kind"*"topic"* ]]
    [[ "$output" == *"stats.in_messages"*"1"* ]]
    "$CHANCTL_BIN" stat --json "$MNT/news" > "$BATS_TEST_TMPDIR/stat.json"
    run /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["settings"]["kind"], d["settings"]["capacity"], d["stats"]["in_messages"], d["stats"]["queued_messages"])
' "$BATS_TEST_TMPDIR/stat.json"
    [ "$output" = "topic 2097152 1 1" ]
    mkdir "$MNT/d"
    "$CHANCTL_BIN" create --kind queue "$MNT/d/q"
    run "$CHANCTL_BIN" ls "$MNT"
    [[ "${lines[0]}" == NAME* ]]
    [[ "$output" == *"news"*"channel"*"topic"*"lines"* ]]
    "$CHANCTL_BIN" ls --json -r "$MNT" > "$BATS_TEST_TMPDIR/ls.json"
    run /usr/bin/python3 -c '
import json, sys
print(sorted((e["name"], e["type"], e["settings"].get("kind", "-")) for e in json.load(open(sys.argv[1]))))
' "$BATS_TEST_TMPDIR/ls.json"
    [ "$output" = "[('d', 'directory', '-'), ('d/q', 'channel', 'queue'), ('news', 'channel', 'topic')]" ]
}

@test "chanctl errors: clear messages and non-zero exit codes" {
    "$CHANCTL_BIN" create "$MNT/c"
    run "$CHANCTL_BIN" create "$MNT/c"
    [ "$status" -eq 1 ]
    [[ "$output" == *"File exists"* ]]
    run "$CHANCTL_BIN" set "$MNT/c" capacity=lots
    [ "$status" -eq 1 ]
    [[ "$output" == *"capacity"*"Invalid argument"* ]]
    run "$CHANCTL_BIN" stat "$MNT/missing"
    [ "$status" -eq 1 ]
    [[ "$output" == *"No such file or directory"* ]]
    run "$CHANCTL_BIN" frobnicate
    [ "$status" -eq 2 ]
    run "$CHANCTL_BIN" stat "$BATS_TEST_TMPDIR"
    [ "$status" -eq 1 ]
    [[ "$output" == *"not on a chanfs mount"* ]]
    "$CHANCTL_BIN" create --exist-ok "$MNT/c"
}
