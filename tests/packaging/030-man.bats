#!/usr/bin/env bats
# Man pages: built by meson from reStructuredText, clean for man(1), in
# step with the programs' own --help, and installed by `meson install`.
bats_require_minimum_version 1.5.0

MAN_DIR="$PACKAGING_BUILD/man"

@test "chanfs(8) and chanctl(1) are built and render without warnings" {
    local page out
    for page in chanfs.8 chanctl.1; do
        [ -s "$MAN_DIR/$page" ]
        out="$(MANWIDTH=80 man --warnings -l "$MAN_DIR/$page" 2>&1 >/dev/null)"
        echo "$page: $out"
        [ -z "$out" ]
    done
    run env MANWIDTH=80 man -l "$MAN_DIR/chanfs.8"
    [[ "${lines[0]}" == "CHANFS(8)"*"chanfs $CHANFS_VERSION"*"CHANFS(8)" ]]
    [[ "$output" == *"chanfs - mount a directory of IPC channels"* ]]
    local section
    for section in SYNOPSIS OPTIONS KINDS FRAMING SETTINGS STATS BRIDGES EXAMPLES "EXIT STATUS" FILES; do
        [[ "$output" == *$'\n'"$section"$'\n'* ]] || { echo "chanfs(8) has no $section"; return 1; }
    done
    run env MANWIDTH=80 man -l "$MAN_DIR/chanctl.1"
    [[ "${lines[0]}" == "CHANCTL(1)"* ]]
    for section in SYNOPSIS COMMANDS SETTINGS "EXIT STATUS"; do
        [[ "$output" == *$'\n'"$section"$'\n'* ]] || { echo "chanctl(1) has no $section"; return 1; }
    done
}

@test "chanfs(8) documents every option chanfs --help lists, and the same exit codes" {
    local text opt missing=()
    text="$(MANWIDTH=200 man -l "$MAN_DIR/chanfs.8" 2>/dev/null)"
    # -f, -d, -o log_level=, -o default_kind=, ..., allow_other
    while read -r opt; do
        [[ "$text" == *"$opt"* ]] || missing+=("$opt")
    done < <("$CHANFS_BIN" --help | grep -oE '^  (-[a-zA-Z]|-o [a-z_]+=?)' | sed 's/^  //; s/^-o //')
    [ "${#missing[@]}" -eq 0 ] || { echo "missing: ${missing[*]}"; return 1; }
    # The exit codes the program states are the ones the page states.
    "$CHANFS_BIN" --help | grep -q "0 after a clean unmount"
    # man justifies long paragraphs ("A  bad  command  line"): squeeze spaces.
    text="$(tr -s ' ' <<<"$text")"
    [[ "$text" == *"EXIT STATUS"*"0"*"Clean unmount"*"1"*"2"*"bad command line"* ]]
}

@test "chanctl(1) documents every command and every option of chanctl help" {
    local text cmd opt missing=()
    text="$(MANWIDTH=200 man -l "$MAN_DIR/chanctl.1" 2>/dev/null)"
    local commands
    commands="$("$CHANCTL_BIN" --help | awk '/^Commands:/ {on=1; next} /^$/ {on=0} on {print $1}')"
    [ -n "$commands" ]
    for cmd in $commands; do
        [[ "$text" == *"chanctl $cmd"* ]] || missing+=("command $cmd")
        [ "$cmd" = help ] && continue
        for opt in $("$CHANCTL_BIN" help "$cmd" | grep -oE '^  (-[a-z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+'); do
            [[ "$text" == *"$opt"* ]] || missing+=("$cmd $opt")
        done
    done
    [ "${#missing[@]}" -eq 0 ] || { echo "missing: ${missing[*]}"; return 1; }
}

@test "meson install puts the man pages, units and binaries where the prefix says" {
    local dest="$BATS_TEST_TMPDIR/dest"
    meson install -C "$PACKAGING_BUILD/.." --no-rebuild --destdir "$dest" >/dev/null
    local prefix
    prefix="$(meson introspect --buildoptions "$PACKAGING_BUILD/.." |
        python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')"
    local f
    for f in bin/chanfs bin/chanctl share/man/man8/chanfs.8 share/man/man1/chanctl.1 \
        lib/systemd/system/chanfs@.service lib/systemd/user/chanfs.service; do
        [ -e "$dest$prefix/$f" ] || { echo "not installed: $prefix/$f"; return 1; }
    done
    grep -q "^ExecStart=$prefix/bin/chanfs " "$dest$prefix/lib/systemd/system/chanfs@.service"
    # Nothing lands outside the prefix (/usr/local -> only usr/ in dest).
    [ "$(ls "$dest")" = "$(echo "$prefix" | cut -d/ -f2)" ]
    [ -z "$(find "$dest" -path "$dest$prefix" -prune -o -type f -print)" ]
}
