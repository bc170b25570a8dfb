#!/usr/bin/env bats
# The systemd units: systemd-analyze verify, and their ExecStartPre,
# ExecStart and ExecStop command lines run by hand the way the manager runs
# them (systemd is not PID 1 on CI machines). The system unit's commands run
# under its CapabilityBoundingSet and NoNewPrivileges (setpriv), so the
# hardening is shown to leave FUSE and the bridges working.
bats_require_minimum_version 1.5.0
load ../e2e/helpers

UNIT_CMD="$BATS_TEST_DIRNAME/unit_cmd.py"
SYSTEM_UNIT="$PACKAGING_BUILD/chanfs@.service"
USER_UNIT="$PACKAGING_BUILD/chanfs.user.service"

setup() {
    TOP="$(mktemp -d /tmp/chanfs-unit.XXXXXX)"
    chmod 0755 "$TOP"
    DAEMON_PID=""
}

teardown() {
    local p
    for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [[ -n "$DAEMON_PID" ]]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait_until 5 is_gone "$DAEMON_PID" || kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
    [[ -n "${MNT:-}" ]] && fusermount3 -u -z "$MNT" 2>/dev/null
    rm -rf "$TOP"
    MNT=""
}

# commands UNIT KEY SPECIFIERS...: the unit's command lines for KEY, with
# the build's chanfs in place of the installed path; one per line.
commands() {
    "$UNIT_CMD" "$@" | sed "s#^[^ ]*/chanfs #$CHANFS_BIN #"
}

# A unit file copy that runs the build's chanfs, for systemd-analyze, which
# checks that each command exists.
unit_copy() {
    sed "s#^\(Exec[A-Za-z]*=\)[^ ]*/chanfs #\1$CHANFS_BIN #" "$1" > "$2"
}

@test "systemd-analyze verify: both units are clean (and a broken copy is not)" {
    unit_copy "$SYSTEM_UNIT" "$TOP/chanfs@.service"
    ln -s chanfs@.service "$TOP/chanfs@run-chan.service"
    run systemd-analyze verify --man=no "$TOP/chanfs@run-chan.service"
    echo "$output"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    mkdir -m 0700 "$TOP/runtime"
    unit_copy "$USER_UNIT" "$TOP/chanfs.service"
    XDG_RUNTIME_DIR="$TOP/runtime" run systemd-analyze --user verify --man=no "$TOP/chanfs.service"
    echo "$output"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    # The check above can fail: a misspelt key is reported.
    sed 's/^Restart=on-failure/Restart=on-failur/' "$TOP/chanfs@.service" > "$TOP/broken@.service"
    ln -s broken@.service "$TOP/broken@x.service"
    run systemd-analyze verify --man=no "$TOP/broken@x.service"
    [[ "$output" == *"restart specifier"* ]]
}

@test "system unit: the template names what the brief asks (instance = mountpoint, -f, ExecStop, Restart=on-failure, no private mount namespace)" {
    [ "$("$UNIT_CMD" "$SYSTEM_UNIT" --get Type)" = notify ]
    [ "$("$UNIT_CMD" "$SYSTEM_UNIT" --get WatchdogSec)" = 30s ]
    [ "$("$UNIT_CMD" "$SYSTEM_UNIT" --get Restart)" = on-failure ]
    [[ "$("$UNIT_CMD" "$SYSTEM_UNIT" ExecStart %f=/run/chan %i=run-chan %S=/var/lib)" == */chanfs\ /var/lib/chanfs/run-chan\ /run/chan\ -f\ * ]]
    [ "$("$UNIT_CMD" "$SYSTEM_UNIT" ExecStop %f=/run/chan)" = "/bin/umount /run/chan" ]
    # Any of these would give the service its own mount namespace and hide
    # the mount from everyone else.
    run grep -E '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|TemporaryFileSystem|BindPaths|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|MountFlags)=' "$SYSTEM_UNIT"
    [ "$status" -eq 1 ]
    [ "$("$UNIT_CMD" "$SYSTEM_UNIT" --get DeviceAllow)" = "/dev/fuse rw" ]
}

# run_system_unit: runs the system unit's ExecStartPre and ExecStart for
# the mountpoint $MNT (which does not exist yet) under its hardening.
# Sets DAEMON_PID.
run_system_unit() {
    local instance bounding nnp=() cmd
    instance="$(systemd-escape --path "$MNT")"
    SPEC=(%f="$MNT" %i="$instance" %S="$TOP/state")
    # StateDirectory= is made by the manager before ExecStartPre.
    local statedir
    statedir="$("$UNIT_CMD" "$SYSTEM_UNIT" --get StateDirectory)"
    mkdir -p "$TOP/state/${statedir//%i/$instance}"
    bounding="-all$("$UNIT_CMD" "$SYSTEM_UNIT" --get CapabilityBoundingSet |
        tr ' ' '\n' | sed 's/^CAP_/,+/' | tr 'A-Z' 'a-z' | tr -d '\n')"
    [[ "$("$UNIT_CMD" "$SYSTEM_UNIT" --get NoNewPrivileges)" == yes ]] && nnp=(--no-new-privs)
    HARDEN=(setpriv "${nnp[@]}" --bounding-set "$bounding" --inh-caps "$bounding")
    while read -r cmd; do
        "${HARDEN[@]}" $cmd
    done < <(commands "$SYSTEM_UNIT" ExecStartPre "${SPEC[@]}")
    [ -d "$MNT" ]
    cmd="$(commands "$SYSTEM_UNIT" ExecStart "${SPEC[@]}")"
    "${HARDEN[@]}" $cmd 2>"$BATS_TEST_TMPDIR/unit.log" 3>&- &
    DAEMON_PID=$!
    wait_until 10 mountpoint -q "$MNT"
}

@test "system unit: ExecStartPre, ExecStart and ExecStop by hand, under its capability bounding set and NoNewPrivileges" {
    MNT="$TOP/run/chan"
    run_system_unit
    # The state directory named in the unit is the mount's source.
    [[ "$(awk -v m="$MNT" '$2 == m {print $1, $3}' /proc/mounts)" == "$TOP/state/chanfs/"*" fuse.chanfs" ]]
    # allow_other by default: another user uses the mount, modes enforced.
    mkdir -m 0777 "$MNT/shared"
    setpriv --reuid=nobody --regid=nogroup --clear-groups bash -c 'echo "from nobody" > "$1/shared/note"' _ "$MNT"
    [ "$(timeout 10 cat "$MNT/shared/note")" = "from nobody" ]
    # A bridge set by that user is made with its identity (CAP_SETUID,
    # CAP_SETGID and CAP_CHOWN inside the bounding set).
    mkdir -m 0777 "$TOP/fifos"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        setfattr -n user.chanfs.fifo -v "in:$TOP/fifos/in.fifo" "$MNT/shared/note"
    [ "$(stat -c %U "$TOP/fifos/in.fifo")" = nobody ]
    timeout 10 bash -c 'echo "via fifo" > "$1"' _ "$TOP/fifos/in.fifo"
    [ "$(timeout 10 cat "$MNT/shared/note")" = "via fifo" ]
    # ExecStop unmounts; the daemon then exits 0, so the unit stops clean.
    while read -r cmd; do "${HARDEN[@]}" $cmd; done < <(commands "$SYSTEM_UNIT" ExecStop "${SPEC[@]}")
    timeout_wait 10 "$DAEMON_PID"   # fails unless the exit status is 0
    DAEMON_PID=""
    ! mountpoint -q "$MNT"
}

@test "system unit: after a crash the mount is gone (auto_unmount), so Restart=on-failure can mount again" {
    MNT="$TOP/run/chan"
    run_system_unit
    kill -KILL "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    DAEMON_PID=""
    wait_until 10 bash -c '! grep -q " $1 " /proc/mounts' _ "$MNT"
    # What the manager does on restart.
    run_system_unit
    echo again > "$MNT/p"
    [ "$(timeout 10 cat "$MNT/p")" = again ]
    while read -r cmd; do "${HARDEN[@]}" $cmd; done < <(commands "$SYSTEM_UNIT" ExecStop "${SPEC[@]}")
    timeout_wait 10 "$DAEMON_PID"   # fails unless the exit status is 0
    DAEMON_PID=""
}

@test "user unit: a user's mount at \$XDG_RUNTIME_DIR/chan through fusermount3, by hand" {
    local rt="$TOP/runtime" cmd user=nobody
    # The unit is for unprivileged users, who mount through the setuid
    # fusermount3; it opens /dev/fuse as the user. Where /dev/fuse is not
    # open to everyone (some containers; Debian makes it 0666), run as root.
    if [[ "$(stat -c %a /dev/fuse)" != 666 ]]; then
        user=root
        echo "# /dev/fuse is $(stat -c %a /dev/fuse) here: the user unit runs as root" >&3
    fi
    mkdir -m 0700 "$rt" "$TOP/state" "$TOP/config"
    mkdir "$TOP/state/chanfs"    # StateDirectory=chanfs
    # %S and %E are the user's own ~/.local/state and ~/.config.
    chown "$user:" "$rt" "$TOP/state" "$TOP/config" "$TOP/state/chanfs"
    MNT="$rt/chan"
    local spec=(%t="$rt" %S="$TOP/state" %E="$TOP/config")
    local as_user=(setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups env XDG_RUNTIME_DIR="$rt")
    while read -r cmd; do "${as_user[@]}" $cmd; done < <(commands "$USER_UNIT" ExecStartPre "${spec[@]}")
    [ "$(stat -c %U "$MNT")" = "$user" ]
    cmd="$(commands "$USER_UNIT" ExecStart "${spec[@]}")"
    "${as_user[@]}" $cmd 2>"$BATS_TEST_TMPDIR/user.log" 3>&- &
    DAEMON_PID=$!
    # Without allow_other only the user may look into the mount, root too
    # gets EACCES: ask as the user.
    wait_until 10 "${as_user[@]}" mountpoint -q "$MNT"
    [[ "$(awk -v m="$MNT" '$2 == m' /proc/mounts)" == *"fuse.chanfs"*"user_id=$(id -u "$user"),"* ]]
    "${as_user[@]}" bash -c 'echo "user channel" > "$XDG_RUNTIME_DIR/chan/p"'
    [ "$("${as_user[@]}" timeout 10 cat "$MNT/p")" = "user channel" ]
    while read -r cmd; do "${as_user[@]}" $cmd; done < <(commands "$USER_UNIT" ExecStop "${spec[@]}")
    timeout_wait 10 "$DAEMON_PID"   # fails unless the exit status is 0
    DAEMON_PID=""
    ! mountpoint -q "$MNT"
}

@test "under systemd (stderr is the journal) log lines carry the journal priority and no timestamp" {
    MNT="$TOP/mnt"
    mkdir "$MNT"
    local log="$BATS_TEST_TMPDIR/journal.log"
    : > "$log"
    JOURNAL_STREAM="$(stat -c %d:%i "$log")" "$CHANFS_BIN" "$MNT" -f 2>>"$log" 3>&- &
    DAEMON_PID=$!
    wait_until 10 mountpoint -q "$MNT"
    touch "$MNT/x"
    run setfattr -n user.chanfs.capacity -v lots "$MNT/x"
    [ "$status" -ne 0 ]
    umount "$MNT"
    timeout_wait 10 "$DAEMON_PID"
    DAEMON_PID=""
    cat "$log"
    [[ "$(head -n 1 "$log")" == "<6>[info] chanfs "*" mounted at $MNT"* ]]
    grep -q "^<4>\[warning\] setxattr user.chanfs.capacity='lots'" "$log"
    # A stderr that is not the journal keeps the timestamps.
    JOURNAL_STREAM="1:1" "$CHANFS_BIN" "$MNT" -f 2>"$log" 3>&- &
    DAEMON_PID=$!
    wait_until 10 mountpoint -q "$MNT"
    umount "$MNT"
    timeout_wait 10 "$DAEMON_PID"
    DAEMON_PID=""
    [[ "$(head -n 1 "$log")" == "[20"*"] [info] chanfs "* ]]
}
