# Shared helpers for the interop suite: where the programs live and how to
# build the compiled ones once per .bats file.

: "${INTEROP_DIR:=$BATS_TEST_DIRNAME}"
PY=/usr/bin/python3

# build_go NAME: compiles $INTEROP_DIR/NAME.go to $BATS_FILE_TMPDIR/NAME.
# The cache is per run so the toolchain's first build is paid once.
build_go() {
    local cache="$BATS_RUN_TMPDIR/gocache"
    mkdir -p "$cache" "$BATS_RUN_TMPDIR/gohome"
    GOCACHE="$cache" HOME="$BATS_RUN_TMPDIR/gohome" GOPATH="$BATS_RUN_TMPDIR/gohome/go" \
        GO111MODULE=off GOFLAGS= CGO_ENABLED=0 \
        go build -o "$BATS_FILE_TMPDIR/$1" "$INTEROP_DIR/$1.go"
}

# build_c NAME: compiles $INTEROP_DIR/NAME.c to $BATS_FILE_TMPDIR/NAME.
build_c() {
    gcc -Wall -Wextra -Werror -O1 -o "$BATS_FILE_TMPDIR/$1" "$INTEROP_DIR/$1.c"
}
