# Small filesystems to put a state directory on, and the faults to give
# them, for the storage-faults suite (tests/storage). Needs root: tmpfs and
# loop mounts. Everything made here is recorded and undone by
# storage_teardown, which a test's teardown must call (after stopping its
# daemons) even when the test failed:
#   storage_tmpfs DIR SIZE        a tmpfs of SIZE (4M, 512k...) at DIR
#   storage_ext4 DIR SIZE_MIB     a loop-mounted ext4 image at DIR (no
#                                 reserved blocks, so root fills it too)
#   storage_fill DIR              fills the filesystem under DIR to the last
#                                 byte (the file DIR/.storage-fill)
#   storage_free DIR              frees what storage_fill took
#   storage_ext4_abort DIR        ext4's remount,abort: every later write
#                                 fails with EROFS, as after an ext4 error
#   storage_remount DIR           unmounts and mounts an ext4 again (after
#                                 an abort: journal replay, writable again)
#   storage_teardown              unmounts (lazily), detaches, deletes

declare -ga STORAGE_MOUNTS=() STORAGE_LOOPS=() STORAGE_IMAGES=()
declare -gA STORAGE_DEV_OF=()

storage_require_root() {
    if ((EUID != 0)); then
        echo "the storage-faults suite needs root (tmpfs and loop mounts); run it as root" >&2
        return 1
    fi
}

storage_tmpfs() {
    mkdir -p "$1"
    mount -t tmpfs -o "size=$2,mode=0755" chanfs-storage-test "$1"
    STORAGE_MOUNTS+=("$1")
}

storage_ext4() {
    local dir="$1" mib="$2" img dev
    img="$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/storage-ext4.XXXXXX.img")"
    STORAGE_IMAGES+=("$img")
    truncate -s "${mib}M" "$img"
    mkfs.ext4 -q -F -m 0 -E nodiscard,lazy_itable_init=0 "$img" >/dev/null
    dev="$(losetup -f --show "$img")"
    STORAGE_LOOPS+=("$dev")
    mkdir -p "$dir"
    mount -t ext4 -o errors=remount-ro "$dev" "$dir"
    STORAGE_MOUNTS+=("$dir")
    STORAGE_DEV_OF["$dir"]="$dev"
}

storage_fill() {
    # 1 MiB blocks, then single bytes: nothing is left, not even the tail
    # of a partly used block.
    dd if=/dev/zero of="$1/.storage-fill" bs=1M status=none 2>/dev/null || true
    dd if=/dev/zero of="$1/.storage-fill" bs=4k oflag=append conv=notrunc status=none 2>/dev/null || true
    dd if=/dev/zero of="$1/.storage-fill" bs=512 oflag=append conv=notrunc status=none 2>/dev/null || true
    sync -f "$1" 2>/dev/null || true
    # ext4 may keep a block or two it cannot hand to a regular file (an
    # extent block): a few records fit there, then the disk is full.
    local avail
    avail="$(stat -f -c %a "$1")"
    ((avail <= 2)) || { echo "storage_fill $1: $avail blocks still free" >&2; return 1; }
}

storage_free() {
    rm -f "$1/.storage-fill"
    sync -f "$1" 2>/dev/null || true
}

storage_ext4_abort() {
    mount -o remount,abort "$1"
}

storage_remount() {
    local dev="${STORAGE_DEV_OF[$1]}"
    umount "$1"
    mount -t ext4 -o errors=remount-ro "$dev" "$1"
}

storage_teardown() {
    local i status=0
    for ((i = ${#STORAGE_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -l "${STORAGE_MOUNTS[i]}" 2>/dev/null || true
    done
    for i in "${STORAGE_LOOPS[@]}"; do
        losetup -d "$i" 2>/dev/null || status=1
    done
    for i in "${STORAGE_IMAGES[@]}"; do
        rm -f "$i"
    done
    STORAGE_MOUNTS=()
    STORAGE_LOOPS=()
    STORAGE_IMAGES=()
    return "$status"
}
