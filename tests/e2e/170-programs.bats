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
