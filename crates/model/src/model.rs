//! The Elman network: configuration, parameters and the forward pass.
//!
//! ```text
//! h_k = act(U h_{k-1} + W in_k + b)
//! y_k = V h_k + c
//! ```
//!
//! A thin custom module rather than `burn::nn::Rnn`: that one stores `Uᵀ`, has two hidden
//! biases, draws its initial weights from an unseeded global generator, and writes every step
//! into its output with a `slice_assign`. Here the parameters are exactly the matrices of the
//! equations, the initialisation is seeded, and the whole recurrence (forward pass and
//! backpropagation through time) runs as one fused operation ([`crate::fused`]) instead of a few
//! tracked tensor operations per time step.

use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use nalgebra::{DMatrix, DVector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result, config_error};
use crate::valid::{Valid, Validate};
use dynrec_core::weights::{Activation, Mode, RnnWeights};

fn default_activation() -> Activation {
    Activation::Linear
}
fn default_bias() -> bool {
    true
}
fn default_spectral_radius() -> f64 {
    0.5
}

/// How the initial recurrent matrix `U` is drawn.
///
/// In JSON: absent or `"random"` for the default, `{"ring": {"min_radius": .., "max_radius": ..,
/// "max_phase": ..}}` for the ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// I.i.d. standard normal entries rescaled to the spectral radius `init_spectral_radius`
    /// (the default): eigenvalues scattered over a disc, most well inside it.
    #[default]
    Random,
    /// Eigenvalues on a ring near the unit circle over a range of phases, as linear recurrent
    /// units are initialised (Orvieto et al., 2023): see [`Ring`].
    Ring(Ring),
    /// Restarts alternate: even-numbered ones (0, 2, …) start from [`Init::Random`], odd ones
    /// from the ring, and the best validation loss wins as always, so a fit has both starts
    /// to choose from. A single network built outside training ([`ElmanConfig`]) starts
    /// random.
    Diverse(Ring),
}

impl Init {
    /// Whether this is [`Init::Random`] (the default, left out of serialised configs so that
    /// they read as before the option existed).
    pub fn is_random(&self) -> bool {
        matches!(self, Self::Random)
    }

    /// The initialisation of restart `index`: [`Init::Diverse`] resolved to random (even
    /// index) or ring (odd); the others unchanged.
    pub fn for_restart(&self, index: usize) -> Init {
        match self {
            Self::Diverse(ring) if index % 2 == 1 => Self::Ring(*ring),
            Self::Diverse(_) => Self::Random,
            other => *other,
        }
    }
}

impl Default for Ring {
    /// The ring for slow, lightly damped modes: moduli 0.99 to 0.9999 (damping times of 100 to
    /// 10,000 steps), periods of at least 20 steps (`max_phase = π/10`, as linear recurrent
    /// units use for long-range tasks). Training moves the eigenvalues from there; faster
    /// modes are reached too (see `results/real/`).
    fn default() -> Self {
        Self {
            min_radius: 0.99,
            max_radius: 0.9999,
            max_phase: std::f64::consts::PI / 10.0,
        }
    }
}

/// A ring initialisation: `U` is block diagonal with one `2 × 2` block
/// `r_j [[cos θ_j, −sin θ_j], [sin θ_j, cos θ_j]]` per conjugate pair `r_j e^{±iθ_j}` (and a `1 × 1`
/// block `r` when the hidden size is odd), where `r_j²` is uniform on
/// `[min_radius², max_radius²]` (the eigenvalues uniform over the ring's area) and `θ_j` uniform
/// on `[0, max_phase]`. Each row of `W` is scaled by `√(1 − r_j²)` of its block, so that the
/// initial hidden state has about the variance it would have with `r = 0` instead of growing as
/// `1/(1 − r²)` (the LRU's normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ring {
    /// Smallest modulus, in `[0, max_radius]`.
    pub min_radius: f64,
    /// Largest modulus, in `[min_radius, 1)`.
    pub max_radius: f64,
    /// Largest angle in radians per step, in `[0, π]` (period `2π/θ` steps).
    pub max_phase: f64,
}

impl Ring {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(0.0 <= self.min_radius && self.min_radius <= self.max_radius && self.max_radius < 1.0)
        {
            return Err(config_error(
                "init",
                format!(
                    "ring radii [{}, {}] must satisfy 0 ≤ min ≤ max < 1",
                    self.min_radius, self.max_radius
                ),
            ));
        }
        if !(0.0..=std::f64::consts::PI).contains(&self.max_phase) {
            return Err(config_error(
                "init",
                format!("ring max_phase {} is not in [0, π]", self.max_phase),
            ));
        }
        Ok(())
    }

    /// `U` and the row scales of `W` for `n` hidden units, drawn from `rng`.
    fn draw(&self, n: usize, rng: &mut Xoshiro256PlusPlus) -> (DMatrix<f64>, Vec<f64>) {
        let (lo, hi) = (self.min_radius.powi(2), self.max_radius.powi(2));
        let mut u = DMatrix::zeros(n, n);
        let mut scales = vec![1.0; n];
        let mut i = 0;
        while i < n {
            let r = (lo + (hi - lo) * rng.random::<f64>()).sqrt();
            let gamma = (1.0 - r * r).sqrt();
            if i + 1 < n {
                let theta = self.max_phase * rng.random::<f64>();
                let (c, s) = (r * theta.cos(), r * theta.sin());
                u[(i, i)] = c;
                u[(i, i + 1)] = -s;
                u[(i + 1, i)] = s;
                u[(i + 1, i + 1)] = c;
                scales[i] = gamma;
                scales[i + 1] = gamma;
                i += 2;
            } else {
                u[(i, i)] = r;
                scales[i] = gamma;
                i += 1;
            }
        }
        (u, scales)
    }
}

/// Configuration of an [`Elman`] network; [`ElmanConfig::init`] builds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElmanConfig {
    /// Size of the network input `in_k`.
    pub d_input: usize,
    /// Size of the hidden state `h_k`.
    pub d_hidden: usize,
    /// Size of the output `y_k`.
    pub d_output: usize,
    /// The nonlinearity `act` (default linear).
    #[serde(default = "default_activation")]
    pub activation: Activation,
    /// Whether the biases `b` and `c` exist (default true); without them they are fixed at 0.
    #[serde(default = "default_bias")]
    pub bias: bool,
    /// Spectral radius of the initial `U` (default 0.5; must be in `[0, 1)` so the initial
    /// network is stable).
    #[serde(default = "default_spectral_radius")]
    pub init_spectral_radius: f64,
    /// How `U` is drawn (default [`Init::Random`], with `init_spectral_radius`).
    #[serde(default, skip_serializing_if = "Init::is_random")]
    pub init: Init,
    /// Seed of the initial weights (default 0).
    #[serde(default)]
    pub seed: u64,
}

impl ElmanConfig {
    /// A linear network with biases and the default initialisation.
    pub fn new(d_input: usize, d_hidden: usize, d_output: usize) -> Self {
        Self {
            d_input,
            d_hidden,
            d_output,
            activation: default_activation(),
            bias: default_bias(),
            init_spectral_radius: default_spectral_radius(),
            init: Init::Random,
            seed: 0,
        }
    }

    /// Sets the activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets whether the network has biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets how `U` is drawn.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets the seed of the initial weights.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the sizes and the initial spectral radius.
    pub fn validate(&self) -> Result<()> {
        if self.d_hidden == 0 {
            return Err(config_error("d_hidden", "must be at least 1"));
        }
        if self.d_output == 0 {
            return Err(config_error("d_output", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.init_spectral_radius) {
            return Err(config_error(
                "init_spectral_radius",
                format!("{} is not in [0, 1)", self.init_spectral_radius),
            ));
        }
        if let Init::Ring(ring) | Init::Diverse(ring) = &self.init {
            ring.validate()?;
        }
        Ok(())
    }

    /// The seeded initial weights, as plain matrices.
    ///
    /// [`Init::Random`] (and [`Init::Diverse`], outside training): `U` has i.i.d. standard
    /// normal entries rescaled so that its spectral radius is `init_spectral_radius`.
    /// [`Init::Ring`]: `U` has eigenvalues on the ring
    /// ([`Ring`]), and the rows of `W` are scaled by `√(1 − r²)` of their eigenvalue. In both,
    /// `W` and `V` have i.i.d. `N(0, 1/fan_in)` entries (before that scaling) and `b = c = 0`.
    pub fn init_weights(&self, mode: Mode) -> Result<RnnWeights> {
        self.validate()?;
        let (n, d, p) = (self.d_hidden, self.d_input, self.d_output);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let normal = |rng: &mut Xoshiro256PlusPlus, rows: usize, cols: usize, std: f64| {
            DMatrix::from_fn(rows, cols, |_, _| {
                std * rng.sample::<f64, _>(StandardNormal)
            })
        };
        let (u, row_scales) = match &self.init {
            Init::Random | Init::Diverse(_) => {
                let mut u = normal(&mut rng, n, n, 1.0);
                let radius = spectral_radius(&u);
                if radius > 0.0 {
                    u *= self.init_spectral_radius / radius;
                }
                (u, vec![1.0; n])
            }
            Init::Ring(ring) => ring.draw(n, &mut rng),
        };
        let mut w = normal(&mut rng, n, d, 1.0 / (d.max(1) as f64).sqrt());
        for (i, scale) in row_scales.iter().enumerate() {
            w.row_mut(i).scale_mut(*scale);
        }
        let v = normal(&mut rng, p, n, 1.0 / (n as f64).sqrt());
        Ok(RnnWeights {
            u,
            w,
            v,
            b: DVector::zeros(n),
            c: DVector::zeros(p),
            activation: self.activation,
            mode,
            bias: self.bias,
        })
    }

    /// Builds the network with seeded initial weights on `device`.
    pub fn init(&self, device: &Device) -> Result<Elman> {
        Elman::from_weights(&self.init_weights(Mode::Simulation)?, device)
    }
}

/// The network to train: what the data does not already fix (the input and output sizes come
/// from the data). [`NetworkConfig::check`] gives the [`ValidNetworkConfig`] that training uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Simulation or predictor mode (default simulation).
    pub mode: Mode,
    /// Hidden size (default 2).
    pub d_hidden: usize,
    /// Nonlinearity (default linear).
    pub activation: Activation,
    /// Whether the network has biases `b`, `c` (default true).
    pub bias: bool,
    /// Spectral radius of the initial `U`, in `[0, 1)` (default 0.5; used by [`Init::Random`]).
    pub init_spectral_radius: f64,
    /// How the initial `U` is drawn (default [`Init::Random`]; left out of the serialised
    /// config when it is the default).
    #[serde(skip_serializing_if = "Init::is_random")]
    pub init: Init,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Simulation,
            d_hidden: 2,
            activation: Activation::Linear,
            bias: true,
            init_spectral_radius: 0.5,
            init: Init::Random,
        }
    }
}

impl NetworkConfig {
    /// The module configuration for `m` inputs and `p` outputs, with initial-weight `seed`.
    pub fn elman(&self, n_inputs: usize, n_outputs: usize, seed: u64) -> ElmanConfig {
        ElmanConfig {
            d_input: crate::data::network_input_size(self.mode, n_inputs, n_outputs),
            d_hidden: self.d_hidden,
            d_output: n_outputs,
            activation: self.activation,
            bias: self.bias,
            init_spectral_radius: self.init_spectral_radius,
            init: self.init,
            seed,
        }
    }

    /// Checks the hidden size and the initial spectral radius.
    ///
    /// # Errors
    /// [`ModelError::Config`] naming the first field out of range.
    pub fn check(&self) -> Result<ValidNetworkConfig> {
        Valid::new(self.clone())
    }
}

impl Validate for NetworkConfig {
    /// Checks the hidden size and the initial spectral radius.
    fn validate(&self) -> Result<()> {
        // The module's own checks; the sizes that the data fix (one input and one output here)
        // are checked with the data.
        self.elman(1, 1, 0).validate()
    }
}

/// A [`NetworkConfig`] that passed its checks ([`NetworkConfig::check`]).
pub type ValidNetworkConfig = Valid<NetworkConfig>;

/// Largest modulus of the eigenvalues of a square matrix.
pub fn spectral_radius(m: &DMatrix<f64>) -> f64 {
    if m.is_empty() {
        return 0.0;
    }
    m.complex_eigenvalues()
        .iter()
        .map(|l| l.norm())
        .fold(0.0, f64::max)
}

/// An Elman network, `h_k = act(U h_{k-1} + W in_k + b)`, `y_k = V h_k + c`.
#[derive(Module, Debug)]
pub struct Elman {
    /// Recurrent matrix `U`, `[d_hidden, d_hidden]`.
    pub u: Param<Tensor<2>>,
    /// Input matrix `W`, `[d_hidden, d_input]`.
    pub w: Param<Tensor<2>>,
    /// Readout matrix `V`, `[d_output, d_hidden]`.
    pub v: Param<Tensor<2>>,
    /// Hidden bias `b`, `[d_hidden]` (absent: 0).
    pub b: Option<Param<Tensor<1>>>,
    /// Readout bias `c`, `[d_output]` (absent: 0).
    pub c: Option<Param<Tensor<1>>>,
    /// The nonlinearity.
    #[module(skip)]
    pub activation: Activation,
}

/// What [`Elman::forward`] returns.
#[derive(Debug, Clone)]
pub struct ElmanOutput {
    /// Outputs `y_k`, `[batch, steps, d_output]`.
    pub outputs: Tensor<3>,
    /// Hidden states `h_k`, `[batch, steps, d_hidden]`.
    pub hidden: Tensor<3>,
}

/// How the recurrence is unrolled (internal to training and inference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unroll {
    /// Run the recurrence as one fused operation ([`crate::fused`]); `false`: Burn's tensor
    /// operations step by step (the generic path, for cross-checks). Named after
    /// `TrainingConfig::scan`, which sets it.
    pub scan: bool,
    /// Stop gradients through the hidden state every this many steps.
    pub truncation: Option<usize>,
}

impl Default for Unroll {
    fn default() -> Self {
        Self {
            scan: true,
            truncation: None,
        }
    }
}

/// Predictor-mode feedback of the network's own prediction in place of a missing `z_{k-1}`.
pub(crate) struct Feedback {
    /// Number of exogenous inputs `m`; `W_z` is `W[:, m..]`.
    pub n_inputs: usize,
    /// For each step, `[batch, p]` with 1 where `z_{k-1}` is missing (fed `y_{k-1}` instead), or
    /// `None` when nothing is missing at that step.
    pub missing: Vec<Option<Tensor<2>>>,
    /// The same flags on the host, for the fused recurrence.
    pub flags: std::sync::Arc<crate::fused::MissingFlags>,
}

pub(crate) fn matrix_to_tensor(m: &DMatrix<f64>, device: &Device) -> Tensor<2> {
    let data: Vec<f64> = (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
        .collect();
    Tensor::from_data(TensorData::new(data, [m.nrows(), m.ncols()]), device)
}

pub(crate) fn tensor_to_matrix(t: Tensor<2>) -> Result<DMatrix<f64>> {
    let [rows, cols] = t.dims();
    let values = read_vec(t)?;
    Ok(DMatrix::from_row_slice(rows, cols, &values))
}

pub(crate) fn read_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    t.try_into_vec_as::<f64>()
        .map_err(|e| ModelError::TensorRead(e.to_string()))
}

fn vector_param(v: &DVector<f64>, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::from_data(
        TensorData::new(v.iter().copied().collect::<Vec<f64>>(), [v.len()]),
        device,
    ))
}

impl Elman {
    /// Builds the network from plain weights (as exported), on `device`. Without
    /// [`RnnWeights::bias`] the network has no biases, and `b`, `c` must be zero.
    pub fn from_weights(weights: &RnnWeights, device: &Device) -> Result<Elman> {
        let bias = weights.bias;
        if !bias && (weights.b.iter().chain(weights.c.iter()).any(|x| *x != 0.0)) {
            return Err(config_error(
                "bias",
                "is false but the weights have non-zero biases",
            ));
        }
        let (n, p) = (weights.d_hidden(), weights.d_output());
        let dims_ok = weights.u.ncols() == n
            && weights.w.nrows() == n
            && weights.v.ncols() == n
            && weights.b.len() == n
            && weights.c.len() == p;
        if !dims_ok {
            return Err(config_error(
                "weights",
                "U, W, V, b, c have inconsistent sizes".to_string(),
            ));
        }
        Ok(Elman {
            u: Param::from_tensor(matrix_to_tensor(&weights.u, device)),
            w: Param::from_tensor(matrix_to_tensor(&weights.w, device)),
            v: Param::from_tensor(matrix_to_tensor(&weights.v, device)),
            b: bias.then(|| vector_param(&weights.b, device)),
            c: bias.then(|| vector_param(&weights.c, device)),
            activation: weights.activation,
        })
    }

    /// The weights as plain matrices (biases 0 when absent).
    pub fn to_weights(&self, mode: Mode) -> Result<RnnWeights> {
        let n = self.d_hidden();
        let p = self.d_output();
        let vector = |param: &Option<Param<Tensor<1>>>, len: usize| -> Result<DVector<f64>> {
            match param {
                Some(param) => Ok(DVector::from_vec(read_vec(param.val())?)),
                None => Ok(DVector::zeros(len)),
            }
        };
        Ok(RnnWeights {
            u: tensor_to_matrix(self.u.val())?,
            w: tensor_to_matrix(self.w.val())?,
            v: tensor_to_matrix(self.v.val())?,
            b: vector(&self.b, n)?,
            c: vector(&self.c, p)?,
            activation: self.activation,
            mode,
            bias: self.has_bias(),
        })
    }

    /// Hidden size.
    pub fn d_hidden(&self) -> usize {
        self.u.shape()[0]
    }

    /// Input size.
    pub fn d_input(&self) -> usize {
        self.w.shape()[1]
    }

    /// Output size.
    pub fn d_output(&self) -> usize {
        self.v.shape()[0]
    }

    /// Whether the biases exist.
    pub fn has_bias(&self) -> bool {
        self.b.is_some()
    }

    fn activate(&self, x: Tensor<2>) -> Tensor<2> {
        match self.activation {
            Activation::Linear => x,
            Activation::Tanh => x.tanh(),
            Activation::Relu => relu(x),
        }
    }

    /// One step of the cell, `h_k = act(U h_{k-1} + W in_k + b)`.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, d_hidden]` (`h_{k-1}`)
    /// - `input`: `[batch, d_input]` (`in_k`)
    /// - returns `[batch, d_hidden]` (`h_k`)
    pub fn step(&self, hidden: Tensor<2>, input: Tensor<2>) -> Tensor<2> {
        let pre = hidden.matmul(self.u.val().transpose()) + self.input_drive(input);
        self.activate(pre)
    }

    /// The readout `y_k = V h_k + c`.
    ///
    /// # Shapes
    /// - `hidden`: `[rows, d_hidden]`
    /// - returns `[rows, d_output]`
    pub fn readout(&self, hidden: Tensor<2>) -> Tensor<2> {
        let y = hidden.matmul(self.v.val().transpose());
        match &self.c {
            Some(c) => y + c.val().unsqueeze::<2>(),
            None => y,
        }
    }

    /// `W in + b` for a stack of inputs (batch-major rows).
    fn input_drive(&self, input: Tensor<2>) -> Tensor<2> {
        let drive = input.matmul(self.w.val().transpose());
        match &self.b {
            Some(b) => drive + b.val().unsqueeze::<2>(),
            None => drive,
        }
    }

    /// `V h + c` for feature-major hidden states.
    ///
    /// # Shapes
    /// - `hidden`: `[d_hidden, columns]`
    /// - returns `[d_output, columns]`
    pub(crate) fn readout_columns(&self, hidden: Tensor<2>) -> Tensor<2> {
        let y = self.v.val().matmul(hidden);
        match &self.c {
            Some(c) => y + c.val().unsqueeze_dim::<2>(1),
            None => y,
        }
    }

    /// Runs the network over whole sequences from `h_0` (zero when `None`).
    ///
    /// ```text
    /// h_k = act(U h_{k-1} + W in_k + b),   k = 1..T
    /// y_k = V h_k + c
    /// ```
    ///
    /// The recurrence runs as one fused operation ([`crate::fused`]), differentiable through
    /// Burn's autodiff.
    ///
    /// # Shapes
    /// - `inputs`: `[batch, steps, d_input]`
    /// - `h0`: `[batch, d_hidden]`
    /// - returns outputs `[batch, steps, d_output]` and hidden states `[batch, steps, d_hidden]`
    pub fn forward(&self, inputs: Tensor<3>, h0: Option<Tensor<2>>) -> ElmanOutput {
        let [batch, steps, d_input] = inputs.dims();
        let columns = inputs
            .swap_dims(0, 1)
            .reshape([steps * batch, d_input])
            .transpose();
        let hidden = self.hidden_columns(
            columns,
            batch,
            steps,
            h0.map(Tensor::transpose),
            None,
            Unroll::default(),
        );
        let outputs = self.readout_columns(hidden.clone());
        let unflatten = |t: Tensor<2>| {
            let d = t.dims()[0];
            t.transpose().reshape([steps, batch, d]).swap_dims(0, 1)
        };
        ElmanOutput {
            outputs: unflatten(outputs),
            hidden: unflatten(hidden),
        }
    }

    /// The hidden states for inputs stacked as columns, time-major (column `k * batch + i` is
    /// step `k + 1` of sequence `i`). Feature-major keeps the long dimension last, where Burn's
    /// matrix products on these skinny shapes are fastest.
    ///
    /// With `unroll.scan` on a CPU backend the fused operation computes them
    /// ([`crate::fused::hidden`], [`crate::fused::runs_on`]);
    /// otherwise Burn's tensor operations step through time ([`Elman::hidden_sequential`]).
    ///
    /// # Shapes
    /// - `inputs`: `[d_input, steps * batch]`
    /// - `h0`: `[d_hidden, batch]`
    /// - returns `[d_hidden, steps * batch]`, same column order
    pub(crate) fn hidden_columns(
        &self,
        inputs: Tensor<2>,
        batch: usize,
        steps: usize,
        h0: Option<Tensor<2>>,
        feedback: Option<&Feedback>,
        unroll: Unroll,
    ) -> Tensor<2> {
        if unroll.scan && crate::fused::runs_on(&inputs.device()) {
            return crate::fused::hidden(
                self,
                inputs,
                batch,
                steps,
                h0,
                feedback,
                unroll.truncation,
            );
        }
        // W in_k + b for every step at once: one matmul instead of `steps`.
        let mut drive = self.w.val().matmul(inputs);
        if let Some(b) = &self.b {
            drive = drive + b.val().unsqueeze_dim::<2>(1);
        }
        let u = self.u.val();
        self.hidden_sequential(drive, u, batch, h0, feedback, unroll.truncation)
    }

    /// Per-output-component sums of squared errors over the present targets of `batch`, from
    /// `h_0 = 0`: [`squared_error_sums`] of [`Elman::readout_columns`] of
    /// [`Elman::hidden_columns`]. With `unroll.scan` (the default) recurrence, readout and loss
    /// are one fused operation ([`crate::fused::squared_errors`]); otherwise those three steps
    /// run as ordinary Burn operations.
    ///
    /// # Shapes
    /// - returns `[d_output, 1]`
    ///
    /// With [`crate::data::Branches`] (the k-step-ahead loss) the hidden states of the batch are
    /// computed first, and each one starts a free-running branch fed the network's own
    /// predictions; the branches' squared errors are added to the one-step ones. Both
    /// recurrences run as fused operations (with `unroll.scan`), and Burn's graph carries the
    /// branches' gradient back into the states they start from. The branches are never
    /// truncated: at most `K − 1` steps long, their gradient reaches their initial state.
    pub(crate) fn squared_errors(&self, batch: &crate::data::Batch, unroll: Unroll) -> Tensor<2> {
        if batch.branches.is_none() && unroll.scan && crate::fused::runs_on(&batch.inputs.device())
        {
            return crate::fused::squared_errors(
                self,
                batch.inputs.clone(),
                batch.targets.clone(),
                batch.mask.clone(),
                (batch.batch, batch.steps),
                batch.feedback.as_ref(),
                unroll.truncation,
            );
        }
        let hidden = self.hidden_columns(
            batch.inputs.clone(),
            batch.batch,
            batch.steps,
            None,
            batch.feedback.as_ref(),
            unroll,
        );
        let one_step = squared_error_sums(
            self.readout_columns(hidden.clone()),
            batch.targets.clone(),
            batch.mask.clone(),
        );
        let Some(branches) = &batch.branches else {
            return one_step;
        };
        let free = self.hidden_columns(
            branches.inputs.clone(),
            branches.count,
            branches.steps,
            Some(hidden),
            Some(&branches.feedback),
            Unroll {
                truncation: None,
                ..unroll
            },
        );
        let ahead = squared_error_sums(
            self.readout_columns(free),
            branches.targets.clone(),
            branches.mask.clone(),
        );
        one_step + ahead
    }

    /// The generic path: the recurrence as Burn tensor operations, one step at a time (a few
    /// tracked operations per step).
    fn hidden_sequential(
        &self,
        drive: Tensor<2>,
        u: Tensor<2>,
        batch: usize,
        h0: Option<Tensor<2>>,
        feedback: Option<&Feedback>,
        truncation: Option<usize>,
    ) -> Tensor<2> {
        // Split the inputs once and concatenate the states once: per-step slicing of a tracked
        // tensor costs more than the step itself.
        let drives = drive.split(batch, 1);
        let wz = feedback.map(|f| {
            let n_z = self.d_input() - f.n_inputs;
            self.w.val().narrow(1, f.n_inputs, n_z)
        });
        let mut states = Vec::with_capacity(drives.len());
        let mut hidden = h0;
        for (k, drive_k) in drives.into_iter().enumerate() {
            let mut pre = match hidden.take() {
                Some(mut h) => {
                    if truncation.is_some_and(|w| k % w == 0) {
                        h = h.detach();
                    }
                    // Predictor mode: a missing z_{k-1} is replaced by y_{k-1} = V h_{k-1} + c.
                    let fed = match (feedback, &wz) {
                        (Some(f), Some(wz)) => f.missing[k].as_ref().map(|missing| {
                            wz.clone()
                                .matmul(self.readout_columns(h.clone()) * missing.clone())
                        }),
                        _ => None,
                    };
                    let pre = u.clone().matmul(h) + drive_k;
                    match fed {
                        Some(fed) => pre + fed,
                        None => pre,
                    }
                }
                // h_0 = 0: U h_0 vanishes, and so does the prediction fed back at k = 1.
                None => drive_k,
            };
            pre = self.activate(pre);
            states.push(pre.clone());
            hidden = Some(pre);
        }
        Tensor::cat(states, 1)
    }
}

/// Per-component sums of squared errors over the present targets.
///
/// # Shapes
/// - `outputs`, `targets`, `mask`: `[d_output, columns]` (`mask` is 1 where a target is
///   present, 0 where it is missing or padding; `targets` is 0 there)
/// - returns `[d_output, 1]`
pub(crate) fn squared_error_sums(
    outputs: Tensor<2>,
    targets: Tensor<2>,
    mask: Tensor<2>,
) -> Tensor<2> {
    ((outputs - targets) * mask).square().sum_dim(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Compute;

    /// The fused recurrence and Burn's step-by-step unrolling give the same hidden states (to f32
    /// rounding) for every activation, from zero and non-zero `h_0`, for batches on both sides of
    /// the fused loops' switch from scalar to lane loops.
    #[test]
    fn fused_equals_sequential() {
        let device = Compute::default().device().expect("device");
        for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
            let config = ElmanConfig::new(2, 3, 1)
                .with_seed(4)
                .with_activation(activation);
            let mut weights = config.init_weights(Mode::Simulation).expect("init");
            weights.u *= 1.8; // spectral radius 0.9
            weights.b = DVector::from_vec(vec![0.1, -0.2, 0.3]);
            let elman = Elman::from_weights(&weights, &device).expect("module");
            for (batch, steps) in [(3, 1), (2, 8), (4, 37), (9, 13)] {
                let inputs = Tensor::<2>::random(
                    [2, steps * batch],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    &device,
                );
                for h0 in [None, Some(Tensor::<2>::ones([3, batch], &device))] {
                    let run = |scan| {
                        let unroll = Unroll {
                            scan,
                            truncation: None,
                        };
                        elman.hidden_columns(inputs.clone(), batch, steps, h0.clone(), None, unroll)
                    };
                    let (a, b) = (
                        read_vec(run(true)).expect("a"),
                        read_vec(run(false)).expect("b"),
                    );
                    for (x, y) in a.iter().zip(&b) {
                        approx::assert_abs_diff_eq!(x, y, epsilon = 1e-5 * (1.0 + y.abs()));
                    }
                }
            }
        }
    }

    /// The ring initialisation puts every eigenvalue of `U` in the annulus
    /// `min_radius ≤ |λ| ≤ max_radius` with `|arg λ| ≤ max_phase` (complex ones in conjugate
    /// pairs), for every hidden size 1–8 and 200 seeds; `|λ|²` and the phase are uniform (their
    /// sample means within 3% of `(min² + max²)/2` and `max_phase/2`); and with `W`'s rows scaled by
    /// `√(1 − r²)` the stationary variance of the initial hidden state driven by unit white
    /// input, `tr P / n` with `P = U P Uᵀ + W Wᵀ`, averages 1 (as with `r = 0`) instead of
    /// `1/(1 − r²)` (≈ 5 to 500 on this ring). Invalid rings are refused, naming `init`.
    #[test]
    fn ring_initialisation() {
        let ring = Ring {
            min_radius: 0.9,
            max_radius: 0.999,
            max_phase: 0.314,
        };
        let (mut r2, mut phase, mut variance) = (Vec::new(), Vec::new(), Vec::new());
        for n in 1..=8 {
            for seed in 0..200 {
                let config = ElmanConfig::new(4, n, 1)
                    .with_init(Init::Ring(ring))
                    .with_seed(seed);
                let w = config.init_weights(Mode::Predictor).expect("init");
                let eig = w.u.complex_eigenvalues();
                for l in eig.iter() {
                    let (r, theta) = (l.norm(), l.arg().abs());
                    assert!(
                        (0.9 - 1e-12..=0.999 + 1e-12).contains(&r) && theta <= 0.314 + 1e-12,
                        "n {n} seed {seed}: {l}"
                    );
                    r2.push(r * r);
                    if l.im > 0.0 {
                        phase.push(theta);
                    }
                }
                // P = Σ_{k < 2^16} U^k W Wᵀ U^kᵀ by doubling (r^(2^17) < 1e-50 here).
                let mut p = &w.w * w.w.transpose();
                let mut a = w.u.clone();
                for _ in 0..16 {
                    p = &p + &a * &p * a.transpose();
                    a = &a * &a;
                }
                variance.push(p.trace() / n as f64);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let expected_r2 = (0.9_f64.powi(2) + 0.999_f64.powi(2)) / 2.0;
        assert!(
            (mean(&r2) / expected_r2 - 1.0).abs() < 0.03,
            "{}",
            mean(&r2)
        );
        assert!(
            (mean(&phase) / 0.157 - 1.0).abs() < 0.03,
            "{}",
            mean(&phase)
        );
        assert!((mean(&variance) - 1.0).abs() < 0.03, "{}", mean(&variance));
        for bad in [
            Ring {
                min_radius: 0.5,
                max_radius: 1.0,
                max_phase: 0.3,
            },
            Ring {
                min_radius: 0.9,
                max_radius: 0.8,
                max_phase: 0.3,
            },
            Ring {
                min_radius: 0.5,
                max_radius: 0.9,
                max_phase: 4.0,
            },
        ] {
            let config = NetworkConfig {
                init: Init::Ring(bad),
                ..NetworkConfig::default()
            };
            assert!(
                matches!(
                    config.check(),
                    Err(ModelError::Config { field: "init", .. })
                ),
                "{bad:?}"
            );
        }
    }

    /// The module built from plain weights gives them back unchanged (f32 rounding aside), and
    /// the initial `U` has the configured spectral radius.
    #[test]
    fn weights_round_trip_and_init_radius() {
        let device = Compute::default().device().expect("device");
        let config = ElmanConfig::new(3, 4, 2).with_seed(9);
        let weights = config.init_weights(Mode::Predictor).expect("init");
        approx::assert_relative_eq!(spectral_radius(&weights.u), 0.5, epsilon = 1e-12);
        let back = config
            .init(&device)
            .expect("module")
            .to_weights(Mode::Predictor)
            .expect("w");
        for (a, b) in back.u.iter().zip(weights.u.iter()) {
            approx::assert_relative_eq!(*a, *b, epsilon = 1e-6);
        }
        assert_eq!(back.w.shape(), (4, 3));
        assert_eq!(back.v.shape(), (2, 4));
    }
}
