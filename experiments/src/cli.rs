//! What every experiment binary shares: its command line, running its specs, the printed
//! verdicts and table, `<out>/README.md`, `<out>/outcomes.json` and the `results/README.md`
//! index.

use std::path::{Path, PathBuf};

use std::io::Write;

use anyhow::{Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};

use dynrec_truth::Dynamics;

use crate::runner::{Outcome, run_system};
use crate::spec::{Budget, Spec};

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

/// The system a spec names ([`crate::SystemChoice::build`]).
pub fn spec_system(spec: &Spec) -> Result<Box<dyn Dynamics>> {
    spec.system.build()
}

/// Parses the command line, runs `specs(budget)` one after the other, prints each verdict and
/// a table, and writes the summaries. Exits with status 2 when a target is missed.
pub fn main(experiment: &str, question: &str, specs: fn(Budget) -> Vec<Spec>) -> Result<()> {
    main_with(experiment, question, specs, spec_system, None)
}

/// [`main`] for an experiment that builds its systems in code (see `docs/extending.md`):
/// `system` returns the system each spec runs on; `appendix`, when given, adds the
/// experiment's own analysis of the outcomes to its `README.md`.
pub fn main_with(
    experiment: &str,
    question: &str,
    specs: fn(Budget) -> Vec<Spec>,
    system: BuildSystem,
    appendix: Option<Appendix>,
) -> Result<()> {
    let args = Args::parse();
    let default_out = args.out.is_none();
    let out = args.out.unwrap_or_else(|| results_root().join(experiment));
    let summary = run_all(
        experiment,
        question,
        &specs(args.budget),
        system,
        appendix,
        args.budget,
        &out,
        !args.quiet,
    )?;
    if default_out {
        write_index(&results_root()).context("writing results/README.md")?;
    }
    if !summary.passed {
        eprintln!("some targets were missed (see the table above)");
        std::process::exit(2);
    }
    Ok(())
}

/// Runs the specs (each on the system `system` builds for it) into `out/<name>/` and writes
/// `out/README.md` and `out/outcomes.json`.
pub fn run_all(
    experiment: &str,
    question: &str,
    specs: &[Spec],
    system: BuildSystem,
    appendix: Option<Appendix>,
    budget: Budget,
    out: &Path,
    progress: bool,
) -> Result<Summary> {
    let mut outcomes = Vec::new();
    for spec in specs {
        let outcome = system(spec)
            .and_then(|built| run_system(spec, built.as_ref(), out, progress))
            .with_context(|| format!("run {}", spec.name))?;
        println!("{}: {}", outcome.name, outcome.verdict);
        outcomes.push(outcome);
    }
    let passed = outcomes.iter().all(Outcome::passed);
    let summary = Summary {
        experiment: experiment.to_string(),
        question: question.to_string(),
        budget,
        outcomes,
        passed,
    };
    let table = table(&summary.outcomes);
    println!("\n{table}");
    let extra = match appendix {
        Some(appendix) => appendix(&summary, out).context("the experiment's own analysis")?,
        None => String::new(),
    };
    if !extra.is_empty() {
        println!("{extra}");
    }
    let markdown = format!(
        "# {experiment}\n\n{question}\n\nBudget: {budget:?}. Each run's report is in its folder \
         ({}).\n\n{table}\n{extra}",
        summary
            .outcomes
            .iter()
            .map(|o| format!("[{0}]({0}/report.md)", o.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    dynrec_core::write_atomically(&out.join("README.md"), |w| w.write_all(markdown.as_bytes()))
        .context("writing the experiment summary")?;
    let json = serde_json::to_string_pretty(&summary)? + "\n";
    dynrec_core::write_atomically(&out.join("outcomes.json"), |w| w.write_all(json.as_bytes()))
        .context("writing outcomes.json")?;
    Ok(summary)
}

fn sci(x: Option<f64>) -> String {
    x.map_or("–".to_string(), |x| format!("{x:.2e}"))
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
            sci(Some(o.rnn_mse)),
            sci(o.kalman_mse),
            sci(o.truth_output_error_mse)
        );
        for b in &o.baselines {
            s += &format!(
                "| {} | baseline {}: eigen error / held-out one-step MSE / seconds | {} / {} / {:.2} | | |\n",
                o.name,
                b.name,
                sci(b.eigen_error),
                sci(Some(b.heldout_mse_one_step)),
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
    dynrec_core::write_atomically(&root.join("README.md"), |w| w.write_all(s.as_bytes()))
        .context("writing results/README.md")
}
