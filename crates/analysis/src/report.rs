//! `report.json` and `report.md`, written atomically.
//!
//! `report.json` carries the fields that other tools read (see docs/formats.md): `spec`,
//! `eigenvalues.{truth, rnn, recurrent, closed_loop, <baseline>}` as `[[re, im], ...]`, and
//! `eigen_error.{rnn, recurrent, recurrent_vs_closed_loop, <baseline>}`; then the verdict, the
//! caller's metrics, the plots and the full analysis. `report.md` is for a reader: verdict
//! first, then the eigenvalue table, metrics, plots, and the full spec last.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::eigen::{C64, EigenInfo};
use crate::error::{Result, io_error};
use crate::matching::Matching;
use crate::modes::{ModeSummary, dominant_modes};
use crate::verdict::activation_name;
use dynrec_core::io::write_bytes_atomically;
use dynrec_core::serde_matrix::to_pairs;
use dynrec_core::weights::{Activation, Mode};

/// A plot linked from the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlotLink {
    /// Caption.
    pub title: String,
    /// Path relative to the report's folder.
    pub path: String,
}

/// The contents of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The experiment spec exactly as the caller serialised it (seed included).
    pub spec: serde_json::Value,
    /// One sentence: did the weights reveal A?
    pub verdict: String,
    /// Eigenvalue sets as `[[re, im], ...]`.
    pub eigenvalues: BTreeMap<String, Vec<[f64; 2]>>,
    /// Eigen errors (largest matched distance) per estimate.
    pub eigen_error: BTreeMap<String, f64>,
    /// Each eigen error over the Cramér–Rao bound's `max σ` for the run's data (when the
    /// truth is linear and known): `rnn`, `recurrent`, each baseline, and
    /// `recurrent_vs_closed_loop` against the bound on eig(A − K H).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub eigen_error_crb_ratio: BTreeMap<String, f64>,
    /// The caller's scalar metrics (losses, Kalman floor, ...); `null` for a non-finite value.
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Plots, relative to the report's folder.
    pub plots: Vec<PlotLink>,
    /// Everything the analysis found.
    pub analysis: Analysis,
    /// Without a known truth: the dominant modes in the data's time unit (see
    /// [`Report::with_time_step`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dominant_modes: Option<DominantModes>,
}

/// The dominant modes of a report without a known truth, in units of the data's `t` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DominantModes {
    /// The step between rows, in units of `t`.
    pub time_step: f64,
    /// The modes, largest energy share first.
    pub modes: Vec<ModeSummary>,
}

/// Where a report was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `DIR/report.json`.
    pub json: PathBuf,
    /// `DIR/report.md`.
    pub markdown: PathBuf,
}

impl Report {
    /// Builds a report from a serialisable spec and an analysis.
    pub fn new(spec: &impl Serialize, analysis: Analysis) -> Result<Self> {
        let spec = serde_json::to_value(spec)?;
        let mut eigenvalues = BTreeMap::new();
        let mut eigen_error = BTreeMap::new();
        let mut put = |key: &str, values: &[C64], matching: Option<&Matching>| {
            eigenvalues.insert(key.to_string(), to_pairs(values));
            if let Some(m) = matching {
                eigen_error.insert(key.to_string(), m.max_distance);
            }
        };
        if !analysis.truth.is_empty() {
            put("truth", &analysis.truth, None);
        }
        put("rnn", &analysis.rnn, analysis.rnn_matching.as_ref());
        put(
            "recurrent",
            &analysis.recurrent,
            analysis.recurrent_matching.as_ref(),
        );
        if !analysis.closed_loop.is_empty() {
            put("closed_loop", &analysis.closed_loop, None);
        }
        for b in &analysis.baselines {
            put(&b.name, &b.eigenvalues, b.matching.as_ref());
        }
        if let Some(m) = &analysis.closed_loop_matching {
            eigen_error.insert("recurrent_vs_closed_loop".to_string(), m.max_distance);
        }
        Ok(Self {
            spec,
            verdict: analysis.verdict.clone(),
            eigenvalues,
            eigen_error,
            metrics: BTreeMap::new(),
            plots: Vec::new(),
            eigen_error_crb_ratio: analysis.eigen_error_crb_ratios(),
            analysis,
            dominant_modes: None,
        })
    }

    /// Adds a scalar metric (e.g. `"validation_mse"`, `"kalman_mse"`).
    pub fn metric(mut self, name: &str, value: f64) -> Self {
        self.metrics
            .insert(name.to_string(), value.is_finite().then_some(value));
        self
    }

    /// Without a known truth, adds the dominant modes in the data's time unit, `time_step` being
    /// the step between rows in units of `t` (with a truth the eigenvalue table already says
    /// what each mode is, and this does nothing).
    pub fn with_time_step(mut self, time_step: f64) -> Self {
        if self.analysis.truth.is_empty() && time_step.is_finite() && time_step > 0.0 {
            self.dominant_modes = Some(DominantModes {
                time_step,
                modes: dominant_modes(&self.analysis, time_step),
            });
        }
        self
    }

    /// Links a plot, given relative to the report's folder.
    pub fn plot(mut self, title: &str, relative_path: &str) -> Self {
        self.plots.push(PlotLink {
            title: title.to_string(),
            path: relative_path.to_string(),
        });
        self
    }

    /// Reads a `report.json` back.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// Writes `dir/report.json` and `dir/report.md`, creating `dir`; each file is written to a
    /// temporary file in `dir` and renamed into place, so no half-written report exists.
    pub fn write(&self, dir: &Path) -> Result<ReportFiles> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let json = dir.join("report.json");
        let markdown = dir.join("report.md");
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        write_bytes_atomically(&json, text.as_bytes())?;
        write_bytes_atomically(&markdown, self.markdown()?.as_bytes())?;
        Ok(ReportFiles { json, markdown })
    }

    /// The Markdown report: title, verdict and network, then the eigenvalue table, metrics,
    /// modes, fixed points, notes, plots, and the spec last.
    pub fn markdown(&self) -> Result<String> {
        let mut md = String::new();
        self.verdict_section(&mut md);
        self.network_line(&mut md);
        self.eigenvalue_table(&mut md);
        self.dominant_modes_table(&mut md);
        self.metrics_table(&mut md);
        self.modes_table(&mut md);
        self.fixed_points_table(&mut md);
        self.notes(&mut md);
        self.plot_links(&mut md);
        self.spec(&mut md)?;
        Ok(md)
    }

    // Each section below appends to `md`; `write!` into a String cannot fail, so the results
    // are ignored with `let _`.

    /// The title and the verdict.
    fn verdict_section(&self, md: &mut String) {
        let _ = writeln!(md, "# dynrec report\n");
        let _ = writeln!(md, "**Verdict.** {}\n", self.verdict);
    }

    /// Without a truth: the dominant modes in the data's time unit, each with every baseline's
    /// nearest eigenvalue.
    fn dominant_modes_table(&self, md: &mut String) {
        let Some(d) = &self.dominant_modes else {
            return;
        };
        let _ = writeln!(md, "## Dominant modes, in units of t\n");
        let _ = writeln!(
            md,
            "The modes that carry {:.0}% of the output energy (a pair counted once), with the \
             step between rows dt = {} (from the data's t column): period = 2π dt/|angle λ|, \
             damping time = −dt/ln|λ| (the e-folding time of the amplitude). Beside each, the \
             nearest eigenvalue of every classical baseline, with its period and its distance \
             |λ − λ_baseline|.\n",
            100.0
                * self
                    .analysis
                    .modes
                    .as_ref()
                    .map_or(0.0, |m| m.energy_fraction),
            d.time_step
        );
        let baselines: Vec<String> = self
            .analysis
            .baselines
            .iter()
            .map(|b| b.name.clone())
            .collect();
        let mut head = vec!["λ", "abs λ", "period", "damping time", "energy"];
        head.extend(baselines.iter().map(String::as_str));
        table_head(md, &head);
        let or_dash = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{x:.4}"));
        for m in &d.modes {
            let mut row = format!(
                "| {} | {:.4} | {} | {} | {:.2e} |",
                complex(C64::new(m.eigenvalue[0], m.eigenvalue[1])),
                m.modulus,
                or_dash(m.period),
                or_dash(m.damping_time),
                m.energy_share
            );
            for name in &baselines {
                let cell =
                    m.nearest
                        .iter()
                        .find(|n| &n.baseline == name)
                        .map_or(String::new(), |n| {
                            format!(
                                "abs {:.4}, period {} (distance {:.2e})",
                                C64::new(n.eigenvalue[0], n.eigenvalue[1]).norm(),
                                or_dash(n.period),
                                n.distance
                            )
                        });
                row += &format!(" {cell} |");
            }
            let _ = writeln!(md, "{row}");
        }
        let _ = writeln!(md);
    }

    /// One line on the network: mode, activation, hidden units (and the true order).
    fn network_line(&self, md: &mut String) {
        let a = &self.analysis;
        let _ = writeln!(
            md,
            "Network: {} mode, {} activation, {} hidden units{}.\n",
            match a.mode {
                Mode::Simulation => "simulation",
                Mode::Predictor => "predictor",
            },
            activation_name(a.activation),
            a.d_hidden,
            a.order
                .map_or(String::new(), |n| format!("; true state dimension {n}"))
        );
    }

    /// Every eigenvalue set with its matched partner and error: truth, the recovered
    /// dynamics (with each mode's energy share), `U` as trained, `A − K H`, the baselines.
    fn eigenvalue_table(&self, md: &mut String) {
        let a = &self.analysis;
        let _ = writeln!(md, "## Eigenvalues\n");
        let _ = writeln!(
            md,
            "Angle in radians per step; period = 2π/|angle| in steps (— for a positive real \
             eigenvalue). \"Matched\" is the partner after optimal (bottleneck) matching and \
             \"error\" its distance. Energy is the mode's share of the output energy.{}\n",
            if a.bound.is_some() {
                " CRB σ is the Cramér–Rao bound's standard deviation of each true eigenvalue \
                 (and of each eigenvalue of A − K H) for this run's data: no unbiased estimator \
                 does better on average."
            } else {
                ""
            }
        );
        let mut head = vec![
            "set", "λ", "abs λ", "angle", "period", "matched", "error", "energy",
        ];
        if a.bound.is_some() {
            head.push("CRB σ");
        }
        table_head(md, &head);
        let none = |_: usize| self.extra_cells(String::new(), String::new());
        let energy = |j: usize| {
            let e = a
                .modes
                .as_ref()
                .and_then(|m| m.mode(j))
                .map_or(String::new(), |m| format!("{:.2e}", m.energy_share));
            self.extra_cells(e, String::new())
        };
        let sigma = |values: Option<&Vec<f64>>, j: usize| {
            values
                .and_then(|v| v.get(j))
                .map_or(String::new(), |s| format!("{s:.2e}"))
        };
        let bound = a.bound.as_ref();
        let truth_sigma =
            |j: usize| self.extra_cells(String::new(), sigma(bound.map(|b| &b.std_devs), j));
        let closed_loop_sigma = |j: usize| {
            self.extra_cells(
                String::new(),
                sigma(bound.and_then(|b| b.closed_loop_std_devs.as_ref()), j),
            )
        };
        eigenvalue_rows(md, "truth: A", &a.truth, &[], None, &truth_sigma);
        eigenvalue_rows(
            md,
            "RNN: recovered dynamics",
            &a.rnn,
            &a.truth,
            a.rnn_matching.as_ref(),
            &energy,
        );
        // A linear predictor's U is to be compared with A − K H, not A.
        match (&a.closed_loop_matching, a.activation) {
            (Some(cl), Activation::Linear) => eigenvalue_rows(
                md,
                "RNN: U as trained (vs A − K H)",
                &a.recurrent,
                &a.closed_loop,
                Some(cl),
                &none,
            ),
            _ => eigenvalue_rows(
                md,
                "RNN: U as trained",
                &a.recurrent,
                &a.truth,
                a.recurrent_matching.as_ref(),
                &none,
            ),
        }
        eigenvalue_rows(
            md,
            "Kalman: A − K H",
            &a.closed_loop,
            &[],
            None,
            &closed_loop_sigma,
        );
        self.baseline_rows(md);
        let _ = writeln!(md);
    }

    /// The last cells of an eigenvalue row: the energy and, when the report has a bound, σ.
    fn extra_cells(&self, energy: String, sigma: String) -> String {
        match self.analysis.bound {
            Some(_) => format!("{energy} | {sigma}"),
            None => energy,
        }
    }

    /// The baselines' rows of the eigenvalue table, each matched against the truth.
    fn baseline_rows(&self, md: &mut String) {
        let a = &self.analysis;
        for b in &a.baselines {
            eigenvalue_rows(
                md,
                &b.name,
                &b.eigenvalues,
                &a.truth,
                b.matching.as_ref(),
                &|_| self.extra_cells(String::new(), String::new()),
            );
        }
    }

    /// Eigen errors, Markov and similarity residuals, R², then the caller's metrics.
    fn metrics_table(&self, md: &mut String) {
        let a = &self.analysis;
        let _ = writeln!(md, "## Metrics\n");
        table_head(md, &["metric", "value"]);
        for (k, v) in &self.eigen_error {
            let _ = writeln!(md, "| eigen error: {k} | {v:.3e} |");
        }
        if let Some(m) = &a.markov {
            let _ = writeln!(
                md,
                "| Markov parameters, relative error (lags 0..{}) | {:.3e} |",
                m.truth.len().saturating_sub(1),
                m.relative_error
            );
        }
        if let Some(s) = &a.similarity {
            for (what, residual) in [
                ("U ≈ T A T⁻¹", s.residual_dynamics),
                ("W ≈ T B", s.residual_input),
                ("V ≈ H T⁻¹", s.residual_output),
            ] {
                let _ = writeln!(md, "| T: residual of {what} (relative) | {residual:.3e} |");
            }
            let _ = writeln!(md, "| T: condition number | {:.3e} |", s.condition);
        }
        if let Some(r) = &a.state_regression {
            let _ = writeln!(
                md,
                "| R² of hidden state on true state | {:.4} |",
                r.r_squared
            );
            let per_unit: Vec<String> = r
                .r_squared_per_unit
                .iter()
                .map(|x| format!("{x:.3}"))
                .collect();
            let _ = writeln!(md, "| R² per hidden unit | {} |", per_unit.join(", "));
        }
        for (k, v) in &self.metrics {
            let _ = writeln!(
                md,
                "| {k} | {} |",
                v.map_or("not finite".to_string(), |v| format!("{v:.4e}"))
            );
        }
        let _ = writeln!(md);
    }

    /// The recovered modes ranked by their contribution to the output (when ranked).
    fn modes_table(&self, md: &mut String) {
        let Some(modes) = &self.analysis.modes else {
            return;
        };
        let _ = writeln!(
            md,
            "## Modes ranked by contribution to the output\n\n\
             Gain = residue / (1 − abs λ); {} dominant mode(s) carry {:.0}% of the output energy.\n",
            modes.dominant_count(),
            100.0 * modes.energy_fraction
        );
        table_head(md, &["λ", "residue", "gain", "energy share", "dominant"]);
        for m in &modes.modes {
            let _ = writeln!(
                md,
                "| {} | {:.3e} | {} | {:.3e} | {} |",
                complex(C64::new(m.eigenvalue[0], m.eigenvalue[1])),
                m.residue,
                if m.gain.is_finite() {
                    format!("{:.3e}", m.gain)
                } else {
                    "∞".to_string()
                },
                m.energy_share,
                yes_no(m.dominant)
            );
        }
        let _ = writeln!(md);
    }

    /// The fixed points found for the mean input (nonlinear networks).
    fn fixed_points_table(&self, md: &mut String) {
        let Some(fp) = &self.analysis.fixed_points else {
            return;
        };
        let _ = writeln!(
            md,
            "## Fixed points for the mean input\n\nThe first is the operating point \
             (the stable one nearest the state the network settles at from h = 0).\n"
        );
        table_head(md, &["h*", "residual", "spectral radius", "stable"]);
        for p in &fp.points {
            let h: Vec<String> = p.h.iter().map(|x| format!("{x:.4}")).collect();
            let _ = writeln!(
                md,
                "| [{}] | {:.1e} | {:.4} | {} |",
                h.join(", "),
                p.residual,
                p.spectral_radius,
                yes_no(p.stable)
            );
        }
        let _ = writeln!(md);
    }

    /// The analysis's notes as a list (when there are any).
    fn notes(&self, md: &mut String) {
        let notes = &self.analysis.notes;
        if notes.is_empty() {
            return;
        }
        let _ = writeln!(md, "## Notes\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
        let _ = writeln!(md);
    }

    /// Each plot under its title, linked relative to the report's folder.
    fn plot_links(&self, md: &mut String) {
        if self.plots.is_empty() {
            return;
        }
        let _ = writeln!(md, "## Plots\n");
        for p in &self.plots {
            let _ = writeln!(md, "### {}\n\n![{}]({})\n", p.title, p.title, p.path);
        }
    }

    /// The spec as pretty JSON, last.
    fn spec(&self, md: &mut String) -> Result<()> {
        let _ = writeln!(
            md,
            "## Spec\n\n```json\n{}\n```",
            serde_json::to_string_pretty(&self.spec)?
        );
        Ok(())
    }
}

/// One row per eigenvalue of `values`: `λ`, `|λ|`, angle, period, the partner in `reference`
/// that `matching` assigns it (`unmatched` when it has none) with their distance, and
/// `energy(j)` for the `j`-th value.
fn eigenvalue_rows(
    md: &mut String,
    set: &str,
    values: &[C64],
    reference: &[C64],
    matching: Option<&Matching>,
    energy: &dyn Fn(usize) -> String,
) {
    for (j, v) in values.iter().enumerate() {
        let info = EigenInfo::new(*v);
        let (partner, err) = match matching.and_then(|m| m.truth_for_estimate(j)) {
            Some(p) => (complex(reference[p.truth]), format!("{:.2e}", p.distance)),
            None if matching.is_some() => ("unmatched".to_string(), String::new()),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            md,
            "| {set} | {} | {:.4} | {:.4} | {} | {partner} | {err} | {} |",
            complex(*v),
            info.modulus,
            info.angle,
            info.period.map_or("—".to_string(), |p| format!("{p:.2}")),
            energy(j)
        );
    }
}

/// A Markdown table's header: `| a | b |`, then the separator `|---|---|`.
fn table_head(md: &mut String, columns: &[&str]) {
    let _ = writeln!(md, "| {} |", columns.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(columns.len()));
}

/// `yes` or `no`.
fn yes_no(x: bool) -> &'static str {
    if x { "yes" } else { "no" }
}

/// `a ± bi` with four decimals.
fn complex(z: C64) -> String {
    if z.im == 0.0 {
        format!("{:.4}", z.re)
    } else {
        format!(
            "{:.4} {} {:.4}i",
            z.re,
            if z.im < 0.0 { "−" } else { "+" },
            z.im.abs()
        )
    }
}
