#!/usr/bin/env python3
"""Tree changes against a chanfs mount, counted, and a model of what must be there.

  tree_ops.py run MNT MODEL PHASE ROUNDS [ALLOWED_ERRNO...]
      Makes ROUNDS rounds of numbered changes (mkdir, create, mkfifo,
      setxattr on a channel and on a directory, a FIFO bridge, chmod, chown,
      rename, unlink, rmdir). Each one acknowledged is applied to the model
      (a JSON file, created if missing); each refused leaves it as it was. A
      refusal with an errno not in ALLOWED_ERRNO (names, e.g. ENOSPC) fails.
      Prints "acknowledged=N refused=M (ENOSPC=M)".
  tree_ops.py check MNT MODEL
      Compares the mount with the model: every entry with its type, mode,
      owner and the settings the model holds, and nothing else. Prints each
      difference; exit 1 if there is one.
"""
import errno
import json
import os
import stat
import sys

FIFO_DIR_ENV = "TREE_OPS_FIFO_DIR"


def load(model):
    try:
        with open(model) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"entries": {}}


def save(model, m):
    with open(model + ".tmp", "w") as f:
        json.dump(m, f, indent=1, sort_keys=True)
    os.replace(model + ".tmp", model)


def attempt(fn):
    try:
        fn()
        return None
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def run(mnt, model, phase, rounds, allowed):
    m = load(model)
    ents = m["entries"]
    counts = {"ok": 0}
    bad = []

    def note(what, err):
        if err is None:
            counts["ok"] += 1
        else:
            counts[err] = counts.get(err, 0) + 1
            if err not in allowed:
                bad.append(f"{what}: {err}")
        return err is None

    def channels():
        return sorted(p for p, e in ents.items() if e["type"] == "chan" and "/" not in p)

    def empty_dirs():
        return sorted(p for p, e in ents.items()
                      if e["type"] == "dir" and not any(q.startswith(p + "/") for q in ents))

    fifo_dir = os.environ.get(FIFO_DIR_ENV)
    for i in range(rounds):
        tag = f"{phase}-{i:03d}"
        d = f"d{tag}"
        if note("mkdir " + d, attempt(lambda: os.mkdir(os.path.join(mnt, d), 0o755))):
            ents[d] = {"type": "dir", "mode": 0o755, "uid": 0, "gid": 0, "x": {}}
        for name, mk in ((f"c{tag}", "create"), (f"f{tag}", "mkfifo")):
            path = os.path.join(mnt, name)
            fn = (lambda: os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))) \
                if mk == "create" else (lambda: os.mkfifo(path, 0o644))
            if note(f"{mk} {name}", attempt(fn)):
                ents[name] = {"type": "chan", "mode": 0o644, "uid": 0, "gid": 0, "x": {}}
        # A directory default and one channel inside it.
        if d in ents:
            if note("setxattr kind on " + d, attempt(lambda: os.setxattr(
                    os.path.join(mnt, d), "user.chanfs.kind", b"queue"))):
                ents[d]["x"]["kind"] = "queue"
        chans = channels()
        if chans:
            c = chans[i % len(chans)]
            cap = str(4096 + i)
            if note(f"setxattr capacity on {c}", attempt(lambda: os.setxattr(
                    os.path.join(mnt, c), "user.chanfs.capacity", cap.encode()))):
                ents[c]["x"]["capacity"] = cap
            mode = 0o600 | (i % 8) * 0o010
            if note(f"chmod {c}", attempt(lambda: os.chmod(os.path.join(mnt, c), mode))):
                ents[c]["mode"] = mode
            if note(f"chown {c}", attempt(lambda: os.chown(os.path.join(mnt, c), 65534, 65534))):
                ents[c]["uid"] = ents[c]["gid"] = 65534
            if fifo_dir:
                spec = f"in:{fifo_dir}/{tag}.fifo"
                if note(f"fifo bridge on {c}", attempt(lambda: os.setxattr(
                        os.path.join(mnt, c), "user.chanfs.fifo", spec.encode()))):
                    ents[c]["x"]["fifo"] = spec
        chans = channels()
        if len(chans) >= 2:
            src, new = chans[0], f"r{tag}"
            if note(f"rename {src}", attempt(lambda: os.rename(os.path.join(mnt, src),
                                                               os.path.join(mnt, new)))):
                ents[new] = ents.pop(src)
            gone = channels()[-1]
            if note(f"unlink {gone}", attempt(lambda: os.unlink(os.path.join(mnt, gone)))):
                del ents[gone]
        dirs = empty_dirs()
        if len(dirs) >= 2:
            gone = dirs[0]
            if note(f"rmdir {gone}", attempt(lambda: os.rmdir(os.path.join(mnt, gone)))):
                del ents[gone]
        save(model, m)
    refused = sum(v for k, v in counts.items() if k != "ok")
    detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k != "ok")
    print(f"acknowledged={counts['ok']} refused={refused}" + (f" ({detail})" if detail else ""))
    for b in bad:
        print("unexpected refusal: " + b, file=sys.stderr)
    return 1 if bad else 0


def check(mnt, model):
    ents = load(model)["entries"]
    problems = []
    seen = set()
    for root, dirs, files in os.walk(mnt):
        for name in dirs + files:
            seen.add(os.path.relpath(os.path.join(root, name), mnt))
    for extra in sorted(seen - set(ents)):
        problems.append(f"{extra}: there, but its creation was refused or it was removed")
    for p in sorted(set(ents) - seen):
        problems.append(f"{p}: acknowledged, but missing")
    for p in sorted(set(ents) & seen):
        e = ents[p]
        st = os.lstat(os.path.join(mnt, p))
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "chan"
        if kind != e["type"]:
            problems.append(f"{p}: a {kind}, expected a {e['type']}")
        if stat.S_IMODE(st.st_mode) != e["mode"]:
            problems.append(f"{p}: mode {stat.S_IMODE(st.st_mode):o}, expected {e['mode']:o}")
        if (st.st_uid, st.st_gid) != (e["uid"], e["gid"]):
            problems.append(f"{p}: owner {st.st_uid}:{st.st_gid}, expected {e['uid']}:{e['gid']}")
        for k, v in e["x"].items():
            try:
                got = os.getxattr(os.path.join(mnt, p), "user.chanfs." + k).decode()
            except OSError as ex:
                got = errno.errorcode.get(ex.errno, "?")
            if got != v:
                problems.append(f"{p}: {k}={got}, expected {v}")
    for pr in problems:
        print(pr)
    print(f"checked {len(ents)} entries: {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), set(sys.argv[6:])))
    sys.exit(check(sys.argv[2], sys.argv[3]))
