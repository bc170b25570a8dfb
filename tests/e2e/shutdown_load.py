#!/usr/bin/env python3
"""SIGTERM under load: READERS blocked readers and WRITERS blocked writers,
then SIGTERM to the daemon; every one must return within LIMIT seconds.

usage: shutdown_load.py MOUNT DAEMON_PID READERS WRITERS LIMIT_S

Readers block on an empty queue. Writers block on 4 full queues (capacity
1 byte, overflow=block), several per queue, all parked in the daemon
(channel files allow parallel direct writes, so none waits in the kernel
for the file's lock). A
reader may end with end-of-file or an error; a writer must get an error.
Prints one line of figures and exits 0 only if every check held.
"""
import errno
import os
import signal
import sys
import threading
import time

mnt, daemon = sys.argv[1], int(sys.argv[2])
n_readers, n_writers, limit = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
QUEUES = 4


def setx(path, key, value):
    os.setxattr(path, "user.chanfs." + key, value.encode())


def stat(path, key):
    return int(os.getxattr(path, "user.chanfs.stats." + key))


rpath = os.path.join(mnt, "rq")
open(rpath, "w").close()
setx(rpath, "kind", "queue")
wpaths = []
for i in range(QUEUES):
    p = os.path.join(mnt, "wq%d" % i)
    open(p, "w").close()
    setx(p, "kind", "queue")
    setx(p, "capacity", "1")
    fd = os.open(p, os.O_WRONLY)
    os.write(fd, b"full\n")  # accepted into an empty queue; now over capacity
    os.close(fd)
    wpaths.append(p)

results = {}  # name -> (outcome, seconds since the signal)
lock = threading.Lock()
killed_at = [None]
tids = []


def record(name, outcome):
    t = time.monotonic()
    with lock:
        results[name] = (outcome, t)


def reader(i):
    tids.append(threading.get_native_id())
    fd = os.open(rpath, os.O_RDONLY)
    try:
        data = os.read(fd, 4096)
        record("r%d" % i, "eof" if data == b"" else "data")
    except OSError as e:
        record("r%d" % i, errno.errorcode.get(e.errno, str(e.errno)))
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def writer(i):
    tids.append(threading.get_native_id())
    try:
        fd = os.open(wpaths[i % QUEUES], os.O_WRONLY)
    except OSError as e:
        record("w%d" % i, "open:" + errno.errorcode.get(e.errno, str(e.errno)))
        return
    try:
        os.write(fd, b"more\n")
        record("w%d" % i, "written")
    except OSError as e:
        record("w%d" % i, errno.errorcode.get(e.errno, str(e.errno)))
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


threads = [threading.Thread(target=reader, args=(i,)) for i in range(n_readers)]
threads += [threading.Thread(target=writer, args=(i,)) for i in range(n_writers)]
for t in threads:
    t.start()


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def task_states():
    states = []
    for tid in list(tids):
        try:
            with open("/proc/self/task/%d/stat" % tid) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except OSError:
            pass
    return states


ok = wait_for(lambda: stat(rpath, "blocked_readers") == n_readers, 30)
ok = ok and wait_for(lambda: sum(stat(p, "blocked_writers") for p in wpaths) == n_writers, 30)
if not ok:
    print("setup failed: readers %d, parked writers %d, D-state tasks %d"
          % (stat(rpath, "blocked_readers"), sum(stat(p, "blocked_writers") for p in wpaths),
             task_states().count("D")))
    sys.exit(1)
d_before = task_states().count("D")

killed_at[0] = time.monotonic()
os.kill(daemon, signal.SIGTERM)
for t in threads:
    t.join(timeout=limit + 5)
alive = sum(t.is_alive() for t in threads)

late = [n for n, (_, t) in results.items() if t - killed_at[0] > limit]
worst = max((t - killed_at[0] for _, t in results.values()), default=0.0)
reader_outcomes = sorted({o for n, (o, _) in results.items() if n.startswith("r")})
writer_outcomes = sorted({o for n, (o, _) in results.items() if n.startswith("w")})
print("readers %d, writers %d (%d in D state before), all returned: %s, slowest %.3f s, "
      "reader outcomes %s, writer outcomes %s"
      % (n_readers, n_writers, d_before, alive == 0, worst, reader_outcomes, writer_outcomes))
bad = alive != 0 or late or len(results) != n_readers + n_writers
bad = bad or "data" in reader_outcomes or "written" in writer_outcomes
sys.exit(1 if bad else 0)
