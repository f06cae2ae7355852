//! Running a shard of an experiment: its runs that are not yet complete in the output folder,
//! in parallel on a pool of `--jobs` threads.
//!
//! - **Resumable.** A run whose folder already holds its complete result
//!   ([`RunState::Complete`]) is skipped unless `--redo`; each run writes its folder as a
//!   whole ([`dynrec_pipeline::ReportFolder`]), so a killed run leaves nothing that looks
//!   complete and is simply run again.
//! - **Failures are recorded, not fatal.** A run that fails leaves `<out>/<name>.failed.txt`
//!   (its error) and the others go on; the merge lists it; a later successful run of it removes
//!   the file.
//! - **Disjoint.** A run writes only `<out>/<name>/`, its temporary sibling and its
//!   `.failed.txt`, so shards writing into one folder never touch the same file; the
//!   summaries are written by the merge alone.
//! - **Independent of `--jobs`.** Every run is seeded from its spec alone. Burn's `flex`
//!   backend spreads large tensor operations over the rayon pool the run executes in (here:
//!   this pool, so a process never uses more than `--jobs` threads); the runs of this project
//!   are far below the sizes where it splits a reduction (4M elements) or a matrix product
//!   (192³ multiply-adds), and `tests/shards.rs` checks that `--jobs 1` and the default give
//!   the same numbers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use dynrec_model::Backend;
use dynrec_pipeline::{Budget, Outcome, RunState, Spec, run_spec_on};

use crate::cli::Experiment;
use crate::shard::{Shard, ShardSource};

/// How a process runs its share of an experiment.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The budget of the specs.
    pub budget: Budget,
    /// The backend of every run (`None`: the spec's).
    pub backend: Option<Backend>,
    /// The output folder: `<out>/<run>/` per run.
    pub out: PathBuf,
    /// Which runs.
    pub shard: Shard,
    /// Runs at once (and threads of this process).
    pub jobs: usize,
    /// Rerun complete runs.
    pub redo: bool,
    /// Progress bars (training bars with one run at a time, a bar of runs otherwise).
    pub progress: bool,
}

/// What a shard did.
#[derive(Debug, Default)]
pub struct ShardReport {
    /// Runs of the whole experiment.
    pub total: usize,
    /// Runs of this shard.
    pub in_shard: usize,
    /// The outcomes of the runs it ran.
    pub ran: Vec<Outcome>,
    /// The runs it skipped as complete.
    pub skipped: Vec<String>,
    /// The runs that failed.
    pub failed: Vec<String>,
}

/// The default `--jobs`: `SLURM_CPUS_PER_TASK` when set (Slurm may not confine a task to its
/// cores), otherwise the cores this process may use.
pub fn default_jobs(env: &dyn Fn(&str) -> Option<String>) -> usize {
    env("SLURM_CPUS_PER_TASK")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `<out>/<name>.failed.txt`: the error of the last failed attempt at a run.
pub fn failure_file(out: &Path, name: &str) -> PathBuf {
    out.join(format!("{name}.failed.txt"))
}

/// One run of an experiment as the runner sees it: a name (its folder under the output
/// folder, and the key of the shard hash), whether its complete result is already there, and
/// how to run it into the output folder.
pub trait Job: Sync {
    /// The run's name: `<out>/<name>/` is its folder (a name may contain `/`).
    fn name(&self) -> &str;
    /// Whether `out` already holds this run's complete result.
    fn is_complete(&self, out: &Path) -> bool;
    /// Runs it into `out/<name>/` (a training progress bar when `bars`).
    fn run(&self, out: &Path, bars: bool) -> Result<Outcome>;
}

/// A spec of an [`Experiment`], run by the pipeline on the system the experiment builds.
struct SpecJob<'a> {
    experiment: &'a Experiment,
    spec: Spec,
}

impl Job for SpecJob<'_> {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn is_complete(&self, out: &Path) -> bool {
        matches!(RunState::of(&self.spec, out), RunState::Complete(_))
    }

    fn run(&self, out: &Path, bars: bool) -> Result<Outcome> {
        (self.experiment.system)(&self.spec)
            .and_then(|system| run_spec_on(&self.spec, system.as_ref(), out, bars))
    }
}

/// Runs the runs of `options.shard` that are not complete in `options.out` (all of them with
/// `redo`), `options.jobs` at a time, and says how many it ran, skipped and saw fail.
pub fn run_shard(
    experiment: &Experiment,
    options: &RunOptions,
    source: ShardSource,
) -> Result<ShardReport> {
    let jobs: Vec<SpecJob<'_>> = experiment
        .specs(options.budget, options.backend)?
        .into_iter()
        .map(|spec| SpecJob { experiment, spec })
        .collect();
    run_jobs(experiment.name, &jobs, options, source)
}

/// Runs the jobs of `options.shard` (by the stable hash of `"<experiment>/<name>"`) that are
/// not complete in `options.out` (all of them with `redo`), `options.jobs` at a time; a job
/// that fails leaves `<out>/<name>.failed.txt` and the others go on. `options.budget` and
/// `options.backend` are not read: the jobs were made for them.
pub fn run_jobs<J: Job>(
    experiment: &str,
    all: &[J],
    options: &RunOptions,
    source: ShardSource,
) -> Result<ShardReport> {
    let total = all.len();
    let mine: Vec<&J> = all
        .iter()
        .filter(|j| options.shard.contains(experiment, j.name()))
        .collect();
    let mut report = ShardReport {
        total,
        in_shard: mine.len(),
        ..ShardReport::default()
    };
    let mut to_run = Vec::new();
    for job in mine {
        if !options.redo && job.is_complete(&options.out) {
            report.skipped.push(job.name().to_string());
        } else {
            to_run.push(job);
        }
    }
    let jobs = options.jobs.max(1);
    let scope = if options.shard.is_all() {
        format!("{total} runs")
    } else {
        format!(
            "shard {} (from {source}): {} of {total} runs",
            options.shard, report.in_shard
        )
    };
    let running = if to_run.is_empty() {
        "nothing to run".to_string()
    } else {
        format!(
            "{} to run, {} at a time",
            to_run.len(),
            jobs.min(to_run.len())
        )
    };
    let skipped = if options.redo {
        "--redo: complete ones rerun".to_string()
    } else {
        format!(
            "{} complete, skipped{}",
            report.skipped.len(),
            if report.skipped.is_empty() {
                ""
            } else {
                " (--redo reruns them)"
            }
        )
    };
    println!("{experiment}: {scope}: {skipped}; {running}");
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    // One run at a time: its training bar; several: a bar of runs.
    let parallel = jobs > 1 && to_run.len() > 1;
    let bar = if options.progress && parallel {
        ProgressBar::new(to_run.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(experiment.to_string());
    let training_bars = options.progress && !parallel;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .context("starting the pool of runs")?;
    let done = AtomicUsize::new(0);
    let count = to_run.len();
    let results: Vec<(String, Result<Outcome>)> = pool.install(|| {
        to_run
            .par_iter()
            .with_max_len(1)
            .map(|job| {
                let started = Instant::now();
                let result = run_one(*job, &options.out, training_bars);
                let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                let line = match &result {
                    Ok(_) => format!(
                        "[{k}/{count}] {}: done ({:.1} s)",
                        job.name(),
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => format!("[{k}/{count}] {}: FAILED: {e:#}", job.name()),
                };
                bar.suspend(|| println!("{line}"));
                bar.inc(1);
                (job.name().to_string(), result)
            })
            .collect()
    });
    bar.finish_and_clear();
    for (name, result) in results {
        match result {
            Ok(outcome) => report.ran.push(outcome),
            Err(_) => report.failed.push(name),
        }
    }
    println!(
        "{experiment}: ran {}, skipped {} (complete), failed {}",
        report.ran.len(),
        report.skipped.len(),
        report.failed.len()
    );
    Ok(report)
}

/// One job run into `out/<name>/`, its failure file written or removed.
fn run_one<J: Job>(job: &J, out: &Path, bars: bool) -> Result<Outcome> {
    let failure = failure_file(out, job.name());
    let result = job
        .run(out, bars)
        .with_context(|| format!("run {}", job.name()));
    match &result {
        Ok(_) => match std::fs::remove_file(&failure) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing {}", failure.display()));
            }
        },
        Err(e) => {
            let text = format!("{e:#}\n");
            if let Some(parent) = failure.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            dynrec_core::io::write_bytes_atomically(&failure, text.as_bytes())
                .with_context(|| format!("recording the failure in {}", failure.display()))?;
        }
    }
    result
}
