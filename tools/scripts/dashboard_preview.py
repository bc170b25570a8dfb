#!/usr/bin/env python3
"""Draws a preview of the Grafana dashboard in packaging/grafana from live data.

Grafana is not in Debian, so this reads the dashboard JSON itself, scrapes a
chanfs /metrics endpoint several times while a small workload runs, evaluates
each panel's queries (the small PromQL subset the dashboard uses: selectors,
rate, sum [by], topk, histogram_quantile, "/" and "> 0") over those scrapes,
and draws every panel where its gridPos puts it: a stat panel as its current
value, a time series panel as an SVG line chart. The page is one HTML file;
with --png, headless chromium screenshots it. It is a preview drawn from the
dashboard JSON, not Grafana.

    dashboard_preview.py --chanfs build/fs/chanfs --png docs/dashboard-preview.png
        starts a private chanfs (a temporary mount, metrics on a Unix socket),
        runs the workload in it, and stops it again;
    dashboard_preview.py --metrics unix:/run/chanfs-metrics.sock --mount /run/chan
        scrapes a running chanfs (the workload's channels go under
        MOUNT/.dashboard-preview, removed afterwards).

Python standard library only.
"""

import argparse
import html
import http.client
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "packaging", "grafana", "chanfs-dashboard.json")
COLOURS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9",
           "#705da0", "#508642", "#cca300"]


# ---- scraping ---------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("chanfs", timeout=10)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


def fetch(address):
    """GET /metrics from unix:PATH or HOST:PORT; the body as text."""
    if address.startswith("unix:"):
        conn = UnixHTTPConnection(address[len("unix:"):])
    else:
        host, _, port = address.rpartition(":")
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=10)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET /metrics: HTTP {response.status}")
    return body


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset(labels)): value} from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = frozenset((k, bytes(v, "utf-8").decode("unicode_escape"))
                           for k, v in LABEL.findall(m.group(2) or ""))
        try:
            samples[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return samples


# ---- the PromQL subset ------------------------------------------------------

TOKEN = re.compile(r'\s*(?:(\d+(?:\.\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)|("(?:[^"\\]|\\.)*")'
                   r'|(=~|!=|!~|[{}()\[\],=/*+><-]))')
DURATION = re.compile(r'\[(\d+)([smh])\]')


def tokenize(expr):
    expr = DURATION.sub(lambda m: f" [ {int(m.group(1)) * {'s': 1, 'm': 60, 'h': 3600}[m.group(2)]} ] ",
                        expr)
    tokens, pos = [], 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read {expr[pos:]!r}")
        tokens.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return tokens


class Query:
    """One expression, evaluated against a list of scrapes [(time, samples)]."""

    def __init__(self, expr):
        self.tokens = tokenize(expr)
        self.pos = 0
        self.tree = self.comparison()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos]!r} in {expr!r}")

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, want=None):
        tok = self.peek()
        if want is not None and tok != want:
            raise ValueError(f"expected {want!r}, got {tok!r}")
        self.pos += 1
        return tok

    def comparison(self):
        node = self.binary()
        if self.peek() in (">", "<"):
            op = self.take()
            node = ("cmp", op, node, float(self.take()))
        return node

    def binary(self):
        node = self.primary()
        while self.peek() in ("/", "*", "+", "-"):
            op = self.take()
            node = ("bin", op, node, self.primary())
        return node

    def primary(self):
        tok = self.take()
        if tok == "(":
            node = self.comparison()
            self.take(")")
            return node
        if re.fullmatch(r"\d+(?:\.\d+)?", tok):
            return ("num", float(tok))
        if tok in ("sum", "topk"):
            by = None
            if self.peek() == "by":
                self.take()
                by = self.label_list()
            self.take("(")
            k = None
            if tok == "topk":
                k = int(float(self.take()))
                self.take(",")
            inner = self.comparison()
            self.take(")")
            if self.peek() == "by":
                self.take()
                by = self.label_list()
            return (tok, by, k, inner)
        if tok == "rate":
            self.take("(")
            sel = self.primary()
            self.take(")")
            return ("rate", sel)
        if tok == "histogram_quantile":
            self.take("(")
            q = float(self.take())
            self.take(",")
            inner = self.comparison()
            self.take(")")
            return ("quantile", q, inner)
        return self.selector(tok)

    def label_list(self):
        self.take("(")
        names = []
        while self.peek() != ")":
            names.append(self.take())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return names

    def selector(self, name):
        matchers = []
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                label, op, value = self.take(), self.take(), json.loads(self.take())
                # Grafana's template variables ($instance) and the label
                # Prometheus adds at scrape time match everything here.
                if "$" not in value and label != "instance":
                    matchers.append((label, op, value))
                if self.peek() == ",":
                    self.take()
            self.take("}")
        window = None
        if self.peek() == "[":
            self.take()
            window = float(self.take())
            self.take("]")
        return ("sel", name, matchers, window)

    # Vectors are {frozenset(labels): value}.
    def evaluate(self, scrapes, at):
        return self.eval(self.tree, scrapes, at)

    def eval(self, node, scrapes, at):
        kind = node[0]
        if kind == "num":
            return {frozenset(): node[1]}
        if kind == "sel":
            return self.select(node, scrapes[at][1])
        if kind == "rate":
            _, name, matchers, window = node[1]
            now_t, now = scrapes[at]
            # The oldest scrape inside the window, as Prometheus' rate would.
            first = at
            while first > 0 and now_t - scrapes[first - 1][0] <= window:
                first -= 1
            # Each series from its own oldest scrape there: a channel made
            # during the run has no value before it existed.
            out = {}
            older = [(t, self.select(node[1], s)) for t, s in scrapes[first:at]]
            for k, v in self.select(node[1], now).items():
                then = next(((t, vec[k]) for t, vec in older if k in vec), None)
                if then:
                    out[k] = max(0.0, v - then[1]) / (now_t - then[0])
            return out
        if kind in ("sum", "topk"):
            _, by, k, inner = node
            vec = self.eval(inner, scrapes, at)
            if kind == "topk":
                return dict(sorted(vec.items(), key=lambda kv: -kv[1])[:k])
            groups = {}
            for labels, v in vec.items():
                key = frozenset((n, x) for n, x in labels if by and n in by)
                groups[key] = groups.get(key, 0.0) + v
            return groups
        if kind == "quantile":
            return self.quantile(node[1], self.eval(node[2], scrapes, at))
        if kind == "bin":
            _, op, left, right = node
            a, b = self.eval(left, scrapes, at), self.eval(right, scrapes, at)
            if len(b) == 1 and frozenset() in b and frozenset() not in a:
                b = {k: b[frozenset()] for k in a}
            out = {}
            for k, x in a.items():
                if k in b:
                    y = b[k]
                    if op == "/":
                        out[k] = x / y if y else math.nan
                    elif op == "*":
                        out[k] = x * y
                    elif op == "+":
                        out[k] = x + y
                    else:
                        out[k] = x - y
            return out
        if kind == "cmp":
            _, op, inner, limit = node
            vec = self.eval(inner, scrapes, at)
            return {k: v for k, v in vec.items() if (v > limit if op == ">" else v < limit)}
        raise ValueError(kind)

    @staticmethod
    def select(node, samples):
        _, name, matchers, _ = node
        out = {}
        for (metric, labels), value in samples.items():
            if metric != name:
                continue
            d = dict(labels)
            ok = True
            for label, op, want in matchers:
                have = d.get(label, "")
                hit = re.fullmatch(want, have) is not None if op in ("=~", "!~") else have == want
                if hit != (op in ("=", "=~")):
                    ok = False
            if ok:
                out[labels] = value
        return out

    @staticmethod
    def quantile(q, vec):
        groups = {}
        for labels, v in vec.items():
            d = dict(labels)
            le = d.pop("le", None)
            if le is None:
                continue
            groups.setdefault(frozenset(d.items()), []).append(
                (math.inf if le == "+Inf" else float(le), v))
        out = {}
        for key, buckets in groups.items():
            buckets.sort()
            total = buckets[-1][1] if buckets else 0
            if total <= 0:
                continue
            rank, prev_le, prev_count = q * total, 0.0, 0.0
            for le, count in buckets:
                if count >= rank:
                    if math.isinf(le):
                        out[key] = prev_le
                    else:
                        span = count - prev_count
                        out[key] = prev_le + (le - prev_le) * ((rank - prev_count) / span if span else 1)
                    break
                prev_le, prev_count = le, count
        return out


# ---- the workload -----------------------------------------------------------

def set_attr(path, name, value):
    os.setxattr(path, "user.chanfs." + name, value.encode())


def workload(root, stop):
    """Writes to a few channels until `stop` is set: a busy queue drained in
    part by a reader and a FIFO bridge, a topic with a slow subscriber that
    drops, a durable queue (journal fsyncs) and a reader parked on an empty
    queue."""
    os.makedirs(root, exist_ok=True)
    paths = {}
    for name, settings in [("jobs", {"kind": "queue"}),
                           ("news", {"kind": "topic", "overflow": "drop-oldest",
                                     "capacity": "65536"}),
                           ("orders", {"kind": "queue"}),
                           ("audit", {"kind": "queue"})]:
        path = os.path.join(root, name)
        open(path, "a").close()
        for k, v in settings.items():
            set_attr(path, k, v)
        paths[name] = path
    try:
        set_attr(paths["audit"], "durable", "1")
    except OSError:
        pass  # a mount without a state directory: no journal
    # A FIFO bridge out of "jobs" with a program reading the FIFO: the
    # Bridges panel's line (it takes jobs' messages as a second reader).
    fifo_dir = tempfile.mkdtemp(prefix="chanfs-dashboard-fifo-")
    fifo = os.path.join(fifo_dir, "jobs.fifo")
    try:
        set_attr(paths["jobs"], "fifo", "out:" + fifo)
        fifo_reader = threading.Thread(target=drain, args=(fifo, stop), daemon=True)
        fifo_reader.start()
    except OSError:
        fifo_reader = None
    fds = [os.open(paths["news"], os.O_RDONLY | os.O_NONBLOCK)]  # a slow subscriber
    jobs_reader = os.open(paths["jobs"], os.O_RDONLY | os.O_NONBLOCK)
    writers = {n: os.open(p, os.O_WRONLY) for n, p in paths.items()}
    blocked = threading.Thread(target=lambda: os.read(os.open(paths["orders"], os.O_RDONLY), 1),
                               daemon=True)
    i = 0
    try:
        while not stop.is_set():
            i += 1
            os.write(writers["jobs"], b"job %d\n" % i)
            os.write(writers["news"], b"headline %d %s\n" % (i, b"x" * 200))
            if i % 3 == 0:
                os.write(writers["audit"], b"audit %d\n" % i)
            if i % 2 == 0:
                try:
                    os.read(jobs_reader, 4096)
                except BlockingIOError:
                    pass
            if i == 50:
                blocked.start()  # a reader parked on the empty queue
            time.sleep(0.004 + 0.004 * math.sin(i / 40) ** 2)
    finally:
        for fd in fds + [jobs_reader] + list(writers.values()):
            os.close(fd)
        try:
            os.removexattr(paths["jobs"], "user.chanfs.fifo")
        except OSError:
            pass
        if fifo_reader:
            fifo_reader.join(timeout=5)
        shutil.rmtree(fifo_dir, ignore_errors=True)


def drain(fifo, stop):
    """Reads the FIFO until `stop`, slowly, as a consumer would."""
    for _ in range(100):
        if os.path.exists(fifo):
            break
        time.sleep(0.02)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while not stop.is_set():
            try:
                os.read(fd, 512)
            except BlockingIOError:
                pass
            time.sleep(0.01)
    finally:
        os.close(fd)


# ---- drawing ----------------------------------------------------------------

def fmt(value, unit):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "percentunit":
        return f"{value * 100:.2f}%"
    if unit == "bytes":
        for step in ("B", "KiB", "MiB", "GiB"):
            if abs(value) < 1024 or step == "GiB":
                return f"{value:.0f} {step}" if step == "B" else f"{value:.1f} {step}"
            value /= 1024
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1e3:.2f} ms"
        return f"{value:.2f} s"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}K"
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def legend(fmt_text, labels, expr):
    if not fmt_text:
        return ", ".join(f'{k}="{v}"' for k, v in sorted(labels)) or expr
    d = dict(labels)
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: d.get(m.group(1), ""), fmt_text)


def chart(series, unit, width, height):
    """An SVG line chart of {name: [(t, v)]}."""
    left, bottom, top, right = 62, 18, 6, 8
    pts = [p for s in series.values() for p in s]
    if not pts:
        return '<div class="nodata">No data</div>'
    t0 = min(t for t, _ in pts)
    t1 = max(max(t for t, _ in pts), t0 + 1e-9)
    vmax = max(max(v for _, v in pts), 1e-12)
    w, h = width - left - right, height - top - bottom
    out = [f'<svg width="{width}" height="{height}">']
    for i in range(5):
        y = top + h - h * i / 4
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
                   f'{html.escape(fmt(vmax * i / 4, unit))}</text>')
    for i in range(4):
        x = left + w * i / 3
        out.append(f'<text x="{x:.1f}" y="{height - 3}" class="axis" text-anchor="middle">'
                   f'{(t0 + (t1 - t0) * i / 3) - t1:+.0f}s</text>')
    for n, (name, points) in enumerate(series.items()):
        path = " ".join(f"{left + w * (t - t0) / (t1 - t0):.1f},{top + h - h * v / vmax:.1f}"
                        for t, v in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[n % len(COLOURS)]}" '
                   f'stroke-width="1.6"/>')
    out.append("</svg>")
    return "".join(out)


def render(dashboard, scrapes, source):
    cell_w, cell_h = 56, 34
    panels = []
    for p in dashboard["panels"]:
        g = p["gridPos"]
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        style = (f"left:{g['x'] * cell_w}px;top:{g['y'] * cell_h}px;"
                 f"width:{g['w'] * cell_w - 8}px;height:{g['h'] * cell_h - 8}px")
        body = ""
        if p["type"] == "stat":
            value = None
            for target in p["targets"]:
                vec = Query(target["expr"]).evaluate(scrapes, len(scrapes) - 1)
                if vec:
                    value = sum(vec.values())
            big = html.escape(fmt(value, unit)) if value is not None else "No data"
            body = f'<div class="stat">{big}</div>'
        else:
            series = {}
            for target in p["targets"]:
                q = Query(target["expr"])
                for i in range(len(scrapes)):
                    for labels, v in q.evaluate(scrapes, i).items():
                        if math.isnan(v):
                            continue
                        name = legend(target.get("legendFormat"), labels, target["expr"])
                        series.setdefault(name, []).append((scrapes[i][0], v))
            # Largest first, so the legend (cut at six) names the lines that matter.
            series = dict(sorted(series.items(), key=lambda kv: -kv[1][-1][1]))
            body = chart(series, unit, g["w"] * cell_w - 8, g["h"] * cell_h - 64)
            items = []
            for n, (name, points) in enumerate(series.items()):
                items.append(f'<span><i style="background:{COLOURS[n % len(COLOURS)]}"></i>'
                             f'{html.escape(name)} {html.escape(fmt(points[-1][1], unit))}</span>')
            body += f'<div class="legend">{"".join(items[:6])}</div>'
        panels.append(f'<div class="panel" style="{style}"><div class="title">'
                      f'{html.escape(p["title"])}</div>{body}</div>')
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"]) * cell_h
    span = scrapes[-1][0] - scrapes[0][0]
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ background:#111217; color:#ccccdc; font:12px sans-serif; margin:0; padding:12px; }}
h1 {{ font-size:16px; margin:0 0 2px 0; }} .note {{ color:#8e8e9e; margin-bottom:10px; }}
.board {{ position:relative; height:{height}px; width:{24 * cell_w}px; }}
.panel {{ position:absolute; background:#181b1f; border:1px solid #2c3235; border-radius:3px;
          padding:4px; box-sizing:border-box; overflow:hidden; }}
.title {{ font-weight:600; margin:2px 4px 4px 4px; }}
.stat {{ font-size:30px; color:#73bf69; text-align:center; margin-top:18px; }}
.nodata {{ color:#8e8e9e; text-align:center; margin-top:40px; }}
.grid {{ stroke:#2c3235; }} .axis {{ fill:#8e8e9e; font-size:10px; }}
.legend span {{ margin-right:10px; white-space:nowrap; font-size:11px; }}
.legend i {{ display:inline-block; width:10px; height:3px; margin-right:4px; vertical-align:middle; }}
</style></head><body>
<h1>{html.escape(dashboard["title"])}</h1>
<div class="note">A preview drawn from packaging/grafana/chanfs-dashboard.json by
tools/scripts/dashboard_preview.py (not Grafana): {len(scrapes)} scrapes of {html.escape(source)}
over {span:.0f} s under a small workload.</div>
<div class="board">{"".join(panels)}</div></body></html>
"""


def screenshot(page, png, width, height):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        sys.exit("dashboard_preview: chromium not found (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={os.path.abspath(png)}",
                        "file://" + os.path.abspath(page)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)


# ---- main -------------------------------------------------------------------

def start_chanfs(binary, workdir):
    mnt, state = os.path.join(workdir, "mnt"), os.path.join(workdir, "state")
    os.makedirs(mnt)
    os.makedirs(state)
    sock = os.path.join(workdir, "metrics.sock")
    proc = subprocess.Popen([binary, state, mnt, "-f", "-o", f"metrics=unix:{sock}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.ismount(mnt) and os.path.exists(sock):
            return proc, mnt, "unix:" + sock
        if proc.poll() is not None:
            sys.exit(f"dashboard_preview: {binary} exited with {proc.returncode}")
        time.sleep(0.05)
    proc.terminate()
    sys.exit("dashboard_preview: chanfs did not mount within 10 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dashboard", default=DASHBOARD)
    ap.add_argument("--chanfs", help="start this chanfs binary on a temporary mount")
    ap.add_argument("--metrics", help="scrape this endpoint: unix:PATH or HOST:PORT")
    ap.add_argument("--mount", help="with --metrics: run the workload under this mount")
    ap.add_argument("--scrapes", type=int, default=16)
    ap.add_argument("--interval", type=float, default=0.75, help="seconds between scrapes")
    ap.add_argument("--html", default=None, help="write the page here (default: beside the PNG)")
    ap.add_argument("--png", default=None, help="screenshot the page into this file (chromium)")
    args = ap.parse_args()
    if bool(args.chanfs) == bool(args.metrics):
        ap.error("give --chanfs BINARY or --metrics ADDRESS")
    with open(args.dashboard) as f:
        dashboard = json.load(f)

    workdir = tempfile.mkdtemp(prefix="chanfs-dashboard-")
    proc = None
    try:
        if args.chanfs:
            proc, mount, address = start_chanfs(args.chanfs, workdir)
            root = os.path.join(mount, "preview")
        else:
            address, mount = args.metrics, args.mount
            root = os.path.join(mount, ".dashboard-preview") if mount else None
        stop = threading.Event()
        worker = None
        if root:
            worker = threading.Thread(target=workload, args=(root, stop), daemon=True)
            worker.start()
        scrapes = []
        start = time.monotonic()
        for i in range(args.scrapes):
            time.sleep(max(0.0, start + i * args.interval - time.monotonic()))
            scrapes.append((time.monotonic() - start, parse_exposition(fetch(address))))
        stop.set()
        if worker:
            worker.join(timeout=10)
        page = args.html or (os.path.splitext(args.png)[0] + ".html" if args.png
                             else os.path.join(workdir, "dashboard.html"))
        with open(page, "w") as f:
            f.write(render(dashboard, scrapes, "chanfs /metrics"))
        if args.png:
            height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"]) * 34
            screenshot(page, args.png, 24 * 56 + 24, height + 80)
            if not args.html:
                os.unlink(page)
            print(f"dashboard_preview: wrote {args.png}")
        else:
            print(f"dashboard_preview: wrote {page}")
        if root and not args.chanfs:
            shutil.rmtree(root, ignore_errors=True)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            subprocess.run(["fusermount3", "-u", "-z", os.path.join(workdir, "mnt")],
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
