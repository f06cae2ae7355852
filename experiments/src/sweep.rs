//! Sweeps: one parameter varied, several seeds per value; per series, a table of the metric
//! and a sweep plot (mean and min–max over seeds, one line per method: the RNN and the
//! classical baselines), then the checks of every run. The runs themselves are an
//! [`Experiment`]'s like any other (parallel, sharded, resumable); this module says what a
//! sweep is and renders its summary from the outcomes.

use std::path::Path;

use anyhow::{Context, Result};
use dynrec_analysis::plots::{Sweep, SweepPoint, SweepSeries, sweep_plot};

use dynrec_pipeline::{Budget, Outcome, Spec};

use crate::cli::{Experiment, Summary, table};

/// One plot of a sweep: a label, its axes, the methods it compares and, per parameter value,
/// the specs of its seeds. Two series may plot different metrics of the same runs (list the
/// same specs in both: each run runs once).
pub struct Series {
    /// Title of its plot.
    pub label: String,
    /// Its parameter axis label.
    pub x_label: String,
    /// Its metric axis label.
    pub y_label: String,
    /// Log scale on the metric axis.
    pub log_y: bool,
    /// The methods compared: one line each on the plot, one column each in the table.
    pub methods: Vec<Method>,
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

/// A sweep: its plots, over one parameter axis scale.
pub struct SweepSpec {
    /// Log scale on the parameter axis.
    pub log_x: bool,
    /// The plots (one table and one plot each).
    pub series: Vec<Series>,
}

impl SweepSpec {
    /// Every spec of every series, in order, each once (series that plot other metrics of the
    /// same runs list the same specs).
    pub fn specs(self) -> Vec<Spec> {
        let mut seen = std::collections::HashSet::new();
        self.series
            .into_iter()
            .flat_map(|s| s.points.into_iter().flat_map(|(_, specs)| specs))
            .filter(|spec| seen.insert(spec.name.clone()))
            .collect()
    }
}

/// Parses the command line and runs the sweep experiment ([`Experiment::sweep`],
/// [`Experiment::main`]).
pub fn main(
    experiment: &'static str,
    question: &'static str,
    sweep: fn(Budget) -> SweepSpec,
) -> Result<()> {
    Experiment::sweep(experiment, question, sweep).main()
}

/// The Markdown of a sweep's summary (per series a table and a plot `sweep_<i>` written into
/// `out`, then the checks of every run), printing the per-seed values and the runs that missed
/// a target. Runs missing from `summary` are left out of the tables and plots.
pub fn render_sweep(spec: &SweepSpec, summary: &Summary, out: &Path) -> Result<String> {
    let outcomes = &summary.outcomes;
    let find = |name: &str| outcomes.iter().find(|o| o.name == name);
    let mut markdown = format!(
        "# {}\n\n{}\n\nBudget: {:?}.\n\n",
        summary.experiment, summary.question, summary.budget
    );
    let mut lines = String::new();
    for (i, series) in spec.series.iter().enumerate() {
        let labels: Vec<&str> = series.methods.iter().map(|m| m.label.as_str()).collect();
        let mut curves: Vec<Vec<SweepPoint>> = vec![Vec::new(); series.methods.len()];
        markdown += &format!(
            "## {}\n\n{} (per seed).\n\n| {} | {} |\n|---|{}\n",
            series.label,
            series.y_label,
            series.x_label,
            labels.join(" | "),
            "---|".repeat(labels.len())
        );
        lines += &format!(
            "{}, per seed, vs {} ({}):\n",
            series.y_label,
            series.x_label,
            labels.join(" | ")
        );
        for (x, specs) in &series.points {
            let mut cells = Vec::new();
            for (method, curve) in series.methods.iter().zip(&mut curves) {
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
            y_label: series.y_label.clone(),
            log_x: spec.log_x,
            log_y: series.log_y,
            series: series
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
        let files = sweep_plot(out, &stem, &plot).context("sweep plot")?;
        markdown += &format!("\n![{}]({})\n\n", series.label, files.png_name());
    }
    let checks = table(outcomes);
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
    println!("{lines}");
    markdown += &format!("## Every run\n\n{checks}\n");
    Ok(markdown)
}
