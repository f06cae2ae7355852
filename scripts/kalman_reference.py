#!/usr/bin/env python3
"""Independent reference Kalman filter / RTS smoother for cross-checking dynrec's `truth` crate.

    python3 scripts/kalman_reference.py --system S.toml --data D.csv \
        [--filtered F.csv] [--smoothed G.csv] [--check]

Formats are those of docs/formats.md. Output: one row per data row, in
data row order: `seq` (if the data has it), `t` (the data's t cell verbatim, else the 0-based row
index within its sequence), `x1..xn`, `var1..varn` (posterior mean, diagonal of the posterior
covariance), floats written with repr() (shortest exact round-trip). Stdout: `loglik <value>`
(summed over sequences); with --check also the filterpy comparison (exit 1 if it exceeds 1e-8).

Index mapping, dynrec -> pykalman (0-based rows r = 0..T-1 of one sequence):
  dynrec: x_r = A x_{r-1} + B u_r + w,  z_r = H x_r + v,  prior x_0 ~ N(x0, P0) BEFORE z_0;
          u_0 is never used.
  pykalman: initial_state_mean/covariance is the prior at t=0 (no predict before the first
          update), and transition_offsets[t] is used in the step t -> t+1, so
          transition_offsets[r] = B @ u[r+1], shape (T-1, n).

Missing measurements (empty z cell):
  * every z missing in a row -> the whole row is masked (numpy masked array); pykalman then does
    a pure prediction and that row adds nothing to the log-likelihood.
  * some z missing -> pykalman cannot do this natively (it ignores a row if ANY component is
    masked), so the row is rewritten into an exactly equivalent complete row with constant R
    (see fill_partial): posterior is identical, and the log-likelihood gains a known constant
    that is subtracted again.
  * single-row sequences get a fully masked dummy row appended (pykalman transposes a (1, p)
    observation array); a trailing pure-prediction row changes neither filtered nor smoothed
    values of the real row, nor the log-likelihood. The dummy row is dropped from the output.

Log-likelihood: pykalman's `loglikelihood` sums, over rows with no masked component,
log N(z_r; H x_r|r-1, S_r) computed as -1/2 (p log 2pi + log det S + e' S^-1 e), i.e. it DOES
include the 2pi constant, matching dynrec's sum_k -1/2 (p_k log 2pi + log det S_k + e' S^-1 e).
(Caveats: pykalman inverts S with pinv, and adds 1e-7 I to S only if its Cholesky fails.)
"""
import argparse
import csv
import math
import re
import sys
import tomllib

import numpy as np
from pykalman import KalmanFilter


# ---------------------------------------------------------------- input files
def load_system(path):
    with open(path, "rb") as f:
        d = tomllib.load(f)
    unknown = set(d) - {"A", "B", "H", "Q", "R", "x0", "P0"}
    if unknown:
        sys.exit(f"{path}: unknown keys {sorted(unknown)}")
    A = np.array(d["A"], float)
    n = A.shape[0]
    s = dict(A=A, H=np.array(d["H"], float), Q=np.array(d["Q"], float),
             R=np.array(d["R"], float),
             B=np.array(d["B"], float) if "B" in d else np.zeros((n, 0)),
             x0=np.array(d.get("x0", np.zeros(n)), float),
             P0=np.array(d["P0"], float) if "P0" in d else np.eye(n))
    return s


def load_data(path, sys_):
    """Returns (header, rows, U, Z) with Z[r, i] = nan for a missing measurement."""
    with open(path, newline="") as f:
        rd = csv.reader(f)
        header = [h.strip() for h in next(rd)]
        # a blank line is one empty cell: a missing z in a one-column file, else ragged
        rows = [r if r else [""] for r in rd]
    for j, h in enumerate(header):
        if not (h in ("seq", "t") or re.fullmatch(r"[uzx][1-9][0-9]*", h)):
            sys.exit(f"{path}: line 1, column {j + 1}: unknown column {h!r}")
    col = {h: j for j, h in enumerate(header)}
    m, p = sys_["B"].shape[1], sys_["H"].shape[0]
    ucols = sorted((h for h in header if h[0] == "u"), key=lambda h: int(h[1:]))
    zcols = sorted((h for h in header if h[0] == "z"), key=lambda h: int(h[1:]))
    if ucols != [f"u{i + 1}" for i in range(m)]:
        sys.exit(f"{path}: input columns {ucols} do not match B with {m} columns")
    if zcols != [f"z{i + 1}" for i in range(p)]:
        sys.exit(f"{path}: measurement columns {zcols} do not match H with {p} rows")

    def num(r, line, h, allow_empty):
        cell = r[col[h]].strip()
        if cell == "" and allow_empty:
            return math.nan
        try:
            return float(cell)
        except ValueError:
            sys.exit(f"{path}: line {line}, column {col[h] + 1} ({h}): not a number: {cell!r}")

    U, Z = np.zeros((len(rows), m)), np.zeros((len(rows), p))
    for k, r in enumerate(rows):
        if len(r) != len(header):
            sys.exit(f"{path}: line {k + 2}: {len(r)} cells, header has {len(header)}")
        U[k] = [num(r, k + 2, h, False) for h in ucols]
        # seq and t are only validated here; they are written back verbatim
        if "t" in col:
            num(r, k + 2, "t", False)
        if "seq" in col and num(r, k + 2, "seq", False) % 1 != 0:
            sys.exit(f"{path}: line {k + 2}, column {col['seq'] + 1} (seq): not an integer")
        Z[k] = [num(r, k + 2, h, True) for h in zcols]
    return header, rows, U, Z


# ---------------------------------------------------------------- pykalman run
def fill_partial(z, H, R):
    """Exact complete-row stand-in for a row whose z has missing entries (nan), keeping R.

    Present set P, missing set M. Use H~_M = R_MP R_PP^-1 H_P and z~_M = R_MP R_PP^-1 z_P. Then
    z~_M - H~_M x = R_MP R_PP^-1 v_P is exactly the conditional mean of v_M given v_P, so the
    extra rows only observe that the independent residual e ~ N(0, R_M|P) equals 0: no
    information about x, likelihood factor N(0; 0, R_M|P). Returns (z~, H~, log of that factor).
    (R diagonal: H~_M = 0, z~_M = 0.)
    """
    P, M = ~np.isnan(z), np.isnan(z)
    G = np.linalg.solve(R[np.ix_(P, P)], R[np.ix_(P, M)]).T  # R_MP R_PP^-1
    zt, Ht = z.copy(), H.copy()
    zt[M], Ht[M] = G @ z[P], G @ H[P]
    Rc = R[np.ix_(M, M)] - G @ R[np.ix_(P, M)]  # R_M|P
    extra = -0.5 * (M.sum() * math.log(2 * math.pi) + np.linalg.slogdet(Rc)[1])
    return zt, Ht, extra


def run_pykalman(s, U, Z):
    """One sequence (rows in order). Returns filtered/smoothed means and covariances, loglik."""
    T0, (p, n) = len(Z), s["H"].shape
    if T0 == 1:  # pad: see module docstring
        U, Z = np.vstack([U, np.zeros_like(U)]), np.vstack([Z, np.full((1, p), np.nan)])
    T = len(Z)
    Zt, Ht, correction = Z.copy(), np.repeat(s["H"][None], T, axis=0), 0.0
    for r in range(T):
        miss = np.isnan(Z[r])
        if miss.any() and not miss.all():
            Zt[r], Ht[r], extra = fill_partial(Z[r], s["H"], s["R"])
            correction += extra
    Zm = np.ma.masked_invalid(Zt)  # only fully-missing rows remain masked
    offsets = U[1:] @ s["B"].T  # offsets[r] = B u[r+1]: step r -> r+1
    kf = KalmanFilter(transition_matrices=s["A"], observation_matrices=Ht,
                      transition_covariance=s["Q"], observation_covariance=s["R"],
                      transition_offsets=offsets, observation_offsets=np.zeros(p),
                      initial_state_mean=s["x0"], initial_state_covariance=s["P0"])
    fm, fP = kf.filter(Zm)
    sm, sP = kf.smooth(Zm)
    ll = kf.loglikelihood(Zm) - correction
    return fm[:T0], fP[:T0], sm[:T0], sP[:T0], ll


# ---------------------------------------------------------------- filterpy check
def run_filterpy(s, U, Z):
    """Same model through filterpy: predict(u) / update(z) / rts_smoother.

    filterpy's update needs z of length dim_z, so for partial rows we pass the present
    components with the matching rows of H and R (setting dim_z for that call). Its
    rts_smoother ignores inputs (it uses F x_k as the prediction), so we smooth the
    input-free deviations y_r = x_r - d_r, where d_0 = 0, d_r = A d_{r-1} + B u_r is the
    deterministic input response (same covariances; add d back afterwards). Exact by linearity.
    """
    from filterpy.kalman import KalmanFilter as FKF

    (p, n), m = s["H"].shape, s["B"].shape[1]
    kf = FKF(dim_x=n, dim_z=p, dim_u=m)
    kf.F, kf.H, kf.Q, kf.R = s["A"], s["H"], s["Q"], s["R"]
    kf.B = s["B"] if m else None
    kf.x, kf.P = s["x0"].reshape(n, 1).copy(), s["P0"].copy()
    D = np.zeros((len(Z), n))  # deterministic input response d_r
    for r in range(1, len(Z)):
        D[r] = s["A"] @ D[r - 1] + s["B"] @ U[r]
    xs, Ps, ll = [], [], 0.0
    for r in range(len(Z)):
        if r > 0:
            kf.predict(u=U[r].reshape(m, 1) if m else None)
        P = ~np.isnan(Z[r])
        if P.any():
            kf.dim_z = int(P.sum())
            kf.update(Z[r][P].reshape(-1, 1), R=s["R"][np.ix_(P, P)], H=s["H"][P])
            ll += kf.log_likelihood
        xs.append(kf.x[:, 0] - D[r])  # deviation y_r for the input-free smoother
        Ps.append(kf.P.copy())
    xs, Ps = np.array(xs), np.array(Ps)
    ys, sP, _, _ = kf.rts_smoother(xs, Ps, Fs=[s["A"]] * len(Z), Qs=[s["Q"]] * len(Z))
    return xs + D, Ps, ys + D, sP, ll


# ---------------------------------------------------------------- main
def reference(system_path, data_path, check=False):
    """pykalman's filtered and smoothed estimates of every data row (and, with check, the
    largest differences from filterpy). Returns a dict: "header" (output columns), "filtered"
    and "smoothed" (rows of strings: seq and t verbatim, floats with repr()), "loglik" (summed
    over sequences) and, with check, "check" (max_abs_diff_filtered/smoothed/loglik)."""
    s = load_system(system_path)
    header, rows, U, Z = load_data(data_path, s)
    n = s["A"].shape[0]
    has_seq, has_t = "seq" in header, "t" in header
    seq_of = [r[header.index("seq")].strip() if has_seq else "" for r in rows]
    groups = {}  # seq value -> data row indices, in row order
    for k, q in enumerate(seq_of):
        groups.setdefault(int(float(q)) if has_seq else 0, []).append(k)

    out = {"filtered": [None] * len(rows), "smoothed": [None] * len(rows)}
    total_ll, diff = 0.0, {"filtered": 0.0, "smoothed": 0.0, "loglik": 0.0}
    for idx in groups.values():
        fm, fP, sm, sP, ll = run_pykalman(s, U[idx], Z[idx])
        total_ll += float(ll)
        for j, k in enumerate(idx):
            t = rows[k][header.index("t")].strip() if has_t else str(j)
            lead = [seq_of[k]] if has_seq else []
            for name, mean, cov in (("filtered", fm, fP), ("smoothed", sm, sP)):
                out[name][k] = lead + [t] + [repr(float(v)) for v in
                                             (*mean[j], *np.diag(cov[j]))]
        if check:
            gm, gP, hm, hP, gll = run_filterpy(s, U[idx], Z[idx])
            diff["filtered"] = max(diff["filtered"], abs(gm - fm).max(), abs(gP - fP).max())
            diff["smoothed"] = max(diff["smoothed"], abs(hm - sm).max(), abs(hP - sP).max())
            diff["loglik"] = max(diff["loglik"], abs(gll - ll))

    cols = (["seq"] if has_seq else []) + ["t"] + [f"x{i + 1}" for i in range(n)] \
        + [f"var{i + 1}" for i in range(n)]
    result = {"header": cols, "filtered": out["filtered"], "smoothed": out["smoothed"],
              "loglik": float(total_ll)}
    if check:
        result["check"] = {f"max_abs_diff_{k}": float(v) for k, v in diff.items()}
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--system", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--filtered", help="output CSV of filtered estimates")
    ap.add_argument("--smoothed", help="output CSV of RTS-smoothed estimates")
    ap.add_argument("--check", action="store_true", help="also run filterpy and compare")
    a = ap.parse_args()

    result = reference(a.system, a.data, a.check)
    for name in ("filtered", "smoothed"):
        path = getattr(a, name)
        if path:
            with open(path, "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(result["header"])
                w.writerows(result[name])
    print(f"loglik {result['loglik']!r}")
    if a.check:
        for k, v in result["check"].items():
            print(f"check {k} {v:.3e}")
        if max(result["check"].values()) > 1e-8:
            sys.exit("check FAILED: pykalman and filterpy differ by more than 1e-8")
        print("check ok")


if __name__ == "__main__":
    main()
