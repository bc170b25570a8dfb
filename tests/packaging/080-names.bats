#!/usr/bin/env bats
# One source of truth for names: every setting, stat and endpoint key that
# channels/base/names.h declares (names_gen lists them) is known to the
# daemon's xattr listing, the config file, chanctl, bash completion and both
# man pages. A name left out of any of them fails here.
bats_require_minimum_version 1.5.0
load ../e2e/helpers

COMPLETION="$PACKAGING_BUILD/completion/chanctl"
MAN_DIR="$PACKAGING_BUILD/man"

setup() { SCRATCH="$(mktemp -d /tmp/chanfs-names.XXXXXX)"; }
teardown() {
    chanfs_teardown
    rm -rf "$SCRATCH"
}

# settings | stats | endpoints: the table, tab-separated (see names_gen).
table() { "$NAMES_GEN_BIN" list "$1"; }

# complete WORD...: the candidates bash offers for the last word, one per
# line, sorted (as in 050-completion.bats).
complete_words() {
    bash --norc --noprofile -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        _chanctl
        printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$COMPLETION" chanctl "$@"
}

# section FILE TITLE: the lines of one section of a generated .rst page,
# from below its "====" underline to the next section's title.
section() {
    awk -v title="$2" '
        { line[NR] = $0 }
        END {
            for (i = 1; i < NR; i++) if (line[i] == title && line[i + 1] ~ /^=+$/) { s = i + 2; break }
            if (!s) exit
            for (i = s; i <= NR; i++) {
                if (i < NR && line[i] != "" && line[i + 1] ~ /^=+$/) break
                print line[i]
            }
        }' "$1"
}

@test "names_gen lists the table" {
    run table settings
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -ge 10 ]
    [[ "${lines[0]}" == "kind"$'\t'"--kind"$'\t'"choice"$'\t'"pipe,queue,topic"$'\t'"pipe" ]]
    [[ "$output" == *$'\n'"retention_messages"$'\t'* ]]
    run table stats
    [[ "${lines[0]}" == "queued_messages"$'\t'"channel" ]]
    [[ "$output" == *"uds_bytes"$'\t'"uds-connect,uds-listen"* ]]
    run table endpoints
    [[ "$output" == *"fifo"$'\t'"in"$'\t'"--fifo-in"* ]]
    [[ "$output" == *"uds"$'\t'"listen-seqpacket"$'\t'"--uds-listen-seqpacket"* ]]
    run "$NAMES_GEN_BIN" list nothing
    [ "$status" -eq 2 ]
}

@test "the daemon lists every setting with its default and every stat, on channels and directories" {
    mount_chanfs
    touch "$MNT/c"
    local attrs name option type choices default where
    attrs="$(getfattr --absolute-names -d -m - "$MNT/c")"
    while IFS=$'\t' read -r name option type choices default; do
        [[ "$attrs" == *$'\n'"user.chanfs.$name=\"$default\""* ]] ||
            { echo "channel: $name=\"$default\" not listed in: $attrs"; return 1; }
    done < <(table settings)
    while IFS=$'\t' read -r name where; do
        if [[ ",$where," == *,channel,* ]]; then
            [[ "$attrs" == *$'\n'"user.chanfs.stats.$name="* ]] || { echo "stat $name not listed"; return 1; }
        elif [[ ",$where," == *,mount,* ]]; then
            [[ "$attrs" != *"stats.$name="* ]] || { echo "mount stat $name listed on a channel"; return 1; }
            [ -n "$(xattr "$MNT" "stats.$name")" ] || { echo "mount stat $name unreadable"; return 1; }
        fi
    done < <(table stats)
    # A directory lists the defaults set on it, and only those.
    mkdir "$MNT/d"
    [ -z "$(getfattr --absolute-names -d -m - "$MNT/d")" ]
    while IFS=$'\t' read -r name option type choices default; do
        setfattr -n "user.chanfs.$name" -v "$default" "$MNT/d"
    done < <(table settings)
    attrs="$(getfattr --absolute-names -d -m - "$MNT/d")"
    while IFS=$'\t' read -r name option type choices default; do
        [[ "$attrs" == *$'\n'"user.chanfs.$name=\"$default\""* ]] || { echo "directory: $name not listed"; return 1; }
    done < <(table settings)
}

@test "each endpoint mode shows the stats the table gives it" {
    mount_chanfs
    local key mode option name where attrs kind
    while IFS=$'\t' read -r key mode option; do
        touch "$MNT/$mode"
        setfattr -n "user.chanfs.$key" -v "$mode:$SCRATCH/$mode" "$MNT/$mode"
        attrs="$(getfattr --absolute-names -d -m - "$MNT/$mode")"
        [[ "$attrs" == *$'\n'"user.chanfs.$key=\"$mode:$SCRATCH/$mode\""* ]] || { echo "$key not listed: $attrs"; return 1; }
        case "$key=$mode" in
            fifo=*) kind=fifo ;;
            uds=connect) kind=uds-connect ;;
            uds=listen*) kind=uds-listen ;;
            *) echo "no stats known for $key=$mode: add it here"; return 1 ;;
        esac
        while IFS=$'\t' read -r name where; do
            if [[ ",$where," == *",$kind,"* ]]; then
                [[ "$attrs" == *"user.chanfs.stats.$name="* ]] || { echo "$key=$mode: $name not listed"; return 1; }
            elif [[ ",$where," != *,channel,* ]]; then
                [[ "$attrs" != *"user.chanfs.stats.$name="* ]] || { echo "$key=$mode: $name listed"; return 1; }
            fi
        done < <(table stats)
        setfattr -x "user.chanfs.$key" "$MNT/$mode"
    done < <(table endpoints)
}

@test "the config file accepts every setting, on channels and directories" {
    local config="$SCRATCH/chanfs.toml" name option type choices default
    {
        echo '[dir."d"]'
        while IFS=$'\t' read -r name option type choices default; do echo "$name = \"$default\""; done < <(table settings)
        echo '[channel."c"]'
        while IFS=$'\t' read -r name option type choices default; do echo "$name = \"$default\""; done < <(table settings)
    } >"$config"
    mount_chanfs -o "config=$config"
    while IFS=$'\t' read -r name option type choices default; do
        [ "$(xattr "$MNT/c" "$name")" = "$default" ] || { echo "channel $name"; return 1; }
        [ "$(xattr "$MNT/d" "$name")" = "$default" ] || { echo "directory $name"; return 1; }
    done < <(table settings)
}

@test "chanctl has an option for every setting and endpoint mode, and takes every KEY=" {
    mount_chanfs
    touch "$MNT/c"
    local help name option type choices default key mode
    help="$("$CHANCTL_BIN" help create)"
    while IFS=$'\t' read -r name option type choices default; do
        grep -qE -- "^  $option( |$)" <<<"$help" || { echo "no $option in chanctl help create"; return 1; }
        "$CHANCTL_BIN" set "$MNT/c" "$name=$default"
    done < <(table settings)
    while IFS=$'\t' read -r key mode option; do
        grep -qE -- "^  $option PATH" <<<"$help" || { echo "no $option in chanctl help create"; return 1; }
    done < <(table endpoints)
    # An unknown short name is refused with the list of every known one.
    run "$CHANCTL_BIN" set "$MNT/c" colour=red
    [ "$status" -eq 2 ]
    while IFS=$'\t' read -r name option type choices default; do
        [[ "$output" == *" $name,"* ]] || { echo "$name not in: $output"; return 1; }
    done < <(table settings)
}

@test "bash completion offers every setting, its values, and every endpoint key" {
    local offered keys name option type choices default key mode
    offered="$(complete_words create --)"
    keys="$(complete_words set /x "")"
    while IFS=$'\t' read -r name option type choices default; do
        grep -qx -- "$option" <<<"$offered" || { echo "$option not offered"; return 1; }
        grep -qx -- "$name=" <<<"$keys" || { echo "$name= not offered"; return 1; }
        if [ "$choices" != - ]; then
            [ "$(complete_words set /x "$name" = "")" = "$(tr , '\n' <<<"$choices" | sort)" ] ||
                { echo "$name: values differ"; return 1; }
        fi
    done < <(table settings)
    while IFS=$'\t' read -r key mode option; do
        grep -qx -- "$option" <<<"$offered" || { echo "$option not offered"; return 1; }
        grep -qx -- "$key=" <<<"$keys" || { echo "$key= not offered"; return 1; }
        grep -qx -- "$mode:" <<<"$(complete_words set /x "$key" = "")" || { echo "$key=$mode: not offered"; return 1; }
    done < <(table endpoints)
}

@test "both man pages document every setting, stat and endpoint" {
    local chanfs_rst="$MAN_DIR/chanfs.8.rst" chanctl_rst="$MAN_DIR/chanctl.1.rst"
    local settings stats config chanctl_settings chanctl_set
    settings="$(section "$chanfs_rst" SETTINGS)"
    stats="$(section "$chanfs_rst" STATS)"
    config="$(section "$chanfs_rst" "CONFIG FILE")"
    chanctl_settings="$(section "$chanctl_rst" SETTINGS)"
    chanctl_set="$(section "$chanctl_rst" COMMANDS)"
    [ -n "$settings" ] && [ -n "$stats" ] && [ -n "$config" ] && [ -n "$chanctl_settings" ]
    local name option type choices default where key mode
    while IFS=$'\t' read -r name option type choices default; do
        grep -qE "^(\*\*[a-z_]+\*\*, )*\*\*$name\*\*(,|$)" <<<"$settings" ||
            { echo "chanfs(8) SETTINGS has no entry for $name"; return 1; }
        [[ "$config" == *"**$name**"* ]] || { echo "chanfs(8) CONFIG FILE does not name $name"; return 1; }
        grep -qE -- "^\*\*$option\*\*" <<<"$chanctl_settings" ||
            { echo "chanctl(1) SETTINGS has no $option"; return 1; }
        [[ "$chanctl_set" == *"**$name**"* ]] || { echo "chanctl(1) set does not name $name"; return 1; }
    done < <(table settings)
    while IFS=$'\t' read -r name where; do
        grep -qx -- "\*\*stats\.$name\*\*" <<<"$stats" ||
            { echo "chanfs(8) STATS has no $name"; return 1; }
    done < <(table stats)
    while IFS=$'\t' read -r key mode option; do
        [[ "$settings" == *"**$key**"* ]] || { echo "chanfs(8) SETTINGS does not name $key"; return 1; }
        grep -qE -- "^\*\*user.chanfs.$key=($mode|.*\*\*$mode):" "$chanfs_rst" ||
            { echo "chanfs(8) BRIDGES has no $key=$mode"; return 1; }
        grep -qE -- "^\*\*$option\*\* \*PATH\*" <<<"$chanctl_settings" ||
            { echo "chanctl(1) SETTINGS has no $option"; return 1; }
    done < <(table endpoints)
}
