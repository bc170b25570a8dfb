#!/usr/bin/env bats
# The config file: STATE_DIR/chanfs.toml or -o config=FILE declares the tree
# made at mount; a bad file is refused with FILE:LINE and nothing mounts;
# chanctl export writes a tree back in the same form.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    WORK="$(mktemp -d /tmp/chanfs-config.XXXXXX)"
    chmod 0755 "$WORK"
    STATE="$WORK/state"
    mkdir "$STATE"
    CHANFS_SOURCE=""
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$WORK"
    return "$status"
}

# A config declaring a bit of everything, with bridges under $WORK.
write_full_config() {
    cat >"$1" <<EOF
# sensors publish, jobs get done
[mount]
mode = "0751"
capacity = "2M"

[dir."sensors"]
kind = "topic"
replay = 2
mode = "0750"

[channel."sensors/temp"]
capacity = "64K"
mode = "0664"
group = "nogroup"

[channel."jobs/resize"]
kind = "queue"
framing = "lines"
overflow = "error"
owner = "nobody"
mode = "0600"
fifo = "in:$WORK/resize.fifo"

[channel."legacy"]
fifo = "out:$WORK/legacy.fifo"

[channel."api"]
kind = "queue"
framing = "lines"
uds = "listen:$WORK/api.sock"
EOF
}

# start_chanfs ARGS...: runs chanfs in the foreground on a fresh private
# mountpoint (MNT, unmounted in teardown) for a start that must fail; leaves
# its status and output in $status and $output.
start_chanfs_expecting_failure() {
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    run timeout 20 "$CHANFS_BIN" "$@" "$MNT" -f
}

@test "STATE_DIR/chanfs.toml: the tree, settings, modes, owners and bridges are there at mount" {
    write_full_config "$STATE/chanfs.toml"
    CHANFS_SOURCE="$STATE" mount_chanfs

    [ "$(stat -c '%a %U' "$MNT")" = "751 root" ]
    [ "$(xattr "$MNT" capacity)" = 2097152 ]
    [ "$(stat -c '%F %a' "$MNT/sensors")" = "directory 750" ]
    [ "$(xattr "$MNT/sensors" kind)" = topic ]
    [ "$(xattr "$MNT/sensors" replay)" = 2 ]
    # A parent the file does not declare is a plain directory.
    [ "$(stat -c '%F %a %U' "$MNT/jobs")" = "directory 755 root" ]
    run getfattr --absolute-names -d -m user.chanfs "$MNT/jobs"
    [ -z "$output" ]

    # Inherited from sensors and the mount root, then its own.
    [ "$(stat -c '%F %a %G' "$MNT/sensors/temp")" = "regular empty file 664 nogroup" ]
    [ "$(xattr "$MNT/sensors/temp" kind)" = topic ]
    [ "$(xattr "$MNT/sensors/temp" framing)" = lines ]
    [ "$(xattr "$MNT/sensors/temp" replay)" = 2 ]
    [ "$(xattr "$MNT/sensors/temp" capacity)" = 65536 ]
    [ "$(stat -c '%a %U' "$MNT/jobs/resize")" = "600 nobody" ]
    [ "$(xattr "$MNT/jobs/resize" kind)" = queue ]
    [ "$(xattr "$MNT/jobs/resize" overflow)" = error ]
    [ "$(xattr "$MNT/jobs/resize" capacity)" = 2097152 ]
    [ "$(xattr "$MNT/legacy" kind)" = pipe ]
    [ "$(stat -c %a "$MNT/legacy")" = 644 ]

    # The topic replays what it had to a later subscriber.
    echo 21.5 >"$MNT/sensors/temp"
    echo 21.7 >"$MNT/sensors/temp"
    [ "$(timeout 5 head -n 2 <"$MNT/sensors/temp")" = $'21.5\n21.7' ]

    # fifo=in: with the channel's owner and mode; an echo into it arrives.
    [ -p "$WORK/resize.fifo" ]
    [ "$(stat -c '%a %U' "$WORK/resize.fifo")" = "600 nobody" ]
    timeout 5 bash -c 'echo "resize 42" > "$1"' _ "$WORK/resize.fifo"
    [ "$(timeout 5 head -n 1 <"$MNT/jobs/resize")" = "resize 42" ]

    # fifo=out: what is written to the channel comes out of the FIFO.
    [ -p "$WORK/legacy.fifo" ]
    echo "to legacy" >"$MNT/legacy"
    [ "$(timeout 10 cat "$WORK/legacy.fifo")" = "to legacy" ]

    # uds=listen: a socket client's line is read from the file.
    [ -S "$WORK/api.sock" ]
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1]); s.sendall(b"hello api\n"); s.close()' "$WORK/api.sock"
    [ "$(timeout 5 head -n 1 <"$MNT/api")" = "hello api" ]

    grep -q "config $STATE/chanfs.toml: 2 directories and 4 channels created" "$CHANFS_LOG"
    stop_chanfs
    # Unmounting removed the bridges' FIFOs and socket.
    [ ! -e "$WORK/resize.fifo" ] && [ ! -e "$WORK/legacy.fifo" ] && [ ! -e "$WORK/api.sock" ]
}

@test "-o config=FILE is read instead of STATE_DIR/chanfs.toml; no file, only the saved tree" {
    printf '[channel."from-state"]\n' >"$STATE/chanfs.toml"
    printf '[channel."from-option"]\nkind = "queue"\n' >"$WORK/other.toml"
    CHANFS_SOURCE="$STATE" mount_chanfs -o config="$WORK/other.toml"
    [ "$(ls "$MNT")" = from-option ]
    [ "$(xattr "$MNT/from-option" kind)" = queue ]
    stop_chanfs

    # A state directory without the file: the tree the last run left (it
    # lives in STATE/state/tree.log), and nothing else.
    rm "$STATE/chanfs.toml"
    CHANFS_SOURCE="$STATE" mount_chanfs
    [ "$(ls "$MNT")" = from-option ]
    [ "$(xattr "$MNT/from-option" kind)" = queue ]
    # Without a state directory nothing is saved or restored.
    stop_chanfs
    mount_chanfs
    [ -z "$(ls "$MNT")" ]
}

@test "a missing -o config=FILE is an error: exit 2, nothing mounted" {
    start_chanfs_expecting_failure -o config="$WORK/absent.toml"
    [ "$status" -eq 2 ]
    [[ "$output" == *"chanfs: $WORK/absent.toml: cannot read: No such file or directory"* ]]
    ! mountpoint -q "$MNT"
}

@test "a bad file: exit 2, every problem as FILE:LINE: reason, nothing mounted or made" {
    cat >"$STATE/chanfs.toml" <<EOF
[channel."good"]
fifo = "in:$WORK/good.fifo"

[channel."sensors/temp"]
kind = "topik"

[channel."sensors/temp/inside"]
EOF
    start_chanfs_expecting_failure "$STATE"
    [ "$status" -eq 2 ]
    [[ "$output" == *"chanfs: $STATE/chanfs.toml:5: [channel.\"sensors/temp\"] kind = \"topik\": expected pipe, queue or topic"* ]]
    [[ "$output" == *"chanfs: $STATE/chanfs.toml:7: [channel.\"sensors/temp/inside\"]: \"sensors/temp\" is a channel"* ]]
    [[ "$output" == *"refused, nothing mounted"* ]]
    ! mountpoint -q "$MNT"
    # Not even the good channel's bridge was made.
    [ ! -e "$WORK/good.fifo" ]

    # A TOML syntax error carries cpptoml's line.
    printf '[mount]\nmode = "0755"\n[dir."a"\n' >"$WORK/syntax.toml"
    rmdir "$MNT"
    start_chanfs_expecting_failure -o config="$WORK/syntax.toml"
    [ "$status" -eq 2 ]
    [[ "$output" == *"chanfs: $WORK/syntax.toml:3: TOML syntax: Unterminated table declaration"* ]]
    ! mountpoint -q "$MNT"
}

@test "a bridge that cannot be made: exit 1 with its line, nothing mounted, earlier bridges removed" {
    echo "a regular file" >"$WORK/taken"
    cat >"$WORK/bridges.toml" <<EOF
[channel."a"]
fifo = "in:$WORK/a.fifo"

[channel."b"]
fifo = "in:$WORK/taken"
EOF
    start_chanfs_expecting_failure -o config="$WORK/bridges.toml"
    [ "$status" -eq 1 ]
    [[ "$output" == *"chanfs: $WORK/bridges.toml:5: [channel.\"b\"] fifo = \"in:$WORK/taken\": File exists"* ]]
    [[ "$output" == *"nothing mounted"* ]]
    ! mountpoint -q "$MNT"
    [ ! -e "$WORK/a.fifo" ]
    [ "$(cat "$WORK/taken")" = "a regular file" ]
}

@test "without -f: the config's FIFO bridge works in the detached daemon" {
    printf '[channel."in"]\nfifo = "in:%s/in.fifo"\n' "$WORK" >"$STATE/chanfs.toml"
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    CHANFS_LOG="$BATS_TEST_TMPDIR/chanfs.log"
    # The parent returns once the mount is live.
    timeout 20 "$CHANFS_BIN" "$STATE" "$MNT" 2>"$CHANFS_LOG" 3>&-
    mountpoint -q "$MNT"
    timeout 5 bash -c 'echo "detached" > "$1"' _ "$WORK/in.fifo"
    [ "$(timeout 10 cat "$MNT/in")" = detached ]
    # umount stops the daemon, which removes its FIFO on the way out.
    fusermount3 -u "$MNT"
    wait_until 10 test ! -e "$WORK/in.fifo"
}

@test "chanctl export round-trips: mount, export, mount the export, export again: the same file" {
    write_full_config "$STATE/chanfs.toml"
    CHANFS_SOURCE="$STATE" mount_chanfs
    # Changes made by hand after the mount are exported too.
    mkdir "$MNT/made-by-hand"
    setfattr -n user.chanfs.overflow -v drop-oldest "$MNT/made-by-hand"
    chanctl_out="$("$CHANCTL_BIN" create --kind topic --replay 7 --mode 0640 "$MNT/made-by-hand/news")"
    [ -z "$chanctl_out" ]
    run "$CHANCTL_BIN" export -o "$WORK/first.toml" "$MNT"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    stop_chanfs

    grep -qx '\[dir."made-by-hand"\]' "$WORK/first.toml"
    grep -qx 'overflow = "drop-oldest"' "$WORK/first.toml"
    grep -qx '\[channel."made-by-hand/news"\]' "$WORK/first.toml"
    grep -qx 'replay = 7' "$WORK/first.toml"
    grep -qx "fifo = \"in:$WORK/resize.fifo\"" "$WORK/first.toml"
    grep -qx "uds = \"listen:$WORK/api.sock\"" "$WORK/first.toml"
    grep -qx 'owner = "nobody"' "$WORK/first.toml"

    mount_chanfs -o config="$WORK/first.toml"
    "$CHANCTL_BIN" export "$MNT" >"$WORK/second.toml"
    diff -u "$WORK/first.toml" "$WORK/second.toml"
    # The second mount works like the first: its FIFO bridge carries data.
    timeout 5 bash -c 'echo "again" > "$1"' _ "$WORK/resize.fifo"
    [ "$(timeout 5 head -n 1 <"$MNT/jobs/resize")" = again ]
    [ "$(xattr "$MNT/made-by-hand/news" replay)" = 7 ]
    [ "$(stat -c %a "$MNT/made-by-hand/news")" = 640 ]
}

@test "chanctl export: usage errors and a path that is not a directory" {
    mount_chanfs
    touch "$MNT/chan"
    run "$CHANCTL_BIN" export
    [ "$status" -eq 2 ]
    run "$CHANCTL_BIN" export "$MNT/chan"
    [ "$status" -eq 1 ]
    [[ "$output" == *"Not a directory"* ]]
    run "$CHANCTL_BIN" export "$MNT"
    [ "$status" -eq 0 ]
    [[ "$output" == *'[channel."chan"]'* ]]
}
