#!/usr/bin/env python3
"""An epoll reader that takes one message per wake-up, as event loops that
read a bounded chunk per callback do, against a channel or a kernel FIFO.

usage: epoll_wakeups.py PATH lt|et drain|one [WRITES]

The reader registers PATH (opened O_RDONLY|O_NONBLOCK) for EPOLLIN, level- or
edge-triggered. The same process holds a writer and sends one 2-byte message
before each wait (two before the first, so a reader that takes one per
wake-up always has one left over). With "drain" each wake-up reads until EAGAIN; with "one" it
reads one 2-byte message and leaves the rest. A kernel FIFO raises a new edge
on every write, so every wait must return within 3 s; prints what was read
and exits 1 on the first wait that times out.
"""
import os
import select
import sys

path, trigger, mode = sys.argv[1], sys.argv[2], sys.argv[3]
writes = int(sys.argv[4]) if len(sys.argv) > 4 else 6

reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
writer = os.open(path, os.O_WRONLY)
ep = select.epoll()
flags = select.EPOLLIN | (select.EPOLLET if trigger == "et" else 0)
ep.register(reader, flags)

got = b""
sent = b""
for i in range(writes):
    for _ in range(2 if i == 0 else 1):
        msg = b"%d\n" % (len(sent) // 2 % 10)
        os.write(writer, msg)
        sent += msg
    events = ep.poll(3.0)
    if not events:
        print(f"write {i + 1}: no EPOLLIN within 3 s; read so far {got!r}")
        sys.exit(1)
    if mode == "drain":
        while True:
            try:
                chunk = os.read(reader, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            got += chunk
    else:
        got += os.read(reader, 2)

# What a non-draining reader left behind is still there, in order.
while len(got) < len(sent):
    try:
        got += os.read(reader, 65536)
    except BlockingIOError:
        if not ep.poll(3.0):
            break
if got != sent:
    print(f"read {got!r}, sent {sent!r}")
    sys.exit(1)
print(f"{trigger} {mode}: {writes} wake-ups, read {len(got)} bytes in order")
