//! The Kalman filter, with inputs, missing measurements and the Joseph-form covariance update,
//! and the Rauch–Tung–Striebel smoother built on its output.

use nalgebra::{DMatrix, DMatrixView, DVector};

use crate::data::{Estimates, Sequence};
use crate::dynamics::Dynamics;
use crate::error::{Result, TruthError};
use crate::system::LinearSystem;

pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Per-row results of [`filter`] on one sequence of `T` rows (`n` states, `p` outputs).
///
/// # Shapes
/// - `means`, `predicted_means`: `[n, T]`
/// - `innovations`: `[p, T]`, `NaN` where the measurement is missing
/// - covariances: `T` blocks of `[n, n]`, read with [`FilterOutput::covariance`] and
///   [`FilterOutput::predicted_covariance`]
#[derive(Debug, Clone)]
pub struct FilterOutput {
    /// Posterior means `x̂_{k|k}`.
    pub means: DMatrix<f64>,
    /// Prior (one-step predicted) means `x̂_{k|k-1}`; row 0 holds `x0`.
    pub predicted_means: DMatrix<f64>,
    /// Innovations `e_k = z_k − H x̂_{k|k-1}` of the present components.
    pub innovations: DMatrix<f64>,
    /// Normalised innovation squared `e_kᵀ S_k⁻¹ e_k` (0 for a row with every z missing).
    pub nis: Vec<f64>,
    /// Number of measurement components present in each row.
    pub observed: Vec<usize>,
    /// `log p(z_1..z_T)` = Σ_k −½ (p_k log 2π + log det S_k + e_kᵀ S_k⁻¹ e_k), over the present
    /// components `p_k` of each row.
    pub log_likelihood: f64,
    pub(crate) covariances: Vec<f64>,
    pub(crate) predicted_covariances: Vec<f64>,
}

impl FilterOutput {
    /// Storage for `t_len` rows of `n` states and `p` outputs (innovations `NaN`); a size
    /// whose number of entries overflows is an error, not a wrapped-around allocation.
    pub(crate) fn empty(n: usize, p: usize, t_len: usize) -> Result<Self> {
        let too_large = || TruthError::TooLarge {
            what: format!("filtering {t_len} rows of {n} states"),
            detail: format!("2 × {t_len} covariances of {n}×{n} × 8 bytes"),
            needed: 16.0 * n as f64 * n as f64 * t_len as f64,
            available: usize::MAX as u64,
            limit: "addressable",
        };
        let covariances = n
            .checked_mul(n)
            .and_then(|nn| nn.checked_mul(t_len))
            .filter(|&entries| entries.checked_mul(16).is_some())
            .ok_or_else(too_large)?;
        Ok(Self {
            means: DMatrix::zeros(n, t_len),
            predicted_means: DMatrix::zeros(n, t_len),
            innovations: DMatrix::from_element(p, t_len, f64::NAN),
            nis: vec![0.0; t_len],
            observed: vec![0; t_len],
            log_likelihood: 0.0,
            covariances: vec![0.0; covariances],
            predicted_covariances: vec![0.0; covariances],
        })
    }
    /// Records the prior of row `k`.
    pub(crate) fn set_prior(&mut self, k: usize, x: &DVector<f64>, cov: &DMatrix<f64>) {
        let n = x.len();
        self.predicted_means.set_column(k, x);
        self.predicted_covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());
    }
    /// Records the posterior of row `k`.
    pub(crate) fn set_posterior(&mut self, k: usize, x: &DVector<f64>, cov: &DMatrix<f64>) {
        let n = x.len();
        self.means.set_column(k, x);
        self.covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.means.ncols()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Posterior covariance `P_{k|k}`.
    pub fn covariance(&self, k: usize) -> DMatrixView<'_, f64> {
        block(&self.covariances, self.means.nrows(), k)
    }
    /// Prior covariance `P_{k|k-1}` (`P0` at row 0).
    pub fn predicted_covariance(&self, k: usize) -> DMatrixView<'_, f64> {
        block(&self.predicted_covariances, self.means.nrows(), k)
    }
}

fn block(storage: &[f64], n: usize, k: usize) -> DMatrixView<'_, f64> {
    DMatrixView::from_slice(&storage[k * n * n..(k + 1) * n * n], n, n)
}

/// Checks that a sequence's dimensions fit the system.
pub(crate) fn check_sequence<D: Dynamics + ?Sized>(system: &D, seq: &Sequence) -> Result<()> {
    let mismatch = |what, found, expected| {
        Err(TruthError::DataMismatch {
            what,
            found,
            expected,
        })
    };
    if seq.inputs.nrows() != system.n_inputs() {
        return mismatch("inputs (u columns)", seq.inputs.nrows(), system.n_inputs());
    }
    if seq.measurements.nrows() != system.n_outputs() {
        return mismatch(
            "measurements (z columns)",
            seq.measurements.nrows(),
            system.n_outputs(),
        );
    }
    if seq.inputs.ncols() != seq.len() {
        return mismatch("input rows", seq.inputs.ncols(), seq.len());
    }
    Ok(())
}

/// Runs the Kalman filter over one sequence, starting from the prior `(x0, P0)`:
///
/// ```text
/// predict (k ≥ 2):  x̂_{k|k-1} = A x̂_{k-1|k-1} + B u_k,   P_{k|k-1} = A P_{k-1|k-1} Aᵀ + Q
/// update:           e = z − H x̂_{k|k-1},  S = H P Hᵀ + R,  K = P Hᵀ S⁻¹
///                   x̂_{k|k} = x̂_{k|k-1} + K e
///                   P_{k|k} = (I − K H) P (I − K H)ᵀ + K R Kᵀ      (Joseph form)
/// ```
///
/// Only the present components of `z_k` are used (the rows of `H` and the rows and columns of
/// `R` of missing ones are dropped); a row with every component missing is a pure prediction.
///
/// A predicted or updated state or covariance that is not finite (an unstable `A` predicting
/// through many missing rows, inputs near 1e308) is an error ([`TruthError::Diverged`])
/// naming the sequence and the row.
pub fn filter(system: &LinearSystem, seq: &Sequence) -> Result<FilterOutput> {
    filter_with_progress(system, seq, &mut |_| {})
}

/// [`filter`], calling `on_row(rows done)` after every row.
pub(crate) fn filter_with_progress(
    system: &LinearSystem,
    seq: &Sequence,
    on_row: &mut dyn FnMut(usize),
) -> Result<FilterOutput> {
    check_sequence(system, seq)?;
    let (n, p, t_len) = (system.n_states(), system.n_outputs(), seq.len());
    let (a, h, r, q) = (system.a(), system.h(), system.r(), system.q());
    let at = a.transpose();

    let mut out = FilterOutput::empty(n, p, t_len)?;
    let diverged = |row, quantity| TruthError::Diverged {
        what: "Kalman filter",
        quantity,
        sequence: seq.id,
        row,
    };

    let mut x = system.x0().clone();
    let mut x_next = DVector::zeros(n);
    let mut cov = system.p0().clone();
    let mut tmp_nn = DMatrix::zeros(n, n);
    // Buffers for rows with every component present; rows with some missing get their own.
    let mut full = UpdateBuffers::new(h.clone(), r.clone());
    let mut present: Vec<usize> = Vec::with_capacity(p);
    for k in 0..t_len {
        if k > 0 {
            // x̂_{k|k-1} = A x̂_{k-1|k-1} + B u_k
            x_next.gemv(1.0, a, &x, 0.0);
            if let Some(b) = system.b() {
                x_next.gemv(1.0, b, &seq.inputs.column(k), 1.0);
            }
            std::mem::swap(&mut x, &mut x_next);
            // P_{k|k-1} = A P Aᵀ + Q
            tmp_nn.gemm(1.0, a, &cov, 0.0);
            cov.copy_from(q);
            cov.gemm(1.0, &tmp_nn, &at, 1.0);
            if has_negative_diagonal(&cov) {
                let previous = out.covariance(k - 1).into_owned();
                let identity = DMatrix::identity(n, n);
                repair(&mut cov, &[(a, &previous), (&identity, q)]);
            }
            if !finite(&x, &cov) {
                return Err(diverged(k, PREDICTION_NOT_FINITE));
            }
        }
        out.predicted_means.set_column(k, &x);
        out.predicted_covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());

        let z = seq.measurements.column(k);
        present.clear();
        present.extend((0..p).filter(|&i| !z[i].is_nan()));
        out.observed[k] = present.len();
        if !present.is_empty() {
            let mut partial;
            let buffers = if present.len() == p {
                &mut full
            } else {
                partial = UpdateBuffers::new(
                    h.select_rows(&present),
                    r.select_rows(&present).select_columns(&present),
                );
                &mut partial
            };
            for (j, &i) in present.iter().enumerate() {
                buffers.innovation[j] = z[i];
            }
            let (nis, log_likelihood) = buffers.update(&mut x, &mut cov, seq.id, k)?;
            if !finite(&x, &cov) {
                return Err(diverged(k, ESTIMATE_NOT_FINITE));
            }
            for (j, &i) in present.iter().enumerate() {
                out.innovations[(i, k)] = buffers.innovation[j];
            }
            out.nis[k] = nis;
            out.log_likelihood += log_likelihood;
        }
        out.means.set_column(k, &x);
        out.covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());
        on_row(k + 1);
    }
    Ok(out)
}

/// The measurement update for a fixed set of present components (`h`, `r` reduced to them),
/// with every intermediate preallocated so that the time loop does not allocate.
pub(crate) struct UpdateBuffers {
    h: DMatrix<f64>,
    ht: DMatrix<f64>,
    r: DMatrix<f64>,
    /// On entry the measurement `z`, on exit the innovation `e = z − H x`.
    pub(crate) innovation: DVector<f64>,
    s_inv_e: DVector<f64>,
    chol: DMatrix<f64>,
    gain: DMatrix<f64>,
    gain_t: DMatrix<f64>,
    kr: DMatrix<f64>,
    ikh: DMatrix<f64>,
    ikh_t: DMatrix<f64>,
    tmp: DMatrix<f64>,
    /// The prior covariance of the update in progress (for [`repair`]).
    prior: DMatrix<f64>,
}

impl UpdateBuffers {
    pub(crate) fn new(h: DMatrix<f64>, r: DMatrix<f64>) -> Self {
        let (po, n) = h.shape();
        Self {
            ht: h.transpose(),
            h,
            r,
            innovation: DVector::zeros(po),
            s_inv_e: DVector::zeros(po),
            chol: DMatrix::zeros(po, po),
            gain: DMatrix::zeros(n, po),
            gain_t: DMatrix::zeros(po, n),
            kr: DMatrix::zeros(n, po),
            ikh: DMatrix::zeros(n, n),
            ikh_t: DMatrix::zeros(n, n),
            tmp: DMatrix::zeros(n, n),
            prior: DMatrix::zeros(n, n),
        }
    }

    /// Updates the prior `(x, cov)` in place to the posterior; returns the normalised innovation
    /// squared `eᵀ S⁻¹ e` and the row's log-likelihood term.
    fn update(
        &mut self,
        x: &mut DVector<f64>,
        cov: &mut DMatrix<f64>,
        sequence: i64,
        row: usize,
    ) -> Result<(f64, f64)> {
        // e = z − H x
        self.innovation.gemv(-1.0, &self.h, x, 1.0);
        self.update_with_innovation(x, cov, sequence, row)
    }

    /// As [`UpdateBuffers::update`], with `innovation` already holding `e` (the extended
    /// filter's `z − h(x̂)`).
    pub(crate) fn update_with_innovation(
        &mut self,
        x: &mut DVector<f64>,
        cov: &mut DMatrix<f64>,
        sequence: i64,
        row: usize,
    ) -> Result<(f64, f64)> {
        let singular = TruthError::Singular {
            what: "innovation covariance S = H P Hᵀ + R",
            sequence: Some(sequence),
            row,
        };
        self.prior.copy_from(cov);
        // Kᵀ = S⁻¹ H P with S = H P Hᵀ + R = L Lᵀ  (S and P symmetric)
        self.gain_t.gemm(1.0, &self.h, cov, 0.0);
        self.chol.copy_from(&self.r);
        self.chol.gemm(1.0, &self.gain_t, &self.ht, 1.0);
        if !cholesky_in_place(&mut self.chol) {
            return Err(singular);
        }
        let l = &self.chol;
        if !(l.solve_lower_triangular_mut(&mut self.gain_t)
            && l.tr_solve_lower_triangular_mut(&mut self.gain_t))
        {
            return Err(singular);
        }
        self.gain_t.transpose_to(&mut self.gain);
        self.s_inv_e.copy_from(&self.innovation);
        l.solve_lower_triangular_mut(&mut self.s_inv_e);
        l.tr_solve_lower_triangular_mut(&mut self.s_inv_e);
        let nis = self.innovation.dot(&self.s_inv_e);
        let log_det = 2.0 * l.diagonal().iter().map(|d| d.ln()).sum::<f64>();
        let log_likelihood = -0.5 * (self.innovation.len() as f64 * LN_2PI + log_det + nis);
        // x̂ = x̂⁻ + K e
        x.gemv(1.0, &self.gain, &self.innovation, 1.0);
        // Joseph form: P = (I − K H) P⁻ (I − K H)ᵀ + K R Kᵀ
        self.ikh.fill_with_identity();
        self.ikh.gemm(-1.0, &self.gain, &self.h, 1.0);
        self.ikh.transpose_to(&mut self.ikh_t);
        self.tmp.gemm(1.0, &self.ikh, cov, 0.0);
        cov.gemm(1.0, &self.tmp, &self.ikh_t, 0.0);
        self.kr.gemm(1.0, &self.gain, &self.r, 0.0);
        cov.gemm(1.0, &self.kr, &self.gain_t, 1.0);
        symmetrise(cov);
        if has_negative_diagonal(cov) {
            // The products above are not sums of squares: at extreme scales (R 1e-20 next to
            // P 1e3, P0 1e100 next to R 1e20) their rounding left variances below zero.
            repair(cov, &[(&self.ikh, &self.prior), (&self.gain, &self.r)]);
        }
        Ok((nis, log_likelihood))
    }
}

/// Why a filter stops when its prediction overflows, and what to look at.
pub(crate) const PREDICTION_NOT_FINITE: &str = "the predicted state or covariance is no longer \
     finite (an unstable system predicting through many missing rows, or inputs, noise or \
     prior too large)";

/// Why a filter stops when its estimate overflows.
pub(crate) const ESTIMATE_NOT_FINITE: &str = "the estimated state or covariance is no longer \
     finite (inputs, noise, prior or measurements too large)";

/// Whether a covariance has a diagonal entry below zero.
pub(crate) fn has_negative_diagonal(m: &DMatrix<f64>) -> bool {
    m.diagonal().iter().any(|v| *v < 0.0)
}

/// Recomputes a covariance that rounding left with a negative variance as the sum of squares
/// `Σᵢ (Mᵢ Lᵢ)(Mᵢ Lᵢ)ᵀ` with `Lᵢ Lᵢᵀ = Cᵢ` for the `(Mᵢ, Cᵢ)` given (`M C Mᵀ` terms whose
/// sum it is): every diagonal entry is then a sum of squares, ≥ 0 exactly. Used only when the
/// fast form went negative, so results elsewhere do not change in the last bit. Leaves `cov`
/// as it is when a square root cannot be computed (a covariance that is not finite); the
/// estimates are checked later.
pub(crate) fn repair(cov: &mut DMatrix<f64>, terms: &[(&DMatrix<f64>, &DMatrix<f64>)]) {
    let mut sum = DMatrix::zeros(cov.nrows(), cov.ncols());
    for (m, c) in terms {
        let Some(root) = (*c)
            .clone()
            .cholesky()
            .map(|l| l.l())
            .or_else(|| crate::simulate::psd_sqrt(c))
        else {
            return;
        };
        let factor = *m * root;
        sum.gemm(1.0, &factor, &factor.transpose(), 1.0);
    }
    symmetrise(&mut sum);
    *cov = sum;
}

/// Whether every entry of a mean and a covariance is finite.
pub(crate) fn finite(x: &DVector<f64>, cov: &DMatrix<f64>) -> bool {
    x.iter().chain(cov.iter()).all(|v| v.is_finite())
}

/// Overwrites the lower triangle of a symmetric matrix with its Cholesky factor `L`
/// (`M = L Lᵀ`) and zeroes the upper triangle; `false` if `M` is not positive definite.
pub(crate) fn cholesky_in_place(m: &mut DMatrix<f64>) -> bool {
    let n = m.nrows();
    for j in 0..n {
        let mut d = m[(j, j)];
        for k in 0..j {
            d -= m[(j, k)] * m[(j, k)];
        }
        if d.is_nan() || d <= 0.0 {
            return false;
        }
        let d = d.sqrt();
        m[(j, j)] = d;
        for i in j + 1..n {
            let mut v = m[(i, j)];
            for k in 0..j {
                v -= m[(i, k)] * m[(j, k)];
            }
            m[(i, j)] = v / d;
            m[(j, i)] = 0.0;
        }
    }
    true
}

/// Replaces `m` by `(m + mᵀ) / 2`, removing rounding asymmetry.
pub(crate) fn symmetrise(m: &mut DMatrix<f64>) {
    for j in 0..m.ncols() {
        for i in j + 1..m.nrows() {
            let avg = 0.5 * (m[(i, j)] + m[(j, i)]);
            m[(i, j)] = avg;
            m[(j, i)] = avg;
        }
    }
}

/// Smoothed means and covariances of one sequence.
///
/// # Shapes
/// `means`: `[n, T]`; covariances: `T` blocks of `[n, n]` read with [`SmootherOutput::covariance`].
#[derive(Debug, Clone)]
pub struct SmootherOutput {
    /// Smoothed means `x̂_{k|T}`.
    pub means: DMatrix<f64>,
    covariances: Vec<f64>,
}

impl SmootherOutput {
    /// Smoothed covariance `P_{k|T}`.
    pub fn covariance(&self, k: usize) -> DMatrixView<'_, f64> {
        block(&self.covariances, self.means.nrows(), k)
    }
}

/// The Rauch–Tung–Striebel smoother, run backwards over a [`filter`] output of the same
/// system and sequence (inputs and missing data are already in the filter's predictions):
///
/// ```text
/// C_k     = P_{k|k} Aᵀ P_{k+1|k}⁻¹
/// x̂_{k|T} = x̂_{k|k} + C_k (x̂_{k+1|T} − x̂_{k+1|k})
/// P_{k|T} = P_{k|k} + C_k (P_{k+1|T} − P_{k+1|k}) C_kᵀ
/// ```
///
/// A singular `P_{k+1|k}` is an error ([`TruthError::Singular`]), and so is a smoothed mean or
/// covariance that is not finite ([`TruthError::Diverged`]).
pub fn smooth(system: &LinearSystem, filtered: &FilterOutput) -> Result<SmootherOutput> {
    smooth_sequence(system, filtered, None)
}

/// [`smooth`], with the sequence's id (when known) for the errors.
pub(crate) fn smooth_sequence(
    system: &LinearSystem,
    filtered: &FilterOutput,
    sequence: Option<i64>,
) -> Result<SmootherOutput> {
    let (n, t_len) = (filtered.means.nrows(), filtered.len());
    let a = system.a();
    let mut out = SmootherOutput {
        means: filtered.means.clone(),
        covariances: filtered.covariances.clone(),
    };
    let (mut chol, mut gain, mut gain_t, mut tmp, mut dp, mut cov) = (
        DMatrix::zeros(n, n),
        DMatrix::zeros(n, n),
        DMatrix::zeros(n, n),
        DMatrix::zeros(n, n),
        DMatrix::zeros(n, n),
        DMatrix::zeros(n, n),
    );
    let mut dx = DVector::zeros(n);
    for k in (0..t_len.saturating_sub(1)).rev() {
        let p_f = filtered.covariance(k);
        let p_pred = filtered.predicted_covariance(k + 1);
        chol.copy_from(&p_pred);
        let singular = TruthError::Singular {
            what: "predicted covariance P_{k+1|k}",
            sequence,
            row: k + 1,
        };
        if !cholesky_in_place(&mut chol) {
            return Err(singular);
        }
        // Cᵀ = P_{k+1|k}⁻¹ A P_{k|k}
        gain_t.gemm(1.0, a, &p_f, 0.0);
        if !(chol.solve_lower_triangular_mut(&mut gain_t)
            && chol.tr_solve_lower_triangular_mut(&mut gain_t))
        {
            return Err(singular);
        }
        gain_t.transpose_to(&mut gain);
        dx.copy_from(&out.means.column(k + 1));
        dx -= filtered.predicted_means.column(k + 1);
        let mut mean = out.means.column_mut(k);
        mean.gemv(1.0, &gain, &dx, 1.0);
        dp.copy_from(&out.covariance(k + 1));
        dp -= p_pred;
        tmp.gemm(1.0, &gain, &dp, 0.0);
        cov.copy_from(&p_f);
        cov.gemm(1.0, &tmp, &gain_t, 1.0);
        symmetrise(&mut cov);
        if has_negative_diagonal(&cov) {
            // The same as a sum of squares: P_{k|T} = (I − C A) P_{k|k} (I − C A)ᵀ
            // + C Q Cᵀ + C P_{k+1|T} Cᵀ (with C P_{k+1|k} = P_{k|k} Aᵀ).
            let i_ca = DMatrix::identity(n, n) - &gain * a;
            let smoothed_next = out.covariance(k + 1).into_owned();
            repair(
                &mut cov,
                &[
                    (&i_ca, &p_f.into_owned()),
                    (&gain, system.q()),
                    (&gain, &smoothed_next),
                ],
            );
        }
        if !finite(&out.means.column(k).into_owned(), &cov) {
            return Err(TruthError::Diverged {
                what: "RTS smoother",
                quantity: "the smoothed state or covariance is no longer finite",
                sequence: sequence.unwrap_or_default(),
                row: k,
            });
        }
        out.covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());
    }
    Ok(out)
}

impl From<&FilterOutput> for Estimates {
    fn from(f: &FilterOutput) -> Self {
        let variances = DMatrix::from_fn(f.means.nrows(), f.len(), |i, k| f.covariance(k)[(i, i)]);
        Self {
            means: f.means.clone(),
            variances,
        }
    }
}

impl From<&SmootherOutput> for Estimates {
    fn from(s: &SmootherOutput) -> Self {
        let (n, t_len) = s.means.shape();
        let variances = DMatrix::from_fn(n, t_len, |i, k| s.covariance(k)[(i, i)]);
        Self {
            means: s.means.clone(),
            variances,
        }
    }
}

/// Filters (and, with `smoothed`, smooths) every sequence of a data set, each from the prior.
pub fn estimate(
    system: &LinearSystem,
    data: &crate::data::Dataset,
    smoothed: bool,
) -> Result<Vec<Estimates>> {
    data.sequences
        .iter()
        .map(|seq| {
            let f = filter(system, seq)?;
            let estimates = if smoothed {
                Estimates::from(&smooth_sequence(system, &f, Some(seq.id))?)
            } else {
                Estimates::from(&f)
            };
            estimates.check(seq.id, "Kalman filter")?;
            Ok(estimates)
        })
        .collect()
}
