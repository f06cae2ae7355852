//! An Elman network's weights as plain matrices: the form in which they leave `dynrec-model`
//! (which trains them in Burn) and enter `dynrec-analysis` (which needs no Burn).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

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
    /// Whether `b` and `c` are parameters of the network (default true). Without them they
    /// are fixed at zero.
    #[serde(default = "has_bias")]
    pub bias: bool,
}

fn has_bias() -> bool {
    true
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

/// What running a network over one sequence gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Predicted measurements `y_k`, `[p, T]`.
    pub outputs: DMatrix<f64>,
    /// Hidden states `h_k`, `[d_hidden, T]`.
    pub hidden: DMatrix<f64>,
}

impl RnnWeights {
    /// Applies the activation to a pre-activation.
    pub fn activate(&self, x: f64) -> f64 {
        match self.activation {
            Activation::Linear => x,
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
        }
    }

    /// Runs the network over one sequence in plain `f64` arithmetic, following the data
    /// conventions of `dynrec-model`'s `data` module: `in_1 = 0`; in predictor mode `in_k = [u_k; z_{k-1}]`
    /// with a missing component of `z_{k-1}` replaced by the prediction `y_{k-1}`.
    ///
    /// A reference implementation, independent of Burn: `inputs` is `[m, T]`, `measurements`
    /// `[p, T]` (`NaN` = missing; only read in predictor mode, and may then be empty in
    /// simulation mode).
    pub fn run(&self, inputs: &DMatrix<f64>, measurements: &DMatrix<f64>) -> Result<Trajectory> {
        let (n, p) = (self.d_hidden(), self.d_output());
        let m = self.w_inputs().ncols();
        let steps = inputs.ncols();
        let shape_error = CoreError::Shape;
        if inputs.nrows() != m {
            return Err(shape_error(format!(
                "{} input rows, the network takes {m}",
                inputs.nrows()
            )));
        }
        if self.mode == Mode::Predictor
            && (measurements.nrows() != p || measurements.ncols() != steps)
        {
            return Err(shape_error(format!(
                "measurements are {}x{}, expected {p}x{steps}",
                measurements.nrows(),
                measurements.ncols()
            )));
        }
        let mut outputs = DMatrix::zeros(p, steps);
        let mut hidden = DMatrix::zeros(n, steps);
        let mut h = DVector::zeros(n);
        let mut y_prev = DVector::zeros(p);
        for k in 0..steps {
            let mut input = DVector::zeros(self.d_input());
            if k > 0 {
                for j in 0..m {
                    input[j] = inputs[(j, k)];
                }
                if self.mode == Mode::Predictor {
                    for j in 0..p {
                        let z = measurements[(j, k - 1)];
                        input[m + j] = if z.is_nan() { y_prev[j] } else { z };
                    }
                }
            }
            let pre = &self.u * &h + &self.w * input + &self.b;
            h = pre.map(|x| self.activate(x));
            let y = &self.v * &h + &self.c;
            hidden.set_column(k, &h);
            outputs.set_column(k, &y);
            y_prev = y;
        }
        Ok(Trajectory { outputs, hidden })
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        [&self.u, &self.w, &self.v]
            .iter()
            .all(|m| m.iter().all(|x| x.is_finite()))
            && self.b.iter().chain(self.c.iter()).all(|x| x.is_finite())
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parses weights written by [`RnnWeights::to_json`].
    pub fn from_json(json: &str) -> Result<Self> {
        Ok(serde_json::from_str(json)?)
    }
}
