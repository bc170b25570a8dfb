#!/usr/bin/env bats
# queue (each message to one reader) and topic (every subscriber gets all,
# plus replay).
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

# read_lines FILE COUNT: reads COUNT lines with one read(2) per call and
# prints them; a reader that never gets its share times out.
read_lines() {
    timeout 30 /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
want, got = int(sys.argv[2]), b""
while got.count(b"\n") < want:
    got += os.read(fd, 64)
sys.stdout.write(got.decode())
' "$1" "$2"
}

@test "queue: three competing readers get every message exactly once" {
    "$CHANCTL_BIN" create --kind queue "$MNT/work"
    [ "$(xattr "$MNT/work" framing)" = lines ]
    local i
    for i in 0 1 2; do
        # Fixed-width lines and read(8): one message per read, so a reader
        # stops right after the first END it takes and leaves the others'.
        bg timeout 30 /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
while True:
    line = os.read(fd, 8)
    if line == b"END....\n":
        break
    sys.stdout.write(line.decode())
' "$MNT/work" > "$BATS_TEST_TMPDIR/r$i"
    done
    wait_until 5 stat_is "$MNT/work" stats.readers 3
    { seq -f 'job %03g' 1 300; printf 'END....\n%.0s' 1 2 3; } > "$MNT/work"
    for p in "${BG_PIDS[@]}"; do
        timeout_wait 30 "$p"
    done
    BG_PIDS=()
    cat "$BATS_TEST_TMPDIR"/r* | sort > "$BATS_TEST_TMPDIR/all"
    seq -f 'job %03g' 1 300 > "$BATS_TEST_TMPDIR/want"
    cmp "$BATS_TEST_TMPDIR/all" "$BATS_TEST_TMPDIR/want"
    [ "$(xattr "$MNT/work" stats.queued_messages)" = 0 ]
    [ "$(xattr "$MNT/work" stats.out_messages)" = 303 ]
}

@test "queue keeps messages written while no reader was there" {
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    echo one > "$MNT/q"
    echo two > "$MNT/q"
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 2 ]
    [ "$(read_lines "$MNT/q" 2)" = $'one\ntwo' ]
}

@test "topic: three subscribers each get every message, in order" {
    "$CHANCTL_BIN" create --kind topic --framing lines "$MNT/news"
    local i
    for i in 0 1 2; do
        bg read_lines "$MNT/news" 200 > "$BATS_TEST_TMPDIR/s$i"
    done
    wait_until 5 stat_is "$MNT/news" stats.readers 3
    seq 1 200 > "$MNT/news"
    for p in "${BG_PIDS[@]}"; do
        timeout_wait 30 "$p"
    done
    BG_PIDS=()
    seq 1 200 > "$BATS_TEST_TMPDIR/want"
    for i in 0 1 2; do
        cmp "$BATS_TEST_TMPDIR/s$i" "$BATS_TEST_TMPDIR/want"
    done
    [ "$(xattr "$MNT/news" stats.out_messages)" = 600 ]
}

@test "topic: a new subscriber gets the last 'replay' messages, then live ones" {
    "$CHANCTL_BIN" create --kind topic --framing lines --replay 3 "$MNT/news"
    seq 1 10 > "$MNT/news"
    # With no subscriber only the replay window is kept.
    [ "$(xattr "$MNT/news" stats.queued_messages)" = 3 ]
    bg read_lines "$MNT/news" 5 > "$BATS_TEST_TMPDIR/late"
    local sub=$BG_PID
    wait_until 5 stat_is "$MNT/news" stats.blocked_readers 1
    printf '11\n12\n' > "$MNT/news"
    timeout_wait 10 "$sub"
    [ "$(cat "$BATS_TEST_TMPDIR/late")" = "$(seq 8 12)" ]
}

@test "topic without replay: a subscriber sees nothing from before it opened" {
    "$CHANCTL_BIN" create --kind topic "$MNT/t"
    echo old > "$MNT/t"
    [ "$(xattr "$MNT/t" stats.queued_messages)" = 0 ]
    bg read_lines "$MNT/t" 1 > "$BATS_TEST_TMPDIR/out"
    local sub=$BG_PID
    wait_until 5 stat_is "$MNT/t" stats.blocked_readers 1
    echo new > "$MNT/t"
    timeout_wait 10 "$sub"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = new ]
}

@test "pipe: two readers compete; together they read each byte once" {
    touch "$MNT/p"
    exec 4> "$MNT/p"
    seq 1 2000 >&4
    run timeout 10 /usr/bin/python3 -c '
import os, sys
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[1], os.O_RDONLY)
got = b""
for fd in (a, b, a):
    got += os.read(fd, 3000)
print(len(got), got == b"".join(b"%d\n" % i for i in range(1, 2001)))
' "$MNT/p"
    exec 4>&-
    [ "$output" = "8893 True" ]
}
