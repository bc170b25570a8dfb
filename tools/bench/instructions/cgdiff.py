import subprocess, sys, re
def load(f, inc):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=" + ("yes" if inc else "no"), f], capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            name = re.sub(r"\[.*\]$", "", m.group(2)).strip()
            name = re.sub(r"^\S*:(?=[A-Za-z_?])", "", name, count=1) if name.startswith(".") else name
            d[name] = d.get(name, 0) + int(m.group(1).replace(",", ""))
    return d
a, b, n = sys.argv[1], sys.argv[2], float(sys.argv[3])
inc = len(sys.argv) > 4 and sys.argv[4] == "inc"
A, B = load(a, inc), load(b, inc)
rows = sorted(((B.get(k, 0) - A.get(k, 0)) / n, k) for k in set(A) | set(B))
rows.reverse()
tot = 0
for v, k in rows[: int(sys.argv[5]) if len(sys.argv) > 5 else 45]:
    print(f"{v:9.1f}  {k[:150]}")
print("sum(self) per msg:", sum(v for v, k in rows) if not inc else "")
