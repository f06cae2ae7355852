//! Trained weights as plain matrices, the form in which they leave this crate.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// The nonlinearity of an Elman cell, `h_k = act(U h_{k-1} + W in_k + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Identity: the network is a linear state-space model.
    Linear,
    /// Hyperbolic tangent.
    Tanh,
    /// Rectified linear unit, `max(0, x)`.
    Relu,
}

/// What the network is fed and what it is trained to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Output-error mode: `in_k = u_k`, target `z_k`.
    Simulation,
    /// One-step predictor: `in_k = [u_k; z_{k-1}]` (inputs first, then the `p`
    /// previous measurements), target `z_k`.
    Predictor,
}

/// The weights of a trained Elman network, in the data's original units.
///
/// ```text
/// h_k = act(U h_{k-1} + W in_k + b)
/// y_k = V h_k + c
/// ```
///
/// # Shapes
/// - `u`: `[d_hidden, d_hidden]`
/// - `w`: `[d_hidden, d_input]`; in predictor mode the first `d_input - p` columns are fed
///   by the inputs `u_k` and the last `p` columns (`W_z`) by `z_{k-1}`
/// - `v`: `[d_output, d_hidden]`
/// - `b`: `[d_hidden]`, `c`: `[d_output]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnWeights {
    /// Recurrent matrix `U`.
    pub u: DMatrix<f64>,
    /// Input matrix `W`.
    pub w: DMatrix<f64>,
    /// Readout matrix `V`.
    pub v: DMatrix<f64>,
    /// Hidden bias `b`.
    pub b: DVector<f64>,
    /// Readout bias `c`.
    pub c: DVector<f64>,
    /// The cell's nonlinearity.
    pub activation: Activation,
    /// Simulation or predictor mode.
    pub mode: Mode,
}

impl RnnWeights {
    /// Hidden size.
    pub fn d_hidden(&self) -> usize {
        self.u.nrows()
    }

    /// Number of network inputs (`m` in simulation mode, `m + p` in predictor mode).
    pub fn d_input(&self) -> usize {
        self.w.ncols()
    }

    /// Number of outputs `p`.
    pub fn d_output(&self) -> usize {
        self.v.nrows()
    }

    /// The columns of `W` fed by the exogenous inputs `u_k`.
    pub fn w_inputs(&self) -> DMatrix<f64> {
        let m = match self.mode {
            Mode::Simulation => self.d_input(),
            Mode::Predictor => self.d_input() - self.d_output(),
        };
        self.w.columns(0, m).into_owned()
    }

    /// The columns of `W` fed by the previous measurement `z_{k-1}` (predictor mode only).
    pub fn w_measurements(&self) -> Option<DMatrix<f64>> {
        match self.mode {
            Mode::Simulation => None,
            Mode::Predictor => {
                let p = self.d_output();
                Some(self.w.columns(self.d_input() - p, p).into_owned())
            }
        }
    }
}
