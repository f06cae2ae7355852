//! The fused recurrence (the default, `TrainingConfig::scan = true`: recurrence, readout and
//! loss in one operation with a hand-written backward pass) in `f64`: its gradient against
//! central finite differences, and against Burn's own step-by-step graph.
//!
//! This file is its own test process, so it can fix the device's float type to `f64` once.

mod common;

use std::sync::OnceLock;

use burn::tensor::Device;
use dynrec_model::{
    Activation, Backend, Compute, Mode, Precision, RnnWeights, TrainingConfig,
    training::loss_gradient,
};

use common::{random_problem, weight_entries};

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

fn fused() -> TrainingConfig {
    TrainingConfig::default()
}

fn generic() -> TrainingConfig {
    TrainingConfig {
        scan: false,
        ..TrainingConfig::default()
    }
}

fn set_entry(w: &mut RnnWeights, i: usize, value: f64) {
    let sizes = [w.u.len(), w.w.len(), w.v.len(), w.b.len(), w.c.len()];
    let mut at = i;
    for (k, size) in sizes.into_iter().enumerate() {
        if at < size {
            let slot = match k {
                0 => &mut w.u.as_mut_slice()[at],
                1 => &mut w.w.as_mut_slice()[at],
                2 => &mut w.v.as_mut_slice()[at],
                3 => &mut w.b.as_mut_slice()[at],
                _ => &mut w.c.as_mut_slice()[at],
            };
            *slot = value;
            return;
        }
        at -= size;
    }
    panic!("no weight {i}");
}

/// For each problem size (3 sequences: the scalar loops; 10: the lane loops), the fused
/// gradient of the loss against central differences `(L(θ + h e_i) − L(θ − h e_i)) / 2h`
/// (h = 1e-6), each component within 1e-6 of itself (or of 1e-3 of the largest component, for
/// components near zero).
fn check(activation: Activation, mode: Mode, missing: f64) {
    check_with(activation, mode, missing, &fused());
}

/// [`check`] with the training configuration `config` (e.g. a horizon).
fn check_with(activation: Activation, mode: Mode, missing: f64, config: &TrainingConfig) {
    for (sequences, seed) in [(3, 7), (10, 8)] {
        let (weights, data) = random_problem(activation, mode, (sequences, 7), seed, missing);
        let (_, grad) = loss_gradient(&weights, &data, config, &device()).expect("grad");
        let analytic = weight_entries(&grad);
        let loss = |w: &RnnWeights| loss_gradient(w, &data, config, &device()).expect("loss").0;
        let theta = weight_entries(&weights);
        let h = 1e-6;
        let numeric: Vec<f64> = (0..theta.len())
            .map(|i| {
                let mut plus = weights.clone();
                set_entry(&mut plus, i, theta[i] + h);
                let mut minus = weights.clone();
                set_entry(&mut minus, i, theta[i] - h);
                (loss(&plus) - loss(&minus)) / (2.0 * h)
            })
            .collect();
        let scale = numeric.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
        for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-6 * n.abs().max(1e-3 * scale),
                "{sequences} sequences, weight {i}: fused {a:e}, finite differences {n:e}"
            );
        }
    }
}

/// Linear network, simulation mode, 20% of the targets missing (masked out of the loss): the
/// fused gradient equals central finite differences (f64, relative 1e-6).
#[test]
fn fused_linear_simulation_matches_finite_differences() {
    check(Activation::Linear, Mode::Simulation, 0.2);
}

/// tanh network, simulation mode, 20% of the targets missing: the fused gradient equals
/// central finite differences (f64, relative 1e-6).
#[test]
fn fused_tanh_simulation_matches_finite_differences() {
    check(Activation::Tanh, Mode::Simulation, 0.2);
}

/// relu network, simulation mode, 20% of the targets missing: the fused gradient equals
/// central finite differences (f64, relative 1e-6; no pre-activation sits within `h` of the
/// kink on these data).
#[test]
fn fused_relu_simulation_matches_finite_differences() {
    check(Activation::Relu, Mode::Simulation, 0.2);
}

/// Linear predictor, 30% of the measurements missing (masked out of the loss, and the
/// network's own prediction fed back in place of each missing `z_{k-1}`): the fused gradient
/// equals central finite differences (f64, relative 1e-6).
#[test]
fn fused_linear_predictor_with_feedback_matches_finite_differences() {
    check(Activation::Linear, Mode::Predictor, 0.3);
}

/// tanh predictor, 30% missing (masked targets, fed-back predictions): the fused gradient
/// equals central finite differences (f64, relative 1e-6).
#[test]
fn fused_tanh_predictor_with_feedback_matches_finite_differences() {
    check(Activation::Tanh, Mode::Predictor, 0.3);
}

/// relu predictor, 30% missing (masked targets, fed-back predictions): the fused gradient
/// equals central finite differences (f64, relative 1e-6).
#[test]
fn fused_relu_predictor_with_feedback_matches_finite_differences() {
    check(Activation::Relu, Mode::Predictor, 0.3);
}

/// In f64 the fused path and Burn's step-by-step graph compute the same loss and gradient to
/// rounding (1e-10 relative to the largest component) for every activation and mode, with
/// missing data, without biases, and with truncated BPTT (windows of 1, 3 and the full length),
/// so the fused backward pass cuts the gradient exactly where the generic unroll detaches the
/// state.
#[test]
fn fused_equals_generic_in_f64_including_truncation() {
    for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
        for (mode, missing) in [(Mode::Simulation, 0.2), (Mode::Predictor, 0.3)] {
            let (weights, data) = random_problem(activation, mode, (4, 9), 3, missing);
            for bias in [true, false] {
                // Without biases the network has b = c = 0.
                let weights = if bias {
                    weights.clone()
                } else {
                    dynrec_model::RnnWeights {
                        bias,
                        b: weights.b.map(|_| 0.0),
                        c: weights.c.map(|_| 0.0),
                        ..weights.clone()
                    }
                };
                for truncation in [None, Some(1), Some(3), Some(9)] {
                    let with = |config: TrainingConfig| TrainingConfig {
                        truncation,
                        ..config
                    };
                    let (lf, gf) =
                        loss_gradient(&weights, &data, &with(fused()), &device()).expect("f");
                    let (lg, gg) =
                        loss_gradient(&weights, &data, &with(generic()), &device()).expect("g");
                    assert!((lf - lg).abs() <= 1e-12 * lg.abs(), "loss {lf} vs {lg}");
                    let (a, b) = (weight_entries(&gf), weight_entries(&gg));
                    let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
                    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                        assert!(
                            (x - y).abs() <= 1e-10 * scale,
                            "{activation:?} {mode:?} bias {bias} {truncation:?} weight {i}: \
                             fused {x:e}, generic {y:e}"
                        );
                    }
                }
            }
        }
    }
}

fn horizon(k: usize) -> TrainingConfig {
    TrainingConfig {
        horizon: k,
        ..TrainingConfig::default()
    }
}

/// The k-step-ahead loss (horizon 3 and 6 on sequences of 7 rows, so some branches run past
/// the end), 30% of the measurements missing: its gradient (both fused recurrences, the
/// branches' gradient reaching their initial states through Burn's graph) equals central
/// finite differences (f64, relative 1e-6) for every activation.
#[test]
fn horizon_loss_matches_finite_differences() {
    for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
        for k in [3, 6] {
            check_with(activation, Mode::Predictor, 0.3, &horizon(k));
        }
    }
}

/// The k-step-ahead loss equals an independent reference built from the plain-`f64` network
/// run of `dynrec-core`: the mean, over every present `z_r` and every horizon `h = 1..K` with
/// `r ≥ h − 1`, of the squared error of `z_r`'s prediction when the rows `r − h + 1 .. r − 1`
/// are hidden (set missing, so the network runs on its own predictions from the data up to
/// row `r − h`), to 1e-12 relative; and the fused path equals Burn's step-by-step graph in
/// loss and gradient (1e-10 of the largest component), with and without a truncation window.
/// Horizon 1 is the one-step loss.
#[test]
fn horizon_loss_equals_reference_and_generic_path() {
    for activation in [Activation::Linear, Activation::Tanh] {
        let (weights, data) = random_problem(activation, Mode::Predictor, (4, 9), 5, 0.3);
        for k in [1, 2, 4, 9] {
            let (mut sum, mut count) = (0.0, 0.0);
            for seq in &data {
                let steps = seq.steps();
                for r in 0..steps {
                    for h in 1..=k {
                        if r + 1 < h {
                            continue;
                        }
                        let mut z = seq.measurements.clone();
                        for row in (r + 1 - h)..r {
                            z.column_mut(row).fill(f64::NAN);
                        }
                        let run = weights.run(&seq.inputs, &z).expect("reference run");
                        for o in 0..z.nrows() {
                            let target = seq.measurements[(o, r)];
                            if target.is_finite() {
                                sum += (run.outputs[(o, r)] - target).powi(2);
                                count += 1.0;
                            }
                        }
                    }
                }
            }
            let reference = sum / count;
            let (loss, _) = loss_gradient(&weights, &data, &horizon(k), &device()).expect("loss");
            assert!(
                (loss - reference).abs() <= 1e-12 * reference,
                "{activation:?} horizon {k}: fused {loss}, reference {reference}"
            );
            for truncation in [None, Some(3)] {
                let config = |scan| TrainingConfig {
                    scan,
                    truncation,
                    ..horizon(k)
                };
                let (lf, gf) = loss_gradient(&weights, &data, &config(true), &device()).expect("f");
                let (lg, gg) =
                    loss_gradient(&weights, &data, &config(false), &device()).expect("g");
                assert!((lf - lg).abs() <= 1e-12 * lg.abs(), "loss {lf} vs {lg}");
                let (a, b) = (weight_entries(&gf), weight_entries(&gg));
                let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
                for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-10 * scale,
                        "{activation:?} horizon {k} {truncation:?} weight {i}: fused {x:e}, \
                         generic {y:e}"
                    );
                }
            }
        }
        // A horizon needs predictor mode.
        let (weights, data) = random_problem(activation, Mode::Simulation, (2, 5), 5, 0.0);
        let error = loss_gradient(&weights, &data, &horizon(3), &device()).expect_err("refused");
        assert!(error.to_string().contains("horizon"), "{error}");
    }
}
