//! `dynrec`: simulate state-space systems (linear, or any `kind` of system file), filter data
//! (Kalman for linear systems, extended or unscented Kalman otherwise) and fit RNNs to it on
//! the command line.

mod fit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use dynrec_core::write_atomically;
use dynrec_truth::{
    Dataset, Dynamics, FilterMethod, InputSignal, NamedSystem, SimulationConfig, estimate_dynamics,
    simulate,
};

/// Do a recurrent network's weights reveal a linear system's dynamics? Simulate, filter, fit.
#[derive(Debug, Parser)]
#[command(name = "dynrec", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a system file into a data file (CSV: [seq,]t,u1..,z1..,x1..).
    Simulate(SimulateArgs),
    /// Filter (or, for linear systems, RTS-smooth) a data file with a system file.
    Filter(FilterArgs),
    /// Train an Elman RNN on a data file and report whether its weights reveal the dynamics.
    Fit(fit::FitArgs),
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// The system file (TOML: linear A, B, H, Q, R, x0, P0, or `kind = "pendulum"` etc.).
    #[arg(long)]
    system: PathBuf,
    /// Rows per sequence.
    #[arg(long)]
    steps: usize,
    /// Number of independent sequences (a `seq` column is written when > 1).
    #[arg(long, default_value_t = 1)]
    sequences: usize,
    /// Input signal on every input channel.
    #[arg(long, value_enum, default_value_t = InputKind::White)]
    input: InputKind,
    /// Standard deviation (white) or level (prbs, sines) of the input.
    #[arg(long, default_value_t = 1.0)]
    amplitude: f64,
    /// Steps each PRBS level is held.
    #[arg(long, default_value_t = 5)]
    hold: usize,
    /// Periods in steps of the sinusoids (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "50,17,7")]
    periods: Vec<f64>,
    /// Probability that each measurement is left missing.
    #[arg(long, default_value_t = 0.0)]
    missing: f64,
    /// Seed of the random number generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The data file to write.
    #[arg(long)]
    out: PathBuf,
}

/// Input signal kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum InputKind {
    /// u = 0.
    Zero,
    /// White Gaussian noise with standard deviation `--amplitude`.
    White,
    /// Random binary ±amplitude, redrawn every `--hold` steps.
    Prbs,
    /// Sum of sinusoids with `--periods` and random phases.
    Sines,
}

#[derive(Debug, clap::Args)]
struct FilterArgs {
    /// The system file (TOML).
    #[arg(long)]
    system: PathBuf,
    /// The data file (CSV).
    #[arg(long)]
    data: PathBuf,
    /// Rauch–Tung–Striebel smoothed estimates instead of filtered ones (linear systems only).
    #[arg(long)]
    smooth: bool,
    /// The estimator: `auto` is the Kalman filter for a linear system and the extended Kalman
    /// filter otherwise.
    #[arg(long = "filter", value_enum, default_value_t = FilterKind::Auto)]
    filter: FilterKind,
    /// The output file: [seq,]t,x1..xn,var1..varn.
    #[arg(long)]
    out: PathBuf,
}

/// Estimators for `dynrec filter`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FilterKind {
    /// Kalman filter for linear systems, extended Kalman filter otherwise.
    Auto,
    /// Extended Kalman filter (the Kalman filter on a linear system).
    Ekf,
    /// Unscented Kalman filter.
    Ukf,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(args) => run_simulate(&args),
        Command::Filter(args) => run_filter(&args),
        Command::Fit(args) => fit::run_fit(&args),
    }
}

fn load_system(path: &Path) -> Result<Box<dyn Dynamics>> {
    Ok(NamedSystem::load_dynamics(path)?)
}

fn run_simulate(args: &SimulateArgs) -> Result<()> {
    let system = load_system(&args.system)?;
    let input = match args.input {
        InputKind::Zero => InputSignal::Zero,
        InputKind::White => InputSignal::White {
            std: args.amplitude,
        },
        InputKind::Prbs => InputSignal::Prbs {
            amplitude: args.amplitude,
            hold: args.hold,
        },
        InputKind::Sines => InputSignal::Sines {
            amplitude: args.amplitude,
            periods: args.periods.clone(),
        },
    };
    let config = SimulationConfig {
        sequences: args.sequences,
        steps: args.steps,
        input,
        missing_fraction: args.missing,
        seed: args.seed,
    };
    let data =
        simulate(&*system, &config).with_context(|| format!("simulating {}", system.describe()))?;
    data.save(&args.out)?;
    eprintln!(
        "wrote {} rows ({} sequence(s) x {} steps) to {}",
        data.rows.len(),
        args.sequences,
        args.steps,
        args.out.display()
    );
    Ok(())
}

fn run_filter(args: &FilterArgs) -> Result<()> {
    let system = load_system(&args.system)?;
    let data = Dataset::load(&args.data)?;
    data.check_against(&*system, &args.data)?;
    let method = match args.filter {
        FilterKind::Auto => FilterMethod::Auto,
        FilterKind::Ekf => FilterMethod::Ekf,
        FilterKind::Ukf => FilterMethod::Ukf,
    };
    let estimates = estimate_dynamics(&*system, &data, method, args.smooth)
        .with_context(|| format!("filtering {}", args.data.display()))?;
    write_atomically(&args.out, |w| data.write_estimates_csv(&estimates, w))?;
    Ok(())
}
