#!/usr/bin/env bats
# The daemon's command line, options and shutdown.
bats_require_minimum_version 1.5.0
load helpers

teardown() { chanfs_teardown; }

@test "--version and --help print and exit 0" {
    run "$CHANFS_BIN" --version
    [ "$status" -eq 0 ]
    [[ "$output" == *chanfs* ]]
    run "$CHANFS_BIN" --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"default_kind"* ]]
    [[ "$output" == *"allow_other"* ]]
}

@test "a bad command line exits 2 with a message and mounts nothing" {
    run "$CHANFS_BIN"
    [ "$status" -eq 2 ]
    [[ "$output" == *"missing MOUNTPOINT"* ]]
    local dir
    dir="$(mktemp -d)"
    run "$CHANFS_BIN" "$dir" -f -o default_kind=bogus
    [ "$status" -eq 2 ]
    [[ "$output" == *"default_kind=bogus"* ]]
    run "$CHANFS_BIN" "$dir" -f -o log_level=loud
    [ "$status" -eq 2 ]
    ! in_mount_table "$dir"
    rmdir "$dir"
}

@test "-o poll_us takes 0 to 10000 microseconds" {
    local dir
    dir="$(mktemp -d)"
    run "$CHANFS_BIN" "$dir" -f -o poll_us=10001
    [ "$status" -eq 2 ]
    [[ "$output" == *"poll_us=10001"*"0 to 10000"* ]]
    run "$CHANFS_BIN" "$dir" -f -o poll_us=soon
    [ "$status" -eq 2 ]
    ! in_mount_table "$dir"
    rmdir "$dir"
}

# ticks PID: user + system CPU time of a process, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

@test "a polling daemon spins only while requests come: idle, it uses no CPU" {
    # The longest window: if the spin never stopped, 3 s idle would cost
    # about 300 ticks (less on a busy machine, never near 10).
    mount_chanfs -o poll_us=10000
    touch "$MNT/q"
    setfattr -n user.chanfs.kind -v queue "$MNT/q"
    local i
    for ((i = 0; i < 200; i++)); do echo "m$i" >"$MNT/q"; done
    [ "$(head -n 1 "$MNT/q")" = m0 ]
    sleep 0.5
    local before after
    before="$(ticks "$CHANFS_PID")"
    sleep 3
    after="$(ticks "$CHANFS_PID")"
    echo "idle: $((after - before)) ticks in 3 s"
    [ $((after - before)) -lt 10 ]
}

@test "-o default_kind, default_framing and capacity set the defaults" {
    mount_chanfs -o default_kind=queue,default_framing=lp32,capacity=64K
    touch "$MNT/q"
    [ "$(xattr "$MNT/q" kind)" = queue ]
    [ "$(xattr "$MNT/q" framing)" = lp32 ]
    [ "$(xattr "$MNT/q" capacity)" = 65536 ]
}

@test "SIGTERM unmounts cleanly, waking a blocked reader, and exits 0" {
    mount_chanfs
    touch "$MNT/p"
    bg cat "$MNT/p"
    local cat_pid=$BG_PID
    wait_until 5 stat_is "$MNT/p" stats.blocked_readers 1
    kill -TERM "$CHANFS_PID"
    timeout_wait 10 "$CHANFS_PID"
    CHANFS_PID=""
    wait_until 5 is_gone "$cat_pid"
    ! in_mount_table "$MNT"
    grep -q "unmount\|stopp\|exit" "$CHANFS_LOG"
}

@test "SIGTERM with 100 blocked readers and 20 blocked writers: all return within 1 s, exit 0" {
    mount_chanfs
    # All 20 writers are parked in the daemon, five on each of four files
    # (parallel direct writes); after the signal no thread may be left waiting.
    run timeout 60 /usr/bin/python3 "$BATS_TEST_DIRNAME/shutdown_load.py" "$MNT" "$CHANFS_PID" 100 20 1.0
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"all returned: True"* ]]
    timeout_wait 10 "$CHANFS_PID"
    CHANFS_PID=""
    ! in_mount_table "$MNT"
}

@test "kill -9 with -o auto_unmount: the mount goes away and a blocked reader gets an error" {
    mount_chanfs -o auto_unmount
    touch "$MNT/p"
    bg cat "$MNT/p"
    local cat_pid=$BG_PID
    wait_until 5 stat_is "$MNT/p" stats.blocked_readers 1
    kill -KILL "$CHANFS_PID"
    wait "$CHANFS_PID" || true
    CHANFS_PID=""
    wait_until 5 is_gone "$cat_pid"
    run wait "$cat_pid"
    [ "$status" -ne 0 ]       # cat saw an error, not a clean end-of-file
    # fusermount3 unmounts once its control socket's other end is closed
    # by every process holding it. If it does not, say who still holds it.
    if ! wait_until 5 not_in_mount_table "$MNT"; then
        local p
        for p in $(pgrep -x fusermount3); do
            echo "fusermount3 $p: $(tr '\0' ' ' <"/proc/$p/cmdline") wchan=$(cat "/proc/$p/wchan")"
        done
        ss -xp | grep -e fusermount3 -e chanfs || true
        return 1
    fi
}

@test "-o auto_unmount: the daemon's socket to fusermount3 is below /dev/fuse and close-on-exec" {
    # fs/fuse/mount_socket.h: a killed process releases its highest
    # descriptors first, so with the socket above /dev/fuse fusermount3
    # could wake while the connection was still up and leave the mount.
    mount_chanfs -o auto_unmount
    local fm fd target fuse_fd="" sock_fd="" peer_inode
    fm="$(pgrep -P "$CHANFS_PID" -x fusermount3)"
    [ -n "$fm" ]
    # fusermount3's end of the socketpair, and the daemon's end: its peer.
    for fd in /proc/"$fm"/fd/*; do
        target="$(readlink "$fd")"
        [[ "$target" == socket:* ]] && peer_inode="$(ss -xH | awk -v i="${target//[^0-9]/}" '$6 == i {print $8}')"
    done
    [ -n "$peer_inode" ]
    for fd in /proc/"$CHANFS_PID"/fd/*; do
        target="$(readlink "$fd")"
        [[ "$target" == /dev/fuse ]] && fuse_fd="${fd##*/}"
        [[ "$target" == "socket:[$peer_inode]" ]] && sock_fd="${fd##*/}"
    done
    echo "daemon: /dev/fuse at $fuse_fd, the socket to fusermount3 at $sock_fd"
    [ -n "$fuse_fd" ] && [ -n "$sock_fd" ]
    [ "$sock_fd" -lt "$fuse_fd" ]
    # flags: octal, O_CLOEXEC is 02000000
    local flags
    flags="$(awk '$1 == "flags:" {print $2}' "/proc/$CHANFS_PID/fdinfo/$sock_fd")"
    (( (8#$flags & 8#2000000) != 0 ))
}

@test "kill -9 with -o auto_unmount, 20 times on one busy CPU: the mount goes every time" {
    # One CPU, shared with a busy loop, so that the woken fusermount3 often
    # runs before the dying daemon has released /dev/fuse: with the socket
    # above /dev/fuse that left the mount in about one round in seven.
    bg taskset -c 0 bash -c 'while :; do :; done'
    CHANFS_PREFIX=(taskset -c 0)
    local round left=0
    for ((round = 0; round < 20; round++)); do
        mount_chanfs -o auto_unmount
        kill -KILL "$CHANFS_PID"
        wait "$CHANFS_PID" || true
        CHANFS_PID=""
        if ! wait_until 5 not_in_mount_table "$MNT"; then
            left=$((left + 1))
            fusermount3 -u -z "$MNT"
        fi
        rmdir "$MNT"
        MNT=""
    done
    echo "mounts left behind: $left of 20"
    [ "$left" -eq 0 ]
}

@test "SIGINT (Ctrl-C on a foreground chanfs) unmounts cleanly too" {
    # A script's background jobs start with SIGINT ignored, and libfuse
    # leaves an ignored signal alone; run it with the default action, as a
    # terminal would.
    CHANFS_PREFIX=(/usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])')
    mount_chanfs
    kill -INT "$CHANFS_PID"
    timeout_wait 10 "$CHANFS_PID"
    CHANFS_PID=""
    ! in_mount_table "$MNT"
}

@test "daemonized (no -f): mounts, logs to syslog, SIGTERM unmounts" {
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    CHANFS_LOG="$BATS_TEST_TMPDIR/chanfs.log"
    : > "$CHANFS_LOG"
    "$CHANFS_BIN" "$MNT" 3>&-
    mountpoint -q "$MNT"
    echo hi > "$MNT/p"
    [ "$(timeout 10 cat "$MNT/p")" = hi ]
    local pid
    pid="$(pgrep -f -x "$CHANFS_BIN $MNT")"
    [ -n "$pid" ]
    kill -TERM "$pid"
    wait_until 10 not_in_mount_table "$MNT"
    wait_until 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid"
}
