//! **lorenz** — what an RNN's fixed points say about a chaotic system (issue 7).
//!
//! Question: the Lorenz system (σ = 10, ρ = 28, β = 8/3, RK4 at dt = 0.01, all three states
//! measured with noise) has three equilibria, all unstable: the origin (a saddle) and
//! C± = (±√(β(ρ−1)), ±√(β(ρ−1)), ρ − 1) (unstable foci the attractor winds around). A linear
//! (hidden = 3) and a tanh (hidden = 8, three seeds) Elman RNN are trained in predictor mode (fed the previous
//! measurement) on trajectories on the attractor. Fed back its own predictions, each network is
//! an autonomous map; where are its fixed points, are they stable, and does the Jacobian at one
//! of them match the discrete-time linearisation of the nearest Lorenz equilibrium?
//!
//! What to expect, honestly: a one-step predictor at dt = 0.01 is close to the identity map, and
//! the training data never dwell near the equilibria (they are unstable), so nothing forces the
//! closed loop's fixed points to sit at the equilibria or to copy their Jacobians. The runner's
//! own comparison uses C+; the appendix of the README matches every fixed point found to the
//! nearest equilibrium in measurement space (H = I) and compares eigenvalues there. No targets:
//! the run measures and reports.
//!
//! What the committed run found: the linear network has one stable fixed point, at the data
//! mean. Each of the three tanh networks has exactly three fixed points, all unstable, one near
//! each equilibrium (0.6–4.9 away in a state space ±20 wide), with spectral radii 1.005–1.014
//! near C± (true: 1.0009) and 1.07–1.12 near the origin (true: 1.126): the networks learned the
//! attractor's skeleton. Their Jacobians match the local linearisations only loosely (eigen
//! errors from 1e-2 to 1.5e-1), so the weights locate the equilibria and their instability, not
//! their exact local dynamics.

use std::path::Path;

use anyhow::{Context, Result};
use dynrec_analysis::dynamics::{FixedPointOptions, find_fixed_points};
use dynrec_analysis::{eigenvalues, match_eigenvalues};
use dynrec_experiments::cli::{self, Summary};
use dynrec_model::{Activation, Mode};
use dynrec_pipeline::spec::{network, training};
use dynrec_pipeline::{Budget, Spec};
use dynrec_truth::spec::{Covariance, LorenzSpec};
use dynrec_truth::{InputSignal, NamedSystem, SimulationConfig};
use nalgebra::DVector;

/// The Lorenz system seen through all three states, with initial states spread around the
/// attractor.
fn lorenz() -> NamedSystem {
    NamedSystem::Lorenz(LorenzSpec {
        sigma: 10.0,
        rho: 28.0,
        beta: 8.0 / 3.0,
        dt: 0.01,
        substeps: 1,
        h: Some(vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.0, 0.0, 1.0],
        ]),
        q: Covariance::Scalar(1e-3),
        r: Covariance::Scalar(1e-1),
        x0: Some(vec![1.0, 1.0, 25.0]),
        p0: Some(vec![
            vec![25.0, 0.0, 0.0],
            vec![0.0, 25.0, 0.0],
            vec![0.0, 0.0, 25.0],
        ]),
    })
}

fn spec(activation: Activation, d_hidden: usize, seed: u64, budget: Budget) -> Spec {
    let (sequences, steps, restarts, max_steps) = match (budget, activation) {
        (Budget::Smoke, _) => (8, 200, 1, 100),
        (Budget::Full, Activation::Linear) => (32, 400, 3, 1000),
        (Budget::Full, _) => (32, 400, 2, 1000),
    };
    let act = match activation {
        Activation::Linear => "linear",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    };
    let lbfgs = if budget == Budget::Smoke { 0 } else { 200 };
    Spec {
        equilibrium: Some("C+".to_string()),
        simulation: SimulationConfig {
            sequences,
            steps,
            input: InputSignal::Zero,
            ..SimulationConfig::default()
        },
        held_out: 8,
        training: training(restarts, max_steps, lbfgs),
        seed,
        ..Spec::new(
            format!("{act}_{d_hidden}_seed_{seed}"),
            lorenz(),
            network(Mode::Predictor, d_hidden, activation),
            budget,
        )
    }
}

fn specs(budget: Budget) -> Vec<Spec> {
    match budget {
        Budget::Smoke => vec![spec(Activation::Tanh, 8, 11, budget)],
        // Three seeds of the tanh network: is the fixed-point structure reproducible?
        Budget::Full => std::iter::once(spec(Activation::Linear, 3, 11, budget))
            .chain((11..14).map(|seed| spec(Activation::Tanh, 8, seed, budget)))
            .collect(),
    }
}

fn vector(v: &DVector<f64>) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
    format!("({})", parts.join(", "))
}

/// The closed-loop fixed points of every trained network, each matched to the nearest Lorenz
/// equilibrium (in measurement space) and compared with its linearisation.
fn fixed_points(summary: &Summary, _out: &Path) -> Result<String> {
    let system = lorenz().build()?;
    let zero = DVector::zeros(system.n_inputs());
    let equilibria: Vec<_> = system
        .equilibria()
        .into_iter()
        .map(|e| {
            let jacobian = system.transition_jacobian(&e.state, &zero);
            eigenvalues(&jacobian).map(|eig| (e, eig))
        })
        .collect::<std::result::Result<_, _>>()?;
    let mut md = String::from(
        "## Closed-loop fixed points against the Lorenz equilibria\n\n\
         Each network fed back its own prediction (`z_{k-1} ← y_{k-1}`) is the autonomous map \
         `h ← act((U + W_z V) h + W_z c + b)`. Its fixed points `h*` (Levenberg–Marquardt from \
         64 seeded starts) are placed in measurement space by `y* = V h* + c` and matched to the \
         nearest equilibrium; the eigen error compares the Jacobian there with the \
         equilibrium's discrete-time linearisation (bottleneck matching; extra network modes \
         left unmatched).\n\nEquilibria: ",
    );
    let listed: Vec<String> = equilibria
        .iter()
        .map(|(e, eig)| {
            let radius = eig.iter().map(|z| z.norm()).fold(0.0, f64::max);
            format!(
                "{} at {} (spectral radius {radius:.4})",
                e.name,
                vector(&e.state)
            )
        })
        .collect();
    md += &listed.join("; ");
    md += ".\n\n| run | fixed point y* | stable | spectral radius | nearest equilibrium | distance | eigen error there |\n|---|---|---|---|---|---|---|\n";
    for o in &summary.outcomes {
        let w = o
            .weights
            .as_ref()
            .with_context(|| format!("{}: no weights in the outcome", o.name))?;
        let w_z = w
            .w_measurements()
            .with_context(|| format!("{}: not a predictor network", o.name))?;
        let closed = &w.u + &w_z * &w.v;
        let drive = &w_z * &w.c + &w.b;
        let options = FixedPointOptions {
            starts: 64,
            ..FixedPointOptions::default()
        };
        let search = find_fixed_points(&closed, &drive, w.activation, &options)?;
        if search.points.is_empty() {
            md += &format!("| {} | none found | | | | | |\n", o.name);
        }
        for p in &search.points {
            let y = &w.v * &p.h + &w.c;
            let (eq, eig) = equilibria
                .iter()
                .min_by(|a, b| {
                    (&y - &a.0.state)
                        .norm()
                        .total_cmp(&(&y - &b.0.state).norm())
                })
                .context("the Lorenz system lists no equilibria")?;
            let matching = match_eigenvalues(eig, &p.eigenvalues);
            md += &format!(
                "| {} | {} | {} | {:.4} | {} | {:.2} | {:.2e} |\n",
                o.name,
                vector(&y),
                if p.stable { "yes" } else { "no" },
                p.spectral_radius,
                eq.name,
                (&y - &eq.state).norm(),
                matching.max_distance
            );
        }
    }
    Ok(md)
}

fn main() -> Result<()> {
    cli::Experiment::new(
        "lorenz",
        "What do an RNN's fixed points say about a chaotic system with several unstable \
         equilibria?",
        specs,
    )
    .with_appendix(fixed_points)
    .main()
}
