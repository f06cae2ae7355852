//! **noise_and_data** — claim 1 of docs/design.md, quantified, beside the classical baselines of
//! claim 5: how the eigenvalue error of a linear simulation-mode RNN (hidden = n) on the damped
//! rotation, and that of N4SID and of EM fitted on the same training data, depend on the
//! measurement noise and on the amount of data, over several seeds (all runs in parallel).
//!
//! Expected answer: the error grows with the noise variance R and shrinks as the number of
//! training sequences grows. What the committed run found (3 seeds, geometric means): the RNN's
//! error rises from 3.3e-5 at R = 1e-4 to 1.0e-3 at R = 1 (signal variance ~4), and falls from
//! 3.5e-4 with 4 sequences to 6.7e-5 with 64; N4SID's follows the RNN's closely (2.4e-5 to
//! 9.7e-4; 3.2e-4 to 8.7e-5), and EM's is about half the RNN's from R = 1e-2 up (4.8e-4 at
//! R = 1) and 5.4e-5 with 64 sequences. The Cramér–Rao σ of each run's data, drawn under the
//! curves, puts these in scale: the RNN sits at 0.7–1.6× it, EM at 0.45–1.16× (an estimate can
//! fall below σ on one data set; the bound holds for the variance over data sets). Every run of
//! every method stays well inside the 1e-2 tolerance.
//! The plots show the geometric mean over seeds with min–max bars, one line per method.

use dynrec_experiments::sweep::{self, Method, Series, SweepSpec};
use dynrec_model::{Activation, Mode};
use dynrec_pipeline::spec::{network, training, white_inputs};
use dynrec_pipeline::{Budget, Prior, Spec, damped_rotation};

fn spec(name: String, r: f64, sequences: usize, seed: u64, budget: Budget) -> Spec {
    let max_steps = match budget {
        Budget::Smoke => 300,
        Budget::Full => 500,
    };
    Spec {
        simulation: white_inputs(sequences, 1.0),
        held_out: 8,
        training: training(1, max_steps, 200),
        seed,
        ..Spec::new(
            name,
            damped_rotation(0.95, 0.3, 1e-5, r, Prior::Isotropic(1e-4)),
            network(Mode::Simulation, 2, Activation::Linear),
            budget,
        )
    }
}

const Y_LABEL: &str = "max |λ_true − λ_est|";

/// The RNN, N4SID and EM, and under them the limit: the Cramér–Rao standard deviation of the
/// eigenvalues on each run's data (the largest over the eigenvalues, the statistic the errors
/// take their maximum of; docs/design.md#the-limit).
fn methods() -> Vec<Method> {
    let mut methods = Method::eigen_errors();
    methods.push(Method::new("Cramér–Rao σ", |o| o.crb_max_std));
    methods
}

fn sweep(budget: Budget) -> SweepSpec {
    let (noises, sizes, seeds): (&[f64], &[usize], u64) = match budget {
        Budget::Smoke => (&[1e-4, 1e-1], &[16], 1),
        Budget::Full => (&[1e-4, 1e-3, 1e-2, 1e-1, 1.0], &[4, 8, 16, 32, 64], 3),
    };
    let noise = Series {
        label: "eigen error vs measurement noise (32 sequences × 200)".to_string(),
        x_label: "R, measurement noise variance".to_string(),
        y_label: Y_LABEL.to_string(),
        log_y: true,
        methods: methods(),
        points: noises
            .iter()
            .map(|&r| {
                let specs = (0..seeds)
                    .map(|s| spec(format!("noise_{r:e}_seed_{s}"), r, 32, 10 + s, budget))
                    .collect();
                (r, specs)
            })
            .collect(),
    };
    let data = Series {
        label: "eigen error vs number of sequences (R = 1e-2)".to_string(),
        x_label: "training sequences (× 200 rows)".to_string(),
        y_label: Y_LABEL.to_string(),
        log_y: true,
        methods: methods(),
        points: sizes
            .iter()
            .map(|&k| {
                let specs = (0..seeds)
                    .map(|s| spec(format!("data_{k}_seed_{s}"), 1e-2, k, 20 + s, budget))
                    .collect();
                (k as f64, specs)
            })
            .collect(),
    };
    SweepSpec {
        log_x: true,
        series: vec![noise, data],
    }
}

fn main() -> anyhow::Result<()> {
    sweep::main(
        "noise_and_data",
        "How does the eigenvalue error depend on measurement noise and on the amount of data?",
        sweep,
    )
}
