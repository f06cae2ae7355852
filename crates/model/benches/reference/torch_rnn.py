"""PyTorch reference for the training-speed benchmark of dynrec-model (CPU, float32).

Reads the workload written by `cargo bench -p dynrec-model --bench train_step`
(standardised data exactly as the network sees it, initial weights, per-step learning rates)
and runs the same 100 Adam steps of the linear Elman network

    h_k = U h_{k-1} + W x_k + b,   y_k = V h_k + c,   loss = mean (y_k - z_k)^2

with full BPTT, global-norm gradient clipping and Adam (eps 1e-8), twice: with the usual
Python loop over time steps, and with the same parallel prefix scan as the Burn model.
Prints one JSON line per variant: name, ms_per_step, final_loss, threads.

usage: python torch_rnn.py WORKLOAD.json [--threads N]
"""

import json
import sys
import time

import torch

REPEATS = 3


def load(path):
    with open(path) as f:
        w = json.load(f)
    B, T, d, p, n = w["batch"], w["steps"], w["d_input"], w["d_output"], w["d_hidden"]
    x = torch.tensor(w["x"], dtype=torch.float32).reshape(B, T, d)
    z = torch.tensor(w["z"], dtype=torch.float32).reshape(B, T, p)
    init = {
        "U": torch.tensor(w["u"], dtype=torch.float32).reshape(n, n),
        "W": torch.tensor(w["w"], dtype=torch.float32).reshape(n, d),
        "V": torch.tensor(w["v"], dtype=torch.float32).reshape(p, n),
        "b": torch.tensor(w["b"], dtype=torch.float32).reshape(n),
        "c": torch.tensor(w["c"], dtype=torch.float32).reshape(p),
    }
    return w, x, z, init


def hidden_loop(U, W, b, x):
    B, T, _ = x.shape
    drive = (x @ W.T + b).transpose(0, 1)  # [T, B, n], computed once
    h = drive[0]
    states = [h]
    for t in range(1, T):
        h = h @ U.T + drive[t]
        states.append(h)
    return torch.stack(states, dim=1)  # [B, T, n]


def hidden_scan(U, W, b, x):
    B, T, _ = x.shape
    n = U.shape[0]
    s = (x @ W.T + b).transpose(0, 1).reshape(T * B, n)  # time-major
    power = U.T
    stride = 1
    while stride < T:
        moved = s[: (T - stride) * B] @ power
        s = s + torch.cat([torch.zeros(stride * B, n), moved], dim=0)
        stride *= 2
        if stride < T:
            power = power @ power
    return s.reshape(T, B, n).transpose(0, 1)


def train(w, x, z, init, hidden_fn):
    params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    opt = torch.optim.Adam(params.values(), lr=w["learning_rates"][0], eps=1e-8)
    clip = w["grad_clip_norm"]
    for lr in w["learning_rates"]:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        h = hidden_fn(params["U"], params["W"], params["b"], x)
        y = h @ params["V"].T + params["c"]
        loss = ((y - z) ** 2).mean()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params.values(), clip)
        opt.step()
    with torch.no_grad():
        h = hidden_fn(params["U"], params["W"], params["b"], x)
        y = h @ params["V"].T + params["c"]
        return float(((y - z) ** 2).mean())


def main():
    path = sys.argv[1]
    if "--threads" in sys.argv:
        torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
    w, x, z, init = load(path)
    steps = len(w["learning_rates"])
    for name, fn in [("pytorch cpu, step-by-step", hidden_loop), ("pytorch cpu, parallel scan", hidden_scan)]:
        best = float("inf")
        final = float("nan")
        for _ in range(REPEATS):
            start = time.perf_counter()
            final = train(w, x, z, init, fn)
            best = min(best, time.perf_counter() - start)
        print(json.dumps({
            "name": f"{name} (torch {torch.__version__}, {torch.get_num_threads()} threads)",
            "ms_per_step": best * 1e3 / steps,
            "final_loss": final,
            "threads": torch.get_num_threads(),
        }))


if __name__ == "__main__":
    main()
