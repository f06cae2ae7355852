#!/usr/bin/env python3
"""Time pykalman's filter and RTS smoother: n=5 states, p=2 outputs, 1e5 steps, no inputs.

    python3 scripts/bench_pykalman.py [--steps 100000] [--repeats 3]

A random stable system (seeded): A = orthogonal rotation scaled to spectral radius 0.95,
random H, Q = 0.01 I, R = 0.1 I; data simulated from it. Prints best-of-N seconds and
microseconds per step. Note KalmanFilter.smooth re-runs the forward filter internally, so the
smoother time includes one filter pass.
"""
import argparse
import time

import numpy as np
from pykalman import KalmanFilter

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=100_000)
ap.add_argument("--repeats", type=int, default=3)
a = ap.parse_args()

rng = np.random.default_rng(12345)
n, p, T = 5, 2, a.steps
A = 0.95 * np.linalg.qr(rng.normal(size=(n, n)))[0]  # all |eig| = 0.95
H, Q, R = rng.normal(size=(p, n)), 0.01 * np.eye(n), 0.1 * np.eye(p)
x, Z = np.zeros(n), np.empty((T, p))
W, V = rng.multivariate_normal(np.zeros(n), Q, T), rng.multivariate_normal(np.zeros(p), R, T)
for k in range(T):
    x = A @ x + W[k]
    Z[k] = H @ x + V[k]

kf = KalmanFilter(transition_matrices=A, observation_matrices=H, transition_covariance=Q,
                  observation_covariance=R, initial_state_mean=np.zeros(n),
                  initial_state_covariance=np.eye(n))
for name, fn in (("filter", kf.filter), ("smooth", kf.smooth)):
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        fn(Z)
        times.append(time.perf_counter() - t0)
    best = min(times)
    print(f"pykalman {name}: n={n} p={p} steps={T}  best of {a.repeats}: "
          f"{best:.3f} s  {best / T * 1e6:.2f} us/step")
