import subprocess, sys, re
def callers(f, fn):
    out = subprocess.run(["callgrind_annotate", "--tree=caller", "--threshold=100", f], capture_output=True, text=True).stdout
    blocks = out.split("\n\n")
    res = {}
    for b in blocks:
        lines = b.strip().splitlines()
        star = [l for l in lines if re.match(r"\s*[\d,]+ \([^)]*\)\s+\*", l)]
        if not star or fn not in star[0]: continue
        for l in lines:
            m = re.match(r"\s*([\d,]+) \([^)]*\)\s+<\s+(.*) \(([\d,]+)x\)", l)
            if m: res[m.group(2)[:140]] = (int(m.group(1).replace(",","")), int(m.group(3).replace(",","")))
    return res
a, b, fn, n = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
A, B = callers(a, fn), callers(b, fn)
rows = []
for k in set(A) | set(B):
    ia, ca = A.get(k, (0, 0)); ib, cb = B.get(k, (0, 0))
    if cb - ca: rows.append(((cb - ca) / n, (ib - ia) / n, k))
for c, i, k in sorted(rows, reverse=True):
    print(f"{c:6.2f} calls/msg {i:8.1f} Ir/msg  {k}")
