#!/usr/bin/env bats
# user.chanfs.delivery: what one read takes. `one` (the queue default) hands
# a reader at most one whole message, so head -n1 takes one job and
# competing workers share them; `batch` (pipe, topic) fills the buffer.
bats_require_minimum_version 1.5.0
load helpers

setup() {
    WORK="$(mktemp -d /tmp/chanfs-delivery.XXXXXX)"
    chmod 0755 "$WORK"
    CHANFS_SOURCE=""
}
teardown() {
    local status=0
    chanfs_teardown || status=$?
    rm -rf "$WORK"
    return "$status"
}

new_queue() {
    touch "$1"
    setfattr -n user.chanfs.kind -v queue "$1"
}

jobs() {
    local i
    for ((i = 1; i <= $1; i++)); do printf 'job %03d\n' "$i"; done
}

@test "delivery follows the kind: one for queue, batch for pipe and topic; setfattr changes it" {
    mount_chanfs
    touch "$MNT/p" "$MNT/t"
    new_queue "$MNT/q"
    setfattr -n user.chanfs.kind -v topic "$MNT/t"
    [ "$(xattr "$MNT/q" delivery)" = one ]
    [ "$(xattr "$MNT/p" delivery)" = batch ]
    [ "$(xattr "$MNT/t" delivery)" = batch ]
    getfattr -d -m - "$MNT/q" | grep -q '^user.chanfs.delivery="one"'
    setfattr -n user.chanfs.delivery -v batch "$MNT/q"
    [ "$(xattr "$MNT/q" delivery)" = batch ]
    run -1 setfattr -n user.chanfs.delivery -v some "$MNT/q"
    [[ "$output" == *"Invalid argument"* ]]
    grep -q "expected one or batch" "$CHANFS_LOG"
    [ "$(xattr "$MNT/q" delivery)" = batch ]
    # Set explicitly, it stays when the kind changes.
    setfattr -n user.chanfs.delivery -v one "$MNT/p"
    setfattr -n user.chanfs.kind -v topic "$MNT/p"
    [ "$(xattr "$MNT/p" delivery)" = one ]
}

@test "head -n1 on a queue prints one job, exits 0 and leaves the rest queued" {
    mount_chanfs
    new_queue "$MNT/q"
    jobs 20 > "$MNT/q"
    run --separate-stderr head -n1 "$MNT/q"
    [ "$status" -eq 0 ]
    [ "$output" = "job 001" ]
    # GNU head then seeks back by what it read past the line (0 bytes
    # here); a read-only open of a one-line-per-read channel is seekable,
    # so that seek succeeds and head says nothing.
    echo "stderr: $stderr"
    [ -z "$stderr" ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 19 ]
    # Python's buffered line reader, stopping after two lines.
    run /usr/bin/python3 -c '
import sys
with open(sys.argv[1]) as f:
    print(next(f), next(f), sep="", end="")' "$MNT/q"
    [ "$output" = "$(printf 'job 002\njob 003')" ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 17 ]
    # batch: one read takes what fits, as before.
    setfattr -n user.chanfs.delivery -v batch "$MNT/q"
    run --separate-stderr head -n1 "$MNT/q"
    [ "$output" = "job 004" ]
    [ "$(xattr "$MNT/q" stats.queued_messages)" = 0 ]
}

# share_jobs WORKER: three workers (WORKER FILE OUT) wait on the queue, 300
# jobs and three "stop" lines are written; every job is done exactly once
# and each worker did at least 50.
share_jobs() {
    new_queue "$MNT/q"
    local w pids=()
    for w in 1 2 3; do
        bg "$@" "$MNT/q" "$WORK/out.$w"
        pids+=("$BG_PID")
    done
    wait_until 10 stat_is "$MNT/q" stats.blocked_readers 3
    jobs 300 > "$MNT/q"
    printf 'stop\nstop\nstop\n' > "$MNT/q"
    for w in "${pids[@]}"; do timeout_wait 30 "$w"; done
    wc -l "$WORK"/out.*
    [ "$(cat "$WORK"/out.* | sort | uniq | wc -l)" -eq 300 ]
    [ "$(cat "$WORK"/out.* | wc -l)" -eq 300 ]
    for w in 1 2 3; do [ "$(wc -l < "$WORK/out.$w")" -ge 50 ]; done
}

bash_worker() {
    local line
    while IFS= read -r line; do
        [[ "$line" == stop ]] && return 0
        echo "$line" >> "$2"
        sleep 0.005
    done < "$1"
}

@test "three competing while-read workers share 300 jobs" {
    mount_chanfs
    share_jobs bash -c "$(declare -f bash_worker); bash_worker \"\$@\"" _
}

@test "three competing Python for-line workers share 300 jobs" {
    mount_chanfs
    share_jobs /usr/bin/python3 -c '
import sys, time
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        if line == "stop\n":
            break
        out.write(line)
        out.flush()
        time.sleep(0.005)'
}

@test "delivery in a directory's defaults, the config file, chanctl and the state store" {
    mkdir "$WORK/state"
    cat > "$WORK/state/chanfs.toml" <<'TOML'
[channel."fromconfig"]
kind = "queue"
delivery = "batch"
TOML
    CHANFS_SOURCE="$WORK/state"
    mount_chanfs
    [ "$(xattr "$MNT/fromconfig" delivery)" = batch ]
    mkdir "$MNT/d"
    setfattr -n user.chanfs.delivery -v one "$MNT/d"
    [ "$(xattr "$MNT/d" delivery)" = one ]
    touch "$MNT/d/p"
    [ "$(xattr "$MNT/d/p" delivery)" = one ]
    "$CHANCTL_BIN" create --kind topic --delivery one "$MNT/t"
    [ "$(xattr "$MNT/t" delivery)" = one ]
    "$CHANCTL_BIN" set "$MNT/t" delivery=batch
    [ "$(xattr "$MNT/t" delivery)" = batch ]
    "$CHANCTL_BIN" set --delivery one "$MNT/t"
    run "$CHANCTL_BIN" stat "$MNT/t"
    [[ "$output" == *delivery*one* ]]
    # Saved settings come back after a remount.
    stop_chanfs
    mount_chanfs
    [ "$(xattr "$MNT/t" delivery)" = one ]
    [ "$(xattr "$MNT/d" delivery)" = one ]
    [ "$(xattr "$MNT/d/p" delivery)" = one ]
}
