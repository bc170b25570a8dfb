#!/usr/bin/python3
"""Reads COUNT messages of SIZE bytes from a `messages` channel, one read(2)
each with a buffer larger than any message, checks each body against the
big_writer pattern and prints "TAG SEQ".

usage: messages_reader.py PATH COUNT SIZE [--eof]
--eof: after COUNT messages the next read must return 0 (a pipe's end mark).
"""
import os
import sys

path, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
for _ in range(count):
    body = os.read(fd, 2 * size)
    if len(body) != size:
        sys.exit(f"read returned {len(body)} bytes, want one {size}-byte message")
    tag, seq, _ = body.split(b":", 2)
    tag, seq = tag.decode(), int(seq)
    head = f"{tag}:{seq}:".encode()
    fill = (sum(tag.encode()) + 7 * seq) % 256
    if body != head + bytes([fill]) * (size - len(head)):
        sys.exit(f"message {tag}:{seq} is corrupt")
    print(tag, seq)
if "--eof" in sys.argv[4:] and os.read(fd, 2 * size) != b"":
    sys.exit("no end-of-stream after the last message")
os.close(fd)
