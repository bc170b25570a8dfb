#!/usr/bin/env bash
# The README's second command (and all of .ci/run): installs what is
# missing, builds, and runs every test suite:
#   build/       unit, e2e, interop, packaging, storage, cluster (and package,
#                beside them)
#   build-asan/  unit + e2e under AddressSanitizer + UBSan (e2e on 2 request threads)
#   build-tsan/  unit + stress (the daemon on 4 request threads) under ThreadSanitizer
#   build-fuzz/  the libFuzzer targets (clang), each for 60 s, all at once
# and then chanfs-bench --quick once (a benchmark: it fails only if broken).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

# Each stage's wall time and the CPU time of what it ran (both cores'
# worth: CPU above wall means both were busy), printed at the end, so the
# 20-minute budget can be kept stage by stage.
stages=()
stage_name="" stage_t0=0 stage_cpu0=0
child_cpu_s() {  # [PID]: CPU seconds of that shell's waited-for children (cutime + cstime)
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($14 + $15) / hz }' "/proc/${1:-$$}/stat"
}
stage() {
    local now cpu
    now=$SECONDS cpu=$(child_cpu_s)
    if [[ -n "$stage_name" ]]; then
        stages+=("$(printf '%-34s %5d s wall %6d s CPU' "$stage_name" $((now - stage_t0)) $((cpu - stage_cpu0)))")
    fi
    stage_name="$1" stage_t0=$now stage_cpu0=$cpu
}

stage "install-deps"
tools/scripts/install-deps.sh --test

configure() {
    local dir="$1"
    shift
    if [[ ! -f "$dir/build.ninja" ]]; then
        meson setup "$dir" "$@" >/dev/null
    fi
}

# The sanitizer builds compile only what their suites run (the unit tests,
# and for e2e the daemon and chanctl), at -O0 with line tables only (-g1):
# .ci/run must stay under 15 minutes on 2 cores, and GCC's sanitizer
# instrumentation at -O1 -g took 2.4 times as long to compile (22.5 s
# against 9.4 s for bridge_test.cpp). Reports still name file and line.
sanitizer_opts=(-Doptimization=0 -Ddebug=false -Dcpp_args=-g1)
unit_targets() {
    ninja -C "$1" -t targets all | sed -n 's#^\(tests/unit/[a-z_]*_test\): .*#\1#p'
}

status=0
run_suites() {
    local dir="$1"
    shift
    echo "=== meson test -C $dir $*"
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 "$@" || status=1
}

# The plain build is the release build users get from chanfs-up.sh (-O3:
# some warnings only show there); the sanitizer builds keep assertions.
stage "build (release)"
configure build --buildtype=release
ninja -C build

# The ASan, TSan and fuzz builds compile one after the other in the
# background, at nice 10, from here on: the suites mostly wait (on mounts,
# servers, timeouts) and leave the cores idle, and the builds take that time
# (measured with no ccache beside three other builds: 1671 s one after the
# other in the foreground, 1000 s so; 908 s on an idle machine). A suite
# stage waits for its build (wait_build) and then prints its output.
fuzz_configure() { CC=clang CXX=clang++ configure build-fuzz -Dfuzz=true -Dtests=false -Dman=disabled; }
fuzz_targets() { ninja -C build-fuzz -t targets all | sed -n 's#^\(tests/fuzz/[a-z0-9_]*_fuzz\): .*#\1#p'; }
rm -f build/ci-build-*.rc
(
    set +e
    bg_build() {  # NAME FUNCTION: runs FUNCTION (configure, then ninja), output in build/ci-build-NAME.log
        local name="$1" t0=$SECONDS me=$BASHPID cpu0 rc
        cpu0=$(child_cpu_s "$me")
        shift
        { "$@"; } >"build/ci-build-$name.log" 2>&1
        rc=$?
        printf '%-34s %5d s wall %6d s CPU (from %d s on)\n' "build-$name, in the background" \
            $((SECONDS - t0)) $(($(child_cpu_s "$me") - cpu0)) "$t0" >"build/ci-build-$name.time"
        echo "$rc" >"build/ci-build-$name.rc"
    }
    build_asan() {
        configure build-asan -Db_sanitize=address,undefined -Db_lundef=false "${sanitizer_opts[@]}" &&
            # shellcheck disable=SC2046
            nice -n 10 ninja -C build-asan fs/chanfs tools/chanctl/chanctl $(unit_targets build-asan)
    }
    build_tsan() {
        configure build-tsan -Db_sanitize=thread -Db_lundef=false "${sanitizer_opts[@]}" &&
            # shellcheck disable=SC2046
            nice -n 10 ninja -C build-tsan fs/chanfs $(unit_targets build-tsan)
    }
    build_fuzz() {
        # shellcheck disable=SC2046
        fuzz_configure && nice -n 10 ninja -C build-fuzz $(fuzz_targets)
    }
    bg_build asan build_asan
    bg_build tsan build_tsan
    bg_build fuzz build_fuzz
) &
builds_pid=$!
# wait_build NAME: waits for that background build, prints its log; fails if it failed.
wait_build() {
    local rc="build/ci-build-$1.rc"
    echo "=== build-$1 (built in the background; waiting for it)"
    while [[ ! -f "$rc" ]] && kill -0 "$builds_pid" 2>/dev/null; do sleep 1; done
    cat "build/ci-build-$1.log"
    [[ -f "$rc" && "$(cat "$rc")" == 0 ]]
}
# The package suite builds the Debian package (compiling the project again:
# about 4.5 minutes of both cores) while the other suites mostly wait (on
# mounts, servers, timeouts): it runs beside them, with a log of its own, so
# .ci/run stays under 20 minutes (22.7 min one after the other, on 2 cores).
# It uses the installed /usr/bin/chanfs only; the others use build/'s.
stage "plain suites + package suite"
echo "=== meson test -C build --suite package (in the background)"
( rc=0
  meson test -C build --no-rebuild --print-errorlogs --num-processes 1 --suite package \
      --logbase package >build/package-suite.log 2>&1 || rc=$?
  echo "$rc" >build/package-suite.rc ) &
package_pid=$!
run_suites build --no-suite stress --no-suite package
wait "$package_pid"
echo "=== meson test -C build --suite package (its output)"
cat build/package-suite.log
[[ "$(cat build/package-suite.rc)" == 0 ]] || status=1

# A fresh CI machine booted a minute ago: run the unit tests once more as
# such a machine sees the clocks (a time namespace whose monotonic and
# boot-time clocks read about 60 s), so no test can depend on how long this
# machine has been up. Each binary counts as one test.
stage "unit tests at uptime 60 s"
echo "=== unit tests at an uptime of ~60 s (unshare -T)"
uptime_s=$(cut -d. -f1 /proc/uptime)
shift_s=$(( uptime_s > 60 ? uptime_s - 60 : 0 ))
mkdir -p build/fresh-boot
rm -f build/fresh-boot/*
while read -r t; do
    name="${t##*/}"
    if unshare -T --monotonic=-"$shift_s" --boottime=-"$shift_s" "build/$t" >"build/fresh-boot/$name.log" 2>&1; then
        echo passed >"build/fresh-boot/$name.result"
    else
        status=1
        echo failed >"build/fresh-boot/$name.result"
        echo "fresh-boot $name: FAILED"; grep -E '^\[  FAILED  \]' "build/fresh-boot/$name.log" | head -20
    fi
done < <(unit_targets build)

stage "build-asan (what is left of it)"
asan_built=0
if wait_build asan; then asan_built=1; else status=1; echo "build-asan FAILED: its suites cannot run"; fi
# The sanitizer build runs the e2e suite on 2 request threads that never
# spin (-o poll_us=0), the plain build on the default single thread that
# spins (and TSan's stress run on 4 spinning threads): both request loops
# and both ways of waiting are covered.
stage "asan suites"
[[ $asan_built == 1 ]] &&
    CHANFS_THREADS=2 CHANFS_POLL_US=0 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suites build-asan --suite unit --suite e2e

stage "build-tsan (what is left of it)"
tsan_built=0
if wait_build tsan; then tsan_built=1; else status=1; echo "build-tsan FAILED: its suites cannot run"; fi
stage "tsan suites"
[[ $tsan_built == 1 ]] &&
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_suites build-tsan --suite unit --suite stress

# The libFuzzer targets (tests/fuzz), built by clang with ASan+UBSan, each
# run for 60 s on a copy of its seed corpus; all at once, so the stage costs
# one minute of wall time plus the build. A crash or a broken invariant fails
# the target: its input is kept under build-fuzz/fuzz-work/TARGET/ and
# the start of its report is printed. Each target counts as one test.
stage "fuzz (build + 60 s run)"
echo "=== fuzz"
fuzz_start=$SECONDS
wait_build fuzz || { status=1; echo "build-fuzz FAILED"; }
wait "$builds_pid" || true
mapfile -t fuzzers < <(fuzz_targets)
rm -rf build-fuzz/fuzz-work build-fuzz/fuzz-results
mkdir -p build-fuzz/fuzz-results
for f in "${fuzzers[@]}"; do
    name="${f##*/}"
    work="build-fuzz/fuzz-work/$name"
    mkdir -p "$work/corpus" "$work/crashes"
    if [[ -d "tests/fuzz/$name" ]]; then cp -r "tests/fuzz/$name/." "$work/corpus/"; fi
    ( rc=0
      "build-fuzz/$f" -max_total_time=60 -timeout=10 -rss_limit_mb=2048 \
          -artifact_prefix="$work/crashes/" "$work/corpus" >"$work/log" 2>&1 || rc=$?
      echo "$rc" >"$work/rc" ) &
done
wait
for f in "${fuzzers[@]}"; do
    name="${f##*/}"
    work="build-fuzz/fuzz-work/$name"
    if [[ "$(cat "$work/rc")" == 0 ]]; then
        echo "fuzz $name: ok ($(grep -o 'Done [0-9]* runs' "$work/log" || echo '? runs'))"
        echo passed >"build-fuzz/fuzz-results/$name"
    else
        status=1
        echo "fuzz $name: FAILED (exit $(cat "$work/rc")); input: $(ls "$work"/crashes/* 2>/dev/null | tr '\n' ' ')"
        grep -m1 -A25 -E 'invariant violated|==[0-9]+==ERROR|ERROR: libFuzzer|runtime error' "$work/log" || tail -25 "$work/log"
        echo "  (full log: $work/log; reproduce: build-fuzz/$f INPUT)"
        echo failed >"build-fuzz/fuzz-results/$name"
    fi
done
echo "=== fuzz stage: $((SECONDS - fuzz_start)) s"

# The benchmark, once, in its quick mode: proves it still runs. It never
# fails on a timing, only if something broke (a mount, a lost message).
stage "chanfs-bench --quick"
echo "=== chanfs-bench --quick"
bench_status=0
build/tools/bench/chanfs-bench --quick --json build/bench-quick.json || bench_status=1
if [[ $bench_status -ne 0 ]]; then status=1; fi

stage ""
echo "=== stages (total $SECONDS s; the background builds' CPU also shows in the stage that waited for the last of them)"
printf '%s\n' "${stages[@]}"
cat build/ci-build-*.time 2>/dev/null || true

# One closing line over all three builds, counting test cases: GoogleTest
# and bats (TAP) report their own cases; any other test counts once.
BENCH_STATUS=$bench_status python3 - <<'PY'
import json, os, pathlib, re
passed = failed = 0
if os.environ["BENCH_STATUS"] == "0":
    passed += 1
else:
    failed += 1
# The fuzz targets and the fresh-boot unit runs: one test each.
for r in sorted(pathlib.Path("build-fuzz", "fuzz-results").glob("*")) + \
        sorted(pathlib.Path("build", "fresh-boot").glob("*.result")):
    if r.read_text().strip() == "passed":
        passed += 1
    else:
        failed += 1
logs = [pathlib.Path(d, "meson-logs", "testlog.json") for d in ("build", "build-asan", "build-tsan")]
logs.append(pathlib.Path("build", "meson-logs", "package.json"))
for log in logs:
    if not log.exists():
        continue
    for line in log.read_text().splitlines():
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = t.get("result") == "OK"
        gp = re.search(r"^\[  PASSED  \] (\d+) test", out, re.M)
        gf = re.search(r"^\[  FAILED  \] (\d+) test", out, re.M)
        tap_ok = len(re.findall(r"^ok \d+", out, re.M))
        tap_bad = len(re.findall(r"^not ok \d+", out, re.M))
        if gp or gf:
            passed += int(gp.group(1)) if gp else 0
            failed += int(gf.group(1)) if gf else (0 if ok else 1)
        elif tap_ok or tap_bad:
            passed += tap_ok
            failed += tap_bad if tap_bad or ok else 1
        elif ok:
            passed += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed")
PY
exit "$status"
