//! **pendulum** — a nonlinear system read through its linearisation (issue 7).
//!
//! Question: a damped pendulum (g = 9.81, L = 1, m = 1, c = 0.5, RK4 at dt = 0.05) is driven by
//! a white torque and seen through its angle. A linear and a tanh Elman RNN (hidden = 2, the
//! pendulum's order) are trained in simulation mode on its input–output data, at a small swing
//! (torque std 1: θ rms ≈ 0.07 rad, where sin θ ≈ θ) and at a large one (torque std 6: θ rms ≈
//! 0.4 rad, peaks ≈ 1.9 rad; at std 7 one held-out sequence went over the top, a regime the
//! training data never showed, and its error swamped the comparison). Does the recovered dynamics (linear: `U`; tanh:
//! the Jacobian at its fixed point) match the pendulum's linearisation at the bottom
//! equilibrium, `exp(λ dt)` with `λ = −c/2 ± i √(g/L − c²/4)`, i.e. `|z| = 0.9876`,
//! `arg z = ±0.156`?
//!
//! Expected answer: at the small swing both networks recover the linearisation (target 1e-2).
//! At the large swing the data are no longer linear: a linear network can only fit an average
//! linear model (a softening spring swings slower, so its frequency drops), and whether a
//! 2-unit tanh network keeps the bottom linearisation at its fixed point is what the run
//! measures; no target. Noise is scaled with the torque² so the signal-to-noise ratio is the
//! same at both swings.
//!
//! What the committed run found: small swing, linear 7.5e-5 and tanh 9.7e-4. Large swing: the
//! linear network (6.3e-3), N4SID (6.7e-3) and EM (6.8e-3) all settle on the same best linear
//! fit, away from the bottom linearisation; the tanh network's Jacobian stays closer (1.4e-3)
//! and its held-out output-error MSE is 5.9× lower than the linear network's, though still 3.4×
//! the noise-free pendulum's (a 2-unit tanh cell is not a pendulum).

use dynrec_experiments::cli;
use dynrec_model::{Activation, Mode};
use dynrec_pipeline::spec::{network, training, white_inputs};
use dynrec_pipeline::{Budget, Spec, Targets};
use dynrec_truth::NamedSystem;
use dynrec_truth::spec::{Covariance, PendulumSpec};

/// The pendulum with noise and prior scaled by `scale` (the torque variance).
fn pendulum(scale: f64) -> NamedSystem {
    NamedSystem::Pendulum(PendulumSpec {
        gravity: 9.81,
        length: 1.0,
        mass: 1.0,
        damping: 0.5,
        dt: 0.05,
        substeps: 1,
        h: None,
        q: Covariance::Matrix(vec![vec![1e-8 * scale, 0.0], vec![0.0, 1e-5 * scale]]),
        r: Covariance::Scalar(1e-5 * scale),
        x0: None,
        p0: Some(vec![vec![1e-6 * scale, 0.0], vec![0.0, 1e-6 * scale]]),
    })
}

fn spec(swing: &str, torque: f64, activation: Activation, target: bool, budget: Budget) -> Spec {
    let (sequences, restarts, max_steps) = match budget {
        Budget::Smoke => (32, 1, 400),
        Budget::Full => (64, 3, 1500),
    };
    let act = match activation {
        Activation::Linear => "linear",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    };
    Spec {
        equilibrium: Some("bottom".to_string()),
        simulation: white_inputs(sequences, torque),
        training: training(restarts, max_steps, 200),
        seed: 7,
        targets: Targets {
            eigen_error: target.then_some(1e-2),
            ..Targets::default()
        },
        ..Spec::new(
            format!("{swing}_{act}"),
            pendulum(torque * torque),
            network(Mode::Simulation, 2, activation),
            budget,
        )
    }
}

fn specs(budget: Budget) -> Vec<Spec> {
    let activations = [Activation::Linear, Activation::Tanh];
    match budget {
        Budget::Smoke => vec![spec("small", 1.0, Activation::Linear, true, budget)],
        Budget::Full => activations
            .iter()
            .map(|&a| spec("small", 1.0, a, true, budget))
            .chain(
                activations
                    .iter()
                    .map(|&a| spec("large", 6.0, a, false, budget)),
            )
            .collect(),
    }
}

fn main() -> anyhow::Result<()> {
    cli::main(
        "pendulum",
        "Does an RNN trained on a pendulum reveal its linearisation at the bottom, at small and \
         large swing?",
        specs,
    )
}
