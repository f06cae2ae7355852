//! Burn's gradients against central finite differences, and Burn's forward pass against the
//! plain-`f64` reference [`RnnWeights::run`], on tiny networks in `f64`.
//!
//! This file is its own test process, so it can fix the device's float type to `f64` once.

use std::sync::OnceLock;

use approx::assert_relative_eq;
use burn::tensor::Device;
use dynrec_model::{
    Activation, Backend, Compute, Mode, Precision, RnnWeights, SequenceData, TrainingConfig,
    training::loss_gradient,
};
use nalgebra::{DMatrix, DVector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

fn device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            Compute::new(Backend::Flex, Precision::F64)
                .device()
                .expect("flex in f64")
        })
        .clone()
}

fn normal(rng: &mut Xoshiro256PlusPlus, rows: usize, cols: usize, std: f64) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| {
        std * rng.sample::<f64, _>(StandardNormal)
    })
}

/// Random weights with `‖U‖₂ < 1` and small random data; `missing` is the probability that a
/// measurement is NaN.
fn problem(
    activation: Activation,
    mode: Mode,
    seed: u64,
    missing: f64,
) -> (RnnWeights, Vec<SequenceData>) {
    let (m, p, n, steps, sequences) = (2, 2, 3, 7, 3);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let d_in = if mode == Mode::Predictor { m + p } else { m };
    let mut u = normal(&mut rng, n, n, 1.0);
    let norm = u.norm(); // Frobenius ≥ spectral norm
    u *= 0.8 / norm;
    let weights = RnnWeights {
        u,
        w: normal(&mut rng, n, d_in, 0.7),
        v: normal(&mut rng, p, n, 0.7),
        b: DVector::from_fn(n, |_, _| 0.3 * rng.sample::<f64, _>(StandardNormal)),
        c: DVector::from_fn(p, |_, _| 0.3 * rng.sample::<f64, _>(StandardNormal)),
        activation,
        mode,
        bias: true,
    };
    let data = (0..sequences)
        .map(|_| {
            let inputs = normal(&mut rng, m, steps, 1.0);
            let mut z = normal(&mut rng, p, steps, 1.0);
            for x in z.iter_mut() {
                if rng.random::<f64>() < missing {
                    *x = f64::NAN;
                }
            }
            SequenceData::new(inputs, z).expect("valid sequence")
        })
        .collect();
    (weights, data)
}

fn entries_mut(w: &mut RnnWeights) -> Vec<&mut f64> {
    w.u.iter_mut()
        .chain(w.w.iter_mut())
        .chain(w.v.iter_mut())
        .chain(w.b.iter_mut())
        .chain(w.c.iter_mut())
        .collect()
}

fn entries(w: &RnnWeights) -> Vec<f64> {
    w.u.iter()
        .chain(w.w.iter())
        .chain(w.v.iter())
        .chain(w.b.iter())
        .chain(w.c.iter())
        .copied()
        .collect()
}

/// Central differences `(L(θ + h e_i) − L(θ − h e_i)) / 2h` of the loss for every weight.
fn finite_differences(
    weights: &RnnWeights,
    data: &[SequenceData],
    config: &TrainingConfig,
) -> Vec<f64> {
    let h = 1e-6;
    let count = entries(weights).len();
    (0..count)
        .map(|i| {
            let mut plus = weights.clone();
            *entries_mut(&mut plus)[i] += h;
            let mut minus = weights.clone();
            *entries_mut(&mut minus)[i] -= h;
            let lp = loss_gradient(&plus, data, config, &device())
                .expect("loss")
                .0;
            let lm = loss_gradient(&minus, data, config, &device())
                .expect("loss")
                .0;
            (lp - lm) / (2.0 * h)
        })
        .collect()
}

fn check_gradient(activation: Activation, mode: Mode, missing: f64, scan: bool) {
    let (weights, data) = problem(activation, mode, 7, missing);
    let config = TrainingConfig {
        scan,
        ..TrainingConfig::default()
    };
    let (_, grad) = loss_gradient(&weights, &data, &config, &device()).expect("gradient");
    let analytic = entries(&grad);
    let numeric = finite_differences(&weights, &data, &config);
    let scale = numeric.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
    for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
        assert!(
            (a - n).abs() <= 1e-7 * scale,
            "weight {i}: autodiff {a:e}, finite differences {n:e}"
        );
    }
}

/// Linear simulation network, `scan: true` (now the fused recurrence, which replaced the
/// parallel scan): ∂L/∂θ from Burn's autodiff equals the
/// central finite difference of L for every weight (to 1e-7 of the largest component).
#[test]
fn gradient_linear_scan_matches_finite_differences() {
    check_gradient(Activation::Linear, Mode::Simulation, 0.0, true);
}

/// Linear simulation network, step-by-step unrolling: the same agreement as with `scan: true`.
#[test]
fn gradient_linear_sequential_matches_finite_differences() {
    check_gradient(Activation::Linear, Mode::Simulation, 0.0, false);
}

/// tanh simulation network: autodiff gradient equals central finite differences.
#[test]
fn gradient_tanh_matches_finite_differences() {
    check_gradient(Activation::Tanh, Mode::Simulation, 0.0, true);
}

/// Predictor network with 30% missing measurements (missing targets masked, missing `z_{k-1}`
/// replaced by the network's prediction): autodiff gradient equals finite differences.
#[test]
fn gradient_predictor_with_missing_data_matches_finite_differences() {
    check_gradient(Activation::Linear, Mode::Predictor, 0.3, true);
    check_gradient(Activation::Tanh, Mode::Predictor, 0.3, true);
}

/// The loss computed by Burn equals the mean squared error over the present measurements of
/// the outputs of the independent `f64` reference `RnnWeights::run`, for every activation,
/// both modes and both unrollings.
#[test]
fn loss_matches_plain_reference() {
    for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
        for (mode, missing) in [(Mode::Simulation, 0.2), (Mode::Predictor, 0.3)] {
            let (weights, data) = problem(activation, mode, 11, missing);
            let (mut sum, mut count) = (0.0, 0.0);
            for seq in &data {
                let run = weights
                    .run(&seq.inputs, &seq.measurements)
                    .expect("reference run");
                for (y, z) in run.outputs.iter().zip(seq.measurements.iter()) {
                    if z.is_finite() {
                        sum += (y - z).powi(2);
                        count += 1.0;
                    }
                }
            }
            for scan in [true, false] {
                let config = TrainingConfig {
                    scan,
                    ..TrainingConfig::default()
                };
                let (loss, _) = loss_gradient(&weights, &data, &config, &device()).expect("loss");
                assert_relative_eq!(loss, sum / count, max_relative = 1e-12);
            }
        }
    }
}

/// Truncated BPTT: a window at least as long as the sequences gives the full gradient; a window
/// of one step stops every gradient at the previous hidden state, so for a linear network
/// `∂L/∂U = Σ_k δ_k h_{k-1}ᵀ` with `δ_k = Vᵀ ∂L/∂y_k` alone — computed here by hand from the
/// reference run.
#[test]
fn truncated_gradient_matches_its_definition() {
    let (weights, data) = problem(Activation::Linear, Mode::Simulation, 5, 0.2);
    let full = TrainingConfig {
        scan: false,
        ..TrainingConfig::default()
    };
    let long = TrainingConfig {
        truncation: Some(7),
        ..full.clone()
    };
    let one = TrainingConfig {
        truncation: Some(1),
        ..full.clone()
    };
    let (_, g_full) = loss_gradient(&weights, &data, &full, &device()).expect("full");
    let (_, g_long) = loss_gradient(&weights, &data, &long, &device()).expect("long");
    for (a, b) in entries(&g_full).iter().zip(entries(&g_long).iter()) {
        assert_relative_eq!(*a, *b, max_relative = 1e-12, epsilon = 1e-15);
    }
    let count = data
        .iter()
        .flat_map(|s| s.measurements.iter())
        .filter(|z| z.is_finite())
        .count();
    let mut expected = DMatrix::zeros(3, 3);
    for seq in &data {
        let run = weights.run(&seq.inputs, &seq.measurements).expect("run");
        for k in 1..seq.steps() {
            let mut dy = DVector::zeros(2);
            for j in 0..2 {
                let z = seq.measurements[(j, k)];
                if z.is_finite() {
                    dy[j] = 2.0 * (run.outputs[(j, k)] - z) / count as f64;
                }
            }
            let delta = weights.v.transpose() * dy;
            expected += delta * run.hidden.column(k - 1).transpose();
        }
    }
    let (_, g_one) = loss_gradient(&weights, &data, &one, &device()).expect("one");
    for (a, b) in g_one.u.iter().zip(expected.iter()) {
        assert_relative_eq!(*a, *b, max_relative = 1e-10, epsilon = 1e-14);
    }
    assert!((&g_one.u - &g_full.u).norm() > 1e-3 * g_full.u.norm());
}
