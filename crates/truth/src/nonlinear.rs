//! Filters for any [`Dynamics`]: the extended Kalman filter (EKF), the unscented Kalman filter
//! (UKF), and [`filter_dynamics`], which uses the exact Kalman filter when the system is linear.
//!
//! All return the linear filter's [`FilterOutput`] (means, covariances, predictions,
//! innovations, NIS, log-likelihood) and treat missing measurements as it does: only the
//! present components of `z_k` are used, and a row with every component missing is a pure
//! prediction. The log-likelihood is that of the Gaussian approximation each filter makes.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Estimates, Sequence};
use crate::dynamics::{Dynamics, check_dimensions};
use crate::error::{Result, TruthError};
use crate::kalman::{
    ESTIMATE_NOT_FINITE, FilterOutput, LN_2PI, UpdateBuffers, check_sequence, filter_with_progress,
    finite, has_negative_diagonal, repair, smooth_sequence, symmetrise,
};
use crate::limits::{check_memory, filter_bytes};

/// Which estimator to run on a system.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterMethod {
    /// The exact Kalman filter for a linear system, the extended Kalman filter otherwise.
    #[default]
    Auto,
    /// The extended Kalman filter (on a linear system it is the Kalman filter).
    Ekf,
    /// The unscented Kalman filter with [`UnscentedParams::default`].
    Ukf,
}

fn diverged(seq: &Sequence, row: usize, what: &'static str) -> TruthError {
    TruthError::Diverged {
        what,
        quantity: ESTIMATE_NOT_FINITE,
        sequence: seq.id,
        row,
    }
}

/// The extended Kalman filter over one sequence, from the prior `(x0, P0)`:
///
/// ```text
/// predict (k ≥ 2):  x̂_{k|k-1} = f(x̂_{k-1|k-1}, u_k),  F = ∂f/∂x at (x̂_{k-1|k-1}, u_k)
///                   P_{k|k-1} = F P_{k-1|k-1} Fᵀ + Q
/// update:           e = z − h(x̂_{k|k-1}),  H = ∂h/∂x at x̂_{k|k-1},  S = H P Hᵀ + R
///                   K = P Hᵀ S⁻¹,  x̂_{k|k} = x̂_{k|k-1} + K e
///                   P_{k|k} = (I − K H) P (I − K H)ᵀ + K R Kᵀ      (Joseph form)
/// ```
///
/// On a linear system this is the Kalman filter ([`filter`](crate::kalman::filter)) up to
/// rounding (tested to 1e-12).
/// A non-finite estimate is an error ([`TruthError::Diverged`]).
pub fn extended_filter<D: Dynamics + ?Sized>(system: &D, seq: &Sequence) -> Result<FilterOutput> {
    extended_filter_with_progress(system, seq, &mut |_| {})
}

/// [`extended_filter`], calling `on_row(rows done)` after every row.
fn extended_filter_with_progress<D: Dynamics + ?Sized>(
    system: &D,
    seq: &Sequence,
    on_row: &mut dyn FnMut(usize),
) -> Result<FilterOutput> {
    check_dimensions(system)?;
    check_sequence(system, seq)?;
    let (n, p, t_len) = (system.n_states(), system.n_outputs(), seq.len());
    let noise = system.noise();
    let (q, r) = (noise.q(), noise.r());
    let mut out = FilterOutput::empty(n, p, t_len)?;
    let mut x = noise.x0().clone();
    let mut cov = noise.p0().clone();
    let mut present: Vec<usize> = Vec::with_capacity(p);
    for k in 0..t_len {
        if k > 0 {
            let u = seq.inputs.column(k).into_owned();
            let f = system.transition_jacobian(&x, &u);
            x = system.transition(&x, &u);
            // P_{k|k-1} = F P Fᵀ + Q
            let previous = cov;
            cov = q + &f * &previous * f.transpose();
            if has_negative_diagonal(&cov) {
                repair(&mut cov, &[(&f, &previous), (&DMatrix::identity(n, n), q)]);
            }
            if !finite(&x, &cov) {
                return Err(diverged(seq, k, "extended Kalman filter"));
            }
        }
        out.set_prior(k, &x, &cov);
        let z = seq.measurements.column(k);
        present.clear();
        present.extend((0..p).filter(|&i| !z[i].is_nan()));
        out.observed[k] = present.len();
        if !present.is_empty() {
            let predicted = system.measure(&x);
            let jacobian = system.measurement_jacobian(&x);
            let mut buffers = UpdateBuffers::new(
                jacobian.select_rows(&present),
                r.select_rows(&present).select_columns(&present),
            );
            for (j, &i) in present.iter().enumerate() {
                buffers.innovation[j] = z[i] - predicted[i];
            }
            let (nis, log_likelihood) =
                buffers.update_with_innovation(&mut x, &mut cov, seq.id, k)?;
            for (j, &i) in present.iter().enumerate() {
                out.innovations[(i, k)] = buffers.innovation[j];
            }
            out.nis[k] = nis;
            out.log_likelihood += log_likelihood;
            if !finite(&x, &cov) {
                return Err(diverged(seq, k, "extended Kalman filter"));
            }
        }
        out.set_posterior(k, &x, &cov);
        on_row(k + 1);
    }
    Ok(out)
}

/// The parameters of the unscented transform: `2n + 1` sigma points
/// `x̂`, `x̂ ± √(n + λ) Lᵢ` (columns of the Cholesky factor `L Lᵀ = P`), `λ = α² (n + κ) − n`,
/// mean weights `λ/(n+λ)`, `1/(2(n+λ))`, covariance weight of the centre `λ/(n+λ) + 1 − α² + β`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnscentedParams {
    /// Spread of the sigma points (default 1: points at `±√n` standard deviations; small α
    /// makes the centre weight large and negative and loses digits to cancellation).
    pub alpha: f64,
    /// Prior knowledge of the distribution (2 is optimal for a Gaussian).
    pub beta: f64,
    /// Secondary scaling (default 0).
    pub kappa: f64,
}

impl Default for UnscentedParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 2.0,
            kappa: 0.0,
        }
    }
}

/// Sigma points and weights of `N(x, P)`: the centre `x`, then `x + δᵢ` (i = 1..n), then
/// `x − δᵢ`, with `δᵢ = √c Lᵢ` (`c = n + λ`, `L Lᵀ = P`).
struct SigmaPoints {
    points: Vec<DVector<f64>>,
    /// `c = n + λ`.
    scale: f64,
    mean_weights: Vec<f64>,
    cov_weights: Vec<f64>,
}

impl SigmaPoints {
    fn new(x: &DVector<f64>, cov: &DMatrix<f64>, params: &UnscentedParams) -> Option<Self> {
        let n = x.len() as f64;
        let lambda = params.alpha * params.alpha * (n + params.kappa) - n;
        let scale = n + lambda;
        if scale <= 0.0 {
            return None;
        }
        // A square root of P: Cholesky, or the eigen-root when P is only semi-definite.
        let root = match cov.clone().cholesky() {
            Some(c) => c.l(),
            None => crate::simulate::psd_sqrt(cov)?,
        } * scale.sqrt();
        let mut points = vec![x.clone()];
        for j in 0..x.len() {
            points.push(x + root.column(j));
        }
        for j in 0..x.len() {
            points.push(x - root.column(j));
        }
        let w = 1.0 / (2.0 * scale);
        let mut mean_weights = vec![w; points.len()];
        mean_weights[0] = lambda / scale;
        let mut cov_weights = mean_weights.clone();
        cov_weights[0] += 1.0 - params.alpha * params.alpha + params.beta;
        Some(Self {
            points,
            scale,
            mean_weights,
            cov_weights,
        })
    }

    /// The posterior covariance `P − K S Kᵀ` of the measurement update, computed as a sum of
    /// squares so that rounding cannot make it indefinite (with `R` ≤ 1e-20 or `P` near 1e300
    /// the subtraction left variances below zero). With the sigma offsets `δᵢ`, the observed
    /// points `Zᵢ±`, `dᵢ = (Zᵢ⁺ − Zᵢ⁻)/2`, `sᵢ = (Zᵢ⁺ + Zᵢ⁻)/2 − ẑ`, `e₀ = Z₀ − ẑ`:
    ///
    /// ```text
    /// P⁺ = Σᵢ (δᵢ − K dᵢ)(δᵢ − K dᵢ)ᵀ / c + K (R + Σᵢ sᵢ sᵢᵀ / c + Wc₀ e₀ e₀ᵀ) Kᵀ
    /// ```
    ///
    /// which equals `P − K S Kᵀ` exactly in exact arithmetic (`P = Σ δᵢ δᵢᵀ / c`,
    /// `C = Σ δᵢ dᵢᵀ / c`, `S = Σ (dᵢ dᵢᵀ + sᵢ sᵢᵀ) / c + Wc₀ e₀ e₀ᵀ + R`, `K S Kᵀ = K Cᵀ`).
    /// Every term is a Gram product, so the diagonal is a sum of squares (for `Wc₀ ≥ 0`, as
    /// with the default parameters). `None` when no square root of `r` exists.
    fn posterior_covariance(
        &self,
        observed: &[DVector<f64>],
        z_hat: &DVector<f64>,
        gain: &DMatrix<f64>,
        r: &DMatrix<f64>,
    ) -> Option<DMatrix<f64>> {
        let n = (self.points.len() - 1) / 2;
        let centre = &self.points[0];
        let root_r = match r.clone().cholesky() {
            Some(c) => c.l(),
            None => crate::simulate::psd_sqrt(r)?,
        };
        let inv_sqrt_c = 1.0 / self.scale.sqrt();
        let w0 = self.cov_weights[0];
        let mut columns: Vec<DVector<f64>> = Vec::with_capacity(2 * n + r.ncols() + 1);
        for i in 0..n {
            let (plus, minus) = (&observed[1 + i], &observed[1 + n + i]);
            let delta = &self.points[1 + i] - centre;
            let d = (plus - minus) * 0.5;
            let spread = (plus + minus) * 0.5 - z_hat;
            columns.push((delta - gain * d) * inv_sqrt_c);
            columns.push(gain * spread * inv_sqrt_c);
        }
        for j in 0..root_r.ncols() {
            columns.push(gain * root_r.column(j));
        }
        let k_e0 = gain * (&observed[0] - z_hat);
        if w0 >= 0.0 {
            columns.push(&k_e0 * w0.sqrt());
        }
        let g = DMatrix::from_columns(&columns);
        let mut cov = &g * g.transpose();
        if w0 < 0.0 {
            cov.ger(w0, &k_e0, &k_e0, 1.0);
        }
        symmetrise(&mut cov);
        Some(cov)
    }

    /// Weighted mean of transformed points.
    fn mean(&self, values: &[DVector<f64>]) -> DVector<f64> {
        let mut mean = DVector::zeros(values[0].len());
        for (v, w) in values.iter().zip(&self.mean_weights) {
            mean.axpy(*w, v, 1.0);
        }
        mean
    }

    /// Weighted cross-covariance `Σ Wc (a_i − ā)(b_i − b̄)ᵀ`.
    fn cross(
        &self,
        a: &[DVector<f64>],
        a_mean: &DVector<f64>,
        b: &[DVector<f64>],
        b_mean: &DVector<f64>,
    ) -> DMatrix<f64> {
        let mut c = DMatrix::zeros(a_mean.len(), b_mean.len());
        for ((ai, bi), w) in a.iter().zip(b).zip(&self.cov_weights) {
            c.ger(*w, &(ai - a_mean), &(bi - b_mean), 1.0);
        }
        c
    }
}

/// The unscented Kalman filter over one sequence, from the prior `(x0, P0)`, with additive
/// noise:
///
/// ```text
/// predict (k ≥ 2):  χ = sigma points of (x̂_{k-1|k-1}, P_{k-1|k-1}),  Y_i = f(χ_i, u_k)
///                   x̂_{k|k-1} = Σ Wm_i Y_i,  P_{k|k-1} = Σ Wc_i (Y_i − x̂)(Y_i − x̂)ᵀ + Q
/// update:           χ = sigma points of (x̂_{k|k-1}, P_{k|k-1}),  Z_i = h(χ_i) (present rows)
///                   ẑ = Σ Wm_i Z_i,  S = Σ Wc_i (Z_i − ẑ)(Z_i − ẑ)ᵀ + R,
///                   C = Σ Wc_i (χ_i − x̂)(Z_i − ẑ)ᵀ,  K = C S⁻¹
///                   x̂_{k|k} = x̂_{k|k-1} + K (z − ẑ),  P_{k|k} = P_{k|k-1} − K S Kᵀ
/// ```
///
/// `P_{k|k}` is computed as a sum of squares equal to `P_{k|k-1} − K S Kᵀ` (see
/// `SigmaPoints::posterior_covariance`), so that no variance comes out negative.
///
/// The unscented transform is exact for linear maps, so on a linear system this is the
/// Kalman filter up to rounding (tested).
pub fn unscented_filter<D: Dynamics + ?Sized>(
    system: &D,
    seq: &Sequence,
    params: &UnscentedParams,
) -> Result<FilterOutput> {
    unscented_filter_with_progress(system, seq, params, &mut |_| {})
}

/// [`unscented_filter`], calling `on_row(rows done)` after every row.
fn unscented_filter_with_progress<D: Dynamics + ?Sized>(
    system: &D,
    seq: &Sequence,
    params: &UnscentedParams,
    on_row: &mut dyn FnMut(usize),
) -> Result<FilterOutput> {
    check_dimensions(system)?;
    check_sequence(system, seq)?;
    for (field, value) in [
        ("alpha", params.alpha),
        ("beta", params.beta),
        ("kappa", params.kappa),
    ] {
        if !value.is_finite() {
            return Err(TruthError::Parameter {
                field,
                message: format!("{value} must be finite"),
            });
        }
    }
    let (n, p, t_len) = (system.n_states(), system.n_outputs(), seq.len());
    if params.alpha == 0.0 || n as f64 + params.kappa <= 0.0 {
        return Err(TruthError::Parameter {
            field: "kappa",
            message: format!("α² (n + κ) must be > 0 (n = {n})"),
        });
    }
    let noise = system.noise();
    let (q, r) = (noise.q(), noise.r());
    let mut out = FilterOutput::empty(n, p, t_len)?;
    let mut x = noise.x0().clone();
    let mut cov = noise.p0().clone();
    let mut present: Vec<usize> = Vec::with_capacity(p);
    let sigma = |x: &DVector<f64>, cov: &DMatrix<f64>, k: usize| {
        SigmaPoints::new(x, cov, params).ok_or_else(|| diverged(seq, k, "unscented Kalman filter"))
    };
    for k in 0..t_len {
        if k > 0 {
            let u = seq.inputs.column(k).into_owned();
            let s = sigma(&x, &cov, k)?;
            let moved: Vec<_> = s.points.iter().map(|c| system.transition(c, &u)).collect();
            x = s.mean(&moved);
            cov = s.cross(&moved, &x, &moved, &x) + q;
            symmetrise(&mut cov);
            if !finite(&x, &cov) {
                return Err(diverged(seq, k, "unscented Kalman filter"));
            }
        }
        out.set_prior(k, &x, &cov);
        let z = seq.measurements.column(k);
        present.clear();
        present.extend((0..p).filter(|&i| !z[i].is_nan()));
        out.observed[k] = present.len();
        if !present.is_empty() {
            let s = sigma(&x, &cov, k)?;
            let observed: Vec<DVector<f64>> = s
                .points
                .iter()
                .map(|c| {
                    let full = system.measure(c);
                    DVector::from_iterator(present.len(), present.iter().map(|&i| full[i]))
                })
                .collect();
            let z_hat = s.mean(&observed);
            let r_sel = r.select_rows(&present).select_columns(&present);
            let mut s_cov = s.cross(&observed, &z_hat, &observed, &z_hat) + &r_sel;
            symmetrise(&mut s_cov);
            let c = s.cross(&s.points, &x, &observed, &z_hat);
            let e = DVector::from_iterator(
                present.len(),
                present.iter().enumerate().map(|(j, &i)| z[i] - z_hat[j]),
            );
            let singular = TruthError::Singular {
                what: "innovation covariance S",
                sequence: Some(seq.id),
                row: k,
            };
            let chol = s_cov.clone().cholesky().ok_or(singular)?;
            let s_inv_e = chol.solve(&e);
            let nis = e.dot(&s_inv_e);
            let log_det = 2.0 * chol.l().diagonal().iter().map(|d| d.ln()).sum::<f64>();
            // K = C S⁻¹ (S symmetric: Kᵀ = S⁻¹ Cᵀ)
            let gain = chol.solve(&c.transpose()).transpose();
            x += &gain * &e;
            cov = s
                .posterior_covariance(&observed, &z_hat, &gain, &r_sel)
                .ok_or_else(|| diverged(seq, k, "unscented Kalman filter"))?;
            for (j, &i) in present.iter().enumerate() {
                out.innovations[(i, k)] = e[j];
            }
            out.nis[k] = nis;
            out.log_likelihood += -0.5 * (present.len() as f64 * LN_2PI + log_det + nis);
            if !finite(&x, &cov) {
                return Err(diverged(seq, k, "unscented Kalman filter"));
            }
        }
        out.set_posterior(k, &x, &cov);
        on_row(k + 1);
    }
    Ok(out)
}

/// The reference estimator for any system: the exact Kalman filter when
/// [`Dynamics::as_linear`] is `Some`, otherwise the one `method` names
/// ([`FilterMethod::Auto`]: the EKF).
pub fn filter_dynamics<D: Dynamics + ?Sized>(
    system: &D,
    seq: &Sequence,
    method: FilterMethod,
) -> Result<FilterOutput> {
    filter_dynamics_with_progress(system, seq, method, &mut |_| {})
}

/// [`filter_dynamics`], calling `on_row(rows done)` after every row.
fn filter_dynamics_with_progress<D: Dynamics + ?Sized>(
    system: &D,
    seq: &Sequence,
    method: FilterMethod,
    on_row: &mut dyn FnMut(usize),
) -> Result<FilterOutput> {
    match (method, system.as_linear()) {
        (FilterMethod::Auto, Some(linear)) => filter_with_progress(linear, seq, on_row),
        (FilterMethod::Auto | FilterMethod::Ekf, _) => {
            extended_filter_with_progress(system, seq, on_row)
        }
        (FilterMethod::Ukf, _) => {
            unscented_filter_with_progress(system, seq, &UnscentedParams::default(), on_row)
        }
    }
}

/// Filters every sequence of a data set with [`filter_dynamics`]; with `smoothed`, RTS-smooths
/// them, which needs a linear system (every method is the Kalman filter there); there is no
/// nonlinear smoother, and asking for one is an error.
///
/// A job whose arrays would not fit in the memory the machine has is refused before it starts
/// ([`TruthError::TooLarge`], see [`crate::limits`]); an estimate that is not finite, or a
/// negative variance, is an error ([`TruthError::Diverged`]) naming the sequence and the row,
/// so every number returned is finite and every variance ≥ 0.
pub fn estimate_dynamics<D: Dynamics + ?Sized>(
    system: &D,
    data: &Dataset,
    method: FilterMethod,
    smoothed: bool,
) -> Result<Vec<Estimates>> {
    estimate_dynamics_with_progress(system, data, method, smoothed, &mut |_, _| {})
}

/// [`estimate_dynamics`], calling `progress(rows done, rows in all)` after every row.
pub fn estimate_dynamics_with_progress<D: Dynamics + ?Sized>(
    system: &D,
    data: &Dataset,
    method: FilterMethod,
    smoothed: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<Estimates>> {
    let linear = system.as_linear();
    if smoothed && linear.is_none() {
        return Err(TruthError::Parameter {
            field: "smooth",
            message: format!(
                "smoothing is implemented for linear systems only (the system is {}); \
                 filter without smoothing",
                system.describe()
            ),
        });
    }
    let longest = data.sequences.iter().map(Sequence::len).max().unwrap_or(0);
    let rows: usize = data.sequences.iter().map(Sequence::len).sum();
    let (needed, detail) = filter_bytes(
        longest,
        rows,
        system.n_states(),
        system.n_outputs(),
        smoothed,
    );
    check_memory(
        || {
            format!(
                "filtering {rows} rows of {} states{}",
                system.n_states(),
                if smoothed { " and smoothing them" } else { "" }
            )
        },
        detail,
        needed,
    )?;
    let what = match (method, linear) {
        (FilterMethod::Ukf, _) => "unscented Kalman filter",
        (_, Some(_)) if smoothed => "RTS smoother",
        (_, Some(_)) => "Kalman filter",
        _ => "extended Kalman filter",
    };
    let (total, mut done) = (rows as u64, 0);
    data.sequences
        .iter()
        .map(|seq| {
            let f = filter_dynamics_with_progress(system, seq, method, &mut |k| {
                progress(done + k as u64, total)
            })?;
            let estimates = match (smoothed, linear) {
                (true, Some(linear)) => {
                    Estimates::from(&smooth_sequence(linear, &f, Some(seq.id))?)
                }
                _ => Estimates::from(&f),
            };
            estimates.check(seq.id, what)?;
            done += seq.len() as u64;
            Ok(estimates)
        })
        .collect()
}
