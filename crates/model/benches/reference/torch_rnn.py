"""PyTorch reference for the training-speed benchmark of dynrec-model (CPU, float32).

Reads a workload written by `cargo bench -p dynrec-model --bench train_step` (standardised
data exactly as the network sees it, initial weights, per-step learning rates) and runs the
same 100 Adam steps of the Elman network

    h_k = act(U h_{k-1} + W x~_k + b),   y_k = V h_k + c,   loss = sum mask (y_k - z_k)^2 / sum mask

where x~_k is the input with each missing z_{k-1} (predictor mode) replaced by the network's own
prediction y_{k-1}; full BPTT, global-norm gradient clipping and Adam (eps 1e-8). Two variants:

- "step loop": the usual Python loop over time steps;
- "torch.nn.RNN": PyTorch's RNN module (its C++ loop over time; weight_ih = W, weight_hh = U,
  bias_ih = b, bias_hh frozen at 0 so the model is the same). It has no linear cell, so it runs
  for tanh (and relu) only; and it cannot feed its own prediction back, so in predictor mode with
  missing measurements it runs segment by segment between the steps whose z_{k-1} is missing,
  feeding y_{k-1} into the first input of the next segment.

Prints one JSON line per variant: name, ms_per_step, final_loss, threads.

usage: python torch_rnn.py WORKLOAD.json [--threads N]
"""

import json
import sys
import time

import torch

# Best of at least REPEATS runs, more (up to MAX_REPEATS) while the runs took less than
# BUDGET_S together, one when a single run takes longer than SLOW_S (as the Rust rows).
REPEATS = 3
MAX_REPEATS = 25
BUDGET_S = 2.0
SLOW_S = 3.0


def load(path):
    with open(path) as f:
        w = json.load(f)
    B, T, d, p, n = w["batch"], w["steps"], w["d_input"], w["d_output"], w["d_hidden"]
    f32 = torch.float32
    data = {
        "x": torch.tensor(w["x"], dtype=f32).reshape(B, T, d),
        "z": torch.tensor(w["z"], dtype=f32).reshape(B, T, p),
        "mask": torch.tensor(w["mask"], dtype=f32).reshape(B, T, p),
        "missing": torch.tensor(w["missing"], dtype=f32).reshape(B, T, p),
        "m": w["n_inputs"],
    }
    # Steps (>= 1) at which some z_{k-1} is missing.
    data["fed_steps"] = [t for t in range(1, T) if bool(data["missing"][:, t].any())]
    init = {
        "U": torch.tensor(w["u"], dtype=f32).reshape(n, n),
        "W": torch.tensor(w["w"], dtype=f32).reshape(n, d),
        "b": torch.tensor(w["b"], dtype=f32).reshape(n),
        "V": torch.tensor(w["v"], dtype=f32).reshape(p, n),
        "c": torch.tensor(w["c"], dtype=f32).reshape(p),
    }
    return w, data, init


def activation(name):
    return {"linear": lambda a: a, "tanh": torch.tanh, "relu": torch.relu}[name]


def fed_input(data, t, h, V, c):
    """x~_t: x_t with y_{t-1} = V h_{t-1} + c in place of each missing z_{t-1}."""
    m = data["m"]
    xt = data["x"][:, t]
    fed = data["missing"][:, t] * (h @ V.T + c)
    return torch.cat([xt[:, :m], xt[:, m:] + fed], dim=1)


class StepLoop:
    name = "pytorch cpu, step loop"

    def __init__(self, init, act):
        self.params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
        self.act = activation(act)

    def hidden(self, data):
        U, W, b, V, c = (self.params[k] for k in "UWbVc")
        x = data["x"]
        T = x.shape[1]
        fed_steps = set(data["fed_steps"])
        drive = x @ W.T + b  # [B, T, n], computed once
        h = self.act(drive[:, 0])
        states = [h]
        for t in range(1, T):
            if t in fed_steps:
                pre = h @ U.T + fed_input(data, t, h, V, c) @ W.T + b
            else:
                pre = h @ U.T + drive[:, t]
            h = self.act(pre)
            states.append(h)
        return torch.stack(states, dim=1)  # [B, T, n]

    def trainable(self):
        return list(self.params.values())


class NnRnn:
    name = "torch.nn.RNN"

    def __init__(self, init, act):
        n, d = init["W"].shape
        self.rnn = torch.nn.RNN(d, n, nonlinearity=act, batch_first=True)
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(init["W"])
            self.rnn.weight_hh_l0.copy_(init["U"])
            self.rnn.bias_ih_l0.copy_(init["b"])
            self.rnn.bias_hh_l0.zero_()
        self.rnn.bias_hh_l0.requires_grad_(False)
        self.V = init["V"].clone().requires_grad_(True)
        self.c = init["c"].clone().requires_grad_(True)

    def hidden(self, data):
        x = data["x"]
        T = x.shape[1]
        bounds = [0] + data["fed_steps"] + [T]
        outs = []
        hx = None
        for t0, t1 in zip(bounds[:-1], bounds[1:]):
            xs = x[:, t0:t1]
            if t0 > 0:
                first = fed_input(data, t0, outs[-1][:, -1], self.V, self.c)
                xs = torch.cat([first[:, None], xs[:, 1:]], dim=1)
            out, hx = self.rnn(xs, hx)
            outs.append(out)
        return torch.cat(outs, dim=1)

    def trainable(self):
        r = self.rnn
        return [r.weight_hh_l0, r.weight_ih_l0, r.bias_ih_l0, self.V, self.c]


def loss_of(model, data):
    h = model.hidden(data)
    params = model.trainable()
    V, c = params[3], params[4]
    y = h @ V.T + c
    mask = data["mask"]
    return (((y - data["z"]) * mask) ** 2).sum() / mask.sum()


def train(w, data, model):
    params = model.trainable()
    opt = torch.optim.Adam(params, lr=w["learning_rates"][0], eps=1e-8)
    clip = w["grad_clip_norm"]
    for lr in w["learning_rates"]:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        loss = loss_of(model, data)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
    with torch.no_grad():
        return float(loss_of(model, data))


def main():
    path = sys.argv[1]
    if "--threads" in sys.argv:
        torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
    w, data, init = load(path)
    act = w["activation"]
    steps = len(w["learning_rates"])
    variants = [StepLoop]
    if act in ("tanh", "relu"):
        variants.append(NnRnn)
    for variant in variants:
        best = float("inf")
        total = 0.0
        final = float("nan")
        for repeat in range(MAX_REPEATS):
            model = variant(init, act)
            start = time.perf_counter()
            final = train(w, data, model)
            elapsed = time.perf_counter() - start
            best = min(best, elapsed)
            total += elapsed
            if (repeat == 0 and elapsed > SLOW_S) or (repeat + 1 >= REPEATS and total > BUDGET_S):
                break
        print(json.dumps({
            "name": f"{variant.name} (torch {torch.__version__}, {torch.get_num_threads()} threads)",
            "ms_per_step": best * 1e3 / steps,
            "final_loss": final,
            "threads": torch.get_num_threads(),
        }), flush=True)


if __name__ == "__main__":
    main()
