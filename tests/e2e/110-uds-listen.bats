#!/usr/bin/env bats
# user.chanfs.uds = listen:/path and listen-seqpacket:/path: chanfs listens on
# a Unix socket; socket clients are one end, the file the other.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    mount_chanfs -o allow_other
    SOCKDIR="$(mktemp -d /tmp/chanfs-uds.XXXXXX)"
    chmod 0755 "$SOCKDIR"
    SOCK="$SOCKDIR/svc.sock"
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$SOCKDIR"
    return "$status"
}

@test "a socket client and a bash responder on the file exchange ping/pong" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/svc"
    chmod 0640 "$MNT/svc"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/svc"
    [ -S "$SOCK" ]
    [ "$(stat -c %a "$SOCK")" = 640 ]
    bg timeout 20 bash -c 'exec 3<>"$1"; for i in 1 2 3 4 5; do read -r line <&3; echo "pong:$line" >&3; done' _ "$MNT/svc"
    local responder=$BG_PID
    run timeout 20 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile("rwb")
for i in range(5):
    f.write(b"ping%d\n" % i)
    f.flush()
    sys.stdout.write(f.readline().decode())
' "$SOCK"
    [ "$output" = "$(printf 'pong:ping%d\n' 0 1 2 3 4)" ]
    timeout_wait 10 "$responder"
}

@test "seqpacket clients keep message boundaries both ways" {
    "$CHANCTL_BIN" create --kind queue --framing lp32 "$MNT/pk"
    setfattr -n user.chanfs.uds -v "listen-seqpacket:$SOCK" "$MNT/pk"
    # The file side writes two lp32 frames; each reaches the client as one packet.
    /usr/bin/python3 -c '
import os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for body in (b"hello", b"x" * 3000):
    os.write(fd, struct.pack("<I", len(body)) + body)
' "$MNT/pk"
    run timeout 20 /usr/bin/python3 -c '
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
got = [len(s.recv(65536)), len(s.recv(65536))]
# Two packets the other way: the file reader gets two whole lp32 frames.
s.send(b"abc")
s.send(b"defgh")
fd = os.open(sys.argv[2], os.O_RDONLY)
frames = []
buf = b""
while len(frames) < 2:
    buf += os.read(fd, 100)
    while len(buf) >= 4 and len(buf) >= 4 + struct.unpack("<I", buf[:4])[0]:
        n = struct.unpack("<I", buf[:4])[0]
        frames.append(buf[4:4 + n].decode())
        buf = buf[4 + n:]
print(got, frames)
' "$SOCK" "$MNT/pk"
    [ "$output" = "[5, 3000] ['abc', 'defgh']" ]
}

@test "50 socket clients on a topic all receive every message" {
    "$CHANCTL_BIN" create --kind topic --framing lines "$MNT/news"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/news"
    bg timeout 30 /usr/bin/python3 -c '
import socket, sys, threading
results = [None] * 50
socks = []
for i in range(50):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
open(sys.argv[2], "w").write("connected\n")
def read(i):
    f = socks[i].makefile("rb")
    results[i] = [f.readline() for _ in range(20)]
threads = [threading.Thread(target=read, args=(i,)) for i in range(50)]
for t in threads: t.start()
for t in threads: t.join()
want = [b"news %d\n" % k for k in range(20)]
print(sum(r == want for r in results))
' "$SOCK" "$BATS_TEST_TMPDIR/ready" > "$BATS_TEST_TMPDIR/out"
    local clients=$BG_PID
    wait_until 10 grep -q connected "$BATS_TEST_TMPDIR/ready"
    wait_until 10 stat_is "$MNT/news" stats.uds_clients 50
    seq -f 'news %g' 0 19 > "$MNT/news"
    timeout_wait 20 "$clients"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = 50 ]
}

@test "queue: socket clients take turns, each message to exactly one client" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/work"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/work"
    bg timeout 30 /usr/bin/python3 -c '
import socket, sys, threading
socks = []
for i in range(2):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
got = [[], []]
def read(i):
    f = socks[i].makefile("rb")
    for line in f:
        if line == b"END\n":
            return
        got[i].append(line.decode().strip())
threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
for t in threads: t.start()
for t in threads: t.join()
both = got[0] + got[1]
print(len(got[0]) > 0, len(got[1]) > 0, sorted(both) == sorted("job%d" % k for k in range(40)))
' "$SOCK" > "$BATS_TEST_TMPDIR/out"
    local clients=$BG_PID
    wait_until 10 stat_is "$MNT/work" stats.uds_clients 2
    wait_until 10 stat_is "$MNT/work" stats.blocked_readers 2
    { seq -f 'job%g' 0 39; echo END; echo END; } > "$MNT/work"
    timeout_wait 20 "$clients"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = "True True True" ]
}

@test "a malformed lp32 frame disconnects only its sender; queued data is kept" {
    "$CHANCTL_BIN" create --kind queue --framing lp32 --max-message 1000 "$MNT/q"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/q"
    run timeout 20 /usr/bin/python3 -c '
import socket, struct, sys, time
good = socket.socket(socket.AF_UNIX); good.connect(sys.argv[1])
bad = socket.socket(socket.AF_UNIX); bad.connect(sys.argv[1])
good.sendall(struct.pack("<I", 2) + b"ok")
bad.sendall(struct.pack("<I", 5000) + b"x" * 10)
bad.settimeout(5)
print("bad:", bad.recv(10))  # end-of-file: disconnected
good.sendall(struct.pack("<I", 3) + b"yes")
print("good still connected")
' "$SOCK"
    [ "$output" = $'bad: b\'\'\ngood still connected' ]
    wait_until 5 stat_is "$MNT/q" stats.uds_clients 0
    grep -q "disconnected: malformed frame" "$CHANFS_LOG"
    run timeout 10 /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
got = b""
while len(got) < 13:
    got += os.read(fd, 100)
print(got)
' "$MNT/q"
    [ "$output" = "b'\\x02\\x00\\x00\\x00ok\\x03\\x00\\x00\\x00yes'" ]
}

@test "the socket has the channel's owner and mode: 0600 refuses nobody, 0666 admits" {
    "$CHANCTL_BIN" create --kind queue "$MNT/svc"
    chmod 0600 "$MNT/svc"
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/svc"
    connect_as_nobody() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups timeout 10 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(e.strerror)
' "$SOCK"
    }
    run connect_as_nobody
    [ "$output" = "Permission denied" ]
    chmod 0666 "$MNT/svc"
    setfattr -x user.chanfs.uds "$MNT/svc"
    [ ! -e "$SOCK" ]
    setfattr -n user.chanfs.uds -v "listen:$SOCK" "$MNT/svc"
    run connect_as_nobody
    [ "$output" = connected ]
}

@test "nobody cannot make chanfs bind a socket where nobody cannot write; can where it can" {
    mkdir "$MNT/pub"
    chmod 0777 "$MNT/pub"
    setpriv --reuid=nobody --regid=nogroup --clear-groups touch "$MNT/pub/ch"
    run setpriv --reuid=nobody --regid=nogroup --clear-groups \
        setfattr -n user.chanfs.uds -v "listen:$SOCKDIR/evil.sock" "$MNT/pub/ch"
    [[ "$output" == *"Permission denied"* ]]
    [ ! -e "$SOCKDIR/evil.sock" ]
    mkdir "$SOCKDIR/open"
    chmod 0777 "$SOCKDIR/open"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        setfattr -n user.chanfs.uds -v "listen:$SOCKDIR/open/ok.sock" "$MNT/pub/ch"
    [ -S "$SOCKDIR/open/ok.sock" ]
    [ "$(stat -c %U "$SOCKDIR/open/ok.sock")" = nobody ]
}

@test "bridge_root confines bridge paths: inside allowed, escapes refused" {
    stop_chanfs
    local root="$SOCKDIR/root"
    mkdir -p "$root/sub" "$SOCKDIR/outside"
    ln -s "$SOCKDIR/outside" "$root/link"
    mount_chanfs -o "bridge_root=$root"
    touch "$MNT/ch"
    setfattr -n user.chanfs.uds -v "listen:$root/sub/ok.sock" "$MNT/ch"
    setfattr -n user.chanfs.fifo -v "in:$root/ok.fifo" "$MNT/ch"
    for value in "listen:$SOCKDIR/outside/x.sock" "listen:$root/../outside/x.sock" "listen:$root/link/x.sock"; do
        run setfattr -n user.chanfs.uds -v "$value" "$MNT/ch"
        [[ "$output" == *"Invalid argument"* ]]
    done
    run setfattr -n user.chanfs.fifo -v "in:$root/link/x.fifo" "$MNT/ch"
    [[ "$output" == *"Invalid argument"* ]]
    grep -q "not inside bridge_root" "$CHANFS_LOG"
    [ -z "$(ls -A "$SOCKDIR/outside")" ]
    # A refused bind leaves the working listener in place.
    touch "$root/sub/taken"
    run setfattr -n user.chanfs.uds -v "listen:$root/sub/taken" "$MNT/ch"
    [[ "$output" == *"Address already in use"* ]]
    [ "$(xattr "$MNT/ch" uds)" = "listen:$root/sub/ok.sock" ]
    [ -S "$root/sub/ok.sock" ]
}
