#!/usr/bin/env bats
# user.chanfs.uds = connect:/path: each open() of the file is its own
# connection to a Unix-socket server, so shell scripts can talk to it.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    mount_chanfs -o allow_other
    SOCKDIR="$(mktemp -d /tmp/chanfs-uds.XXXXXX)"
    chmod 0755 "$SOCKDIR"
    SOCK="$SOCKDIR/pp.sock"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$SOCKDIR"
    return "$status"
}

start_server() {
    bg /usr/bin/python3 "$BATS_TEST_DIRNAME/uds_server.py" "$SOCK" "${1:-0666}" > "$BATS_TEST_TMPDIR/server.out"
    wait_until 5 grep -q ready "$BATS_TEST_TMPDIR/server.out"
}

@test "bash: exec 3<> svc; printf ping; read -N 4 gets pong, 100 rounds" {
    start_server
    touch "$MNT/svc"
    chmod 0666 "$MNT/svc"
    setfattr -n user.chanfs.uds -v "connect:$SOCK" "$MNT/svc"
    [ "$(xattr "$MNT/svc" uds)" = "connect:$SOCK" ]
    run timeout 20 bash -c '
        exec 3<>"$1"
        for ((i = 0; i < 100; i++)); do
            printf ping >&3
            read -r -N 4 -t 5 reply <&3 || exit 1
            [ "$reply" = pong ] || exit 2
            n=$((n + 1))
        done
        echo "$n pongs"' _ "$MNT/svc"
    [ "$status" -eq 0 ]
    [ "$output" = "100 pongs" ]
    [ "$(xattr "$MNT/svc" stats.uds_bytes)" = 800 ]
}

@test "Python file I/O: 100 ping/pong rounds, then the server hangs up: read 0, write EPIPE" {
    start_server
    "$CHANCTL_BIN" create --uds-connect "$SOCK" "$MNT/svc"
    run timeout 20 /usr/bin/python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for _ in range(100):
    os.write(fd, b"ping")
    assert os.read(fd, 4) == b"pong"
os.write(fd, b"quit")
print(os.read(fd, 10), os.read(fd, 10), end=" ")
try:
    os.write(fd, b"ping")
    os.write(fd, b"ping")
    print("write accepted")
except OSError as e:
    print(errno.errorcode[e.errno])
' "$MNT/svc"
    [ "$output" = "b'bye' b'' EPIPE" ]
}

@test "each open is its own connection: two clients interleave without mixing" {
    start_server
    "$CHANCTL_BIN" create --uds-connect "$SOCK" "$MNT/svc"
    run timeout 20 /usr/bin/python3 -c '
import os, sys
a = os.open(sys.argv[1], os.O_RDWR)
b = os.open(sys.argv[1], os.O_RDWR)
os.write(a, b"ping")
os.write(b, b"abcd")
print(os.read(b, 4), os.read(a, 4))
' "$MNT/svc"
    [ "$output" = "b'????' b'pong'" ]
}

@test "parent and child share the descriptor: child blocked reading, parent writes" {
    start_server
    "$CHANCTL_BIN" create --uds-connect "$SOCK" "$MNT/svc"
    run timeout 20 /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
pid = os.fork()
if pid == 0:
    os._exit(0 if os.read(fd, 4) == b"pong" else 1)
time.sleep(0.3)
os.write(fd, b"ping")
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
' "$MNT/svc"
    [ "$output" = "child 0" ]
}

@test "O_NONBLOCK and poll on a connection" {
    start_server
    "$CHANCTL_BIN" create --uds-connect "$SOCK" "$MNT/svc"
    run timeout 20 /usr/bin/python3 -c '
import errno, os, select, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
out = []
try:
    os.read(fd, 4)
except BlockingIOError:
    out.append("EAGAIN")
p = select.poll()
p.register(fd, select.POLLIN)
out.append(str(len(p.poll(100))))
os.write(fd, b"ping")
ev = p.poll(5000)
out.append("POLLIN" if ev and ev[0][1] & select.POLLIN else "none")
out.append(os.read(fd, 4).decode())
print(" ".join(out))
' "$MNT/svc"
    [ "$output" = "EAGAIN 0 POLLIN pong" ]
}

@test "no server: ENOENT for a missing socket, ECONNREFUSED for a dead one" {
    "$CHANCTL_BIN" create --uds-connect "$SOCK" "$MNT/svc"
    run timeout 10 cat "$MNT/svc"
    [ "$status" -ne 0 ]
    [[ "$output" == *"No such file or directory"* ]]
    /usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
    run timeout 10 cat "$MNT/svc"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Connection refused"* ]]
}

@test "a connection is made with the opener's rights: nobody is refused a 0600 socket, allowed a 0666 one" {
    start_server 0600
    "$CHANCTL_BIN" create --uds-connect "$SOCK" "$MNT/svc"
    chmod 0666 "$MNT/svc"
    run setpriv --reuid=nobody --regid=nogroup --clear-groups timeout 10 bash -c 'exec 3<>"$1"' _ "$MNT/svc"
    [ "$status" -ne 0 ]
    [[ "$output" == *"Permission denied"* ]]
    chmod 0666 "$SOCK"
    run setpriv --reuid=nobody --regid=nogroup --clear-groups timeout 10 bash -c '
        exec 3<>"$1"; printf ping >&3; read -r -N 4 -t 5 r <&3; echo "$r"' _ "$MNT/svc"
    [ "$output" = pong ]
}

@test "bad uds values are refused; removing the setting or the channel hangs up" {
    start_server
    touch "$MNT/svc"
    for value in "connect:relative.sock" "listen:relative.sock" "dial:$SOCK" "connect:$MNT/x.sock"; do
        run setfattr -n user.chanfs.uds -v "$value" "$MNT/svc"
        [ "$status" -ne 0 ]
        [[ "$output" == *"Invalid argument"* ]]
    done
    grep -q "expected connect:/path, listen:/path or listen-seqpacket:/path" "$CHANFS_LOG"
    setfattr -n user.chanfs.uds -v "connect:$SOCK" "$MNT/svc"
    exec 5<> "$MNT/svc"
    [ "$(xattr "$MNT/svc" stats.uds_connected)" = 1 ]
    setfattr -x user.chanfs.uds "$MNT/svc"
    # The connection was hung up: end-of-file.
    run timeout 5 cat <&5
    exec 5>&-
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    run getfattr -n user.chanfs.uds "$MNT/svc"
    [ "$status" -ne 0 ]
}
