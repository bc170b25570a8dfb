#!/usr/bin/env bats
# chanctl for people: aligned tables with a bold header on a terminal,
# tab-separated lines when piped, and `chanctl top`'s live table.
# A terminal is provided by script(1).
bats_require_minimum_version 1.5.0
load ../e2e/helpers

setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

# on_tty CMD...: runs CMD with stdout on a pseudo-terminal; prints what it
# wrote with the terminal's \r\n turned back into \n.
on_tty() {
    local quoted
    printf -v quoted '%q ' "$@"
    TERM=xterm timeout 20 script -qec "$quoted" /dev/null | tr -d '\r'
}

@test "ls and stat: tab-separated and escape-free when piped" {
    "$CHANCTL_BIN" create --kind queue "$MNT/jobs"
    mkdir "$MNT/dir"
    "$CHANCTL_BIN" ls "$MNT" > "$BATS_TEST_TMPDIR/ls.txt"
    [ "$(head -n 1 "$BATS_TEST_TMPDIR/ls.txt")" = "$(printf 'NAME\tTYPE\tKIND\tFRAMING\tQUEUED\tBYTES\tREADERS\tWRITERS')" ]
    grep -qx "$(printf 'jobs\tchannel\tqueue\tlines\t0\t0\t0\t0')" "$BATS_TEST_TMPDIR/ls.txt"
    ! grep -q $'\x1b' "$BATS_TEST_TMPDIR/ls.txt"
    [ "$("$CHANCTL_BIN" ls "$MNT" | cut -f1,3 | tail -n 1)" = "$(printf 'jobs\tqueue')" ]
    [ "$("$CHANCTL_BIN" stat "$MNT/jobs" | awk -F '\t' '$1 == "kind" {print $2}')" = queue ]
    # A tab in a name is escaped, so it cannot add a field.
    touch "$MNT/$(printf 'a\tb')"
    [ "$("$CHANCTL_BIN" ls "$MNT" | awk -F '\t' 'NF != 8' | wc -l)" -eq 0 ]
}

@test "ls and stat on a terminal: aligned columns and a bold header; NO_COLOR turns the bold off" {
    "$CHANCTL_BIN" create --kind queue "$MNT/jobs"
    "$CHANCTL_BIN" create --kind topic "$MNT/a-long-channel-name"
    run on_tty "$CHANCTL_BIN" ls "$MNT"
    echo "$output" | cat -A
    [[ "${lines[0]}" == $'\x1b[1mNAME'*$'\x1b[0m' ]]
    [[ "$output" != *$'\t'* ]]
    # Columns line up: KIND starts at the same place on every row.
    local col
    col="$(awk '{ print index($0, $3) }' <<<"${lines[1]}")"
    [ "$(awk '{ print index($0, "queue") }' <<<"${lines[2]}")" = "$col" ]
    run on_tty "$CHANCTL_BIN" stat "$MNT/jobs"
    [[ "$output" == *"kind             queue"* || "$output" == *"kind"*" queue"* ]]
    [[ "$output" != *$'\t'* ]]
    NO_COLOR=1 run on_tty "$CHANCTL_BIN" ls "$MNT"
    [[ "${lines[0]}" == NAME* ]]
    [[ "$output" != *$'\x1b'* ]]
}

@test "top --once: rates over the interval, queued, readers, writers and drops" {
    "$CHANCTL_BIN" create --kind queue "$MNT/q"
    "$CHANCTL_BIN" create --kind queue --capacity 10 --overflow drop-oldest "$MNT/small"
    mkdir "$MNT/sub"
    "$CHANCTL_BIN" create --kind topic "$MNT/sub/t"
    exec 4<"$MNT/sub/t"     # one reader of the topic
    "$CHANCTL_BIN" top --once --interval 2 "$MNT" > "$BATS_TEST_TMPDIR/top.txt" 3>&- &
    local top_pid=$!
    sleep 0.5
    local i
    for ((i = 0; i < 30; i++)); do echo "job $i" > "$MNT/q"; done
    for ((i = 0; i < 5; i++)); do echo "0123456789" > "$MNT/small"; done
    timeout_wait 10 "$top_pid"
    exec 4<&-
    cat "$BATS_TEST_TMPDIR/top.txt"
    [ "$(head -n 1 "$BATS_TEST_TMPDIR/top.txt")" = "$(printf 'NAME\tKIND\tIN/s\tOUT/s\tQUEUED\tBYTES\tREADERS\tWRITERS\tDROPS')" ]
    [ "$(wc -l < "$BATS_TEST_TMPDIR/top.txt")" -eq 4 ]
    # 30 messages in about 2 s: 15/s (the interval is measured, so allow
    # for the sleep running a little long).
    awk -F '\t' '$1 == "q" { exit !($2 == "queue" && $3 >= 13 && $3 <= 15.1 && $4 == 0 && $5 == 30) }' "$BATS_TEST_TMPDIR/top.txt"
    awk -F '\t' '$1 == "small" { exit !($5 == 1 && $9 == 4) }' "$BATS_TEST_TMPDIR/top.txt"
    awk -F '\t' '$1 == "sub/t" { exit !($2 == "topic" && $7 == 1 && $8 == 0) }' "$BATS_TEST_TMPDIR/top.txt"
}

@test "top refreshes until Ctrl-C (exit 0), redraws in place on a terminal, and --json gives one array per refresh" {
    touch "$MNT/p"
    "$CHANCTL_BIN" top --interval 0.2 "$MNT" > "$BATS_TEST_TMPDIR/top.txt" 3>&- &
    local top_pid=$!
    sleep 1
    kill -INT "$top_pid"
    timeout_wait 5 "$top_pid"     # fails unless the exit status is 0
    [ "$(grep -c '^NAME' "$BATS_TEST_TMPDIR/top.txt")" -ge 2 ]
    run on_tty "$CHANCTL_BIN" top --iterations 2 --interval 0.1 "$MNT"
    [ "$(grep -o $'\x1b\\[H\x1b\\[2J' <<<"$output" | wc -l)" -eq 2 ]
    [[ "$output" == *"Ctrl-C to quit"* ]]
    "$CHANCTL_BIN" top --iterations 2 --interval 0.1 --json "$MNT" > "$BATS_TEST_TMPDIR/top.json"
    run python3 -c '
import json, sys
docs, text, dec = [], open(sys.argv[1]).read(), json.JSONDecoder()
pos = 0
while text[pos:].strip():
    doc, pos = dec.raw_decode(text, pos + (len(text[pos:]) - len(text[pos:].lstrip())))
    docs.append(doc)
print(len(docs), docs[0][0]["name"], docs[0][0]["kind"], docs[0][0]["queued_messages"])
' "$BATS_TEST_TMPDIR/top.json"
    [ "$output" = "2 p pipe 0" ]
    run "$CHANCTL_BIN" top --iterations 0 "$MNT"
    [ "$status" -eq 2 ]
    run "$CHANCTL_BIN" top --once "$MNT/p"
    [ "$status" -eq 1 ]
    [[ "$output" == *"Not a directory"* ]]
}
