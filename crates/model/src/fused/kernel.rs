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

use dynrec_core::weights::Activation;

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
    /// The value as an `f64` (exact).
    fn to_f64(self) -> f64;
    /// The nearest value to an `f64`.
    fn from_f64(x: f64) -> Self;
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
    fn from_f64(x: f64) -> Self {
        x as f32
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
    fn from_f64(x: f64) -> Self {
        x
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

/// Below this many sequences the loops run sequence by sequence over scalars (as a hand-written
/// BPTT would); from it on they run step by step over the whole batch, element-wise across the
/// sequences, which the compiler vectorises.
pub(crate) const LANES_FROM: usize = 8;

/// The forward pass: writes `h_k` for every step into `hidden` (`[n, N]`).
pub(crate) fn forward<T: Real>(
    run: &Run<'_, T>,
    weights: &Weights<T>,
    hidden: &mut [T],
    scratch: &mut ForwardScratch<T>,
) {
    if run.dims.batch >= LANES_FROM {
        forward_lanes(run, weights, hidden, scratch);
    } else {
        forward_scalar(run, weights, hidden, scratch);
    }
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
    if run.dims.batch >= LANES_FROM {
        backward_lanes(run, weights, hidden, upstream, want_x, scratch)
    } else {
        backward_scalar(run, weights, hidden, upstream, want_x, scratch)
    }
}

/// Calls `$f::<T, n>` with the hidden size `n` as a constant when it is at most 8 (the loops
/// over the state then unroll and lose most bounds checks), else `$f::<T, 0>` (read at run time).
macro_rules! with_const_hidden {
    ($n:expr, $f:ident, $t:ty, ($($arg:expr),*)) => {
        match $n {
            1 => $f::<$t, 1>($($arg),*),
            2 => $f::<$t, 2>($($arg),*),
            3 => $f::<$t, 3>($($arg),*),
            4 => $f::<$t, 4>($($arg),*),
            5 => $f::<$t, 5>($($arg),*),
            6 => $f::<$t, 6>($($arg),*),
            7 => $f::<$t, 7>($($arg),*),
            8 => $f::<$t, 8>($($arg),*),
            _ => $f::<$t, 0>($($arg),*),
        }
    };
}

/// [`forward`] one sequence at a time, over scalars.
fn forward_scalar<T: Real>(
    run: &Run<'_, T>,
    weights: &Weights<T>,
    hidden: &mut [T],
    scratch: &mut ForwardScratch<T>,
) {
    with_const_hidden!(
        run.dims.n,
        forward_scalar_n,
        T,
        (run, weights, hidden, scratch)
    );
}

/// [`forward_scalar`] with the hidden size `N` fixed at compile time (0: read from `run`).
fn forward_scalar_n<T: Real, const N: usize>(
    run: &Run<'_, T>,
    weights: &Weights<T>,
    hidden: &mut [T],
    scratch: &mut ForwardScratch<T>,
) {
    let n = if N == 0 { run.dims.n } else { N };
    let Dims {
        n: _,
        d,
        p,
        m,
        batch: bsz,
        steps,
    } = run.dims;
    let cols = run.dims.columns();
    // Slices of their exact lengths: with `n` a constant the index checks below mostly vanish.
    let (u, w, b, v, c) = (
        &weights.u[..n * n],
        &weights.w[..n * d],
        &weights.b[..n],
        &weights.v[..p * n],
        &weights.c[..p],
    );
    reset(&mut scratch.prev, n);
    reset(&mut scratch.next, n);
    reset(&mut scratch.fed, p);
    let ForwardScratch { prev, next, fed } = scratch;
    for i in 0..bsz {
        match run.h0 {
            Some(h0) => (0..n).for_each(|l| prev[l] = h0[l * bsz + i]),
            None => prev.fill(T::ZERO),
        }
        for k in 0..steps {
            let col = k * bsz + i;
            let has_prev = k > 0 || run.h0.is_some();
            let (hp, hn) = (&prev[..n], &mut next[..n]);
            for j in 0..n {
                let mut a = b[j];
                for l in 0..d {
                    a += w[j * d + l] * run.x[l * cols + col];
                }
                hn[j] = a;
            }
            if has_prev {
                for j in 0..n {
                    let mut a = hn[j];
                    for l in 0..n {
                        a += u[j * n + l] * hp[l];
                    }
                    hn[j] = a;
                }
                if let Some(missing) = run.missing.filter(|missing| missing.at_step[k]) {
                    for o in 0..p {
                        fed[o] = T::ZERO;
                        if missing.flags[o * cols + col] {
                            let mut y = c[o];
                            for l in 0..n {
                                y += v[o * n + l] * hp[l];
                            }
                            fed[o] = y;
                            for j in 0..n {
                                hn[j] += w[j * d + m + o] * y;
                            }
                        }
                    }
                }
            }
            activate(run.activation, hn);
            for j in 0..n {
                hidden[j * cols + col] = hn[j];
            }
            std::mem::swap(prev, next);
        }
    }
}

/// [`backward`] one sequence at a time, over scalars.
fn backward_scalar<T: Real>(
    run: &Run<'_, T>,
    weights: &Weights<T>,
    hidden: &[T],
    upstream: &[T],
    want_x: bool,
    scratch: &mut BackwardScratch<T>,
) -> Grads<T> {
    with_const_hidden!(
        run.dims.n,
        backward_scalar_n,
        T,
        (run, weights, hidden, upstream, want_x, scratch)
    )
}

/// [`backward_scalar`] with the hidden size `N` fixed at compile time (0: read from `run`).
fn backward_scalar_n<T: Real, const N: usize>(
    run: &Run<'_, T>,
    weights: &Weights<T>,
    hidden: &[T],
    upstream: &[T],
    want_x: bool,
    scratch: &mut BackwardScratch<T>,
) -> Grads<T> {
    let n = if N == 0 { run.dims.n } else { N };
    let Dims {
        n: _,
        d,
        p,
        m,
        batch: bsz,
        steps,
    } = run.dims;
    let cols = run.dims.columns();
    // Slices of their exact lengths: with `n` a constant the index checks below mostly vanish.
    let (u, w, v, c) = (
        &weights.u[..n * n],
        &weights.w[..n * d],
        &weights.v[..p * n],
        &weights.c[..p],
    );
    let mut grads = Grads {
        u: vec![T::ZERO; n * n],
        w: vec![T::ZERO; n * d],
        b: vec![T::ZERO; n],
        v: vec![T::ZERO; p * n],
        c: vec![T::ZERO; p],
        x: want_x.then(|| vec![T::ZERO; d * cols]),
        h0: run.h0.map(|_| vec![T::ZERO; n * bsz]),
    };
    reset(&mut scratch.carry, n);
    reset(&mut scratch.delta, n);
    reset(&mut scratch.prev, n);
    reset(&mut scratch.r, p);
    let g = &mut scratch.carry[..n];
    let delta = &mut scratch.delta[..n];
    let prev = &mut scratch.prev[..n];
    let r = &mut scratch.r[..p];
    {
        let gu = &mut grads.u[..n * n];
        let gw = &mut grads.w[..n * d];
        let gb = &mut grads.b[..n];
        let gv = &mut grads.v[..p * n];
        let gc = &mut grads.c[..p];
        for i in 0..bsz {
            g.fill(T::ZERO);
            for k in (0..steps).rev() {
                let col = k * bsz + i;
                // δ_k = act'(a_k) ∘ (Ḡ_k + g_k)
                for j in 0..n {
                    delta[j] = upstream[j * cols + col] + g[j];
                }
                match run.activation {
                    Activation::Linear => {}
                    Activation::Tanh => {
                        for j in 0..n {
                            let h = hidden[j * cols + col];
                            delta[j] = delta[j] * (T::ONE - h * h);
                        }
                    }
                    Activation::Relu => {
                        for j in 0..n {
                            if hidden[j * cols + col] <= T::ZERO {
                                delta[j] = T::ZERO;
                            }
                        }
                    }
                }
                for j in 0..n {
                    let dj = delta[j];
                    gb[j] += dj;
                    for l in 0..d {
                        gw[j * d + l] += dj * run.x[l * cols + col];
                    }
                }
                if let Some(gx) = grads.x.as_mut() {
                    for l in 0..d {
                        let mut s = T::ZERO;
                        for j in 0..n {
                            s += w[j * d + l] * delta[j];
                        }
                        gx[l * cols + col] = s;
                    }
                }
                // The state that entered step k: h_{k-1}, or h_0.
                if k > 0 {
                    for l in 0..n {
                        prev[l] = hidden[l * cols + col - bsz];
                    }
                } else if let Some(h0) = run.h0 {
                    for l in 0..n {
                        prev[l] = h0[l * bsz + i];
                    }
                } else {
                    continue;
                }
                for j in 0..n {
                    let dj = delta[j];
                    for l in 0..n {
                        gu[j * n + l] += dj * prev[l];
                    }
                }
                let feedback = run.missing.filter(|missing| missing.at_step[k]);
                if let Some(missing) = feedback {
                    for o in 0..p {
                        r[o] = T::ZERO;
                        if missing.flags[o * cols + col] {
                            let mut fed = c[o];
                            let mut ro = T::ZERO;
                            for l in 0..n {
                                fed += v[o * n + l] * prev[l];
                            }
                            for j in 0..n {
                                gw[j * d + m + o] += delta[j] * fed;
                                ro += w[j * d + m + o] * delta[j];
                            }
                            for l in 0..n {
                                gv[o * n + l] += ro * prev[l];
                            }
                            gc[o] += ro;
                            r[o] = ro;
                        }
                    }
                }
                // g_{k-1} = Uᵀ δ_k + Vᵀ r_k, unless the truncation window cuts here.
                if run.truncation.is_some_and(|w| k % w == 0) {
                    g.fill(T::ZERO);
                } else {
                    for l in 0..n {
                        let mut s = T::ZERO;
                        for j in 0..n {
                            s += u[j * n + l] * delta[j];
                        }
                        if feedback.is_some() {
                            for o in 0..p {
                                s += v[o * n + l] * r[o];
                            }
                        }
                        g[l] = s;
                    }
                }
                if k == 0
                    && let Some(gh0) = grads.h0.as_mut()
                {
                    for l in 0..n {
                        gh0[l * bsz + i] = g[l];
                    }
                }
            }
        }
    }
    grads
}

/// [`forward`] step by step over the whole batch, element-wise across the sequences.
fn forward_lanes<T: Real>(
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

/// [`backward`] step by step over the whole batch, element-wise across the sequences.
fn backward_lanes<T: Real>(
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
        if run.truncation.is_none_or(|w| k % w != 0) {
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

/// `Σ a_i b_i`, summed in eight interleaved partial sums (which the compiler vectorises), each
/// in `f64` whatever `T` is: these are the loss and the readout's gradients, sums over every
/// column of the batch (12,800 for 64 sequences of 200 rows), where `f32` partial sums would
/// lose about `N/8 · 2⁻²⁴ ≈ 1e-4` of the total and leave L-BFGS's line search deciding on
/// rounding noise.
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut lanes = [0.0_f64; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += (x[i] * y[i]).to_f64();
        }
    }
    let mut sum: f64 = lanes.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += (*x * *y).to_f64();
    }
    T::from_f64(sum)
}

/// The readout and the masked errors of the loss,
///
/// ```text
/// y_k = V h_k + c,   e_k = mask_k ∘ (y_k − z_k),   S = Σ_k e_k ∘ e_k   (per output component)
/// ```
///
/// writing `e` into `errors` and returning `S`.
///
/// # Shapes
/// - `hidden`: `[n, N]`; `targets`, `mask`, `errors`: `[p, N]`
/// - returns `[p]`
pub(crate) fn squared_errors<T: Real>(
    dims: Dims,
    weights: &Weights<T>,
    hidden: &[T],
    targets: &[T],
    mask: &[T],
    errors: &mut [T],
) -> Vec<T> {
    let (n, p, cols) = (dims.n, dims.p, dims.columns());
    (0..p)
        .map(|o| {
            let e = &mut errors[o * cols..][..cols];
            e.fill(weights.c[o]);
            for j in 0..n {
                axpy(e, weights.v[o * n + j], &hidden[j * cols..][..cols]);
            }
            let z = &targets[o * cols..][..cols];
            let mk = &mask[o * cols..][..cols];
            for ((e, &z), &mk) in e.iter_mut().zip(z).zip(mk) {
                *e = mk * (*e - z);
            }
            dot(e, e)
        })
        .collect()
}

/// The backward pass of [`squared_errors`]: given `s = ∂L/∂S` (`[p]`),
///
/// ```text
/// ∂y_k = 2 s ∘ e_k,   Ḡ_k = Vᵀ ∂y_k,   ∂V = Σ_k ∂y_k h_kᵀ,   ∂c = Σ_k ∂y_k
/// ```
///
/// writes `Ḡ` (the gradient reaching the hidden states from the loss, `[n, N]`) into `upstream`
/// and returns `(∂V, ∂c)`.
pub(crate) fn squared_errors_backward<T: Real>(
    dims: Dims,
    weights: &Weights<T>,
    hidden: &[T],
    errors: &[T],
    seed: &[T],
    upstream: &mut [T],
) -> (Vec<T>, Vec<T>) {
    let (n, p, cols) = (dims.n, dims.p, dims.columns());
    upstream.fill(T::ZERO);
    let mut dy = vec![T::ZERO; cols];
    let mut grad_v = vec![T::ZERO; p * n];
    let mut grad_c = vec![T::ZERO; p];
    let ones = vec![T::ONE; cols];
    for o in 0..p {
        let two_s = (T::ONE + T::ONE) * seed[o];
        for (dy, &e) in dy.iter_mut().zip(&errors[o * cols..][..cols]) {
            *dy = two_s * e;
        }
        grad_c[o] = dot(&dy, &ones);
        for j in 0..n {
            grad_v[o * n + j] = dot(&dy, &hidden[j * cols..][..cols]);
            axpy(&mut upstream[j * cols..][..cols], weights.v[o * n + j], &dy);
        }
    }
    (grad_v, grad_c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    fn random(rng: &mut Xoshiro256PlusPlus, len: usize, scale: f64) -> Vec<f64> {
        (0..len)
            .map(|_| scale * (2.0 * rng.random::<f64>() - 1.0))
            .collect()
    }

    /// The scalar (sequence by sequence) and the lane (whole batch per step) loops compute the
    /// same hidden states and the same gradients, for every activation, with an initial state,
    /// fed-back predictions, a truncation window and the input gradient (to 1e-12 in f64).
    #[test]
    fn scalar_and_lane_loops_agree() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let (n, m, p, steps, batch) = (3, 2, 2, 11, LANES_FROM + 1);
        let dims = Dims {
            n,
            d: m + p,
            p,
            m,
            batch,
            steps,
        };
        let cols = dims.columns();
        let weights = Weights {
            u: random(&mut rng, n * n, 0.5),
            w: random(&mut rng, n * (m + p), 0.8),
            b: random(&mut rng, n, 0.3),
            v: random(&mut rng, p * n, 0.8),
            c: random(&mut rng, p, 0.3),
        };
        let x = random(&mut rng, (m + p) * cols, 1.0);
        let h0 = random(&mut rng, n * batch, 1.0);
        let upstream = random(&mut rng, n * cols, 1.0);
        let flags: Vec<bool> = (0..p * cols)
            .map(|at| at % cols >= batch && rng.random::<f64>() < 0.3)
            .collect();
        let at_step = (0..steps)
            .map(|k| (0..p).any(|o| (0..batch).any(|i| flags[o * cols + k * batch + i])))
            .collect();
        let missing = MissingFlags { flags, at_step };
        for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
            for (h0, truncation) in [(None, None), (Some(&h0[..]), Some(4))] {
                let run = Run {
                    dims,
                    activation,
                    x: &x,
                    h0,
                    missing: Some(&missing),
                    truncation,
                };
                let mut lanes = vec![0.0; n * cols];
                let mut scalar = vec![0.0; n * cols];
                forward_lanes(&run, &weights, &mut lanes, &mut ForwardScratch::default());
                forward_scalar(&run, &weights, &mut scalar, &mut ForwardScratch::default());
                let close = |a: &[f64], b: &[f64]| {
                    assert_eq!(a.len(), b.len());
                    for (a, b) in a.iter().zip(b) {
                        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
                    }
                };
                close(&lanes, &scalar);
                let mut scratch = BackwardScratch::default();
                let gl = backward_lanes(&run, &weights, &lanes, &upstream, true, &mut scratch);
                let gs = backward_scalar(&run, &weights, &lanes, &upstream, true, &mut scratch);
                for (a, b) in [
                    (&gl.u, &gs.u),
                    (&gl.w, &gs.w),
                    (&gl.b, &gs.b),
                    (&gl.v, &gs.v),
                    (&gl.c, &gs.c),
                ] {
                    close(a, b);
                }
                close(
                    gl.x.as_deref().expect("x lanes"),
                    gs.x.as_deref().expect("x scalar"),
                );
                assert_eq!(gl.h0.is_some(), gs.h0.is_some());
                if let (Some(a), Some(b)) = (&gl.h0, &gs.h0) {
                    close(a, b);
                }
            }
        }
    }

    /// A problem with every feature switched on: feedback at about a third of the (non-first)
    /// columns, an initial state, `m = 2`, `p = 2`.
    fn problem(
        rng: &mut Xoshiro256PlusPlus,
        batch: usize,
        steps: usize,
    ) -> (Dims, Weights<f64>, Vec<f64>, Vec<f64>, MissingFlags) {
        let (n, m, p) = (3, 2, 2);
        let dims = Dims {
            n,
            d: m + p,
            p,
            m,
            batch,
            steps,
        };
        let cols = dims.columns();
        let weights = Weights {
            u: random(rng, n * n, 0.5),
            w: random(rng, n * (m + p), 0.8),
            b: random(rng, n, 0.3),
            v: random(rng, p * n, 0.8),
            c: random(rng, p, 0.3),
        };
        let x = random(rng, (m + p) * cols, 1.0);
        let h0 = random(rng, n * batch, 1.0);
        let flags: Vec<bool> = (0..p * cols)
            .map(|at| at % cols >= batch && rng.random::<f64>() < 0.3)
            .collect();
        let at_step = (0..steps)
            .map(|k| (0..p).any(|o| (0..batch).any(|i| flags[o * cols + k * batch + i])))
            .collect();
        (dims, weights, x, h0, MissingFlags { flags, at_step })
    }

    /// Every differentiable input of the kernel, flattened: `U, W, b, V, c, x, h0`.
    fn flatten(weights: &Weights<f64>, x: &[f64], h0: &[f64]) -> Vec<f64> {
        [
            &weights.u[..],
            &weights.w,
            &weights.b,
            &weights.v,
            &weights.c,
            x,
            h0,
        ]
        .concat()
    }

    fn unflatten(
        theta: &[f64],
        like: &Weights<f64>,
        x_len: usize,
    ) -> (Weights<f64>, Vec<f64>, Vec<f64>) {
        let mut at = 0;
        let mut take = |len: usize| {
            let part = theta[at..at + len].to_vec();
            at += len;
            part
        };
        let weights = Weights {
            u: take(like.u.len()),
            w: take(like.w.len()),
            b: take(like.b.len()),
            v: take(like.v.len()),
            c: take(like.c.len()),
        };
        let x = take(x_len);
        let before_h0 =
            like.u.len() + like.w.len() + like.b.len() + like.v.len() + like.c.len() + x_len;
        let h0 = theta[before_h0..].to_vec();
        (weights, x, h0)
    }

    /// Central differences of `f` at `theta` against `analytic`: each component within 1e-6 of
    /// itself (or of 1e-3 of the largest component, for those near zero).
    fn check_against_finite_differences(
        theta: &[f64],
        analytic: &[f64],
        f: impl Fn(&[f64]) -> f64,
    ) {
        let h = 1e-6;
        let numeric: Vec<f64> = (0..theta.len())
            .map(|i| {
                let mut plus = theta.to_vec();
                plus[i] += h;
                let mut minus = theta.to_vec();
                minus[i] -= h;
                (f(&plus) - f(&minus)) / (2.0 * h)
            })
            .collect();
        let scale = numeric.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
        assert!(scale > 0.0);
        for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-6 * n.abs().max(1e-3 * scale),
                "input {i}: kernel {a:e}, finite differences {n:e}"
            );
        }
    }

    /// The kernel's backpropagation through time is the gradient of its forward pass: for
    /// `L = Σ R ∘ H` with a random `R`, [`backward`] gives `∂L/∂(U, W, b, V, c, x, h_0)` equal to
    /// central finite differences (f64, relative 1e-6), for every activation, with fed-back
    /// predictions and an initial state, on both the scalar and the lane loops.
    #[test]
    fn kernel_gradient_matches_finite_differences() {
        for (batch, seed) in [(2, 1), (LANES_FROM + 1, 2)] {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let (dims, weights, x, h0, missing) = problem(&mut rng, batch, 6);
            let upstream = random(&mut rng, dims.n * dims.columns(), 1.0);
            for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
                let objective = |theta: &[f64]| {
                    let (weights, x, h0) = unflatten(theta, &weights, x.len());
                    let run = Run {
                        dims,
                        activation,
                        x: &x,
                        h0: Some(&h0),
                        missing: Some(&missing),
                        truncation: None,
                    };
                    let mut hidden = vec![0.0; dims.n * dims.columns()];
                    forward(&run, &weights, &mut hidden, &mut ForwardScratch::default());
                    hidden
                        .iter()
                        .zip(&upstream)
                        .map(|(h, r)| h * r)
                        .sum::<f64>()
                };
                let run = Run {
                    dims,
                    activation,
                    x: &x,
                    h0: Some(&h0),
                    missing: Some(&missing),
                    truncation: None,
                };
                let mut hidden = vec![0.0; dims.n * dims.columns()];
                forward(&run, &weights, &mut hidden, &mut ForwardScratch::default());
                let g = backward(
                    &run,
                    &weights,
                    &hidden,
                    &upstream,
                    true,
                    &mut BackwardScratch::default(),
                );
                let analytic =
                    [g.u, g.w, g.b, g.v, g.c, g.x.expect("x"), g.h0.expect("h0")].concat();
                check_against_finite_differences(&flatten(&weights, &x, &h0), &analytic, objective);
            }
        }
    }

    /// The fused loss is differentiated exactly: for `L = Σ_o s_o S_o` with `S` the masked sums
    /// of squared errors of [`squared_errors`] and random `s`, [`squared_errors_backward`]
    /// followed by [`backward`] gives `∂L/∂(U, W, b, V, c, x, h_0)` equal to central finite
    /// differences (f64, relative 1e-6), for every activation, with missing targets and fed-back
    /// predictions.
    #[test]
    fn loss_gradient_matches_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let (dims, weights, x, h0, missing) = problem(&mut rng, 3, 7);
        let cols = dims.columns();
        let targets = random(&mut rng, dims.p * cols, 1.0);
        let mask: Vec<f64> = (0..dims.p * cols)
            .map(|_| f64::from(u8::from(rng.random::<f64>() > 0.2)))
            .collect();
        let seed = random(&mut rng, dims.p, 1.0);
        for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
            let evaluate = |weights: &Weights<f64>, x: &[f64], h0: &[f64]| {
                let run = Run {
                    dims,
                    activation,
                    x,
                    h0: Some(h0),
                    missing: Some(&missing),
                    truncation: None,
                };
                let mut hidden = vec![0.0; dims.n * cols];
                forward(&run, weights, &mut hidden, &mut ForwardScratch::default());
                let mut errors = vec![0.0; dims.p * cols];
                let sums = squared_errors(dims, weights, &hidden, &targets, &mask, &mut errors);
                (hidden, errors, sums)
            };
            let objective = |theta: &[f64]| {
                let (weights, x, h0) = unflatten(theta, &weights, x.len());
                let (_, _, sums) = evaluate(&weights, &x, &h0);
                sums.iter().zip(&seed).map(|(s, g)| s * g).sum::<f64>()
            };
            let (hidden, errors, _) = evaluate(&weights, &x, &h0);
            let mut upstream = vec![0.0; dims.n * cols];
            let (gv, gc) =
                squared_errors_backward(dims, &weights, &hidden, &errors, &seed, &mut upstream);
            let run = Run {
                dims,
                activation,
                x: &x,
                h0: Some(&h0),
                missing: Some(&missing),
                truncation: None,
            };
            let g = backward(
                &run,
                &weights,
                &hidden,
                &upstream,
                true,
                &mut BackwardScratch::default(),
            );
            let add = |a: Vec<f64>, b: Vec<f64>| -> Vec<f64> {
                a.iter().zip(&b).map(|(a, b)| a + b).collect()
            };
            let analytic = [
                g.u,
                g.w,
                g.b,
                add(g.v, gv),
                add(g.c, gc),
                g.x.expect("x"),
                g.h0.expect("h0"),
            ]
            .concat();
            check_against_finite_differences(&flatten(&weights, &x, &h0), &analytic, objective);
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use std::time::Instant;

    /// Not a check: times the kernel alone on the long-series workload's sizes.
    #[test]
    #[ignore]
    fn time_kernel() {
        for (batch, steps, n, d) in [(1usize, 2000usize, 3usize, 2usize), (64, 200, 4, 1)] {
            let dims = Dims {
                n,
                d,
                p: 1,
                m: 1.min(d - 1),
                batch,
                steps,
            };
            let cols = dims.columns();
            let weights = Weights {
                u: vec![0.1f32; n * n],
                w: vec![0.2; n * d],
                b: vec![0.1; n],
                v: vec![0.3; n],
                c: vec![0.0; 1],
            };
            let x: Vec<f32> = (0..d * cols).map(|i| ((i % 7) as f32) * 0.1).collect();
            let up: Vec<f32> = (0..n * cols).map(|i| ((i % 5) as f32) * 0.01).collect();
            let flags: Vec<bool> = (0..cols).map(|i| i % 33 == 5).collect();
            let at_step = (0..steps)
                .map(|k| (0..batch).any(|i| flags[k * batch + i]))
                .collect();
            let missing = MissingFlags { flags, at_step };
            for activation in [Activation::Linear, Activation::Tanh] {
                let run = Run {
                    dims,
                    activation,
                    x: &x,
                    h0: None,
                    missing: (d > 1).then_some(&missing),
                    truncation: None,
                };
                let mut hidden = vec![0.0; n * cols];
                let (mut fs, mut bs) = (ForwardScratch::default(), BackwardScratch::default());
                let mut best = (f64::INFINITY, f64::INFINITY);
                for _ in 0..200 {
                    let t0 = Instant::now();
                    forward(&run, &weights, &mut hidden, &mut fs);
                    let t1 = Instant::now();
                    let g = backward(&run, &weights, &hidden, &up, false, &mut bs);
                    let t2 = Instant::now();
                    std::hint::black_box(g);
                    best.0 = best.0.min((t1 - t0).as_secs_f64() * 1e3);
                    best.1 = best.1.min((t2 - t1).as_secs_f64() * 1e3);
                }
                println!(
                    "B={batch} T={steps} n={n} {activation:?}: forward {:.4} ms, backward {:.4} ms",
                    best.0, best.1
                );
            }
        }
    }
}
