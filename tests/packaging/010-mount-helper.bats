#!/usr/bin/env bats
# chanfs run the way mount(8), fstab and mount.fuse3 run filesystems: the
# helper runs `chanfs SOURCE MOUNTPOINT -o OPTS`, the daemon detaches, and
# `umount` stops it. The package test (040) repeats this with the literal
# `-t fuse.chanfs` type once chanfs is installed on the helper's PATH; here
# the build's binary is named in the source as `PROGRAM#SOURCE`, which
# mount.fuse3 accepts for the same purpose.
bats_require_minimum_version 1.5.0
load ../e2e/helpers

setup() {
    STATE="$(mktemp -d /tmp/chanfs-state.XXXXXX)"
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    chmod 0755 "$MNT"
}

# The detached daemon serving $MNT, if any (its command line starts with
# the program, the state directory and the mountpoint).
daemon_pid() {
    pgrep -f -x -- "$CHANFS_BIN $STATE $MNT -o .*" || true
}

teardown() {
    local pid
    pid="$(daemon_pid)"
    [[ -n "$pid" ]] && kill -TERM $pid 2>/dev/null
    CHANFS_PID=""
    if [[ -n "$pid" ]]; then
        wait_until 5 is_gone "$pid" || kill -KILL $pid 2>/dev/null || true
    fi
    fusermount3 -u -z "$MNT" 2>/dev/null || true
    rmdir "$MNT" 2>/dev/null || true
    rm -rf "$STATE"
}

# mount_line: the /proc/mounts line of $MNT (empty if not mounted).
mount_line() {
    awk -v m="$MNT" '$2 == m' /proc/mounts
}

@test "mount -t fuse PROGRAM#STATE MNT -o allow_other,log_level=info: fuse.chanfs in /proc/mounts, echo and cat, umount stops the daemon" {
    mount -t fuse "$CHANFS_BIN#$STATE" "$MNT" -o allow_other,log_level=info
    run mount_line
    [[ "$output" == "$STATE $MNT fuse.chanfs "* ]]
    [[ "$output" == *allow_other* ]]
    local pid
    pid="$(daemon_pid)"
    [ -n "$pid" ]
    # mount.fuse3 waited for the daemon to detach: it is no child of ours.
    [ "$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")" != "$$" ]
    echo "through mount(8)" > "$MNT/msg"
    [ "$(timeout 10 cat "$MNT/msg")" = "through mount(8)" ]
    umount "$MNT"
    [ -z "$(mount_line)" ]
    wait_until 10 is_gone "$pid"
}

@test "mount -t fuse with STATE/chanfs.toml: the tree is there and its FIFO bridge works in the detached daemon; a bad file fails the mount" {
    printf '[channel."jobs/in"]\nkind = "queue"\nfifo = "in:%s/in.fifo"\n' "$STATE" > "$STATE/chanfs.toml"
    mount -t fuse "$CHANFS_BIN#$STATE" "$MNT" -o allow_other
    [ "$(xattr "$MNT/jobs/in" kind)" = queue ]
    timeout 5 bash -c 'echo "job 1" > "$1"' _ "$STATE/in.fifo"
    [ "$(timeout 10 head -n 1 "$MNT/jobs/in")" = "job 1" ]
    umount "$MNT"
    wait_until 10 test ! -e "$STATE/in.fifo"
    printf '[channel."x"]\nkind = "nope"\n' > "$STATE/chanfs.toml"
    run mount -t fuse "$CHANFS_BIN#$STATE" "$MNT"
    [ "$status" -ne 0 ]
    [[ "$output" == *"$STATE/chanfs.toml:2: [channel.\"x\"] kind = \"nope\""* ]]
    [ -z "$(mount_line)" ]
}

@test "an fstab line with defaults,allow_other,_netdev mounts with \`mount MNT\`" {
    local fstab="$BATS_TEST_TMPDIR/fstab"
    printf '# a private fstab (mount --fstab)\n%s#%s %s fuse defaults,allow_other,_netdev 0 0\n' \
        "$CHANFS_BIN" "$STATE" "$MNT" > "$fstab"
    mount --fstab "$fstab" "$MNT"
    run mount_line
    [[ "$output" == "$STATE $MNT fuse.chanfs "*allow_other* ]]
    touch "$MNT/q" && setfattr -n user.chanfs.kind -v queue "$MNT/q"
    echo job1 > "$MNT/q"
    [ "$(timeout 10 head -n 1 "$MNT/q")" = job1 ]
    umount "$MNT"
    [ -z "$(mount_line)" ]
}

@test "fstab with x-mount.mkdir (README, for a mountpoint under /run) creates the mountpoint" {
    rmdir "$MNT"
    local fstab="$BATS_TEST_TMPDIR/fstab"
    printf '%s#%s %s fuse defaults,allow_other,_netdev,x-mount.mkdir 0 0\n' \
        "$CHANFS_BIN" "$STATE" "$MNT" > "$fstab"
    mount --fstab "$fstab" "$MNT"
    [[ "$(mount_line)" == "$STATE $MNT fuse.chanfs "* ]]
    umount "$MNT"
}

@test "every option mount(8) or mount.fuse3 may pass is accepted (fstab-only ones ignored)" {
    # mount.fuse3 run by hand passes `defaults` and x-* on; mount(8) adds
    # rw, dev, suid. libfuse alone would refuse defaults, x-* and comment=.
    /sbin/mount.fuse3 "$CHANFS_BIN#$STATE" "$MNT" \
        -o defaults,rw,dev,suid,exec,noatime,nodev,auto,noauto,nofail,_netdev,user,users,nouser,x-systemd.automount,comment=x,allow_other
    run mount_line
    [[ "$output" == *" fuse.chanfs rw,nodev,noatime,"*allow_other* ]]
    umount "$MNT"
    # The same list straight on chanfs's command line, in the foreground.
    "$CHANFS_BIN" "$STATE" "$MNT" -f -o defaults,_netdev,nofail,x-systemd.requires=foo.service,log_level=debug \
        2>"$BATS_TEST_TMPDIR/fg.log" 3>&- &
    CHANFS_PID=$!
    wait_until 10 mountpoint -q "$MNT"
    grep -q -- "-o _netdev: an fstab/mount(8) option, ignored" "$BATS_TEST_TMPDIR/fg.log"
    umount "$MNT"
    timeout_wait 10 "$CHANFS_PID"
    # A real mistake is still refused: libfuse names it, chanfs exits 1.
    run timeout 10 "$CHANFS_BIN" "$STATE" "$MNT" -f -o no_such_option
    [ "$status" -eq 1 ]
    [[ "$output" == *"no_such_option"* ]]
    [ -z "$(mount_line)" ]
}

@test "umount of a foreground daemon ends it with exit status 0 and an unmount log line" {
    "$CHANFS_BIN" "$STATE" "$MNT" -f -o log_level=info 2>"$BATS_TEST_TMPDIR/fg.log" 3>&- &
    CHANFS_PID=$!
    wait_until 10 mountpoint -q "$MNT"
    umount "$MNT"
    timeout_wait 10 "$CHANFS_PID"   # fails unless the exit status is 0
    CHANFS_PID=""
    grep -q "unmounting" "$BATS_TEST_TMPDIR/fg.log"
}

@test "log_level=info: one line per notable event, none per message" {
    "$CHANFS_BIN" "$STATE" "$MNT" -f -o log_level=info 2>"$BATS_TEST_TMPDIR/fg.log" 3>&- &
    CHANFS_PID=$!
    wait_until 10 mountpoint -q "$MNT"
    touch "$MNT/p"
    local i
    for ((i = 0; i < 200; i++)); do echo "message $i" > "$MNT/p"; done
    [ "$(timeout 10 cat "$MNT/p" | wc -l)" -eq 1 ]   # one pipe session per writer
    for ((i = 0; i < 199; i++)); do timeout 10 cat "$MNT/p" > /dev/null; done
    umount "$MNT"
    timeout_wait 10 "$CHANFS_PID"
    CHANFS_PID=""
    cat "$BATS_TEST_TMPDIR/fg.log"
    # mounted, channel created, unmounting: three lines for 200 sessions.
    [ "$(wc -l < "$BATS_TEST_TMPDIR/fg.log")" -eq 3 ]
    grep -q "mounted at $MNT" "$BATS_TEST_TMPDIR/fg.log"
    grep -q "channel /p created" "$BATS_TEST_TMPDIR/fg.log"
}
