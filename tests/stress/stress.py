#!/usr/bin/env python3
"""Multi-threaded stress of the chanfs daemon, meant for a ThreadSanitizer build.

usage: stress.py [--seconds S] [--threads N] CHANFS_BIN

Mounts CHANFS_BIN in the foreground on a private temp mountpoint with
`-o threads=N` (default 4: more request threads than cores on purpose) and,
for S seconds of traffic (default 20), runs some thirty client processes at
once against it:

  queue   2 writers (one blocking, one O_NONBLOCK + poll for POLLOUT) of
          numbered `messages`, 4 readers (blocking read, poll, select, epoll);
          a 4K capacity keeps writers parked. Every message is received
          exactly once across the readers.
  topic   1 publisher of numbered lines, cut into writes at random points
          (partial lines), 3 subscribers from the start that must see every
          line in order, and short-lived late subscribers whose logs must
          each be one gapless run.
  pipe    2 writers opening and closing sessions of random-sized chunks, 2
          competing O_NONBLOCK + poll readers: bytes and byte sum match.
  signals `cat`s blocked on a trickle-fed queue are killed with SIGINT or
          SIGKILL: each dies within 5 s, no line is delivered twice, and the
          daemon's counters account for every line.
  tree    2 processes racing create/mkfifo/unlink/rename/mkdir/rmdir/readdir
          and directory defaults in one subtree.
  xattr   capacity/replay/overflow changes on live channels (accepted),
          kind/framing changes (refused with EBUSY), getxattr/listxattr.
  opens   open/poll/close loops on every live channel.
  bridges a FIFO `in:` and a FIFO `out:` bridge carrying numbered lines in
          order; a uds `listen:` bridge on a topic with 3 socket clients:
          clients -> file exactly once and in order per client, file ->
          every client, all lines in order; fifo and uds bridges set and
          removed in a loop while they carry lines, a bridged channel
          unlinked while open; a uds `connect:` file whose every open is a
          connection to an echo server: each reply matches its request.

Then, with parked writers, blocked readers and churn running, the daemon
gets SIGTERM and must exit 0 with no sanitizer report and no error line in
its log (TSAN_OPTIONS gets exitcode=66, and the log is searched too; a
report is printed). Output is TAP, one case per check. The mount is always
lazily unmounted and every process this script started is killed, also on
failure or SIGTERM.

The same file runs the client roles: stress.py --role NAME ARGS...
"""
import errno
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Errors a racing tree operation may legitimately get from another racer.
TREE_RACE_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR,
                    errno.EISDIR, errno.EINVAL, errno.EAGAIN}


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def xget(path, name):
    return os.getxattr(path, "user.chanfs." + name).decode()


def stat_int(path, name):
    return int(xget(path, "stats." + name))


# ---------------------------------------------------------------- roles
# Each role is a separate process that prints one JSON object when done.

def ready():
    """Tells the driver this role has opened its channel."""
    print("ready", flush=True)


def role_qwrite(path, wid, seconds):
    wid, deadline = int(wid), time.monotonic() + float(seconds)
    nonblock = wid % 2 == 1
    flags = os.O_WRONLY | (os.O_NONBLOCK if nonblock else 0)
    fd = os.open(path, flags)
    n = eagain = 0
    while time.monotonic() < deadline:
        msg = b"%d:%d" % (wid, n)
        try:
            os.write(fd, msg)
        except BlockingIOError:
            eagain += 1
            p = select.poll()
            p.register(fd, select.POLLOUT)
            p.poll(1000)
            continue
        n += 1
        if n % 700 == 0:  # a fresh handle now and then
            os.close(fd)
            fd = os.open(path, flags)
    os.close(fd)
    out({"sent": n, "eagain": eagain})


def wait_readable(mode, fd, ep):
    if mode == "poll":
        p = select.poll()
        p.register(fd, select.POLLIN)
        p.poll(1000)
    elif mode == "select":
        select.select([fd], [], [], 1.0)
    elif mode == "epoll":
        ep.poll(1.0)


def role_qread(path, mode, logpath):
    """Reads single messages until STOP; writes them to logpath."""
    nonblock = mode != "blocking"
    fd = os.open(path, os.O_RDONLY | (os.O_NONBLOCK if nonblock else 0))
    ep = None
    if mode == "epoll":
        ep = select.epoll()
        ep.register(fd, select.EPOLLIN)
    ready()
    got = []
    while True:
        if nonblock:
            wait_readable(mode, fd, ep)
        try:
            m = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if m == b"STOP":
            break
        got.append(m)
    with open(logpath, "wb") as f:
        f.write(b"\n".join(got))
    out({"received": len(got)})


def role_tpub(path, seconds):
    deadline = time.monotonic() + float(seconds)
    rnd = random.Random(7)
    fd = os.open(path, os.O_WRONLY)
    n = 0
    pending = b""
    while time.monotonic() < deadline:
        for _ in range(rnd.randint(1, 5)):
            pending += b"%d\n" % n
            n += 1
        # Cut anywhere: the rest of a partial line goes with the next write.
        cut = rnd.randint(1, len(pending))
        os.write(fd, pending[:cut])
        pending = pending[cut:]
    os.write(fd, pending + b"END\n")
    os.close(fd)
    out({"published": n})


def read_lines(fd, until, deadline=None):
    """Reads lines until the line `until` (or the deadline); returns them."""
    buf = b""
    lines = []
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return lines, False
            p = select.poll()
            p.register(fd, select.POLLIN)
            if not p.poll(int(left * 1000) + 1):
                continue
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
        else:
            data = os.read(fd, 65536)
        if not data:
            # A FIFO whose writer closed, or a pipe end-of-stream mark.
            if until is None:
                return lines, True
            continue
        buf += data
        *done, buf = buf.split(b"\n")
        for line in done:
            if line == until:
                return lines, True
            lines.append(line)


def role_tsub(path, logpath, lifetime):
    """A topic subscriber: reads until END, or for `lifetime` seconds."""
    lifetime = float(lifetime)
    if lifetime > 0:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        ready()
        lines, ended = read_lines(fd, b"END", time.monotonic() + lifetime)
    else:
        fd = os.open(path, os.O_RDONLY)
        ready()
        lines, ended = read_lines(fd, b"END")
    os.close(fd)
    with open(logpath, "wb") as f:
        f.write(b"\n".join(lines))
    out({"received": len(lines), "ended": ended})


def role_pwrite(path, seed, seconds):
    deadline = time.monotonic() + float(seconds)
    rnd = random.Random(int(seed))
    block = bytes(rnd.getrandbits(8) for _ in range(1 << 16))
    total = checksum = sessions = 0
    while time.monotonic() < deadline:
        fd = os.open(path, os.O_WRONLY)
        sessions += 1
        for _ in range(rnd.randint(1, 6)):
            start = rnd.randrange(0, len(block) - 20000)
            chunk = block[start:start + rnd.randint(1, 20000)]
            n = os.write(fd, chunk)
            total += n
            checksum += sum(chunk[:n])
        os.close(fd)
    out({"bytes": total, "sum": checksum, "sessions": sessions})


def role_pread(path, doneflag):
    """Competing pipe reader: non-blocking + poll, until empty after doneflag."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    total = checksum = marks = 0
    p = select.poll()
    p.register(fd, select.POLLIN)
    ready()
    while True:
        p.poll(100)
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            if os.path.exists(doneflag):
                break
            continue
        if not data:
            marks += 1
        total += len(data)
        checksum += sum(data)
    os.close(fd)
    out({"bytes": total, "sum": checksum, "marks": marks})


def role_trickle(path, seconds):
    deadline = time.monotonic() + float(seconds)
    fd = os.open(path, os.O_WRONLY)
    n = 0
    while time.monotonic() < deadline:
        os.write(fd, b"%d\n" % n)
        n += 1
        time.sleep(0.002)
    os.close(fd)
    out({"sent": n})


def role_churn(root, seed, seconds):
    deadline = time.monotonic() + float(seconds)
    rnd = random.Random(int(seed))
    dirs = [root, os.path.join(root, "a"), os.path.join(root, "b"), os.path.join(root, "a", "sub")]
    names = ["f%d" % i for i in range(6)]
    ops = unexpected = 0
    errors = []
    open_fds = []

    def somefile():
        return os.path.join(rnd.choice(dirs), rnd.choice(names))

    def step():
        op = rnd.randrange(13)
        if op == 0:
            fd = os.open(somefile(), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x\n")
            os.close(fd)
        elif op == 1:
            os.mkfifo(somefile())
        elif op == 2:
            os.unlink(somefile())
        elif op == 3:
            os.rename(somefile(), somefile())
        elif op == 4:
            os.mkdir(rnd.choice(dirs[1:]))
        elif op == 5:
            os.rmdir(rnd.choice(dirs[1:]))
        elif op == 6:
            d = rnd.choice(dirs[1:])
            os.rename(d, d + ".moved")
            os.rename(d + ".moved", d)
        elif op == 7:
            for e in os.scandir(rnd.choice(dirs)):
                e.stat(follow_symlinks=False)
        elif op == 8:
            # Open, unlink while open, then use and close the orphan.
            f = somefile()
            fd = os.open(f, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o644)
            open_fds.append(fd)
            os.write(fd, b"y\n")
            try:
                os.unlink(f)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
            try:
                os.read(fd, 100)
            except BlockingIOError:
                pass
        elif op == 9:
            while open_fds:
                os.close(open_fds.pop())
        elif op == 10:
            os.setxattr(rnd.choice(dirs[1:]), "user.chanfs.kind",
                        rnd.choice([b"queue", b"topic", b"pipe"]))
        elif op == 11:
            os.stat(somefile())
        elif op == 12:
            os.listxattr(somefile())

    while time.monotonic() < deadline:
        ops += 1
        try:
            step()
        except OSError as e:
            if e.errno not in TREE_RACE_ERRNOS:
                unexpected += 1
                if len(errors) < 10:
                    errors.append(repr(e))
    for fd in open_fds:
        os.close(fd)
    out({"ops": ops, "unexpected": unexpected, "errors": errors})


def role_xattr(mnt, seconds):
    deadline = time.monotonic() + float(seconds)
    rnd = random.Random(3)
    accepted = busy = 0
    errors = []
    legal = [("q", "capacity", [b"4K", b"16K", b"2K"]),
             ("t", "capacity", [b"8K", b"64K", b"1M"]),
             ("t", "replay", [b"0", b"1", b"3"]),
             ("p", "capacity", [b"16K", b"64K", b"1M"]),
             ("s", "overflow", [b"block", b"drop-oldest", b"error"]),
             ("s", "capacity", [b"1K", b"4K"]),
             ("s", "max_message", [b"512", b"4K"])]
    refused = [("q", "kind", b"topic"), ("t", "framing", b"messages"),
               ("p", "kind", b"queue"), ("s", "framing", b"lp32")]
    while time.monotonic() < deadline:
        name, key, values = rnd.choice(legal)
        path = os.path.join(mnt, name)
        try:
            os.setxattr(path, "user.chanfs." + key, rnd.choice(values))
            accepted += 1
        except OSError as e:
            errors.append("set %s %s: %r" % (name, key, e))
        name, key, value = rnd.choice(refused)
        path = os.path.join(mnt, name)
        try:
            os.setxattr(path, "user.chanfs." + key, value)
            errors.append("set %s %s=%s while open was accepted" % (name, key, value))
        except OSError as e:
            if e.errno == errno.EBUSY:
                busy += 1
            else:
                errors.append("set %s %s: %r (want EBUSY)" % (name, key, e))
        for attr in os.listxattr(path):
            try:
                os.getxattr(path, attr)
            except OSError as e:
                errors.append("get %s %s: %r" % (name, attr, e))
    out({"accepted": accepted, "busy": busy, "errors": errors[:10], "nerrors": len(errors)})


def role_scratch(path, seconds):
    """Unaccounted traffic on the channel whose overflow policy churns."""
    deadline = time.monotonic() + float(seconds)
    w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    ready()
    rnd = random.Random(5)
    counts = {"written": 0, "read": 0, "refused": 0}
    errors = []
    while time.monotonic() < deadline:
        try:
            os.write(w, b"z" * rnd.randint(1, 900) + b"\n")
            counts["written"] += 1
        except OSError as e:
            # Full (block + O_NONBLOCK, error), or larger than max_message.
            if e.errno in (errno.EAGAIN, errno.ENOBUFS, errno.EMSGSIZE):
                counts["refused"] += 1
            else:
                errors.append(repr(e))
        if rnd.random() < 0.6:
            try:
                os.read(r, rnd.choice([10, 4096]))
                counts["read"] += 1
            except BlockingIOError:
                pass
        time.sleep(0.001)
    os.close(w)
    os.close(r)
    counts["errors"] = errors[:10]
    out(counts)


def role_openclose(mnt, seconds):
    deadline = time.monotonic() + float(seconds)
    rnd = random.Random(11)
    n = 0
    errors = []
    while time.monotonic() < deadline:
        name = rnd.choice(["q", "t", "p", "iq", "s", "fin", "fout", "svc", "cs"])
        path = os.path.join(mnt, name)
        flags = rnd.choice([os.O_RDONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK,
                            os.O_WRONLY | os.O_NONBLOCK])
        if name in ("svc", "fout") and flags & os.O_WRONLY:
            flags = os.O_RDONLY | os.O_NONBLOCK  # no stray lines into accounted output
        try:
            fd = os.open(path, flags)
            if rnd.random() < 0.5:
                select.select([fd], [fd], [], 0.001)  # registers a poll handle
            if rnd.random() < 0.3:
                os.listxattr(path)
            os.close(fd)
            n += 1
        except OSError as e:
            errors.append("%s: %r" % (name, e))
    out({"opens": n, "errors": errors[:10], "nerrors": len(errors)})


def role_bridgechurn(mnt, tmpdir, seconds):
    """Bridges set up and torn down while their channels carry traffic."""
    deadline = time.monotonic() + float(seconds)
    bc, bc2 = os.path.join(mnt, "bc"), os.path.join(mnt, "bc2")
    fifo, fifo2, sock = (os.path.join(tmpdir, n) for n in ("bc.fifo", "bc2.fifo", "bc.sock"))
    counts = {"rounds": 0, "fifo_lines": 0, "socket_lines": 0, "read": 0}
    errors = []
    stop = threading.Event()

    def drain():  # the file side, reading whatever the bridges bring
        fd = os.open(bc, os.O_RDONLY | os.O_NONBLOCK)
        p = select.poll()
        p.register(fd, select.POLLIN)
        while not stop.is_set():
            p.poll(50)
            try:
                counts["read"] += os.read(fd, 65536).count(b"\n")
            except BlockingIOError:
                pass
        os.close(fd)

    def attempt(what, fn, allowed=()):
        try:
            fn()
            return True
        except OSError as e:
            if e.errno not in allowed:
                errors.append("%s: %r" % (what, e))
            return False

    def fifo_line():
        # ENXIO: the bridge has no read end open yet.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"f\n")
            counts["fifo_lines"] += 1
        finally:
            os.close(fd)

    def socket_line():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(sock)
            c.sendall(b"u\n")
            counts["socket_lines"] += 1

    def orphan_bridge():
        fd = os.open(bc2, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.setxattr(bc2, "user.chanfs.fifo", b"out:" + fifo2.encode())
            os.write(fd, b"o\n")
            os.unlink(bc2)  # removes the FIFO; the open file lives on
            os.write(fd, b"o\n")
        finally:
            os.close(fd)

    reader = threading.Thread(target=drain)
    reader.start()
    while time.monotonic() < deadline:
        counts["rounds"] += 1
        if attempt("set fifo", lambda: os.setxattr(bc, "user.chanfs.fifo", b"in:" + fifo.encode())):
            attempt("fifo write", fifo_line, (errno.ENXIO,))
            attempt("remove fifo", lambda: os.removexattr(bc, "user.chanfs.fifo"))
        if attempt("set uds", lambda: os.setxattr(bc, "user.chanfs.uds", b"listen:" + sock.encode())):
            attempt("socket", socket_line)
            attempt("remove uds", lambda: os.removexattr(bc, "user.chanfs.uds"))
        attempt("bridge on an unlinked channel", orphan_bridge)
    stop.set()
    reader.join()
    counts["errors"] = errors[:10]
    counts["nerrors"] = len(errors)
    out(counts)


def role_echoserver(sock):
    """The server behind a uds connect: bridge: answers each line L with
    re:L. Serves until its stdin closes."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(64)
    conns = [0]

    def serve(c):
        with c:
            buf = b""
            while True:
                try:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                    *done, buf = buf.split(b"\n")
                    c.sendall(b"".join(b"re:" + x + b"\n" for x in done))
                except OSError:  # the file side hung up first
                    return

    def accept():
        while True:
            c, _ = srv.accept()
            conns[0] += 1
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    ready()
    sys.stdin.read()
    out({"connections": conns[0]})


def role_connclients(path, nthreads, seconds):
    """Each open() of a uds connect: file is a connection: request/reply
    rounds, and some closes with a reply still on its way."""
    deadline = time.monotonic() + float(seconds)
    counts = {"opens": 0, "rounds": 0, "abandoned": 0}
    errors = []

    def client(i):
        rnd = random.Random(i)
        while time.monotonic() < deadline:
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError as e:
                errors.append("open: %r" % e)
                continue
            counts["opens"] += 1
            buf = b""
            try:
                for k in range(rnd.randint(1, 20)):
                    req = b"%d-%d-%d" % (i, counts["opens"], k)
                    os.write(fd, req + b"\n")
                    if rnd.random() < 0.1:
                        counts["abandoned"] += 1
                        break  # close with the reply on its way
                    while b"\n" not in buf:
                        data = os.read(fd, 4096)
                        if not data:
                            raise OSError(errno.EPIPE, "server hung up")
                        buf += data
                    line, buf = buf.split(b"\n", 1)
                    if line != b"re:" + req:
                        errors.append("sent %r, got %r" % (req, line))
                        break
                    counts["rounds"] += 1
            except OSError as e:
                errors.append("round: %r" % e)
            finally:
                os.close(fd)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(int(nthreads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["errors"] = errors[:10]
    counts["nerrors"] = len(errors)
    out(counts)


def role_linewriter(path, seconds, pace):
    """Numbered lines into path (a file or a real FIFO), then END."""
    deadline = time.monotonic() + float(seconds)
    pace = float(pace)
    fd = os.open(path, os.O_WRONLY)
    n = 0
    while time.monotonic() < deadline:
        os.write(fd, b"".join(b"%d\n" % i for i in range(n, n + 10)))
        n += 10
        if n % 500 == 0 and path.endswith(".fifo"):
            os.close(fd)  # a new FIFO writer session
            fd = os.open(path, os.O_WRONLY)
        time.sleep(pace)
    os.write(fd, b"END\n")
    os.close(fd)
    out({"sent": n})


def role_linereader(path, until):
    fd = os.open(path, os.O_RDONLY)
    ready()
    lines, _ = read_lines(fd, until.encode())
    os.close(fd)
    out({"lines": [x.decode() for x in lines]})


def role_linereader_ends(path, nends):
    """Reads client lines from a uds listen file until nends 'cN:END' lines."""
    fd = os.open(path, os.O_RDONLY)
    ready()
    buf = b""
    lines = []
    ends = 0
    while ends < int(nends):
        data = os.read(fd, 65536)
        buf += data
        *done, buf = buf.split(b"\n")
        for line in done:
            if line.endswith(b":END"):
                ends += 1
            else:
                lines.append(line.decode())
    os.close(fd)
    out({"lines": lines})


def role_udsclients(sock, nclients, seconds):
    deadline = time.monotonic() + float(seconds)
    nclients = int(nclients)
    results = [None] * nclients
    sent = [0] * nclients
    socks = []
    for _ in range(nclients):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        socks.append(s)

    def receiver(i):
        buf = b""
        got = []
        while True:
            data = socks[i].recv(65536)
            if not data:
                break
            buf += data
            *done, buf = buf.split(b"\n")
            if b"END" in done:
                got.extend(done[:done.index(b"END")])
                break
            got.extend(done)
        results[i] = [x.decode() for x in got]

    def sender(i):
        n = 0
        while time.monotonic() < deadline:
            socks[i].sendall(b"".join(b"c%d:%d\n" % (i, k) for k in range(n, n + 5)))
            n += 5
            time.sleep(0.005)
        socks[i].sendall(b"c%d:END\n" % i)
        sent[i] = n

    threads = [threading.Thread(target=receiver, args=(i,)) for i in range(nclients)]
    threads += [threading.Thread(target=sender, args=(i,)) for i in range(nclients)]
    print("connected", flush=True)
    sys.stdin.readline()  # the driver's go: the file side reader is open
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    out({"sent": sent, "received": results})


ROLES = {name[5:]: fn for name, fn in globals().items() if name.startswith("role_")}

# ---------------------------------------------------------------- driver


def main_thread_only_sigterm():
    """A helper thread blocks SIGTERM, so that the kernel hands it to the
    main thread, whose handler then runs the cleanup at once."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


class Tap:
    def __init__(self, names):
        self.names = names
        self.results = {}
        print("1..%d" % len(names), flush=True)

    def report(self, key, ok, detail=""):
        if key in self.results:
            return
        self.results[key] = ok
        i = self.names.index(key) + 1
        print("%s %d - %s" % ("ok" if ok else "not ok", i, key), flush=True)
        for line in str(detail).splitlines():
            print("# " + line, flush=True)

    def finish(self, why):
        for key in self.names:
            self.report(key, False, why)
        return all(self.results.values())


class Stress:
    def __init__(self, chanfs, seconds, threads):
        self.chanfs = chanfs
        self.seconds = seconds
        self.threads = threads
        self.tmp = tempfile.mkdtemp(prefix="chanfs-stress.")
        self.mnt = tempfile.mkdtemp(prefix="chanfs-stress-mnt.")
        os.chmod(self.mnt, 0o755)
        self.log = os.path.join(self.tmp, "chanfs.log")
        self.daemon = None
        # Every wait for a role ends by then: a hang fails its check, well
        # inside meson's timeout, instead of stalling the suite.
        self.hard_deadline = time.monotonic() + seconds + 90
        self.procs = []
        self.lock = threading.Lock()
        self.stopping = False  # set by cleanup(): no new process after it

    def m(self, name):
        return os.path.join(self.mnt, name)

    def t(self, name):
        return os.path.join(self.tmp, name)

    def spawn(self, *args, stdin=subprocess.DEVNULL, stderr=None):
        return self.track(subprocess.Popen(
            [sys.executable, __file__, "--role"] + [str(a) for a in args],
            stdout=subprocess.PIPE, stdin=stdin, stderr=stderr))

    def track(self, p):
        with self.lock:
            if self.stopping:
                p.kill()
                p.wait()
                raise RuntimeError("stopping")
            self.procs.append(p)
        return p

    def result(self, p, timeout):
        """The JSON a role printed; raises if it failed or timed out."""
        timeout = max(1.0, min(timeout, self.hard_deadline - time.monotonic()))
        if p.stdin:
            p.stdin.close()
            p.stdin = None
        try:
            so, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise RuntimeError("role %s still running after %ds (killed)" % (p.args[3], timeout))
        if p.returncode != 0:
            raise RuntimeError("role %s exited %d" % (p.args[3], p.returncode))
        return json.loads(so.decode().strip().splitlines()[-1])

    def ready(self, *procs, word=b"ready"):
        """Waits (30 s at most) for each role to say it opened its channel."""
        end = time.monotonic() + 30
        for p in procs:
            if not select.select([p.stdout], [], [], max(0, end - time.monotonic()))[0]:
                raise RuntimeError("role %s did not open its channel within 30 s" % p.args[3])
            # Byte by byte, past the buffered reader: communicate() later
            # reads the fd itself, and must find the rest of the output there.
            line = b""
            while not line.endswith(b"\n"):
                c = os.read(p.stdout.fileno(), 1)
                if not c:
                    break
                line += c
            if line.strip() != word:
                raise RuntimeError("role %s died before opening its channel" % p.args[3])

    def mount(self):
        env = dict(os.environ)
        supp = os.path.join(HERE, "tsan.supp")
        # A report must not stop the daemon (the rest of the run would
        # only see a dead mount); it must make the exit status non-zero.
        env["TSAN_OPTIONS"] = ":".join(filter(None, [
            env.get("TSAN_OPTIONS", ""), "halt_on_error=0", "exitcode=66",
            "second_deadlock_stack=1", "suppressions=" + supp]))
        with open(self.log, "wb") as logf:
            self.daemon = subprocess.Popen(
                [self.chanfs, self.mnt, "-f", "-o", "threads=%d" % self.threads,
                 "-o", "log_level=info"],
                stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=env)
        for _ in range(600):
            if os.path.ismount(self.mnt):
                return
            if self.daemon.poll() is not None:
                raise RuntimeError("chanfs exited %d before mounting" % self.daemon.returncode)
            time.sleep(0.05)
        raise RuntimeError("chanfs did not mount within 30 s")

    def mkchan(self, name, **settings):
        fd = os.open(self.m(name), os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
        for k, v in settings.items():
            os.setxattr(self.m(name), "user.chanfs." + k, v.encode())

    def run(self, tap):
        S = self.seconds
        self.mount()
        self.mkchan("q", kind="queue", framing="messages", capacity="4K")
        self.mkchan("t", kind="topic", framing="lines", capacity="8K")
        self.mkchan("p", kind="pipe", capacity="64K")
        self.mkchan("iq", kind="queue", framing="lines")
        self.mkchan("s", kind="queue", framing="lines", capacity="4K")
        self.mkchan("fin", kind="queue", framing="lines")
        self.mkchan("fout", kind="queue", framing="lines")
        self.mkchan("svc", kind="topic", framing="lines")
        self.mkchan("bc", kind="queue", framing="lines")
        os.mkdir(self.m("tree"))
        fifo_in, fifo_out, sock = self.t("in.fifo"), self.t("out.fifo"), self.t("svc.sock")
        os.setxattr(self.m("fin"), "user.chanfs.fifo", b"in:" + fifo_in.encode())
        os.setxattr(self.m("fout"), "user.chanfs.fifo", b"out:" + fifo_out.encode())
        os.setxattr(self.m("svc"), "user.chanfs.uds", b"listen:" + sock.encode())
        echo_sock = self.t("echo.sock")
        echo = self.spawn("echoserver", echo_sock, stdin=subprocess.PIPE)
        self.ready(echo)
        self.mkchan("cs")
        os.setxattr(self.m("cs"), "user.chanfs.uds", b"connect:" + echo_sock.encode())

        # Readers and subscribers first: the accounting counts from here.
        qreaders = [(mode, self.spawn("qread", self.m("q"), mode, self.t("q-" + mode)))
                    for mode in ("blocking", "poll", "select", "epoll")]
        tsubs = [self.spawn("tsub", self.m("t"), self.t("t-early%d" % i), 0) for i in range(3)]
        preaders = [self.spawn("pread", self.m("p"), self.t("p.done")) for _ in range(2)]
        fin_reader = self.spawn("linereader", self.m("fin"), "END")
        fout_reader = self.spawn("linereader", fifo_out, "END")
        svc_reader = self.spawn("linereader_ends", self.m("svc"), 3)
        clients = self.spawn("udsclients", sock, 3, S, stdin=subprocess.PIPE)
        self.ready(*[r for _, r in qreaders], *tsubs, *preaders, fin_reader, svc_reader)
        self.ready(clients, word=b"connected")
        clients.stdin.write(b"go\n")
        clients.stdin.flush()
        end = time.monotonic() + 15
        while xget(self.m("svc"), "stats.uds_clients") != "3":
            if time.monotonic() > end:
                raise RuntimeError("uds clients never showed up in stats.uds_clients")
            time.sleep(0.02)

        qwriters = [self.spawn("qwrite", self.m("q"), w, S) for w in range(2)]
        tpub = self.spawn("tpub", self.m("t"), S)
        pwriters = [self.spawn("pwrite", self.m("p"), seed, S) for seed in (1, 2)]
        trickle = self.spawn("trickle", self.m("iq"), S)
        churners = [self.spawn("churn", self.m("tree"), seed, S) for seed in (1, 2)]
        scratch = self.spawn("scratch", self.m("s"), S)
        # Kind/framing changes must meet an open channel until the xattr
        # role is done, whenever the other roles close theirs. (A writer
        # handle; on the pipe a reader, so writer sessions still end.)
        keep_open = [os.open(self.m(n), os.O_WRONLY) for n in ("q", "t", "s")]
        keep_open.append(os.open(self.m("p"), os.O_RDONLY | os.O_NONBLOCK))
        xattr = self.spawn("xattr", self.mnt, S)
        opens = self.spawn("openclose", self.mnt, S)
        bridges = self.spawn("bridgechurn", self.mnt, self.tmp, S)
        connclients = self.spawn("connclients", self.m("cs"), 3, S)
        fin_writer = self.spawn("linewriter", fifo_in, S, 0.003)
        fout_writer = self.spawn("linewriter", self.m("fout"), S, 0.003)
        svc_writer = self.spawn("linewriter", self.m("svc"), S, 0.005)

        victims = {}
        victim_thread = threading.Thread(target=self.kill_victims, args=(S, victims), daemon=True)
        late = []
        late_thread = threading.Thread(target=self.late_subscribers, args=(S, late), daemon=True)
        victim_thread.start()
        late_thread.start()
        victim_thread.join()
        late_thread.join()

        limit = S + 60  # roles stop at S; the rest is draining under TSan
        self.check(tap, "queue: every message received exactly once across 4 readers",
                   lambda: self.check_queue(qwriters, qreaders, limit))
        self.check(tap, "topic: early subscribers got every line in order, late ones a gapless run",
                   lambda: self.check_topic(tpub, tsubs, late, limit))
        self.check(tap, "pipe: bytes and byte sum read equal those written",
                   lambda: self.check_pipe(pwriters, preaders, limit))
        self.check(tap, "signals: killed blocked readers die promptly, no line twice, all accounted",
                   lambda: self.check_signals(trickle, victims, limit))
        self.check(tap, "tree: create/unlink/rename/mkdir/rmdir races get only race errnos",
                   lambda: self.check_churn(churners, limit))
        self.check(tap, "xattr: live setting changes accepted, kind/framing refused with EBUSY",
                   lambda: self.check_xattr(xattr, scratch, limit))
        for fd in keep_open:
            os.close(fd)
        self.check(tap, "opens: open/poll/close loops on live channels never fail",
                   lambda: self.check_opens(opens, limit))
        self.check(tap, "fifo bridges: in: and out: carry every line in order",
                   lambda: self.check_fifo(fin_writer, fin_reader, fout_writer, fout_reader, limit))
        self.check(tap, "uds listen: clients -> file once each in order, file -> every client",
                   lambda: self.check_uds(clients, svc_reader, svc_writer, limit))
        self.check(tap, "bridge churn: fifo/uds bridges set and removed under traffic never fail",
                   lambda: self.check_bridge_churn(bridges, limit))
        self.check(tap, "uds connect: each open a connection, every reply to its own request",
                   lambda: self.check_connect(connclients, echo, limit))

    def check(self, tap, key, fn):
        try:
            detail = fn()
            tap.report(key, True, detail or "")
        except Exception as e:  # a failed check, or a role that died
            tap.report(key, False, "%s: %s" % (type(e).__name__, e))

    def kill_victims(self, seconds, victims):
        """`cat`s blocked on iq killed with SIGINT or SIGKILL; victims[i] = (sig, secs to die)."""
        main_thread_only_sigterm()
        end = time.monotonic() + seconds
        rnd = random.Random(13)
        i = 0
        while time.monotonic() < end and not self.stopping:
            batch = []
            for _ in range(2):
                with open(self.t("iq-%d" % i), "wb") as log:
                    p = self.track(subprocess.Popen(["cat", self.m("iq")], stdout=log,
                                                    stdin=subprocess.DEVNULL))
                batch.append((i, p))
                i += 1
            time.sleep(rnd.uniform(0.01, 0.15))
            for k, p in batch:
                sig = rnd.choice([signal.SIGINT, signal.SIGKILL])
                t0 = time.monotonic()
                p.send_signal(sig)
                try:
                    p.wait(timeout=5)
                    victims[k] = (sig.name, time.monotonic() - t0)
                except subprocess.TimeoutExpired:
                    victims[k] = (sig.name, None)
                    p.kill()

    def late_subscribers(self, seconds, late):
        main_thread_only_sigterm()
        end = time.monotonic() + seconds - 0.5
        rnd = random.Random(17)
        i = 0
        while time.monotonic() < end and not self.stopping:
            log = self.t("t-late%d" % i)
            p = self.spawn("tsub", self.m("t"), log, rnd.uniform(0.2, 2.0))
            late.append((log, p))
            i += 1
            time.sleep(rnd.uniform(0.2, 0.8))

    def check_queue(self, writers, readers, limit):
        sent = [self.result(w, limit)["sent"] for w in writers]
        stop = os.open(self.m("q"), os.O_WRONLY)
        for _ in readers:
            os.write(stop, b"STOP")
        os.close(stop)
        seen = {}
        for mode, r in readers:
            self.result(r, limit)
            with open(self.t("q-" + mode), "rb") as f:
                msgs = [m for m in f.read().split(b"\n") if m]
            seen[mode] = len(msgs)
            for m in msgs:
                seen.setdefault(m, 0)
                seen[m] += 1
        want = {b"%d:%d" % (w, n) for w in range(len(sent)) for n in range(sent[w])}
        got = {k for k in seen if isinstance(k, bytes)}
        dups = sum(1 for k in got if seen[k] > 1)
        if got != want or dups:
            raise AssertionError("sent %s; missing %d, unexpected %d, duplicated %d" % (
                sent, len(want - got), len(got - want), dups))
        return "sent %s, per reader %s" % (sent, {m: seen[m] for m, _ in readers})

    def check_topic(self, pub, early, late, limit):
        n = self.result(pub, limit)["published"]
        for i, s in enumerate(early):
            self.result(s, limit)
            with open(self.t("t-early%d" % i), "rb") as f:
                got = [int(x) for x in f.read().split()]
            if got != list(range(n)):
                raise AssertionError("early subscriber %d: %d lines, not 0..%d in order" % (
                    i, len(got), n - 1))
        runs = 0
        for log, s in late:
            r = self.result(s, limit)
            with open(log, "rb") as f:
                got = [int(x) for x in f.read().split()]
            if got and got != list(range(got[0], got[0] + len(got))):
                raise AssertionError("late subscriber %s: not one gapless run" % log)
            if r["ended"] and got and got[-1] != n - 1:
                raise AssertionError("late subscriber %s saw END after %d, last is %d" % (
                    log, got[-1], n - 1))
            runs += bool(got)
        return "published %d; %d late subscribers, %d with lines" % (n, len(late), runs)

    def check_pipe(self, writers, readers, limit):
        w = [self.result(p, limit) for p in writers]
        open(self.t("p.done"), "w").close()
        r = [self.result(p, limit) for p in readers]
        wb, ws = sum(x["bytes"] for x in w), sum(x["sum"] for x in w)
        rb, rs = sum(x["bytes"] for x in r), sum(x["sum"] for x in r)
        if (wb, ws) != (rb, rs):
            raise AssertionError("wrote %d bytes (sum %d), read %d (sum %d)" % (wb, ws, rb, rs))
        return "%d bytes in %d sessions; readers got %s bytes, %s marks" % (
            wb, sum(x["sessions"] for x in w), [x["bytes"] for x in r], [x["marks"] for x in r])

    def check_signals(self, trickle, victims, limit):
        sent = self.result(trickle, limit)["sent"]
        stuck = [k for k, (_, secs) in victims.items() if secs is None]
        if stuck:
            raise AssertionError("victims %s did not die within 5 s of their signal" % stuck)
        if not victims:
            raise AssertionError("no victim was killed")
        # Drain what is left; then every line was handed out exactly once.
        fd = os.open(self.m("iq"), os.O_RDONLY | os.O_NONBLOCK)
        drained = b""
        while True:
            try:
                drained += os.read(fd, 65536)
            except BlockingIOError:
                break
        logged = drained.split()
        for k in victims:
            with open(self.t("iq-%d" % k), "rb") as f:
                logged += f.read().split()
        out_msgs = stat_int(self.m("iq"), "out_messages")
        queued = stat_int(self.m("iq"), "queued_messages")
        in_msgs = stat_int(self.m("iq"), "in_messages")
        os.close(fd)
        nums = [int(x) for x in logged]
        if len(nums) != len(set(nums)) or not set(nums) <= set(range(sent)):
            raise AssertionError("a line was delivered twice or is unknown")
        if in_msgs != sent or out_msgs != sent or queued != 0:
            raise AssertionError("sent %d: daemon in %d, out %d, queued %d" % (
                sent, in_msgs, out_msgs, queued))
        worst = max(secs for _, secs in victims.values())
        return ("%d lines, %d victims (slowest death %.3f s), %d logged or drained, "
                "%d died in killed cats' buffers" % (sent, len(victims), worst, len(nums),
                                                      sent - len(nums)))

    def check_churn(self, churners, limit):
        rs = [self.result(p, limit) for p in churners]
        if any(r["unexpected"] for r in rs):
            raise AssertionError("unexpected errors: %s" % [r["errors"] for r in rs])
        return "ops %s" % [r["ops"] for r in rs]

    def check_xattr(self, xattr, scratch, limit):
        r = self.result(xattr, limit)
        s = self.result(scratch, limit)
        if r["nerrors"] or s["errors"]:
            raise AssertionError("xattr errors (%d): %s; scratch errors: %s" % (
                r["nerrors"], r["errors"], s["errors"]))
        if not r["busy"] or not r["accepted"]:
            raise AssertionError("nothing was accepted or refused: %s" % r)
        return "accepted %d, EBUSY %d; scratch %s" % (r["accepted"], r["busy"], s)

    def check_opens(self, opens, limit):
        r = self.result(opens, limit)
        if r["nerrors"]:
            raise AssertionError("%d errors: %s" % (r["nerrors"], r["errors"]))
        return "%d opens" % r["opens"]

    def check_fifo(self, fin_w, fin_r, fout_w, fout_r, limit):
        detail = []
        for what, w, r in (("in", fin_w, fin_r), ("out", fout_w, fout_r)):
            n = self.result(w, limit)["sent"]
            got = self.result(r, limit)["lines"]
            if got != [str(i) for i in range(n)]:
                raise AssertionError("%s: sent %d lines, got %d, not all in order" % (what, n, len(got)))
            detail.append("%s: %d lines" % (what, n))
        return ", ".join(detail)

    def check_uds(self, clients, reader, writer, limit):
        n = self.result(writer, limit)["sent"]
        c = self.result(clients, limit)
        lines = self.result(reader, limit)["lines"]
        for i, sent in enumerate(c["sent"]):
            mine = [x for x in lines if x.startswith("c%d:" % i)]
            if mine != ["c%d:%d" % (i, k) for k in range(sent)]:
                raise AssertionError("client %d sent %d lines, the file got %d, not in order" % (
                    i, sent, len(mine)))
            if c["received"][i] != [str(k) for k in range(n)]:
                raise AssertionError("client %d got %d of %d file lines, or out of order" % (
                    i, len(c["received"][i]), n))
        return "clients sent %s; file wrote %d to each" % (c["sent"], n)

    def check_connect(self, clients, server, limit):
        c = self.result(clients, limit)
        conns = self.result(server, limit)["connections"]
        if c["nerrors"]:
            raise AssertionError("%d errors: %s" % (c["nerrors"], c["errors"]))
        # The open/close loops connect too.
        if conns < c["opens"]:
            raise AssertionError("%d opens but %d connections reached the server" % (
                c["opens"], conns))
        return "%d opens (%d connections in all), %d rounds, %d closed with a reply on its way" % (
            c["opens"], conns, c["rounds"], c["abandoned"])

    def check_bridge_churn(self, bridges, limit):
        r = self.result(bridges, limit)
        if r["nerrors"]:
            raise AssertionError("%d errors: %s" % (r["nerrors"], r["errors"]))
        if not r["socket_lines"]:
            raise AssertionError("no line went through a fresh socket bridge: %s" % r)
        return "%d rounds, %d FIFO lines, %d socket lines, %d lines read" % (
            r["rounds"], r["fifo_lines"], r["socket_lines"], r["read"])

    def load_for_shutdown(self):
        """Traffic for the SIGTERM to land in: parked writers and readers,
        tree, xattr and bridge churn. These clients fail when the mount goes
        away; that is expected, so their errors are not shown."""
        if not self.daemon or self.daemon.poll() is not None:
            return
        quiet = subprocess.DEVNULL
        try:
            for w in range(2):  # the queue has no reader left: they park
                self.spawn("qwrite", self.m("q"), w, 60, stderr=quiet)
            self.spawn("pwrite", self.m("p"), 3, 60, stderr=quiet)
            self.spawn("tsub", self.m("t"), self.t("t-last"), 0, stderr=quiet)
            self.spawn("churn", self.m("tree"), 3, 60, stderr=quiet)
            self.spawn("openclose", self.mnt, 60, stderr=quiet)
            self.spawn("bridgechurn", self.mnt, self.tmp, 60, stderr=quiet)
            self.spawn("linewriter", self.t("in.fifo"), 60, 0.003, stderr=quiet)
            for _ in range(3):  # blocked readers
                self.track(subprocess.Popen(["cat", self.m("iq")], stdout=quiet,
                                            stderr=quiet, stdin=quiet))
        except (OSError, RuntimeError):
            pass  # a broken mount shows in the daemon checks
        time.sleep(1.5)

    def stop_daemon(self, tap):
        """SIGTERM; the daemon must exit 0 with no sanitizer report."""
        status = None
        load = ""
        if self.daemon and self.daemon.poll() is None:
            try:
                load = "; at SIGTERM: %d blocked writers on q, %d blocked readers on iq" % (
                    stat_int(self.m("q"), "blocked_writers"), stat_int(self.m("iq"), "blocked_readers"))
            except OSError:
                pass
            self.daemon.send_signal(signal.SIGTERM)
            try:
                status = self.daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        elif self.daemon:
            status = self.daemon.returncode
        with open(self.log, "r", errors="replace") as f:
            text = f.read()
        tail = "" if status == 0 else "\nthe end of its log:\n" + "\n".join(text.splitlines()[-40:])
        tap.report("daemon: exits 0 on SIGTERM sent under load", status == 0,
                   "exit status %s%s%s" % ("none (killed after 60 s)" if status is None else status,
                                           load, tail))
        reports = re.findall(r"^(?:WARNING|ERROR): \w*Sanitizer.*$|runtime error:.*$", text, re.M)
        detail = ""
        if reports:
            start = re.search(r"^=+\n(?:WARNING|ERROR): \w*Sanitizer", text, re.M)
            detail = "%d report(s); the daemon's log from the first:\n%s" % (
                len(reports), text[start.start() if start else 0:][:20000])
        tap.report("daemon: no sanitizer report in its log", not reports, detail)
        # Refused settings log warnings on purpose; nothing here may log an
        # error (e.g. a read reply the kernel refused).
        errors = re.findall(r"^.*\[(?:error|critical)\].*$", text, re.M)
        tap.report("daemon: no error line in its log", not errors, "\n".join(errors[:20]))

    def cleanup(self):
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for p in procs:
            if p.poll() is None:
                p.kill()
        # A killed client blocked in the mount dies once the daemon answers
        # its interrupt: all should be gone at once.
        t0 = time.monotonic()
        for p in procs:
            try:
                p.wait(timeout=max(0.1, t0 + 10 - time.monotonic()))
            except subprocess.TimeoutExpired:
                sys.stderr.write("cleanup: %s (pid %d) still alive 10 s after SIGKILL\n" % (
                    " ".join(p.args), p.pid))
        if time.monotonic() - t0 > 2:
            sys.stderr.write("cleanup: the clients took %.1f s to die\n" % (time.monotonic() - t0))
        if self.daemon and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        subprocess.run(["fusermount3", "-u", "-z", self.mnt], stderr=subprocess.DEVNULL)
        # Clients still running at the SIGTERM may have created files in
        # the bare directory once the mount was gone.
        if not os.path.ismount(self.mnt):
            shutil.rmtree(self.mnt, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


CHECKS = [
    "queue: every message received exactly once across 4 readers",
    "topic: early subscribers got every line in order, late ones a gapless run",
    "pipe: bytes and byte sum read equal those written",
    "signals: killed blocked readers die promptly, no line twice, all accounted",
    "tree: create/unlink/rename/mkdir/rmdir races get only race errnos",
    "xattr: live setting changes accepted, kind/framing refused with EBUSY",
    "opens: open/poll/close loops on live channels never fail",
    "fifo bridges: in: and out: carry every line in order",
    "uds listen: clients -> file once each in order, file -> every client",
    "bridge churn: fifo/uds bridges set and removed under traffic never fail",
    "uds connect: each open a connection, every reply to its own request",
    "daemon: exits 0 on SIGTERM sent under load",
    "daemon: no sanitizer report in its log",
    "daemon: no error line in its log",
]


def main():
    args = sys.argv[1:]
    if args and args[0] == "--role":
        ROLES[args[1]](*args[2:])
        return 0
    seconds, threads = 20.0, 4
    while args and args[0].startswith("--"):
        opt, val = args[0], args[1]
        args = args[2:]
        if opt == "--seconds":
            seconds = float(val)
        elif opt == "--threads":
            threads = int(val)
        else:
            sys.exit("unknown option " + opt)
    if len(args) != 1:
        sys.exit(__doc__)
    # meson's timeout sends SIGTERM: unmount and kill the roles on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tap = Tap(CHECKS)
    s = Stress(os.path.abspath(args[0]), seconds, threads)
    t0 = time.monotonic()
    try:
        try:
            s.run(tap)
        except Exception as e:
            # Setup failed or a role died early: the checks not yet made fail.
            for key in CHECKS[:-3]:
                tap.report(key, False, "%s: %s" % (type(e).__name__, e))
        s.load_for_shutdown()
        s.stop_daemon(tap)
    finally:
        s.cleanup()
    ok = tap.finish("not reached")
    print("# %.1f s in all" % (time.monotonic() - t0), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
