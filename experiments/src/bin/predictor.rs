//! **predictor** — claim 2 of docs/design.md: a predictor-mode RNN is the Kalman predictor in
//! disguise.
//!
//! Question: a linear Elman RNN fed `[u_k; z_{k-1}]` and trained to predict `z_k` (hidden = n).
//! Do its weights reveal `A`, and does it predict as well as the Kalman filter?
//!
//! Expected answer: `U ≈ T (A − K H) T⁻¹` with `K` the steady-state predictor gain, so
//! `eig(U)` matches `eig(A − K H)` (≤ 2e-2), **not** `eig(A)`; `A` is recovered as `U + W_z V`
//! (eigenvalues within 1e-2 of `eig(A)`); and the held-out one-step MSE is within 5% of the
//! Kalman filter's, the Bayes-optimal floor. The data start from the stationary prior so that
//! the time-invariant predictor is optimal from the first row on.
//!
//! The 3-state system (rotation plus a real mode λ = 0.7) is run too, with the same targets
//! except `eig(U)` vs `eig(A − K H)`, which is reported but not targeted: there the one-step loss
//! is nearly flat along the gain `K` (at the full budget a network whose held-out MSE is 0.5%
//! above the Kalman filter's has `eig(U)` 8.8e-2 from `eig(A − K H)`, 5× the Cramér–Rao σ of
//! the closed loop on this data (1.7e-2), while `U + W_z V` matches `A` to 4.5e-4; twice the
//! data did not shrink the gap), so this objective identifies the closed loop only weakly.

use dynrec_experiments::cli;
use dynrec_model::{Activation, Mode};
use dynrec_pipeline::spec::{network, training, white_inputs};
use dynrec_pipeline::{Budget, Prior, Spec, Targets, damped_rotation, rotation_with_real_mode};
use dynrec_truth::LinearSpec;

fn spec(name: &str, system: LinearSpec, budget: Budget, closed_loop: Option<f64>) -> Spec {
    let (sequences, restarts, max_steps) = match budget {
        Budget::Smoke => (64, 1, 1000),
        Budget::Full => (64, 2, 2000),
    };
    let network = network(Mode::Predictor, system.order(), Activation::Linear);
    Spec {
        simulation: white_inputs(sequences, 1.0),
        held_out: 32,
        training: training(restarts, max_steps, 200),
        seed: 2,
        targets: Targets {
            eigen_error: Some(1e-2),
            closed_loop_error: closed_loop,
            mse_ratio: Some(0.05),
            ..Targets::default()
        },
        ..Spec::new(name, system, network, budget)
    }
}

fn specs(budget: Budget) -> Vec<Spec> {
    let mut specs = vec![
        spec(
            "damped_rotation",
            damped_rotation(0.95, 0.3, 1e-2, 1e-2, Prior::Stationary),
            budget,
            Some(2e-2),
        ),
        spec(
            "three_state",
            rotation_with_real_mode(0.95, 0.3, 0.7, 1e-2, 1e-2, Prior::Stationary),
            budget,
            // Measured, not targeted: see the doc comment.
            None,
        ),
    ];
    if budget == Budget::Smoke {
        // The smoke budget reaches the targets on the headline system only.
        specs.truncate(1);
    }
    specs
}

fn main() -> anyhow::Result<()> {
    cli::main(
        "predictor",
        "Is a predictor-mode RNN the steady-state Kalman predictor: eig(U) = eig(A − K H), \
         A = U + W_z V, one-step MSE at the Kalman floor?",
        specs,
    )
}
