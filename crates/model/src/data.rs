//! Training data as plain matrices, their conventions, standardisation, and the time-major
//! batches fed to the network.
//!
//! # Conventions (those of `docs/formats.md` and `docs/design.md#notation`)
//!
//! A sequence has `T` rows. Row `k`'s inputs `u_k` drive the transition **into** row `k`, so the
//! first row's inputs are not used: the network is fed `in_1 = 0` (zero in the data's original
//! units), just as the Kalman filter starts from its prior and ignores `u_1`.
//!
//! - *Simulation mode*: `in_k = u_k` (`k ≥ 2`), target `z_k`.
//! - *Predictor mode*: `in_k = [u_k; z_{k-1}]` (`k ≥ 2`; `in_1 = 0`, i.e. `z_0 = 0`), target
//!   `z_k`. A missing component of `z_{k-1}` is replaced by the network's own prediction of it,
//!   `y_{k-1} = V h_{k-1} + c`. That is what the Kalman predictor does with a missing
//!   measurement (its innovation is zero), so a linear predictor with `U = A − K H`,
//!   `W_z = K`, `V = H` still propagates `h_k = A h_{k-1} + B u_k` through a gap, and the identity
//!   `A = U + W_z V` keeps holding. The exported `W` keeps the layout `[W_u | W_z]`.
//!
//! Missing targets (`NaN` in the measurements) are left out of the loss.

use burn::tensor::{Device, Tensor, TensorData};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::model::Feedback;
use dynrec_core::weights::{Mode, RnnWeights};

/// One sequence: inputs and measurements as plain matrices, columns are time steps.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceData {
    /// Inputs `u_k`, `[m, T]` (`m` may be 0 in predictor mode).
    pub inputs: DMatrix<f64>,
    /// Measurements `z_k`, `[p, T]`; `NaN` marks a missing value.
    pub measurements: DMatrix<f64>,
}

impl SequenceData {
    /// Checks that both matrices have the same number of columns, that the inputs are finite
    /// and that every measurement is finite or `NaN` (missing).
    pub fn new(inputs: DMatrix<f64>, measurements: DMatrix<f64>) -> Result<Self> {
        let data = Self {
            inputs,
            measurements,
        };
        data.check(0)?;
        Ok(data)
    }

    /// A sequence without exogenous inputs (predictor mode only).
    pub fn without_inputs(measurements: DMatrix<f64>) -> Result<Self> {
        let steps = measurements.ncols();
        Self::new(DMatrix::zeros(0, steps), measurements)
    }

    /// Number of rows `T`.
    pub fn steps(&self) -> usize {
        self.measurements.ncols()
    }

    /// Number of inputs `m`.
    pub fn n_inputs(&self) -> usize {
        self.inputs.nrows()
    }

    /// Number of measured outputs `p`.
    pub fn n_outputs(&self) -> usize {
        self.measurements.nrows()
    }

    fn check(&self, sequence: usize) -> Result<()> {
        let bad = |message: String| Err(ModelError::Data { sequence, message });
        if self.inputs.ncols() != self.measurements.ncols() {
            return bad(format!(
                "{} input columns but {} measurement columns",
                self.inputs.ncols(),
                self.measurements.ncols()
            ));
        }
        if self.steps() == 0 {
            return bad("no time steps".into());
        }
        if self.n_outputs() == 0 {
            return bad("no measured outputs".into());
        }
        if let Some(k) = self
            .inputs
            .column_iter()
            .position(|c| c.iter().any(|x| !x.is_finite()))
        {
            return bad(format!("non-finite input at step {}", k + 1));
        }
        if let Some(k) = self
            .measurements
            .column_iter()
            .position(|c| c.iter().any(|x| x.is_infinite()))
        {
            return bad(format!("infinite measurement at step {}", k + 1));
        }
        Ok(())
    }
}

/// Checks a data set against a mode; returns `(m, p)`.
pub(crate) fn check_dataset(
    data: &[SequenceData],
    mode: Mode,
    need_targets: bool,
) -> Result<(usize, usize)> {
    let first = data.first().ok_or_else(|| ModelError::Data {
        sequence: 0,
        message: "the data set has no sequences".into(),
    })?;
    let (m, p) = (first.n_inputs(), first.n_outputs());
    for (i, seq) in data.iter().enumerate() {
        seq.check(i)?;
        if seq.n_inputs() != m || seq.n_outputs() != p {
            return Err(ModelError::Data {
                sequence: i,
                message: format!(
                    "{} inputs and {} outputs, but sequence 0 has {m} and {p}",
                    seq.n_inputs(),
                    seq.n_outputs()
                ),
            });
        }
    }
    if mode == Mode::Simulation && m == 0 {
        return Err(ModelError::Data {
            sequence: 0,
            message: "simulation mode needs inputs (the network sees nothing else)".into(),
        });
    }
    if need_targets
        && !data
            .iter()
            .any(|s| s.measurements.iter().any(|z| z.is_finite()))
    {
        return Err(ModelError::Data {
            sequence: 0,
            message: "every measurement is missing".into(),
        });
    }
    Ok((m, p))
}

/// Network input size for a mode.
pub fn network_input_size(mode: Mode, n_inputs: usize, n_outputs: usize) -> usize {
    match mode {
        Mode::Simulation => n_inputs,
        Mode::Predictor => n_inputs + n_outputs,
    }
}

/// Affine standardisation of inputs and measurements, `x̃ = (x − mean) / std`.
///
/// The network is trained on standardised data; [`Standardisation::to_original`] folds the
/// scaling into the weights so that what leaves the crate works on the original units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardisation {
    /// Mean of each input channel (`m`).
    pub input_mean: Vec<f64>,
    /// Standard deviation of each input channel (`m`; 1 where the channel is constant).
    pub input_std: Vec<f64>,
    /// Mean of each measured output (`p`).
    pub output_mean: Vec<f64>,
    /// Standard deviation of each measured output (`p`; 1 where it is constant).
    pub output_std: Vec<f64>,
}

fn mean_std(values: impl Iterator<Item = f64>, centre: bool) -> (f64, f64) {
    let (mut n, mut sum, mut sum_sq) = (0.0, 0.0, 0.0);
    for x in values.filter(|x| x.is_finite()) {
        n += 1.0;
        sum += x;
        sum_sq += x * x;
    }
    if n == 0.0 {
        return (0.0, 1.0);
    }
    let mean = if centre { sum / n } else { 0.0 };
    let var = (sum_sq / n - 2.0 * mean * sum / n + mean * mean).max(0.0);
    let std = var.sqrt();
    (
        mean,
        if std > 1e-12 * (1.0 + mean.abs()) {
            std
        } else {
            1.0
        },
    )
}

impl Standardisation {
    /// No scaling at all.
    pub fn identity(n_inputs: usize, n_outputs: usize) -> Self {
        Self {
            input_mean: vec![0.0; n_inputs],
            input_std: vec![1.0; n_inputs],
            output_mean: vec![0.0; n_outputs],
            output_std: vec![1.0; n_outputs],
        }
    }

    /// Per-channel mean and standard deviation over every present value of `data`. Without
    /// `centre` the means are 0 (only rescaling), which keeps a bias-free network bias-free.
    pub fn fit<'a>(data: impl IntoIterator<Item = &'a SequenceData> + Clone, centre: bool) -> Self {
        let first = data.clone().into_iter().next();
        let (m, p) = first.map_or((0, 0), |s| (s.n_inputs(), s.n_outputs()));
        let channel = |i: usize, inputs: bool| {
            mean_std(
                data.clone().into_iter().flat_map(move |s| {
                    let matrix = if inputs { &s.inputs } else { &s.measurements };
                    matrix.row(i).iter().copied().collect::<Vec<_>>()
                }),
                centre,
            )
        };
        let (input_mean, input_std) = (0..m).map(|i| channel(i, true)).unzip();
        let (output_mean, output_std) = (0..p).map(|i| channel(i, false)).unzip();
        Self {
            input_mean,
            input_std,
            output_mean,
            output_std,
        }
    }

    /// Mean and std of the network input `in_k` in a mode (`[u; z]` in predictor mode).
    fn network_input(&self, mode: Mode) -> (Vec<f64>, Vec<f64>) {
        match mode {
            Mode::Simulation => (self.input_mean.clone(), self.input_std.clone()),
            Mode::Predictor => (
                [self.input_mean.as_slice(), &self.output_mean].concat(),
                [self.input_std.as_slice(), &self.output_std].concat(),
            ),
        }
    }

    /// Weights that act on original units, from weights trained on standardised data:
    ///
    /// ```text
    /// W = W̃ diag(1/σ_in)     b = b̃ − W̃ (μ_in / σ_in)
    /// V = diag(σ_z) Ṽ        c = σ_z ∘ c̃ + μ_z           U = Ũ
    /// ```
    ///
    /// exact for every activation, since the pre-activations and hidden states are unchanged.
    pub fn to_original(&self, scaled: &RnnWeights) -> RnnWeights {
        let (mu, sigma) = self.network_input(scaled.mode);
        let mut out = scaled.clone();
        for j in 0..out.w.ncols() {
            for i in 0..out.w.nrows() {
                out.b[i] -= scaled.w[(i, j)] * mu[j] / sigma[j];
                out.w[(i, j)] = scaled.w[(i, j)] / sigma[j];
            }
        }
        for i in 0..out.v.nrows() {
            out.v.row_mut(i).scale_mut(self.output_std[i]);
            out.c[i] = self.output_std[i] * scaled.c[i] + self.output_mean[i];
        }
        out
    }

    /// The inverse of [`Standardisation::to_original`].
    pub fn to_scaled(&self, original: &RnnWeights) -> RnnWeights {
        let (mu, sigma) = self.network_input(original.mode);
        let mut out = original.clone();
        for j in 0..out.w.ncols() {
            for i in 0..out.w.nrows() {
                out.b[i] += original.w[(i, j)] * mu[j];
                out.w[(i, j)] = original.w[(i, j)] * sigma[j];
            }
        }
        for i in 0..out.v.nrows() {
            out.v.row_mut(i).scale_mut(1.0 / self.output_std[i]);
            out.c[i] = (original.c[i] - self.output_mean[i]) / self.output_std[i];
        }
        out
    }
}

/// A minibatch on the device, feature-major with time-major columns: column `k * batch + i` is
/// step `k + 1` of sequence `i`.
pub(crate) struct Batch {
    /// Number of sequences.
    pub batch: usize,
    /// Rows of the longest sequence (shorter ones are padded and masked).
    pub steps: usize,
    /// Network inputs `in_k`, standardised, `[d_input, steps * batch]`.
    pub inputs: Tensor<2>,
    /// Standardised targets, 0 where missing, `[p, steps * batch]`.
    pub targets: Tensor<2>,
    /// 1 where a target is present, `[p, steps * batch]`.
    pub mask: Tensor<2>,
    /// Predictor mode with missing measurements: where to feed back the prediction.
    pub feedback: Option<Feedback>,
    /// Number of present targets per output component (those of the branches included).
    pub counts: Vec<f64>,
    /// The free-running continuations of a k-step-ahead loss (`horizon > 1`), `None` for the
    /// one-step loss.
    pub branches: Option<Branches>,
}

/// The free-running continuations of a predictor batch for the k-step-ahead loss
/// ([`make_training_batch`] with `horizon = K > 1`).
///
/// Branch `b` starts from the hidden state of the batch's column `b` (step `k + 1` of sequence
/// `i`, `b = k · batch + i`, which predicts `z_{k+1}` from `z_1..z_k`) and runs `K − 1` more
/// steps fed its own predictions instead of the measurements (and the true exogenous inputs),
/// so its step `j` (1-based) predicts `z_{k+1+j}` from `z_1..z_k`: the `(j + 1)`-step-ahead
/// prediction. The k-step-ahead loss adds their squared errors to the one-step ones, so every
/// present measurement is predicted at each horizon `1..K` (as far as its sequence reaches
/// back) and that loss is the mean squared error over all of them.
pub(crate) struct Branches {
    /// Number of branches: the batch's columns, `steps · batch`.
    pub count: usize,
    /// Steps of each branch, `K − 1`.
    pub steps: usize,
    /// Inputs: exogenous rows standardised, measurement rows 0 (every one is fed back),
    /// `[d_input, steps · count]`, time-major columns.
    pub inputs: Tensor<2>,
    /// Standardised targets, 0 where missing or past the end of the sequence.
    pub targets: Tensor<2>,
    /// 1 where a target is present, `[p, steps · count]`.
    pub mask: Tensor<2>,
    /// Every `z` fed back.
    pub feedback: Feedback,
    /// Number of present targets per output component, in the branches alone.
    pub counts: Vec<f64>,
}

/// [`make_batch`], with the free-running [`Branches`] of a k-step-ahead loss when
/// `horizon > 1` (predictor mode only; the caller checks).
pub(crate) fn make_training_batch(
    sequences: &[&SequenceData],
    mode: Mode,
    scaling: &Standardisation,
    horizon: usize,
    device: &Device,
) -> Batch {
    let mut batch = make_batch(sequences, mode, scaling, device);
    if horizon > 1 && mode == Mode::Predictor {
        let branches = make_branches(sequences, scaling, (batch.steps, horizon - 1), device);
        for (count, extra) in batch.counts.iter_mut().zip(&branches.counts) {
            *count += extra;
        }
        batch.branches = Some(branches);
    }
    batch
}

/// The branches of `sequences` laid out as [`make_batch`] lays out their batch (`steps` its
/// length), each `length` steps long.
fn make_branches(
    sequences: &[&SequenceData],
    scaling: &Standardisation,
    (steps, length): (usize, usize),
    device: &Device,
) -> Branches {
    let batch = sequences.len();
    let count = steps * batch;
    let m = scaling.input_mean.len();
    let p = scaling.output_mean.len();
    let d_in = m + p;
    let columns = length * count;
    let mut inputs = vec![0.0; columns * d_in];
    let mut targets = vec![0.0; columns * p];
    let mut mask = vec![0.0; columns * p];
    let mut counts = vec![0.0; p];
    for (i, seq) in sequences.iter().enumerate() {
        for k in 0..seq.steps() {
            let branch = k * batch + i;
            // Branch step j (0-based) runs on row k + 1 + j of the sequence.
            for j in 0..length {
                let row = k + 1 + j;
                if row >= seq.steps() {
                    break;
                }
                let column = j * count + branch;
                for l in 0..m {
                    inputs[l * columns + column] =
                        (seq.inputs[(l, row)] - scaling.input_mean[l]) / scaling.input_std[l];
                }
                for o in 0..p {
                    let z = seq.measurements[(o, row)];
                    if z.is_finite() {
                        targets[o * columns + column] =
                            (z - scaling.output_mean[o]) / scaling.output_std[o];
                        mask[o * columns + column] = 1.0;
                        counts[o] += 1.0;
                    }
                }
            }
        }
    }
    let tensor = |values: Vec<f64>, features: usize| -> Tensor<2> {
        Tensor::from_data(TensorData::new(values, [features, columns]), device)
    };
    let feedback = Feedback {
        n_inputs: m,
        flags: std::sync::Arc::new(crate::fused::MissingFlags {
            flags: vec![true; p * columns],
            at_step: vec![true; length],
        }),
        missing: (0..length)
            .map(|_| Some(Tensor::ones([p, count], device)))
            .collect(),
    };
    Branches {
        count,
        steps: length,
        inputs: tensor(inputs, d_in),
        targets: tensor(targets, p),
        mask: tensor(mask, p),
        feedback,
        counts,
    }
}

/// Builds the network inputs, targets and mask of `sequences` following the module's
/// conventions, standardised by `scaling`.
pub(crate) fn make_batch(
    sequences: &[&SequenceData],
    mode: Mode,
    scaling: &Standardisation,
    device: &Device,
) -> Batch {
    let batch = sequences.len();
    let steps = sequences.iter().map(|s| s.steps()).max().unwrap_or(0);
    let m = scaling.input_mean.len();
    let p = scaling.output_mean.len();
    let (mu, sigma) = scaling.network_input(mode);
    let d_in = mu.len();
    let rows = steps * batch;
    let mut inputs = vec![0.0; rows * d_in];
    let mut targets = vec![0.0; rows * p];
    let mut mask = vec![0.0; rows * p];
    // Per step, `[p, batch]` flags of a missing z_{k-1}.
    let mut missing = vec![0.0; rows * p];
    let mut missing_at = vec![false; steps];
    let mut counts = vec![0.0; p];
    for (i, seq) in sequences.iter().enumerate() {
        for k in 0..seq.steps() {
            let row = k * batch + i;
            // In original units: in_1 = 0 (u_1 unused, z_0 = 0).
            let mut raw = vec![0.0; d_in];
            if k > 0 {
                for j in 0..m {
                    raw[j] = seq.inputs[(j, k)];
                }
                if mode == Mode::Predictor {
                    for j in 0..p {
                        raw[m + j] = seq.measurements[(j, k - 1)];
                    }
                }
            }
            for j in 0..d_in {
                let value = (raw[j] - mu[j]) / sigma[j];
                if value.is_finite() {
                    inputs[j * rows + row] = value;
                } else {
                    // A missing z_{k-1}: contributes 0 here, the prediction is fed back.
                    missing[k * batch * p + (j - m) * batch + i] = 1.0;
                    missing_at[k] = true;
                }
            }
            for j in 0..p {
                let z = seq.measurements[(j, k)];
                if z.is_finite() {
                    targets[j * rows + row] = (z - scaling.output_mean[j]) / scaling.output_std[j];
                    mask[j * rows + row] = 1.0;
                    counts[j] += 1.0;
                }
            }
        }
    }
    let tensor = |values: Vec<f64>, features: usize| -> Tensor<2> {
        Tensor::from_data(TensorData::new(values, [features, rows]), device)
    };
    let feedback = missing_at.iter().any(|&b| b).then(|| Feedback {
        n_inputs: m,
        // Host flags `[p, steps · batch]` for the fused recurrence.
        flags: std::sync::Arc::new(crate::fused::MissingFlags {
            flags: (0..p * rows)
                .map(|at| {
                    let (j, column) = (at / rows, at % rows);
                    let (k, i) = (column / batch, column % batch);
                    missing[k * batch * p + j * batch + i] == 1.0
                })
                .collect(),
            at_step: missing_at.clone(),
        }),
        missing: (0..steps)
            .map(|k| {
                missing_at[k].then(|| {
                    let block = missing[k * batch * p..(k + 1) * batch * p].to_vec();
                    Tensor::from_data(TensorData::new(block, [p, batch]), device)
                })
            })
            .collect(),
    });
    Batch {
        batch,
        steps,
        inputs: tensor(inputs, d_in),
        targets: tensor(targets, p),
        mask: tensor(mask, p),
        feedback,
        counts,
        branches: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Compute;
    use crate::model::{Elman, ElmanConfig, Unroll, read_vec};
    use dynrec_core::weights::Activation;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};
    use rand_distr::StandardNormal;

    fn data(seed: u64) -> Vec<SequenceData> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut normal = |r: usize, c: usize, mean: f64, std: f64| {
            DMatrix::from_fn(r, c, |_, _| {
                mean + std * rng.sample::<f64, _>(StandardNormal)
            })
        };
        (0..3)
            .map(|i| {
                let steps = 9 + i;
                let inputs = normal(2, steps, 5.0, 3.0);
                let mut z = normal(2, steps, -4.0, 20.0);
                z[(0, 2)] = f64::NAN;
                z[(1, 4 + i)] = f64::NAN;
                SequenceData::new(inputs, z).expect("valid")
            })
            .collect()
    }

    /// Folding the standardisation into the weights is exact: the Burn network with weights
    /// `W̃` on the standardised batch, outputs mapped back by `σ ỹ + μ`, equals the `f64`
    /// reference run of `to_original(W̃)` on the raw data, in both modes (missing measurements,
    /// ragged lengths, tanh); and `to_scaled ∘ to_original` is the identity.
    #[test]
    fn standardisation_folds_exactly() {
        let device = Compute::default().device().expect("device");
        let data = data(1);
        let refs: Vec<&SequenceData> = data.iter().collect();
        let scaling = Standardisation::fit(refs.iter().copied(), true);
        assert!(scaling.input_std.iter().all(|s| (s - 3.0).abs() < 1.5));
        for mode in [Mode::Simulation, Mode::Predictor] {
            let config = ElmanConfig::new(network_input_size(mode, 2, 2), 3, 2)
                .with_activation(Activation::Tanh)
                .with_seed(3);
            let mut scaled = config.init_weights(mode).expect("init");
            scaled.b = nalgebra::DVector::from_vec(vec![0.2, -0.1, 0.05]);
            scaled.c = nalgebra::DVector::from_vec(vec![0.3, -0.4]);
            let original = scaling.to_original(&scaled);
            let back = scaling.to_scaled(&original);
            for (a, b) in back
                .w
                .iter()
                .chain(back.b.iter())
                .zip(scaled.w.iter().chain(scaled.b.iter()))
            {
                approx::assert_relative_eq!(*a, *b, epsilon = 1e-12);
            }
            let batch = make_batch(&refs, mode, &scaling, &device);
            let elman = Elman::from_weights(&scaled, &device).expect("module");
            let hidden = elman.hidden_columns(
                batch.inputs.clone(),
                batch.batch,
                batch.steps,
                None,
                batch.feedback.as_ref(),
                Unroll::default(),
            );
            let out = read_vec(elman.readout_columns(hidden)).expect("outputs");
            let columns = batch.batch * batch.steps;
            for (i, seq) in data.iter().enumerate() {
                let reference = original.run(&seq.inputs, &seq.measurements).expect("run");
                for k in 0..seq.steps() {
                    for j in 0..2 {
                        let scaled_y = out[j * columns + k * batch.batch + i];
                        let y = scaling.output_std[j] * scaled_y + scaling.output_mean[j];
                        approx::assert_abs_diff_eq!(
                            y,
                            reference.outputs[(j, k)],
                            epsilon = 1e-4 * scaling.output_std[j]
                        );
                    }
                }
            }
        }
    }
}
