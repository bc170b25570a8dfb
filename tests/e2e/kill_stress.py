#!/usr/bin/env python3
"""Killed readers lose nothing the daemon still holds.

usage: kill_stress.py QUEUE MESSAGES READERS
       kill_stress.py --topic TOPIC MESSAGES READERS

The --topic form is at the end of this text.

A producer writes MESSAGES numbered messages ("N\\n", one write each) into
QUEUE (a queue channel with `messages` framing, a small capacity so that
the producer waits for the readers) while READERS reader
processes read it, logging each message the moment read() returns. Every
few milliseconds one reader is killed with SIGKILL and replaced. At the
end the rest is drained. Then:
  - no message number appears twice (in the logs and the drain together);
  - the daemon handed out each message exactly once
    (stats.out_messages == MESSAGES) and holds none (queued_messages == 0);
  - the messages nobody logged are the ones that died in a killed reader's
    buffer after its read completed: at most one per kill, since a
    `messages` read returns one message.
Prints the figures; exits 0 only if every check held.

--topic: TOPIC is a topic channel (`messages` framing). The killed readers
are subscribers; each incarnation must have logged a run of consecutive
numbers (no gap, no duplicate) among what was published while it was
subscribed. One more subscriber, opened first and never killed, must log
all MESSAGES in order.
"""
import errno
import os
import random
import signal
import sys
import tempfile
import time

topic = sys.argv[1] == "--topic"
args = sys.argv[2:] if topic else sys.argv[1:]
queue, total, n_readers = args[0], int(args[1]), int(args[2])
logdir = tempfile.mkdtemp(prefix="kill-stress.")
random.seed(int(os.environ.get("KILL_STRESS_SEED", "0")) or None)


def stat(key):
    return int(os.getxattr(queue, "user.chanfs.stats." + key))


def reader(log_path):
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    fd = os.open(queue, os.O_RDONLY)
    while True:
        data = os.read(fd, 64)
        if not data:
            os._exit(0)
        os.write(log, data)


def spawn(i):
    pid = os.fork()
    if pid == 0:
        try:
            reader(os.path.join(logdir, "r%d.log" % i))
        finally:
            os._exit(1)
    return pid


def check_topic():
    """Every subscriber's log is a run of consecutive numbers; the witness's is all of them."""
    os.waitpid(witness, 0)
    for pid in readers:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    gaps = runs = 0
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name), "rb") as f:
            nums = [int(x) for x in f.read().split()]
        os.unlink(os.path.join(logdir, name))
        if name == "witness":
            witness_ok = nums == list(range(total))
            witness_count = len(nums)
            continue
        runs += 1
        gaps += sum(1 for a, b in zip(nums, nums[1:]) if b != a + 1)
    os.rmdir(logdir)
    print("published %d, subscriber incarnations %d, kills %d, gaps or duplicates %d, "
          "witness got %d in order: %s" % (total, runs, kills, gaps, witness_count, witness_ok))
    return 0 if gaps == 0 and witness_ok else 1


def producer():
    pid = os.fork()
    if pid == 0:
        fd = os.open(queue, os.O_WRONLY)
        for n in range(total):
            os.write(fd, b"%d\n" % n)
        os.close(fd)
        os._exit(0)
    return pid


witness = None
if topic:
    witness_log = os.path.join(logdir, "witness")
    witness = os.fork()
    if witness == 0:
        try:
            log = os.open(witness_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fd = os.open(queue, os.O_RDONLY)
            for _ in range(total):
                os.write(log, os.read(fd, 64))
        finally:
            os._exit(0)
    # The witness must be subscribed before the first message is published.
    while stat("readers") < 1:
        time.sleep(0.005)

serial = 0
readers = []
for _ in range(n_readers):
    readers.append(spawn(serial))
    serial += 1
prod = producer()
kills = 0
produced = False
deadline = time.monotonic() + 120
# Kill while the producer writes and while the readers empty the queue.
while time.monotonic() < deadline:
    if not produced and os.waitpid(prod, os.WNOHANG)[0]:
        produced = True
    if produced and (topic or stat("queued_messages") == 0):
        break
    time.sleep(random.uniform(0.001, 0.005))
    victim = random.randrange(len(readers))
    os.kill(readers[victim], signal.SIGKILL)
    os.waitpid(readers[victim], 0)
    kills += 1
    readers[victim] = spawn(serial)
    serial += 1
else:
    print("not done within 120 s: produced %s, queued %d" % (produced, stat("queued_messages")))
    sys.exit(1)

if topic:
    sys.exit(check_topic())

# Stop the survivors too, then drain whatever a killed read put back.
for pid in readers:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
kills += len(readers)
drained = []
fd = os.open(queue, os.O_RDONLY | os.O_NONBLOCK)
while True:
    try:
        data = os.read(fd, 64)
    except OSError as e:
        if e.errno == errno.EAGAIN:
            break
        raise
    drained.append(int(data))
os.close(fd)

logged = []
for name in os.listdir(logdir):
    with open(os.path.join(logdir, name), "rb") as f:
        logged += [int(x) for x in f.read().split()]
    os.unlink(os.path.join(logdir, name))
os.rmdir(logdir)

seen = logged + drained
dupes = len(seen) - len(set(seen))
foreign = [n for n in seen if not 0 <= n < total]
missing = total - len(set(seen))
out = stat("out_messages")
queued = stat("queued_messages")
print("sent %d, logged by readers %d, drained at the end %d, duplicates %d, missing %d, "
      "kills %d, daemon out_messages %d, still queued %d"
      % (total, len(logged), len(drained), dupes, missing, kills, out, queued))
ok = dupes == 0 and not foreign and out == total and queued == 0 and missing <= kills
sys.exit(0 if ok else 1)
