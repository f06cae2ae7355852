//! `dynrec fit`: the experiments' runner on a user's own data file (no simulation), through
//! [`dynrec_pipeline::user::fit_user_data`].

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use dynrec_analysis::DominantModes;
use dynrec_model::{Activation, Init, Mode, Ring};
use dynrec_pipeline::detrend::Detrend;
use dynrec_pipeline::user::{FitBudget, Hidden, UserFit, UserNetwork, fit_user_data};
use dynrec_pipeline::{Baselines, ReportFolder, Truth};
use dynrec_truth::{Dataset, NamedSystem};

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
    /// How the recurrent matrix U starts: random (i.i.d. entries, spectral radius 0.5), ring
    /// (eigenvalues of modulus 0.99-0.9999 at periods of 20 steps and more: for slow, lightly
    /// damped modes), or diverse (the default: restarts alternate random and ring, the best
    /// validation loss wins; the hidden-size search's single restart is random).
    #[arg(long, value_enum, default_value_t = InitArg::Diverse)]
    init: InitArg,
    /// Prediction horizon K of the loss (predictor mode): the mean squared error of the
    /// predictions 1 to K steps ahead, the network running on its own predictions between
    /// (default 1, the one-step error). Several steps weigh slow dynamics more.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    horizon: u64,
    /// Remove each sequence's mean or least-squares line (in t) from the measurements before
    /// the fit (network and baselines alike); what was removed is in the report.
    #[arg(long, value_enum, default_value_t = Detrend::None)]
    detrend: Detrend,
    /// Restarts (default: the budget's, 2 quick and 4 full).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    restarts: Option<u64>,
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

/// `--init`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum InitArg {
    Random,
    Ring,
    Diverse,
}

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
    let mode = args.mode.map(|m| match m {
        ModeArg::Simulation => Mode::Simulation,
        ModeArg::Predictor => Mode::Predictor,
    });
    if mode == Some(Mode::Simulation) && data.n_inputs() == 0 {
        bail!(
            "{}: simulation mode needs input columns u1..; use --mode predictor",
            args.data.display()
        );
    }
    let network = UserNetwork {
        hidden: args.hidden,
        mode,
        activation: match args.activation {
            ActivationArg::Linear => Activation::Linear,
            ActivationArg::Tanh => Activation::Tanh,
            ActivationArg::Relu => Activation::Relu,
        },
        init: match args.init {
            InitArg::Random => Init::Random,
            InitArg::Ring => Init::Ring(Ring::default()),
            InitArg::Diverse => Init::Diverse(Ring::default()),
        },
        horizon: usize::try_from(args.horizon).context("--horizon")?,
        restarts: args
            .restarts
            .map(usize::try_from)
            .transpose()
            .context("--restarts")?,
        seed: args.seed,
        budget: args.budget,
    };
    let fitted = fit_user_data(
        UserFit {
            data: &data,
            data_path: &args.data,
            truth: truth.as_ref().zip(args.system.as_deref()),
            network: &network,
            detrend: args.detrend,
            baselines: args.baselines,
        },
        folder,
        true,
    )?;
    if let Hidden::Auto = args.hidden {
        let best = fitted
            .hidden_search
            .iter()
            .map(|&(_, v)| v)
            .fold(f64::INFINITY, f64::min);
        println!(
            "hidden size: picked {} (smallest within 1% of the best validation loss {best:.4e})",
            fitted.d_hidden
        );
    }
    for trend in &fitted.trends {
        println!("removed: {trend}");
    }
    let outcome = &fitted.outcome;
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
