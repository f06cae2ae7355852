"""Times nfoursid and pykalman's EM on the data of crates/sysid's criterion bench.

    DYNREC_SYSID_BENCH_DATA=/tmp/bench.csv cargo bench -p dynrec-sysid   # writes the data
    python3 scripts/bench_sysid.py /tmp/bench.csv

Neither tool takes several sequences: nfoursid runs on the 32 sequences concatenated (the same
9600 rows; the estimate is biased by the joins, only the time matters here) and pykalman's EM
runs 50 iterations on the concatenated measurements without inputs (pykalman cannot learn an
input matrix), which is the same per-row filtering and smoothing work.
"""

import sys
import time

import numpy as np
import pandas as pd


def best_of(f, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def main():
    frame = pd.read_csv(sys.argv[1])
    u = frame[["u1"]].to_numpy()
    z = frame[["z1"]].to_numpy()

    from nfoursid.nfoursid import NFourSID

    def nfoursid():
        nfs = NFourSID(
            pd.DataFrame({"u1": u[:, 0], "z1": z[:, 0]}),
            output_columns=["z1"],
            input_columns=["u1"],
            num_block_rows=10,
        )
        nfs.subspace_identification()
        nfs.system_identification(rank=3)

    best, median = best_of(nfoursid, 5)
    print(f"nfoursid (9600 rows, i = 10, n = 3): best {best * 1e3:.1f} ms, median {median * 1e3:.1f} ms")

    from pykalman import KalmanFilter

    def pykalman_em():
        kf = KalmanFilter(
            transition_matrices=np.diag([0.8, 0.7, 0.4]),
            observation_matrices=np.ones((1, 3)),
            transition_covariance=np.eye(3) * 1e-2,
            observation_covariance=np.eye(1) * 1e-1,
            initial_state_mean=np.zeros(3),
            initial_state_covariance=np.eye(3),
            em_vars=[
                "transition_matrices",
                "observation_matrices",
                "transition_covariance",
                "observation_covariance",
                "initial_state_mean",
                "initial_state_covariance",
            ],
        )
        kf.em(z, n_iter=50)

    best, median = best_of(pykalman_em, 2)
    print(f"pykalman EM, 50 iterations (9600 rows, n = 3): best {best:.2f} s, median {median:.2f} s")


if __name__ == "__main__":
    main()
