//! Subspace identification (N4SID, Van Overschee & De Moor 1994, their "algorithm 1": states
//! from oblique projections, then least squares) in dynrec's index convention.
//!
//! # The index convention and the feed-through
//!
//! dynrec's model is `x_k = A x_{k-1} + B u_k + w_k`, `z_k = H x_k + v_k`: the input of row k
//! drives the transition *into* row k, so `z_k = H A x_{k-1} + H B u_k + …` depends on `u_k`
//! directly. Written with the state `ξ_k = x_{k-1}` this is the textbook form
//! `ξ_{k+1} = A ξ_k + B u_k`, `z_k = (H A) ξ_k + (H B) u_k`, with feed-through `D = H B` and
//! correlated noises, from which `H` would need `A⁻¹`. Instead we shift the input by one row,
//!
//! ```text
//! ũ_k = u_{k+1}:   x_{k+1} = A x_k + B ũ_k + w_{k+1},   z_k = H x_k + v_k   (D = 0)
//! ```
//!
//! which is the textbook form with the *same* `A`, `B`, `H`, no feed-through and independent
//! noises. So identification runs on the pairs `(ũ_k, z_k)`, `k = 0..T-2` of each sequence (the
//! first row's input is unused, as in the filter) and `D = 0` is imposed, not estimated. The
//! Markov parameters `H A^j B` ([`crate::markov_parameters`]) are the impulse response from
//! `u_k` to `z_{k+j}`; a tool that fits `y = C x + D u` to the raw `(u_k, z_k)` finds
//! `D = H B`, `C A^j B = H A^{j+1} B`.
//!
//! # Steps
//!
//! With `i` block rows, every window of `2i` consecutive rows of one sequence is one column of
//! the block Hankel matrices (past `p` = first `i` rows, future `f` = last `i`)
//!
//! ```text
//! U_p, U_f: [i m, J],   Y_p, Y_f: [i p, J],   W_p = [U_p; Y_p]
//! ```
//!
//! Columns are stacked over sequences (a window never spans two sequences) and a window that
//! contains a missing measurement (`NaN`) is skipped. Then
//!
//! 1. `O_i = Y_f /_{U_f} W_p` (oblique projection: the `W_p` part of the least-squares fit of
//!    `Y_f` on `[W_p; U_f]`), and `O_{i-1} = Y_f⁻ /_{U_f⁻} W_p⁺` with one block row moved from
//!    the future to the past;
//! 2. `O_i = U S Vᵀ`; the order `n` is the largest gap `s_n / s_{n+1}` (or given);
//!    `Γ_i = U_1 S_1^½`, `X_i = Γ_i^† O_i`, `X_{i+1} = Γ_{i-1}^† O_{i-1}` (`Γ_{i-1}`: `Γ_i`
//!    without its last block row);
//! 3. least squares `X_{i+1} = A X_i + B Ũ_{i|i} + ρ_w`, `Y_{i|i} = H X_i + ρ_v`;
//! 4. `[Q S; Sᵀ R] = [ρ_w; ρ_v][ρ_w; ρ_v]ᵀ / J`, and the steady-state predictor gain `K` of
//!    the model with these (correlated) noises from its Riccati equation
//!    (`x̂_{k+1|k} = A x̂_{k|k-1} + B u_{k+1} + K e_k`, as `SteadyState::predictor_gain`). With
//!    finite `i` the states are non-steady Kalman estimates, so these covariances, and `K`, are
//!    biased; the bias shrinks as `i` grows (`H K` off by 31 % at `i = 10`, 4 % at `i = 20` on
//!    the 32 × 300 test data, while eig(A) is already within 3.2e-3 at `i = 10`). Ask for more
//!    block rows when the gain matters.
//!
//! Every product is taken in the coordinates of the LQ factor: the data matrix
//! `D = [U_p; U_f; Y_p; Y_f] = L Qᵀ` with `Qᵀ` orthonormal rows, so inner products of rows of
//! `D` are inner products of rows of `L` (`r × r`, r = 2i(m+p)) and `J` never enters after the
//! one QR.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use dynrec_truth::{LinearSystem, Sequence};

use crate::error::{Result, SysidError};

/// Singular values below `PINV_RCOND · s_max` count as zero in the pseudo-inverses (exactly
/// rank-deficient blocks occur with noise-free data).
const PINV_RCOND: f64 = 1e-10;
/// `R` is floored at `R_FLOOR · (mean output power) · I` so that noise-free data still gives a
/// positive definite `R`.
const R_FLOOR: f64 = 1e-10;

/// Settings of [`n4sid`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct N4sidConfig {
    /// Block rows `i` of the past and future Hankel matrices (default 10). Needs `i p > n`.
    pub block_rows: usize,
    /// Model order; `None` (default) picks it from the largest singular-value gap.
    pub order: Option<usize>,
    /// Largest order the gap search considers (default `None`: `i p − 1`).
    pub max_order: Option<usize>,
}

impl Default for N4sidConfig {
    fn default() -> Self {
        Self {
            block_rows: 10,
            order: None,
            max_order: None,
        }
    }
}

/// What [`n4sid`] found.
#[derive(Debug, Clone)]
pub struct N4sidResult {
    /// The identified system: `A`, `B`, `H`, `Q`, `R` from the regression (the cross-covariance
    /// `S` of the residuals does not fit dynrec's model and is reported separately), prior
    /// `x0 = 0`, `P0` = second moment of the estimated states.
    pub system: LinearSystem,
    /// Singular values of the oblique projection `O_i`, descending (`i p` of them).
    pub singular_values: Vec<f64>,
    /// The order used.
    pub order: usize,
    /// Cross-covariance `S = E[ρ_w ρ_vᵀ]` of the residuals (`[n, p]`).
    pub cross_covariance: DMatrix<f64>,
    /// Steady-state predictor gain `K` of the identified model with noise covariance
    /// `[Q S; Sᵀ R]` (`[n, p]`), from its Riccati equation.
    pub kalman_gain: DMatrix<f64>,
    /// Number of Hankel columns (windows) used, over all sequences.
    pub windows: usize,
}

/// Identifies a system from independent sequences by N4SID (see the module documentation).
pub fn n4sid(sequences: &[Sequence], config: &N4sidConfig) -> Result<N4sidResult> {
    let (m, p) = dimensions(sequences)?;
    let i = config.block_rows;
    if i < 2 {
        return Err(SysidError::Config {
            field: "block_rows",
            message: format!("must be at least 2, got {i}"),
        });
    }
    let data = hankel_rows(sequences, i, m, p);
    let windows = data.nrows();
    let r = 2 * i * (m + p);
    if windows < r {
        return Err(SysidError::NotEnoughData {
            found: windows,
            needed: r,
        });
    }
    // D = L Qᵀ  ⇔  Dᵀ = Q Lᵀ (thin QR of the J × r window matrix).
    let l = data.qr().r().transpose();
    let rows = Rows { i, m, p };

    // 1. oblique projections
    let o_i = oblique(
        &l,
        &rows.y_f(0),
        &[rows.u_p(0), rows.y_p(0)].concat(),
        &rows.u_f(0),
    )?;
    let o_prev = oblique(
        &l,
        &rows.y_f(1),
        &[rows.u_p(1), rows.y_p(1)].concat(),
        &rows.u_f(1),
    )?;

    // 2. SVD and order
    let svd = o_i.clone().svd(true, true);
    let (u_full, s_full) = (
        svd.u.ok_or(SysidError::Singular("SVD of O_i"))?,
        svd.singular_values,
    );
    let mut order_idx: Vec<usize> = (0..s_full.len()).collect();
    order_idx.sort_by(|&a, &b| s_full[b].total_cmp(&s_full[a]));
    let singular_values: Vec<f64> = order_idx.iter().map(|&k| s_full[k]).collect();
    let n = match config.order {
        Some(n) => n,
        None => gap_order(&singular_values, config.max_order),
    };
    if n == 0 || n >= i * p {
        return Err(SysidError::Config {
            field: "order",
            message: format!("order {n} needs 1 ≤ n < block_rows · p = {}", i * p),
        });
    }
    // Γ_i = U_1 S_1^½ ; X_i = Γ_i^† O_i
    let mut gamma = DMatrix::zeros(i * p, n);
    for (c, &k) in order_idx.iter().take(n).enumerate() {
        gamma.set_column(c, &(u_full.column(k) * s_full[k].sqrt()));
    }
    let x_i = pinv(&gamma)? * &o_i;
    let gamma_prev = gamma.rows(0, (i - 1) * p).into_owned();
    let x_next = pinv(&gamma_prev)? * &o_prev;

    // 3. least squares: X_{i+1} = [A B] [X_i; U_ii], Y_ii = H X_i
    let u_ii = select(&l, &rows.u_f(0)[..m]);
    let y_ii = select(&l, &rows.y_f(0)[..p]);
    let mut phi = DMatrix::zeros(n + m, l.ncols());
    phi.rows_mut(0, n).copy_from(&x_i);
    phi.rows_mut(n, m).copy_from(&u_ii);
    let ab = &x_next * pinv(&phi)?;
    let h = &y_ii * pinv(&x_i)?;
    let a = ab.columns(0, n).into_owned();
    let b = (m > 0).then(|| ab.columns(n, m).into_owned());

    // 4. residual covariances
    let jf = windows as f64;
    let rho_w = &x_next - &ab * &phi;
    let rho_v = &y_ii - &h * &x_i;
    let mut q = &rho_w * rho_w.transpose() / jf;
    let mut r_cov = &rho_v * rho_v.transpose() / jf;
    let cross = &rho_w * rho_v.transpose() / jf;
    let power = (&y_ii * y_ii.transpose()).trace() / (jf * p as f64);
    for d in 0..p {
        r_cov[(d, d)] += R_FLOOR * power.max(f64::MIN_POSITIVE);
    }
    symmetrise(&mut q);
    symmetrise(&mut r_cov);
    let kalman_gain = predictor_gain(&a, &h, &q, &cross, &r_cov)?;
    let mut p0 = &x_i * x_i.transpose() / jf;
    symmetrise(&mut p0);
    let system = LinearSystem::new(a, b, h, q, r_cov)?.with_prior(DVector::zeros(n), p0)?;
    Ok(N4sidResult {
        system,
        singular_values,
        order: n,
        cross_covariance: cross,
        kalman_gain,
        windows,
    })
}

/// Steady-state predictor gain of `x_{k+1} = A x_k + w`, `z_k = H x_k + v` with
/// `Cov[w; v] = [Q S; Sᵀ R]`: the predictor Riccati equation
///
/// ```text
/// P = A P Aᵀ + Q − (A P Hᵀ + S)(H P Hᵀ + R)⁻¹(A P Hᵀ + S)ᵀ,   K = (A P Hᵀ + S)(H P Hᵀ + R)⁻¹
/// ```
///
/// is the standard one of `Ã = A − S R⁻¹ H`, `Q̃ = Q − S R⁻¹ Sᵀ` (substitute `A = Ã + S R⁻¹ H`),
/// solved by `dynrec-truth`'s doubling algorithm.
fn predictor_gain(
    a: &DMatrix<f64>,
    h: &DMatrix<f64>,
    q: &DMatrix<f64>,
    s: &DMatrix<f64>,
    r: &DMatrix<f64>,
) -> Result<DMatrix<f64>> {
    let r_inv = r
        .clone()
        .try_inverse()
        .ok_or(SysidError::Singular("residual covariance R"))?;
    let sr = s * &r_inv;
    let a_tilde = a - &sr * h;
    let mut q_tilde = q - &sr * s.transpose();
    symmetrise(&mut q_tilde);
    // Q̃ is a Schur complement of the PSD joint covariance; clip rounding below zero.
    let eig = q_tilde.clone().symmetric_eigen();
    let clipped = eig.eigenvalues.map(|v| v.max(0.0));
    let mut q_tilde =
        &eig.eigenvectors * DMatrix::from_diagonal(&clipped) * eig.eigenvectors.transpose();
    symmetrise(&mut q_tilde);
    let p = LinearSystem::new(a_tilde, None, h.clone(), q_tilde, r.clone())?
        .steady_state()?
        .prior_covariance;
    let gain_t = (h * &p * h.transpose() + r)
        .cholesky()
        .ok_or(SysidError::Singular("innovation covariance H P Hᵀ + R"))?
        .solve(&(a * &p * h.transpose() + s).transpose());
    Ok(gain_t.transpose())
}

/// Input and output dimensions shared by every sequence.
pub(crate) fn dimensions(sequences: &[Sequence]) -> Result<(usize, usize)> {
    let first = sequences
        .first()
        .ok_or_else(|| SysidError::Data("no sequences".into()))?;
    let (m, p) = (first.inputs.nrows(), first.measurements.nrows());
    for (k, s) in sequences.iter().enumerate() {
        if s.inputs.nrows() != m || s.measurements.nrows() != p || s.inputs.ncols() != s.len() {
            return Err(SysidError::Data(format!(
                "sequence {k}: {}×{} inputs and {}×{} measurements, expected {m} input and {p} \
                 measurement rows with one column per row",
                s.inputs.nrows(),
                s.inputs.ncols(),
                s.measurements.nrows(),
                s.len()
            )));
        }
    }
    if p == 0 {
        return Err(SysidError::Data("no measurements".into()));
    }
    Ok((m, p))
}

/// The order at the largest singular-value gap (what [`n4sid`] uses when no order is given):
/// `n = argmax_k s_k / s_{k+1}` over `k = 1..=max_order`, where singular values at or below
/// `PINV_RCOND · s_1` count as exact zeros: when fewer than `max_order + 1` values are above
/// it (noise-free data), the numerical rank is the order (an infinite gap).
pub fn gap_order(s: &[f64], max_order: Option<usize>) -> usize {
    let kmax = max_order.unwrap_or(usize::MAX).min(s.len() - 1).max(1);
    let rank = s.iter().filter(|&&v| v > PINV_RCOND * s[0]).count();
    if (1..=kmax).contains(&rank) {
        return rank;
    }
    (1..=kmax)
        .map(|k| (k, s[k - 1] / s[k]))
        .fold(
            (1, f64::NEG_INFINITY),
            |best, c| {
                if c.1 > best.1 { c } else { best }
            },
        )
        .0
}

/// Row indices of the blocks of `D = [U_p; U_f; Y_p; Y_f]`; `shift` moves that many block rows
/// from the future to the past (`shift = 1` gives `U_p⁺`, `U_f⁻`, …).
struct Rows {
    i: usize,
    m: usize,
    p: usize,
}

impl Rows {
    fn u_p(&self, shift: usize) -> Vec<usize> {
        (0..(self.i + shift) * self.m).collect()
    }
    fn u_f(&self, shift: usize) -> Vec<usize> {
        ((self.i + shift) * self.m..2 * self.i * self.m).collect()
    }
    fn y_p(&self, shift: usize) -> Vec<usize> {
        let o = 2 * self.i * self.m;
        (o..o + (self.i + shift) * self.p).collect()
    }
    fn y_f(&self, shift: usize) -> Vec<usize> {
        let o = 2 * self.i * self.m;
        (o + (self.i + shift) * self.p..o + 2 * self.i * self.p).collect()
    }
}

/// The window matrix `Dᵀ`: one row per window of `2i` rows (`[J, 2i(m+p)]`), with
/// `ũ_k = u_{k+1}` and the measurements `z_k`, windows with a missing value skipped.
fn hankel_rows(sequences: &[Sequence], i: usize, m: usize, p: usize) -> DMatrix<f64> {
    let width = 2 * i * (m + p);
    let mut rows: Vec<f64> = Vec::new();
    let mut count = 0;
    for s in sequences {
        // pairs (ũ_k, z_k) exist for k = 0..T-2; a window starts at k0 with k0 + 2i − 1 ≤ T − 2
        let t = s.len();
        if t < 2 * i + 1 {
            continue;
        }
        'window: for k0 in 0..t - 2 * i {
            let mut row: Vec<f64> = Vec::with_capacity(width);
            for j in 0..2 * i {
                row.extend(s.inputs.column(k0 + j + 1).iter());
            }
            for j in 0..2 * i {
                let z = s.measurements.column(k0 + j);
                if z.iter().any(|v| v.is_nan()) {
                    continue 'window;
                }
                row.extend(z.iter());
            }
            debug_assert_eq!(row.len(), width);
            rows.extend(row);
            count += 1;
        }
    }
    DMatrix::from_row_slice(count, width, &rows)
}

fn select(l: &DMatrix<f64>, rows: &[usize]) -> DMatrix<f64> {
    l.select_rows(rows)
}

/// `Y /_{U} W`: fit `Y = Θ_w W + Θ_u U` by least squares (minimum-norm), return `Θ_w W`
/// (all in LQ coordinates).
fn oblique(l: &DMatrix<f64>, y: &[usize], w: &[usize], u: &[usize]) -> Result<DMatrix<f64>> {
    let wu: Vec<usize> = w.iter().chain(u).copied().collect();
    let phi = select(l, &wu);
    let theta = select(l, y) * pinv(&phi)?;
    Ok(theta.columns(0, w.len()) * select(l, w))
}

/// Moore–Penrose pseudo-inverse with relative cut-off [`PINV_RCOND`].
pub(crate) fn pinv(m: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let svd = m.clone().svd(true, true);
    let smax = svd.singular_values.max();
    svd.pseudo_inverse(PINV_RCOND * smax)
        .map_err(|_| SysidError::Singular("pseudo-inverse"))
}

/// Replaces `m` by `(m + mᵀ) / 2`.
pub(crate) fn symmetrise(m: &mut DMatrix<f64>) {
    let t = m.transpose();
    *m += t;
    *m *= 0.5;
}
