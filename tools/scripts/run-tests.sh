#!/usr/bin/env bash
# The README's second command (and all of .ci/run): installs what is
# missing, builds, and runs every test suite:
#   build/       unit + e2e + interop
#   build-asan/  unit + e2e under AddressSanitizer + UBSan
#   build-tsan/  unit under ThreadSanitizer
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

tools/scripts/install-deps.sh --test

configure() {
    local dir="$1"
    shift
    if [[ ! -f "$dir/build.ninja" ]]; then
        meson setup "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir"
}

status=0
run_suites() {
    local dir="$1"
    shift
    echo "=== meson test -C $dir $*"
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || status=1
}

configure build
run_suites build

configure build-asan -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suites build-asan --suite unit --suite e2e

configure build-tsan -Db_sanitize=thread -Db_lundef=false
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_suites build-tsan --suite unit

# One closing line over all three builds.
python3 - <<'PY'
import json, pathlib
ok = fail = skip = 0
for d in ("build", "build-asan", "build-tsan"):
    log = pathlib.Path(d, "meson-logs", "testlog.json")
    if not log.exists():
        continue
    for line in log.read_text().splitlines():
        r = json.loads(line).get("result")
        if r == "OK": ok += 1
        elif r == "SKIP": skip += 1
        else: fail += 1
print(f"{ok} passed, {fail} failed")
PY
exit "$status"
