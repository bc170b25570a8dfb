#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/<target>/ (run from anywhere; the
files are committed, so this only matters when a target's input layout
changes).

framing_fuzz and xattr_fuzz read their inputs through libFuzzer's
FuzzedDataProvider: integers come from the end of the input, bytes from the
front. Seed() builds an input the same way, so each seed below reads as the
operations its comment says."""
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent


class Seed:
    def __init__(self):
        self.front = b""
        self.back = []  # integers' bytes in the order they are consumed

    def int(self, value, lo, hi):
        """ConsumeIntegralInRange(lo, hi) returning value."""
        rng, v = hi - lo, value - lo
        assert 0 <= v <= rng
        nbytes = (rng.bit_length() + 7) // 8
        for i in reversed(range(nbytes)):
            self.back.append((v >> (8 * i)) & 0xFF)
        return self

    def bool(self, value):
        return self.int(int(value), 0, 255)

    def bytes(self, data):
        self.front += data
        return self

    def data(self):
        return self.front + bytes(reversed(self.back))


def lp32(body):
    return struct.pack("<I", len(body)) + body


FRAMINGS = {"bytes": 0, "lines": 1, "messages": 2, "lp32": 3}
KINDS = {"pipe": 0, "queue": 1, "topic": 2}


def frame_write(framing, max_message_code, chunks):
    """Mode 1 of framing_fuzz: frameWrite over `chunks`."""
    s = Seed().bool(True).int(FRAMINGS[framing], 0, 3).int(max_message_code, 0, 0xFFFF)
    for c in chunks:
        s.int(len(c), 0, 300).bytes(c)
    return s.data()


def channel_run(kind, framing, capacity_code, bodies, ops, cut=0, readers=1, error=False):
    """Mode 2 of framing_fuzz (overflow=error if `error`, else block):
    `bodies` become messages; `ops` are
    ("w", size), ("wb", size) (blocking) or ("r", reader, size)."""
    s = Seed().bool(False).int(KINDS[kind], 0, 2).int(FRAMINGS[framing], 0, 3)
    s.int(capacity_code, 0, 0xFFFF).bool(error).int(len(bodies), 0, 24)
    for b in bodies:
        s.int(len(b), 1 if framing == "messages" else 0, 80).bytes(b)
    if framing != "messages" and bodies:
        s.int(cut, 0, 3)
    if kind == "topic":
        s.int(readers, 1, 2)
    for op in ops:
        if op[0] in ("w", "wb"):
            s.int(0x81 if op[0] == "wb" else 0, 0, 255).int(op[1], 1, 100)  # %3 == 0: a write
        else:
            s.int(1 + 3 * op[1], 0, 255).int(op[2], 1, 120)
    return s.data()


def xattr_text(mode, text):
    return Seed().bytes(text).int(mode, 0, 2).data()


def write(target, name, data):
    d = HERE / target
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(data)


def main():
    # framing_fuzz, mode 1: frameWrite with a limit (code % 512 + 1; 0xffff: 64M).
    write("framing_fuzz", "lines-split", frame_write("lines", 15, [b"hel", b"lo\nwor", b"ld\n", b"tail"]))
    write("framing_fuzz", "lines-no-newline", frame_write("lines", 7, [b"abcdefg", b"h\n"]))
    write("framing_fuzz", "lines-exact-limit", frame_write("lines", 3, [b"abc\n", b"abcd\n"]))
    write("framing_fuzz", "lp32-frames", frame_write("lp32", 63, [lp32(b"one") + lp32(b"")[:2], lp32(b"")[2:] + lp32(b"two")[:5], lp32(b"two")[5:]]))
    write("framing_fuzz", "lp32-over-limit", frame_write("lp32", 3, [lp32(b"abcd"), lp32(b"ok")]))
    write("framing_fuzz", "messages-limit", frame_write("messages", 4, [b"12345", b"1234", b""]))
    write("framing_fuzz", "bytes-chunks", frame_write("bytes", 0xFFFF, [b"a", b"", b"bc\n"]))
    # framing_fuzz, mode 2: a channel (capacity code % 600 + 1; 0xffff: 1M).
    write("framing_fuzz", "queue-lines-short-reads", channel_run(
        "queue", "lines", 0xFFFF, [b"first", b"second line", b"3"],
        [("w", 4), ("r", 0, 3), ("w", 20), ("r", 0, 2), ("r", 0, 100), ("w", 5)]))
    write("framing_fuzz", "topic-lp32-two-readers", channel_run(
        "topic", "lp32", 20, [b"abc", b"", b"defghijklmnop"],
        [("w", 7), ("r", 1, 5), ("w", 40), ("r", 0, 4), ("r", 0, 50), ("wb", 9), ("r", 1, 50)],
        readers=2))
    write("framing_fuzz", "pipe-bytes-full", channel_run(
        "pipe", "bytes", 9, [b"0123456789", b"abcdef"],
        [("w", 10), ("w", 6), ("r", 0, 4), ("wb", 6), ("r", 0, 30)]))
    write("framing_fuzz", "queue-lines-overflow-error", channel_run(
        "queue", "lines", 10, [b"12345", b"abcdef", b"z"],
        [("w", 6), ("wb", 7), ("r", 0, 3), ("wb", 7), ("r", 0, 50), ("w", 2)], error=True))
    write("framing_fuzz", "queue-messages", channel_run(
        "queue", "messages", 15, [b"m1", b"message two", b"x" * 30],
        [("w", 1), ("w", 1), ("r", 0, 1), ("r", 0, 20), ("w", 1), ("r", 0, 7)]))
    write("framing_fuzz", "topic-lines-cut", channel_run(
        "topic", "lines", 0xFFFF, [b"a", b"b", b"unfinished"], [("w", 100), ("r", 0, 3)], cut=3))

    # xattr_fuzz: mode 0 value parsers, 1 bridge parsers, 2 changeSetting.
    for i, v in enumerate([b"64K", b"18446744073709551615", b"17179869184K", b"drop-oldest", b"lp32",
                           b"18014398509481983K", b"18014398509481984K", b"17179869184G", b"1g"]):
        write("xattr_fuzz", f"value-{i}", xattr_text(0, v))
    for i, v in enumerate([b"in:/run/legacy.fifo", b"out:/tmp/f", b"listen:/run/jobs.sock",
                           b"listen-seqpacket:/run/x", b"connect:/run/app.sock", b"connect:relative"]):
        write("xattr_fuzz", f"bridge-{i}", xattr_text(1, v))
    # changeSetting: op 0 (a known name, a value from kValues) / 2 (a writer
    # session) / 3 (a reader); strings end in a backslash and another byte.
    s = Seed().int(2, 0, 2)
    s.int(0, 0, 255).bool(True).int(0, 0, 5).bool(True).int(1, 0, 40)   # kind = queue
    s.int(2, 0, 255).bytes(b"hello\n\\.").bool(False)                # a writer session
    s.int(0, 0, 255).bool(True).int(1, 0, 5).bool(True).int(6, 0, 40)   # framing = lp32 (EBUSY?)
    s.int(3, 0, 255).int(3, 1, 64).bool(True)                           # a reader, kept open
    s.int(0, 0, 255).bool(True).int(0, 0, 5).bool(True).int(2, 0, 40)   # kind = topic: EBUSY
    write("xattr_fuzz", "settings-sequence", s.data())
    s = Seed().int(2, 0, 2)
    s.int(2, 0, 255).bytes(b"data\\.").bool(False)                   # a pipe session, closed
    s.int(0, 0, 255).bool(True).int(0, 0, 5).bool(True).int(1, 0, 40)   # kind = queue
    s.int(2, 0, 255).bytes(b"more\\.").bool(False)
    write("xattr_fuzz", "pipe-then-queue", s.data())

    # config_fuzz: config files as users write them.
    configs = {
        "readme": b'''[mount]
mode = "0755"

[dir."sensors"]
kind = "topic"
replay = 10

[channel."sensors/temp"]
capacity = "64K"
mode = "0664"
group = "adm"

[channel."jobs/resize"]
kind = "queue"
framing = "lines"
fifo = "in:/run/legacy/resize.fifo"
''',
        "good": b'''# a comment
[mount]
mode = "0750"
kind = "queue"

[channel."sensors/temp"]
capacity = "64K"
max_message = 4096
mode = "0664"
owner = "root"
group = 0
fifo = "in:/run/temp.fifo"

[dir.'sensors']
kind = "topic"
replay = 10

[channel.plain]
uds = "listen-seqpacket:/run/plain.sock"
''',
        "order": b'[channel."q"]\nreplay = 3\nframing = "messages"\nmax_message = "1000"\nkind = "topic"\n',
        "bad-value": b'[channel."a"]\nkind = "topik"\ncapacity = -1\nmode = 640\n',
        "syntax": b'[mount]\nkind = "queue"\n[dir."a"\n',
        "conflicts": b'[channel."a"]\n[dir."a/b"]\n[dir."a"]\n[channel."../x"]\nuds = "connect:rel"\n',
        "inline": b'[channel]\n"x/y" = { kind = "queue", replay = 2 }\n[dir."d"]\nmode = "0700"\n',
        "deep": b'[mount]\n# [[[ "\nx = ' + b"[" * 70 + b"'[' ]" + b"]" * 70 + b'\n',
        "strings": b'[channel."a"]\nfifo = """in:/[\\"\n"""\n[channel.\'b\']\nuds = \'\'\'connect:/{\'\'\'\n',
    }
    for name, text in configs.items():
        write("config_fuzz", name, text)


if __name__ == "__main__":
    main()
