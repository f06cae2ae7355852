//! Similarity transforms, Markov parameters and the hidden-state regression.
//!
//! Two realisations `(A, B, H)` and `(Â, Ŵ, V̂)` of one input–output map are related by an
//! invertible `T`: `Â = T A T⁻¹`, `Ŵ = T B`, `V̂ = H T⁻¹`. Their Markov parameters
//! `H Aʲ B = V̂ Âʲ Ŵ` agree without any `T`.

use nalgebra::{DMatrix, DVector, SVD};
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result, check_finite};
use dynrec_core::serde_matrix;

/// A linear state-space triple `x_k = A x_{k-1} + B u_k`, `y_k = H x_k`.
///
/// # Shapes
/// - `a`: `[n, n]`, `b`: `[n, m]` (`m = 0` without inputs), `h`: `[p, n]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSpace {
    /// Dynamics `A`.
    #[serde(with = "serde_matrix::rows")]
    pub a: DMatrix<f64>,
    /// Input matrix `B`.
    #[serde(with = "serde_matrix::rows")]
    pub b: DMatrix<f64>,
    /// Output matrix `H`.
    #[serde(with = "serde_matrix::rows")]
    pub h: DMatrix<f64>,
}

impl StateSpace {
    /// Builds a triple, checking shapes and finiteness once.
    pub fn new(a: DMatrix<f64>, b: DMatrix<f64>, h: DMatrix<f64>) -> Result<Self> {
        let n = a.nrows();
        if !a.is_square() || b.nrows() != n || h.ncols() != n {
            return Err(AnalysisError::Dimension(format!(
                "state space with A {}x{}, B {}x{}, H {}x{}",
                a.nrows(),
                a.ncols(),
                b.nrows(),
                b.ncols(),
                h.nrows(),
                h.ncols()
            )));
        }
        check_finite("A", a.iter())?;
        check_finite("B", b.iter())?;
        check_finite("H", h.iter())?;
        Ok(Self { a, b, h })
    }

    /// State dimension `n`.
    pub fn order(&self) -> usize {
        self.a.nrows()
    }

    /// `(T A T⁻¹, T B, H T⁻¹)`.
    pub fn transformed(&self, t: &DMatrix<f64>) -> Result<Self> {
        let t_inv = t
            .clone()
            .try_inverse()
            .ok_or_else(|| AnalysisError::Singular("T".to_string()))?;
        Self::new(t * &self.a * &t_inv, t * &self.b, &self.h * &t_inv)
    }
}

/// Markov parameters `H Aʲ B`, `j = 0..=horizon` (the impulse response: `y_k = Σ_j H Aʲ B u_{k−j}`).
pub fn markov_parameters(ss: &StateSpace, horizon: usize) -> Vec<DMatrix<f64>> {
    let mut out = Vec::with_capacity(horizon + 1);
    let mut ajb = ss.b.clone();
    for _ in 0..=horizon {
        out.push(&ss.h * &ajb);
        ajb = &ss.a * ajb;
    }
    out
}

/// Markov parameters of the truth and of the learned network side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkovComparison {
    /// `H Aʲ B`, `j = 0..=L`.
    #[serde(with = "serde_matrix::vec_rows")]
    pub truth: Vec<DMatrix<f64>>,
    /// `V Âʲ Ŵ`, `j = 0..=L`.
    #[serde(with = "serde_matrix::vec_rows")]
    pub learned: Vec<DMatrix<f64>>,
    /// `sqrt(Σ_j ‖ΔM_j‖²_F / Σ_j ‖M_j‖²_F)`, or the absolute error if the truth is all zero.
    pub relative_error: f64,
}

/// Compares Markov parameters up to lag `horizon`; the input and output counts must agree.
pub fn compare_markov(
    truth: &StateSpace,
    learned: &StateSpace,
    horizon: usize,
) -> Result<MarkovComparison> {
    if truth.b.ncols() != learned.b.ncols() || truth.h.nrows() != learned.h.nrows() {
        return Err(AnalysisError::Dimension(format!(
            "Markov parameters: truth has {} inputs and {} outputs, the network {} and {}",
            truth.b.ncols(),
            truth.h.nrows(),
            learned.b.ncols(),
            learned.h.nrows()
        )));
    }
    let t = markov_parameters(truth, horizon);
    let l = markov_parameters(learned, horizon);
    let diff: f64 = t.iter().zip(&l).map(|(a, b)| (a - b).norm_squared()).sum();
    let scale: f64 = t.iter().map(DMatrix::norm_squared).sum();
    let relative_error = if scale > 0.0 {
        (diff / scale).sqrt()
    } else {
        diff.sqrt()
    };
    Ok(MarkovComparison {
        truth: t,
        learned: l,
        relative_error,
    })
}

/// An estimated similarity transform and how well it explains the learned weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityFit {
    /// `T` with `Â ≈ T A T⁻¹`, `Ŵ ≈ T B`, `V̂ ≈ H T⁻¹`.
    #[serde(with = "serde_matrix::rows")]
    pub t: DMatrix<f64>,
    /// Condition number of `T`.
    pub condition: f64,
    /// `‖Â − T A T⁻¹‖_F / ‖Â‖_F`.
    pub residual_dynamics: f64,
    /// `‖Ŵ − T B‖_F / ‖Ŵ‖_F` (0 without inputs).
    pub residual_input: f64,
    /// `‖V̂ − H T⁻¹‖_F / ‖V̂‖_F`.
    pub residual_output: f64,
}

impl SimilarityFit {
    /// The largest of the three relative residuals.
    pub fn residual(&self) -> f64 {
        self.residual_dynamics
            .max(self.residual_input)
            .max(self.residual_output)
    }
}

/// Estimates `T` from two realisations of the same order by linear least squares.
///
/// The three relations, multiplied out so that they are linear in `T`, are stacked:
///
/// ```text
/// Â T − T A = 0     ⇔ (I ⊗ Â − Aᵀ ⊗ I) vec T = 0          (weight 1/‖A‖_F)
/// T B       = Ŵ     ⇔ (Bᵀ ⊗ I) vec T = vec Ŵ                (weight 1/‖B‖_F)
/// V̂ T       = H     ⇔ (I ⊗ V̂) vec T = vec H                 (weight 1/‖H‖_F)
/// ```
///
/// (`vec` stacks columns; `vec(X Y Z) = (Zᵀ ⊗ X) vec Y`.) The weights make each block relative
/// to the size of the true matrix. `T` is unique when `(A, H)` is observable or `(A, B)`
/// controllable; otherwise [`AnalysisError::NotIdentifiable`].
pub fn estimate_similarity(truth: &StateSpace, learned: &StateSpace) -> Result<SimilarityFit> {
    let n = truth.order();
    if learned.order() != n
        || learned.b.ncols() != truth.b.ncols()
        || learned.h.nrows() != truth.h.nrows()
    {
        return Err(AnalysisError::Dimension(format!(
            "similarity transform between orders {} and {} ({} vs {} inputs, {} vs {} outputs)",
            n,
            learned.order(),
            truth.b.ncols(),
            learned.b.ncols(),
            truth.h.nrows(),
            learned.h.nrows()
        )));
    }
    if n == 0 {
        return Err(AnalysisError::Dimension("order 0".to_string()));
    }
    let (m, p) = (truth.b.ncols(), truth.h.nrows());
    let id = DMatrix::<f64>::identity(n, n);
    let weight = |x: &DMatrix<f64>| 1.0 / x.norm().max(f64::MIN_POSITIVE);
    let (wa, wb, wh) = (weight(&truth.a), weight(&truth.b), weight(&truth.h));
    let rows = n * n + n * m + p * n;
    let mut lhs = DMatrix::<f64>::zeros(rows, n * n);
    let mut rhs = DVector::<f64>::zeros(rows);
    let sylvester = (id.kronecker(&learned.a) - truth.a.transpose().kronecker(&id)) * wa;
    lhs.view_mut((0, 0), (n * n, n * n)).copy_from(&sylvester);
    if m > 0 {
        let input = truth.b.transpose().kronecker(&id) * wb;
        lhs.view_mut((n * n, 0), (n * m, n * n)).copy_from(&input);
        rhs.rows_mut(n * n, n * m)
            .copy_from(&(DVector::from_column_slice(learned.b.as_slice()) * wb));
    }
    let output = id.kronecker(&learned.h) * wh;
    lhs.view_mut((n * n + n * m, 0), (p * n, n * n))
        .copy_from(&output);
    rhs.rows_mut(n * n + n * m, p * n)
        .copy_from(&(DVector::from_column_slice(truth.h.as_slice()) * wh));

    let svd = SVD::new(lhs, true, true);
    let sv = &svd.singular_values;
    let rank_tol = sv[0] * 1e-10;
    let rank = sv.iter().filter(|s| **s > rank_tol).count();
    if rank < n * n {
        return Err(AnalysisError::NotIdentifiable {
            what: "similarity transform T".to_string(),
            rank,
            unknowns: n * n,
        });
    }
    let vec_t = svd
        .solve(&rhs, rank_tol)
        .map_err(|e| AnalysisError::Singular(format!("least squares for T ({e})")))?;
    let t = DMatrix::from_column_slice(n, n, vec_t.as_slice());
    let t_sv = t.clone().singular_values();
    let condition = t_sv[0] / t_sv[n - 1];
    let mapped = truth.transformed(&t)?;
    let rel = |x: &DMatrix<f64>, y: &DMatrix<f64>| {
        let scale = x.norm();
        if scale > 0.0 {
            (x - y).norm() / scale
        } else {
            (x - y).norm()
        }
    };
    Ok(SimilarityFit {
        residual_dynamics: rel(&learned.a, &mapped.a),
        residual_input: rel(&learned.b, &mapped.b),
        residual_output: rel(&learned.h, &mapped.h),
        t,
        condition,
    })
}

/// Linear regression of hidden states on true states, `h_k ≈ T x_k + c`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRegression {
    /// `T`, `[d_hidden, n]`.
    #[serde(with = "serde_matrix::rows")]
    pub t: DMatrix<f64>,
    /// Offset `c`, `[d_hidden]`.
    #[serde(with = "serde_matrix::vector")]
    pub offset: DVector<f64>,
    /// `R² = 1 − Σ‖h_k − T x_k − c‖² / Σ‖h_k − h̄‖²` over all units together.
    pub r_squared: f64,
    /// `R²` per hidden unit (1 for a constant unit that is fitted exactly).
    pub r_squared_per_unit: Vec<f64>,
}

/// Regresses hidden states on true states by least squares.
///
/// # Shapes
/// - `hidden`: `[N, d_hidden]` (one row per time step), `states`: `[N, n]`
pub fn regress_hidden_on_state(
    hidden: &DMatrix<f64>,
    states: &DMatrix<f64>,
) -> Result<StateRegression> {
    let (rows, n) = states.shape();
    if hidden.nrows() != rows || rows <= n {
        return Err(AnalysisError::Dimension(format!(
            "regression of {} hidden rows on {} state rows of width {} (need more rows than states)",
            hidden.nrows(),
            rows,
            n
        )));
    }
    check_finite("hidden states", hidden.iter())?;
    check_finite("true states", states.iter())?;
    // Design matrix [x_k, 1]; solve min ‖X β − Hd‖ with β = [Tᵀ; cᵀ].
    let mut design = DMatrix::<f64>::from_element(rows, n + 1, 1.0);
    design.view_mut((0, 0), (rows, n)).copy_from(states);
    let svd = SVD::new(design, true, true);
    let tol = svd.singular_values[0] * 1e-12;
    let rank = svd.singular_values.iter().filter(|s| **s > tol).count();
    if rank < n + 1 {
        return Err(AnalysisError::NotIdentifiable {
            what: "regression of hidden on true states".to_string(),
            rank,
            unknowns: n + 1,
        });
    }
    let beta = svd
        .solve(hidden, tol)
        .map_err(|e| AnalysisError::Singular(format!("state regression ({e})")))?;
    let t = beta.rows(0, n).transpose();
    let offset = beta.row(n).transpose();
    let fitted = states * t.transpose() + DMatrix::from_fn(rows, hidden.ncols(), |_, j| offset[j]);
    let resid = hidden - fitted;
    let mean = hidden.row_mean();
    let centred = DMatrix::from_fn(rows, hidden.ncols(), |i, j| hidden[(i, j)] - mean[j]);
    let r2 = |sse: f64, sst: f64| {
        if sst > 0.0 {
            1.0 - sse / sst
        } else if sse == 0.0 {
            1.0
        } else {
            0.0
        }
    };
    let r_squared_per_unit = (0..hidden.ncols())
        .map(|j| {
            r2(
                resid.column(j).norm_squared(),
                centred.column(j).norm_squared(),
            )
        })
        .collect();
    Ok(StateRegression {
        r_squared: r2(resid.norm_squared(), centred.norm_squared()),
        r_squared_per_unit,
        t,
        offset,
    })
}
