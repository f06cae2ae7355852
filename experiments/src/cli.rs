//! What every experiment binary shares: its command line, running its specs, the printed
//! verdicts and table, `<out>/README.md`, `<out>/outcomes.json` and the `results/README.md`
//! index.

use std::path::{Path, PathBuf};

use std::io::Write;

use anyhow::{Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};

use dynrec_core::fmt::sci_or_dash;
use dynrec_core::write_atomically;
use dynrec_pipeline::{Budget, Outcome, Spec, run_spec_on};
use dynrec_truth::Dynamics;

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
    /// One per spec.
    pub outcomes: Vec<Outcome>,
    /// Whether every target of every run holds.
    pub passed: bool,
}

/// How an experiment gets the system of a spec.
pub type BuildSystem = fn(&Spec) -> Result<Box<dyn Dynamics>>;

/// Markdown an experiment adds to its `README.md` after the table (its own analysis of the
/// outcomes); it may also write files into the output folder it is given.
pub type Appendix = fn(&Summary, &Path) -> Result<String>;

/// The system a spec names ([`dynrec_pipeline::SystemChoice::build`]).
pub fn spec_system(spec: &Spec) -> Result<Box<dyn Dynamics>> {
    spec.system.build()
}

/// Parses the command line, runs `specs(budget)` one after the other, prints each verdict and
/// a table, and writes the summaries. Exits with status 2 when a target is missed.
pub fn main(
    experiment: &'static str,
    question: &'static str,
    specs: fn(Budget) -> Vec<Spec>,
) -> Result<()> {
    Experiment::new(experiment, question, specs).main()
}

/// An experiment binary: its name, its question, its specs per budget, how the system of a spec
/// is built and, optionally, its own analysis of the outcomes.
pub struct Experiment {
    /// Binary name; its results go to `results/<name>/`.
    pub name: &'static str,
    /// The question it asks.
    pub question: &'static str,
    /// Its runs at a budget.
    pub specs: fn(Budget) -> Vec<Spec>,
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
            specs,
            system: spec_system,
            appendix: None,
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

    /// Parses the command line, runs the specs of its budget, prints each verdict and a table,
    /// and writes the summaries. Exits with status 2 when a target is missed.
    pub fn main(&self) -> Result<()> {
        let args = Args::parse();
        let default_out = args.out.is_none();
        let out = args.out.unwrap_or_else(|| results_root().join(self.name));
        let summary = self.run_all(args.budget, &out, !args.quiet)?;
        if default_out {
            write_index(&results_root()).context("writing results/README.md")?;
        }
        if !summary.passed {
            eprintln!("some targets were missed (see the table above)");
            std::process::exit(2);
        }
        Ok(())
    }

    /// Runs the specs of `budget` (each on the system [`Experiment::system`] builds for it)
    /// into `out/<name>/` and writes `out/README.md` and `out/outcomes.json`. The summaries of
    /// an earlier run are removed first, so that a run killed midway leaves no summary that
    /// describes other reports than those beside it.
    pub fn run_all(&self, budget: Budget, out: &Path, progress: bool) -> Result<Summary> {
        clear_summaries(out)?;
        let mut outcomes = Vec::new();
        for spec in (self.specs)(budget) {
            let outcome = (self.system)(&spec)
                .and_then(|built| run_spec_on(&spec, built.as_ref(), out, progress))
                .with_context(|| format!("run {}", spec.name))?;
            println!("{}: {}", outcome.name, outcome.verdict);
            outcomes.push(outcome);
        }
        let passed = outcomes.iter().all(Outcome::passed);
        let summary = Summary {
            experiment: self.name.to_string(),
            question: self.question.to_string(),
            budget,
            outcomes,
            passed,
        };
        let table = table(&summary.outcomes);
        println!("\n{table}");
        let extra = match self.appendix {
            Some(appendix) => appendix(&summary, out).context("the experiment's own analysis")?,
            None => String::new(),
        };
        if !extra.is_empty() {
            println!("{extra}");
        }
        let markdown = format!(
            "# {}\n\n{}\n\nBudget: {budget:?}. Each run's report is in its folder \
             ({}).\n\n{table}\n{extra}",
            self.name,
            self.question,
            summary
                .outcomes
                .iter()
                .map(|o| format!("[{0}]({0}/report.md)", o.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        write_summaries(out, &markdown, &summary)?;
        Ok(summary)
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
        s += "\n";
    }
    write_atomically(&root.join("README.md"), |w| w.write_all(s.as_bytes()))
        .context("writing results/README.md")
}
