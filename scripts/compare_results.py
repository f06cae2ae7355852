#!/usr/bin/env python3
"""Compares the numbers of two results trees: the eigenvalues, eigen errors and metrics of every
report.json under OLD with the same run's under NEW (timings excluded; fields only NEW has, added
by newer code, are skipped). Prints each run that differs beyond the relative tolerance and a
count of identical reports. Standard library only.

Usage: scripts/compare_results.py OLD NEW [--tol 1e-12]
e.g. after `git archive <commit> results | tar -x -C /tmp/old`, rerunning the experiments:
     scripts/compare_results.py /tmp/old/results results"""
import json, sys, pathlib, math

def flat(x, prefix=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from flat(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from flat(v, f"{prefix}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield prefix, float(x)

def numbers(report):
    out = {}
    for key in ("eigenvalues", "eigen_error", "metrics"):
        for k, v in flat(report.get(key, {}), key):
            if "seconds" in k:
                continue
            out[k] = v
    return out

old, new = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-12
runs = identical = 0
for f in sorted(old.rglob("report.json")):
    rel = f.relative_to(old)
    g = new / rel
    if not g.exists():
        print(f"MISSING in new: {rel}")
        continue
    a, b = numbers(json.load(open(f))), numbers(json.load(open(g)))
    runs += 1
    diffs = []
    for k in sorted(set(a) | set(b)):
        if k not in b:
            diffs.append((k, a.get(k), None, math.inf))
            continue
        if k not in a:
            continue  # a field the newer code adds
        x, y = a[k], b[k]
        if x == y or (math.isnan(x) and math.isnan(y)):
            continue
        r = abs(x - y) / max(abs(x), abs(y), 1e-300)
        if r > tol:
            diffs.append((k, x, y, r))
    if not diffs:
        identical += 1
        continue
    worst = max(d[3] for d in diffs)
    print(f"{rel.parent}: {len(diffs)} differ (worst relative {worst:.2e})")
    for k, x, y, r in sorted(diffs, key=lambda d: -d[3])[:4]:
        print(f"    {k}: {x} -> {y} ({r:.1e})")
print(f"{identical} of {runs} reports identical (relative tol {tol})")
