#!/usr/bin/env bats
# The shell workflows of a pipe channel: echo/cat, sessions, blocking cat,
# mkfifo, and the ordinary file operations on channels.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

@test "echo then cat: the line comes back and cat exits at the writer's end" {
    mkdir "$MNT/sensors"
    echo "21.5" > "$MNT/sensors/temp"
    run timeout 10 cat "$MNT/sensors/temp"
    [ "$status" -eq 0 ]
    [ "$output" = "21.5" ]
    [ "$(xattr "$MNT/sensors/temp" stats.queued_bytes)" = 0 ]
}

@test "writer sessions never merge: each cat gets one session, in order" {
    echo first > "$MNT/p"
    printf 'second\nline two\n' > "$MNT/p"
    echo third > "$MNT/p"
    run timeout 10 cat "$MNT/p"
    [ "$output" = "first" ]
    run timeout 10 cat "$MNT/p"
    [ "$output" = $'second\nline two' ]
    run timeout 10 cat "$MNT/p"
    [ "$output" = "third" ]
}

@test "cat on an empty pipe blocks, then is fed and exits" {
    touch "$MNT/p"
    bg timeout 20 cat "$MNT/p" > "$BATS_TEST_TMPDIR/out"
    local cat_pid=$BG_PID
    wait_until 5 stat_is "$MNT/p" stats.blocked_readers 1
    sleep 0.2
    is_blocked "$cat_pid"
    echo "late news" > "$MNT/p"
    wait_until 5 is_gone "$cat_pid"
    wait "$cat_pid"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = "late news" ]
}

@test "an empty writer session wakes a blocked cat with end-of-stream, like a FIFO" {
    touch "$MNT/p"
    bg timeout 20 cat "$MNT/p"
    local cat_pid=$BG_PID
    wait_until 5 stat_is "$MNT/p" stats.blocked_readers 1
    : > "$MNT/p"
    wait_until 5 is_gone "$cat_pid"
    wait "$cat_pid"
}

@test "mkfifo makes a daemon-served pipe channel reported as a regular file" {
    mkfifo "$MNT/jobs"
    [ -f "$MNT/jobs" ]
    [ ! -p "$MNT/jobs" ]
    [ "$(xattr "$MNT/jobs" kind)" = pipe ]
    echo job1 > "$MNT/jobs"
    [ "$(timeout 10 cat "$MNT/jobs")" = job1 ]
    run mkfifo "$MNT/jobs"
    [ "$status" -ne 0 ]
    [[ "$output" == *"File exists"* ]]
}

@test "mkfifo gives a pipe even where the directory default is queue" {
    mkdir "$MNT/d"
    setfattr -n user.chanfs.kind -v queue "$MNT/d"
    touch "$MNT/d/plain"
    mkfifo "$MNT/d/fifo"
    [ "$(xattr "$MNT/d/plain" kind)" = queue ]
    [ "$(xattr "$MNT/d/fifo" kind)" = pipe ]
}

@test "touch, > and O_CREAT each make a channel of the default kind" {
    touch "$MNT/a"
    : > "$MNT/b"
    /usr/bin/python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY, 0o640))' "$MNT/c"
    for f in a b c; do
        [ -f "$MNT/$f" ]
        [ "$(xattr "$MNT/$f" kind)" = pipe ]
        [ "$(xattr "$MNT/$f" framing)" = bytes ]
    done
    [ "$(stat -c %a "$MNT/c")" = 640 ]
    run ls "$MNT"
    [ "$output" = $'a\nb\nc' ]
}

@test "mkdir, rename, unlink and rmdir; inode numbers stay put" {
    mkdir -p "$MNT/x/y"
    echo kept > "$MNT/x/y/ch"
    local ino
    ino="$(stat -c %i "$MNT/x/y/ch")"
    mv "$MNT/x/y/ch" "$MNT/x/moved"
    [ "$(stat -c %i "$MNT/x/moved")" = "$ino" ]
    [ ! -e "$MNT/x/y/ch" ]
    [ "$(timeout 10 cat "$MNT/x/moved")" = kept ]
    run rmdir "$MNT/x"
    [ "$status" -ne 0 ]
    [[ "$output" == *"not empty"* ]]
    rm "$MNT/x/moved"
    rmdir "$MNT/x/y" "$MNT/x"
    [ -z "$(ls -A "$MNT")" ]
}

@test "rename over an existing channel replaces it" {
    echo old > "$MNT/a"
    echo new > "$MNT/b"
    mv -f "$MNT/b" "$MNT/a"
    [ "$(timeout 10 cat "$MNT/a")" = new ]
    run ls "$MNT"
    [ "$output" = a ]
}

@test "ls -l shows the bytes ever written as size and the last write as mtime" {
    touch "$MNT/p"
    touch -m -d '2001-02-03 04:05:06' "$MNT/p"
    [ "$(stat -c %Y "$MNT/p")" = "$(date -d '2001-02-03 04:05:06' +%s)" ]
    [ "$(stat -c %s "$MNT/p")" = 0 ]
    local before
    before="$(date +%s)"
    printf '0123456789' > "$MNT/p"
    [ "$(stat -c %s "$MNT/p")" = 10 ]
    [ "$(stat -c %Y "$MNT/p")" -ge "$before" ]
    timeout 10 cat "$MNT/p" > /dev/null
    # Reading never shrinks it (tail -f would take that for a truncation);
    # what is queued now is in the stats.
    [ "$(stat -c %s "$MNT/p")" = 10 ]
    [ "$(xattr "$MNT/p" stats.queued_bytes)" = 0 ]
}

@test "chmod and chown change mode and owner" {
    touch "$MNT/p"
    chmod 0600 "$MNT/p"
    [ "$(stat -c %a "$MNT/p")" = 600 ]
    chown nobody:nogroup "$MNT/p"
    [ "$(stat -c %U:%G "$MNT/p")" = nobody:nogroup ]
    mkdir "$MNT/d"
    chmod 0700 "$MNT/d"
    [ "$(stat -c %a "$MNT/d")" = 700 ]
}

@test "new channels take the creator's umask" {
    (umask 027 && touch "$MNT/u" && mkdir "$MNT/ud")
    [ "$(stat -c %a "$MNT/u")" = 640 ]
    [ "$(stat -c %a "$MNT/ud")" = 750 ]
}

@test "O_TRUNC and O_APPEND are accepted and change nothing" {
    echo one > "$MNT/p"
    echo two >> "$MNT/p"
    [ "$(timeout 10 cat "$MNT/p")" = one ]
    [ "$(timeout 10 cat "$MNT/p")" = two ]
}

@test "the channel is not seekable" {
    echo data > "$MNT/p"
    run /usr/bin/python3 -c '
import os, sys, errno
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.lseek(fd, 2, os.SEEK_SET)
    print("seek succeeded")
except OSError as e:
    print(errno.errorcode[e.errno])
print(os.read(fd, 100).decode(), end="")
' "$MNT/p"
    [ "$output" = $'ESPIPE\ndata' ]
}

@test "a large write streams through and cat gets every byte" {
    head -c 5000000 /dev/urandom > "$BATS_TEST_TMPDIR/in"
    touch "$MNT/p"
    bg timeout 30 cat "$MNT/p" > "$BATS_TEST_TMPDIR/out"
    local cat_pid=$BG_PID
    timeout 30 dd if="$BATS_TEST_TMPDIR/in" of="$MNT/p" bs=1M status=none
    wait_until 20 is_gone "$cat_pid"
    wait "$cat_pid"
    cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}
