#!/usr/bin/env bats
# Real socket programs on a uds=listen channel: a client that half-closes
# (socat, nc -N) stays a reader, and a pipe's end-of-stream mark half-closes
# it; what clients send counts in the file's size, mtime and queued stats.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    mount_chanfs
    SOCKDIR="$(mktemp -d /tmp/chanfs-uds.XXXXXX)"
    SOCK="$SOCKDIR/svc.sock"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$SOCKDIR"
    return "$status"
}

# respond N: answers N requests on $MNT/svc the FIFO way: read one writer
# session to its end, write the reply as one session.
respond() {
    bg timeout 30 bash -c 'for ((i = 0; i < $2; i++)); do req=$(cat "$1"); echo "reply:$req" > "$1"; done' _ "$MNT/svc" "$1"
}

@test "socat: a half-closed client gets its reply, then end-of-file, and exits" {
    touch "$MNT/svc"  # a pipe, as mkfifo would make
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/svc"
    respond 2
    local responder=$BG_PID
    # -t 20: socat would wait 20 s for the socket's end-of-file after its
    # own; it exits at once only because chanfs half-closes after the reply.
    run timeout 10 socat -t 20 - "UNIX-CONNECT:$SOCK" <<<"cmd one"
    [ "$status" -eq 0 ]
    [ "$output" = "reply:cmd one" ]
    run timeout 10 socat -t 20 - "UNIX-CONNECT:$SOCK" <<<"cmd two"
    [ "$status" -eq 0 ]
    [ "$output" = "reply:cmd two" ]
    timeout_wait 10 "$responder"
    wait_until 10 stat_is "$MNT/svc" stats.uds_clients 0
}

@test "nc -N -U: the reply reaches the client that sent the request, not the next one" {
    touch "$MNT/svc"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/svc"
    respond 3
    local responder=$BG_PID i
    for i in 1 2 3; do
        run timeout 10 nc.openbsd -N -U "$SOCK" <<<"job $i"
        [ "$status" -eq 0 ]
        [ "$output" = "reply:job $i" ]
    done
    timeout_wait 10 "$responder"
}

@test "a half-closed client on a queue still receives what is written while it waits" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/q"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/q"
    bg timeout 20 bash -c 'read -r line < "$1"; echo "got:$line" > "$1"' _ "$MNT/q"
    local responder=$BG_PID
    # A queue has no end-of-stream: socat ends on its own -t after the reply.
    run timeout 10 socat -t 2 - "UNIX-CONNECT:$SOCK" <<<"hello"
    [ "$output" = "got:hello" ]
    timeout_wait 10 "$responder"
}

@test "what uds=listen clients send counts in ls -l size, mtime and stats.queued_*" {
    touch "$MNT/svc"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/svc"
    touch -d '2001-01-01 00:00:00' "$MNT/svc"
    [ "$(stat -c %s "$MNT/svc")" = 0 ]
    printf 'hello\n' | timeout 10 socat -u - "UNIX-CONNECT:$SOCK"
    wait_until 10 stat_is "$MNT/svc" stats.uds_bytes 6
    [ "$(stat -c %s "$MNT/svc")" = 6 ]
    [ "$(xattr "$MNT/svc" stats.queued_bytes)" = 6 ]
    [ "$(xattr "$MNT/svc" stats.queued_messages)" = 1 ]
    [ "$(stat -c %Y "$MNT/svc")" -gt "$(date -d '2001-01-02' +%s)" ]
    # Read, it is gone from the queue; the size (bytes ever queued) stays.
    [ "$(timeout 5 cat "$MNT/svc")" = hello ]
    [ "$(xattr "$MNT/svc" stats.queued_bytes)" = 0 ]
    [ "$(stat -c %s "$MNT/svc")" = 6 ]
}

@test "what is written into a fifo=in FIFO counts in ls -l size, mtime and stats.queued_*" {
    touch "$MNT/ch"
    setfattr -n user.chanfs.fifo -v "in:$SOCKDIR/in.fifo" "$MNT/ch"
    touch -d '2001-01-01 00:00:00' "$MNT/ch"
    timeout 5 bash -c 'echo hello > "$1"' _ "$SOCKDIR/in.fifo"
    wait_until 10 stat_is "$MNT/ch" stats.fifo_bytes 6
    [ "$(stat -c %s "$MNT/ch")" = 6 ]
    [ "$(xattr "$MNT/ch" stats.queued_bytes)" = 6 ]
    [ "$(stat -c %Y "$MNT/ch")" -gt "$(date -d '2001-01-02' +%s)" ]
}
