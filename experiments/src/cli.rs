//! What every experiment binary shares: its command line, its runs (a list of specs or a
//! sweep), and the summaries: `<out>/README.md`, `<out>/outcomes.json` and the
//! `results/README.md` index.
//!
//! One binary, three ways to call it (see `docs/scaling.md`):
//!
//! - `<experiment>`: every run not yet complete in the output folder (in parallel on the local
//!   cores, `--jobs`), then the summaries;
//! - `<experiment> --shard I/N` (or in a Slurm array task, or a Kubernetes indexed job): only
//!   this shard's runs, no summaries;
//! - `<experiment> --merge`: no runs; the summaries rebuilt from the run folders.
//!
//! The summaries are always built from the run folders ([`crate::merge`]), so the merged
//! result of N shards is the result of one unsharded run.

use std::path::{Path, PathBuf};

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::{Deserialize, Serialize};

use dynrec_core::fmt::sci_or_dash;
use dynrec_core::write_atomically;
use dynrec_model::Backend;
use dynrec_pipeline::{Budget, Outcome, Spec};
use dynrec_truth::Dynamics;

use crate::merge::merge;
use crate::runner::{RunOptions, ShardReport, default_jobs, run_shard};
use crate::shard::{self, Shard, ShardSource};
use crate::sweep::SweepSpec;

/// The command line of an experiment binary.
#[derive(Debug, Parser)]
pub struct Args {
    /// How much compute to spend (`smoke`: seconds, for the tests; `full`: the committed
    /// results).
    #[arg(long, value_enum, default_value_t = Budget::Full)]
    pub budget: Budget,
    /// Folder of the results (default: `results/<experiment>` in the repository).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Run only share I of N of the runs (0 ≤ I < N), chosen by a stable hash of each run's
    /// name, and write no summaries (merge them with --merge). Without it: a Slurm array
    /// task's SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or
    /// JOB_COMPLETION_INDEX of --shards N; with none of them, every run.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// The number of shards when the index comes from JOB_COMPLETION_INDEX (a Kubernetes
    /// indexed job: its number of completions).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Runs at once on this machine (default: SLURM_CPUS_PER_TASK when set, otherwise every
    /// core this process may use). The results do not depend on it.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Rerun the runs whose complete result is already in the output folder (default: skip
    /// them).
    #[arg(long)]
    pub redo: bool,
    /// Run nothing: rebuild README.md, outcomes.json and the sweep plots (and, in
    /// `results/`, the results/README.md index) from the run folders; list the runs that are
    /// missing or failed and exit with status 1 if any are. Give the same --budget and
    /// --backend as the runs.
    #[arg(long, conflicts_with_all = ["shard", "shards", "jobs", "redo"])]
    pub merge: bool,
    /// Burn backend of every run (`flex`, `ndarray`, `vulkan`, as compiled in; default: the
    /// spec's, `flex`). It is part of each run's spec: runs on another backend are not
    /// complete for this one.
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<Backend>,
}

impl Args {
    /// How this process runs its share into `out`: the shard (from `--shard`, or the
    /// environment of a Slurm array task or a Kubernetes indexed job; see [`shard::resolve`])
    /// and where it came from, `--jobs` (default [`default_jobs`]), `--redo`, progress bars.
    ///
    /// # Errors
    /// An invalid shard or shard environment.
    pub fn run_options(&self, out: &Path) -> Result<(RunOptions, ShardSource)> {
        let env = |name: &str| std::env::var(name).ok();
        let (shard, source) = shard::resolve(self.shard, self.shards, &env)?;
        let options = RunOptions {
            budget: self.budget,
            backend: self.backend,
            out: out.to_path_buf(),
            shard,
            jobs: self.jobs.map_or_else(|| default_jobs(&env), usize::from),
            redo: self.redo,
            progress: !self.quiet,
        };
        Ok((options, source))
    }

    /// After a shard of `experiment`: says how to merge once every shard is done.
    ///
    /// # Errors
    /// When any of the shard's runs failed (they are named).
    pub fn shard_done(&self, experiment: &str, shard: Shard, report: &ShardReport) -> Result<()> {
        println!(
            "Shard {shard} done. Once every shard is, merge: {experiment} --merge --budget {}{} \
             [--out DIR]",
            format!("{:?}", self.budget).to_lowercase(),
            self.backend
                .map(|b| format!(" --backend {b}"))
                .unwrap_or_default()
        );
        if !report.failed.is_empty() {
            bail!(
                "{} of this shard's runs failed: {}",
                report.failed.len(),
                report.failed.join(", ")
            );
        }
        Ok(())
    }
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse::<Backend>().map_err(|e| e.to_string())
}

/// The repository's `results/` folder.
pub fn results_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../results")
}

/// An experiment's record of all its runs, `<out>/outcomes.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Binary name.
    pub experiment: String,
    /// The question it asks.
    pub question: String,
    /// Budget of the runs.
    pub budget: Budget,
    /// One per complete run, in the order of the experiment's specs.
    pub outcomes: Vec<Outcome>,
    /// Whether every run is complete and every target of every run holds.
    pub passed: bool,
    /// The runs without a complete result (absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
}

/// A run of the experiment without a complete result in the output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    /// The run's name.
    pub name: String,
    /// Why: not run yet (or killed), failed (with the error), or a result of another spec.
    pub reason: String,
}

/// How an experiment gets the system of a spec.
pub type BuildSystem = fn(&Spec) -> Result<Box<dyn Dynamics>>;

/// Markdown an experiment adds to its `README.md` after the table (its own analysis of the
/// outcomes, recomputed from them at every merge); it may also write files into the output
/// folder it is given.
pub type Appendix = fn(&Summary, &Path) -> Result<String>;

/// The system a spec names ([`dynrec_pipeline::SystemChoice::build`]).
pub fn spec_system(spec: &Spec) -> Result<Box<dyn Dynamics>> {
    spec.system.build()
}

/// Parses the command line and runs the experiment of `specs(budget)` ([`Experiment::main`]).
pub fn main(
    experiment: &'static str,
    question: &'static str,
    specs: fn(Budget) -> Vec<Spec>,
) -> Result<()> {
    Experiment::new(experiment, question, specs).main()
}

/// What an experiment runs at a budget.
#[derive(Clone, Copy)]
pub enum Runs {
    /// A list of specs; the summary is a table of their checks.
    Specs(fn(Budget) -> Vec<Spec>),
    /// A sweep: parameters varied over seeds; the summary adds a table and a plot per series.
    Sweep(fn(Budget) -> SweepSpec),
}

/// An experiment binary: its name, its question, its runs per budget, how the system of a spec
/// is built and, optionally, its own analysis of the outcomes.
pub struct Experiment {
    /// Binary name; its results go to `results/<name>/`.
    pub name: &'static str,
    /// The question it asks.
    pub question: &'static str,
    /// Its runs at a budget.
    pub runs: Runs,
    /// The system each spec runs on ([`spec_system`] unless the binary defines its own).
    pub system: BuildSystem,
    /// Markdown the experiment adds to its `README.md` after the table.
    pub appendix: Option<Appendix>,
}

impl Experiment {
    /// An experiment whose specs name their systems.
    pub fn new(name: &'static str, question: &'static str, specs: fn(Budget) -> Vec<Spec>) -> Self {
        Self {
            name,
            question,
            runs: Runs::Specs(specs),
            system: spec_system,
            appendix: None,
        }
    }

    /// A sweep experiment ([`crate::sweep`]).
    pub fn sweep(
        name: &'static str,
        question: &'static str,
        sweep: fn(Budget) -> SweepSpec,
    ) -> Self {
        Self {
            runs: Runs::Sweep(sweep),
            ..Self::new(name, question, |_| Vec::new())
        }
    }

    /// The same experiment on systems built in code (see `docs/extending.md`).
    pub fn with_system(self, system: BuildSystem) -> Self {
        Self { system, ..self }
    }

    /// The same experiment with its own analysis of the outcomes in its `README.md`.
    pub fn with_appendix(self, appendix: Appendix) -> Self {
        Self {
            appendix: Some(appendix),
            ..self
        }
    }

    /// Every run of `budget`, in order, on `backend` when given (otherwise the spec's). Two runs
    /// with one name are refused: they would share a folder.
    pub fn specs(&self, budget: Budget, backend: Option<Backend>) -> Result<Vec<Spec>> {
        let mut specs = match self.runs {
            Runs::Specs(specs) => specs(budget),
            Runs::Sweep(sweep) => sweep(budget).specs(),
        };
        if let Some(backend) = backend {
            for spec in &mut specs {
                spec.compute.backend = backend;
            }
        }
        let mut names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("{}: two runs are named {}", self.name, pair[0]);
        }
        Ok(specs)
    }

    /// Parses the command line and does what it asks: runs (all, or a shard's), then the
    /// summaries when unsharded; or only the summaries with `--merge`. Exits with status 1
    /// when a run failed or (merging) is missing, 2 when a target is missed.
    pub fn main(&self) -> Result<()> {
        let args = Args::parse();
        let default_out = args.out.is_none();
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| results_root().join(self.name));
        if args.merge {
            let summary = merge(self, args.budget, args.backend, &out)?;
            return self.finish(&summary, default_out);
        }
        let (options, source) = args.run_options(&out)?;
        if options.shard.is_all() {
            clear_summaries(&out)?;
        }
        let report = run_shard(self, &options, source)?;
        if options.shard.is_all() {
            let summary = merge(self, args.budget, args.backend, &out)?;
            return self.finish(&summary, default_out);
        }
        args.shard_done(self.name, options.shard, &report)?;
        if report.ran.iter().any(|o| !o.passed()) {
            eprintln!("some targets were missed");
            std::process::exit(2);
        }
        Ok(())
    }

    /// Runs every run of `budget` not yet complete in `out` (on all cores) and writes the
    /// summaries, as the binary does without flags but with `--out out`.
    pub fn run_all(&self, budget: Budget, out: &Path, progress: bool) -> Result<Summary> {
        clear_summaries(out)?;
        let options = RunOptions {
            budget,
            backend: None,
            out: out.to_path_buf(),
            shard: Shard::ALL,
            jobs: default_jobs(&|name| std::env::var(name).ok()),
            redo: false,
            progress,
        };
        run_shard(self, &options, ShardSource::Unsharded)?;
        merge(self, budget, None, out)
    }

    /// After the summaries: the index when writing into `results/`, then the exit status.
    fn finish(&self, summary: &Summary, default_out: bool) -> Result<()> {
        if default_out {
            write_index(&results_root()).context("writing results/README.md")?;
        }
        if !summary.missing.is_empty() {
            bail!(
                "{}: {} of {} runs are missing or failed (listed above); rerun them (complete \
                 runs are skipped), then merge again",
                self.name,
                summary.missing.len(),
                summary.missing.len() + summary.outcomes.len()
            );
        }
        if !summary.passed {
            eprintln!("some targets were missed (see the table above)");
            std::process::exit(2);
        }
        Ok(())
    }
}

/// Removes `out/README.md` and `out/outcomes.json` of an earlier run (absent ones are fine).
pub fn clear_summaries(out: &Path) -> Result<()> {
    for file in ["README.md", "outcomes.json"] {
        let path = out.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}

/// Writes `out/README.md` (`markdown`) and `out/outcomes.json` (`summary`), each atomically.
pub fn write_summaries(out: &Path, markdown: &str, summary: &Summary) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_atomically(&out.join("README.md"), |w| w.write_all(markdown.as_bytes()))
        .context("writing the experiment summary")?;
    let json = serde_json::to_string_pretty(summary)? + "\n";
    write_atomically(&out.join("outcomes.json"), |w| w.write_all(json.as_bytes()))
        .context("writing outcomes.json")?;
    Ok(())
}

/// The checks of every run as a Markdown table.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::from("| run | measured | value | target | pass |\n|---|---|---|---|---|\n");
    for o in outcomes {
        for c in &o.checks {
            s += &format!(
                "| {} | {} | {:.2e} | {} | {} |\n",
                o.name,
                c.name,
                c.value,
                c.target
                    .map_or("(none)".to_string(), |t| format!("≤ {t:.0e}")),
                match (c.target, c.pass) {
                    (None, _) => "",
                    (Some(_), true) => "yes",
                    (Some(_), false) => "**no**",
                }
            );
        }
        s += &format!(
            "| {} | held-out MSE: RNN / Kalman one-step / truth output-error | {} / {} / {} | | |\n",
            o.name,
            sci_or_dash(Some(o.rnn_mse)),
            sci_or_dash(o.kalman_mse),
            sci_or_dash(o.truth_output_error_mse)
        );
        for b in &o.baselines {
            s += &format!(
                "| {} | baseline {}: eigen error / held-out one-step MSE / seconds | {} / {} / {:.2} | | |\n",
                o.name,
                b.name,
                sci_or_dash(b.eigen_error),
                sci_or_dash(Some(b.heldout_mse_one_step)),
                b.seconds
            );
        }
        s += &format!(
            "| {} | seconds: training / whole run | {:.1} / {:.1} | | |\n",
            o.name, o.train_seconds, o.seconds
        );
    }
    s
}

/// `results/README.md`: one line per run, read from every `results/*/outcomes.json`.
pub fn write_index(root: &Path) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("outcomes.json"))
        .filter(|p| p.exists())
        .collect();
    entries.sort();
    let mut s = String::from(
        "# Results\n\nWritten by the experiment binaries (`cargo run --release --bin <name>`); \
         never edited by hand. One line per run: its verdict.\n\n",
    );
    for path in entries {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let summary: Summary =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        s += &format!(
            "## [{0}]({0}/README.md)\n\n{1}\n\n",
            summary.experiment, summary.question
        );
        for o in &summary.outcomes {
            s += &format!(
                "- [{exp}/{name}]({exp}/{name}/report.md){flag}: {verdict}\n",
                exp = summary.experiment,
                name = o.name,
                flag = if o.passed() { "" } else { " (target missed)" },
                verdict = o.verdict
            );
        }
        for m in &summary.missing {
            s += &format!(
                "- {exp}/{name} (missing): {reason}\n",
                exp = summary.experiment,
                name = m.name,
                reason = m.reason
            );
        }
        s += "\n";
    }
    write_atomically(&root.join("README.md"), |w| w.write_all(s.as_bytes()))
        .context("writing results/README.md")
}
