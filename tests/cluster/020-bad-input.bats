#!/usr/bin/env bats
# Bad input against a 1-node JetStream "cluster" whose max_payload is 64 KiB
# (below chanfs's own 1 MiB max_message, so the clamp shows): each case is
# a clear errno plus a log line saying what was wrong, and nothing else
# changes.
bats_require_minimum_version 1.5.0
load cluster_helpers

setup_file() { NC_MAX_PAYLOAD=65536 cluster_setup_file 1; }
teardown_file() { cluster_teardown_file; }
setup() { cluster_setup; }
teardown() { cluster_teardown; }

# refused_with ERRNO_TEXT CMD...: CMD fails and says ERRNO_TEXT.
refused_with() {
    local want="$1"
    shift
    run "$@"
    echo "$output"
    [ "$status" -ne 0 ]
    [[ "$output" == *"$want"* ]]
}

# mount_fails H OPTS...: the daemon exits non-zero within 10 s without
# mounting; LOG_H holds what it said.
mount_fails() {
    local h="$1" ns_var="NC_NS_$1" mnt log pid
    shift
    mnt="$(mktemp -d /tmp/chanfs-cluster-mnt.XXXXXX)"
    log="$BATS_TEST_TMPDIR/chanfs-$h-fail.log"
    nsenter --net="/run/netns/${!ns_var}" -- "$CHANFS_BIN" "$mnt" -f -o log_level=debug "$@" 2>"$log" 3>&- &
    pid=$!
    local status=0
    timeout_wait 10 "$pid" || status=$?
    if ! is_gone "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        status=124
    fi
    FAIL_LOG="$log"
    cat "$log"
    fusermount3 -u -z "$mnt" 2>/dev/null || true
    rmdir "$mnt"
    [ "$status" -ne 0 ]
    [ "$status" -ne 124 ]
}

@test "an unknown backend is EINVAL and a log line naming it" {
    mount_host hA
    mkdir "$MA/d"
    refused_with "Invalid argument" setfattr -n user.chanfs.backend -v bogus "$MA/d"
    touch "$MA/c"
    refused_with "Invalid argument" setfattr -n user.chanfs.backend -v bogus "$MA/c"
    grep -q 'bogus' "$LOG_hA"
    # Nothing changed.
    [ "$(xattr "$MA/c" stats.backend)" != bogus ]
    refused_with "Invalid argument" "$CHANCTL_BIN" create --kind queue --backend bogus "$MA/q"
    [ ! -e "$MA/q" ]
}

@test "replicas=2, and replicas=3 on a 1-node cluster, are EINVAL and a log line; replicas=1 works" {
    mount_host hA
    nats_dir "$MA/d"
    refused_with "Invalid argument" setfattr -n user.chanfs.replicas -v 2 "$MA/d"
    grep -q 'replicas' "$LOG_hA"
    refused_with "Invalid argument" setfattr -n user.chanfs.replicas -v 3 "$MA/d"
    [ "$(grep -c 'replicas' "$LOG_hA")" -ge 2 ]
    setfattr -n user.chanfs.replicas -v 1 "$MA/d"
    "$CHANCTL_BIN" create --kind queue --framing lines "$MA/d/q"
    echo one >"$MA/d/q"
    [ "$(timeout 10 head -n1 "$MA/d/q")" = one ]
}

@test "a pipe over NATS is EINVAL and a log line that says to use queue or topic" {
    mount_host hA
    nats_dir "$MA/d"
    # The directory's default kind is pipe: touch makes a pipe, refused.
    refused_with "Invalid argument" touch "$MA/d/p"
    [ ! -e "$MA/d/p" ]
    grep -Eq 'queue.*topic|topic.*queue' "$LOG_hA"
    refused_with "Invalid argument" "$CHANCTL_BIN" create --kind pipe --backend nats "$MA/p2"
    [ ! -e "$MA/p2" ]
    # An existing pipe cannot be moved onto NATS either.
    touch "$MA/p3"
    refused_with "Invalid argument" setfattr -n user.chanfs.backend -v nats "$MA/p3"
    [ "$(xattr "$MA/p3" kind)" = pipe ]
}

@test "a message over the server's max payload is EMSGSIZE and a log line; nothing of it is queued" {
    mount_host hA
    nats_dir "$MA/d"
    "$CHANCTL_BIN" create --kind queue --framing lines "$MA/d/q"
    # max_message is clamped below the server's 64 KiB.
    (($(xattr "$MA/d/q" max_message) <= 65536))
    [ "$(write_once "$MA/d/q" 'b"x" * 70000 + b"\n"')" = EMSGSIZE ]
    grep -Eiq 'max_message|payload|too (big|large)' "$LOG_hA"
    [ "$(write_once "$MA/d/q" 'b"y" * 1000 + b"\n"')" = 1001 ]
    [ "$(timeout 10 head -n1 "$MA/d/q" | wc -c)" = 1001 ]
    [ "$(xattr "$MA/d/q" stats.queued_messages)" = 0 ]
}

@test "backend=nats on a mount without -o nats= is EINVAL and a log line" {
    local h ns_var="NC_NS_hA"
    MNT_hA="$(mktemp -d /tmp/chanfs-cluster-mnt.XXXXXX)"
    LOG_hA="$BATS_TEST_TMPDIR/chanfs-hA.log"
    nsenter --net="/run/netns/${!ns_var}" -- "$CHANFS_BIN" "$MNT_hA" -f -o log_level=debug 2>"$LOG_hA" 3>&- &
    PID_hA=$!
    HOSTS_UP+=(hA)
    wait_until 10 mountpoint -q "$MNT_hA"
    mkdir "$MNT_hA/d" "$MNT_hA/m"
    # The setting itself is known here (memory is fine); nats needs a link.
    setfattr -n user.chanfs.backend -v memory "$MNT_hA/m"
    refused_with "Invalid argument" setfattr -n user.chanfs.backend -v nats "$MNT_hA/d"
    grep -q 'nats' "$LOG_hA"
    [ "$(xattr "$MNT_hA/d" backend 2>/dev/null)" != nats ]
}

@test "a bad URL in -o nats= fails the mount with a log line naming it" {
    # The option is known (a good URL mounts); a bad one is refused.
    mount_host hA
    unmount_host hA
    HOSTS_UP=()
    mount_fails hA -o "nats=http://10.77.0.11:4222"
    grep -q 'http://10.77.0.11:4222' "$FAIL_LOG"
    ! grep -q 'unknown option' "$FAIL_LOG"
    mount_fails hA -o "nats=nats://10.77.0.11:99999"
    grep -q '99999' "$FAIL_LOG"
    ! grep -q 'unknown option' "$FAIL_LOG"
}

@test "a missing creds file fails the mount with ENOENT in a log line naming the file" {
    mount_fails hA -o "$NC_MOUNT_OPTS,nats_creds=/nonexistent/chanfs.creds"
    grep -q '/nonexistent/chanfs.creds' "$FAIL_LOG"
    grep -Eiq 'No such file|ENOENT' "$FAIL_LOG"
    ! grep -q 'unknown option' "$FAIL_LOG"
}
