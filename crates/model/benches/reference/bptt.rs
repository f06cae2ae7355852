//! A hand-written BPTT for the Elman network in plain Rust (bench-only): the floor that shows how
//! much of Burn's time is framework overhead. Linear and tanh cells (monomorphised through
//! [`Act`], so each is as tight as a dedicated copy), simulation and predictor mode, missing
//! targets left out of the loss and missing `z_{k-1}` replaced by the network's own prediction.
//!
//! ```text
//! h_k = act(U h_{k-1} + W x̃_k + b),   y_k = V h_k + c,   L = Σ mask_k ∘ (y_k − z_k)² / N
//! x̃_k = x_k with each missing z_{k-1} (predictor mode) replaced by y_{k-1}
//! ```
//!
//! Backward, for each sequence from the last step down (`g` carries `Uᵀ δ_{k+1}`, `r` carries the
//! gradient reaching `y_k` through the prediction fed into step `k+1`):
//!
//! ```text
//! ∂y_k = 2 mask_k ∘ (y_k − z_k) / N + r_{k+1},   ∂V += ∂y_k h_kᵀ,   ∂c += ∂y_k
//! δ_k = act'(h_k) ∘ (Vᵀ ∂y_k + g),   ∂U += δ_k h_{k-1}ᵀ,   ∂W += δ_k x̃_kᵀ,   ∂b += δ_k
//! g = Uᵀ δ_k,   r_k = missing_k ∘ (W_zᵀ δ_k)
//! ```
//!
//! One sequence at a time, one thread, every buffer reused between calls.

/// A cell nonlinearity and its derivative written in terms of its output.
pub trait Act {
    /// `act(a)`.
    fn f(a: f32) -> f32;
    /// `act'(a)` from `h = act(a)`.
    fn df(h: f32) -> f32;
}

/// Identity.
pub struct Linear;

impl Act for Linear {
    #[inline(always)]
    fn f(a: f32) -> f32 {
        a
    }
    #[inline(always)]
    fn df(_: f32) -> f32 {
        1.0
    }
}

/// Hyperbolic tangent.
pub struct Tanh;

impl Act for Tanh {
    #[inline(always)]
    fn f(a: f32) -> f32 {
        a.tanh()
    }
    #[inline(always)]
    fn df(h: f32) -> f32 {
        1.0 - h * h
    }
}

/// Parameters, row-major, f32. `W`'s columns `m..d` are `W_z` (predictor mode).
#[derive(Clone)]
pub struct Params {
    pub n: usize,
    pub d: usize,
    pub p: usize,
    pub m: usize,
    pub u: Vec<f32>,
    pub w: Vec<f32>,
    pub v: Vec<f32>,
    pub b: Vec<f32>,
    pub c: Vec<f32>,
}

impl Params {
    pub fn flat(&self) -> Vec<f32> {
        [&self.u[..], &self.w, &self.v, &self.b, &self.c].concat()
    }

    pub fn set_flat(&mut self, x: &[f32]) {
        let mut at = 0;
        for part in [
            &mut self.u,
            &mut self.w,
            &mut self.v,
            &mut self.b,
            &mut self.c,
        ] {
            let len = part.len();
            part.copy_from_slice(&x[at..at + len]);
            at += len;
        }
    }
}

/// The data, sequence-major: `x`: `[batch][steps][d]` (0 where a `z_{k-1}` is missing), `z`,
/// `mask`, `missing`: `[batch][steps][p]` (`mask` 1 where the target is present, `missing` true
/// where `z_{k-1}` is replaced by `y_{k-1}`).
pub struct Data {
    pub batch: usize,
    pub steps: usize,
    pub x: Vec<f32>,
    pub z: Vec<f32>,
    pub mask: Vec<f32>,
    pub missing: Vec<bool>,
    /// Number of present targets.
    pub count: f32,
}

/// Buffers reused between calls.
#[derive(Default)]
pub struct Scratch {
    hidden: Vec<f32>,
    outputs: Vec<f32>,
    dy: Vec<f32>,
    g: Vec<f32>,
    r: Vec<f32>,
    delta: Vec<f32>,
}

/// Loss, and the flat gradient (layout of [`Params::flat`]) written into `grad`.
pub fn loss_and_grad<A: Act>(
    prm: &Params,
    data: &Data,
    scratch: &mut Scratch,
    grad: &mut Vec<f32>,
) -> f32 {
    let (n, d, p, m) = (prm.n, prm.d, prm.p, prm.m);
    let (batch, steps) = (data.batch, data.steps);
    let Scratch {
        hidden,
        outputs,
        dy,
        g,
        r,
        delta,
    } = scratch;
    hidden.resize(steps * n, 0.0);
    outputs.resize(steps * p, 0.0);
    dy.resize(p, 0.0);
    g.resize(n, 0.0);
    r.resize(p, 0.0);
    delta.resize(n, 0.0);
    grad.clear();
    grad.resize(n * n + n * d + p * n + n + p, 0.0);
    let (gu, rest) = grad.split_at_mut(n * n);
    let (gw, rest) = rest.split_at_mut(n * d);
    let (gv, rest) = rest.split_at_mut(p * n);
    let (gb, gc) = rest.split_at_mut(n);
    let scale = 1.0 / data.count;
    let mut loss = 0.0f32;
    for s in 0..batch {
        let x = &data.x[s * steps * d..][..steps * d];
        let z = &data.z[s * steps * p..][..steps * p];
        let mask = &data.mask[s * steps * p..][..steps * p];
        let missing = &data.missing[s * steps * p..][..steps * p];
        // Forward: the states and outputs of this sequence.
        for t in 0..steps {
            let xt = &x[t * d..][..d];
            for i in 0..n {
                let mut acc = prm.b[i];
                for j in 0..d {
                    acc += prm.w[i * d + j] * xt[j];
                }
                if t > 0 {
                    let hp = &hidden[(t - 1) * n..][..n];
                    for j in 0..n {
                        acc += prm.u[i * n + j] * hp[j];
                    }
                    for o in 0..p {
                        if missing[t * p + o] {
                            acc += prm.w[i * d + m + o] * outputs[(t - 1) * p + o];
                        }
                    }
                }
                hidden[t * n + i] = A::f(acc);
            }
            let h = &hidden[t * n..][..n];
            for o in 0..p {
                let mut y = prm.c[o];
                for j in 0..n {
                    y += prm.v[o * n + j] * h[j];
                }
                outputs[t * p + o] = y;
                let e = mask[t * p + o] * (y - z[t * p + o]);
                loss += e * e;
            }
        }
        // Backward.
        g.fill(0.0);
        r.fill(0.0);
        for t in (0..steps).rev() {
            let h = &hidden[t * n..][..n];
            for o in 0..p {
                let e = mask[t * p + o] * (outputs[t * p + o] - z[t * p + o]);
                dy[o] = 2.0 * e * scale + r[o];
                gc[o] += dy[o];
                for j in 0..n {
                    gv[o * n + j] += dy[o] * h[j];
                }
            }
            for i in 0..n {
                let mut acc = g[i];
                for o in 0..p {
                    acc += prm.v[o * n + i] * dy[o];
                }
                delta[i] = A::df(h[i]) * acc;
            }
            let xt = &x[t * d..][..d];
            for i in 0..n {
                gb[i] += delta[i];
                for j in 0..d {
                    gw[i * d + j] += delta[i] * xt[j];
                }
            }
            if t > 0 {
                let hp = &hidden[(t - 1) * n..][..n];
                for i in 0..n {
                    for j in 0..n {
                        gu[i * n + j] += delta[i] * hp[j];
                    }
                }
                for o in 0..p {
                    r[o] = 0.0;
                    if missing[t * p + o] {
                        let fed = outputs[(t - 1) * p + o];
                        let mut acc = 0.0;
                        for i in 0..n {
                            gw[i * d + m + o] += delta[i] * fed;
                            acc += prm.w[i * d + m + o] * delta[i];
                        }
                        r[o] = acc;
                    }
                }
                for j in 0..n {
                    let mut acc = 0.0;
                    for i in 0..n {
                        acc += prm.u[i * n + j] * delta[i];
                    }
                    g[j] = acc;
                }
            }
        }
    }
    loss * scale
}

/// Adam with PyTorch's update rule, f32.
pub struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    pub fn new(len: usize) -> Self {
        Self {
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    pub fn step(&mut self, x: &mut [f32], g: &[f32], lr: f32) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        self.t += 1;
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for i in 0..x.len() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g[i];
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g[i] * g[i];
            x[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + eps);
        }
    }
}
