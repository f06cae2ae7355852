//! The measurements behind the initialisation, restarts, detrending and horizon options: trains
//! a network on a data file with each seed of a list and prints, per seed, the recovered
//! dynamics' eigenvalues (`U + W_z V` in predictor mode), the one-step MSE, the training
//! objective and the seconds, with each restart's loss and eigenvalues. With `--system` the
//! eigenvalues are matched against eig(A); with `--period P` the complex pair nearest that
//! period (in rows) is reported.
//!
//! ```sh
//! cargo run --release -p dynrec-pipeline --example levers -- --data data/real/co2.csv \
//!     --hidden 3 --seeds 1,2,3 --init ring:0.9:0.999:0.628 --horizon 13 --period 52.18
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use dynrec_analysis::{C64, eigenvalues, match_eigenvalues};
use dynrec_model::{
    Compute, Init, Mode, NetworkConfig, Precision, RnnWeights, SequenceData, Silent,
    TrainingConfig, train,
};
use dynrec_pipeline::detrend::{Detrend, detrend};
use dynrec_truth::Dataset;
use nalgebra::DMatrix;

#[derive(Debug, Parser)]
struct Args {
    /// The data file.
    #[arg(long)]
    data: PathBuf,
    /// A linear system to match the eigenvalues against.
    #[arg(long)]
    system: Option<PathBuf>,
    /// Report the complex pair nearest this period (rows).
    #[arg(long)]
    period: Option<f64>,
    /// Hidden size.
    #[arg(long, default_value_t = 3)]
    hidden: usize,
    /// Training seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// Restarts.
    #[arg(long, default_value_t = 2)]
    restarts: usize,
    /// Adam steps per restart.
    #[arg(long, default_value_t = 1000)]
    max_steps: usize,
    /// L-BFGS iterations.
    #[arg(long, default_value_t = 100)]
    lbfgs: usize,
    /// `random` or `ring:MIN_RADIUS:MAX_RADIUS:MAX_PHASE`.
    #[arg(long, default_value = "random")]
    init: String,
    /// Prediction horizon of the loss.
    #[arg(long, default_value_t = 1)]
    horizon: usize,
    /// Train in f64 instead of f32.
    #[arg(long)]
    f64: bool,
    /// Per-sequence detrending of the measurements.
    #[arg(long, value_enum, default_value_t = Detrend::None)]
    detrend: Detrend,
}

fn parse_init(text: &str) -> Result<Init> {
    if text == "random" {
        return Ok(Init::Random);
    }
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        ["ring", a, b, c] => Ok(Init::Ring(dynrec_model::Ring {
            min_radius: a.parse()?,
            max_radius: b.parse()?,
            max_phase: c.parse()?,
        })),
        _ => bail!("--init: `random` or `ring:MIN:MAX:PHASE`, got `{text}`"),
    }
}

/// The dynamics the network implements: `U + W_z V` (predictor) or `U`.
fn recovered(w: &RnnWeights) -> DMatrix<f64> {
    match w.w_measurements() {
        Some(wz) if w.mode == Mode::Predictor => &w.u + wz * &w.v,
        _ => w.u.clone(),
    }
}

fn show(z: C64) -> String {
    let period = if z.im.abs() > 1e-9 {
        format!(" P{:.1}", 2.0 * std::f64::consts::PI / z.arg().abs())
    } else {
        String::new()
    };
    format!("{:.4}{:+.4}i(|{:.4}|{period})", z.re, z.im, z.norm())
}

/// The complex eigenvalue (upper half plane) whose period is nearest `period`.
fn nearest_pair(eig: &[C64], period: f64) -> Option<C64> {
    eig.iter()
        .filter(|z| z.im > 1e-9)
        .min_by(|a, b| {
            let p = |z: &C64| (2.0 * std::f64::consts::PI / z.arg() - period).abs();
            p(a).total_cmp(&p(b))
        })
        .copied()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let raw = Dataset::load(&args.data)?;
    let (data, trends) = detrend(&raw, args.detrend);
    for t in &trends {
        eprintln!("detrended: {t}");
    }
    let truth = match &args.system {
        Some(path) => {
            let system = dynrec_truth::LinearSystem::load(path)?;
            Some(eigenvalues(system.a())?)
        }
        None => None,
    };
    let mode = if data.n_inputs() > 0 {
        Mode::Simulation
    } else {
        Mode::Predictor
    };
    let sequences: Vec<SequenceData> = data
        .sequences
        .iter()
        .map(|s| SequenceData::new(s.inputs.clone(), s.measurements.clone()))
        .collect::<dynrec_model::Result<_>>()?;
    let network = NetworkConfig {
        mode,
        d_hidden: args.hidden,
        init: parse_init(&args.init)?,
        ..NetworkConfig::default()
    };
    let compute = Compute {
        precision: if args.f64 {
            Precision::F64
        } else {
            Precision::F32
        },
        ..Compute::default()
    };
    let device = compute.device().context("device")?;
    println!(
        "{} hidden {} init {} horizon {} restarts {} steps {} lbfgs {} detrend {:?} f64 {}",
        args.data.display(),
        args.hidden,
        args.init,
        args.horizon,
        args.restarts,
        args.max_steps,
        args.lbfgs,
        args.detrend,
        args.f64
    );
    let mut worst = 0.0_f64;
    let mut total_seconds = 0.0;
    for &seed in &args.seeds {
        let config = TrainingConfig {
            seed,
            restarts: args.restarts,
            max_steps: args.max_steps,
            lbfgs_iterations: args.lbfgs,
            horizon: args.horizon,
            ..TrainingConfig::default()
        };
        let started = Instant::now();
        let fit = train(&sequences, &network, &config, &device, &mut Silent)?;
        let seconds = started.elapsed().as_secs_f64();
        total_seconds += seconds;
        let predictions = fit.model.predict(&sequences)?;
        let (mut sum, mut count, mut late, mut late_count) = (0.0, 0.0, 0.0, 0.0);
        for (s, pr) in sequences.iter().zip(&predictions) {
            let half = s.steps() / 2;
            for (k, (z, y)) in s.measurements.iter().zip(pr.outputs.iter()).enumerate() {
                if z.is_finite() {
                    sum += (z - y).powi(2);
                    count += 1.0;
                    if k / s.n_outputs() >= half {
                        late += (z - y).powi(2);
                        late_count += 1.0;
                    }
                }
            }
        }
        let eig = eigenvalues(&recovered(fit.weights()))?;
        let mut line = format!(
            "seed {seed}: one-step MSE {:.5e} (second half {:.5e}) objective {:.5e} {:.2} s eig [{}]",
            sum / count,
            late / late_count,
            fit.report.val_loss,
            seconds,
            eig.iter().map(|z| show(*z)).collect::<Vec<_>>().join(", ")
        );
        if let Some(truth) = &truth {
            let m = match_eigenvalues(truth, &eig);
            worst = worst.max(m.max_distance);
            line += &format!(" error {:.2e}", m.max_distance);
        }
        if let Some(period) = args.period {
            match nearest_pair(&eig, period) {
                Some(z) => line += &format!(" pair {}", show(z)),
                None => line += " pair none",
            }
        }
        println!("{line}");
        for r in &fit.report.restarts {
            let e = r
                .weights
                .as_ref()
                .map(|w| eigenvalues(&recovered(w)))
                .transpose()?
                .unwrap_or_default();
            println!(
                "    restart {}: objective {:.5e} adam {} lbfgs {} ({:?}) kept {} [{}]",
                r.restart,
                r.val_loss,
                r.adam_steps,
                r.lbfgs_iterations,
                r.lbfgs_stop,
                r.lbfgs_kept,
                e.iter().map(|z| show(*z)).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if truth.is_some() {
        println!("worst error over seeds {worst:.2e}");
    }
    println!("total {total_seconds:.1} s");
    Ok(())
}
