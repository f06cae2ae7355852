#!/usr/bin/env python3
"""The reference values dynrec's cross-check tests compare against, stored as JSON fixtures so
that `cargo test` needs no Python.

    python3 scripts/fixtures.py --check     # recompute every reference, compare (exit 1 if off)
    python3 scripts/fixtures.py --update    # recompute every reference and rewrite the fixtures

Run it through scripts/check_fixtures.sh, which makes a virtual environment with the exact
versions of scripts/requirements.txt first (pykalman, filterpy, nfoursid and their numpy,
scipy, pandas).

Each fixture holds its "input" (made by the Rust side: the system and data of the test, see
the `write_fixture_inputs` tests, run with `--ignored`) and the "reference" computed here from
that input alone:

  crates/cli/tests/fixtures/kalman_reference.json
      input: {"system": TOML text, "data": the CSV's lines} (3 sequences x 200 rows, 2 inputs,
      correlated R, 10% missing); reference: pykalman's filtered and smoothed means and
      variances of every row, its log-likelihood, and how far filterpy is from pykalman
      (scripts/kalman_reference.py; refused above 1e-8, as before).
  crates/sysid/tests/fixtures/sysid_reference.json
      three cases, each input being what the test sends to scripts/sysid_reference.py and
      the reference what it returns (without the timing): nfoursid on noise-free and on noisy
      data, pykalman's EM log-likelihoods over 10 iterations.

--check fails when a recomputed number differs from the stored one by more than
TOLERANCE * max(1, |stored|) (eigenvalues compared as sorted lists), or when the structure
differs. The tolerance is far below those of the tests (1e-8 and looser), and above the
rounding differences between BLAS builds.
"""
import argparse
import copy
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

TOLERANCE = 1e-9

KALMAN = os.path.join(ROOT, "crates/cli/tests/fixtures/kalman_reference.json")
SYSID = os.path.join(ROOT, "crates/sysid/tests/fixtures/sysid_reference.json")


def kalman_reference(fixture):
    import kalman_reference as kr

    with tempfile.TemporaryDirectory() as tmp:
        system, data = os.path.join(tmp, "S.toml"), os.path.join(tmp, "D.csv")
        with open(system, "w") as f:
            f.write(fixture["input"]["system"])
        with open(data, "w") as f:
            f.write("".join(line + "\n" for line in fixture["input"]["data"]))
        result = kr.reference(system, data, check=True)
    worst = max(result["check"].values())
    if worst > 1e-8:
        sys.exit(f"pykalman and filterpy differ by {worst:e} (> 1e-8): no fixture written")
    number = lambda cells: [float(c) for c in cells]  # noqa: E731
    return {
        "header": result["header"],
        "filtered": [number(r) for r in result["filtered"]],
        "smoothed": [number(r) for r in result["smoothed"]],
        "loglik": result["loglik"],
        "filterpy": result["check"],
    }


def sysid_reference(case):
    import sysid_reference as sr

    spec = case["input"]
    out = {"nfoursid": sr.run_nfoursid, "pykalman": sr.run_pykalman}[spec["mode"]](spec)
    out.pop("seconds", None)
    return out


def compare(stored, fresh, path, problems, sort=False):
    """Appends to `problems` every place where `fresh` differs from `stored`."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        if stored.keys() != fresh.keys():
            problems.append(f"{path}: keys {sorted(stored)} != {sorted(fresh)}")
            return
        for k in stored:
            compare(stored[k], fresh[k], f"{path}.{k}", problems, sort=(k == "eig"))
    elif isinstance(stored, list) and isinstance(fresh, list):
        if len(stored) != len(fresh):
            problems.append(f"{path}: {len(stored)} entries stored, {len(fresh)} computed")
            return
        if sort:
            stored, fresh = sorted(stored), sorted(fresh)
        for i, (a, b) in enumerate(zip(stored, fresh)):
            compare(a, b, f"{path}[{i}]", problems)
    elif isinstance(stored, (int, float)) and isinstance(fresh, (int, float)):
        if ".filterpy." in path:
            return  # informative only (checked against 1e-8 when computed)
        if not abs(fresh - stored) <= TOLERANCE * max(1.0, abs(stored)):
            problems.append(f"{path}: stored {stored!r}, computed {fresh!r}")
    elif stored != fresh:
        problems.append(f"{path}: stored {stored!r}, computed {fresh!r}")


def dumps(value, indent=0):
    """JSON with one line per list of numbers (a row) and per string, for readable diffs."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list, str)) for v in value):
        items = [inner + dumps(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="compare, exit 1 on a difference")
    mode.add_argument("--update", action="store_true", help="rewrite the references")
    a = ap.parse_args()

    problems = []
    for path, fill in ((KALMAN, "kalman"), (SYSID, "sysid")):
        with open(path) as f:
            stored = json.load(f)
        fresh = copy.deepcopy(stored)
        if fill == "kalman":
            fresh["reference"] = kalman_reference(stored)
        else:
            for case in fresh["cases"].values():
                case["reference"] = sysid_reference(case)
        name = os.path.relpath(path, ROOT)
        if a.update:
            with open(path, "w") as f:
                f.write(dumps(fresh) + "\n")
            print(f"wrote {name}")
        else:
            before = len(problems)
            compare(stored, fresh, name, problems)
            print(f"{name}: {'ok' if len(problems) == before else 'DIFFERS'}")
    if problems:
        for p in problems[:50]:
            print(p, file=sys.stderr)
        sys.exit(f"{len(problems)} reference value(s) differ from the fixtures by more than "
                 f"{TOLERANCE} relative: regenerate with scripts/check_fixtures.sh --update "
                 "and review the change")
    if a.check:
        print(f"every reference value within {TOLERANCE} (relative) of its fixture")


if __name__ == "__main__":
    main()
