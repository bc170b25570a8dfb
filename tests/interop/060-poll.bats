#!/usr/bin/env bats
# A C program watches a pipe channel with poll, epoll and select: POLLIN
# while data is ahead, nothing while drained with the writer open, POLLHUP
# alone at the writer's end, then read() == 0.
bats_require_minimum_version 1.5.0
load ../e2e/helpers
load interop

setup_file() { build_c poll_pipe; }
setup() { mount_chanfs; }
teardown() { chanfs_teardown; }

poll_steps() {
    local p="$MNT/p" sync="$BATS_TEST_TMPDIR/sync"
    mkdir "$sync"
    touch "$p"
    bg timeout 20 "$BATS_FILE_TMPDIR/poll_pipe" "$1" "$p" "$sync"
    local prog=$BG_PID
    wait_until 10 test -e "$sync/opened"
    exec 4> "$p"
    printf 'hello\n' >&4
    wait_until 10 test -e "$sync/drained"
    exec 4>&-
    wait_until 10 test -e "$sync/eof"
    echo second > "$p"
    wait "$prog"
}

@test "poll(2): POLLIN, nothing while the writer is open, POLLHUP alone, read() == 0" {
    poll_steps poll
}

@test "epoll(7): EPOLLIN, nothing while the writer is open, EPOLLHUP alone, read() == 0" {
    poll_steps epoll
}

@test "select(2): readable with data, not while drained, readable at the end, read() == 0" {
    poll_steps select
}
