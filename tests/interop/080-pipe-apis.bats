#!/usr/bin/env bats
# Channels are regular files to the kernel (a FIFO inode would bypass the
# daemon), so APIs that insist on a pipe or a socket refuse them. Shown here
# with Python asyncio and Node, together with the documented workarounds
# (docs/limits-programs.md): read the file directly (add_reader,
# createReadStream), or give the program a real FIFO (fifo=out:) or a real
# socket (uds=listen:).
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

setup() {
    mount_chanfs
    OUTSIDE="$(mktemp -d /tmp/chanfs-apis.XXXXXX)"
    touch "$MNT/c"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$OUTSIDE"
    return "$status"
}

@test "a channel is a regular file: [ -p ] is false, [ -f ] true" {
    [ -f "$MNT/c" ]
    run ! test -p "$MNT/c"
    [[ "$(stat -c %F "$MNT/c")" == "regular "*file ]]
}

# api LANG MODE PATH: runs the Python or Node helper.
api() {
    if [[ "$1" == python ]]; then
        run timeout 20 $PY "$INTEROP_DIR/pipe_apis.py" "$2" "$3"
    else
        run timeout 20 node "$INTEROP_DIR/pipe_apis.js" "$2" "$3"
    fi
    echo "$1 $2: $output"
}

@test "Python asyncio: connect_read_pipe refuses a channel, add_reader reads it" {
    api python refuse "$MNT/c"
    [ "$status" -eq 0 ]
    [[ "$output" == *"Pipe transport is for pipes/sockets"* ]]
    bg bash -c 'sleep 0.5; echo hello > "$1"' _ "$MNT/c"
    api python add_reader "$MNT/c"
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
}

@test "Node: net.Socket({fd}) refuses a channel, fs.createReadStream reads it" {
    api node refuse "$MNT/c"
    [ "$status" -eq 0 ]
    [[ "$output" == *ERR_INVALID_FD_TYPE* ]]
    bg bash -c 'sleep 0.5; echo hello > "$1"' _ "$MNT/c"
    api node stream "$MNT/c"
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
}

@test "a fifo=out: bridge gives both a real FIFO" {
    setfattr -n user.chanfs.fifo -v "out:$OUTSIDE/c.fifo" "$MNT/c"
    [ -p "$OUTSIDE/c.fifo" ]
    for lang in python node; do
        bg bash -c 'sleep 0.5; echo "via fifo" > "$1"' _ "$MNT/c"
        api "$lang" fifo "$OUTSIDE/c.fifo"
        [ "$status" -eq 0 ]
        [ "$output" = "via fifo" ]
    done
}

@test "a uds=listen: endpoint gives both a real socket" {
    setfattr -n user.chanfs.uds -v "listen:$OUTSIDE/c.sock" "$MNT/c"
    [ -S "$OUTSIDE/c.sock" ]
    for lang in python node; do
        bg bash -c 'sleep 0.5; echo "via socket" > "$1"' _ "$MNT/c"
        api "$lang" uds "$OUTSIDE/c.sock"
        [ "$status" -eq 0 ]
        [ "$output" = "via socket" ]
    done
}
