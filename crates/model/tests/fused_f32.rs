//! The fused recurrence (the default, `TrainingConfig::scan = true`) in `f32`, the precision
//! training uses: its gradient against Burn's own step-by-step graph, and reproducibility.

mod common;

use burn::tensor::Device;
use dynrec_model::{
    Activation, Compute, Mode, NetworkConfig, Silent, TrainingConfig, train,
    training::loss_gradient,
};

use common::{damped_rotation, random_problem, simulated, weight_entries};

fn device() -> Device {
    Compute::default().device().expect("default device")
}

/// On 3 sequences (the fused op's scalar loops) and 12 (its lane loops) of 40 steps, the fused
/// loss equals the generic one to 1e-5 relative and the fused gradient equals the generic
/// gradient to 1e-5 relative in the max norm (`|a − b| ≤ 1e-5 ‖b‖∞` per component: f32 sums
/// leave ~10⁻⁷ of the largest term in every component, so a per-component bound would measure
/// cancellation, not agreement).
fn check(activation: Activation, mode: Mode, missing: f64) {
    for (sequences, seed) in [(3, 21), (12, 22)] {
        let (weights, data) = random_problem(activation, mode, (sequences, 40), seed, missing);
        let fused = TrainingConfig::default();
        let generic = TrainingConfig {
            scan: false,
            ..TrainingConfig::default()
        };
        let (lf, gf) = loss_gradient(&weights, &data, &fused, &device()).expect("fused");
        let (lg, gg) = loss_gradient(&weights, &data, &generic, &device()).expect("generic");
        assert!(
            (lf - lg).abs() <= 1e-5 * lg.abs(),
            "loss: fused {lf}, generic {lg}"
        );
        let (a, b) = (weight_entries(&gf), weight_entries(&gg));
        let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-5 * scale,
                "{sequences} sequences, weight {i}: fused {x:e}, generic {y:e}"
            );
        }
    }
}

/// Linear network, simulation mode, 20% of the targets missing (masked): the fused gradient
/// equals the generic path's (f32, relative 1e-5).
#[test]
fn fused_linear_simulation_matches_generic() {
    check(Activation::Linear, Mode::Simulation, 0.2);
}

/// tanh network, simulation mode, 20% of the targets missing: the fused gradient equals the
/// generic path's (f32, relative 1e-5).
#[test]
fn fused_tanh_simulation_matches_generic() {
    check(Activation::Tanh, Mode::Simulation, 0.2);
}

/// relu network, simulation mode, 20% of the targets missing: the fused gradient equals the
/// generic path's (f32, relative 1e-5).
#[test]
fn fused_relu_simulation_matches_generic() {
    check(Activation::Relu, Mode::Simulation, 0.2);
}

/// Linear predictor, 30% of the measurements missing (masked targets, predictions fed back for
/// the missing `z_{k-1}`): the fused gradient equals the generic path's (f32, relative 1e-5).
#[test]
fn fused_linear_predictor_with_feedback_matches_generic() {
    check(Activation::Linear, Mode::Predictor, 0.3);
}

/// tanh predictor, 30% missing (masked targets, fed-back predictions): the fused gradient
/// equals the generic path's (f32, relative 1e-5).
#[test]
fn fused_tanh_predictor_with_feedback_matches_generic() {
    check(Activation::Tanh, Mode::Predictor, 0.3);
}

/// relu predictor, 30% missing (masked targets, fed-back predictions): the fused gradient
/// equals the generic path's (f32, relative 1e-5).
#[test]
fn fused_relu_predictor_with_feedback_matches_generic() {
    check(Activation::Relu, Mode::Predictor, 0.3);
}

/// Training through the fused operation is deterministic: a tanh predictor on data with 10%
/// of the measurements missing, minibatches on both sides of the fused loops' scalar/lane
/// switch (10 and 1 sequences), truncated BPTT and the L-BFGS polish, run twice with the same
/// seed, gives bit-identical weights and losses; another seed gives other weights.
#[test]
fn fused_training_is_deterministic() {
    let mut data = simulated(&damped_rotation(1e-4, 2.5e-3, 1e-3), 14, 60, 9);
    for (i, seq) in data.iter_mut().enumerate() {
        for k in (i % 7..seq.steps()).step_by(10) {
            seq.measurements[(0, k)] = f64::NAN;
        }
    }
    let network = NetworkConfig {
        mode: Mode::Predictor,
        d_hidden: 3,
        activation: Activation::Tanh,
        ..NetworkConfig::default()
    };
    let config = |seed| TrainingConfig {
        seed,
        restarts: 2,
        max_steps: 40,
        batch_size: 10,
        truncation: Some(25),
        lbfgs_iterations: 5,
        ..TrainingConfig::default()
    };
    let run = |seed| train(&data, &network, &config(seed), &device(), &mut Silent).expect("fit");
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a.weights(), b.weights());
    assert_eq!(a.report.train_loss, b.report.train_loss);
    assert_eq!(a.report.val_loss, b.report.val_loss);
    assert_ne!(a.weights(), c.weights());
}
