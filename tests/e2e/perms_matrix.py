#!/usr/bin/env python3
"""Permissions matrix for 070-permissions.bats (run as root on a mount made
with -o allow_other).

usage: perms_matrix.py MOUNTPOINT REFERENCE_DIR DAEMON_LOG GROUP

Each row builds its own small tree (as root) under MOUNTPOINT, then runs one
operation as one user (root, nobody or daemon) in a child process and checks
the exact errno (0: allowed). Rows marked `ref` run the same operation on the
same tree built under REFERENCE_DIR, a directory on an ordinary filesystem,
which must give the same result: chanfs answers as a normal filesystem does.
Rows about chanfs's own settings (user.chanfs.*) say what chanfs does
instead and name the log line the refusal must leave. Each failing row
prints its name; the exit status is the number of failing rows.
"""
import errno
import os
import stat
import sys
import time

E = errno
USERS = {"root": (0, 0), "nobody": (65534, 65534), "daemon": (1, 1)}
ROOT, NOBODY, DAEMON = USERS["root"], USERS["nobody"], USERS["daemon"]


class Row:
    def __init__(self, name, tree, user, action, err, *, ref=True, log=None, after=None):
        self.name = name
        self.tree = tree  # [(relpath, "d"|"f", (uid, gid), mode, {xattr: value})]
        self.user = user
        self.action = action  # fn(rowdir), run as `user`
        self.err = err
        self.ref = ref
        self.log = log
        self.after = after  # fn(rowdir) -> problem string or None, run as root


def f(path, owner, mode, **xattrs):
    return (path, "f", owner, mode, xattrs)


def d(path, owner, mode, **xattrs):
    return (path, "d", owner, mode, xattrs)


def build(base, tree):
    os.mkdir(base)
    os.chmod(base, 0o755)
    for path, kind, (uid, gid), mode, xattrs in tree:
        p = os.path.join(base, path)
        if kind == "d":
            os.mkdir(p)
        else:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.chown(p, uid, gid)
        os.chmod(p, mode)
        for k, v in xattrs.items():
            os.setxattr(p, "user.chanfs." + k, v.encode())


def as_user(user, fn):
    """Runs fn() as `user` (no supplementary groups) in a child; its errno."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            uid, gid = USERS[user]
            os.setgroups([])
            os.umask(0o022)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            fn()
        except OSError as e:
            code = e.errno
        except BaseException as e:  # a broken row: report it, never hang
            code = -1
            os.write(w, repr(e).encode())
        os.write(w, b"" if code == -1 else str(code).encode())
        os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    try:
        return int(out)
    except ValueError:
        raise AssertionError(f"the action broke: {out.decode(errors='replace')}")


def j(*parts):
    return os.path.join(*parts)


def open_close(rel, flags):
    def run(base):
        os.close(os.open(j(base, rel), flags | os.O_NONBLOCK))
    return run


def read_open(rel):
    return open_close(rel, os.O_RDONLY)


def write_open(rel):
    return open_close(rel, os.O_WRONLY)


def setx(rel, key, value):
    return lambda base: os.setxattr(j(base, rel), "user.chanfs." + key, value)


def getx(rel, key):
    return lambda base: os.getxattr(j(base, rel), "user.chanfs." + key)


def rmx(rel, key):
    return lambda base: os.removexattr(j(base, rel), "user.chanfs." + key)


def exists(rel, want=True):
    def check(base):
        if os.path.lexists(j(base, rel)) != want:
            return f"{rel} {'is gone' if want else 'is still there'}"
        return None
    return check


def mode_is(rel, mode, owner=None):
    def check(base):
        st = os.lstat(j(base, rel))
        if stat.S_IMODE(st.st_mode) != mode:
            return f"{rel} has mode {stat.S_IMODE(st.st_mode):o}, expected {mode:o}"
        if owner is not None and (st.st_uid, st.st_gid) != owner:
            return f"{rel} is owned by {st.st_uid}:{st.st_gid}, expected {owner}"
        return None
    return check


def xattr_is(rel, key, value):
    def check(base):
        got = os.getxattr(j(base, rel), "user.chanfs." + key)
        return None if got == value else f"{rel} {key} is {got!r}, expected {value!r}"
    return check


STICKY = [d("t", ROOT, 0o1777), f("t/ch", NOBODY, 0o666)]
OPEN = [d("o", ROOT, 0o777), f("o/ch", NOBODY, 0o666)]

ROWS = {
    "access": [
        Row("nobody reads a 0644 channel", [f("ch", ROOT, 0o644)], "nobody", read_open("ch"), 0),
        Row("nobody is refused reading a 0600 channel", [f("ch", ROOT, 0o600)], "nobody",
            read_open("ch"), E.EACCES),
        Row("nobody reads a 0640 channel of its group", [f("ch", (0, 65534), 0o640)], "nobody",
            read_open("ch"), 0),
        Row("daemon is refused reading nobody's 0640 channel", [f("ch", NOBODY, 0o640)], "daemon",
            read_open("ch"), E.EACCES),
        Row("root reads a 0000 channel", [f("ch", NOBODY, 0o000)], "root", read_open("ch"), 0),
        Row("nobody writes a 0666 channel", [f("ch", ROOT, 0o666)], "nobody", write_open("ch"), 0),
        Row("nobody is refused writing a 0644 channel", [f("ch", ROOT, 0o644)], "nobody",
            write_open("ch"), E.EACCES),
        Row("the owner is refused writing its own 0444 channel", [f("ch", NOBODY, 0o444)],
            "nobody", write_open("ch"), E.EACCES),
        Row("nobody is refused a channel in a 0700 directory",
            [d("p", ROOT, 0o700), f("p/ch", ROOT, 0o666)], "nobody", read_open("p/ch"), E.EACCES),
        Row("nobody lists a 0755 directory", [d("p", ROOT, 0o755)], "nobody",
            lambda base: os.listdir(j(base, "p")), 0),
        Row("nobody is refused listing a 0700 directory", [d("p", ROOT, 0o700)], "nobody",
            lambda base: os.listdir(j(base, "p")), E.EACCES),
    ],
    "xattrs": [
        Row("nobody reads the settings of a 0644 channel", [f("ch", ROOT, 0o644)], "nobody",
            getx("ch", "kind"), 0, ref=False),
        Row("nobody is refused the settings and stats of a 0600 channel", [f("ch", ROOT, 0o600)],
            "nobody", getx("ch", "capacity"), E.EACCES),
        Row("nobody without write permission is refused changing a setting (EACCES)",
            [f("ch", ROOT, 0o644)], "nobody", setx("ch", "capacity", b"4096"), E.EACCES,
            after=xattr_is("ch", "capacity", b"1048576"), ref=False),
        Row("nobody with write permission, not the owner, is refused (EPERM)",
            [f("ch", ROOT, 0o666)], "nobody", setx("ch", "capacity", b"4096"), E.EPERM,
            ref=False, log="only the owner or root may change settings",
            after=xattr_is("ch", "capacity", b"1048576")),
        Row("the owner changes a setting", [f("ch", NOBODY, 0o644)], "nobody",
            setx("ch", "capacity", b"4096"), 0, ref=False, after=xattr_is("ch", "capacity", b"4096")),
        Row("the owner changes a setting of its 0444 channel (no write permission)",
            [f("ch", NOBODY, 0o444)], "nobody", setx("ch", "capacity", b"4096"), E.EACCES),
        Row("root changes a setting of nobody's 0600 channel", [f("ch", NOBODY, 0o600)], "root",
            setx("ch", "capacity", b"4096"), 0, ref=False,
            after=xattr_is("ch", "capacity", b"4096")),
        Row("nobody is refused changing root's directory defaults in a 0777 directory",
            [d("o", ROOT, 0o777)], "nobody", setx("o", "kind", b"queue"), E.EPERM, ref=False,
            log="only the owner or root may change settings"),
        Row("nobody is refused removing root's directory default",
            [d("o", ROOT, 0o777, kind="queue")], "nobody", rmx("o", "kind"), E.EPERM,
            ref=False, log="removexattr user.chanfs.kind",
            after=xattr_is("o", "kind", b"queue")),
        Row("the directory's owner removes its default", [d("o", NOBODY, 0o755, kind="queue")],
            "nobody", rmx("o", "kind"), 0, ref=False),
        Row("nobody is refused xattrs on root's sticky directory", [d("t", ROOT, 0o1777)],
            "nobody", setx("t", "kind", b"queue"), E.EPERM),
    ],
    "deletion": [
        Row("daemon deletes nobody's channel in a 0777 directory", OPEN, "daemon",
            lambda base: os.unlink(j(base, "o/ch")), 0, after=exists("o/ch", False)),
        Row("daemon is refused deleting nobody's channel in a sticky directory", STICKY, "daemon",
            lambda base: os.unlink(j(base, "t/ch")), E.EPERM, after=exists("t/ch")),
        Row("daemon is refused renaming nobody's channel away in a sticky directory", STICKY,
            "daemon", lambda base: os.rename(j(base, "t/ch"), j(base, "t/mine")), E.EPERM,
            after=exists("t/ch")),
        Row("daemon is refused renaming its own channel over nobody's in a sticky directory",
            STICKY + [f("t/mine", DAEMON, 0o644)], "daemon",
            lambda base: os.rename(j(base, "t/mine"), j(base, "t/ch")), E.EPERM,
            after=exists("t/mine")),
        Row("the owner deletes its channel in a sticky directory", STICKY, "nobody",
            lambda base: os.unlink(j(base, "t/ch")), 0, after=exists("t/ch", False)),
        Row("the owner renames its channel in a sticky directory", STICKY, "nobody",
            lambda base: os.rename(j(base, "t/ch"), j(base, "t/moved")), 0,
            after=exists("t/moved")),
        Row("root deletes nobody's channel in a sticky directory", STICKY, "root",
            lambda base: os.unlink(j(base, "t/ch")), 0, after=exists("t/ch", False)),
        Row("the sticky directory's owner deletes nobody's channel",
            [d("t", DAEMON, 0o1777), f("t/ch", NOBODY, 0o666)], "daemon",
            lambda base: os.unlink(j(base, "t/ch")), 0, after=exists("t/ch", False)),
        Row("nobody is refused deleting its own channel in root's 0755 directory",
            [d("p", ROOT, 0o755), f("p/ch", NOBODY, 0o666)], "nobody",
            lambda base: os.unlink(j(base, "p/ch")), E.EACCES, after=exists("p/ch")),
    ],
    "ownership": [
        Row("daemon is refused chmod of nobody's channel", OPEN, "daemon",
            lambda base: os.chmod(j(base, "o/ch"), 0o777), E.EPERM, after=mode_is("o/ch", 0o666)),
        Row("the owner chmods its channel", OPEN, "nobody",
            lambda base: os.chmod(j(base, "o/ch"), 0o600), 0, after=mode_is("o/ch", 0o600)),
        Row("the owner keeps a sticky bit it sets on its directory", [d("o", NOBODY, 0o777)],
            "nobody", lambda base: os.chmod(j(base, "o"), 0o1777), 0, after=mode_is("o", 0o1777)),
        Row("daemon is refused chown of nobody's channel to itself", OPEN, "daemon",
            lambda base: os.chown(j(base, "o/ch"), 1, 1), E.EPERM,
            after=mode_is("o/ch", 0o666, NOBODY)),
        Row("the owner is refused giving its channel away", OPEN, "nobody",
            lambda base: os.chown(j(base, "o/ch"), 1, -1), E.EPERM),
        Row("the owner is refused a group it is not in", OPEN, "nobody",
            lambda base: os.chown(j(base, "o/ch"), -1, 1), E.EPERM),
        Row("root gives nobody's channel to daemon", OPEN, "root",
            lambda base: os.chown(j(base, "o/ch"), 1, 1), 0, after=mode_is("o/ch", 0o666, DAEMON)),
        Row("nobody with write permission touches root's channel to now", [f("ch", ROOT, 0o666)],
            "nobody", lambda base: os.utime(j(base, "ch")), 0),
        Row("nobody is refused setting root's channel's times to a given time",
            [f("ch", ROOT, 0o666)], "nobody", lambda base: os.utime(j(base, "ch"), (1, 1)),
            E.EPERM),
    ],
    "directories": [
        Row("nobody makes a directory in a 0777 directory", [d("o", ROOT, 0o777)], "nobody",
            lambda base: os.mkdir(j(base, "o/x")), 0, after=mode_is("o/x", 0o755, NOBODY)),
        Row("nobody is refused a directory in root's 0755 directory", [d("p", ROOT, 0o755)],
            "nobody", lambda base: os.mkdir(j(base, "p/x")), E.EACCES, after=exists("p/x", False)),
        Row("nobody is refused a channel in root's 0755 directory", [d("p", ROOT, 0o755)],
            "nobody", lambda base: os.close(os.open(j(base, "p/x"), os.O_WRONLY | os.O_CREAT)),
            E.EACCES),
        Row("nobody is refused mkfifo in root's 0755 directory", [d("p", ROOT, 0o755)],
            "nobody", lambda base: os.mkfifo(j(base, "p/x")), E.EACCES),
        Row("daemon removes nobody's empty directory in a 0777 directory",
            [d("o", ROOT, 0o777), d("o/x", NOBODY, 0o755)], "daemon",
            lambda base: os.rmdir(j(base, "o/x")), 0, after=exists("o/x", False)),
        Row("daemon is refused removing nobody's directory in a sticky directory",
            [d("t", ROOT, 0o1777), d("t/x", NOBODY, 0o777)], "daemon",
            lambda base: os.rmdir(j(base, "t/x")), E.EPERM, after=exists("t/x")),
        Row("the owner removes its directory in a sticky directory",
            [d("t", ROOT, 0o1777), d("t/x", NOBODY, 0o755)], "nobody",
            lambda base: os.rmdir(j(base, "t/x")), 0, after=exists("t/x", False)),
        Row("nobody is refused removing a directory in root's 0755 directory",
            [d("p", ROOT, 0o755), d("p/x", NOBODY, 0o777)], "nobody",
            lambda base: os.rmdir(j(base, "p/x")), E.EACCES, after=exists("p/x")),
    ],
}


def name(n):
    return errno.errorcode.get(n, str(n)) if n else "success"


def run_row(mnt, ref, log_path, group, index, row):
    problems = []
    rel = f"{group}-{index:03d}"
    log_start = os.path.getsize(log_path)
    for where, base in (("chanfs", j(mnt, rel)), ("reference fs", j(ref, rel))):
        if where != "chanfs" and not row.ref:
            continue
        build(base, row.tree)
        got = as_user(row.user, lambda: row.action(base))
        if got != row.err:
            problems.append(f"{where}: expected {name(row.err)}, got {name(got)}")
        if row.after and (p := row.after(base)):
            problems.append(f"{where}: {p}")
    if row.log is not None:
        deadline = time.monotonic() + 5
        while True:
            with open(log_path, "rb") as f:
                f.seek(log_start)
                if row.log.encode() in f.read():
                    break
            if time.monotonic() > deadline:
                problems.append(f"the daemon log has no line with {row.log!r}")
                break
            time.sleep(0.01)
    return problems


def main():
    mnt, ref, log_path, group = sys.argv[1:5]
    rows = ROWS[group]
    failed = 0
    for i, row in enumerate(rows):
        try:
            problems = run_row(mnt, ref, log_path, group, i, row)
        except Exception as e:  # a broken row must not hide the others
            problems = [f"{type(e).__name__}: {e}"]
        if problems:
            failed += 1
            print(f"FAIL [{group}: {row.name} (as {row.user})]: " + "; ".join(problems))
        else:
            print(f"ok   [{group}: {row.name} (as {row.user})]")
    print(f"{len(rows) - failed} of {len(rows)} rows passed")
    return min(failed, 100)


if __name__ == "__main__":
    sys.exit(main())
