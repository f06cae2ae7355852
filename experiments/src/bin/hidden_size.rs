//! **hidden_size** — claim 4 of docs/design.md: more hidden units than states.
//!
//! Question: a linear simulation-mode RNN is trained on the damped rotation (n = 2) with
//! hidden = n, 2n, 3n, 4n. Do the true eigenvalues still appear among eig(U), and can a reader
//! tell the extra ones apart?
//!
//! Expected answer: the n best-matched eigenvalues of `U` agree with eig(A) to ≤ 1e-2 at every
//! size, and the extra modes barely reach the output: the mode ranking gives them together at
//! most 1% of the output energy, so the report flags them as spurious.
//!
//! What the committed run found: the true pair is recovered to ≤ 6.2e-5 at every size (the
//! Cramér–Rao σ of this data is 3.1e-5), and the extra modes together carry 7.2e-7, 3.5e-8 and
//! 3.8e-7 of the output energy at 2n, 3n and 4n. (An earlier per-mode energy share that ignored
//! the cross terms between modes missed the target at 4n: two extra modes whose contributions
//! cancel in the output were ranked dominant; a conjugate pair is now counted with its cross
//! term.)

use dynrec_experiments::cli;
use dynrec_model::{Activation, Mode};
use dynrec_pipeline::spec::{network, training, white_inputs};
use dynrec_pipeline::{Budget, Prior, Spec, Targets, damped_rotation};

fn spec(d_hidden: usize, budget: Budget) -> Spec {
    let (sequences, restarts, max_steps) = match budget {
        Budget::Smoke => (32, 1, 300),
        Budget::Full => (64, 3, 1000),
    };
    let system = damped_rotation(0.95, 0.3, 1e-5, 2.5e-3, Prior::Isotropic(1e-4));
    Spec {
        simulation: white_inputs(sequences, 1.0),
        training: training(restarts, max_steps, 200),
        seed: 3,
        targets: Targets {
            eigen_error: Some(1e-2),
            mse_ratio: Some(0.05),
            extra_mode_energy: (d_hidden > 2).then_some(1e-2),
            ..Targets::default()
        },
        ..Spec::new(
            format!("hidden_{d_hidden}"),
            system,
            network(Mode::Simulation, d_hidden, Activation::Linear),
            budget,
        )
    }
}

fn specs(budget: Budget) -> Vec<Spec> {
    let sizes: &[usize] = match budget {
        Budget::Smoke => &[4],
        Budget::Full => &[2, 4, 6, 8],
    };
    sizes.iter().map(|&h| spec(h, budget)).collect()
}

fn main() -> anyhow::Result<()> {
    cli::main(
        "hidden_size",
        "With hidden = n..4n, do the true eigenvalues appear among eig(U), and does the mode \
         ranking flag the extra ones?",
        specs,
    )
}
