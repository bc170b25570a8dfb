#!/usr/bin/python3
"""Reads COUNT lp32 frames from PATH through O_NONBLOCK + poll, reading the
4-byte header and then exactly the body, and prints one line per message.

usage: lp32_reader.py PATH COUNT [--ready FILE] [--pattern SIZE]

--ready FILE: before anything is written, check that a read on the empty
    channel fails with EAGAIN, then create FILE so the caller starts writers.
--pattern SIZE: bodies are "TAG:SEQ:" + filler (see big_writer.*); check
    each one and print "TAG SEQ" instead of "LEN SHA256".
"""
import errno
import hashlib
import os
import select
import sys


def filler(tag, seq):
    return (sum(tag.encode()) + seq * 7) % 256


def check_pattern(body, size):
    tag, seq, _ = body.split(b":", 2)
    tag, seq = tag.decode(), int(seq)
    head = f"{tag}:{seq}:".encode()
    want = head + bytes([filler(tag, seq)]) * (size - len(head))
    if body != want:
        bad = next(i for i in range(min(len(body), len(want)))
                   if body[i] != want[i]) if len(body) == len(want) else -1
        sys.exit(f"message {tag}:{seq} is corrupt (len {len(body)}, "
                 f"first bad byte at {bad})")
    return f"{tag} {seq}"


def read_ready(fd, poller, n):
    """One read of up to n bytes after POLLIN; never more than one read()."""
    while True:
        events = poller.poll(20000)
        if not events:
            sys.exit("poll timed out after 20 s")
        _, ev = events[0]
        if ev & (select.POLLERR | select.POLLNVAL):
            sys.exit(f"poll error events {ev:#x}")
        if ev & select.POLLIN:
            try:
                return os.read(fd, n)
            except BlockingIOError:
                # A competing wake-up may have been stale; poll again.
                continue
        if ev & select.POLLHUP:
            sys.exit("unexpected end of stream (POLLHUP)")


def main():
    args = sys.argv[1:]
    path, count = args[0], int(args[1])
    ready = pattern = None
    if "--ready" in args:
        ready = args[args.index("--ready") + 1]
    if "--pattern" in args:
        pattern = int(args[args.index("--pattern") + 1])

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if ready:
        try:
            os.read(fd, 4)
            sys.exit("read on an empty channel did not fail")
        except BlockingIOError as e:
            assert e.errno == errno.EAGAIN
        open(ready, "w").close()

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    for _ in range(count):
        head = read_ready(fd, poller, 4)
        if len(head) != 4:
            sys.exit(f"header read returned {len(head)} bytes")
        size = int.from_bytes(head, "little")
        # The rest of the frame is kept for this handle, so it is there now.
        body = os.read(fd, size)
        if len(body) != size:
            sys.exit(f"body read returned {len(body)} of {size} bytes")
        if pattern is not None:
            if size != pattern:
                sys.exit(f"frame of {size} bytes, expected {pattern}")
            print(check_pattern(body, size))
        else:
            print(size, hashlib.sha256(body).hexdigest())
    os.close(fd)


main()
