#!/usr/bin/python3
"""The classic AF_UNIX ping/pong server, for the uds=connect tests.

Per connection: "ping" -> "pong"; "quit" -> sends "bye" and hangs up;
"end" closes without a word. Writes "ready" to stdout once listening.
"""
import os
import socket
import sys
import threading

path = sys.argv[1]
mode = int(sys.argv[2], 8) if len(sys.argv) > 2 else 0o666
try:
    os.unlink(path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, mode)
srv.listen(64)
print("ready", flush=True)


def serve(conn):
    with conn:
        while True:
            word = conn.recv(4)
            if not word or word.startswith(b"end"):
                return
            if word == b"ping":
                conn.sendall(b"pong")
            elif word == b"quit":
                conn.sendall(b"bye")
                return
            else:
                conn.sendall(b"????")


while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
