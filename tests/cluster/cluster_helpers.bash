# Shared setup for the cluster suite: a NATS JetStream cluster in network
# namespaces (tools/scripts/nats-cluster.sh), brought up once per file, and
# chanfs mounts on "hosts" hA and hB (daemons started in those network
# namespaces with nsenter --net, so their mounts stay in the root mount
# namespace and every test command can use them).
#
# Each test uses its own -o nats_prefix= (the streams, buckets and subjects
# of one test never meet another's) and its own mounts; teardown stops the
# daemons, unmounts, restarts any server a test killed, and fails the test if
# a daemon that was not killed on purpose exited badly.
#
# Root only: the suite fails (never skips) when not run as root.

load ../e2e/helpers

NC_SCRIPT="$BATS_TEST_DIRNAME/../../tools/scripts/nats-cluster.sh"

# nc CMD ARGS...: nats-cluster.sh CMD "$NC_DIR" ARGS... (fd 3 closed: a
# server started here must not hold bats' output channel).
nc() {
    local cmd="$1"
    shift
    "$NC_SCRIPT" "$cmd" "$NC_DIR" "$@" 3>&-
}

# cluster_setup_file [NODES]: call from setup_file.
cluster_setup_file() {
    if [[ $EUID -ne 0 ]]; then
        echo "the cluster suite must run as root (it makes network namespaces); it does not skip" >&2
        return 1
    fi
    NC_DIR="$(mktemp -d /tmp/chanfs-cluster.XXXXXX)"
    export NC_DIR
    if ! nc up "${1:-3}"; then
        nc down || true
        return 1
    fi
}

# cluster_teardown_file: call from teardown_file; always removes everything.
cluster_teardown_file() {
    [[ -n "${NC_DIR:-}" ]] || return 0
    nc down
    rm -rf "$NC_DIR"
}

# cluster_setup: call from setup. Loads the cluster's addresses and picks
# this test's prefix.
cluster_setup() {
    # shellcheck disable=SC1091
    source "$NC_DIR/env"
    TEST_PREFIX="t${BATS_TEST_NUMBER}"
    HOSTS_UP=()
    KILLED_HOSTS=()
    FREEZER=""
}

# mount_host H [chanfs args...]: starts a foreground daemon in host
# namespace H (hA or hB) on a fresh private mountpoint with the cluster's
# -o nats= options and this test's prefix; waits for the mount. Sets
# MNT_H, PID_H, LOG_H (and MA/MB for hA/hB).
mount_host() {
    local h="$1" ns_var="NC_NS_$1" mnt log pid i
    shift
    mnt="$(mktemp -d /tmp/chanfs-cluster-mnt.XXXXXX)"
    chmod 0755 "$mnt"
    log="$BATS_TEST_TMPDIR/chanfs-$h.log"
    nsenter --net="/run/netns/${!ns_var}" -- "$CHANFS_BIN" "$mnt" -f -o log_level=debug \
        -o "$NC_MOUNT_OPTS" -o "nats_prefix=$TEST_PREFIX" "${CLUSTER_MOUNT_OPTS[@]}" "$@" 2>"$log" 3>&- &
    pid=$!
    printf -v "MNT_$h" '%s' "$mnt"
    printf -v "PID_$h" '%s' "$pid"
    printf -v "LOG_$h" '%s' "$log"
    HOSTS_UP+=("$h")
    case "$h" in hA) MA="$mnt" ;; hB) MB="$mnt" ;; esac
    for ((i = 0; i < 200; i++)); do
        if mountpoint -q "$mnt"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "chanfs on $h exited before mounting (its log is shown by teardown)" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "chanfs on $h did not mount $mnt within 10 s" >&2
    return 1
}

# Extra -o options every mount of a test gets (e.g. a short ack wait).
CLUSTER_MOUNT_OPTS=()

# freeze_host H: freezes the daemon of host H (cgroup freezer: SIGSTOP would
# report the stopped child to this shell, and bash then waits on it). It can
# neither answer its readers nor acknowledge anything until kill_host.
freeze_host() {
    local pid_var="PID_$1"
    FREEZER="/sys/fs/cgroup/freezer/chanfs-cluster-$$-$1"
    mkdir "$FREEZER"
    echo "${!pid_var}" >"$FREEZER/cgroup.procs"
    echo FROZEN >"$FREEZER/freezer.state"
    wait_until 5 grep -qx FROZEN "$FREEZER/freezer.state"
}

# kill_host H: kill -9 the daemon of host H (its mount goes stale and is
# lazily unmounted); teardown does not count its exit status.
kill_host() {
    local pid_var="PID_$1" mnt_var="MNT_$1"
    kill -KILL "${!pid_var}" 2>/dev/null || true
    # A frozen task takes its SIGKILL when thawed.
    if [[ -n "${FREEZER:-}" && -d "$FREEZER" ]]; then
        echo THAWED >"$FREEZER/freezer.state"
    fi
    wait_until 5 is_gone "${!pid_var}"
    if [[ -n "${FREEZER:-}" && -d "$FREEZER" ]]; then rmdir "$FREEZER" 2>/dev/null || true; fi
    wait "${!pid_var}" 2>/dev/null || true
    fusermount3 -u -z "${!mnt_var}" 2>/dev/null || true
    KILLED_HOSTS+=("$1")
}

# unmount_host H: SIGTERM, wait up to 10 s (then SIGKILL: status 124),
# lazy unmount; returns the daemon's exit status.
unmount_host() {
    local h="$1" pid_var="PID_$1" mnt_var="MNT_$1" pid mnt status=0 i k
    pid="${!pid_var:-}"
    mnt="${!mnt_var:-}"
    for k in "${KILLED_HOSTS[@]}"; do
        if [[ "$k" == "$h" ]]; then pid=""; fi
    done
    if [[ -n "$pid" ]]; then
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            status=124
        else
            wait "$pid" 2>/dev/null || status=$?
        fi
    fi
    if [[ -n "$mnt" ]]; then
        fusermount3 -u -z "$mnt" 2>/dev/null || true
        rmdir "$mnt" 2>/dev/null || true
    fi
    return "$status"
}

# cluster_teardown: call from teardown.
cluster_teardown() {
    local failed=0 h status node log_var
    if [[ -n "${FREEZER:-}" && -d "$FREEZER" ]]; then
        echo THAWED >"$FREEZER/freezer.state" 2>/dev/null || true
    fi
    for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    BG_PIDS=()
    for h in "${HOSTS_UP[@]}"; do
        status=0
        unmount_host "$h" || status=$?
        log_var="LOG_$h"
        if ((status != 0)); then
            echo "chanfs on $h exited with status $status" >&2
            failed=1
        fi
        if ((status != 0)) || [[ -z "${BATS_TEST_COMPLETED:-}" ]]; then
            echo "--- chanfs log of $h (tail):" >&2
            tail -n 40 "${!log_var}" >&2 || true
        fi
    done
    HOSTS_UP=()
    if [[ -n "${FREEZER:-}" && -d "$FREEZER" ]]; then rmdir "$FREEZER" 2>/dev/null || true; fi
    # Servers a test killed come back for the next test.
    for ((node = 1; node <= NC_NODES; node++)); do
        [[ -f "$NC_DIR/n$node/pid" ]] || nc start "n$node" || failed=1
    done
    nc wait || failed=1
    return "$failed"
}

# wait_secs SECONDS CMD...: polls CMD every 100 ms until it succeeds, for at
# most SECONDS of wall time (wait_until counts tries, which is too long
# when CMD itself takes time, as the monitoring queries do).
wait_secs() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS < deadline)); do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    "$@" && return 0
    echo "timed out waiting for: $*" >&2
    return 1
}

# nats_dir DIR: a directory whose channels are NATS-backed (a directory
# default, inherited by what is created inside it).
nats_dir() {
    mkdir "$1"
    setfattr -n user.chanfs.backend -v nats "$1"
}

# lines_in FILE...: how many lines the files hold together.
lines_in() { cat "$@" 2>/dev/null | wc -l; }
# has_lines N FILE...: the files hold at least N lines together.
has_lines() { local n="$1"; shift; (($(lines_in "$@") >= n)); }

# stream_of PREFIX: the one JetStream stream (not a KV bucket) whose name
# starts with PREFIX_ (the test's nats_prefix); fails if there is not
# exactly one.
stream_of() {
    local s
    s="$(nc streams | grep -- "^$1_" || true)"
    if [[ -z "$s" || "$(wc -l <<<"$s")" -ne 1 ]]; then
        echo "expected one stream for prefix $1, got: $(nc streams | tr '\n' ' ')" >&2
        return 1
    fi
    echo "$s"
}

# consumer_ack_pending_at_least STREAM N: some consumer of STREAM has at
# least N messages delivered and not acknowledged.
consumer_ack_pending_at_least() {
    nc consumers "$1" 2>/dev/null | awk -v n="$2" '$2 >= n { ok = 1 } END { exit !ok }'
}
# consumer_drained STREAM: STREAM has a consumer, and every consumer of it
# has nothing left to deliver and nothing delivered but unacknowledged.
consumer_drained() {
    nc consumers "$1" 2>/dev/null | awk '{ seen = 1 } $2 != 0 || $4 != 0 { bad = 1 } END { exit !(seen && !bad) }'
}
# consumer_redelivered_at_least STREAM N
consumer_redelivered_at_least() {
    nc consumers "$1" 2>/dev/null | awk -v n="$2" '$3 >= n { ok = 1 } END { exit !ok }'
}

# interruptible_cat FILE: a background cat (stdout to $2) whose SIGINT is
# not ignored (background jobs of a script start with SIGINT ignored).
interruptible_cat() {
    bg /usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(fd, 1)
os.execvp("cat", ["cat", sys.argv[1]])' "$1" "$2"
}

# numbered_writer FILE FIRST LAST ACKED: writes FIRST..LAST to FILE, one
# write(2) per line, and appends each number whose write returned success to
# ACKED (errors go to ACKED.err with their errno; the writer carries on).
numbered_writer() {
    /usr/bin/python3 -c '
import errno, os, sys
path, first, last, acked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fd = os.open(path, os.O_WRONLY)
with open(acked, "a", buffering=1) as ok, open(acked + ".err", "a", buffering=1) as bad:
    for i in range(first, last + 1):
        try:
            os.write(fd, b"%d\n" % i)
            ok.write("%d\n" % i)
        except OSError as e:
            bad.write("%d %s\n" % (i, errno.errorcode[e.errno]))
' "$@"
}
