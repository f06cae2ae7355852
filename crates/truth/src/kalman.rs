//! The Kalman filter, with inputs, missing measurements and the Joseph-form covariance update,
//! and the Rauch–Tung–Striebel smoother built on its output.

use nalgebra::{Cholesky, DMatrix, DMatrixView, DVector, Dyn};

use crate::data::Sequence;
use crate::error::{Result, TruthError};
use crate::system::LinearSystem;

const LN_2PI: f64 = 1.837_877_066_409_345_3;

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
    covariances: Vec<f64>,
    predicted_covariances: Vec<f64>,
}

impl FilterOutput {
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
pub(crate) fn check_sequence(system: &LinearSystem, seq: &Sequence) -> Result<()> {
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
pub fn filter(system: &LinearSystem, seq: &Sequence) -> Result<FilterOutput> {
    check_sequence(system, seq)?;
    let (n, p, t_len) = (system.n_states(), system.n_outputs(), seq.len());
    let (a, h, r, q) = (system.a(), system.h(), system.r(), system.q());
    let at = a.transpose();
    let ht = h.transpose();

    let mut out = FilterOutput {
        means: DMatrix::zeros(n, t_len),
        predicted_means: DMatrix::zeros(n, t_len),
        innovations: DMatrix::from_element(p, t_len, f64::NAN),
        nis: vec![0.0; t_len],
        observed: vec![0; t_len],
        log_likelihood: 0.0,
        covariances: vec![0.0; n * n * t_len],
        predicted_covariances: vec![0.0; n * n * t_len],
    };

    let mut x = system.x0().clone();
    let mut cov = system.p0().clone();
    let mut tmp_nn = DMatrix::zeros(n, n);
    let mut present: Vec<usize> = Vec::with_capacity(p);
    for k in 0..t_len {
        if k > 0 {
            // x̂_{k|k-1} = A x̂_{k-1|k-1} + B u_k
            let mut next = a * &x;
            if let Some(b) = system.b() {
                next.gemv(1.0, b, &seq.inputs.column(k), 1.0);
            }
            x = next;
            // P_{k|k-1} = A P Aᵀ + Q
            tmp_nn.gemm(1.0, a, &cov, 0.0);
            cov.copy_from(q);
            cov.gemm(1.0, &tmp_nn, &at, 1.0);
        }
        out.predicted_means.set_column(k, &x);
        out.predicted_covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());

        let z = seq.measurements.column(k);
        present.clear();
        present.extend((0..p).filter(|&i| !z[i].is_nan()));
        out.observed[k] = present.len();
        if !present.is_empty() {
            let update = if present.len() == p {
                let e = z - h * &x;
                Update::compute(&x, &cov, h, &ht, r, e, k)?
            } else {
                let h_o = h.select_rows(&present);
                let r_o = r.select_rows(&present).select_columns(&present);
                let e = DVector::from_iterator(
                    present.len(),
                    present.iter().map(|&i| z[i] - h.row(i).dot(&x.transpose())),
                );
                Update::compute(&x, &cov, &h_o, &h_o.transpose(), &r_o, e, k)?
            };
            for (j, &i) in present.iter().enumerate() {
                out.innovations[(i, k)] = update.innovation[j];
            }
            out.nis[k] = update.nis;
            out.log_likelihood += update.log_likelihood;
            x = update.mean;
            cov = update.covariance;
        }
        out.means.set_column(k, &x);
        out.covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());
    }
    Ok(out)
}

/// The measurement update with the present components (`h`, `r` already reduced to them).
struct Update {
    mean: DVector<f64>,
    covariance: DMatrix<f64>,
    innovation: DVector<f64>,
    nis: f64,
    log_likelihood: f64,
}

impl Update {
    fn compute(
        x: &DVector<f64>,
        cov: &DMatrix<f64>,
        h: &DMatrix<f64>,
        ht: &DMatrix<f64>,
        r: &DMatrix<f64>,
        innovation: DVector<f64>,
        row: usize,
    ) -> Result<Self> {
        let n = x.len();
        let pht = cov * ht; // P Hᵀ, n×p
        let mut s = r.clone(); // S = H P Hᵀ + R
        s.gemm(1.0, h, &pht, 1.0);
        let chol = Cholesky::<f64, Dyn>::new(s).ok_or(TruthError::Singular {
            what: "innovation covariance S = H P Hᵀ + R",
            row,
        })?;
        // Kᵀ = S⁻¹ H P  (S and P symmetric)
        let gain = chol.solve(&pht.transpose()).transpose();
        let s_inv_e = chol.solve(&innovation);
        let nis = innovation.dot(&s_inv_e);
        let log_det = 2.0
            * chol
                .l_dirty()
                .diagonal()
                .iter()
                .map(|d| d.ln())
                .sum::<f64>();
        let log_likelihood = -0.5 * (innovation.len() as f64 * LN_2PI + log_det + nis);
        let mean = x + &gain * &innovation;
        // Joseph form: (I − K H) P (I − K H)ᵀ + K R Kᵀ
        let mut ikh = DMatrix::identity(n, n);
        ikh.gemm(-1.0, &gain, h, 1.0);
        let kr = &gain * r;
        let mut covariance = &ikh * cov * ikh.transpose();
        covariance.gemm(1.0, &kr, &gain.transpose(), 1.0);
        symmetrise(&mut covariance);
        Ok(Self {
            mean,
            covariance,
            innovation,
            nis,
            log_likelihood,
        })
    }
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
pub fn smooth(system: &LinearSystem, filtered: &FilterOutput) -> Result<SmootherOutput> {
    let (n, t_len) = (filtered.means.nrows(), filtered.len());
    let a = system.a();
    let mut out = SmootherOutput {
        means: filtered.means.clone(),
        covariances: filtered.covariances.clone(),
    };
    for k in (0..t_len.saturating_sub(1)).rev() {
        let p_f = filtered.covariance(k);
        let p_pred = filtered.predicted_covariance(k + 1).into_owned();
        let chol = Cholesky::<f64, Dyn>::new(p_pred.clone()).ok_or(TruthError::Singular {
            what: "predicted covariance P_{k+1|k}",
            row: k + 1,
        })?;
        // Cᵀ = P_{k+1|k}⁻¹ A P_{k|k}
        let gain = chol.solve(&(a * p_f)).transpose();
        let dx = out.means.column(k + 1) - filtered.predicted_means.column(k + 1);
        let mean = filtered.means.column(k) + &gain * dx;
        let dp = out.covariance(k + 1) - p_pred;
        let mut cov = p_f + &gain * dp * gain.transpose();
        symmetrise(&mut cov);
        out.means.set_column(k, &mean);
        out.covariances[k * n * n..(k + 1) * n * n].copy_from_slice(cov.as_slice());
    }
    Ok(out)
}

/// Posterior means and the diagonal of the posterior covariances of one sequence, the content
/// of the filter output file.
///
/// # Shapes
/// `means`, `variances`: `[n, T]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimates {
    /// Posterior means.
    pub means: DMatrix<f64>,
    /// Diagonals of the posterior covariances.
    pub variances: DMatrix<f64>,
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
            Ok(if smoothed {
                Estimates::from(&smooth(system, &f)?)
            } else {
                Estimates::from(&f)
            })
        })
        .collect()
}
