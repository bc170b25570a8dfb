#!/usr/bin/env bats
# Waiting without threads: blocked readers and writers, interrupts,
# O_NONBLOCK, poll, and the shared-descriptor case that deadlocks on FUSE.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

@test "Ctrl-C (SIGINT) ends a blocked cat at once, and data written later is kept" {
    touch "$MNT/p"
    # Background jobs of a script start with SIGINT ignored, and a shell
    # cannot undo that; restore the default action, then exec cat.
    bg /usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp("cat", ["cat", sys.argv[1]])' "$MNT/p"
    local cat_pid=$BG_PID
    wait_until 5 stat_is "$MNT/p" stats.blocked_readers 1
    kill -INT "$cat_pid"
    wait_until 3 is_gone "$cat_pid"
    run wait "$cat_pid"
    [ "$status" -eq 130 ]
    wait_until 3 stat_is "$MNT/p" stats.blocked_readers 0
    echo after > "$MNT/p"
    [ "$(timeout 10 cat "$MNT/p")" = after ]
}

@test "kill -9 ends a blocked cat at once" {
    touch "$MNT/p"
    bg cat "$MNT/p"
    local cat_pid=$BG_PID
    wait_until 5 stat_is "$MNT/p" stats.blocked_readers 1
    kill -KILL "$cat_pid"
    wait_until 3 is_gone "$cat_pid"
    wait_until 3 stat_is "$MNT/p" stats.readers 0
    [ "$(xattr "$MNT/p" stats.blocked_readers)" = 0 ]
}

@test "a writer blocked on a full channel is woken by a reader, and by SIGKILL" {
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 16 "$MNT/q"
    printf '0123456789abcd\n' > "$MNT/q"
    bg bash -c 'echo "second line" > "$1"' _ "$MNT/q"
    local w=$BG_PID
    wait_until 5 stat_is "$MNT/q" stats.blocked_writers 1
    is_blocked "$w"
    run read_once "$MNT/q" 100
    [ "$output" = "b'0123456789abcd\\n'" ]
    timeout_wait 5 "$w"
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 1 ]
    # Full again: this writer waits, then is killed while waiting.
    bg bash -c 'echo "third line is long" > "$1"' _ "$MNT/q"
    local w2=$BG_PID
    wait_until 5 stat_is "$MNT/q" stats.blocked_writers 1
    kill -KILL "$w2"
    wait_until 3 is_gone "$w2"
    wait_until 3 stat_is "$MNT/q" stats.blocked_writers 0
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 1 ]
}

@test "a writer parked on a full channel holds no other writer of the file back" {
    # Without parallel direct writes the kernel lets one write(2) per file
    # into the daemon at a time: the others sleep in state D on the file's
    # lock, deaf to O_NONBLOCK and to every signal but SIGKILL.
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 16 "$MNT/q"
    printf '0123456789abcd\n' > "$MNT/q"
    # Plain O_WRONLY opens: the kernel still serializes O_APPEND writes and
    # the first write after an O_TRUNC open (docs/limits-programs.md).
    bg /usr/bin/python3 -c 'import os, sys; os.write(os.open(sys.argv[1], os.O_WRONLY), b"first\n")' "$MNT/q"
    local w1=$BG_PID
    wait_until 5 stat_is "$MNT/q" stats.blocked_writers 1
    # A second writer of the same file with O_NONBLOCK is answered at once.
    # (In the kernel's lock it would sleep in state D, deaf even to
    # SIGKILL: it runs in the background, and teardown's kill of the first
    # writer would let it go.)
    bg /usr/bin/python3 -c '
import errno, os, sys
w = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
try:
    os.write(w, b"x\n")
    print("written")
except OSError as e:
    print(errno.errorcode[e.errno])
' "$MNT/q" > "$BATS_TEST_TMPDIR/nonblock.out"
    timeout_wait 5 "$BG_PID"
    [ "$(cat "$BATS_TEST_TMPDIR/nonblock.out")" = EAGAIN ]
    # A blocking one parks in the daemon beside the first, not in the kernel.
    bg /usr/bin/python3 -c 'import os, sys; os.write(os.open(sys.argv[1], os.O_WRONLY), b"second\n")' "$MNT/q"
    local w2=$BG_PID
    wait_until 5 stat_is "$MNT/q" stats.blocked_writers 2
    kill -TERM "$w2"
    wait_until 3 is_gone "$w2"
    wait_until 3 stat_is "$MNT/q" stats.blocked_writers 1
    # The first still waits, and gets in when a reader makes room.
    is_blocked "$w1"
    run read_once "$MNT/q" 100
    [ "$output" = "b'0123456789abcd\\n'" ]
    timeout_wait 5 "$w1"
    [ "$(timeout 5 head -n 1 "$MNT/q")" = first ]
}

@test "1,000 blocked cats, then one writer per reader: each cat prints exactly one line" {
    touch "$MNT/p"
    local i
    for ((i = 0; i < 1000; i++)); do
        bg cat "$MNT/p" > "$BATS_TEST_TMPDIR/out.$i"
    done
    wait_until 60 stat_is "$MNT/p" stats.blocked_readers 1000
    for ((i = 0; i < 1000; i++)); do
        echo "line $i" > "$MNT/p"
    done
    local p
    for p in "${BG_PIDS[@]}"; do
        timeout_wait 30 "$p"
    done
    BG_PIDS=()
    # Every cat got one whole line, and together they got every line once.
    cat "$BATS_TEST_TMPDIR"/out.* | sort > "$BATS_TEST_TMPDIR/all"
    [ "$(wc -l < "$BATS_TEST_TMPDIR/all")" = 1000 ]
    [ "$(sort -u "$BATS_TEST_TMPDIR/all" | wc -l)" = 1000 ]
    for ((i = 0; i < 1000; i++)); do
        [ "$(wc -l < "$BATS_TEST_TMPDIR/out.$i")" = 1 ]
    done
    [ "$(xattr "$MNT/p" stats.queued_bytes)" = 0 ]
}

@test "the daemon keeps its thread count with many blocked readers" {
    touch "$MNT/p"
    local before i
    before="$(ls /proc/"$CHANFS_PID"/task | wc -l)"
    for ((i = 0; i < 300; i++)); do
        bg cat "$MNT/p"
    done
    wait_until 30 stat_is "$MNT/p" stats.blocked_readers 300
    [ "$(ls /proc/"$CHANFS_PID"/task | wc -l)" -le "$before" ]
}

@test "O_NONBLOCK: EAGAIN on an empty channel and on a full one, data when there is some" {
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 8 "$MNT/q"
    run /usr/bin/python3 -c '
import errno, fcntl, os, sys
r = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
w = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
def attempt(f):
    try:
        return repr(f())
    except OSError as e:
        return errno.errorcode[e.errno]
print(attempt(lambda: os.read(r, 100)))
print(attempt(lambda: os.write(w, b"1234567\n")))
print(attempt(lambda: os.write(w, b"more\n")))
print(attempt(lambda: os.read(r, 100)))
# fcntl after open switches a blocking handle to non-blocking too.
b = os.open(sys.argv[1], os.O_RDONLY)
fcntl.fcntl(b, fcntl.F_SETFL, os.O_NONBLOCK)
print(attempt(lambda: os.read(b, 100)))
' "$MNT/q"
    [ "$output" = $'EAGAIN\n8\nEAGAIN\nb\'1234567\\n\'\nEAGAIN' ]
}

@test "poll: POLLIN only when data is ready; pipe end of stream is POLLHUP alone" {
    touch "$MNT/p"
    run timeout 20 /usr/bin/python3 -c '
import os, select, sys
path = sys.argv[1]
r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
p = select.poll()
p.register(r, select.POLLIN)
def ready(ms):
    return " ".join(sorted(n for n in ("POLLIN", "POLLHUP") for _, ev in p.poll(ms) if ev & getattr(select, n))) or "none"
out = [ready(100)]
w = os.open(path, os.O_WRONLY)
os.write(w, b"hello")
out.append(ready(5000))
out.append(repr(os.read(r, 100)))
out.append(ready(100))
os.close(w)
out.append(ready(5000))
out.append(repr(os.read(r, 100)))
print(" | ".join(out))
' "$MNT/p"
    [ "$output" = "none | POLLIN | b'hello' | none | POLLHUP | b''" ]
}

@test "poll wakes a waiting select() when another process writes" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/q"
    bg timeout 20 /usr/bin/python3 -c '
import os, select, sys
r = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
rl, _, _ = select.select([r], [], [], 15)
print("ready" if rl else "timeout", os.read(r, 100).decode() if rl else "")
' "$MNT/q" > "$BATS_TEST_TMPDIR/out"
    local sel=$BG_PID
    sleep 0.5
    is_blocked "$sel"
    echo wake > "$MNT/q"
    timeout_wait 10 "$sel"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = "ready wake" ]
}

@test "parent and child share one O_RDWR descriptor: child blocked in read, parent writes" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/q"
    run timeout 20 /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
pid = os.fork()
if pid == 0:
    data = os.read(fd, 100)
    os._exit(0 if data == b"ping\n" else 1)
time.sleep(0.3)
t = time.monotonic()
os.write(fd, b"ping\n")
took = time.monotonic() - t
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), "write returned", "fast" if took < 5 else "slow")
' "$MNT/q"
    [ "$output" = "child 0 write returned fast" ]
}

@test "bash exec 3<> on a queue: write then read back on the same descriptor" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/q"
    exec 5<> "$MNT/q"
    echo ping >&5
    local reply
    read -r -t 5 reply <&5
    exec 5>&-
    [ "$reply" = ping ]
}
