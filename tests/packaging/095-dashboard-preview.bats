#!/usr/bin/env bats
# tools/scripts/dashboard_preview.py: its PromQL subset gives the values
# Prometheus would on known scrapes, and it draws every panel of the
# dashboard JSON from a live chanfs (the HTML only: no browser needed).
bats_require_minimum_version 1.5.0
load ../e2e/helpers

SCRIPT="$BATS_TEST_DIRNAME/../../tools/scripts/dashboard_preview.py"

@test "dashboard_preview: rate, topk, sum by, histogram_quantile, / and > 0 on known scrapes" {
    run /usr/bin/python3 - "$SCRIPT" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("preview", sys.argv[1])
p = importlib.util.module_from_spec(spec)
spec.loader.exec_module(p)
first = p.parse_exposition("""
# TYPE chanfs_channel_in_messages_total counter
chanfs_channel_in_messages_total{path="/a",kind="queue"} 10
chanfs_channel_in_messages_total{path="/b",kind="topic"} 0
chanfs_fuse_requests_total{op="read"} 100
chanfs_fuse_requests_total{op="write"} 50
chanfs_memory_bytes 0
chanfs_memory_limit_bytes 1000
""")
second = p.parse_exposition("""
chanfs_channel_in_messages_total{path="/a",kind="queue"} 30
chanfs_channel_in_messages_total{path="/b",kind="topic"} 4
chanfs_channel_in_messages_total{path="/new",kind="pipe"} 7
chanfs_fuse_requests_total{op="read"} 140
chanfs_fuse_requests_total{op="write"} 70
chanfs_memory_bytes 250
chanfs_memory_limit_bytes 1000
chanfs_fuse_request_duration_seconds_bucket{le="0.001"} 50
chanfs_fuse_request_duration_seconds_bucket{le="0.01"} 90
chanfs_fuse_request_duration_seconds_bucket{le="+Inf"} 100
""")
scrapes = [(0.0, first), (2.0, second)]
def q(expr):
    return {tuple(sorted(k)): round(v, 6) for k, v in p.Query(expr).evaluate(scrapes, 1).items()}
print(q('topk(1, rate(chanfs_channel_in_messages_total{instance=~"$instance"}[1m]))'))
print(q('sum by (op) (rate(chanfs_fuse_requests_total[1m]))'))
print(q('sum(rate(chanfs_fuse_requests_total[5m]))'))
print(q('chanfs_memory_bytes / chanfs_memory_limit_bytes'))
print(q('rate(chanfs_channel_in_messages_total{kind="topic"}[5m]) > 0'))
print(q('histogram_quantile(0.5, sum by (le) (chanfs_fuse_request_duration_seconds_bucket))'))
PY
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "{(('kind', 'queue'), ('path', '/a')): 10.0}" ]
    [ "${lines[1]}" = "{(('op', 'read'),): 20.0, (('op', 'write'),): 10.0}" ]
    [ "${lines[2]}" = "{(): 30.0}" ]
    [ "${lines[3]}" = "{(): 0.25}" ]
    [ "${lines[4]}" = "{(('kind', 'topic'), ('path', '/b')): 2.0}" ]
    [ "${lines[5]}" = "{(): 0.001}" ]
}

@test "dashboard_preview: draws every panel of the dashboard JSON from a live chanfs" {
    run timeout 120 /usr/bin/python3 "$SCRIPT" --chanfs "$CHANFS_BIN" --scrapes 3 --interval 0.2 \
        --html "$BATS_TEST_TMPDIR/preview.html"
    [ "$status" -eq 0 ]
    local title
    while IFS= read -r title; do
        grep -qF ">$title</div>" "$BATS_TEST_TMPDIR/preview.html" || { echo "no panel $title"; return 1; }
    done < <(/usr/bin/python3 -c 'import html, json, sys
for p in json.load(open(sys.argv[1]))["panels"]: print(html.escape(p["title"]))' \
        "$PACKAGING_SRC/grafana/chanfs-dashboard.json")
    grep -q "not Grafana" "$BATS_TEST_TMPDIR/preview.html"
    # Its private mount is gone again.
    ! grep -q chanfs-dashboard- /proc/mounts
}
