//! Training: seeded restarts of Adam on minibatches of whole sequences, early stopping on a
//! validation split, keep-best weights, an optional L-BFGS polish, and export in the data's
//! original units.
//!
//! The objective is the mean squared error over every present measurement of the minibatch, in
//! standardised units (with one output, the original-unit MSE divided by the output variance).
//! Every loss this module *reports* (observer, [`TrainingReport`]) is in the data's original
//! units: `Σ_j σ_j² SSE_j / N`.

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::{Batch, SequenceData, Standardisation, check_dataset, make_batch};
use crate::error::{ModelError, Result, config_error};
use crate::inference::TrainedRnn;
use crate::model::{Elman, ElmanConfig, Unroll, read_vec};
use crate::optim::{Adam, Lbfgs, LbfgsStop, clip_norm};
use crate::weights::{Activation, Mode, RnnWeights};

/// The network to train: what the data does not already fix.
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
    /// Spectral radius of the initial `U`, in `[0, 1)` (default 0.5).
    pub init_spectral_radius: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Simulation,
            d_hidden: 2,
            activation: Activation::Linear,
            bias: true,
            init_spectral_radius: 0.5,
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
            seed,
        }
    }
}

/// How to train. Every field has a documented default (`TrainingConfig::default()`, or omit the
/// field in JSON/TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// Base seed of restarts, minibatch order and validation split (default 0).
    pub seed: u64,
    /// Independent random restarts; the best validation loss wins (default 3).
    pub restarts: usize,
    /// Adam steps per restart, at most (default 2000).
    pub max_steps: usize,
    /// Sequences per minibatch (default 64); each Adam step sees one minibatch.
    pub batch_size: usize,
    /// Initial Adam learning rate (default 0.02).
    pub learning_rate: f64,
    /// Learning rate reached at `max_steps`, decaying geometrically from `learning_rate`
    /// (default 1e-4).
    pub final_learning_rate: f64,
    /// Adam `β₁` (default 0.9).
    pub beta1: f64,
    /// Adam `β₂` (default 0.999).
    pub beta2: f64,
    /// Adam `ε` (default 1e-8, as in PyTorch; Burn's Adam uses 1e-5).
    pub epsilon: f64,
    /// Clip the global gradient norm to this (default 10; `None` disables).
    pub grad_clip_norm: Option<f64>,
    /// Truncate backpropagation through time to windows of this many steps (default `None`:
    /// full BPTT).
    pub truncation: Option<usize>,
    /// Fraction of the sequences held out for validation (default 0.2; at least one sequence
    /// stays for training). With no validation sequence, early stopping and keep-best use the
    /// full training loss.
    pub validation_fraction: f64,
    /// Evaluate the validation loss every this many Adam steps (default 10).
    pub eval_every: usize,
    /// Stop after this many evaluations without improvement (default 30).
    pub patience: usize,
    /// Relative decrease of the validation loss that counts as an improvement (default 1e-5).
    pub min_improvement: f64,
    /// L-BFGS iterations after Adam on the full training set (default 200; 0 disables).
    pub lbfgs_iterations: usize,
    /// L-BFGS memory (default 20).
    pub lbfgs_history: usize,
    /// The polished weights are kept unless they raise the validation loss by more than this
    /// relative amount (default 1e-3).
    pub polish_tolerance: f64,
    /// Standardise inputs and outputs for training (default true); exported weights are in the
    /// original units either way. Without biases only the scale is changed, not the mean.
    pub standardise: bool,
    /// Run the recurrence, readout and loss as one fused operation with a hand-written
    /// backward pass (default true; see `crate::fused`). `false` steps through time with Burn's
    /// tensor operations: same result, several times slower, kept for cross-checks. (The name
    /// is historical: it once chose a parallel scan for linear networks.)
    pub scan: bool,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            restarts: 3,
            max_steps: 2000,
            batch_size: 64,
            learning_rate: 0.02,
            final_learning_rate: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            grad_clip_norm: Some(10.0),
            truncation: None,
            validation_fraction: 0.2,
            eval_every: 10,
            patience: 30,
            min_improvement: 1e-5,
            lbfgs_iterations: 200,
            lbfgs_history: 20,
            polish_tolerance: 1e-3,
            standardise: true,
            scan: true,
        }
    }
}

impl TrainingConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let positive = |field: &'static str, x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(config_error(field, format!("{x} must be finite and > 0")))
            }
        };
        if self.restarts == 0 {
            return Err(config_error("restarts", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(config_error("batch_size", "must be at least 1"));
        }
        if self.eval_every == 0 {
            return Err(config_error("eval_every", "must be at least 1"));
        }
        if self.truncation == Some(0) {
            return Err(config_error("truncation", "must be at least 1 step"));
        }
        positive("learning_rate", self.learning_rate)?;
        positive("final_learning_rate", self.final_learning_rate)?;
        positive("epsilon", self.epsilon)?;
        if let Some(clip) = self.grad_clip_norm {
            positive("grad_clip_norm", clip)?;
        }
        for (field, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(config_error(field, format!("{beta} is not in [0, 1)")));
            }
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return Err(config_error(
                "validation_fraction",
                format!("{} is not in [0, 1)", self.validation_fraction),
            ));
        }
        if !(self.min_improvement >= 0.0 && self.polish_tolerance >= 0.0) {
            return Err(config_error("min_improvement", "tolerances must be ≥ 0"));
        }
        if self.lbfgs_iterations > 0 && self.lbfgs_history == 0 {
            return Err(config_error("lbfgs_history", "must be at least 1"));
        }
        Ok(())
    }

    /// Learning rate at Adam step `step` (0-based): geometric decay from `learning_rate` to
    /// `final_learning_rate` at step `max_steps − 1`.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let span = self.max_steps.saturating_sub(1).max(1) as f64;
        let frac = (step as f64 / span).min(1.0);
        self.learning_rate * (self.final_learning_rate / self.learning_rate).powf(frac)
    }

    /// Seed of restart `restart`'s initial weights ([`ElmanConfig::seed`]) and minibatch order.
    pub fn restart_seed(&self, restart: usize) -> u64 {
        splitmix64(self.seed ^ splitmix64(restart as u64 + 1))
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which optimiser produced a [`Progress`] report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Adam on minibatches.
    Adam,
    /// L-BFGS on the full training set.
    Lbfgs,
}

/// One step of training, as reported to an [`Observer`]. Losses are in original units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Restart index (0-based).
    pub restart: usize,
    /// The optimiser.
    pub phase: Phase,
    /// Step (Adam) or iteration (L-BFGS), 1-based.
    pub step: usize,
    /// Training loss: the minibatch's before the Adam step, the full set's after an L-BFGS
    /// iteration.
    pub loss: f64,
    /// The latest validation loss, when one has been computed in this restart.
    pub val_loss: Option<f64>,
    /// Adam's learning rate, or the L-BFGS step length accepted by the line search.
    pub learning_rate: f64,
}

/// Watches training; every method defaults to doing nothing.
pub trait Observer {
    /// A restart begins.
    fn restart_started(&mut self, _restart: usize, _seed: u64) {}
    /// A step finished.
    fn step(&mut self, _progress: &Progress) {}
    /// A restart ended.
    fn restart_finished(&mut self, _report: &RestartReport) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// How a restart ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// Adam used all `max_steps`.
    MaxSteps,
    /// The validation loss stopped improving.
    EarlyStopping,
    /// A non-finite loss, gradient or weight appeared.
    Diverged {
        /// `"adam"` or `"lbfgs"`.
        phase: String,
        /// Step at which it was detected.
        step: usize,
        /// What became non-finite.
        reason: String,
    },
}

/// What one restart did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartReport {
    /// Restart index.
    pub restart: usize,
    /// Seed of its initial weights and minibatch order.
    pub seed: u64,
    /// Adam steps taken.
    pub adam_steps: usize,
    /// Why Adam stopped.
    pub stop: StopReason,
    /// L-BFGS iterations taken (0 when disabled or diverged).
    pub lbfgs_iterations: usize,
    /// Why L-BFGS stopped (`None` when it did not run).
    pub lbfgs_stop: Option<LbfgsStop>,
    /// Whether the L-BFGS result was kept.
    pub lbfgs_kept: bool,
    /// Best validation loss (original units) of the weights this restart hands over.
    pub val_loss: f64,
    /// Full training loss (original units) of those weights.
    pub train_loss: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The record of a whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// One entry per restart.
    pub restarts: Vec<RestartReport>,
    /// Index of the winning restart.
    pub best_restart: usize,
    /// Training loss of the returned weights (original units, MSE over present measurements).
    pub train_loss: f64,
    /// Validation loss of the returned weights (original units; the training loss when there is
    /// no validation sequence).
    pub val_loss: f64,
    /// Indices of the sequences used for training.
    pub train_sequences: Vec<usize>,
    /// Indices of the sequences held out for validation.
    pub val_sequences: Vec<usize>,
    /// The standardisation used during training.
    pub standardisation: Standardisation,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// A trained network and the record of how it was trained.
#[derive(Debug)]
pub struct Fit {
    /// The network, in original units, ready for inference.
    pub model: TrainedRnn,
    /// How training went.
    pub report: TrainingReport,
}

impl Fit {
    /// The trained weights, in original units.
    pub fn weights(&self) -> &RnnWeights {
        self.model.weights()
    }
}

/// Flat parameter vector `[vec(U), vec(W), vec(V), b, c]` (row-major; no `b`, `c` without bias).
#[derive(Debug, Clone, Copy)]
struct Layout {
    n: usize,
    d: usize,
    p: usize,
    bias: bool,
}

impl Layout {
    fn flatten(&self, w: &RnnWeights) -> Vec<f64> {
        let mut out = Vec::new();
        for m in [&w.u, &w.w, &w.v] {
            for i in 0..m.nrows() {
                out.extend(m.row(i).iter());
            }
        }
        if self.bias {
            out.extend(w.b.iter());
            out.extend(w.c.iter());
        }
        out
    }

    fn unflatten(&self, theta: &[f64], activation: Activation, mode: Mode) -> RnnWeights {
        let (n, d, p) = (self.n, self.d, self.p);
        let mut at = 0;
        let mut take = |len: usize| {
            let slice = &theta[at..at + len];
            at += len;
            slice
        };
        let u = nalgebra::DMatrix::from_row_slice(n, n, take(n * n));
        let w = nalgebra::DMatrix::from_row_slice(n, d, take(n * d));
        let v = nalgebra::DMatrix::from_row_slice(p, n, take(p * n));
        let (b, c) = if self.bias {
            (
                nalgebra::DVector::from_column_slice(take(n)),
                nalgebra::DVector::from_column_slice(take(p)),
            )
        } else {
            (nalgebra::DVector::zeros(n), nalgebra::DVector::zeros(p))
        };
        RnnWeights {
            u,
            w,
            v,
            b,
            c,
            activation,
            mode,
        }
    }
}

/// Evaluates the objective and its gradient for flat parameters on a batch.
struct Objective<'a> {
    layout: Layout,
    activation: Activation,
    mode: Mode,
    unroll: Unroll,
    device: &'a Device,
    output_var: Vec<f64>,
}

/// The sums of squared errors of one evaluation, per output component (standardised units).
struct Evaluation {
    sse: Vec<f64>,
    grad: Option<Vec<f64>>,
}

impl Evaluation {
    /// The objective: MSE in standardised units.
    fn objective(&self, counts: &[f64]) -> f64 {
        self.sse.iter().sum::<f64>() / counts.iter().sum::<f64>()
    }

    /// MSE in original units.
    fn original(&self, counts: &[f64], output_var: &[f64]) -> f64 {
        self.sse
            .iter()
            .zip(output_var)
            .map(|(s, v)| s * v)
            .sum::<f64>()
            / counts.iter().sum::<f64>()
    }
}

impl Objective<'_> {
    fn evaluate(&self, theta: &[f64], batch: &Batch, with_grad: bool) -> Result<Evaluation> {
        let weights = self.layout.unflatten(theta, self.activation, self.mode);
        let elman = Elman::from_weights(&weights, self.layout.bias, self.device)?;
        let sse = elman.squared_errors(batch, self.unroll);
        if !with_grad {
            return Ok(Evaluation {
                sse: read_vec(sse)?,
                grad: None,
            });
        }
        let total: f64 = batch.counts.iter().sum();
        let objective: Tensor<1> = sse.clone().sum().mul_scalar(1.0 / total);
        let grads = objective.backward();
        let sse = read_vec(sse.detach())?;
        let mut grad = Vec::with_capacity(theta.len());
        let mut push = |t: Option<Tensor<2>>, len: usize| -> Result<()> {
            match t {
                Some(t) => grad.extend(read_vec(t)?),
                None => grad.extend(std::iter::repeat_n(0.0, len)),
            }
            Ok(())
        };
        let (n, d, p) = (self.layout.n, self.layout.d, self.layout.p);
        push(elman.u.val().grad(&grads), n * n)?;
        push(elman.w.val().grad(&grads), n * d)?;
        push(elman.v.val().grad(&grads), p * n)?;
        if let (Some(b), Some(c)) = (&elman.b, &elman.c) {
            push(b.val().grad(&grads).map(|g| g.unsqueeze::<2>()), n)?;
            push(c.val().grad(&grads).map(|g| g.unsqueeze::<2>()), p)?;
        }
        Ok(Evaluation {
            sse,
            grad: Some(grad),
        })
    }
}

/// How a restart diverged, and the last parameters whose loss was finite.
#[derive(Clone)]
struct Divergence {
    phase: Phase,
    step: usize,
    reason: String,
    last_good_loss: f64,
    last_good: Vec<f64>,
}

/// The outcome of one restart before selection.
struct RestartOutcome {
    report: RestartReport,
    theta: Vec<f64>,
    diverged: Option<Divergence>,
}

/// Trains an Elman network on `data` (one [`SequenceData`] per independent sequence).
///
/// `device` is a plain Burn device (see [`crate::Compute::device`]); training enables autodiff
/// on it. The returned model runs inference on the same device, and its weights are in the
/// data's original units.
///
/// # Errors
/// Invalid configuration or data; [`ModelError::Diverged`] when every restart diverged.
pub fn train(
    data: &[SequenceData],
    network: &NetworkConfig,
    config: &TrainingConfig,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<Fit> {
    let started = Instant::now();
    config.validate()?;
    let (m, p) = check_dataset(data, network.mode, true)?;
    network.elman(m, p, 0).validate()?;

    // Validation split: whole sequences, seeded, the same for every restart.
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(config.seed));
    let n_val =
        ((data.len() as f64 * config.validation_fraction).round() as usize).min(data.len() - 1);
    let (val_idx, train_idx) = order.split_at(n_val);
    let mut val_idx = val_idx.to_vec();
    let mut train_idx = train_idx.to_vec();
    val_idx.sort_unstable();
    train_idx.sort_unstable();
    let train_set: Vec<&SequenceData> = train_idx.iter().map(|&i| &data[i]).collect();
    let val_set: Vec<&SequenceData> = val_idx.iter().map(|&i| &data[i]).collect();
    if !train_set
        .iter()
        .any(|s| s.measurements.iter().any(|z| z.is_finite()))
    {
        return Err(ModelError::Data {
            sequence: train_idx[0],
            message: "every training measurement is missing".into(),
        });
    }

    let scaling = if config.standardise {
        Standardisation::fit(train_set.iter().copied(), network.bias)
    } else {
        Standardisation::identity(m, p)
    };
    let ad_device = device.clone().autodiff();
    let full_train = make_batch(&train_set, network.mode, &scaling, &ad_device);
    let val_batch = if val_set.is_empty() {
        None
    } else {
        Some(make_batch(&val_set, network.mode, &scaling, device))
    };
    let probe = network.elman(m, p, 0);
    let layout = Layout {
        n: probe.d_hidden,
        d: probe.d_input,
        p,
        bias: network.bias,
    };
    let output_var: Vec<f64> = scaling.output_std.iter().map(|s| s * s).collect();
    let unroll = Unroll {
        scan: config.scan,
        truncation: config.truncation,
    };
    let train_objective = Objective {
        layout,
        activation: network.activation,
        mode: network.mode,
        unroll,
        device: &ad_device,
        output_var: output_var.clone(),
    };
    let eval_objective = Objective {
        device,
        unroll: Unroll {
            truncation: None,
            ..unroll
        },
        output_var: output_var.clone(),
        ..train_objective
    };
    let validation_loss = |theta: &[f64]| -> Result<f64> {
        match &val_batch {
            Some(batch) => {
                let e = eval_objective.evaluate(theta, batch, false)?;
                Ok(e.original(&batch.counts, &output_var))
            }
            None => {
                let e = train_objective.evaluate(theta, &full_train, false)?;
                Ok(e.original(&full_train.counts, &output_var))
            }
        }
    };

    let mut outcomes = Vec::with_capacity(config.restarts);
    for restart in 0..config.restarts {
        let seed = config.restart_seed(restart);
        observer.restart_started(restart, seed);
        let outcome = run_restart(
            restart,
            seed,
            network,
            config,
            &train_set,
            &full_train,
            &scaling,
            &train_objective,
            &validation_loss,
            (m, p),
            observer,
        )?;
        observer.restart_finished(&outcome.report);
        outcomes.push(outcome);
    }

    let best = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.diverged.is_none())
        .min_by(|a, b| a.1.report.val_loss.total_cmp(&b.1.report.val_loss))
        .map(|(i, _)| i);
    let Some(best) = best else {
        // Every restart diverged: report the last one, with its last good weights.
        let last = outcomes
            .into_iter()
            .enumerate()
            .filter_map(|(i, o)| o.diverged.map(|d| (i, d)))
            .next_back();
        let Some((restart, divergence)) = last else {
            return Err(config_error("restarts", "must be at least 1"));
        };
        let scaled = layout.unflatten(&divergence.last_good, network.activation, network.mode);
        return Err(ModelError::Diverged {
            restart,
            phase: match divergence.phase {
                Phase::Adam => "adam",
                Phase::Lbfgs => "lbfgs",
            },
            step: divergence.step,
            reason: divergence.reason,
            last_good_loss: divergence.last_good_loss,
            last_good: Box::new(scaling.to_original(&scaled)),
        });
    };
    let winner = &outcomes[best];
    let scaled = layout.unflatten(&winner.theta, network.activation, network.mode);
    let weights = scaling.to_original(&scaled);
    let model = TrainedRnn::new(weights, network.bias, device)?;
    let report = TrainingReport {
        best_restart: best,
        train_loss: winner.report.train_loss,
        val_loss: winner.report.val_loss,
        restarts: outcomes.into_iter().map(|o| o.report).collect(),
        train_sequences: train_idx,
        val_sequences: val_idx,
        standardisation: scaling,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Fit { model, report })
}

fn run_restart(
    restart: usize,
    seed: u64,
    network: &NetworkConfig,
    config: &TrainingConfig,
    train_set: &[&SequenceData],
    full_train: &Batch,
    scaling: &Standardisation,
    objective: &Objective<'_>,
    validation_loss: &dyn Fn(&[f64]) -> Result<f64>,
    (m, p): (usize, usize),
    observer: &mut dyn Observer,
) -> Result<RestartOutcome> {
    let started = Instant::now();
    let layout = objective.layout;
    let init = network.elman(m, p, seed).init_weights(network.mode)?;
    let mut theta = layout.flatten(&init);
    let mut adam = Adam::new(theta.len(), config.beta1, config.beta2, config.epsilon);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    let n_batches = train_set.len().div_ceil(config.batch_size);
    let mut cursor = n_batches; // forces a shuffle before the first step

    let mut best_val = validation_loss(&theta)?;
    let mut best_theta = theta.clone();
    let mut last_val = None;
    let mut stale = 0;
    let mut last_good = (f64::NAN, theta.clone());
    let mut diverged = None;
    let mut stop = StopReason::MaxSteps;
    let mut steps_taken = 0;

    for step in 0..config.max_steps {
        if cursor == n_batches {
            cursor = 0;
            if n_batches > 1 {
                order.shuffle(&mut rng);
            }
        }
        let minibatch: Batch;
        let batch = if n_batches == 1 {
            full_train
        } else {
            let chunk = &order
                [cursor * config.batch_size..((cursor + 1) * config.batch_size).min(order.len())];
            let seqs: Vec<&SequenceData> = chunk.iter().map(|&i| train_set[i]).collect();
            minibatch = make_batch(&seqs, network.mode, scaling, objective.device);
            &minibatch
        };
        cursor += 1;

        let eval = objective.evaluate(&theta, batch, true)?;
        let loss = eval.original(&batch.counts, &objective.output_var);
        let mut grad = eval.grad.unwrap_or_default();
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            let what = if loss.is_finite() { "gradient" } else { "loss" };
            diverged = Some((Phase::Adam, step + 1, format!("non-finite {what}")));
            break;
        }
        last_good = (loss, theta.clone());
        if let Some(max_norm) = config.grad_clip_norm {
            clip_norm(&mut grad, max_norm);
        }
        let lr = config.learning_rate_at(step);
        adam.step(&mut theta, &grad, lr);
        steps_taken = step + 1;
        if theta.iter().any(|x| !x.is_finite()) {
            diverged = Some((Phase::Adam, step + 1, "non-finite weights".to_string()));
            break;
        }
        if (step + 1) % config.eval_every == 0 || step + 1 == config.max_steps {
            let val = validation_loss(&theta)?;
            last_val = Some(val);
            if val.is_finite() && val < best_val * (1.0 - config.min_improvement) {
                best_val = val;
                best_theta.clone_from(&theta);
                stale = 0;
            } else {
                stale += 1;
            }
        }
        observer.step(&Progress {
            restart,
            phase: Phase::Adam,
            step: step + 1,
            loss,
            val_loss: last_val,
            learning_rate: lr,
        });
        if stale >= config.patience {
            stop = StopReason::EarlyStopping;
            break;
        }
    }

    let finish = |theta: Vec<f64>,
                  stop: StopReason,
                  lbfgs: Option<(usize, LbfgsStop)>,
                  lbfgs_kept: bool,
                  val_loss: f64,
                  diverged: Option<Divergence>|
     -> Result<RestartOutcome> {
        let eval = objective.evaluate(&theta, full_train, false)?;
        let train_loss = eval.original(&full_train.counts, &objective.output_var);
        Ok(RestartOutcome {
            report: RestartReport {
                restart,
                seed,
                adam_steps: steps_taken,
                stop,
                lbfgs_iterations: lbfgs.map_or(0, |l| l.0),
                lbfgs_stop: lbfgs.map(|l| l.1),
                lbfgs_kept,
                val_loss,
                train_loss,
                seconds: started.elapsed().as_secs_f64(),
            },
            theta,
            diverged,
        })
    };

    if let Some((phase, step, reason)) = diverged {
        let stop = StopReason::Diverged {
            phase: "adam".into(),
            step,
            reason: reason.clone(),
        };
        let (last_good_loss, last_good) = last_good;
        let divergence = Divergence {
            phase,
            step,
            reason,
            last_good_loss,
            last_good,
        };
        return finish(best_theta, stop, None, false, best_val, Some(divergence));
    }

    if config.lbfgs_iterations == 0 {
        return finish(best_theta, stop, None, false, best_val, None);
    }
    let lbfgs = Lbfgs {
        iterations: config.lbfgs_iterations,
        history: config.lbfgs_history,
        tolerance_grad: 1e-12,
        tolerance_change: 1e-12,
    };
    let counts = full_train.counts.clone();
    // The original-unit loss of the latest evaluation: the accepted point when `observe` runs.
    let last_loss = std::cell::Cell::new(f64::NAN);
    let mut f = |x: &[f64]| -> Result<(f64, Vec<f64>)> {
        let e = objective.evaluate(x, full_train, true)?;
        last_loss.set(e.original(&counts, &objective.output_var));
        Ok((e.objective(&counts), e.grad.unwrap_or_default()))
    };
    let mut observe = |iteration: usize, _f: f64, t: f64| {
        observer.step(&Progress {
            restart,
            phase: Phase::Lbfgs,
            step: iteration,
            loss: last_loss.get(),
            val_loss: last_val,
            learning_rate: t,
        });
    };
    let polished = lbfgs.minimise(best_theta.clone(), &mut f, &mut observe)?;
    let polished_val = validation_loss(&polished.x)?;
    if polished_val.is_finite() && polished_val <= best_val * (1.0 + config.polish_tolerance) {
        let lbfgs = Some((polished.iterations, polished.stop));
        finish(polished.x, stop, lbfgs, true, polished_val, None)
    } else {
        let lbfgs = Some((polished.iterations, polished.stop));
        finish(best_theta, stop, lbfgs, false, best_val, None)
    }
}

/// The training objective at `weights`, without standardisation: the mean squared error over
/// every present measurement of `data` (original units), and its gradient with respect to each
/// weight (returned in the shapes of [`RnnWeights`]; the bias entries are 0 when `bias` is
/// false). `config.scan` and `config.truncation` choose how the recurrence is unrolled, as in
/// [`train`]; with a truncation the gradient is the truncated one.
pub fn loss_gradient(
    weights: &RnnWeights,
    bias: bool,
    data: &[SequenceData],
    config: &TrainingConfig,
    device: &Device,
) -> Result<(f64, RnnWeights)> {
    let (m, p) = check_dataset(data, weights.mode, true)?;
    if weights.d_input() != crate::data::network_input_size(weights.mode, m, p)
        || weights.d_output() != p
    {
        return Err(ModelError::Data {
            sequence: 0,
            message: "the data do not fit the network's input and output sizes".into(),
        });
    }
    let ad_device = device.clone().autodiff();
    let refs: Vec<&SequenceData> = data.iter().collect();
    let batch = make_batch(
        &refs,
        weights.mode,
        &Standardisation::identity(m, p),
        &ad_device,
    );
    let layout = Layout {
        n: weights.d_hidden(),
        d: weights.d_input(),
        p,
        bias,
    };
    let objective = Objective {
        layout,
        activation: weights.activation,
        mode: weights.mode,
        unroll: Unroll {
            scan: config.scan,
            truncation: config.truncation,
        },
        device: &ad_device,
        output_var: vec![1.0; p],
    };
    let eval = objective.evaluate(&layout.flatten(weights), &batch, true)?;
    let loss = eval.objective(&batch.counts);
    let grad = eval.grad.unwrap_or_default();
    let grad = if bias {
        grad
    } else {
        let n = layout.n;
        [grad, vec![0.0; n + p]].concat()
    };
    let full = Layout {
        bias: true,
        ..layout
    };
    Ok((
        loss,
        full.unflatten(&grad, weights.activation, weights.mode),
    ))
}
