//! The references a trained network is measured against, on held-out data: the Kalman filter's
//! one-step prediction (the Bayes-optimal floor for a predictor; the extended Kalman filter's
//! for a nonlinear system, a close approximation of it) and the true system's own output-error
//! prediction (the floor for a network that sees only the inputs).

use anyhow::{Context, Result};
use dynrec_model::{Mode, RnnWeights, SequenceData};
use dynrec_truth::{Dataset, Dynamics, FilterMethod, Sequence, filter_dynamics};
use nalgebra::{DMatrix, DVector};

use crate::truth::Truth;

/// The floors on the held-out data, from the true system (all absent when it is unknown).
#[derive(Debug, Clone, Default)]
pub struct References {
    /// One-step predictions of the Kalman filter (EKF for a nonlinear system), `[p, T]` per
    /// held-out sequence.
    pub kalman: Option<Vec<DMatrix<f64>>>,
    /// Their pooled MSE: the Bayes floor of a predictor.
    pub kalman_mse: Option<f64>,
    /// Pooled MSE of the true system fed the inputs alone (systems with inputs): the floor of a
    /// simulation-mode network.
    pub truth_output_error_mse: Option<f64>,
}

impl References {
    /// The references of `truth` on `held_out`.
    pub fn measure(truth: Option<&Truth<'_>>, held_out: &Dataset) -> Result<Self> {
        let Some(truth) = truth else {
            return Ok(Self::default());
        };
        let system = truth.system;
        let kalman = held_out
            .sequences
            .iter()
            .map(|s| kalman_predictions(system, s))
            .collect::<Result<Vec<_>>>()?;
        let measured = || held_out.sequences.iter().map(|s| &s.measurements);
        let kalman_mse = pooled_mse(measured().zip(kalman.iter().cloned()));
        let truth_output_error_mse = (system.n_inputs() > 0).then(|| {
            pooled_mse(
                measured().zip(
                    held_out
                        .sequences
                        .iter()
                        .map(|s| output_error_predictions(system, s)),
                ),
            )
        });
        Ok(Self {
            kalman: Some(kalman),
            kalman_mse: Some(kalman_mse),
            truth_output_error_mse,
        })
    }

    /// The floor a network of `mode` is measured against: the Kalman predictor's MSE for a
    /// predictor, the true system's output-error MSE for a simulation-mode network (the
    /// Kalman one when the system has no inputs).
    pub fn floor(&self, mode: Mode) -> Option<f64> {
        match mode {
            Mode::Predictor => self.kalman_mse,
            Mode::Simulation => self.truth_output_error_mse.or(self.kalman_mse),
        }
    }
}

/// Mean squared error over the present (finite) measurements, pooled over sequences and
/// channels: `Σ (z − ẑ)² / N`.
pub fn pooled_mse<'a>(pairs: impl IntoIterator<Item = (&'a DMatrix<f64>, DMatrix<f64>)>) -> f64 {
    let (mut sse, mut count) = (0.0, 0usize);
    for (measured, predicted) in pairs {
        for (z, y) in measured.iter().zip(predicted.iter()) {
            if z.is_finite() {
                sse += (z - y).powi(2);
                count += 1;
            }
        }
    }
    sse / count.max(1) as f64
}

/// One-step predictions `h(x̂_{k|k-1})` of the Kalman filter (linear systems) or of the
/// extended Kalman filter (any other), `[p, T]`.
pub fn kalman_predictions<D: Dynamics + ?Sized>(
    system: &D,
    seq: &Sequence,
) -> Result<DMatrix<f64>> {
    let out = filter_dynamics(system, seq, FilterMethod::Auto)
        .context("Kalman filter on a held-out sequence")?;
    if let Some(linear) = system.as_linear() {
        return Ok(linear.h() * out.predicted_means);
    }
    let columns: Vec<DVector<f64>> = out
        .predicted_means
        .column_iter()
        .map(|x| system.measure(&x.into_owned()))
        .collect();
    Ok(DMatrix::from_columns(&columns))
}

/// The noise-free output-error prediction of a system fed the inputs alone, `[p, T]`:
/// `x̂_1 = x0`, `x̂_k = f(x̂_{k-1}, u_k)`, `ŷ_k = h(x̂_k)`. For a nonlinear system with process
/// noise this is close to, not exactly, the best prediction from the inputs (which would average
/// over the noise); it is the floor a simulation-mode network is compared with.
pub fn output_error_predictions<D: Dynamics + ?Sized>(system: &D, seq: &Sequence) -> DMatrix<f64> {
    let steps = seq.len();
    let mut x = system.noise().x0().clone();
    let mut out = DMatrix::zeros(system.n_outputs(), steps);
    for k in 0..steps {
        if k > 0 {
            x = system.transition(&x, &seq.inputs.column(k).into_owned());
        }
        out.set_column(k, &system.measure(&x));
    }
    out
}

/// Outputs of `weights` on each sequence (the `f64` reference implementation, independent of
/// Burn).
pub fn network_predictions(
    weights: &RnnWeights,
    data: &[SequenceData],
) -> Result<Vec<DMatrix<f64>>> {
    data.iter()
        .map(|s| {
            weights
                .run(&s.inputs, &s.measurements)
                .map(|t| t.outputs)
                .context("running the network on held-out data")
        })
        .collect()
}

/// The network inputs `in_k` averaged over the data: `u` (simulation) or `[u; z]` (predictor,
/// missing measurements skipped). The operating point at which nonlinear networks are
/// linearised.
pub fn mean_network_input(data: &[SequenceData], mode: Mode) -> DVector<f64> {
    let mean_rows = |m: &DMatrix<f64>| {
        DVector::from_fn(m.nrows(), |i, _| {
            let (sum, n) = m
                .row(i)
                .iter()
                .filter(|x| x.is_finite())
                .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            sum / n.max(1) as f64
        })
    };
    let all = |f: fn(&SequenceData) -> &DMatrix<f64>| {
        let blocks: Vec<&DMatrix<f64>> = data.iter().map(f).collect();
        let rows = blocks.first().map_or(0, |b| b.nrows());
        let cols: usize = blocks.iter().map(|b| b.ncols()).sum();
        let mut joined = DMatrix::zeros(rows, cols);
        let mut at = 0;
        for b in blocks {
            joined.columns_mut(at, b.ncols()).copy_from(b);
            at += b.ncols();
        }
        mean_rows(&joined)
    };
    let u = all(|s| &s.inputs);
    match mode {
        Mode::Simulation => u,
        Mode::Predictor => {
            let z = all(|s| &s.measurements);
            DVector::from_iterator(u.len() + z.len(), u.iter().chain(z.iter()).copied())
        }
    }
}
