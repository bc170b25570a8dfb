#!/usr/bin/env python3
"""Hostile-input matrix for 150-hostile-matrix.bats.

usage: hostile_matrix.py MOUNTPOINT DAEMON_LOG GROUP

Every row of GROUP gets its own directory and channel, preloaded with three
messages. The row's bad operation must fail with exactly the errno the table
names (0: it must succeed), the daemon's log must gain the row's line if it
names one, and afterwards the channel's settings must be unchanged and a
drain must return the three messages, whole and in order (plus the row's
expected drops). Each failing row prints its name; the exit status is the
number of failing rows.
"""
import ctypes
import errno
import os
import stat
import sys
import time

E = errno
MSGS = [b"first\n", b"second\n", b"third\n"]
SETTINGS = ["kind", "framing", "capacity", "max_message", "overflow", "replay"]
XATTR_CREATE, XATTR_REPLACE = 1, 2
RENAME_EXCHANGE = 2


class Ctx:
    """What an action works on: the row's directory and its channel."""

    def __init__(self, mnt, group, index):
        self.mnt = mnt
        self.dir = os.path.join(mnt, f"{group}-{index:03d}")
        self.path = os.path.join(self.dir, "ch")
        self.drain_path = self.path
        self.keep = []  # descriptors an action leaves open until the checks ran


class Row:
    def __init__(self, name, action, err, *, kind="queue", framing="lines", settings=None,
                 msgs=None, log=None, drops=0, msgs_after=None):
        self.name = name
        self.action = action
        self.err = err  # expected errno, 0 for success
        self.kind = kind
        self.framing = framing
        self.settings = settings or {}
        self.msgs = MSGS if msgs is None else msgs
        self.log = log  # a substring the daemon log must gain, or None
        self.drops = drops  # stats.drops expected after the action
        # What a drain must return afterwards (default: the preloaded messages).
        self.msgs_after = self.msgs if msgs_after is None else msgs_after


def xattr(path, key):
    return os.getxattr(path, "user.chanfs." + key)


def setx(key, value, flags=0):
    return lambda c: os.setxattr(c.path, key if "." in key else "user.chanfs." + key, value, flags)


def setx_dir(key, value):
    return lambda c: os.setxattr(c.dir, "user.chanfs." + key, value)


def rmx(key):
    return lambda c: os.removexattr(c.path, key)


def while_open(action):
    """Runs `action` while a write handle is open on the channel."""
    def run(c):
        fd = os.open(c.path, os.O_WRONLY)
        try:
            action(c)
        finally:
            os.close(fd)
    return run


def write_then_close(data):
    """One write(2) of `data` on a fresh handle, then close."""
    def run(c):
        fd = os.open(c.path, os.O_WRONLY)
        try:
            n = os.write(fd, data)
            if n != len(data):
                raise AssertionError(f"short write {n} of {len(data)}")
        finally:
            os.close(fd)
    return run


def lp32(body, announced=None):
    n = len(body) if announced is None else announced
    return n.to_bytes(4, "little") + body


def on_fd(flags, fn):
    """Opens the channel with `flags` and calls fn(fd)."""
    def run(c):
        fd = os.open(c.path, flags)
        try:
            fn(fd)
        finally:
            os.close(fd)
    return run


def on_dir_fd(flags, fn):
    def run(c):
        fd = os.open(c.dir, flags)
        try:
            fn(fd)
        finally:
            os.close(fd)
    return run


def mknod(mode):
    return lambda c: os.mknod(os.path.join(c.dir, "node"), mode | 0o644, os.makedev(8, 0))


def renameat2(flags, other):
    def run(c):
        libc = ctypes.CDLL(None, use_errno=True)
        target = os.path.join(c.dir, other)
        if other == "peer":
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
        rc = libc.renameat2(-100, os.fsencode(c.path), -100, os.fsencode(target), flags)
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    return run


def rename_onto_dir(c):
    os.mkdir(os.path.join(c.dir, "sub"))
    os.rename(c.path, os.path.join(c.dir, "sub"))


def rename_dir_onto_channel(c):
    os.mkdir(os.path.join(c.dir, "sub"))
    os.rename(os.path.join(c.dir, "sub"), c.path)


def rename_over_open(c):
    """Renames another channel over an open one: the open handle keeps the old."""
    fd = os.open(c.path, os.O_RDONLY | os.O_NONBLOCK)
    c.keep.append(fd)
    other = os.path.join(c.dir, "other")
    with open(other, "wb") as f:
        f.write(b"other\n")
    os.rename(other, c.path)
    c.drain_path = fd  # drain through the handle that was open


def unlink_with_open_reader(c):
    fd = os.open(c.path, os.O_RDONLY | os.O_NONBLOCK)
    c.keep.append(fd)
    os.unlink(c.path)
    c.drain_path = fd


def messages_framing_oversize(c):
    write_then_close(b"x" * 101)(c)


BIG_JUNK = bytes(range(256)) * 40  # 10 KiB of every byte value

ROWS = {
    "settings": [
        Row("capacity=0", setx("capacity", b"0"), E.EINVAL, log="user.chanfs.capacity='0'"),
        Row("capacity=99999999999G (overflows 64 bits)", setx("capacity", b"99999999999G"),
            E.EINVAL, log="user.chanfs.capacity='99999999999G'"),
        Row("capacity=17G (over 16G)", setx("capacity", b"17G"), E.EINVAL),
        Row("capacity=-1", setx("capacity", b"-1"), E.EINVAL),
        Row("capacity=1.5M", setx("capacity", b"1.5M"), E.EINVAL),
        Row("capacity=+64K", setx("capacity", b"+64K"), E.EINVAL),
        Row("capacity=' 64K' (leading space)", setx("capacity", b" 64K"), E.EINVAL),
        Row("capacity='64K\\n' (as echo would send it)", setx("capacity", b"64K\n"), E.EINVAL),
        Row("capacity=0x10", setx("capacity", b"0x10"), E.EINVAL),
        Row("capacity='' (empty)", setx("capacity", b""), E.EINVAL,
            log="user.chanfs.capacity=''"),
        Row("capacity=10 KiB of junk bytes (log line cut short)", setx("capacity", BIG_JUNK),
            E.EINVAL, log="user.chanfs.capacity='\\x00\\x01"),
        Row("capacity='64K\\0junk' (NUL inside)", setx("capacity", b"64K\0junk"), E.EINVAL,
            log="user.chanfs.capacity='64K\\x00junk'"),
        Row("capacity='\\0'", setx("capacity", b"\0"), E.EINVAL),
        Row("max_message=0", setx("max_message", b"0"), E.EINVAL),
        Row("max_message=65M (over 64M)", setx("max_message", b"65M"), E.EINVAL),
        Row("max_message=2M on messages framing", setx("max_message", b"2M"), E.EINVAL,
            framing="messages", log="use lp32 for larger messages"),
        Row("kind=QUEUE (names are lower case)", setx("kind", b"QUEUE"), E.EINVAL),
        Row("kind=bogus", setx("kind", b"bogus"), E.EINVAL, log="expected pipe, queue or topic"),
        Row("framing=frames", setx("framing", b"frames"), E.EINVAL),
        Row("overflow='' (empty)", setx("overflow", b""), E.EINVAL),
        Row("replay=-1", setx("replay", b"-1"), E.EINVAL),
        Row("replay=1000001 (over the limit)", setx("replay", b"1000001"), E.EINVAL,
            kind="topic", settings={"replay": b"10"}),
        Row("unknown key user.chanfs.nosuchkey", setx("user.chanfs.nosuchkey", b"1"), E.EINVAL,
            log="user.chanfs.nosuchkey='1'"),
        Row("unknown key user.chanfs.Kind (keys are lower case)", setx("user.chanfs.Kind", b"queue"),
            E.EINVAL),
        Row("empty key user.chanfs.", setx("user.chanfs.", b"queue"), E.EINVAL),
        Row("stats are read-only: user.chanfs.stats.drops", setx("user.chanfs.stats.drops", b"0"),
            E.EPERM, log="stats are read-only"),
        Row("stats are read-only: user.chanfs.stats.bogus", setx("user.chanfs.stats.bogus", b"0"),
            E.EPERM),
        Row("other user.* names are not stored", setx("user.comment", b"hi"), E.ENOTSUP,
            log="user.comment"),
        Row("security.* is not stored", setx("security.chanfs", b"x"), E.ENOTSUP),
        Row("trusted.* is not stored", setx("trusted.chanfs.kind", b"queue"), E.ENOTSUP),
        Row("removing a channel's setting", rmx("user.chanfs.capacity"), E.EPERM,
            log="removexattr user.chanfs.capacity"),
        Row("removing a stat", rmx("user.chanfs.stats.drops"), E.EPERM),
        Row("removing an unknown user.chanfs key", rmx("user.chanfs.nosuchkey"), E.ENODATA),
        Row("XATTR_CREATE of a setting a channel always has", setx("capacity", b"64K", XATTR_CREATE),
            E.EEXIST, log="XATTR_CREATE"),
        Row("XATTR_REPLACE of a setting a channel has: allowed",
            setx("capacity", b"1M", XATTR_REPLACE), 0),
        Row("kind=topic while a handle is open", while_open(setx("kind", b"topic")), E.EBUSY,
            log="user.chanfs.kind='topic'"),
        Row("framing=messages while a handle is open", while_open(setx("framing", b"messages")),
            E.EBUSY, log="user.chanfs.framing='messages'"),
        Row("the same kind again while open: allowed", while_open(setx("kind", b"queue")), 0),
    ],
    "bridges": [
        Row("fifo=sideways:/x", setx("fifo", b"sideways:/tmp/x.fifo"), E.EINVAL,
            log="user.chanfs.fifo='sideways:/tmp/x.fifo'"),
        Row("fifo=in:relative", setx("fifo", b"in:relative.fifo"), E.EINVAL),
        Row("fifo=in: (no path)", setx("fifo", b"in:"), E.EINVAL),
        Row("fifo=in:/tmp/a\\0b (NUL in the path)", setx("fifo", b"in:/tmp/a\0b"), E.EINVAL),
        Row("fifo=in:<inside the mount>", lambda c: setx("fifo", b"in:" + os.fsencode(c.dir) +
                                                           b"/loop.fifo")(c), E.EINVAL,
            log="would loop back"),
        Row("fifo=in:<a regular file>", lambda c: setx("fifo", b"in:/etc/passwd")(c), E.EEXIST),
        Row("uds=bogus", setx("uds", b"bogus"), E.EINVAL),
        Row("uds=connect: (no path)", setx("uds", b"connect:"), E.EINVAL),
        Row("uds=listen:<a path over 107 bytes>", setx("uds", b"listen:/tmp/" + b"s" * 120),
            E.EINVAL),
        Row("a bridge on a directory", setx_dir("fifo", b"in:/tmp/dir.fifo"), E.EINVAL,
            log="bridges belong to channels"),
        Row("removing a bridge that is not set", rmx("user.chanfs.fifo"), E.ENODATA),
    ],
    "io": [
        Row("messages framing: a 101-byte write over max_message 100", messages_framing_oversize,
            E.EMSGSIZE, framing="messages", settings={"max_message": b"100"},
            msgs=[b"one", b"two", b"three"]),
        Row("lines framing: a 200-byte line over max_message 100",
            write_then_close(b"y" * 199 + b"\n"), E.EMSGSIZE, settings={"max_message": b"100"}),
        Row("lp32: a header announcing 101 over max_message 100",
            write_then_close(lp32(b"x" * 101)), E.EMSGSIZE, framing="lp32",
            settings={"max_message": b"100"}, msgs=[lp32(b"one"), lp32(b"two"), lp32(b"three")]),
        Row("lp32: a header announcing 4 GiB - 1", write_then_close(lp32(b"x", 0xFFFFFFFF)),
            E.EMSGSIZE, framing="lp32", msgs=[lp32(b"one"), lp32(b"two")]),
        Row("lines: a partial line at close is dropped and counted",
            write_then_close(b"no newline"), 0, drops=1,
            log="unfinished 10-byte lines message; dropped"),
        Row("lp32: a truncated frame at close is dropped and counted",
            write_then_close(lp32(b"12345", 10)), 0, framing="lp32", drops=1,
            log="unfinished 9-byte lp32 message; dropped",
            msgs=[lp32(b"one"), lp32(b"two")]),
        Row("lp32: half a header at close is dropped and counted", write_then_close(b"\x05\x00"),
            0, framing="lp32", drops=1, msgs=[lp32(b"one"), lp32(b"two")]),
        Row("overflow=error: a write into a full channel", write_then_close(b"more\n"), E.ENOBUFS,
            settings={"capacity": b"19", "overflow": b"error"}),
        Row("truncate to 0: accepted, nothing queued is lost", lambda c: os.truncate(c.path, 0), 0),
        Row("O_TRUNC open: accepted, nothing queued is lost",
            on_fd(os.O_WRONLY | os.O_TRUNC, lambda fd: None), 0),
        Row("truncate to 5 bytes", lambda c: os.truncate(c.path, 5), E.EINVAL,
            log="truncate"),
        Row("ftruncate to 4096 bytes", on_fd(os.O_WRONLY, lambda fd: os.ftruncate(fd, 4096)),
            E.EINVAL),
        Row("lseek on a channel open for writing", on_fd(os.O_RDWR,
            lambda fd: os.lseek(fd, 1, os.SEEK_SET)), E.ESPIPE),
        Row("pread on a channel open for writing", on_fd(os.O_RDWR, lambda fd: os.pread(fd, 10, 0)),
            E.ESPIPE),
        Row("lseek on a read-only pipe/bytes channel", on_fd(os.O_RDONLY,
            lambda fd: os.lseek(fd, 1, os.SEEK_SET)), E.ESPIPE, kind="pipe", framing="bytes"),
        # A read-only open of a delivery=one lines channel is seekable, for
        # GNU head -n1 (docs/semantics.md): a seek moves nothing queued, and
        # pread reads like read(2), ignoring its offset.
        Row("lseek on a read-only queue/lines channel: allowed, nothing moves",
            on_fd(os.O_RDONLY, lambda fd: os.lseek(fd, 1, os.SEEK_SET)), 0),
        Row("pread on a read-only queue/lines channel: reads one message like read(2)",
            on_fd(os.O_RDONLY, lambda fd: os.pread(fd, 10, 3)), 0, msgs_after=MSGS[1:]),
        Row("pwrite on a channel", on_fd(os.O_WRONLY, lambda fd: os.pwrite(fd, b"x\n", 0)),
            E.ESPIPE),
        Row("O_DIRECTORY open of a channel", lambda c: os.close(os.open(c.path, os.O_DIRECTORY)),
            E.ENOTDIR),
        Row("a write on a read-only handle", on_fd(os.O_RDONLY, lambda fd: os.write(fd, b"x\n")),
            E.EBADF),
    ],
    "names": [
        Row("read(2) of a directory", on_dir_fd(os.O_RDONLY, lambda fd: os.read(fd, 10)), E.EISDIR),
        Row("open a directory for writing", lambda c: os.open(c.dir, os.O_WRONLY), E.EISDIR),
        Row("rename a channel onto a directory", rename_onto_dir, E.EISDIR),
        Row("rename a directory onto a channel", rename_dir_onto_channel, E.ENOTDIR),
        Row("rmdir of a directory holding a channel", lambda c: os.rmdir(c.dir), E.ENOTEMPTY),
        Row("rmdir of a channel", lambda c: os.rmdir(c.path), E.ENOTDIR),
        Row("unlink of a directory", lambda c: os.unlink(c.dir), E.EISDIR),
        Row("mkdir over a channel", lambda c: os.mkdir(c.path), E.EEXIST),
        Row("O_CREAT|O_EXCL over a channel",
            lambda c: os.open(c.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), E.EEXIST),
        Row("a path through a channel", lambda c: os.open(c.path + "/x", os.O_RDONLY), E.ENOTDIR),
        Row("mkdir inside a channel", lambda c: os.mkdir(c.path + "/x"), E.ENOTDIR),
        Row("a 256-byte name", lambda c: os.open(os.path.join(c.dir, "n" * 256),
                                                  os.O_WRONLY | os.O_CREAT, 0o644),
            E.ENAMETOOLONG),
        Row("rename to a 256-byte name", lambda c: os.rename(c.path, os.path.join(c.dir, "n" * 256)),
            E.ENAMETOOLONG),
        Row("mknod of a block device", mknod(stat.S_IFBLK), E.EPERM, log="mknod node"),
        Row("mknod of a character device", mknod(stat.S_IFCHR), E.EPERM, log="mknod node"),
        Row("mknod of a socket", mknod(stat.S_IFSOCK), E.EPERM, log="mknod node"),
        Row("symlink", lambda c: os.symlink("ch", os.path.join(c.dir, "sym")), E.EPERM,
            log="symlink sym"),
        Row("hard link", lambda c: os.link(c.path, os.path.join(c.dir, "hard")), E.EPERM,
            log="link hard"),
        Row("rename with RENAME_EXCHANGE", renameat2(RENAME_EXCHANGE, "peer"), E.EINVAL,
            log="RENAME_EXCHANGE"),
        Row("rename over an open channel: its open handle keeps every message",
            rename_over_open, 0),
        Row("unlink with an open reader: the reader keeps every message",
            unlink_with_open_reader, 0),
    ],
}


def setup(c, row):
    os.mkdir(c.dir)
    fd = os.open(c.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
    os.setxattr(c.path, "user.chanfs.kind", row.kind.encode())
    os.setxattr(c.path, "user.chanfs.framing", row.framing.encode())
    for k, v in row.settings.items():
        os.setxattr(c.path, "user.chanfs." + k, v)
    fd = os.open(c.path, os.O_WRONLY)
    for m in row.msgs:
        if os.write(fd, m) != len(m):
            raise AssertionError("short preload write")
    os.close(fd)


def drain(target):
    """Everything queued, read without waiting."""
    fd = target if isinstance(target, int) else os.open(target, os.O_RDONLY | os.O_NONBLOCK)
    got = []
    try:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            got.append(chunk)
    finally:
        if not isinstance(target, int):
            os.close(fd)
    return b"".join(got)


def eventually(check, limit_s=5.0):
    """True once check() is; the kernel sends RELEASE after close(2) has
    returned, so what a close does shows up a little later."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def run_row(mnt, log_path, group, index, row):
    c = Ctx(mnt, group, index)
    setup(c, row)
    before = {k: xattr(c.path, k) for k in SETTINGS}
    log_start = os.path.getsize(log_path)
    got = 0
    try:
        row.action(c)
    except OSError as e:
        got = e.errno
    problems = []
    if got != row.err:
        name = lambda n: errno.errorcode.get(n, str(n)) if n else "success"
        problems.append(f"expected {name(row.err)}, got {name(got)}")
    if row.log is not None:
        def logged():
            with open(log_path, "rb") as f:
                f.seek(log_start)
                return row.log.encode() in f.read()
        if not eventually(logged):
            problems.append(f"the daemon log has no line with {row.log!r}")
    if os.path.lexists(c.path) and isinstance(c.drain_path, str):
        after = {k: xattr(c.path, k) for k in SETTINGS}
        if after != before:
            problems.append(f"settings changed: {before} -> {after}")
        drops = 0
        def dropped():
            nonlocal drops
            drops = int(xattr(c.path, "stats.drops"))
            return drops == row.drops
        if not eventually(dropped):
            problems.append(f"stats.drops is {drops}, expected {row.drops}")
    elif isinstance(c.drain_path, str):
        problems.append("the channel is gone")
    data = drain(c.drain_path)
    if data != b"".join(row.msgs_after):
        problems.append(f"drained {data!r}, expected {b''.join(row.msgs_after)!r}")
    for fd in c.keep:
        os.close(fd)
    return problems


def main():
    mnt, log_path, group = sys.argv[1:4]
    rows = ROWS[group]
    failed = 0
    for i, row in enumerate(rows):
        try:
            problems = run_row(mnt, log_path, group, i, row)
        except Exception as e:  # a broken row must not hide the others
            problems = [f"{type(e).__name__}: {e}"]
        if problems:
            failed += 1
            print(f"FAIL [{group}: {row.name}]: " + "; ".join(problems))
        else:
            print(f"ok   [{group}: {row.name}]")
    print(f"{len(rows) - failed} of {len(rows)} rows passed")
    return min(failed, 100)


if __name__ == "__main__":
    sys.exit(main())
