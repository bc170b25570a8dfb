#!/usr/bin/env bats
# The harness itself (tools/scripts/nats-cluster.sh): runs never collide,
# down removes everything, also after a failed up, and kill/start/leader/
# cut/heal do what the other files rely on.
bats_require_minimum_version 1.5.0
load cluster_helpers

DIRS=()
setup() {
    if [[ $EUID -ne 0 ]]; then
        echo "the cluster suite must run as root (it makes network namespaces); it does not skip" >&2
        return 1
    fi
}
teardown() {
    local d
    for d in "${DIRS[@]}"; do
        "$NC_SCRIPT" down "$d" 3>&- || true
        rm -rf "$d"
    done
}

new_dir() {
    NEW_DIR="$(mktemp -d /tmp/chanfs-cluster.XXXXXX)"
    DIRS+=("$NEW_DIR")
}

# ns_of DIR NAME: the namespace name DIR's env file gives NAME.
ns_of() { (source "$1/env" && v="NC_NS_$2" && echo "${!v}"); }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
pids_of() { cat "$1"/n*/pid 2>/dev/null || true; }

@test "two runs at once never collide, and down removes every namespace and server" {
    new_dir
    local d1="$NEW_DIR"
    new_dir
    local d2="$NEW_DIR"
    "$NC_SCRIPT" up "$d1" 1 3>&-
    "$NC_SCRIPT" up "$d2" 1 3>&-
    [ "$(ns_of "$d1" n1)" != "$(ns_of "$d2" n1)" ]
    local name pids pid
    pids="$(pids_of "$d1") $(pids_of "$d2")"
    for name in br n1 hA hB; do
        ns_exists "$(ns_of "$d1" "$name")"
        ns_exists "$(ns_of "$d2" "$name")"
    done
    # Both answer, each in its own namespaces, at the same address.
    "$NC_SCRIPT" exec "$d1" hA curl -sf http://10.77.0.11:8222/healthz
    "$NC_SCRIPT" exec "$d2" hB curl -sf http://10.77.0.11:8222/healthz
    local names1=() n
    for n in br n1 hA hB; do names1+=("$(ns_of "$d1" "$n")" "$(ns_of "$d2" "$n")"); done
    "$NC_SCRIPT" down "$d1" 3>&-
    "$NC_SCRIPT" down "$d2" 3>&-
    for name in "${names1[@]}"; do ! ns_exists "$name"; done
    for pid in $pids; do ! kill -0 "$pid" 2>/dev/null; done
    # down again: nothing to do, no error.
    "$NC_SCRIPT" down "$d1" 3>&-
}

@test "a failed up says why, and down cleans up after it" {
    new_dir
    local d="$NEW_DIR"
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    printf '#!/bin/sh\necho "no server today" >&2\nexit 1\n' >"$BATS_TEST_TMPDIR/bin/nats-server"
    chmod +x "$BATS_TEST_TMPDIR/bin/nats-server"
    run env PATH="$BATS_TEST_TMPDIR/bin:$PATH" NC_TIMEOUT_S=5 "$NC_SCRIPT" up "$d" 3 3>&-
    [ "$status" -ne 0 ]
    [[ "$output" == *"no server today"* ]]
    [[ "$output" == *"exited"* ]]
    local hA
    hA="$(ns_of "$d" hA)"
    ns_exists "$hA"
    "$NC_SCRIPT" down "$d" 3>&-
    ! ns_exists "$hA"
    [ ! -e "$d/env" ]
}

@test "kill, start, meta-leader, cut and heal on a 3-node cluster" {
    new_dir
    local d="$NEW_DIR" leader
    "$NC_SCRIPT" up "$d" 3 3>&-
    leader="$("$NC_SCRIPT" meta-leader "$d")"
    [[ "$leader" =~ ^n[123]$ ]]
    "$NC_SCRIPT" kill "$d" "$leader" 3>&-
    [ ! -e "$d/$leader/pid" ]
    # The two left elect a new meta leader.
    "$NC_SCRIPT" wait "$d" 3>&-
    [ "$("$NC_SCRIPT" meta-leader "$d")" != "$leader" ]
    "$NC_SCRIPT" start "$d" "$leader" 3>&-
    "$NC_SCRIPT" wait "$d" 3>&-
    # A host cut off reaches no server; healed, it does again.
    "$NC_SCRIPT" exec "$d" hA curl -sf --max-time 2 http://10.77.0.12:8222/healthz
    "$NC_SCRIPT" cut "$d" hA
    run "$NC_SCRIPT" exec "$d" hA curl -sf --max-time 1 http://10.77.0.12:8222/healthz
    [ "$status" -ne 0 ]
    # ... while the other host still does.
    "$NC_SCRIPT" exec "$d" hB curl -sf --max-time 2 http://10.77.0.12:8222/healthz
    "$NC_SCRIPT" heal "$d" hA
    wait_until 5 "$NC_SCRIPT" exec "$d" hA curl -sf --max-time 1 http://10.77.0.12:8222/healthz
    # The addresses exist only inside the namespaces (the root namespace is
    # never used to reach them: its routes lead off the machine).
    ! ip -o addr show | grep -q '10\.77\.0\.'
}
