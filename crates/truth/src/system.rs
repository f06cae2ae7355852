//! The linear-Gaussian state-space system, validated once at construction (its file format is
//! in [`crate::spec`]).
//!
//! ```text
//! x_k = A x_{k-1} + B u_k + w_k,   w_k ~ N(0, Q)
//! z_k = H x_k + v_k,               v_k ~ N(0, R)
//! x_1 ~ N(x0, P0)
//! ```

use nalgebra::{DMatrix, DVector};

use crate::error::{Result, TruthError};

/// Relative tolerance for the symmetry of covariances: `|M_ij - M_ji| <= tol * max(1, max|M|)`.
const SYMMETRY_TOLERANCE: f64 = 1e-10;
/// Relative tolerance for positive (semi-)definiteness: `λ_min >= -tol · max|λ|`
/// (definite: `λ_min > tol · max|λ|`).
const PSD_TOLERANCE: f64 = 1e-12;

/// A validated linear-Gaussian state-space system with `n` states, `m` inputs and `p` outputs.
///
/// Every field is checked once, in [`LinearSystem::new`] and [`LinearSystem::with_prior`]:
/// shapes agree, numbers are finite, `Q` and `P0` are symmetric positive semi-definite and `R`
/// is symmetric positive definite. Nothing downstream re-checks them.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearSystem {
    a: DMatrix<f64>,
    b: Option<DMatrix<f64>>,
    h: DMatrix<f64>,
    noise: Noise,
}

/// The Gaussian part of a state-space model with `n` states and `p` outputs: additive process
/// noise `w_k ~ N(0, Q)`, additive measurement noise `v_k ~ N(0, R)` and the prior
/// `x_1 ~ N(x0, P0)` on the state at the first data row.
///
/// Checked once, at construction: `Q` (n×n) and `P0` are finite, symmetric positive
/// semi-definite, `R` (p×p) is symmetric positive definite, `x0` has `n` finite entries.
///
/// # Shapes
/// `q`: n×n, `r`: p×p, `x0`: n, `p0`: n×n.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    q: DMatrix<f64>,
    r: DMatrix<f64>,
    x0: DVector<f64>,
    p0: DMatrix<f64>,
}

impl Noise {
    /// Noise covariances `Q`, `R` with the default prior `x0 = 0`, `P0 = I`.
    /// Both must have at least one row: a model has at least one state and one output.
    pub fn new(q: DMatrix<f64>, r: DMatrix<f64>) -> Result<Self> {
        let n = q.nrows();
        check_shape("Q", &q, n, n, "n x n")?;
        check_not_empty("Q", &q, "at least one state (n x n, n ≥ 1)")?;
        check_covariance("Q", &q, false)?;
        let p = r.nrows();
        check_shape("R", &r, p, p, "p x p")?;
        check_not_empty("R", &r, "at least one output (p x p, p ≥ 1)")?;
        check_covariance("R", &r, true)?;
        Ok(Self {
            x0: DVector::zeros(n),
            p0: DMatrix::identity(n, n),
            q,
            r,
        })
    }

    /// `Q = q I_n`, `R = r I_p`, prior `x0 = 0`, `P0 = I`.
    pub fn isotropic(n: usize, p: usize, q: f64, r: f64) -> Result<Self> {
        Self::new(DMatrix::identity(n, n) * q, DMatrix::identity(p, p) * r)
    }

    /// The same noise with the prior `x_1 ~ N(x0, P0)` on the state at the first data row.
    pub fn with_prior(mut self, x0: DVector<f64>, p0: DMatrix<f64>) -> Result<Self> {
        let n = self.n_states();
        if x0.len() != n {
            return Err(TruthError::Dimension {
                field: "x0",
                expected: format!("{n} entries (n)"),
                rows: x0.len(),
                cols: 1,
            });
        }
        check_finite("x0", &DMatrix::from_column_slice(n, 1, x0.as_slice()))?;
        check_shape("P0", &p0, n, n, "n x n")?;
        check_covariance("P0", &p0, false)?;
        self.x0 = x0;
        self.p0 = p0;
        Ok(self)
    }

    /// Process-noise covariance `Q` (n×n).
    pub fn q(&self) -> &DMatrix<f64> {
        &self.q
    }
    /// Measurement-noise covariance `R` (p×p).
    pub fn r(&self) -> &DMatrix<f64> {
        &self.r
    }
    /// Prior mean of the state at the first data row.
    pub fn x0(&self) -> &DVector<f64> {
        &self.x0
    }
    /// Prior covariance of the state at the first data row.
    pub fn p0(&self) -> &DMatrix<f64> {
        &self.p0
    }
    /// Number of states `n` (rows of `Q`).
    pub fn n_states(&self) -> usize {
        self.q.nrows()
    }
    /// Number of outputs `p` (rows of `R`).
    pub fn n_outputs(&self) -> usize {
        self.r.nrows()
    }
}

impl LinearSystem {
    /// A system with the default prior `x0 = 0`, `P0 = I`.
    ///
    /// # Shapes
    /// `a`: n×n, `b`: n×m (or `None`: no inputs), `h`: p×n, `q`: n×n, `r`: p×p.
    pub fn new(
        a: DMatrix<f64>,
        b: Option<DMatrix<f64>>,
        h: DMatrix<f64>,
        q: DMatrix<f64>,
        r: DMatrix<f64>,
    ) -> Result<Self> {
        let n = a.nrows();
        check_shape("A", &a, n, n, "n x n")?;
        if n == 0 {
            return Err(TruthError::Dimension {
                field: "A",
                expected: "at least one state".into(),
                rows: 0,
                cols: 0,
            });
        }
        check_finite("A", &a)?;
        if let Some(b) = &b {
            check_shape("B", b, n, b.ncols(), "n x m (n rows, as A)")?;
            check_finite("B", b)?;
        }
        check_measurement(&h, n)?;
        let p = h.nrows();
        check_shape("Q", &q, n, n, "n x n")?;
        check_shape("R", &r, p, p, "p x p (p = rows of H)")?;
        let noise = Noise::new(q, r)?;
        let b = b.filter(|b| b.ncols() > 0);
        Ok(Self { a, b, h, noise })
    }

    /// A system from its matrices and an already validated [`Noise`] (whose `Q` must be n×n
    /// and `R` p×p).
    pub fn from_parts(
        a: DMatrix<f64>,
        b: Option<DMatrix<f64>>,
        h: DMatrix<f64>,
        noise: Noise,
    ) -> Result<Self> {
        let (x0, p0) = (noise.x0.clone(), noise.p0.clone());
        Self::new(a, b, h, noise.q, noise.r)?.with_prior(x0, p0)
    }

    /// The same system with the prior `x_1 ~ N(x0, P0)` on the state at the first data row.
    pub fn with_prior(mut self, x0: DVector<f64>, p0: DMatrix<f64>) -> Result<Self> {
        self.noise = self.noise.with_prior(x0, p0)?;
        Ok(self)
    }

    /// The noise covariances and the prior.
    pub fn noise(&self) -> &Noise {
        &self.noise
    }

    /// Dynamics matrix `A` (n×n).
    pub fn a(&self) -> &DMatrix<f64> {
        &self.a
    }
    /// Input matrix `B` (n×m), `None` when the system has no inputs.
    pub fn b(&self) -> Option<&DMatrix<f64>> {
        self.b.as_ref()
    }
    /// Measurement matrix `H` (p×n).
    pub fn h(&self) -> &DMatrix<f64> {
        &self.h
    }
    /// Process-noise covariance `Q` (n×n).
    pub fn q(&self) -> &DMatrix<f64> {
        &self.noise.q
    }
    /// Measurement-noise covariance `R` (p×p).
    pub fn r(&self) -> &DMatrix<f64> {
        &self.noise.r
    }
    /// Prior mean of the state at the first data row.
    pub fn x0(&self) -> &DVector<f64> {
        &self.noise.x0
    }
    /// Prior covariance of the state at the first data row.
    pub fn p0(&self) -> &DMatrix<f64> {
        &self.noise.p0
    }
    /// Number of states `n`.
    pub fn n_states(&self) -> usize {
        self.a.nrows()
    }
    /// Number of inputs `m` (0 without `B`).
    pub fn n_inputs(&self) -> usize {
        self.b.as_ref().map_or(0, |b| b.ncols())
    }
    /// Number of outputs `p`.
    pub fn n_outputs(&self) -> usize {
        self.h.nrows()
    }

    /// The transition into a row: `A x + B u` (`u` is ignored when the system has no inputs).
    pub fn transition(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        let mut next = &self.a * x;
        if let Some(b) = &self.b {
            next.gemv(1.0, b, u, 1.0);
        }
        next
    }
}

/// A matrix from its rows, rejecting ragged rows.
pub(crate) fn matrix(field: &'static str, rows: &[Vec<f64>]) -> Result<DMatrix<f64>> {
    dynrec_core::matrix_from_rows(field, rows).map_err(|e| TruthError::RaggedMatrix {
        field: e.field,
        row: e.row,
        len: e.len,
        first: e.first,
    })
}

pub(crate) fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    m.row_iter().map(|r| r.iter().copied().collect()).collect()
}

pub(crate) fn check_shape(
    field: &'static str,
    m: &DMatrix<f64>,
    rows: usize,
    cols: usize,
    words: &str,
) -> Result<()> {
    if m.nrows() == rows && m.ncols() == cols {
        Ok(())
    } else {
        Err(TruthError::Dimension {
            field,
            expected: format!("{rows}x{cols} ({words})"),
            rows: m.nrows(),
            cols: m.ncols(),
        })
    }
}

/// Checks a measurement matrix `H`: p×n with p ≥ 1 rows and n columns (the states), finite.
pub(crate) fn check_measurement(h: &DMatrix<f64>, n: usize) -> Result<()> {
    check_shape("H", h, h.nrows(), n, "p x n (n columns, one per state)")?;
    if h.nrows() == 0 {
        return Err(TruthError::Dimension {
            field: "H",
            expected: "at least one output row".into(),
            rows: 0,
            cols: n,
        });
    }
    check_finite("H", h)
}

/// An empty matrix where at least one row is needed is a [`TruthError::Dimension`] error.
fn check_not_empty(field: &'static str, m: &DMatrix<f64>, expected: &str) -> Result<()> {
    if m.is_empty() {
        return Err(TruthError::Dimension {
            field,
            expected: expected.into(),
            rows: m.nrows(),
            cols: m.ncols(),
        });
    }
    Ok(())
}

/// Iterations of an eigenvalue or singular-value solver before it gives up (they converge in a
/// few per eigenvalue; nalgebra's own default is to iterate without bound, and on a matrix
/// that overflows inside the solver it iterated for ever).
pub(crate) const EIGEN_MAX_ITERATIONS: usize = 100_000;

/// A power of two `s` such that `m / s` has its largest entry in [1, 2) when `m`'s largest
/// entry is outside [2⁻⁵⁰⁰, 2⁵⁰⁰] (so that a decomposition of `m / s` neither overflows nor
/// underflows), otherwise 1 (results unchanged to the last bit). `m` must be finite.
pub(crate) fn safe_scale(m: &DMatrix<f64>) -> f64 {
    let largest = m.amax();
    if largest > 0.0 && !(2f64.powi(-500)..=2f64.powi(500)).contains(&largest) {
        largest.log2().floor().exp2()
    } else {
        1.0
    }
}

/// The singular values of `m`, computed on `m` scaled by [`safe_scale`] with at most
/// [`EIGEN_MAX_ITERATIONS`] iterations; `None` when `m` is not finite or the solver does not
/// converge.
pub(crate) fn singular_values(m: &DMatrix<f64>) -> Option<DVector<f64>> {
    if !m.iter().all(|v| v.is_finite()) {
        return None;
    }
    let scale = safe_scale(m);
    let svd = nalgebra::SVD::try_new(m / scale, false, false, f64::EPSILON, EIGEN_MAX_ITERATIONS)?;
    Some(svd.singular_values * scale)
}

/// The eigendecomposition of a symmetric matrix `m`. When its largest entry is outside
/// [2⁻⁵⁰⁰, 2⁵⁰⁰] it is computed on `m` scaled by a power of two (largest entry in [1, 2)) and
/// scaled back exactly, so that no intermediate overflows or underflows (entries near 1e308
/// made nalgebra's solver overflow to NaN and iterate for ever); other matrices are
/// decomposed as they are, so results do not change in the last bit.
/// `None` when the solver does not converge within [`EIGEN_MAX_ITERATIONS`] sweeps, or `m` is
/// not finite. An empty matrix has no eigenvalues.
pub(crate) fn symmetric_eigen(m: &DMatrix<f64>) -> Option<(DVector<f64>, DMatrix<f64>)> {
    let n = m.nrows();
    if n == 0 {
        return Some((DVector::zeros(0), DMatrix::zeros(0, 0)));
    }
    if !m.iter().all(|v| v.is_finite()) {
        return None;
    }
    let scale = safe_scale(m);
    let eig = nalgebra::SymmetricEigen::try_new(m / scale, f64::EPSILON, EIGEN_MAX_ITERATIONS)?;
    Some((eig.eigenvalues * scale, eig.eigenvectors))
}

pub(crate) fn check_finite(field: &'static str, m: &DMatrix<f64>) -> Result<()> {
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            let value = m[(i, j)];
            if !value.is_finite() {
                return Err(TruthError::NotFinite {
                    field,
                    row: i,
                    col: j,
                    value,
                });
            }
        }
    }
    Ok(())
}

/// Checks that `m` is finite, symmetric and positive semi-definite (definite if `definite`).
pub(crate) fn check_covariance(
    field: &'static str,
    m: &DMatrix<f64>,
    definite: bool,
) -> Result<()> {
    check_finite(field, m)?;
    let scale = m.amax().max(1.0);
    for i in 0..m.nrows() {
        for j in i + 1..m.ncols() {
            if (m[(i, j)] - m[(j, i)]).abs() > SYMMETRY_TOLERANCE * scale {
                return Err(TruthError::NotSymmetric {
                    field,
                    row: i,
                    col: j,
                    upper: m[(i, j)],
                    lower: m[(j, i)],
                });
            }
        }
    }
    if m.is_empty() {
        return Ok(());
    }
    let Some((eigenvalues, _)) = symmetric_eigen(m) else {
        return Err(TruthError::NotPositiveSemidefinite {
            field,
            min_eigenvalue: f64::NAN,
        });
    };
    let min_eigenvalue = eigenvalues.min();
    let largest = eigenvalues.amax();
    if definite && min_eigenvalue <= PSD_TOLERANCE * largest {
        return Err(TruthError::NotPositiveDefinite {
            field,
            min_eigenvalue,
        });
    }
    if min_eigenvalue < -PSD_TOLERANCE * largest {
        return Err(TruthError::NotPositiveSemidefinite {
            field,
            min_eigenvalue,
        });
    }
    Ok(())
}

/// Checks that no diagonal entry of a covariance given in a file is negative. The eigenvalue
/// test of [`check_covariance`] allows rounding-level negative eigenvalues (computed
/// covariances need that); a variance written in a file is exact, and below zero it is wrong
/// however small (`P0` with -1e-300 on its diagonal was accepted and printed as a negative
/// variance).
pub(crate) fn check_variances(field: &'static str, m: &DMatrix<f64>) -> Result<()> {
    match m.diagonal().iter().enumerate().find(|(_, v)| **v < 0.0) {
        Some((index, &value)) => Err(TruthError::NegativeVariance {
            field,
            index,
            value,
        }),
        None => Ok(()),
    }
}
