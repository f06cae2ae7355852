//! `dynrec fit`: the experiments' runner on a user's own data file (no simulation).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use dynrec_analysis::{AnalysisConfig, DominantModes};
use dynrec_model::{
    Activation, Compute, Mode, NetworkConfig, SequenceData, Silent, TrainingConfig, train,
};
use dynrec_pipeline::run::check_trainable;
use dynrec_pipeline::{
    BaselineSpec, Baselines, FitData, FitSettings, ReportFolder, SpecRecord, Targets, Truth,
    fit_and_report,
};
use dynrec_sysid::EmConfig;
use dynrec_truth::{Dataset, NamedSystem};
use serde::Serialize;

/// Arguments of `dynrec fit`.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// The data file (CSV: [seq,][t,]u1..,z1..[,x1..]).
    #[arg(long)]
    data: PathBuf,
    /// Folder of the report (report.json, report.md, plots).
    #[arg(long)]
    out: PathBuf,
    /// The true system (TOML, any `kind`), when known: the learned dynamics are compared with
    /// it (a nonlinear system: with its linearisation at `--equilibrium`) and the RNN with its
    /// Kalman filter (nonlinear: the extended Kalman filter).
    #[arg(long)]
    system: Option<PathBuf>,
    /// With a nonlinear `--system`: the equilibrium whose linearisation is compared (default:
    /// the system's first, e.g. `bottom` for the pendulum).
    #[arg(long, requires = "system")]
    equilibrium: Option<String>,
    /// Hidden size, or `auto`: the smallest in 1..=6 whose validation loss is within 1% of the
    /// best.
    #[arg(long, default_value = "auto")]
    hidden: Hidden,
    /// simulation (fed u only) or predictor (fed u and the previous z). Default: simulation
    /// when the data has u columns, predictor otherwise.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// The cell's nonlinearity.
    #[arg(long, value_enum, default_value_t = ActivationArg::Linear)]
    activation: ActivationArg,
    /// Seed of training (restarts, minibatches, validation split).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How long to train (and how many EM iterations the baseline may take).
    #[arg(long, value_enum, default_value_t = FitBudget::Quick)]
    budget: FitBudget,
    /// Classical identification beside the RNN, on the same training data: N4SID, EM
    /// initialised from N4SID, both, or none. A baseline the data cannot support is left out
    /// with a note in the report.
    #[arg(long, value_enum, default_value_t = Baselines::All)]
    baselines: Baselines,
}

/// `--hidden`: a size or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hidden {
    /// Chosen by validation loss.
    Auto,
    /// Fixed.
    Size(usize),
}

impl std::str::FromStr for Hidden {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Self::Size(n)),
            _ => Err(format!("expected a positive integer or `auto`, got `{s}`")),
        }
    }
}

/// `--mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Simulation,
    Predictor,
}

/// `--activation`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ActivationArg {
    Linear,
    Tanh,
    Relu,
}

/// `--budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitBudget {
    /// Two restarts of at most 1000 Adam steps, 100 L-BFGS iterations.
    Quick,
    /// Four restarts of at most 3000 Adam steps, 200 L-BFGS iterations.
    Full,
}

impl FitBudget {
    /// The baselines of `methods` with this budget's EM iterations: 100 (relative tolerance
    /// 1e-7) for quick, 200 (1e-8) for full.
    fn baselines(self, methods: Baselines) -> BaselineSpec {
        let em = match self {
            FitBudget::Quick => EmConfig {
                max_iterations: 100,
                tolerance: 1e-7,
                ..EmConfig::default()
            },
            FitBudget::Full => EmConfig::default(),
        };
        BaselineSpec {
            methods,
            em,
            ..BaselineSpec::default()
        }
    }
}

/// What `report.json` records as the spec of a fit (with the git commit and version).
#[derive(Debug, Serialize)]
struct FitSpec {
    data: PathBuf,
    system: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    equilibrium: Option<String>,
    hidden: Hidden,
    /// Validation loss of each candidate hidden size (`--hidden auto`).
    hidden_search: Vec<(usize, f64)>,
    held_out_sequences: Vec<i64>,
    network: NetworkConfig,
    training: TrainingConfig,
    compute: Compute,
    analysis: AnalysisConfig,
    baselines: BaselineSpec,
    seed: u64,
    budget: FitBudget,
}

/// Largest hidden size `--hidden auto` tries.
const MAX_AUTO_HIDDEN: usize = 6;

/// Trains, compares and writes the report of `dynrec fit`.
pub fn run_fit(args: &FitArgs) -> Result<()> {
    let data = Dataset::load(&args.data)?;
    let system = match &args.system {
        Some(path) => {
            let system = NamedSystem::load_dynamics(path)?;
            data.check_against(system.as_ref(), &args.data)?;
            Some(system)
        }
        None => None,
    };
    // A wrong --equilibrium or --out fails now, not after the hidden-size search.
    let truth = match (&system, &args.system) {
        (Some(system), Some(path)) => Some(
            Truth::new(system.as_ref(), args.equilibrium.as_deref())
                .with_context(|| format!("{}", path.display()))?,
        ),
        _ => None,
    };
    let folder = ReportFolder::create(&args.out)?;
    let mode = match args.mode {
        Some(ModeArg::Simulation) => Mode::Simulation,
        Some(ModeArg::Predictor) => Mode::Predictor,
        None if data.n_inputs() > 0 => Mode::Simulation,
        None => Mode::Predictor,
    };
    if mode == Mode::Simulation && data.n_inputs() == 0 {
        bail!(
            "{}: simulation mode needs input columns u1..; use --mode predictor",
            args.data.display()
        );
    }
    let activation = match args.activation {
        ActivationArg::Linear => Activation::Linear,
        ActivationArg::Tanh => Activation::Tanh,
        ActivationArg::Relu => Activation::Relu,
    };
    let training = match args.budget {
        FitBudget::Quick => TrainingConfig {
            seed: args.seed,
            restarts: 2,
            max_steps: 1000,
            lbfgs_iterations: 100,
            ..TrainingConfig::default()
        },
        FitBudget::Full => TrainingConfig {
            seed: args.seed,
            restarts: 4,
            max_steps: 3000,
            lbfgs_iterations: 200,
            ..TrainingConfig::default()
        },
    };

    // Held out for the comparison with the Kalman filter: every fifth sequence, when there are
    // at least five; otherwise the comparison is in-sample.
    let in_sample = data.sequences.len() < 5;
    let (train_set, held_out) = if !in_sample {
        let (held, kept): (Vec<_>, Vec<_>) = data
            .sequences
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 5 == 4);
        let strip = |v: Vec<(usize, dynrec_truth::Sequence)>| {
            Dataset::from_sequences(v.into_iter().map(|(_, s)| s).collect())
        };
        (strip(kept), strip(held))
    } else {
        eprintln!(
            "note: {} sequence(s): fewer than 5, so the MSEs are measured in-sample",
            data.sequences.len()
        );
        (data.clone(), data.clone())
    };

    let network = |d_hidden| NetworkConfig {
        mode,
        d_hidden,
        activation,
        ..NetworkConfig::default()
    };
    let mut hidden_search = Vec::new();
    let d_hidden = match args.hidden {
        Hidden::Size(n) => {
            check_trainable(&train_set, &network(n))
                .with_context(|| args.data.display().to_string())?;
            n
        }
        Hidden::Auto => {
            // The sizes the data can determine (the first one that it cannot is where the
            // search stops; none at all is an error).
            check_trainable(&train_set, &network(1))
                .with_context(|| args.data.display().to_string())?;
            let sizes: Vec<usize> = (1..=MAX_AUTO_HIDDEN)
                .take_while(|&n| check_trainable(&train_set, &network(n)).is_ok())
                .collect();
            if sizes.len() < MAX_AUTO_HIDDEN {
                eprintln!(
                    "note: the data determine at most {} hidden units; the search stops there",
                    sizes.len()
                );
            }
            let device = Compute::default().device().context("compute device")?;
            let train_data = train_set
                .sequences
                .iter()
                .map(|s| SequenceData::new(s.inputs.clone(), s.measurements.clone()))
                .collect::<dynrec_model::Result<Vec<_>>>()?;
            let search = TrainingConfig {
                restarts: 1,
                ..training.clone()
            };
            for n in sizes {
                let fit = train(&train_data, &network(n), &search, &device, &mut Silent)
                    .with_context(|| format!("training with {n} hidden units"))?;
                eprintln!("hidden {n}: validation loss {:.4e}", fit.report.val_loss);
                hidden_search.push((n, fit.report.val_loss));
            }
            let best = hidden_search
                .iter()
                .map(|&(_, v)| v)
                .fold(f64::INFINITY, f64::min);
            let chosen = hidden_search
                .iter()
                .find(|&&(_, v)| v <= best * 1.01)
                .map_or(1, |&(n, _)| n);
            println!(
                "hidden size: picked {chosen} (smallest within 1% of the best validation loss \
                 {best:.4e})"
            );
            chosen
        }
    };

    let spec = FitSpec {
        data: args.data.clone(),
        system: args.system.clone(),
        equilibrium: args.equilibrium.clone(),
        hidden: args.hidden,
        hidden_search,
        held_out_sequences: if in_sample {
            Vec::new()
        } else {
            held_out.sequences.iter().map(|s| s.id).collect()
        },
        network: network(d_hidden),
        training: training.clone(),
        compute: Compute::default(),
        analysis: AnalysisConfig::default(),
        baselines: args.budget.baselines(args.baselines),
        seed: args.seed,
        budget: args.budget,
    };
    let outcome = fit_and_report(
        FitData {
            name: "fit",
            train: &train_set,
            held_out: &held_out,
        },
        truth.as_ref(),
        FitSettings {
            network: &spec.network,
            training: &spec.training,
            compute: spec.compute,
            analysis: spec.analysis,
            baselines: &spec.baselines,
            targets: Targets::default(),
        },
        &SpecRecord::now(&spec),
        folder,
        true,
    )?;
    println!("{}", outcome.verdict);
    println!(
        "held-out MSE: RNN {:.4e}{}; report in {}",
        outcome.rnn_mse,
        outcome
            .kalman_mse
            .map(|k| format!(", Kalman one-step {k:.4e}"))
            .unwrap_or_default(),
        outcome.dir.join("report.md").display()
    );
    for b in &outcome.baselines {
        println!(
            "baseline {}: order {}{}, held-out one-step MSE {:.4e}, {:.2} s",
            b.name,
            b.order,
            b.eigen_error
                .map(|e| format!(", eigen error {e:.3e}"))
                .unwrap_or_default(),
            b.heldout_mse_one_step,
            b.seconds
        );
    }
    if let Some(d) = &outcome.dominant_modes {
        print_dominant_modes(d);
    }
    Ok(())
}

/// The dominant learned modes in the data's time unit, each with the baselines' nearest.
fn print_dominant_modes(d: &DominantModes) {
    let or_dash = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{x:.4}"));
    println!(
        "dominant modes (in units of t, dt = {}): period, damping time, |λ|, energy share",
        d.time_step
    );
    for m in &d.modes {
        let nearest: Vec<String> = m
            .nearest
            .iter()
            .map(|n| {
                format!(
                    "{} period {} |λ| {:.4}",
                    n.baseline,
                    or_dash(n.period),
                    n.eigenvalue[0].hypot(n.eigenvalue[1])
                )
            })
            .collect();
        println!(
            "  period {}, damping time {}, |λ| {:.4}, energy {:.1}%{}",
            or_dash(m.period),
            or_dash(m.damping_time),
            m.modulus,
            100.0 * m.energy_share,
            if nearest.is_empty() {
                String::new()
            } else {
                format!("; nearest: {}", nearest.join("; "))
            }
        );
    }
}
