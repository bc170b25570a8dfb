#!/usr/bin/env bats
# The documentation: README.md stays short and starts with the two
# commands, and every relative link in README.md, docs/*.md and
# packaging/README.md points at a file or directory the project has.
bats_require_minimum_version 1.5.0

ROOT="$PACKAGING_SRC/.."

# links FILE: the targets of its [text](target) links, one per line,
# without #anchors; web and mail links and same-page anchors left out.
links() {
    grep -oE '\]\([^)[:space:]]+\)' "$1" | sed -E 's/^\]\(//; s/\)$//; s/#.*$//' |
        grep -vE '^(https?:|mailto:|$)' || true
}

@test "README.md is at most 380 lines and starts with the two commands" {
    local n
    n="$(wc -l <"$ROOT/README.md")"
    echo "README.md has $n lines"
    [ "$n" -le 380 ]
    run grep -m1 -A2 '^```sh$' "$ROOT/README.md"
    [[ "${lines[1]}" == "tools/scripts/chanfs-up.sh /run/chan "* ]]
    [[ "${lines[2]}" == "tools/scripts/run-tests.sh "* ]]
    # Nothing before them but the title.
    [ "$(grep -n -m1 '^```sh$' "$ROOT/README.md" | cut -d: -f1)" -le 3 ]
}

@test "every relative link in README.md, docs/ and packaging/README.md resolves" {
    local file target missing=() count=0
    for file in "$ROOT/README.md" "$ROOT"/docs/*.md "$ROOT/packaging/README.md"; do
        while read -r target; do
            [ -n "$target" ] || continue
            count=$((count + 1))
            [ -e "$(dirname "$file")/$target" ] || missing+=("${file#"$ROOT/"}: $target")
        done < <(links "$file")
    done
    echo "$count links checked"
    [ "$count" -ge 20 ]
    [ "${#missing[@]}" -eq 0 ] || { printf 'broken: %s\n' "${missing[@]}"; return 1; }
}

@test "the docs name no file the project does not have" {
    # DESIGN.md and FUSE-NOTES.md belong to the people who wrote the brief,
    # not to this tree.
    run grep -nE 'DESIGN\.md|FUSE-NOTES' "$ROOT/README.md" "$ROOT"/docs/*.md
    [ "$status" -eq 1 ]
    # Every `path/with/slashes.ext` in backquotes that looks like a source
    # path of this tree exists (placeholders such as tests/fuzz/NAME.cpp
    # aside).
    local file path missing=()
    for file in "$ROOT/README.md" "$ROOT"/docs/*.md; do
        while read -r path; do
            [ -e "$ROOT/$path" ] || missing+=("${file#"$ROOT/"}: $path")
        done < <(grep -oE '`(channels|fs|tools|tests|packaging)/[A-Za-z0-9_./-]+\.(h|cpp|py|bats|bash|sh|build|in)`' "$file" | tr -d '`' | grep -vE '/[A-Z]{3,}\.' | sort -u)
    done
    [ "${#missing[@]}" -eq 0 ] || { printf 'no such file: %s\n' "${missing[@]}"; return 1; }
}
