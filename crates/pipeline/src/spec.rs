//! What an experiment run is: a serde spec that fixes the system, the data, the network, the
//! training and the seed, so that a report's `spec` alone reproduces it.

use anyhow::{Context, Result};
use dynrec_analysis::AnalysisConfig;
use dynrec_model::{Activation, Compute, Mode, NetworkConfig, TrainingConfig};
use dynrec_sysid::EmConfig;
use dynrec_truth::{
    Covariance, DerivedPrior, Dynamics, InputSignal, LinearSpec, NamedSystem, PriorCovariance,
    SimulationConfig,
};
use serde::{Deserialize, Serialize};

/// How much compute an experiment may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    /// A few seconds: what the smoke tests run.
    Smoke,
    /// The budget the committed results in `results/` were produced with.
    Full,
}

/// The system an experiment simulates.
///
/// In JSON: the content of a system file (field `kind`: `"linear"`, `"pendulum"`, …, with its
/// parameters; see `docs/formats.md`) or `{"custom": "<description>"}` for a system defined
/// in code by the experiment binary (see `docs/extending.md`; the binary and the commit in the
/// report then say how it was built).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SystemChoice {
    /// A system file's content, chosen by `kind`.
    Named(NamedSystem),
    /// A system defined in an experiment binary's code.
    Custom {
        /// What the system is ([`Dynamics::describe`]).
        custom: String,
    },
}

impl From<LinearSpec> for SystemChoice {
    fn from(spec: LinearSpec) -> Self {
        Self::Named(NamedSystem::Linear(spec))
    }
}

impl From<NamedSystem> for SystemChoice {
    fn from(spec: NamedSystem) -> Self {
        Self::Named(spec)
    }
}

impl SystemChoice {
    /// The validated system. A [`SystemChoice::Custom`] system is built by its binary, not
    /// here: asking is an error.
    pub fn build(&self) -> Result<Box<dyn Dynamics>> {
        match self {
            Self::Named(spec) => spec
                .build()
                .with_context(|| format!("invalid {} system in the experiment spec", spec.kind())),
            Self::Custom { custom } => anyhow::bail!(
                "the system \"{custom}\" is defined in code: run it through \
                 `run_spec_on` (or the experiments' `cli::main_with`) with the system built by \
                 its binary"
            ),
        }
    }
}

/// Which classical identification methods run beside the RNN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Baselines {
    /// None.
    None,
    /// Subspace identification only.
    N4sid,
    /// EM only (still initialised from N4SID, which is then not reported).
    Em,
    /// N4SID and EM (the default).
    #[default]
    All,
}

impl Baselines {
    /// Whether N4SID's estimate is reported.
    pub fn n4sid(self) -> bool {
        matches!(self, Self::N4sid | Self::All)
    }

    /// Whether EM runs.
    pub fn em(self) -> bool {
        matches!(self, Self::Em | Self::All)
    }
}

/// The classical baselines of a run, fitted on its training data: N4SID, then EM initialised
/// from N4SID. The model order is the true one when the system is known, otherwise N4SID's
/// singular-value gap picks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineSpec {
    /// Which methods run (default all).
    pub methods: Baselines,
    /// Block rows of N4SID's Hankel matrices (default 10).
    pub block_rows: usize,
    /// EM's iteration budget, tolerance and whether it learns the prior (default: 200
    /// iterations, relative tolerance 1e-8, prior learned).
    pub em: EmConfig,
    /// Subtract the training data's per-channel means of `u` and `z` before fitting (default
    /// true): N4SID and EM have no offset term, and without this a system whose outputs do
    /// not average to zero (the Lorenz system, z ≈ 24) spends a state on the offset.
    pub remove_means: bool,
}

impl Default for BaselineSpec {
    fn default() -> Self {
        Self {
            methods: Baselines::All,
            block_rows: 10,
            em: EmConfig::default(),
            remove_means: true,
        }
    }
}

impl BaselineSpec {
    /// Every baseline, with EM's budget cut to 20 iterations (tolerance 1e-6) under
    /// [`Budget::Smoke`].
    pub fn for_budget(budget: Budget) -> Self {
        match budget {
            Budget::Smoke => Self {
                em: EmConfig {
                    max_iterations: 20,
                    tolerance: 1e-6,
                    ..EmConfig::default()
                },
                ..Self::default()
            },
            Budget::Full => Self::default(),
        }
    }
}

/// Numbers a run must reach; each is checked and printed, and the smoke tests assert them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// Largest eigen error of the recovered dynamics against `A` (simulation: `U`;
    /// predictor: `U + W_z V`; nonlinear: the fixed-point Jacobian).
    pub eigen_error: Option<f64>,
    /// Largest eigen error of `U` against `A − K H` (predictor mode).
    pub closed_loop_error: Option<f64>,
    /// Largest `|MSE_rnn / MSE_floor − 1|` on held-out data, where the floor is the Kalman
    /// predictor's (predictor mode) or the true system's output-error prediction (simulation).
    pub mse_ratio: Option<f64>,
    /// Largest share of the output energy carried by the learned modes that match no true
    /// eigenvalue (hidden size above the true order).
    #[serde(default)]
    pub extra_mode_energy: Option<f64>,
}

/// One run: system → simulate → Kalman reference → train → analyse → report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// Name of the run; its report goes to `<out>/<name>/`.
    pub name: String,
    /// The system that generates the data.
    pub system: SystemChoice,
    /// For a nonlinear system, the name of the equilibrium whose linearisation is the `A` the
    /// network is compared with (`None`: the system's first equilibrium). Ignored for linear
    /// systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equilibrium: Option<String>,
    /// The training data (its `seed` is overwritten by [`Spec::seed`]).
    pub simulation: SimulationConfig,
    /// Sequences simulated independently (seed `seed + 1`) for the held-out comparison with
    /// the Kalman filter.
    pub held_out: usize,
    /// The network.
    pub network: NetworkConfig,
    /// The training (its `seed` is overwritten by [`Spec::seed`]).
    pub training: TrainingConfig,
    /// Backend and precision.
    pub compute: Compute,
    /// Analysis settings (tolerance of the verdict).
    pub analysis: AnalysisConfig,
    /// The one seed: data `seed`, held-out data `seed + 1`, training `seed`.
    pub seed: u64,
    /// The budget this spec was built for.
    pub budget: Budget,
    /// What the run must reach.
    pub targets: Targets,
    /// Classical identification beside the RNN (absent in older specs: all methods, default
    /// settings).
    #[serde(default)]
    pub baselines: BaselineSpec,
}

/// A network of `d_hidden` units with the given mode and activation (other settings default).
pub fn network(mode: Mode, d_hidden: usize, activation: Activation) -> NetworkConfig {
    NetworkConfig {
        mode,
        d_hidden,
        activation,
        ..NetworkConfig::default()
    }
}

/// `sequences` sequences of 200 rows, every input channel white noise of standard deviation
/// `std` (no missing measurements; the seed is set by [`Spec::seeded`]).
pub fn white_inputs(sequences: usize, std: f64) -> SimulationConfig {
    SimulationConfig {
        sequences,
        steps: 200,
        input: InputSignal::White { std },
        ..SimulationConfig::default()
    }
}

/// Training with `restarts` restarts of at most `max_steps` Adam steps each, then
/// `lbfgs_iterations` of L-BFGS (other settings default).
pub fn training(restarts: usize, max_steps: usize, lbfgs_iterations: usize) -> TrainingConfig {
    TrainingConfig {
        restarts,
        max_steps,
        lbfgs_iterations,
        ..TrainingConfig::default()
    }
}

impl Spec {
    /// A run with the usual settings, for an experiment to adjust with struct update syntax
    /// (`Spec { seed: 3, ..Spec::new(..) }`): 64 training sequences of 200 rows driven by unit
    /// white noise, 16 held-out sequences, default training, compute and analysis, the
    /// classical baselines of the budget, no targets, seed 0, the first equilibrium of a
    /// nonlinear system.
    pub fn new(
        name: impl Into<String>,
        system: impl Into<SystemChoice>,
        network: NetworkConfig,
        budget: Budget,
    ) -> Self {
        Self {
            name: name.into(),
            system: system.into(),
            equilibrium: None,
            simulation: white_inputs(64, 1.0),
            held_out: 16,
            network,
            training: TrainingConfig::default(),
            compute: Compute::default(),
            analysis: AnalysisConfig::default(),
            seed: 0,
            budget,
            targets: Targets::default(),
            baselines: BaselineSpec::for_budget(budget),
        }
    }

    /// How the network is fitted and judged.
    pub fn settings(&self) -> crate::run::FitSettings<'_> {
        crate::run::FitSettings {
            network: &self.network,
            training: &self.training,
            compute: self.compute,
            analysis: self.analysis,
            baselines: &self.baselines,
            targets: self.targets,
        }
    }

    /// The spec with every seed derived from [`Spec::seed`].
    pub fn seeded(mut self) -> Self {
        self.simulation.seed = self.seed;
        self.training.seed = self.seed;
        self
    }
}

/// The damped rotation `A = ρ [[cos θ, −sin θ], [sin θ, cos θ]]` (eigenvalues `ρ e^{±iθ}`) with
/// `B = [1, 0.5]ᵀ`, `H = [1, 0]`, `Q = q I`, `R = r I`, `x0 = 0` and prior covariance `p0`.
pub fn damped_rotation(rho: f64, theta: f64, q: f64, r: f64, p0: Prior) -> LinearSpec {
    let (c, s) = (rho * theta.cos(), rho * theta.sin());
    linear(
        vec![vec![c, -s], vec![s, c]],
        vec![vec![1.0], vec![0.5]],
        vec![vec![1.0, 0.0]],
        (q, r, p0),
    )
}

/// The damped rotation with a third, real mode `λ = real` added: `A = diag(rotation, real)`,
/// `B = [1, 0.5, 1]ᵀ`, `H = [1, 0, 1]` (every mode is excited and seen).
pub fn rotation_with_real_mode(
    rho: f64,
    theta: f64,
    real: f64,
    q: f64,
    r: f64,
    p0: Prior,
) -> LinearSpec {
    let (c, s) = (rho * theta.cos(), rho * theta.sin());
    linear(
        vec![vec![c, -s, 0.0], vec![s, c, 0.0], vec![0.0, 0.0, real]],
        vec![vec![1.0], vec![0.5], vec![1.0]],
        vec![vec![1.0, 0.0, 1.0]],
        (q, r, p0),
    )
}

/// The prior covariance of a linear system in an experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prior {
    /// `P0 = p0 I`.
    Isotropic(f64),
    /// The steady-state predicted covariance (the DARE solution).
    Stationary,
}

impl From<Prior> for PriorCovariance {
    fn from(p: Prior) -> Self {
        match p {
            Prior::Isotropic(p0) => Self::Given(Covariance::Scalar(p0)),
            Prior::Stationary => Self::Derived(DerivedPrior::Stationary),
        }
    }
}

fn linear(
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    h: Vec<Vec<f64>>,
    (q, r, p0): (f64, f64, Prior),
) -> LinearSpec {
    LinearSpec {
        a,
        b: Some(b),
        h,
        q: Covariance::Scalar(q),
        r: Covariance::Scalar(r),
        x0: None,
        p0: Some(p0.into()),
    }
}
