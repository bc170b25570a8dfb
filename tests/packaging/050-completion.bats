#!/usr/bin/env bats
# bash completion for chanctl: subcommands, each command's options (all of
# those `chanctl help CMD` lists), setting values, KEY= names for `set`, and
# channel paths on a live mount.
bats_require_minimum_version 1.5.0
load ../e2e/helpers

# Built from packaging/completion/chanctl.in by names_gen.
COMPLETION="$PACKAGING_BUILD/completion/chanctl"

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

# complete WORD...: the candidates bash offers for the last word, given as
# bash splits a command line (so `kind=q` is three words: kind = q), one
# per line, sorted.
complete_words() {
    bash --norc --noprofile -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        _chanctl
        printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$COMPLETION" chanctl "$@"
}

@test "subcommands, and each command's options as chanctl help lists them" {
    run complete_words ""
    [ "$output" = "$(printf '%s\n' --help --version create export health help ls pub set stat sub top wait | sort)" ]
    run complete_words cr
    [ "$output" = create ]
    local cmd opt offered commands
    commands="$("$CHANCTL_BIN" --help | awk '/^Commands:/ {on=1; next} /^$/ {on=0} on && $1 != "help" {print $1}')"
    [ -n "$commands" ]
    for cmd in $commands; do
        grep -qx -- "$cmd" <<<"$(complete_words "")" || { echo "command $cmd not offered"; return 1; }
        offered="$(complete_words "$cmd" --)"
        for opt in $("$CHANCTL_BIN" help "$cmd" | grep -oE '^  (-[a-z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+'); do
            grep -qx -- "$opt" <<<"$offered" || { echo "$cmd: $opt not offered"; return 1; }
        done
    done
    run complete_words help s
    [ "$output" = "$(printf 'set\nstat\nsub')" ]
}

@test "setting values after --kind, --framing, --overflow, --kind= and KEY=" {
    run complete_words create --kind ""
    [ "$output" = "$(printf 'pipe\nqueue\ntopic')" ]
    run complete_words create --framing l
    [ "$output" = "$(printf 'lines\nlp32')" ]
    run complete_words create --overflow = d
    [ "$output" = drop-oldest ]
    run complete_words set "$MNT/x" ov
    [ "$output" = overflow= ]
    run complete_words set "$MNT/x" kind = q
    [ "$output" = queue ]
    run complete_words set "$MNT/x" uds = ""
    [ "$output" = "$(printf 'connect:\nlisten-seqpacket:\nlisten:')" ]
    # A free-form value gets no guesses.
    run complete_words create --capacity ""
    [ -z "$output" ]
}

@test "channel paths on a mount; directories only for ls and top" {
    mkdir "$MNT/news.d"
    touch "$MNT/news" "$MNT/notes" "$MNT/other"
    run complete_words stat "$MNT/n"
    [ "$output" = "$(printf '%s\n' "$MNT/news" "$MNT/news.d" "$MNT/notes")" ]
    run complete_words create --kind queue "$MNT/o"
    [ "$output" = "$MNT/other" ]
    run complete_words ls "$MNT/n"
    [ "$output" = "$MNT/news.d" ]
    run complete_words top "$MNT/"
    [ "$output" = "$MNT/news.d" ]
    run complete_words set "$MNT/no"
    [ "$output" = "$MNT/notes" ]
}
