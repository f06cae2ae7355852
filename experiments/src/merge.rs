//! The summaries of an experiment, rebuilt from its run folders alone: `<out>/README.md`,
//! `<out>/outcomes.json` and the sweep plots. What an unsharded run writes after its runs and
//! what `--merge` writes after the shards, with one function, so the two cannot differ.
//!
//! Each run's numbers come from its folder's `outcome.json` (one complete run per spec,
//! [`RunState`]); the tables, the plots and an experiment's appendix are derived from them.
//! Runs without a complete result are listed (with the error of a failed one) in the summaries
//! and on the console.

use std::path::Path;

use anyhow::{Context, Result};

use dynrec_model::Backend;
use dynrec_pipeline::{Budget, Outcome, RunState};

use crate::cli::{Experiment, Missing, Runs, Summary, table, write_summaries};
use crate::runner::failure_file;
use crate::sweep::render_sweep;

/// Reads every run of `budget` (on `backend`, when given) from `out`, writes `out/README.md`,
/// `out/outcomes.json` and the sweep plots, prints the verdicts and the tables, and returns the
/// summary (its `missing` lists the runs without a complete result).
pub fn merge(
    experiment: &Experiment,
    budget: Budget,
    backend: Option<Backend>,
    out: &Path,
) -> Result<Summary> {
    let mut outcomes = Vec::new();
    let mut missing = Vec::new();
    for spec in experiment.specs(budget, backend)? {
        match RunState::of(&spec, out) {
            RunState::Complete(outcome) => outcomes.push(*outcome),
            RunState::Absent => missing.push(Missing {
                reason: failure(out, &spec.name)
                    .unwrap_or_else(|| "not run (or stopped before it completed)".to_string()),
                name: spec.name,
            }),
            RunState::Other(why) => missing.push(Missing {
                reason: failure(out, &spec.name).unwrap_or(why),
                name: spec.name,
            }),
        }
    }
    let passed = missing.is_empty() && outcomes.iter().all(Outcome::passed);
    let summary = Summary {
        experiment: experiment.name.to_string(),
        question: experiment.question.to_string(),
        budget,
        outcomes,
        passed,
        missing,
    };
    for o in &summary.outcomes {
        println!("{}: {}", o.name, o.verdict);
    }
    let mut markdown = match experiment.runs {
        Runs::Specs(_) => {
            let table = table(&summary.outcomes);
            println!("\n{table}");
            format!(
                "# {}\n\n{}\n\nBudget: {budget:?}. Each run's report is in its folder \
                 ({}).\n\n{table}\n",
                experiment.name,
                experiment.question,
                summary
                    .outcomes
                    .iter()
                    .map(|o| format!("[{0}]({0}/report.md)", o.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Runs::Sweep(sweep) => render_sweep(&sweep(budget), &summary, out)?,
    };
    if let Some(appendix) = experiment.appendix {
        let extra = appendix(&summary, out).context("the experiment's own analysis")?;
        if !extra.is_empty() {
            println!("{extra}");
        }
        markdown += &extra;
    }
    if !summary.missing.is_empty() {
        let list: String = summary
            .missing
            .iter()
            .map(|m| format!("- {}: {}\n", m.name, m.reason))
            .collect();
        let section = format!(
            "\n## Missing runs\n\n{} of {} runs have no complete result:\n\n{list}",
            summary.missing.len(),
            summary.missing.len() + summary.outcomes.len()
        );
        println!("{section}");
        markdown += &section;
    }
    write_summaries(out, &markdown, &summary)?;
    Ok(summary)
}

/// `failed: <error>` when the last attempt at the run failed.
fn failure(out: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(failure_file(out, name))
        .ok()
        .map(|e| format!("failed: {}", e.trim()))
}
