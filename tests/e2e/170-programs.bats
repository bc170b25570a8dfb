#!/usr/bin/env bats
# Real programs on real channels (issue 11): GNU coreutils, less and shell
# loops against a mount, each compared with what a kernel FIFO or an
# ordinary file does.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    mount_chanfs -o allow_other
    OUTSIDE="$(mktemp -d /tmp/chanfs-programs.XXXXXX)"
    chmod 0755 "$OUTSIDE"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    if [[ -n "${TMPFS_REF:-}" ]]; then
        umount "$TMPFS_REF" || status=1
        rmdir "$TMPFS_REF"
    fi
    rm -rf "$OUTSIDE"
    return "$status"
}

long_name() {
    printf 'n%.0s' $(seq 256)
}

@test "every lookup of a 256-byte name fails with ENAMETOOLONG, checked first" {
    local long
    long="$(long_name)"
    mkdir "$MNT/d"
    echo x > "$MNT/c"
    # Each command names the over-long component; the kernel looks it up
    # first, so every one must say "File name too long" (ENOENT or EPERM
    # would send a user looking for the wrong problem).
    local cmds=(
        "stat $MNT/$long"
        "chmod 0600 $MNT/$long"
        "chown nobody $MNT/$long"
        "rmdir $MNT/$long"
        "unlink $MNT/$long"
        "rm -f -- $MNT/$long"
        "mv $MNT/$long $MNT/other"
        "mv $MNT/c $MNT/$long"
        "ln $MNT/c $MNT/$long"
        "ln -s c $MNT/$long"
        "mknod $MNT/$long p"
        "mkfifo $MNT/$long"
        "touch $MNT/$long"
        "mkdir $MNT/$long"
        "stat $MNT/d/$long"
    )
    local c
    for c in "${cmds[@]}"; do
        run -1 $c
        echo "$c: $output"
        [[ "$output" == *"File name too long"* ]]
    done
    # 255 bytes is still a name.
    local ok="${long:1}"
    echo y > "$MNT/$ok"
    [ "$(cat "$MNT/$ok")" = y ]
}

# follow_test CMD...: runs a follower (tail -f/-F) of $F in the background
# while three writer sessions come and go; each session's lines must show.
follow_writers() {
    local out="$BATS_TEST_TMPDIR/follow.out"
    bg "$@" > "$out" 2>&1
    local follower=$BG_PID
    local i
    for i in 1 2 3; do
        echo "session $i" > "$F"
        wait_until 10 grep -q "session $i" "$out" || {
            cat "$out"
            return 1
        }
    done
    kill "$follower"
    cat "$out"
    # Nothing but the data: no "file truncated", no "cannot seek".
    [ "$(cat "$out")" = "$(printf 'session 1\nsession 2\nsession 3')" ]
}

@test "tail -f on a pipe channel follows every writer, as on a FIFO" {
    F="$OUTSIDE/fifo"
    mkfifo "$F"
    # A FIFO's tail blocks in open until the first writer: start it first.
    follow_writers tail -f "$F"
    F="$MNT/pipe"
    touch "$F"
    follow_writers tail -f "$F"
}

@test "tail -F on a pipe channel follows every writer" {
    F="$MNT/pipe"
    touch "$F"
    follow_writers tail -F -s 0.1 "$F"
}

@test "a pipe channel's size never shrinks under a reader: total bytes written" {
    F="$MNT/pipe"
    touch "$F"
    [ "$(stat -c %s "$F")" -eq 0 ]
    printf 'hello\n' > "$F"
    [ "$(stat -c %s "$F")" -eq 6 ]
    [ "$(xattr "$F" stats.queued_bytes)" -eq 6 ]
    [ "$(cat "$F")" = hello ]
    # Read, yet the size stays: a follower that compared sizes would
    # otherwise take the read for a truncation.
    [ "$(stat -c %s "$F")" -eq 6 ]
    [ "$(xattr "$F" stats.queued_bytes)" -eq 0 ]
    printf 'abc' > "$F"
    [ "$(stat -c %s "$F")" -eq 9 ]
}

@test "wc, head -c and cp read a pipe channel like a FIFO" {
    F="$MNT/pipe"
    touch "$F"
    printf 'hello world\n' > "$F"
    run wc -l "$F"
    [ "$output" = "1 $F" ]
    printf 'hello world\n' > "$F"
    run bash -c 'cat "$1" | wc -c' _ "$F"
    [ "$output" = 12 ]
    # coreutils 9.1's wc -c on a regular file prints st_size without
    # reading (docs/limits-programs.md): the bytes ever written, nothing taken.
    printf 'abc\n' > "$F"
    run wc -c "$F"
    [ "$output" = "$(stat -c %s "$F") $F" ]
    [ "$(xattr "$F" stats.queued_bytes)" = 4 ]
    timeout 10 cat "$F" > /dev/null
    printf 'hello world\n' > "$F"
    run head -c 5 "$F"
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
    # head asked for 5 bytes: the rest stays queued for the next reader.
    [ "$(timeout 10 cat "$F")" = " world" ]
    printf 'first\n' > "$F"
    printf 'second\n' > "$F"
    cp "$F" "$OUTSIDE/copy"
    [ "$(cat "$OUTSIDE/copy")" = first ]
    cp "$F" "$OUTSIDE/copy2"
    [ "$(cat "$OUTSIDE/copy2")" = second ]
}

# mode_after_write FILE USER: writes one line into FILE as USER (root:
# keeps CAP_FSETID) and prints the file's mode.
mode_after_write() {
    if [[ "$2" == root ]]; then
        echo x >> "$1"
    else
        setpriv --reuid="$2" --regid="$(id -g "$2")" --clear-groups bash -c 'echo x >> "$1"' _ "$1"
    fi
    stat -c %a "$1"
}

@test "a write without CAP_FSETID clears set-user-ID and set-group-ID, as on the local filesystem" {
    local ref="$OUTSIDE/ref" chan="$MNT/c" who expected got
    # Non-owner, owner without CAP_FSETID, and root: each compared with an
    # ordinary file outside the mount.
    for who in nobody owner root; do
        rm -f "$ref"
        touch "$ref" "$chan"
        if [[ "$who" == owner ]]; then chown nobody "$ref" "$chan"; else chown root "$ref" "$chan"; fi
        chmod 06777 "$ref" "$chan"
        local user="$who"
        [[ "$who" == owner ]] && user=nobody
        expected="$(mode_after_write "$ref" "$user")"
        got="$(mode_after_write "$chan" "$user")"
        echo "$who: local $expected, channel $got"
        [ "$got" = "$expected" ]
        timeout 10 cat "$chan" > /dev/null
        rm -f "$chan"
    done
    # The reference really did clear them for the unprivileged writers.
    [ "$(mode_after_write "$ref" root)" = 6777 ]
}

has_reader() {
    [ "$(xattr "$1" stats.readers)" -ge 1 ]
}

has_blocked_reader() {
    [ "$(xattr "$1" stats.blocked_readers)" -ge 1 ]
}

# A lines queue of N jobs ("job 001" ...), one write per job.
queue_of_jobs() {
    touch "$1"
    setfattr -n user.chanfs.kind -v queue "$1"
    local i
    for ((i = 1; i <= $2; i++)); do printf 'job %03d\n' "$i"; done > "$1"
}

@test "head -n1, head -c, Python for-line and bash read on a queue: one job each, no error" {
    local q="$MNT/q"
    queue_of_jobs "$q" 10
    # GNU head seeks back by what it read past the line; on a FIFO the seek
    # fails and head stays quiet, on a regular file a failed seek is an error.
    run --separate-stderr head -n1 "$q"
    echo "head -n1: status $status, stderr '$stderr'"
    [ "$status" -eq 0 ]
    [ "$output" = "job 001" ]
    [ -z "$stderr" ]
    [ "$(xattr "$q" stats.queued_messages)" = 9 ]
    run --separate-stderr head -n2 "$q"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'job 002\njob 003')" ]
    [ -z "$stderr" ]
    [ "$(xattr "$q" stats.queued_messages)" = 7 ]
    # head -c takes part of one job; the jobs after it stay queued.
    run --separate-stderr head -c 5 "$q"
    [ "$status" -eq 0 ]
    [ "$output" = "job 0" ]
    [ -z "$stderr" ]
    [ "$(xattr "$q" stats.queued_messages)" = 6 ]
    run --separate-stderr /usr/bin/python3 -c '
import sys
with open(sys.argv[1]) as f:
    for line in f:
        print(line, end="")
        break' "$q"
    [ "$status" -eq 0 ]
    [ "$output" = "job 005" ]
    [ -z "$stderr" ]
    [ "$(xattr "$q" stats.queued_messages)" = 5 ]
    local line
    read -r line < "$q"
    [ "$line" = "job 006" ]
    [ "$(xattr "$q" stats.queued_messages)" = 4 ]
    # A read loop on one descriptor takes one job per read builtin.
    run bash -c 'n=0; while read -r l; do n=$((n+1)); echo "$l"; [ "$n" = 2 ] && break; done < "$1"' _ "$q"
    [ "$output" = "$(printf 'job 007\njob 008')" ]
    [ "$(xattr "$q" stats.queued_messages)" = 2 ]
}

@test "two processes sharing one read-only descriptor of a queue each get a job" {
    local q="$MNT/q"
    touch "$q"
    setfattr -n user.chanfs.kind -v queue "$q"
    # Parent and child block reading the same open file (the queue is
    # seekable for head's sake, so the kernel orders them on its position
    # lock); each must get one job when two arrive.
    bg /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
pid = os.fork()
got = os.read(fd, 100)
if pid == 0:
    open(sys.argv[2] + ".child", "wb").write(got)
    os._exit(0)
os.waitpid(pid, 0)
open(sys.argv[2] + ".parent", "wb").write(got)' "$q" "$OUTSIDE/got"
    local reader=$BG_PID
    wait_until 10 has_blocked_reader "$q"
    printf 'one\ntwo\n' > "$q"
    timeout_wait 10 "$reader"
    [ "$(cat "$OUTSIDE/got.parent" "$OUTSIDE/got.child" | sort | tr '\n' ' ')" = "one two " ]
}

@test "a shared O_RDWR descriptor of a queue stays a stream: the writer never waits for its blocked reader" {
    local q="$MNT/q"
    touch "$q"
    setfattr -n user.chanfs.kind -v queue "$q"
    run timeout 20 /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.lseek(fd, 0, os.SEEK_CUR)
    print("seekable")
except OSError as e:
    print("stream", e.errno)
pid = os.fork()
if pid == 0:
    os._exit(0 if os.read(fd, 100) == b"ping\n" else 1)
time.sleep(0.3)
t = time.monotonic()
os.write(fd, b"ping\n")
took = time.monotonic() - t
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), "fast" if took < 5 else "slow")' "$q"
    [ "$output" = "$(printf 'stream 29\nchild 0 fast')" ]
}

# mode_after FILE OWNER USER OP: makes FILE a 06777 file owned by
# OWNER:nogroup, does OP on it as USER (root keeps every capability) and
# prints the mode.
mode_after() {
    local f="$1" owner="$2" user="$3" op="$4"
    rm -f "$f"
    touch "$f"
    chown "$owner:nogroup" "$f"
    chmod 06777 "$f"
    local cmd
    case "$op" in
    chgrp) cmd='chgrp nogroup "$1"' ;;
    chown) cmd='chown "$(id -u)" "$1"' ;;
    truncate) cmd='truncate -s 0 "$1"' ;;
    o_trunc) cmd=': > "$1"' ;;
    esac
    if [[ "$user" == root ]]; then
        bash -c "$cmd" _ "$f"
    else
        setpriv --reuid="$user" --regid=nogroup --clear-groups bash -c "$cmd" _ "$f"
    fi
    stat -c %a "$f"
}

@test "chown, chgrp, truncate and an O_TRUNC open clear set-user-ID as on tmpfs" {
    TMPFS_REF="$(mktemp -d /tmp/chanfs-tmpfs.XXXXXX)"
    mount -t tmpfs -o size=1m,mode=0755 tmpfs "$TMPFS_REF"
    local owner user op expected got cleared=0
    for op in chgrp chown truncate o_trunc; do
        # The owner (no CAP_FSETID), a non-owner with write permission
        # (chown and chgrp are not its to do), and root.
        for owner_user in nobody:nobody root:nobody root:root; do
            owner="${owner_user%%:*}" user="${owner_user##*:}"
            [[ "$owner" == root && "$user" == nobody && "$op" == ch* ]] && continue
            expected="$(mode_after "$TMPFS_REF/f" "$owner" "$user" "$op")"
            got="$(mode_after "$MNT/f" "$owner" "$user" "$op")"
            echo "$op of $owner's file by $user: tmpfs $expected, channel $got"
            [ "$got" = "$expected" ]
            [[ "$expected" == 777 ]] && cleared=$((cleared + 1))
            rm -f "$MNT/f"
        done
    done
    # tmpfs did clear them for every unprivileged case and for root's chown.
    [ "$cleared" -ge 6 ]
}

@test "less +F on a topic channel follows every writer (the workaround for a pipe channel)" {
    local t="$MNT/t" out="$BATS_TEST_TMPDIR/less.out"
    touch "$t"
    setfattr -n user.chanfs.kind -v topic "$t"
    # less needs a terminal: script(1) gives it one; LESS= clears any
    # user options, TERM=dumb keeps its output plain.
    bg env LESS= TERM=dumb script -qfc "less +F $t" /dev/null > "$out"
    wait_until 10 has_reader "$t"
    local i
    for i in 1 2 3; do
        echo "session $i" > "$t"
        wait_until 10 grep -qa "session $i" "$out"
    done
}
