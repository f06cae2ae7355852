#!/usr/bin/env python3
"""Compares two output folders of one dynrec experiment (e.g. an unsharded run and the merge
of its shards): every number must be identical, only timings may differ.

    python3 scripts/slurm/compare.py DIR_A DIR_B

- outcomes.json: equal once the timings (keys `seconds`, `*_seconds`) and each report's
  location (`dir`) are left out;
- README.md: equal once the table rows of timings (those that mention seconds) are left out;
- sweep plots (sweep_*.svg): byte for byte;
- each run's outcome.json: as outcomes.json.

Exits 0 when equal, 1 with the first differences otherwise. Python standard library only.
"""

import json
import sys
from pathlib import Path


def strip(value):
    """The value without timings and locations."""
    if isinstance(value, dict):
        return {
            k: strip(v)
            for k, v in value.items()
            if k not in ("seconds", "dir") and not k.endswith("_seconds")
        }
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def first_difference(a, b, path="$"):
    """Where two JSON values first differ, or None."""
    if type(a) is not type(b):
        return f"{path}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: present on one side only"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def readme_lines(path):
    return [line for line in path.read_text().splitlines() if "seconds" not in line]


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    a, b = Path(sys.argv[1]), Path(sys.argv[2])
    problems = []
    summary_a = json.loads((a / "outcomes.json").read_text())
    summary_b = json.loads((b / "outcomes.json").read_text())
    found = first_difference(strip(summary_a), strip(summary_b))
    if found:
        problems.append(f"outcomes.json differs at {found}")
    if readme_lines(a / "README.md") != readme_lines(b / "README.md"):
        problems.append("README.md differs (beyond timings)")
    plots_a = sorted(p.name for p in a.glob("sweep_*.svg"))
    plots_b = sorted(p.name for p in b.glob("sweep_*.svg"))
    if plots_a != plots_b:
        problems.append(f"sweep plots differ: {plots_a} vs {plots_b}")
    for name in plots_a:
        if name in plots_b and (a / name).read_bytes() != (b / name).read_bytes():
            problems.append(f"{name} differs")
    for outcome in summary_a.get("outcomes", []):
        run = outcome["name"]
        one = json.loads((a / run / "outcome.json").read_text())
        other = json.loads((b / run / "outcome.json").read_text())
        found = first_difference(strip(one), strip(other))
        if found:
            problems.append(f"{run}/outcome.json differs at {found}")
    runs = len(summary_a.get("outcomes", []))
    if problems:
        for p in problems:
            print(f"compare: {p}", file=sys.stderr)
        return 1
    print(
        f"compare: {a} and {b} agree ({runs} runs; outcomes, README and "
        f"{len(plots_a)} sweep plots identical but for timings)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
