#!/usr/bin/env python3
"""Memory flood for 155-limits-global.bats: many writer processes fill many
channels at once.

usage: flood.py DIR CHANNELS WRITERS BLOCKING CHUNK PASSES

Makes DIR/c0 .. DIR/c<CHANNELS-1> (if missing), then forks WRITERS writer processes.
Writer i writes to channels i, i+WRITERS, ...: PASSES passes, one CHUNK-byte
write(2) per channel per pass. The first BLOCKING writers use blocking
writes and stop at the first one that does not return (it is parked in the
daemon); the others use O_NONBLOCK and count EAGAIN. Once the non-blocking
writers are done, a blocking writer still running after 2 s counts as
blocked and is killed (SIGKILL: the daemon answers its parked write EINTR).
Prints one line: accepted=BYTES eagain=N blocked=N other_errors=N.
"""
import errno
import os
import signal
import sys
import time


def writer(paths, chunk, passes, blocking, report_fd):
    accepted = eagain = other = 0
    data = b"f" * chunk
    flags = os.O_WRONLY | (0 if blocking else os.O_NONBLOCK)
    fds = [os.open(p, flags) for p in paths]
    for _ in range(passes):
        for fd in fds:
            try:
                accepted += os.write(fd, data)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    eagain += 1
                else:
                    other += 1
            if blocking:
                # Progress goes out after every write: a writer parked in
                # the daemon never gets to a final report.
                os.write(report_fd, f"{accepted} {eagain} {other}\n".encode())
    os.write(report_fd, f"{accepted} {eagain} {other}\n".encode())


def main():
    d, channels, writers, blocking, chunk, passes = sys.argv[1:7]
    channels, writers, blocking = int(channels), int(writers), int(blocking)
    chunk, passes = int(chunk), int(passes)
    paths = [os.path.join(d, f"c{i}") for i in range(channels)]
    for p in paths:
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
    procs = []  # (pid, read end of its report pipe, blocking)
    for i in range(writers):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                writer(paths[i::writers], chunk, passes, i < blocking, w)
            finally:
                os._exit(0)
        os.close(w)
        procs.append((pid, r, i < blocking))
    for pid, _, is_blocking in procs:
        if not is_blocking:
            os.waitpid(pid, 0)
    deadline = time.monotonic() + 2
    blocked = 0
    for pid, _, is_blocking in procs:
        if not is_blocking:
            continue
        reaped = False
        while not reaped and time.monotonic() < deadline:
            reaped = os.waitpid(pid, os.WNOHANG) != (0, 0)
            if not reaped:
                time.sleep(0.05)
        if not reaped:
            blocked += 1
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    accepted = eagain = other = 0
    for _, r, _ in procs:
        last = b""
        while True:
            buf = os.read(r, 65536)
            if not buf:
                break
            last += buf
        lines = last.split(b"\n")
        fields = [ln for ln in lines if ln.strip()]
        if fields:
            a, e, o = map(int, fields[-1].split())
            accepted, eagain, other = accepted + a, eagain + e, other + o
    print(f"accepted={accepted} eagain={eagain} blocked={blocked} other_errors={other}")


if __name__ == "__main__":
    main()
