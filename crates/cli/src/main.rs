//! `dynrec`: simulate state-space systems (linear, or any `kind` of system file), filter data
//! (Kalman for linear systems, extended or unscented Kalman otherwise) and fit RNNs to it on
//! the command line.

mod fit;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use dynrec_core::write_atomically;
use dynrec_truth::{
    Dataset, Dynamics, FilterMethod, InputSignal, NamedSystem, SimulationConfig, TruthError,
    estimate_dynamics_with_progress, simulate_with_progress,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bad_arguments(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// At most this many characters of any one line of an error message are printed.
const LINE_LIMIT: usize = 500;

/// An error and its causes, each said once: a cause whose text the message already contains
/// (an error that prints its source inside its own message and also returns it as `source()`)
/// is not repeated; every line is cut to [`LINE_LIMIT`] characters.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(text.trim()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.lines().map(cap_line).collect::<Vec<_>>().join("\n")
}

/// `line` cut to [`LINE_LIMIT`] characters, with `…` where it was cut.
fn cap_line(line: &str) -> String {
    match line.char_indices().nth(LINE_LIMIT) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Help and version go to stdout with exit 0; a usage error is printed with clap's own text,
/// each line cut to [`LINE_LIMIT`] characters (clap quotes the offending argument whole), and
/// exits with clap's code (2).
fn bad_arguments(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let capped: Vec<String> = text.lines().map(cap_line).collect();
    eprintln!("{}", capped.join("\n"));
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
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

/// Progress of a long loop on stderr: nothing during the first [`Progress::DELAY`] (or
/// `DYNREC_PROGRESS_AFTER_MS` milliseconds), then, on a terminal, one line redrawn in place a
/// few times a second, and otherwise (a log file, a pipe) a line every
/// [`Progress::LOG_INTERVAL`] and one at the end.
struct Progress {
    label: String,
    start: Instant,
    after: Duration,
    last: Option<Instant>,
    terminal: bool,
}

impl Progress {
    const DELAY: Duration = Duration::from_secs(3);
    const TERMINAL_INTERVAL: Duration = Duration::from_millis(200);
    const LOG_INTERVAL: Duration = Duration::from_secs(10);

    fn new(label: String) -> Self {
        let after = std::env::var("DYNREC_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(Self::DELAY, Duration::from_millis);
        Self {
            label,
            start: Instant::now(),
            after,
            last: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn update(&mut self, done: u64, total: u64) {
        let now = Instant::now();
        let elapsed = now - self.start;
        if elapsed < self.after {
            return;
        }
        let interval = if self.terminal {
            Self::TERMINAL_INTERVAL
        } else {
            Self::LOG_INTERVAL
        };
        if self.last.is_some_and(|last| now - last < interval) && done < total {
            return;
        }
        self.last = Some(now);
        let fraction = done as f64 / total.max(1) as f64;
        let left = if done > 0 {
            format!(
                ", about {:.0} s left",
                elapsed.as_secs_f64() * (total - done) as f64 / done as f64
            )
        } else {
            String::new()
        };
        let line = format!(
            "{}: {done}/{total} rows ({:.0}%){left}",
            self.label,
            100.0 * fraction
        );
        if self.terminal {
            eprint!("\r{line}\x1b[K");
            if done >= total {
                eprintln!();
            }
        } else {
            eprintln!("{line}");
        }
    }
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
    let mut progress = Progress::new(format!("simulating {}", args.system.display()));
    let data = simulate_with_progress(&*system, &config, &mut |done, total| {
        progress.update(done, total)
    })
    .with_context(|| {
        format!(
            "simulating {} ({})",
            args.system.display(),
            system.describe()
        )
    })?;
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
    let mut progress = Progress::new(format!("filtering {}", args.data.display()));
    let estimates = estimate_dynamics_with_progress(
        &*system,
        &data,
        method,
        args.smooth,
        &mut |done, total| progress.update(done, total),
    )
    .with_context(|| {
        format!(
            "filtering {} with {} ({})",
            args.data.display(),
            args.system.display(),
            system.describe()
        )
    })?;
    write_atomically(&args.out, |w| data.write_estimates_csv(&estimates, w))
        .map_err(TruthError::from)?;
    Ok(())
}
