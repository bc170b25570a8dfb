#!/usr/bin/env bash
# Installs, with apt-get, what chanfs needs on Debian 12 and is missing.
#   install-deps.sh          build and run the daemon
#   install-deps.sh --test   also everything the test suites use
set -euo pipefail

# libmicrohttpd: the metrics endpoint's HTTP; libsystemd: sd_notify;
# nlohmann-json: -o log_format=json and chanfs-bench --compare; CLI11:
# chanctl's command line. libnats-dev: the NATS C client (backend=nats).
pkgs=(g++ meson ninja-build pkg-config libfuse3-dev fuse3 libspdlog-dev libfmt-dev libcpptoml-dev attr
    libmicrohttpd-dev libsystemd-dev nlohmann-json3-dev libcli11-dev libnats-dev)
if [[ "${1:-}" == "--test" ]]; then
    # gcc-12 brings the ASan/UBSan/TSan runtimes; the interop suite needs a
    # compiler or interpreter per language.
    pkgs+=(libgtest-dev bats python3 gcc golang-go ruby nodejs procps util-linux coreutils)
    # The NATS-backed channel tests start their own JetStream server.
    pkgs+=(nats-server)
    # Real socket clients for the uds=listen suites (socat, nc -N -U).
    pkgs+=(socat netcat-openbsd)
    # The packaging suites: man pages (rst2man, man), systemd-analyze, and
    # building, checking and installing the Debian package.
    pkgs+=(python3-docutils man-db systemd dpkg-dev build-essential debhelper lintian)
    # The fuzz targets: clang (14 in Debian 12) and its runtimes (libFuzzer,
    # ASan, UBSan: libclang-rt-14-dev); llvm-symbolizer (llvm) for
    # readable crash stacks.
    pkgs+=(clang libclang-rt-14-dev llvm)
    # The storage-faults suite (tests/storage, as root): mkfs.ext4 for the
    # loop-mounted state directories, losetup and mount from util-linux.
    pkgs+=(e2fsprogs mount)
    # The metrics suite: curl scrapes, promtool (from prometheus, large)
    # checks the exposition format.
    pkgs+=(curl prometheus)
    # bench.sh --plot and its test draw with gnuplot.
    pkgs+=(gnuplot-nox)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if (( ${#missing[@]} )); then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# FUSE needs its device; containers sometimes lack the module autoload.
if [[ ! -e /dev/fuse ]]; then
    modprobe fuse 2>/dev/null || true
fi
[[ -e /dev/fuse ]] || { echo "install-deps: /dev/fuse is missing: FUSE is not available here" >&2; exit 1; }
