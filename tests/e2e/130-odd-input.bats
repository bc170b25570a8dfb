#!/usr/bin/env bats
# Odd but legal input (names, depth, renames and removals under load) and
# input that must be refused, each checked for its exact result and for
# nothing already accepted being lost.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

@test "names with spaces, a newline, non-UTF-8 bytes and 255 bytes work; 256 bytes is ENAMETOOLONG" {
    /usr/bin/python3 - "$MNT" <<'PY'
import errno, os, sys
mnt = os.fsencode(sys.argv[1])
names = [b"with space", b"new\nline", b"\xff\xfe latin-1 \xe9", b"n" * 255, b"-dash", b".hidden"]
for n in names:
    p = os.path.join(mnt, n)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, n + b"\n")
    os.close(fd)
listed = set(os.listdir(mnt))
assert set(names) <= listed, (names, listed)
for n in names:
    fd = os.open(os.path.join(mnt, n), os.O_RDONLY)
    assert os.read(fd, 4096) == n + b"\n", n
    os.close(fd)
try:
    os.open(os.path.join(mnt, b"n" * 256), os.O_WRONLY | os.O_CREAT, 0o644)
    sys.exit("256-byte name accepted")
except OSError as e:
    assert e.errno == errno.ENAMETOOLONG, e
PY
}

@test "a directory tree 100 levels deep holds a working channel" {
    local d="$MNT" i
    for ((i = 0; i < 100; i++)); do d="$d/d$i"; done
    mkdir -p "$d"
    echo deep > "$d/p"
    run timeout 10 cat "$d/p"
    [ "$status" -eq 0 ]
    [ "$output" = deep ]
}

@test "rename over an open channel: open handles keep the old channel, the name the new one" {
    echo old > "$MNT/a"
    exec 5<"$MNT/a"
    echo new > "$MNT/b"
    mv "$MNT/b" "$MNT/a"
    read -r -u 5 line
    exec 5<&-
    [ "$line" = old ]
    run timeout 10 cat "$MNT/a"
    [ "$output" = new ]
}

@test "unlink while readers wait: every blocked reader gets end-of-stream" {
    touch "$MNT/q"
    setfattr -n user.chanfs.kind -v queue "$MNT/q"
    local pids=() i
    for i in 1 2 3 4 5; do
        bg timeout 20 cat "$MNT/q"
        pids+=("$BG_PID")
    done
    wait_until 5 stat_is "$MNT/q" stats.blocked_readers 5
    rm "$MNT/q"
    for i in "${pids[@]}"; do
        timeout_wait 5 "$i"   # exit 0: cat saw end-of-file
    done
    [ ! -e "$MNT/q" ]
}

@test "a writer killed mid-line leaves no fragment; the lines before it are whole" {
    touch "$MNT/q"
    setfattr -n user.chanfs.kind -v queue "$MNT/q"
    /usr/bin/python3 - "$MNT/q" <<'PY'
import os, signal, sys
pid = os.fork()
if pid == 0:
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.write(fd, b"one\ntwo\nhalf a li")
    os.kill(os.getpid(), signal.SIGKILL)
os.waitpid(pid, 0)
PY
    # head tries to seek back after its lines and complains (not seekable)
    run --separate-stderr timeout 5 head -n 2 "$MNT/q"
    [ "$output" = $'one\ntwo' ]
    [ "$(xattr "$MNT/q" stats.queued_bytes)" = 0 ]
    [ "$(xattr "$MNT/q" stats.drops)" = 1 ]
}

@test "an lp32 header announcing more than max_message is EMSGSIZE and queues nothing" {
    touch "$MNT/f"
    setfattr -n user.chanfs.framing -v lp32 "$MNT/f"
    setfattr -n user.chanfs.max_message -v 100 "$MNT/f"
    run write_once "$MNT/f" '(5).to_bytes(4, "little") + b"hello"'
    [ "$output" = 9 ]
    run write_once "$MNT/f" '(101).to_bytes(4, "little") + b"x" * 101'
    [ "$output" = EMSGSIZE ]
    [ "$(xattr "$MNT/f" stats.queued_bytes)" = 9 ]
    [ "$(xattr "$MNT/f" stats.queued_messages)" = 1 ]
}
