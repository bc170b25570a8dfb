#!/usr/bin/env bash
# A throw-away NATS JetStream cluster in network namespaces, for the cluster
# test suite (tests/cluster) and the benchmark. Root only.
#
#   nats-cluster.sh up DIR [NODES]   NODES nats-server -js (1 or 3, default 3)
#                                    in namespaces n1..nN, hosts hA and hB;
#                                    waits until JetStream has a meta leader
#   nats-cluster.sh down DIR         kills what up started, deletes every
#                                    namespace and veth it made (idempotent,
#                                    safe after a half-failed up)
#   nats-cluster.sh kill DIR NODE    kill -9 one server (n1..n3)
#   nats-cluster.sh stop DIR NODE    SIGTERM one server and wait for it
#   nats-cluster.sh start DIR NODE   (re)start one server, wait until healthy
#   nats-cluster.sh wait DIR         wait until every running server is
#                                    healthy and JetStream has a meta leader
#   nats-cluster.sh leader DIR STREAM  prints the node leading STREAM
#   nats-cluster.sh meta-leader DIR  prints the JetStream meta leader
#   nats-cluster.sh streams DIR      prints every stream's name, one a line
#   nats-cluster.sh consumers DIR STREAM  one line per consumer of STREAM:
#                                    NAME ack_pending redelivered pending
#   nats-cluster.sh cut DIR NS       link of a namespace (hA, n2, ...) down
#   nats-cluster.sh heal DIR NS      and up again
#   nats-cluster.sh exec DIR NS CMD...  runs CMD in that network namespace
#                                    (nsenter --net: the mount namespace stays
#                                    the root one, so FUSE mounts made there
#                                    are visible everywhere)
#   nats-cluster.sh jsz DIR [QUERY]  /jsz of the first running server (JSON)
#
# Layout: namespace "br" holds a bridge; every other namespace has one veth
# (eth0) whose peer is a port of that bridge. Addresses 10.77.0.0/24 exist
# only inside these namespaces (servers .11-.13, hosts hA .21, hB .22), so no
# traffic leaves them. Namespace names carry a random suffix per run
# (chanfs-XXXXXX-n1 ...), so two runs never collide.
#
# DIR/env (written by up, sourced by tests): NC_NODES, NC_NS_<name> (the
# namespace's name), NC_IP_<name>, NC_URLS (comma-separated nats:// URLs),
# NC_MOUNT_OPTS ("nats=URL,nats=URL,..." for -o). Per node: DIR/nK/nats.conf,
# DIR/nK/js (file storage), DIR/nK/log, DIR/nK/pid.
set -euo pipefail

NC_TIMEOUT_S="${NC_TIMEOUT_S:-20}"
CLIENT_PORT=4222
ROUTE_PORT=6222
HTTP_PORT=8222
# nats-server's max_payload for the test cluster (its default, 1 MiB): the
# "message over max payload" test reads it back from /varz.
MAX_PAYLOAD="${NC_MAX_PAYLOAD:-1048576}"

die() { echo "nats-cluster: $*" >&2; exit 1; }
need_root() { [[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"; }

ip_of() {
    case "$1" in
        n1) echo 10.77.0.11 ;; n2) echo 10.77.0.12 ;; n3) echo 10.77.0.13 ;;
        hA) echo 10.77.0.21 ;; hB) echo 10.77.0.22 ;;
        *) die "unknown namespace '$1' (n1 n2 n3 hA hB)" ;;
    esac
}

load_env() {
    local dir="$1"
    [[ -f "$dir/env" ]] || die "$dir/env is missing: was 'up $dir' run?"
    # shellcheck disable=SC1091
    source "$dir/env"
}

ns_name() { local v="NC_NS_$1"; [[ -n "${!v:-}" ]] || die "no namespace '$1' in this cluster"; echo "${!v}"; }
in_ns() { local ns; ns="$(ns_name "$1")"; shift; nsenter --net="/run/netns/$ns" -- "$@"; }

# curl_node NODE PATH: GET from a server's monitoring port.
curl_node() {
    in_ns "$1" curl -sf --max-time 2 "http://$(ip_of "$1"):$HTTP_PORT$2"
}

node_pid() { cat "$DIR/$1/pid" 2>/dev/null || true; }
node_running() {
    local pid; pid="$(node_pid "$1")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ]]
}
nodes() { local i; for ((i = 1; i <= NC_NODES; i++)); do echo "n$i"; done; }

write_conf() {
    local node="$1" ip routes="" other
    ip="$(ip_of "$node")"
    mkdir -p "$DIR/$node/js"
    for other in $(nodes); do
        [[ "$other" == "$node" ]] && continue
        routes+="    nats://$(ip_of "$other"):$ROUTE_PORT"$'\n'
    done
    {
        echo "# written by nats-cluster.sh"
        echo "server_name: $node"
        echo "listen: $ip:$CLIENT_PORT"
        echo "http: $ip:$HTTP_PORT"
        echo "max_payload: $MAX_PAYLOAD"
        echo "jetstream {"
        echo "  store_dir: \"$DIR/$node/js\""
        echo "  max_memory_store: 64MB"
        echo "  max_file_store: 1GB"
        echo "}"
        if ((NC_NODES > 1)); then
            echo "cluster {"
            echo "  name: chanfs-test"
            echo "  listen: $ip:$ROUTE_PORT"
            echo "  routes: ["
            printf '%s' "$routes"
            echo "  ]"
            echo "}"
        fi
    } >"$DIR/$node/nats.conf"
}

start_node() {
    local node="$1"
    if node_running "$node"; then return 0; fi
    [[ -f "$DIR/$node/nats.conf" ]] || die "no config for $node"
    # setsid + closed fds: the server outlives this script and holds no
    # caller's pipe (bats waits on fd 3).
    setsid nsenter --net="/run/netns/$(ns_name "$node")" -- \
        nats-server -c "$DIR/$node/nats.conf" </dev/null >>"$DIR/$node/log" 2>&1 3>&- &
    echo $! >"$DIR/$node/pid"
}

healthy() { curl_node "$1" "/healthz?js-enabled-only=true" >/dev/null 2>&1; }

# meta_leader_of NODE: the meta leader as NODE sees it ("" if none).
meta_leader_of() {
    curl_node "$1" /jsz 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
mc = d.get("meta_cluster") or {}
print(mc.get("leader", "") if mc else "")
' || true
}

# wait_ready: every running node answers /healthz and (clustered) agrees on
# one meta leader that is itself running; a single node needs only
# JetStream enabled.
wait_ready() {
    local deadline=$((SECONDS + NC_TIMEOUT_S)) node ok leader l
    while ((SECONDS < deadline)); do
        ok=1
        leader=""
        for node in $(nodes); do
            # No pid file: stopped on purpose (kill/stop). A pid file whose
            # process is gone: the server died, which is an error.
            [[ -f "$DIR/$node/pid" ]] || continue
            if ! node_running "$node"; then
                tail -n 20 "$DIR/$node/log" >&2 || true
                die "$node exited (its log above)"
            fi
            if ! healthy "$node"; then ok=0; break; fi
            if ((NC_NODES > 1)); then
                l="$(meta_leader_of "$node")"
                if [[ -z "$l" ]] || [[ -n "$leader" && "$l" != "$leader" ]]; then ok=0; break; fi
                leader="$l"
            fi
        done
        # A leader that is not running (just killed) is a stale view.
        if ((ok)) && [[ -n "$leader" ]] && ! node_running "$leader"; then ok=0; fi
        if ((ok)); then return 0; fi
        sleep 0.1
    done
    local n
    for n in $(nodes); do echo "--- $n log (tail):" >&2; tail -n 20 "$DIR/$n/log" >&2 || true; done
    die "cluster in $DIR not ready within ${NC_TIMEOUT_S}s"
}

cmd_up() {
    need_root
    DIR="$1"
    NC_NODES="${2:-3}"
    [[ "$NC_NODES" == 1 || "$NC_NODES" == 3 ]] || die "NODES must be 1 or 3"
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
    [[ ! -f "$DIR/env" ]] || die "$DIR/env exists: 'down $DIR' first"
    local sfx names node ip
    sfx="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
    names=(br $(nodes) hA hB)
    # The env file is written before anything is made, so 'down' can undo a
    # half-finished up.
    {
        echo "NC_DIR='$DIR'"
        echo "NC_NODES=$NC_NODES"
        echo "NC_SUFFIX=$sfx"
        for node in "${names[@]}"; do echo "NC_NS_$node=chanfs-$sfx-$node"; done
    } >"$DIR/env"
    load_env "$DIR"
    local br; br="$(ns_name br)"
    ip netns add "$br"
    ip -n "$br" link set lo up
    ip -n "$br" link add br0 type bridge
    ip -n "$br" link set br0 up
    local urls="" opts=""
    for node in "${names[@]:1}"; do
        local ns; ns="$(ns_name "$node")"
        ip="$(ip_of "$node")"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$br" link add "v-$node" type veth peer name eth0 netns "$ns"
        ip -n "$br" link set "v-$node" master br0
        ip -n "$br" link set "v-$node" up
        ip -n "$ns" addr add "$ip/24" dev eth0
        ip -n "$ns" link set eth0 up
        echo "NC_IP_$node=$ip" >>"$DIR/env"
    done
    for node in $(nodes); do
        urls+="${urls:+,}nats://$(ip_of "$node"):$CLIENT_PORT"
        opts+="${opts:+,}nats=nats://$(ip_of "$node"):$CLIENT_PORT"
        write_conf "$node"
    done
    echo "NC_URLS='$urls'" >>"$DIR/env"
    echo "NC_MOUNT_OPTS='$opts'" >>"$DIR/env"
    for node in $(nodes); do start_node "$node"; done
    wait_ready
}

cmd_down() {
    DIR="$1"
    [[ -f "$DIR/env" ]] || return 0
    load_env "$DIR"
    local node pid i
    for node in n1 n2 n3; do
        pid="$(node_pid "$node")"
        [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
    done
    for node in n1 n2 n3; do
        pid="$(node_pid "$node")"
        [[ -n "$pid" ]] || continue
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        rm -f "$DIR/$node/pid"
    done
    # Deleting a namespace deletes the veth ends inside it (and so their peers).
    for node in hA hB n1 n2 n3 br; do
        local v="NC_NS_$node"
        [[ -n "${!v:-}" ]] || continue
        if [[ -e "/run/netns/${!v}" ]]; then
            ip netns del "${!v}" 2>/dev/null || true
        fi
    done
    rm -f "$DIR/env"
}

cmd_kill() {
    DIR="$1"; load_env "$DIR"
    local pid; pid="$(node_pid "$2")"
    [[ -n "$pid" ]] || die "$2 has no pid"
    kill -KILL "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        if ! node_running "$2"; then rm -f "$DIR/$2/pid"; return 0; fi
        sleep 0.05
    done
    die "$2 (pid $pid) did not die"
}

cmd_stop() {
    DIR="$1"; load_env "$DIR"
    local pid; pid="$(node_pid "$2")"
    [[ -n "$pid" ]] || die "$2 has no pid"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 200; i++)); do node_running "$2" || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do node_running "$2" || break; sleep 0.05; done
    rm -f "$DIR/$2/pid"
}

cmd_start() {
    DIR="$1"; load_env "$DIR"
    start_node "$2"
    local deadline=$((SECONDS + NC_TIMEOUT_S))
    while ((SECONDS < deadline)); do
        healthy "$2" && return 0
        node_running "$2" || { tail -n 20 "$DIR/$2/log" >&2; die "$2 exited"; }
        sleep 0.1
    done
    die "$2 not healthy within ${NC_TIMEOUT_S}s"
}

first_running() {
    local node
    for node in $(nodes); do
        if node_running "$node" && healthy "$node"; then echo "$node"; return 0; fi
    done
    die "no server is running"
}

cmd_jsz() {
    DIR="$1"; load_env "$DIR"
    curl_node "$(first_running)" "/jsz${2:-}"
}

cmd_meta_leader() {
    DIR="$1"; load_env "$DIR"
    meta_leader_of "$(first_running)"
}

cmd_leader() {
    DIR="$1"; load_env "$DIR"
    local stream="$2" node out
    # Each server reports the streams it holds a replica of, with the
    # leader's name; a single node is its streams' leader.
    for node in $(nodes); do
        node_running "$node" || continue
        out="$(curl_node "$node" "/jsz?streams=true" 2>/dev/null | STREAM="$stream" SELF="$node" SINGLE="$((NC_NODES == 1))" python3 -c '
import json, os, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
for acc in d.get("account_details") or []:
    for s in acc.get("stream_detail") or []:
        if s.get("name") == os.environ["STREAM"]:
            c = s.get("cluster") or {}
            # Clustered, a stream without a leader (mid-election) has none
            # yet; a single server leads all its streams.
            leader = c.get("leader") or (os.environ["SELF"] if os.environ["SINGLE"] == "1" else "")
            if leader:
                print(leader)
                sys.exit(0)
')" || true
        if [[ -n "$out" ]]; then echo "$out"; return 0; fi
    done
    die "no running server knows a leader of stream '$stream'"
}

# js_detail NODE: /jsz with streams and consumers, from one node.
js_detail() { curl_node "$1" "/jsz?streams=true&consumers=true" 2>/dev/null; }

cmd_streams() {
    DIR="$1"; load_env "$DIR"
    # The stream leader's view is the one with consumer state; any running
    # node lists every stream it holds, so ask each and merge.
    local node
    for node in $(nodes); do
        node_running "$node" || continue
        js_detail "$node" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
for acc in d.get("account_details") or []:
    for s in acc.get("stream_detail") or []:
        print(s["name"])
' || true
    done | sort -u
}

cmd_consumers() {
    DIR="$1"; load_env "$DIR"
    local stream="$2" node out=""
    # Consumer state is exact on the consumer's leader, which need not be
    # the stream's (followers lag, and report 0 ack pending): each running
    # node prints the consumers it leads.
    for node in $(nodes); do
        node_running "$node" || continue
        out+="$(js_detail "$node" | STREAM="$stream" SELF="$node" SINGLE="$((NC_NODES == 1))" python3 -c '
import json, os, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
for acc in d.get("account_details") or []:
    for s in acc.get("stream_detail") or []:
        if s.get("name") != os.environ["STREAM"]:
            continue
        for c in s.get("consumer_detail") or []:
            leader = (c.get("cluster") or {}).get("leader") or ""
            if os.environ["SINGLE"] == "1" or leader == os.environ["SELF"]:
                print(c["name"], c.get("num_ack_pending", 0), c.get("num_redelivered", 0), c.get("num_pending", 0))
' || true)"$'\n'
    done
    printf '%s' "$out" | sed '/^$/d'
}

cmd_cut() {
    DIR="$1"; load_env "$DIR"
    ns_name "$2" >/dev/null
    ip -n "$(ns_name br)" link set "v-$2" down
}

cmd_heal() {
    DIR="$1"; load_env "$DIR"
    ns_name "$2" >/dev/null
    ip -n "$(ns_name br)" link set "v-$2" up
}

cmd_exec() {
    DIR="$1"; load_env "$DIR"
    local node="$2"; shift 2
    in_ns "$node" "$@"
}

usage() { sed -n '2,28p' "$0" >&2; exit 2; }

(($# >= 2)) || usage
cmd="$1"; shift
case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    kill) (($# == 2)) || usage; cmd_kill "$@" ;;
    stop) (($# == 2)) || usage; cmd_stop "$@" ;;
    start) (($# == 2)) || usage; cmd_start "$@" ;;
    wait) DIR="$1"; load_env "$DIR"; wait_ready ;;
    leader) (($# == 2)) || usage; cmd_leader "$@" ;;
    meta-leader) cmd_meta_leader "$@" ;;
    streams) cmd_streams "$@" ;;
    consumers) (($# == 2)) || usage; cmd_consumers "$@" ;;
    cut) (($# == 2)) || usage; cmd_cut "$@" ;;
    heal) (($# == 2)) || usage; cmd_heal "$@" ;;
    exec) (($# >= 3)) || usage; cmd_exec "$@" ;;
    jsz) cmd_jsz "$@" ;;
    *) usage ;;
esac
