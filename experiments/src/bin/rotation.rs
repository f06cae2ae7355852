//! **rotation** — the headline experiment (claim 1 of docs/design.md).
//!
//! Question: a linear Elman RNN with as many hidden units as the system has states is trained
//! in simulation mode (it sees only the inputs `u_k`) to reproduce the measurements `z_k` of a
//! linear system. Does its recurrent matrix `U` reveal the dynamics `A`?
//!
//! Expected answer: yes, up to a similarity transform: `eig(U) ≈ eig(A)` to ≤ 1e-2, for the
//! damped rotation `A = 0.95 R(0.3)` (λ = 0.95 e^{±0.3i}) and for the same rotation with a real
//! mode λ = 0.7 added; the transform `T` is found with a small residual and the held-out
//! output-error MSE equals the true system's to within 5%.

use dynrec_experiments::cli;
use dynrec_model::{Activation, Mode};
use dynrec_pipeline::spec::{network, training, white_inputs};
use dynrec_pipeline::{Budget, Prior, Spec, Targets, damped_rotation, rotation_with_real_mode};
use dynrec_truth::LinearSpec;

fn spec(name: &str, system: LinearSpec, budget: Budget) -> Spec {
    let (sequences, restarts, max_steps) = match budget {
        Budget::Smoke => (32, 2, 300),
        Budget::Full => (64, 3, 500),
    };
    let network = network(Mode::Simulation, system.order(), Activation::Linear);
    Spec {
        simulation: white_inputs(sequences, 1.0),
        training: training(restarts, max_steps, 200),
        seed: 1,
        targets: Targets {
            eigen_error: Some(1e-2),
            mse_ratio: Some(0.05),
            ..Targets::default()
        },
        ..Spec::new(name, system, network, budget)
    }
}

fn specs(budget: Budget) -> Vec<Spec> {
    let prior = Prior::Isotropic(1e-4);
    vec![
        spec(
            "damped_rotation",
            damped_rotation(0.95, 0.3, 1e-5, 2.5e-3, prior),
            budget,
        ),
        spec(
            "three_state",
            rotation_with_real_mode(0.95, 0.3, 0.7, 1e-5, 2.5e-3, prior),
            budget,
        ),
    ]
}

fn main() -> anyhow::Result<()> {
    cli::main(
        "rotation",
        "Does the recurrent matrix U of a linear simulation-mode RNN (hidden = n) reveal A?",
        specs,
    )
}
