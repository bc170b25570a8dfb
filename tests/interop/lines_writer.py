#!/usr/bin/python3
"""The Python twin of `queue_io write`: COUNT fixed 16-byte lines
"TAG:NNNNNN....\\n", one write(2) each, starting at FIRST (default 0).
With --end, one END line follows, so every queue_io reader of a topic stops.

usage: lines_writer.py PATH TAG COUNT [FIRST] [--end]
"""
import os
import sys

args = [a for a in sys.argv[1:] if a != "--end"]
path, tag, count = args[0], args[1], int(args[2])
first = int(args[3]) if len(args) > 3 else 0
fd = os.open(path, os.O_WRONLY)
lines = [f"{tag}:{i:06d}" for i in range(first, first + count)]
if "--end" in sys.argv:
    lines.append("END")
for text in lines:
    line = (text.ljust(15, ".")[:15] + "\n").encode()
    if os.write(fd, line) != len(line):
        sys.exit("short write")
os.close(fd)
