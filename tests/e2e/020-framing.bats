#!/usr/bin/env bats
# Framing: whole messages, no interleaving between writers, short reads that
# keep the remainder, many small messages per read.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

# A line of N copies of one letter, so a mixed line is easy to spot.
long_line_writer() {
    local file="$1" letter="$2" count="$3" size="$4"
    /usr/bin/python3 - "$file" "$letter" "$count" "$size" <<'PY'
import os, sys
path, letter, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
line = (letter * (size - 1) + "\n").encode()
fd = os.open(path, os.O_WRONLY)
for _ in range(count):
    # One write(2) per line: the kernel may split it into many FUSE requests.
    assert os.write(fd, line) == len(line)
os.close(fd)
PY
}

@test "two writers of 200 KB lines never interleave on a lines queue" {
    # 4 MB in all: room for everything, so the writers finish before we read.
    "$CHANCTL_BIN" create --kind queue --framing lines --capacity 8M "$MNT/q"
    long_line_writer "$MNT/q" a 10 200000 &
    local w1=$!
    BG_PIDS+=("$w1")
    long_line_writer "$MNT/q" b 10 200000 &
    local w2=$!
    BG_PIDS+=("$w2")
    timeout_wait 30 "$w1"
    timeout_wait 30 "$w2"
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 20 ]
    run timeout 20 /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
data = b""
while data.count(b"\n") < 20:
    data += os.read(fd, 1 << 20)
print(" ".join(sorted(l[:1].decode() + str(len(l)) for l in data.split(b"\n")[:20] if len(set(l)) == 1)))
' "$MNT/q"
    # 20 whole lines, each 199999 copies of one letter: 10 of each writer.
    [ "$output" = "$(printf 'a199999 %.0s' {1..10})$(printf 'b199999 %.0s' {1..9})b199999" ]
}

@test "two writers of 200 KB lines never interleave on a pipe with lines framing" {
    "$CHANCTL_BIN" create --kind pipe --framing lines "$MNT/p"
    bg timeout 30 cat "$MNT/p" > "$BATS_TEST_TMPDIR/out"
    local cat_pid=$BG_PID
    # Hold a writer open so both writers form one session and cat sees it whole.
    exec 4> "$MNT/p"
    long_line_writer "$MNT/p" x 8 200000 &
    local w1=$!
    BG_PIDS+=("$w1")
    long_line_writer "$MNT/p" y 8 200000 &
    local w2=$!
    BG_PIDS+=("$w2")
    timeout_wait 30 "$w1"
    timeout_wait 30 "$w2"
    exec 4>&-
    wait_until 20 is_gone "$cat_pid"
    run /usr/bin/python3 -c '
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
print(len(lines) - 1, " ".join(sorted(l[:1].decode() + str(len(l)) for l in lines[:-1] if len(set(l)) == 1)))
' "$BATS_TEST_TMPDIR/out"
    [ "$output" = "16 $(printf 'x199999 %.0s' {1..8})$(printf 'y199999 %.0s' {1..7})y199999" ]
}

@test "a short read keeps the rest of the message for the next read" {
    "$CHANCTL_BIN" create --kind queue --framing messages "$MNT/m"
    printf 'abcdefghij' > "$MNT/m"
    printf 'second' > "$MNT/m"
    run /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.read(fd, 4), os.read(fd, 100), os.read(fd, 100))
' "$MNT/m"
    [ "$output" = "b'abcd' b'efghij' b'second'" ]
}

@test "lp32: read the 4-byte header, then the body" {
    "$CHANCTL_BIN" create --kind queue --framing lp32 "$MNT/f"
    /usr/bin/python3 -c '
import os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for body in (b"hello", b"", b"x" * 70000):
    os.write(fd, struct.pack("<I", len(body)) + body)
os.close(fd)
' "$MNT/f"
    run /usr/bin/python3 -c '
import os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
out = []
for _ in range(3):
    (n,) = struct.unpack("<I", os.read(fd, 4))
    body = b""
    while len(body) < n:
        body += os.read(fd, n - len(body))
    out.append("%d:%s" % (n, body[:5].decode()))
print(" ".join(out))
' "$MNT/f"
    [ "$output" = "5:hello 0: 70000:xxxxx" ]
}

@test "lp32 writes may split a frame across write calls" {
    "$CHANCTL_BIN" create --kind queue --delivery batch --framing lp32 "$MNT/f"
    /usr/bin/python3 -c '
import os, struct, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
data = struct.pack("<I", 6) + b"abcdef" + struct.pack("<I", 2) + b"gh"
for i in range(len(data)):
    os.write(fd, data[i:i + 1])
os.close(fd)
' "$MNT/f"
    [ "$(xattr "$MNT/f" stats.queued_messages)" = 2 ]
    run /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.read(fd, 1000))
' "$MNT/f"
    [ "$output" = "b'\\x06\\x00\\x00\\x00abcdef\\x02\\x00\\x00\\x00gh'" ]
}

@test "one read carries many whole lines, never a partial one" {
    "$CHANCTL_BIN" create --kind queue --delivery batch --framing lines "$MNT/q"
    seq 1 1000 > "$MNT/q"
    run /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.read(fd, 64)
print(repr(first))
' "$MNT/q"
    # 64 bytes fit "1\n" .. "24\n" (63 bytes) but not "25\n".
    [ "$output" = "b'$(seq 1 24 | tr '\n' '|' | sed 's/|/\\n/g')'" ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 976 ]
}

@test "a partial line is held until its newline" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/q"
    exec 4> "$MNT/q"
    printf 'hel' >&4
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 0 ]
    printf 'lo\nwor' >&4
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 1 ]
    printf 'ld\n' >&4
    exec 4>&-
    [ "$(timeout 10 head -n 2 "$MNT/q")" = $'hello\nworld' ]
}

@test "a partial line left at close is dropped and counted" {
    "$CHANCTL_BIN" create --kind queue --framing lines "$MNT/q"
    printf 'whole\nfragment' > "$MNT/q"
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 1 ]
    [ "$(xattr "$MNT/q" stats.drops)" = 1 ]
    grep -q 'fragment\|partial\|unfinished' "$CHANFS_LOG"
}

@test "messages framing: each write is one message, each read returns one" {
    "$CHANCTL_BIN" create --kind queue --framing messages "$MNT/m"
    printf 'one' > "$MNT/m"
    # One write(2) holding a newline (bash's printf would write twice).
    [ "$(write_once "$MNT/m" 'b"two\nstill two"')" = 13 ]
    run /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.read(fd, 1000), os.read(fd, 1000))
' "$MNT/m"
    [ "$output" = "b'one' b'two\\nstill two'" ]
}

@test "a read larger than one FUSE request returns everything that is queued" {
    "$CHANCTL_BIN" create --kind queue --delivery batch --framing lines "$MNT/q"
    /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"".join(b"%07d\n" % i for i in range(100000)))
os.close(fd)
' "$MNT/q"
    run timeout 10 /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
got = os.read(fd, 800000)
print(len(got), got[-8:])
' "$MNT/q"
    [ "$status" -eq 0 ]
    [ "$output" = "800000 b'0099999\\n'" ]
}
