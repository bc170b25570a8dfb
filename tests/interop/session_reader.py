#!/usr/bin/python3
"""Reads COUNT writer sessions from a pipe channel the way FIFO consumers do:
open(), read() until EOF, close(), again. Prints each session as one JSON
string so merged or split sessions show up in the output.

usage: session_reader.py PATH COUNT [WAIT_S]
WAIT_S: wait up to that long for PATH to appear (the writer may create it).
"""
import json
import os
import sys
import time

path, count = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 0)
while not os.path.exists(path):
    if time.monotonic() > deadline:
        sys.exit(f"{path} did not appear")
    time.sleep(0.01)

for _ in range(count):
    with open(path, "rb", buffering=0) as f:
        chunks = []
        while True:
            b = f.read(65536)
            if not b:
                break
            chunks.append(b)
    print(json.dumps(b"".join(chunks).decode()))
