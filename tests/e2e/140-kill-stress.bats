#!/usr/bin/env bats
# Killed clients lose nothing the daemon still holds (issue 5, item 1).
bats_require_minimum_version 1.5.0
load helpers

setup() { mount_chanfs -o log_level=info; }
teardown() { chanfs_teardown; }

@test "20,000 messages into a queue while 4 readers are kill -9'ed every few ms: none twice, none lost by the daemon" {
    touch "$MNT/q"
    setfattr -n user.chanfs.kind -v queue "$MNT/q"
    setfattr -n user.chanfs.framing -v messages "$MNT/q"
    setfattr -n user.chanfs.capacity -v 4K "$MNT/q"   # the producer waits for the readers
    run timeout 150 /usr/bin/python3 "$BATS_TEST_DIRNAME/kill_stress.py" "$MNT/q" 20000 4
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"duplicates 0,"* ]]
    [[ "$output" == *"daemon out_messages 20000, still queued 0"* ]]
}

@test "20,000 messages into a topic while 4 subscribers are kill -9'ed every few ms: no gap or duplicate, a live subscriber gets all" {
    touch "$MNT/t"
    setfattr -n user.chanfs.kind -v topic "$MNT/t"
    setfattr -n user.chanfs.framing -v messages "$MNT/t"
    setfattr -n user.chanfs.capacity -v 4K "$MNT/t"   # the slowest subscriber holds the publisher
    run timeout 150 /usr/bin/python3 "$BATS_TEST_DIRNAME/kill_stress.py" --topic "$MNT/t" 20000 4
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"gaps or duplicates 0,"* ]]
    [[ "$output" == *"witness got 20000 in order: True"* ]]
}
