# Shared setup for the bats suites that mount chanfs (tests/e2e and
# tests/interop). Each test gets its own private mountpoint and daemon; the
# teardown always stops the daemon, lazily unmounts and fails the test if the
# daemon did not exit cleanly (a sanitizer report makes the exit status
# non-zero, so ASan/UBSan findings in the daemon fail the suite).
#
# Environment (set by tests/meson.build): CHANFS_BIN, CHANCTL_BIN.

: "${CHANFS_BIN:?CHANFS_BIN must point at the chanfs binary}"
: "${CHANCTL_BIN:?CHANCTL_BIN must point at the chanctl binary}"

BG_PIDS=()
# Commands to start the daemon through (e.g. one that resets a signal).
CHANFS_PREFIX=()

# mount_chanfs [-o opts...]: starts a foreground daemon on a fresh private
# mountpoint and waits until the mount is live. Sets MNT, CHANFS_PID, CHANFS_LOG.
# CHANFS_SOURCE, if set, is passed as SOURCE (the state directory).
mount_chanfs() {
    MNT="$(mktemp -d /tmp/chanfs-test.XXXXXX)"
    chmod 0755 "$MNT"
    CHANFS_LOG="$BATS_TEST_TMPDIR/chanfs.log"
    # fd 3 is bats' own output channel: a daemon holding it would stall bats.
    # CHANFS_THREADS=N runs the suite on N request threads (run-tests.sh
    # uses 2 for the sanitizer build, so both loops are covered).
    # CHANFS_POLL_US=N sets -o poll_us=N (0: the request loop never spins).
    local threads=()
    if [[ -n "${CHANFS_THREADS:-}" ]]; then threads=(-o "threads=$CHANFS_THREADS"); fi
    if [[ -n "${CHANFS_POLL_US:-}" ]]; then threads+=(-o "poll_us=$CHANFS_POLL_US"); fi
    "${CHANFS_PREFIX[@]}" "$CHANFS_BIN" ${CHANFS_SOURCE:+"$CHANFS_SOURCE"} "$MNT" -f -o log_level=debug "${threads[@]}" "$@" 2>"$CHANFS_LOG" 3>&- &
    CHANFS_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        if mountpoint -q "$MNT"; then
            return 0
        fi
        if ! kill -0 "$CHANFS_PID" 2>/dev/null; then
            echo "chanfs exited before mounting; its log:" >&2
            cat "$CHANFS_LOG" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "chanfs did not mount $MNT within 10 s" >&2
    return 1
}

# bg CMD...: runs a command in the background and remembers it for teardown.
# The pid is left in BG_PID.
bg() {
    "$@" 3>&- &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# stop_chanfs: kills leftover background commands, stops the daemon with
# SIGTERM (it unmounts itself), always runs fusermount3 -u -z, and returns
# the daemon's exit status (124 if it had to be killed).
stop_chanfs() {
    local p status=0 i
    for p in "${BG_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    for p in "${BG_PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    BG_PIDS=()
    if [[ -n "${CHANFS_PID:-}" ]]; then
        kill -TERM "$CHANFS_PID" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
            kill -0 "$CHANFS_PID" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$CHANFS_PID" 2>/dev/null; then
            kill -KILL "$CHANFS_PID" 2>/dev/null || true
            wait "$CHANFS_PID" 2>/dev/null || true
            status=124
        else
            wait "$CHANFS_PID" 2>/dev/null || status=$?
        fi
    fi
    if [[ -n "${MNT:-}" ]]; then
        fusermount3 -u -z "$MNT" 2>/dev/null || true
        rmdir "$MNT" 2>/dev/null || true
    fi
    CHANFS_PID=""
    MNT=""
    return "$status"
}

# Default setup/teardown; a file that needs mount options defines its own
# setup and calls mount_chanfs itself.
chanfs_teardown() {
    local status=0
    stop_chanfs || status=$?
    if ((status != 0)); then
        echo "chanfs exited with status $status; its log:" >&2
        tail -n 60 "$CHANFS_LOG" >&2 || true
        return 1
    fi
}

# wait_until TIMEOUT_S CMD...: polls CMD every 20 ms until it succeeds.
wait_until() {
    local limit="$1" i
    shift
    for ((i = 0; i < limit * 50; i++)); do
        if "$@"; then
            return 0
        fi
        sleep 0.02
    done
    echo "timed out after ${limit}s waiting for: $*" >&2
    return 1
}

# durable_queue FILE [FSYNC]: a new durable queue (lines framing), with
# FSYNC (never, batch, always) if given.
durable_queue() {
    touch "$1"
    setfattr -n user.chanfs.kind -v queue "$1"
    if [[ -n "${2:-}" ]]; then setfattr -n user.chanfs.fsync -v "$2" "$1"; fi
    setfattr -n user.chanfs.durable -v 1 "$1"
}

# xattr FILE NAME: prints one user.chanfs.* value (stats included).
xattr() {
    getfattr --only-values --absolute-names -n "user.chanfs.$2" "$1"
}

# stat_is FILE NAME VALUE: true when a stats/settings xattr has that value.
stat_is() {
    [[ "$(xattr "$1" "$2" 2>/dev/null)" == "$3" ]]
}

# process_state PID: one-letter state from /proc (S sleeping, D disk wait,
# Z zombie, "" gone).
process_state() {
    awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true
}

# is_blocked PID: the process is alive and asleep (blocked in a syscall).
is_blocked() {
    local s
    s="$(process_state "$1")"
    [[ "$s" == S || "$s" == D ]]
}

# in_mount_table DIR: DIR is listed in /proc/mounts. Unlike mountpoint(1),
# this also sees a stale mount whose daemon died (stat fails with ENOTCONN,
# so mountpoint says "not a mountpoint").
in_mount_table() {
    awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}
not_in_mount_table() { ! in_mount_table "$1"; }

# is_gone PID: the process has exited (reaped or zombie).
is_gone() {
    local s
    s="$(process_state "$1")"
    [[ -z "$s" || "$s" == Z ]]
}

# timeout_wait SECONDS PID: waits for a background child of this shell and
# returns its exit status; fails (without hanging the suite) if it is still
# running after SECONDS.
timeout_wait() {
    wait_until "$1" is_gone "$2" || return 1
    wait "$2"
}

# write_once FILE PYTHON_BYTES_EXPR: one write(2) of the bytes the Python
# expression gives (e.g. 'b"x" * 200 + b"\n"'); prints the count written or
# the errno name.
write_once() {
    /usr/bin/python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    print(os.write(fd, eval(sys.argv[2])))
except OSError as e:
    print(errno.errorcode[e.errno])
' "$1" "$2"
}

# read_once FILE SIZE: one read(2) of up to SIZE bytes on a fresh handle;
# prints the Python repr of what came back.
read_once() {
    timeout 10 /usr/bin/python3 -c '
import os, sys
print(os.read(os.open(sys.argv[1], os.O_RDONLY), int(sys.argv[2])))
' "$1" "$2"
}
