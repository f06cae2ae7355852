//! A hand-written BPTT for the linear Elman network in plain Rust (bench-only): the floor
//! that shows how much of Burn's time is framework overhead.
//!
//! ```text
//! h_k = U h_{k-1} + W x_k + b,   y_k = V h_k + c,   L = Σ (y_k − z_k)² / N
//! ```
//!
//! Backward, for each sequence from the last step down (`g` carries `∂L/∂h_k` from step `k+1`):
//!
//! ```text
//! δ_k = Vᵀ ∂L/∂y_k + g,   ∂U += δ_k h_{k-1}ᵀ,   ∂W += δ_k x_kᵀ,   ∂b += δ_k,   g = Uᵀ δ_k
//! ```

/// Parameters, row-major, f32.
#[derive(Clone)]
pub struct Params {
    pub n: usize,
    pub d: usize,
    pub p: usize,
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

/// Loss and flat gradient. `x`: `[batch][steps][d]`, `z`: `[batch][steps][p]`, flattened.
pub fn loss_and_grad(
    prm: &Params,
    x: &[f32],
    z: &[f32],
    batch: usize,
    steps: usize,
    hidden: &mut Vec<f32>,
) -> (f32, Vec<f32>) {
    let (n, d, p) = (prm.n, prm.d, prm.p);
    hidden.resize(batch * steps * n, 0.0);
    let mut err = vec![0.0f32; batch * steps * p];
    let mut loss = 0.0f32;
    let scale = 1.0 / (batch * steps * p) as f32;
    let mut h = vec![0.0f32; n];
    let mut a = vec![0.0f32; n];
    for s in 0..batch {
        h.fill(0.0);
        for t in 0..steps {
            let xt = &x[(s * steps + t) * d..][..d];
            for i in 0..n {
                let mut acc = prm.b[i];
                for j in 0..n {
                    acc += prm.u[i * n + j] * h[j];
                }
                for j in 0..d {
                    acc += prm.w[i * d + j] * xt[j];
                }
                a[i] = acc;
            }
            std::mem::swap(&mut h, &mut a);
            hidden[(s * steps + t) * n..][..n].copy_from_slice(&h);
            for o in 0..p {
                let mut y = prm.c[o];
                for j in 0..n {
                    y += prm.v[o * n + j] * h[j];
                }
                let e = y - z[(s * steps + t) * p + o];
                loss += e * e;
                err[(s * steps + t) * p + o] = 2.0 * e * scale;
            }
        }
    }
    let mut gu = vec![0.0f32; n * n];
    let mut gw = vec![0.0f32; n * d];
    let mut gv = vec![0.0f32; p * n];
    let mut gb = vec![0.0f32; n];
    let mut gc = vec![0.0f32; p];
    let mut g = vec![0.0f32; n];
    let mut delta = vec![0.0f32; n];
    for s in 0..batch {
        g.fill(0.0);
        for t in (0..steps).rev() {
            let h = &hidden[(s * steps + t) * n..][..n];
            let e = &err[(s * steps + t) * p..][..p];
            delta.copy_from_slice(&g);
            for o in 0..p {
                gc[o] += e[o];
                for j in 0..n {
                    gv[o * n + j] += e[o] * h[j];
                    delta[j] += prm.v[o * n + j] * e[o];
                }
            }
            let xt = &x[(s * steps + t) * d..][..d];
            for i in 0..n {
                gb[i] += delta[i];
                for j in 0..d {
                    gw[i * d + j] += delta[i] * xt[j];
                }
                if t > 0 {
                    let hp = &hidden[(s * steps + t - 1) * n..][..n];
                    for j in 0..n {
                        gu[i * n + j] += delta[i] * hp[j];
                    }
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
    (loss * scale, [gu, gw, gv, gb, gc].concat())
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
