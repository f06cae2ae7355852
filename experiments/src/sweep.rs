//! Sweeps: one parameter varied, several seeds per value, all runs in parallel (rayon) under one
//! `indicatif` bar; a sweep plot (mean and min–max over seeds, one line per method: the RNN and
//! the classical baselines) and a table of the metric.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Parser;
use dynrec_analysis::plots::{Sweep, SweepPoint, SweepSeries, sweep_plot};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use dynrec_pipeline::{Budget, Outcome, Spec, run_spec};

use crate::cli::{
    Args, Summary, clear_summaries, results_root, table, write_index, write_summaries,
};

/// One curve: a label and, per parameter value, the specs of its seeds.
pub struct Series {
    /// Title of its plot.
    pub label: String,
    /// Its parameter axis label.
    pub x_label: String,
    /// `(x, specs)`: one spec per seed.
    pub points: Vec<(f64, Vec<Spec>)>,
}

/// One method compared in a sweep: a legend entry and how to read its metric off an outcome.
pub struct Method {
    /// Legend entry and table column, e.g. `"RNN"`, `"N4SID"`.
    pub label: String,
    /// The metric (`None`: this method did not run or has no value).
    pub metric: fn(&Outcome) -> Option<f64>,
}

impl Method {
    /// A method labelled `label` whose metric is `metric`.
    pub fn new(label: &str, metric: fn(&Outcome) -> Option<f64>) -> Self {
        Self {
            label: label.to_string(),
            metric,
        }
    }

    /// The eigen errors of the RNN and of the classical baselines (N4SID, EM): the methods of
    /// a sweep of the eigen error.
    pub fn eigen_errors() -> Vec<Self> {
        vec![
            Self::new("RNN", |o| o.eigen_error),
            Self::new("N4SID", |o| o.baseline("n4sid").and_then(|b| b.eigen_error)),
            Self::new("EM", |o| o.baseline("em").and_then(|b| b.eigen_error)),
        ]
    }
}

/// A sweep: its curves and how to read a metric off an outcome.
pub struct SweepSpec {
    /// Metric axis label.
    pub y_label: String,
    /// Log scale on the parameter axis.
    pub log_x: bool,
    /// Log scale on the metric axis.
    pub log_y: bool,
    /// The methods compared: one line each on every plot, one column each in the table.
    pub methods: Vec<Method>,
    /// The swept parameters (one plot each).
    pub series: Vec<Series>,
}

/// Runs a sweep binary: every spec in parallel, then per-series plots, the table, the summary
/// and the `results/README.md` index. Exits with status 2 when a target is missed.
pub fn main(experiment: &str, question: &str, sweep: fn(Budget) -> SweepSpec) -> Result<()> {
    let args = Args::parse();
    let default_out = args.out.is_none();
    let out = args.out.unwrap_or_else(|| results_root().join(experiment));
    let spec = sweep(args.budget);
    clear_summaries(&out)?;
    let all: Vec<&Spec> = spec
        .series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(|(_, specs)| specs.iter()))
        .collect();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(all.len() as u64)
    };
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(experiment.to_string());
    let outcomes: Vec<Outcome> = all
        .par_iter()
        .map(|s| {
            let o = run_spec(s, &out, false).with_context(|| format!("run {}", s.name));
            bar.inc(1);
            o
        })
        .collect::<Result<_>>()?;
    bar.finish_and_clear();
    for o in &outcomes {
        println!("{}: {}", o.name, o.verdict);
    }

    let find = |name: &str| outcomes.iter().find(|o| o.name == name);
    let mut markdown = format!(
        "# {experiment}\n\n{question}\n\nBudget: {:?}.\n\n",
        args.budget
    );
    let mut lines = String::new();
    let labels: Vec<&str> = spec.methods.iter().map(|m| m.label.as_str()).collect();
    for (i, series) in spec.series.iter().enumerate() {
        let mut curves: Vec<Vec<SweepPoint>> = vec![Vec::new(); spec.methods.len()];
        markdown += &format!(
            "## {}\n\n{} (per seed).\n\n| {} | {} |\n|---|{}\n",
            series.label,
            spec.y_label,
            series.x_label,
            labels.join(" | "),
            "---|".repeat(labels.len())
        );
        lines += &format!("{} ({}):\n", series.x_label, labels.join(" | "));
        for (x, specs) in &series.points {
            let mut cells = Vec::new();
            for (method, curve) in spec.methods.iter().zip(&mut curves) {
                let values: Vec<f64> = specs
                    .iter()
                    .filter_map(|s| find(&s.name).and_then(method.metric))
                    .collect();
                cells.push(if values.is_empty() {
                    "–".to_string()
                } else {
                    values
                        .iter()
                        .map(|v| format!("{v:.3e}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                curve.push(SweepPoint { x: *x, values });
            }
            lines += &format!("  {x}: {}\n", cells.join(" | "));
            markdown += &format!("| {x} | {} |\n", cells.join(" | "));
        }
        let plot = Sweep {
            title: series.label.clone(),
            x_label: series.x_label.clone(),
            y_label: spec.y_label.clone(),
            log_x: spec.log_x,
            log_y: spec.log_y,
            series: spec
                .methods
                .iter()
                .zip(curves)
                .filter(|(_, points)| points.iter().any(|p| !p.values.is_empty()))
                .map(|(method, points)| SweepSeries {
                    label: method.label.clone(),
                    points,
                })
                .collect(),
        };
        let stem = format!("sweep_{i}");
        let files = sweep_plot(&out, &stem, &plot).context("sweep plot")?;
        markdown += &format!("\n![{}]({})\n\n", series.label, files.png_name());
    }
    let passed = outcomes.iter().all(Outcome::passed);
    let checks = table(&outcomes);
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed()).collect();
    println!(
        "\n{} runs, {} missed a target{}",
        outcomes.len(),
        failed.len(),
        failed
            .iter()
            .map(|o| format!(" {}", o.name))
            .collect::<String>()
    );
    println!("{} (per seed):\n{lines}", spec.y_label);
    markdown += &format!("## Every run\n\n{checks}\n");
    let summary = Summary {
        experiment: experiment.to_string(),
        question: question.to_string(),
        budget: args.budget,
        outcomes,
        passed,
    };
    write_summaries(&out, &markdown, &summary)?;
    if default_out {
        write_index(Path::new(&results_root())).context("writing results/README.md")?;
    }
    if !passed {
        eprintln!("some targets were missed");
        std::process::exit(2);
    }
    Ok(())
}
