#!/usr/bin/env python3
"""A stand-in for systemd's notify socket: binds a datagram socket at
argv[1], and for each message records it with what the mount answered at
that moment. At READY=1 it checks that the mount at argv[2] already answers
(a getxattr of the root's stats, the same a client would do) and that the
durable channel argv[3] (if given) is already back. Writes one line per
message to stdout as JSON and exits after STOPPING=1 or 60 s."""
import json
import os
import socket
import sys
import time

path, mnt = sys.argv[1], sys.argv[2]
channel = sys.argv[3] if len(sys.argv) > 3 else ""
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
sock.settimeout(60)
# Tell the test the socket is there (the daemon may start now).
open(path + ".bound", "w").close()
start = time.monotonic()
while True:
    try:
        data = sock.recv(4096).decode()
    except socket.timeout:
        print(json.dumps({"error": "timeout"}), flush=True)
        break
    fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
    record = {"fields": fields, "t": round(time.monotonic() - start, 3)}
    if "READY" in fields:
        try:
            record["entries"] = os.getxattr(mnt, "user.chanfs.stats.entries").decode()
        except OSError as e:
            record["mount_error"] = e.strerror
        if channel:
            try:
                record["queued"] = os.getxattr(
                    os.path.join(mnt, channel), "user.chanfs.stats.queued_messages").decode()
            except OSError as e:
                record["channel_error"] = e.strerror
    print(json.dumps(record), flush=True)
    if "STOPPING" in fields:
        break
