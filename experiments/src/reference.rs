//! The references a trained network is measured against, on held-out data: the Kalman filter's
//! one-step prediction (the Bayes-optimal floor for a predictor) and the true system's own
//! output-error prediction (the floor for a network that sees only the inputs).

use anyhow::{Context, Result};
use dynrec_model::{Activation, Mode, RnnWeights, SequenceData};
use dynrec_truth::{LinearSystem, Sequence, filter};
use nalgebra::{DMatrix, DVector};

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

/// One-step predictions `H x̂_{k|k-1}` of the Kalman filter, `[p, T]`.
pub fn kalman_predictions(system: &LinearSystem, seq: &Sequence) -> Result<DMatrix<f64>> {
    let out = filter(system, seq).context("Kalman filter on a held-out sequence")?;
    Ok(system.h() * out.predicted_means)
}

/// The true system as a linear simulation-mode network, `U = A`, `W = B`, `V = H`: its output
/// is the best prediction of `z_k` from the inputs alone (the state's prior mean is zero).
pub fn truth_as_network(system: &LinearSystem) -> Option<RnnWeights> {
    let b = system.b()?;
    Some(RnnWeights {
        u: system.a().clone(),
        w: b.clone(),
        v: system.h().clone(),
        b: DVector::zeros(system.n_states()),
        c: DVector::zeros(system.n_outputs()),
        activation: Activation::Linear,
        mode: Mode::Simulation,
    })
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
