//! The system the data came from, as plain matrices, and — for a nonlinear system — the
//! equilibrium at which it was linearised to give those matrices.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result, check_finite};
use crate::similarity::StateSpace;
use dynrec_core::serde_matrix;

/// The system the data came from, as plain matrices.
///
/// ```text
/// x_k = A x_{k-1} + B u_k + w_k,   z_k = H x_k + v_k
/// ```
///
/// `predictor_gain` is the steady-state Kalman predictor gain `K = A P Hᵀ S⁻¹` (from
/// `truth`'s steady state); it is needed to compare a predictor network's `U` with `A − K H`.
///
/// For a nonlinear system `(A, B, H)` is its linearisation at an equilibrium, which
/// [`TrueSystem::linearised_at`] records; [`crate::analyse`] then says so in its notes and
/// verdict.
///
/// # Shapes
/// - `a`: `[n, n]`, `b`: `[n, m]` or `None`, `h`: `[p, n]`, `predictor_gain`: `[n, p]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrueSystem {
    /// Dynamics `A`.
    #[serde(with = "serde_matrix::rows")]
    pub a: DMatrix<f64>,
    /// Input matrix `B` (`None`: no inputs).
    #[serde(with = "serde_matrix::option_rows")]
    pub b: Option<DMatrix<f64>>,
    /// Measurement matrix `H`.
    #[serde(with = "serde_matrix::rows")]
    pub h: DMatrix<f64>,
    /// Steady-state predictor gain `K`.
    #[serde(with = "serde_matrix::option_rows")]
    pub predictor_gain: Option<DMatrix<f64>>,
    /// Where a nonlinear system was linearised to give `A`, `B`, `H` (`None`: the system is
    /// linear and these are its own matrices). Absent from files written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearisation_point: Option<LinearisationPoint>,
}

impl TrueSystem {
    /// Checks shapes and finiteness.
    pub fn new(
        a: DMatrix<f64>,
        b: Option<DMatrix<f64>>,
        h: DMatrix<f64>,
        predictor_gain: Option<DMatrix<f64>>,
    ) -> Result<Self> {
        let n = a.nrows();
        let b_matrix = b.clone().unwrap_or_else(|| DMatrix::zeros(n, 0));
        StateSpace::new(a.clone(), b_matrix, h.clone())?;
        if let Some(k) = &predictor_gain {
            if k.nrows() != n || k.ncols() != h.nrows() {
                return Err(AnalysisError::Dimension(format!(
                    "predictor gain K is {}x{}, expected {}x{}",
                    k.nrows(),
                    k.ncols(),
                    n,
                    h.nrows()
                )));
            }
            check_finite("K", k.iter())?;
        }
        Ok(Self {
            a,
            b,
            h,
            predictor_gain,
            linearisation_point: None,
        })
    }

    /// The same matrices, marked as the linearisation of a nonlinear system at `point`.
    pub fn linearised_at(self, point: LinearisationPoint) -> Self {
        Self {
            linearisation_point: Some(point),
            ..self
        }
    }

    /// State dimension `n`.
    pub fn order(&self) -> usize {
        self.a.nrows()
    }

    /// `B`, or an `n × 0` matrix without inputs.
    pub fn input_matrix(&self) -> DMatrix<f64> {
        self.b
            .clone()
            .unwrap_or_else(|| DMatrix::zeros(self.order(), 0))
    }

    /// `A − K H`, the dynamics of the steady-state Kalman predictor, when `K` is known.
    pub fn closed_loop(&self) -> Option<DMatrix<f64>> {
        self.predictor_gain.as_ref().map(|k| &self.a - k * &self.h)
    }
}

/// The equilibrium at which a nonlinear system was linearised.
///
/// With the discrete-time transition `x_k = f(x_{k-1}, u_k)`, measurement `z_k = g(x_k)` and
/// an equilibrium `x* = f(x*, 0)`, the deviation `δx_k = x_k − x*` follows, to first order,
///
/// ```text
/// δx_k = A δx_{k-1} + B u_k,   z_k − g(x*) = H δx_k,
/// A = ∂f/∂x (x*, 0),   B = ∂f/∂u (x*, 0),   H = ∂g/∂x (x*)
/// ```
///
/// and these `A`, `B`, `H` are what a [`TrueSystem`] carrying this point holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearisationPoint {
    /// The nonlinear system as it describes itself (its `describe()`).
    pub system: String,
    /// The equilibrium's name, e.g. `"bottom"`.
    pub equilibrium: String,
    /// The equilibrium state `x*`.
    pub state: Vec<f64>,
}

impl LinearisationPoint {
    /// The note that opens the analysis's notes: which system, which equilibrium, which `x*`.
    pub fn note(&self) -> String {
        format!(
            "The system is nonlinear ({}): the `A` compared here is the Jacobian of its \
             discrete-time transition at the equilibrium `{}`, x* = {:?} (and `B`, `H` \
             likewise, in deviation coordinates).",
            self.system,
            self.equilibrium,
            self.state.as_slice()
        )
    }

    /// What the verdict ends with: ` (A: the linearisation at the equilibrium `name`.)`.
    pub fn verdict_suffix(&self) -> String {
        format!(
            " (A: the linearisation at the equilibrium `{}`.)",
            self.equilibrium
        )
    }
}
