#!/usr/bin/env python3
"""Hand-run self-test of kalman_reference.py:  python3 scripts/selftest_reference.py

Generates small systems + data in a temp dir, runs the reference script (CLI, --check against
filterpy) and checks it against brute-force Gaussian conditioning of the whole joint
distribution of one sequence (no recursion at all, so the index mapping is tested
independently of both libraries), plus the usual sanity properties:
  filtered var <= predicted var (equal on fully-missing rows), smoothed var <= filtered var,
  last smoothed row == last filtered row.
"""
import csv
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kalman_reference as kr  # noqa: E402


def brute_force(s, U, Z, upto):
    """E/Cov of all states given the present z's in rows 0..upto, via the joint Gaussian."""
    A, B, H, Q, R = s["A"], s["B"], s["H"], s["Q"], s["R"]
    T, n = len(Z), A.shape[0]
    mu, Sig = np.zeros((T, n)), np.zeros((T * n, T * n))
    mu[0], Sig[:n, :n] = s["x0"], s["P0"]
    for r in range(1, T):  # x_r = A x_{r-1} + B u_r + w_r
        mu[r] = A @ mu[r - 1] + B @ U[r]
        Sig[r * n:(r + 1) * n, :r * n] = A @ Sig[(r - 1) * n:r * n, :r * n]
        Sig[:r * n, r * n:(r + 1) * n] = Sig[r * n:(r + 1) * n, :r * n].T
        Sig[r * n:(r + 1) * n, r * n:(r + 1) * n] = A @ Sig[(r - 1) * n:r * n,
                                                          (r - 1) * n:r * n] @ A.T + Q
    sel = [(r, i) for r in range(upto + 1) for i in range(H.shape[0]) if not np.isnan(Z[r, i])]
    C = np.zeros((len(sel), T * n))  # stacked present measurement rows
    for j, (r, i) in enumerate(sel):
        C[j, r * n:(r + 1) * n] = H[i]
    Rz = np.array([[R[i, k] if r == q else 0.0 for (q, k) in sel] for (r, i) in sel])
    S = C @ Sig @ C.T + Rz
    e = np.array([Z[r, i] for r, i in sel]) - C @ mu.ravel()
    K = Sig @ C.T @ np.linalg.inv(S)
    m, P = mu.ravel() + K @ e, Sig - K @ C @ Sig
    ll = -0.5 * (len(sel) * math.log(2 * math.pi) + np.linalg.slogdet(S)[1] + e @ np.linalg.solve(S, e))
    return m.reshape(T, n), P, ll


def make_case(rng, n, m, p, rows_per_seq, missing):
    A = np.array([[0.9, -0.2], [0.2, 0.9]]) if n == 2 else np.diag(rng.uniform(0.5, 0.95, n))
    L = rng.normal(size=(p, p)) * 0.05
    s = dict(A=A, B=rng.normal(size=(n, m)), H=rng.normal(size=(p, n)), Q=1e-2 * np.eye(n),
             R=L @ L.T + 2.5e-3 * np.eye(p), x0=rng.normal(size=n), P0=np.eye(n) * 0.5)
    rows = []
    for q, T in enumerate(rows_per_seq):
        x = rng.multivariate_normal(s["x0"], s["P0"])
        for r in range(T):
            u = rng.normal(size=m)
            if r > 0:
                x = A @ x + s["B"] @ u + rng.multivariate_normal(np.zeros(n), s["Q"])
            z = s["H"] @ x + rng.multivariate_normal(np.zeros(p), s["R"])
            z = [("" if (q, r, i) in missing or (q, r, None) in missing else repr(float(v)))
                 for i, v in enumerate(z)]
            rows.append([str(q + 7), repr(0.1 * r)] + [repr(float(v)) for v in u] + z + [repr(float(v)) for v in x])
    header = ["seq", "t"] + [f"u{i+1}" for i in range(m)] + [f"z{i+1}" for i in range(p)] \
        + [f"x{i+1}" for i in range(n)]
    return s, header, rows


def mat(M):
    return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in M) + "]"


def run_case(name, s, header, rows, tmp):
    sp, dp = os.path.join(tmp, f"{name}.toml"), os.path.join(tmp, f"{name}.csv")
    with open(sp, "w") as f:
        for k in ("A", "B", "H", "Q", "R", "P0"):
            f.write(f"{k} = {mat(s[k])}\n")
        f.write(f"x0 = [{', '.join(repr(float(v)) for v in s['x0'])}]\n")
    with open(dp, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header] + rows)
    fo, so = os.path.join(tmp, f"{name}_f.csv"), os.path.join(tmp, f"{name}_s.csv")
    res = subprocess.run([sys.executable, os.path.join(HERE, "kalman_reference.py"), "--system", sp,
                          "--data", dp, "--filtered", fo, "--smoothed", so, "--check"],
                         capture_output=True, text=True)
    print(f"[{name}]", res.stdout.strip().replace("\n", " | "), res.stderr.strip())
    assert res.returncode == 0
    cli_ll = float(res.stdout.split()[1])

    F = np.loadtxt(fo, delimiter=",", skiprows=1)
    G = np.loadtxt(so, delimiter=",", skiprows=1, ndmin=2)
    F = F.reshape(len(rows), -1)
    n = s["A"].shape[0]
    s2 = kr.load_system(sp)
    _, _, U, Z = kr.load_data(dp, s2)
    seqs = np.array([int(r[0]) for r in rows])
    worst, ll_sum = 0.0, 0.0
    for q in dict.fromkeys(seqs):
        idx = np.flatnonzero(seqs == q)
        fm, fP, sm, sP, ll = kr.run_pykalman(s2, U[idx], Z[idx])
        # file == in-memory result; t column is the data's t
        assert np.array_equal(F[idx, 2:2 + n], fm) and np.array_equal(G[idx, 2:2 + n], sm)
        assert np.array_equal(F[idx, 1], [float(rows[k][1]) for k in idx])
        T = len(idx)
        for r in range(T):  # brute-force filtered (condition on rows <= r) and smoothed
            bm, bP, _ = brute_force(s2, U[idx], Z[idx], r)
            worst = max(worst, abs(bm[r] - fm[r]).max(), abs(bP[r*n:(r+1)*n, r*n:(r+1)*n] - fP[r]).max())
        bm, bP, bll = brute_force(s2, U[idx], Z[idx], T - 1)
        worst = max(worst, abs(bm - sm).max(), abs(ll - bll),
                    max(abs(bP[r*n:(r+1)*n, r*n:(r+1)*n] - sP[r]).max() for r in range(T)))
        ll_sum += ll
        for r in range(T):
            pred = s2["P0"] if r == 0 else s2["A"] @ fP[r - 1] @ s2["A"].T + s2["Q"]
            assert (np.diag(fP[r]) <= np.diag(pred) + 1e-15).all()
            if np.isnan(Z[idx][r]).all():
                assert np.allclose(fP[r], pred, rtol=1e-14, atol=0)
            assert (np.diag(sP[r]) <= np.diag(fP[r]) + 1e-15).all()
        assert np.array_equal(sm[-1], fm[-1]) and np.array_equal(sP[-1], fP[-1])
        assert np.array_equal(G[idx[-1]], F[idx[-1]])
    assert abs(ll_sum - cli_ll) < 1e-9
    print(f"[{name}] max |pykalman - brute force| = {worst:.3e} (means, covariances, loglik)")
    assert worst < 1e-9


def main():
    rng = np.random.default_rng(20240601)
    with tempfile.TemporaryDirectory() as tmp:
        # the brief's case: n=2, m=1, p=1, 50 rows in 2 sequences, a few missing z
        run_case("basic", *make_case(rng, 2, 1, 1, [30, 20],
                                     {(0, 0, 0), (0, 11, 0), (0, 12, 0), (1, 19, 0)}), tmp)
        # p=2 with correlated R: partially missing rows (fill_partial) + a fully missing row
        run_case("partial", *make_case(rng, 3, 2, 2, [25, 15],
                                       {(0, 3, 0), (0, 9, 1), (0, 10, None), (1, 0, 1), (1, 14, 0)}), tmp)
        # single-row sequences (padding path), p=2
        run_case("single", *make_case(rng, 2, 1, 2, [1, 1, 4], {(1, 0, 1)}), tmp)
    print("selftest ok")


if __name__ == "__main__":
    main()
