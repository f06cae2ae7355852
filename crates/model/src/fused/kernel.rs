//! The host loops of the fused recurrence: forward pass and backpropagation through time, on
//! plain slices, for `f32` and `f64`.
//!
//! Every array is feature-major with time-major columns, as [`crate::model::Elman`] keeps them:
//! row `r` of an `[rows, N]` array (`N = steps · batch`) lives at `r · N ..`, and column
//! `col = k · batch + i` is step `k + 1` of sequence `i`. One step of the whole batch is therefore
//! a contiguous run of `batch` values in each row, and every inner loop below runs over that run
//! (element-wise, so the compiler vectorises it across sequences).
//!
//! # Forward
//!
//! With `h_0` the initial state (zero when absent) and, in predictor mode, `M_k` the `[p, batch]`
//! 0/1 flags of a missing `z_{k-1}`:
//!
//! ```text
//! f_k   = M_k ∘ (V h_{k-1} + c)                         (the fed-back prediction, 0 where z is present)
//! a_k   = U h_{k-1} + W x_k + b + W_z f_k               (W_z = W[:, m..], the z columns of W)
//! h_k   = act(a_k)
//! ```
//!
//! Without `h_0` the first step has neither the `U h_0` nor the fed-back term (as the generic
//! unroll). `x_k` holds 0 where `z_{k-1}` is missing, so `W x_k + W_z f_k = W x̃_k` with `x̃_k` the
//! input as actually fed.
//!
//! # Backward
//!
//! Given `Ḡ_k = ∂L/∂h_k` from outside the recurrence (the readout and loss), the gradient that
//! reaches `h_k` through the recurrence is carried backwards in `g`:
//!
//! ```text
//! g_T   = 0
//! δ_k   = act'(a_k) ∘ (Ḡ_k + g_k)                       act' = 1, 1 − h_k², [h_k > 0]
//! r_k   = M_k ∘ (W_zᵀ δ_k)                              (gradient reaching the fed-back f_k)
//! g_{k-1} = Uᵀ δ_k + Vᵀ r_k                             (0 when the truncation window cuts at k)
//! ∂U += δ_k h_{k-1}ᵀ    ∂W += δ_k x̃_kᵀ    ∂b += δ_k
//! ∂V += r_k h_{k-1}ᵀ    ∂c += r_k        ∂x_k = Wᵀ δ_k      ∂h_0 = g_0
//! ```
//!
//! With truncation window `w`, the state entering step `k` (0-based) is detached when
//! `k mod w = 0`, exactly where the generic unroll detaches it: the parameters still receive
//! that step's terms, but `g` restarts from 0.
//!
//! Parameter sums are accumulated per sequence lane (`[.., batch]` accumulators, element-wise
//! and vectorisable) and reduced over the lanes once at the end.

use std::ops::{Add, AddAssign, Mul, Sub};

use crate::weights::Activation;

/// The float types the kernel runs in.
pub(crate) trait Real:
    Copy
    + Default
    + PartialOrd
    + Add<Output = Self>
    + AddAssign
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Widening to `f64` (for reductions reported in `f64`).
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn tanh(self) -> Self {
        f32::tanh(self)
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Sizes of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    /// Hidden size `n`.
    pub n: usize,
    /// Network input size `d`.
    pub d: usize,
    /// Output size `p`.
    pub p: usize,
    /// Exogenous inputs `m`: the fed-back `z` occupies input rows `m .. m + p`.
    pub m: usize,
    /// Sequences.
    pub batch: usize,
    /// Time steps.
    pub steps: usize,
}

impl Dims {
    /// Number of columns `N = steps · batch`.
    pub fn columns(&self) -> usize {
        self.steps * self.batch
    }
}

/// Which `z_{k-1}` are missing (predictor mode): fed back by the network's own prediction.
///
/// # Shapes
/// - `flags`: `[p, steps · batch]`, time-major columns, `true` where `z_{k-1}` is missing
/// - `at_step`: `[steps]`, whether any flag of that step is set
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MissingFlags {
    /// Per output component and column.
    pub flags: Vec<bool>,
    /// Per step.
    pub at_step: Vec<bool>,
}

/// The weights, row-major, in the kernel's float type.
///
/// # Shapes
/// `u`: `[n, n]`, `w`: `[n, d]`, `b`: `[n]`, `v`: `[p, n]`, `c`: `[p]`
#[derive(Debug, Clone)]
pub(crate) struct Weights<T> {
    /// `U`.
    pub u: Vec<T>,
    /// `W`.
    pub w: Vec<T>,
    /// `b`.
    pub b: Vec<T>,
    /// `V`.
    pub v: Vec<T>,
    /// `c`.
    pub c: Vec<T>,
}

/// Everything the recurrence reads besides the weights.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a, T> {
    /// Sizes.
    pub dims: Dims,
    /// The nonlinearity.
    pub activation: Activation,
    /// Inputs `x`, `[d, N]`.
    pub x: &'a [T],
    /// Initial state `h_0`, `[n, batch]` (`None`: zero, and no feedback at the first step).
    pub h0: Option<&'a [T]>,
    /// Missing `z_{k-1}` (predictor mode), `None` when nothing is missing.
    pub missing: Option<&'a MissingFlags>,
    /// Truncation window of the backward pass.
    pub truncation: Option<usize>,
}

/// The gradients the backward pass produces.
///
/// # Shapes
/// Those of [`Weights`]; `x`: `[d, N]`, `h0`: `[n, batch]`.
#[derive(Debug, Clone)]
pub(crate) struct Grads<T> {
    /// `∂L/∂U`.
    pub u: Vec<T>,
    /// `∂L/∂W`.
    pub w: Vec<T>,
    /// `∂L/∂b`.
    pub b: Vec<T>,
    /// `∂L/∂V` through the fed-back predictions only.
    pub v: Vec<T>,
    /// `∂L/∂c` through the fed-back predictions only.
    pub c: Vec<T>,
    /// `∂L/∂x`, when asked for.
    pub x: Option<Vec<T>>,
    /// `∂L/∂h_0`, when asked for (and `h_0` given).
    pub h0: Option<Vec<T>>,
}

fn activate<T: Real>(activation: Activation, a: &mut [T]) {
    match activation {
        Activation::Linear => {}
        Activation::Tanh => a.iter_mut().for_each(|x| *x = x.tanh()),
        Activation::Relu => a.iter_mut().for_each(|x| {
            if *x <= T::ZERO {
                *x = T::ZERO;
            }
        }),
    }
}

/// `a += s · x`, element-wise.
#[inline(always)]
fn axpy<T: Real>(a: &mut [T], s: T, x: &[T]) {
    for (a, x) in a.iter_mut().zip(x) {
        *a += s * *x;
    }
}

/// `a += x ∘ y`, element-wise.
#[inline(always)]
fn add_product<T: Real>(a: &mut [T], x: &[T], y: &[T]) {
    for ((a, x), y) in a.iter_mut().zip(x).zip(y) {
        *a += *x * *y;
    }
}

/// The fed-back predictions `f_k = M_k ∘ (V h_{k-1} + c)` of one step, `[p, batch]`, into `fed`.
fn fed_back<T: Real>(
    dims: Dims,
    weights: &Weights<T>,
    prev: &[T],
    flags: &[bool],
    col: usize,
    fed: &mut [T],
) {
    let (n, p, bsz, cols) = (dims.n, dims.p, dims.batch, dims.columns());
    for o in 0..p {
        let row = &mut fed[o * bsz..][..bsz];
        row.fill(weights.c[o]);
        for l in 0..n {
            axpy(row, weights.v[o * n + l], &prev[l * bsz..][..bsz]);
        }
        for (f, &missing) in row.iter_mut().zip(&flags[o * cols + col..][..bsz]) {
            if !missing {
                *f = T::ZERO;
            }
        }
    }
}

/// Reusable buffers of the forward pass.
#[derive(Debug, Default)]
pub(crate) struct ForwardScratch<T> {
    prev: Vec<T>,
    next: Vec<T>,
    fed: Vec<T>,
}

/// The forward pass: writes `h_k` for every step into `hidden` (`[n, N]`).
pub(crate) fn forward<T: Real>(
    run: &Run<'_, T>,
    weights: &Weights<T>,
    hidden: &mut [T],
    scratch: &mut ForwardScratch<T>,
) {
    let Dims {
        n,
        d,
        p,
        m,
        batch: bsz,
        steps,
    } = run.dims;
    let cols = run.dims.columns();
    debug_assert_eq!(hidden.len(), n * cols);
    debug_assert_eq!(run.x.len(), d * cols);
    scratch.prev.clear();
    scratch.prev.resize(n * bsz, T::ZERO);
    scratch.next.clear();
    scratch.next.resize(n * bsz, T::ZERO);
    scratch.fed.clear();
    scratch.fed.resize(p * bsz, T::ZERO);
    let ForwardScratch { prev, next, fed } = scratch;
    if let Some(h0) = run.h0 {
        prev.copy_from_slice(h0);
    }
    for k in 0..steps {
        let col = k * bsz;
        let has_prev = k > 0 || run.h0.is_some();
        let feedback = run
            .missing
            .filter(|missing| has_prev && missing.at_step[k])
            .map(|missing| {
                fed_back(run.dims, weights, prev, &missing.flags, col, fed);
                &*fed
            });
        for j in 0..n {
            let a = &mut next[j * bsz..][..bsz];
            a.fill(weights.b[j]);
            for l in 0..d {
                axpy(a, weights.w[j * d + l], &run.x[l * cols + col..][..bsz]);
            }
            if has_prev {
                for l in 0..n {
                    axpy(a, weights.u[j * n + l], &prev[l * bsz..][..bsz]);
                }
            }
            if let Some(fed) = feedback {
                for o in 0..p {
                    axpy(a, weights.w[j * d + m + o], &fed[o * bsz..][..bsz]);
                }
            }
        }
        activate(run.activation, next);
        for j in 0..n {
            hidden[j * cols + col..][..bsz].copy_from_slice(&next[j * bsz..][..bsz]);
        }
        std::mem::swap(prev, next);
    }
}

/// Reusable buffers of the backward pass.
#[derive(Debug, Default)]
pub(crate) struct BackwardScratch<T> {
    carry: Vec<T>,
    delta: Vec<T>,
    prev: Vec<T>,
    fed: Vec<T>,
    r: Vec<T>,
    acc_u: Vec<T>,
    acc_w: Vec<T>,
    acc_b: Vec<T>,
    acc_v: Vec<T>,
    acc_c: Vec<T>,
}

fn reset<T: Real>(buffer: &mut Vec<T>, len: usize) {
    buffer.clear();
    buffer.resize(len, T::ZERO);
}

/// Sums each lane accumulator (`[rows, batch]`) over its lanes.
fn reduce_lanes<T: Real>(acc: &[T], batch: usize) -> Vec<T> {
    acc.chunks_exact(batch)
        .map(|lanes| lanes.iter().fold(T::ZERO, |s, &x| s + x))
        .collect()
}

/// Backpropagation through time (module docs): the gradients of `L` given `upstream` =
/// `∂L/∂h_k` from outside the recurrence (`[n, N]`) and the states `hidden` of [`forward`].
pub(crate) fn backward<T: Real>(
    run: &Run<'_, T>,
    weights: &Weights<T>,
    hidden: &[T],
    upstream: &[T],
    want_x: bool,
    scratch: &mut BackwardScratch<T>,
) -> Grads<T> {
    let Dims {
        n,
        d,
        p,
        m,
        batch: bsz,
        steps,
    } = run.dims;
    let cols = run.dims.columns();
    debug_assert_eq!(hidden.len(), n * cols);
    debug_assert_eq!(upstream.len(), n * cols);
    reset(&mut scratch.carry, n * bsz);
    reset(&mut scratch.delta, n * bsz);
    reset(&mut scratch.prev, n * bsz);
    reset(&mut scratch.fed, p * bsz);
    reset(&mut scratch.r, p * bsz);
    reset(&mut scratch.acc_u, n * n * bsz);
    reset(&mut scratch.acc_w, n * d * bsz);
    reset(&mut scratch.acc_b, n * bsz);
    reset(&mut scratch.acc_v, p * n * bsz);
    reset(&mut scratch.acc_c, p * bsz);
    let BackwardScratch {
        carry,
        delta,
        prev,
        fed,
        r,
        acc_u,
        acc_w,
        acc_b,
        acc_v,
        acc_c,
    } = scratch;
    let mut grad_x = want_x.then(|| vec![T::ZERO; d * cols]);
    let mut grad_h0 = None;

    for k in (0..steps).rev() {
        let col = k * bsz;
        // δ_k = act'(a_k) ∘ (Ḡ_k + g_k)
        for j in 0..n {
            let dl = &mut delta[j * bsz..][..bsz];
            let g = &carry[j * bsz..][..bsz];
            let up = &upstream[j * cols + col..][..bsz];
            let h = &hidden[j * cols + col..][..bsz];
            match run.activation {
                Activation::Linear => {
                    for ((dl, &g), &up) in dl.iter_mut().zip(g).zip(up) {
                        *dl = up + g;
                    }
                }
                Activation::Tanh => {
                    for (((dl, &g), &up), &h) in dl.iter_mut().zip(g).zip(up).zip(h) {
                        *dl = (up + g) * (T::ONE - h * h);
                    }
                }
                Activation::Relu => {
                    for (((dl, &g), &up), &h) in dl.iter_mut().zip(g).zip(up).zip(h) {
                        *dl = if h > T::ZERO { up + g } else { T::ZERO };
                    }
                }
            }
            let dl = &delta[j * bsz..][..bsz];
            axpy(&mut acc_b[j * bsz..][..bsz], T::ONE, dl);
            for l in 0..d {
                add_product(
                    &mut acc_w[(j * d + l) * bsz..][..bsz],
                    dl,
                    &run.x[l * cols + col..][..bsz],
                );
            }
        }
        if let Some(gx) = grad_x.as_mut() {
            for l in 0..d {
                let out = &mut gx[l * cols + col..][..bsz];
                for j in 0..n {
                    axpy(out, weights.w[j * d + l], &delta[j * bsz..][..bsz]);
                }
            }
        }
        // The state that entered step k: h_{k-1}, or h_0.
        let has_prev = if k > 0 {
            for l in 0..n {
                prev[l * bsz..][..bsz].copy_from_slice(&hidden[l * cols + col - bsz..][..bsz]);
            }
            true
        } else if let Some(h0) = run.h0 {
            prev.copy_from_slice(h0);
            true
        } else {
            false
        };
        if !has_prev {
            continue;
        }
        for j in 0..n {
            let dl = &delta[j * bsz..][..bsz];
            for l in 0..n {
                add_product(
                    &mut acc_u[(j * n + l) * bsz..][..bsz],
                    dl,
                    &prev[l * bsz..][..bsz],
                );
            }
        }
        let feedback = run.missing.filter(|missing| missing.at_step[k]);
        if let Some(missing) = feedback {
            fed_back(run.dims, weights, prev, &missing.flags, col, fed);
            for o in 0..p {
                let ro = &mut r[o * bsz..][..bsz];
                ro.fill(T::ZERO);
                for j in 0..n {
                    axpy(ro, weights.w[j * d + m + o], &delta[j * bsz..][..bsz]);
                }
                for (ro, &missing) in ro.iter_mut().zip(&missing.flags[o * cols + col..][..bsz]) {
                    if !missing {
                        *ro = T::ZERO;
                    }
                }
                let ro = &r[o * bsz..][..bsz];
                axpy(&mut acc_c[o * bsz..][..bsz], T::ONE, ro);
                for l in 0..n {
                    add_product(
                        &mut acc_v[(o * n + l) * bsz..][..bsz],
                        ro,
                        &prev[l * bsz..][..bsz],
                    );
                }
                for j in 0..n {
                    add_product(
                        &mut acc_w[(j * d + m + o) * bsz..][..bsz],
                        &delta[j * bsz..][..bsz],
                        &fed[o * bsz..][..bsz],
                    );
                }
            }
        }
        // g_{k-1} = Uᵀ δ_k + Vᵀ r_k, unless the truncation window cuts here.
        carry.fill(T::ZERO);
        if !run.truncation.is_some_and(|w| k % w == 0) {
            for l in 0..n {
                let g = &mut carry[l * bsz..][..bsz];
                for j in 0..n {
                    axpy(g, weights.u[j * n + l], &delta[j * bsz..][..bsz]);
                }
                if feedback.is_some() {
                    for o in 0..p {
                        axpy(g, weights.v[o * n + l], &r[o * bsz..][..bsz]);
                    }
                }
            }
        }
        if k == 0 {
            grad_h0 = Some(carry.clone());
        }
    }
    Grads {
        u: reduce_lanes(acc_u, bsz),
        w: reduce_lanes(acc_w, bsz),
        b: reduce_lanes(acc_b, bsz),
        v: reduce_lanes(acc_v, bsz),
        c: reduce_lanes(acc_c, bsz),
        x: grad_x,
        h0: grad_h0,
    }
}
