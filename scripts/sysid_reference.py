"""Independent references for dynrec's system identification (crates/sysid).

    python3 scripts/sysid_reference.py IN.json OUT.json

IN.json has "mode": "nfoursid" or "pykalman".

nfoursid: {"u": [[..m..] per row], "z": [[..p..] per row], "block_rows": i, "order": n,
           "markov": count}. nfoursid fits x_{k+1} = A x_k + B u_k, y_k = C x_k + D u_k to the raw
           rows, so its Markov parameters D, CB, CAB, ... equal dynrec's H B, H A B, H A^2 B, ...
           Writes {"eig": [[re, im], ...], "markov": [p x m matrices as lists of rows], "seconds"}.

pykalman: {"z": rows, "init": {"A", "H", "Q", "R", "x0", "P0"}, "iterations": N}. Runs N EM
           steps learning A, H, Q, R, x0, P0 (pykalman has no learned input matrix, so the data
           has no inputs) and writes {"log_likelihoods": [L_0, ..., L_N], "seconds"}, L_t being the
           log-likelihood before step t+1 (L_N: after the last).
"""

import json
import sys
import time

import numpy as np


def run_nfoursid(spec):
    import pandas as pd
    from nfoursid.nfoursid import NFourSID

    u = np.asarray(spec["u"], dtype=float)
    z = np.asarray(spec["z"], dtype=float)
    columns = {f"u{j}": u[:, j] for j in range(u.shape[1])}
    columns.update({f"z{j}": z[:, j] for j in range(z.shape[1])})
    frame = pd.DataFrame(columns)
    start = time.perf_counter()
    nfs = NFourSID(
        frame,
        output_columns=[f"z{j}" for j in range(z.shape[1])],
        input_columns=[f"u{j}" for j in range(u.shape[1])],
        num_block_rows=spec["block_rows"],
    )
    nfs.subspace_identification()
    ss, _ = nfs.system_identification(rank=spec["order"])
    seconds = time.perf_counter() - start
    a, b, c, d = ss.a, ss.b, ss.c, ss.d
    markov = [d]
    apow_b = b
    for _ in range(spec["markov"] - 1):
        markov.append(c @ apow_b)
        apow_b = a @ apow_b
    eig = np.linalg.eigvals(a)
    return {
        "eig": [[float(e.real), float(e.imag)] for e in eig],
        "markov": [m.tolist() for m in markov],
        "seconds": seconds,
    }


def run_pykalman(spec):
    from pykalman import KalmanFilter

    z = np.asarray(spec["z"], dtype=float)
    init = {k: np.asarray(v, dtype=float) for k, v in spec["init"].items()}
    kf = KalmanFilter(
        transition_matrices=init["A"],
        observation_matrices=init["H"],
        transition_covariance=init["Q"],
        observation_covariance=init["R"],
        initial_state_mean=init["x0"],
        initial_state_covariance=init["P0"],
        transition_offsets=np.zeros(init["A"].shape[0]),
        observation_offsets=np.zeros(init["H"].shape[0]),
    )
    em_vars = [
        "transition_matrices",
        "observation_matrices",
        "transition_covariance",
        "observation_covariance",
        "initial_state_mean",
        "initial_state_covariance",
    ]
    lls = []
    start = time.perf_counter()
    for _ in range(spec["iterations"]):
        lls.append(float(kf.loglikelihood(z)))
        kf = kf.em(z, n_iter=1, em_vars=em_vars)
    lls.append(float(kf.loglikelihood(z)))
    seconds = time.perf_counter() - start
    return {"log_likelihoods": lls, "seconds": seconds}


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = {"nfoursid": run_nfoursid, "pykalman": run_pykalman}[spec["mode"]](spec)
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
