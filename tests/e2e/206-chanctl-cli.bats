#!/usr/bin/env bats
# chanctl's command line (CLI11): options among operands, --name=value,
# "--" ending options, the last of a repeated option winning, every option
# spelling of a setting as a KEY of `set`, and usage errors as exit 2 with
# the command's usage line.
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

@test "chanctl: options anywhere, --name=value, the last of a repeated option wins" {
    "$CHANCTL_BIN" create "$MNT/a" --kind=queue --capacity 4K --capacity=8K "$MNT/b"
    [ "$(xattr "$MNT/a" kind)" = queue ]
    [ "$(xattr "$MNT/b" capacity)" = 8192 ]
    "$CHANCTL_BIN" set "$MNT/a" retention-bytes=1M max-message=2K
    [ "$(xattr "$MNT/a" retention_bytes)" = 1048576 ]
    [ "$(xattr "$MNT/a" max_message)" = 2048 ]
    # After "--", a word that looks like an option is an operand.
    run "$CHANCTL_BIN" stat -- --json
    [ "$status" -eq 1 ]
    [[ "$output" == *"--json"*"No such file or directory"* ]]
}

@test "chanctl: usage errors are exit 2 with the command's usage line" {
    run "$CHANCTL_BIN" ls --bogus "$MNT"
    [ "$status" -eq 2 ]
    [[ "$output" == *"--bogus"* ]]
    [[ "$output" == *"usage: chanctl ls [--json] [-r] [DIR]"* ]]
    run "$CHANCTL_BIN" stat --json=1 "$MNT"
    [ "$status" -eq 2 ]
    run "$CHANCTL_BIN" create --kind
    [ "$status" -eq 2 ]
    [[ "$output" == *"--kind"* ]]
    run "$CHANCTL_BIN" export --output --help "$MNT"
    [ "$status" -eq 2 ]
    [[ "$output" == *"needs a value (got the option '--help')"* ]]
    run "$CHANCTL_BIN" frobnicate
    [ "$status" -eq 2 ]
    [[ "$output" == *"unknown command 'frobnicate'"* ]]
    [ ! -e "$MNT/--json" ]
}
