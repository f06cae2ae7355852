//! One run as stages, each returning a typed value:
//!
//! ```text
//! references (floors on held-out data) → train → analyse → baselines → checks → write
//! ```
//!
//! [`fit_and_report`] runs them on given data (what `dynrec fit` does with a user's file);
//! [`run_spec`] and [`run_spec_on`] simulate the data of an experiment [`Spec`] first.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dynrec_analysis::consistency::RestartFit;
use dynrec_analysis::match_eigenvalues;
use dynrec_analysis::modes::dominant_modes;
use dynrec_analysis::plots::{self, Floor, PredictionTrace, SingularValues};
use dynrec_analysis::{
    Analysis, AnalysisConfig, C64, DominantModes, EigenvalueBound, Report, analyse,
};
use dynrec_model::{Compute, Fit, Mode, NetworkConfig, SequenceData, TrainingConfig, train};
use dynrec_sysid::{CrbConfig, EigenCrb, cramer_rao};
use dynrec_truth::{Dataset, Dynamics, SimulationConfig, limits, simulate};
use nalgebra::DMatrix;
use serde::Serialize;

use crate::baselines::{BaselineOrder, Baselines, fit_baselines};
use crate::folder::ReportFolder;
use crate::outcome::{Measured, Outcome, checks};
use crate::progress::ProgressBarObserver;
use crate::references::{References, mean_network_input, network_predictions, pooled_mse};
use crate::spec::{BaselineSpec, Spec, Targets};
use crate::truth::Truth;

/// Everything about a fit except its data and its system: the network, how it is trained, and
/// how it is judged.
#[derive(Debug, Clone, Copy)]
pub struct FitSettings<'a> {
    /// The network.
    pub network: &'a NetworkConfig,
    /// The training.
    pub training: &'a TrainingConfig,
    /// Backend and precision.
    pub compute: Compute,
    /// Analysis settings.
    pub analysis: AnalysisConfig,
    /// Classical identification beside the RNN, on the same training data.
    pub baselines: &'a BaselineSpec,
    /// Targets to check.
    pub targets: Targets,
}

/// The data of a fit.
#[derive(Debug, Clone, Copy)]
pub struct FitData<'a> {
    /// Name of the run (progress bar, outcome).
    pub name: &'a str,
    /// Training data (the trainer holds out its own validation split from it).
    pub train: &'a Dataset,
    /// Data the network never saw, on which it is compared with the references.
    pub held_out: &'a Dataset,
    /// Remarks about the data for the report's notes (e.g. a trend that was or could be
    /// removed).
    pub notes: &'a [String],
}

/// What a report records as its `spec`: the spec itself and where it was run from.
#[derive(Debug, Serialize)]
pub struct SpecRecord<'a, S: Serialize> {
    /// The spec.
    #[serde(flatten)]
    pub spec: &'a S,
    /// [`git_commit`] when the run started.
    pub git_commit: String,
    /// Version of dynrec.
    pub dynrec_version: &'static str,
}

impl<'a, S: Serialize> SpecRecord<'a, S> {
    /// `spec` with the current commit and version.
    pub fn now(spec: &'a S) -> Self {
        Self {
            spec,
            git_commit: git_commit(),
            dynrec_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// `git rev-parse HEAD` of the working tree, `-dirty` appended when it has uncommitted changes
/// outside `results/`; `"unknown"` when git is unavailable.
pub fn git_commit() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(head) if !head.is_empty() => {
            // Source changes only: the experiments rewrite the tracked files under results/.
            let dirty = git(&[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)results",
            ])
            .is_some_and(|s| !s.is_empty());
            if dirty { format!("{head}-dirty") } else { head }
        }
        _ => "unknown".to_string(),
    }
}

/// Simulates a spec's data on the system it names and runs it into `out/<spec.name>/`.
pub fn run_spec(spec: &Spec, out: &Path, progress: bool) -> Result<Outcome> {
    let system = spec.system.build()?;
    run_spec_on(spec, system.as_ref(), out, progress)
}

/// [`run_spec`] with the system built by the caller: what an experiment binary that defines
/// its own dynamics calls (its spec's `system` is then
/// [`SystemChoice::Custom`](crate::spec::SystemChoice::Custom)).
pub fn run_spec_on(
    spec: &Spec,
    system: &dyn Dynamics,
    out: &Path,
    progress: bool,
) -> Result<Outcome> {
    let spec = spec.clone().seeded();
    let folder = ReportFolder::create(&out.join(&spec.name))?;
    let train_set = simulate(system, &spec.simulation).context("simulating training data")?;
    let held_out_config = SimulationConfig {
        sequences: spec.held_out.max(1),
        seed: spec.seed.wrapping_add(1),
        ..spec.simulation.clone()
    };
    let held_out = simulate(system, &held_out_config).context("simulating held-out data")?;
    let truth = Truth::new(system, spec.equilibrium.as_deref())?;
    fit_and_report(
        FitData {
            name: &spec.name,
            train: &train_set,
            held_out: &held_out,
            notes: &[],
        },
        Some(&truth),
        spec.settings(),
        &SpecRecord::now(&spec),
        folder,
        progress,
    )
}

/// The model crate's view of a data set.
fn sequence_data(data: &Dataset) -> Result<Vec<SequenceData>> {
    data.sequences
        .iter()
        .map(|s| {
            SequenceData::new(s.inputs.clone(), s.measurements.clone())
                .with_context(|| format!("sequence {}", s.id))
        })
        .collect()
}

/// A trained network and its predictions on the held-out data.
pub struct Trained {
    /// The network and its training report (with every restart's loss history).
    pub fit: Fit,
    /// Its outputs on each held-out sequence, `[p, T]`.
    pub predictions: Vec<DMatrix<f64>>,
    /// Their pooled MSE.
    pub mse: f64,
}

/// Refuses training data that cannot determine the network: a measurement channel that is
/// constant over every present training row (nothing to fit: the network's dynamics would be
/// arbitrary), and fewer present measurements than the network has parameters
/// (`n² + n d + p n`, plus `n + p` biases), which also bounds the hidden size by the data
/// before any memory is spent on it; and a network whose training would need more memory than
/// the machine has ([`dynrec_truth::limits::training_bytes`]), with the estimate in the
/// message.
pub fn check_trainable(train: &Dataset, network: &NetworkConfig) -> Result<()> {
    let p = train.n_outputs();
    for channel in 0..p {
        let mut present = train
            .sequences
            .iter()
            .flat_map(|s| {
                s.measurements
                    .row(channel)
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
            })
            .filter(|z| z.is_finite());
        let Some(first) = present.next() else {
            anyhow::bail!(
                "measurement z{} is missing in every training row",
                channel + 1
            );
        };
        if present.all(|z| z == first) {
            anyhow::bail!(
                "measurement z{} is constant ({first}) in every training row: there are no \
                 dynamics to fit; leave the column out",
                channel + 1
            );
        }
    }
    let n = network.d_hidden;
    let d = dynrec_model::data::network_input_size(network.mode, train.n_inputs(), p);
    let parameters = n
        .saturating_mul(n)
        .saturating_add(n.saturating_mul(d))
        .saturating_add(p.saturating_mul(n))
        .saturating_add(if network.bias { n + p } else { 0 });
    let measurements: usize = train
        .sequences
        .iter()
        .map(|s| s.measurements.iter().filter(|z| z.is_finite()).count())
        .sum();
    if measurements < parameters {
        anyhow::bail!(
            "the network ({n} hidden units, {d} inputs, {p} outputs) has {parameters} parameters \
             but the training data has only {measurements} present measurements: use fewer \
             hidden units or more data"
        );
    }
    let rows: usize = train.sequences.iter().map(|s| s.measurements.ncols()).sum();
    let (needed, detail) = limits::training_bytes(rows, n, d, train.n_inputs(), p);
    limits::check_memory(
        || format!("training {n} hidden units on {rows} rows"),
        detail,
        needed,
    )?;
    Ok(())
}

/// Stage 2: trains the network on `data.train` and predicts `data.held_out`.
pub fn train_network(
    data: FitData<'_>,
    settings: FitSettings<'_>,
    progress: bool,
) -> Result<Trained> {
    check_trainable(data.train, settings.network)?;
    let train_data = sequence_data(data.train)?;
    let device = settings.compute.device().context("compute device")?;
    let training = settings.training;
    let mut bar = ProgressBarObserver::new(
        data.name,
        training.restarts,
        training.max_steps,
        training.eval_every,
        progress,
    );
    let fit = train(&train_data, settings.network, training, &device, &mut bar)
        .context("training the RNN")?;
    bar.finish();
    let predictions = network_predictions(fit.weights(), &sequence_data(data.held_out)?)?;
    let mse = pooled_mse(
        data.held_out
            .sequences
            .iter()
            .map(|s| &s.measurements)
            .zip(predictions.iter().cloned()),
    );
    Ok(Trained {
        fit,
        predictions,
        mse,
    })
}

/// Stage 3: the weights analysed against the truth (when known); nonlinear networks are
/// linearised at a fixed point near the mean network input of the training data.
pub fn analyse_network(
    trained: &Trained,
    truth: Option<&Truth<'_>>,
    train: &Dataset,
    settings: FitSettings<'_>,
) -> Result<Analysis> {
    let mode = settings.network.mode;
    let truth_view = truth.map(|t| t.for_analysis(mode)).transpose()?;
    let input_mean = mean_network_input(&sequence_data(train)?, mode);
    let analysis = analyse(
        trained.fit.weights(),
        truth_view.as_ref(),
        Some(&input_mean),
        &settings.analysis,
    )
    .context("analysing the trained weights")?;
    Ok(analysis)
}

/// Stage 4: the classical baselines on the same training data, measured on the same held-out
/// data and added to the analysis (their eigenvalues beside the network's, their notes). Their
/// order is the true one when the system is known, otherwise the network's hidden size
/// `d_hidden` (and the singular-value gap's, when it differs).
pub fn compare_baselines(
    analysis: &mut Analysis,
    data: FitData<'_>,
    truth: Option<&Truth<'_>>,
    (spec, d_hidden): (&BaselineSpec, usize),
) -> Result<Baselines> {
    let order = match truth {
        Some(t) => BaselineOrder::True(t.system.n_states()),
        None => BaselineOrder::Asked(d_hidden),
    };
    let mut baselines = fit_baselines(spec, data.train, data.held_out, order)
        .context("evaluating the classical baselines")?;
    for (outcome, estimate) in &mut baselines.fitted {
        let added = analysis
            .add_baseline(&outcome.name, estimate.a())
            .context("adding a baseline to the analysis")?;
        outcome.eigen_error = added.matching.as_ref().map(|m| m.max_distance);
        // A predictor is compared with A − K H too: the estimate's own closed loop beside it.
        if analysis.mode == Mode::Predictor && !analysis.closed_loop.is_empty() {
            outcome.closed_loop_error = estimate
                .steady_state()
                .ok()
                .and_then(|ss| dynrec_analysis::eigenvalues(&ss.closed_loop).ok())
                .map(|eig| match_eigenvalues(&analysis.closed_loop, &eig).max_distance);
        }
    }
    analysis.notes.append(&mut baselines.notes);
    Ok(baselines)
}

/// Stage 5: how close to the limit. For a known linear truth, the Cramér–Rao bound on its
/// eigenvalues (and, in predictor mode, on those of `A − K H`) from the exact Fisher
/// information of the true parameters over this run's training sequences, placed beside the
/// eigen errors; otherwise, or when an eigenvalue is not identifiable from the data, a note
/// says why there is no bound.
pub fn bound_eigenvalues(
    analysis: &mut Analysis,
    truth: Option<&Truth<'_>>,
    train: &Dataset,
    mode: Mode,
) {
    let Some(truth) = truth else {
        return;
    };
    if let Some(e) = &truth.equilibrium {
        analysis.notes.push(format!(
            "No Cramér–Rao bound: the system is nonlinear, and its linearisation at `{}` is \
             not the model of the data.",
            e.name
        ));
        return;
    }
    let config = CrbConfig {
        closed_loop: mode == Mode::Predictor,
        ..CrbConfig::default()
    };
    let crb = match cramer_rao(&truth.linear, &train.sequences, &config) {
        Ok(crb) => crb,
        Err(e) => {
            analysis.notes.push(format!("No Cramér–Rao bound: {e}."));
            return;
        }
    };
    let bound = match &crb.open_loop {
        EigenCrb::Bound(b) => b,
        EigenCrb::NotIdentifiable(n) => {
            analysis.notes.push(not_identifiable("A", n));
            return;
        }
    };
    let pairs = |b: &dynrec_sysid::EigenBound| -> Vec<(C64, f64)> {
        b.eigenvalues
            .iter()
            .copied()
            .zip(b.std_devs.iter().copied())
            .collect()
    };
    let (closed_loop_std_devs, closed_loop_max_std) = match &crb.closed_loop {
        Some(EigenCrb::Bound(b)) => (
            Some(EigenvalueBound::aligned(&analysis.closed_loop, &pairs(b))),
            Some(b.max_std),
        ),
        Some(EigenCrb::NotIdentifiable(n)) => {
            analysis.notes.push(not_identifiable("A − K H", n));
            (None, None)
        }
        None => (None, None),
    };
    let rows: usize = train.sequences.iter().map(|s| s.len()).sum();
    let missing = train
        .sequences
        .iter()
        .any(|s| s.measurements.iter().any(|z| !z.is_finite()));
    analysis.add_bound(EigenvalueBound {
        std_devs: EigenvalueBound::aligned(&analysis.truth, &pairs(bound)),
        max_std: bound.max_std,
        closed_loop_std_devs,
        closed_loop_max_std,
        design: format!(
            "the exact expected Fisher information of (A, B, H, Q, R) at their true values over \
             this run's {} training sequences ({rows} rows{}{}), with x0 and P0 known, the \
             similarity directions removed",
            train.sequences.len(),
            if train.n_inputs() > 0 {
                ", their inputs as drawn"
            } else {
                ""
            },
            if missing {
                ", their missing measurements as they are"
            } else {
                ""
            },
        ),
    });
}

/// The note saying that an eigenvalue of `what` is not identifiable from the data.
fn not_identifiable(what: &str, n: &dynrec_sysid::NotIdentifiable) -> String {
    format!(
        "No Cramér–Rao bound on eig({what}): the eigenvalue {:.4} {} {:.4}i is not identifiable \
         from this data ({:.0}% of its gradient lies in the null space of the Fisher \
         information beyond the similarity directions).",
        n.worst.re,
        if n.worst.im < 0.0 { "−" } else { "+" },
        n.worst.im.abs(),
        100.0 * n.gradient_in_null_space
    )
}

/// Trains on `data.train`, compares with the references on `data.held_out`, analyses the
/// weights against `truth` when known, fits the baselines, checks the targets and writes
/// `report.json` (with `record` as its spec), `report.md`, the plots and the [`Outcome`]
/// (`outcome.json`) into `folder`, which then replaces any earlier report there as a whole. What `dynrec fit` and every experiment
/// run.
pub fn fit_and_report(
    data: FitData<'_>,
    truth: Option<&Truth<'_>>,
    settings: FitSettings<'_>,
    record: &impl Serialize,
    folder: ReportFolder,
    progress: bool,
) -> Result<Outcome> {
    let started = Instant::now();
    let dir = folder.target().to_path_buf();
    let references = References::measure(truth, data.held_out)?;
    let trained = train_network(data, settings, progress)?;
    let mut analysis = analyse_network(&trained, truth, data.train, settings)?;
    let baselines = compare_baselines(
        &mut analysis,
        data,
        truth,
        (settings.baselines, settings.network.d_hidden),
    )?;
    let restarts: Vec<RestartFit<'_>> = trained
        .fit
        .report
        .restarts
        .iter()
        .filter_map(|r| {
            r.weights.as_ref().map(|weights| RestartFit {
                val_loss: r.val_loss,
                weights,
            })
        })
        .collect();
    analysis.notes.extend(data.notes.iter().cloned());
    analysis.check_consistency(&restarts, &settings.analysis);
    if settings.network.mode == Mode::Predictor && truth.is_none() {
        // Each same-order baseline's steady-state predictor, run as a network runs: what the
        // network could have become.
        let same_order: Vec<(&str, f64)> = baselines
            .fitted
            .iter()
            .filter(|(o, _)| o.order == settings.network.d_hidden)
            .filter_map(|(o, system)| {
                crate::baselines::steady_state_mse(
                    settings.baselines,
                    data.train,
                    data.held_out,
                    system,
                )
                .map(|mse| (o.name.as_str(), mse))
            })
            .collect();
        analysis.check_one_step_error(trained.mse, &same_order);
    }
    if settings.network.mode == Mode::Simulation {
        // Each baseline fed the inputs alone, as a simulation-mode network runs.
        let simulators: Vec<(&str, usize, f64)> = baselines
            .fitted
            .iter()
            .filter_map(|(o, _)| {
                o.heldout_mse_output_error
                    .map(|mse| (o.name.as_str(), o.order, mse))
            })
            .collect();
        analysis.check_simulation_error(trained.mse, &simulators);
    }
    bound_eigenvalues(&mut analysis, truth, data.train, settings.network.mode);
    let outcome = outcome(
        data,
        settings,
        Stages {
            references: &references,
            trained: &trained,
            analysis: &analysis,
            baselines: &baselines,
        },
        truth,
        dir,
    );
    write_report(
        folder.path(),
        record,
        analysis.clone(),
        &outcome,
        Stages {
            references: &references,
            trained: &trained,
            analysis: &analysis,
            baselines: &baselines,
        },
        data.held_out,
    )?;
    let outcome = Outcome {
        seconds: started.elapsed().as_secs_f64(),
        ..outcome
    };
    outcome.write(folder.path())?;
    folder.commit()?;
    Ok(outcome)
}

/// What the stages produced, for the outcome and the report.
#[derive(Clone, Copy)]
struct Stages<'a> {
    references: &'a References,
    trained: &'a Trained,
    analysis: &'a Analysis,
    baselines: &'a Baselines,
}

/// Stage 5: the typed record of the run, with its targets checked.
fn outcome(
    data: FitData<'_>,
    settings: FitSettings<'_>,
    stages: Stages<'_>,
    truth: Option<&Truth<'_>>,
    dir: PathBuf,
) -> Outcome {
    let Stages {
        references,
        trained,
        analysis,
        baselines,
    } = stages;
    let mode = settings.network.mode;
    let measured = Measured {
        eigen_error: analysis.eigen_error(),
        closed_loop_error: analysis
            .closed_loop_matching
            .as_ref()
            .map(|m| m.max_distance),
        mse_ratio: references.floor(mode).map(|f| trained.mse / f),
        extra_mode_energy: analysis
            .extra_mode_energy()
            .filter(|_| analysis.order.is_some_and(|n| analysis.d_hidden > n)),
    };
    let report = &trained.fit.report;
    Outcome {
        name: data.name.to_string(),
        dir,
        verdict: analysis.verdict.clone(),
        eigen_error: measured.eigen_error,
        recurrent_error: analysis.recurrent_matching.as_ref().map(|m| m.max_distance),
        closed_loop_error: measured.closed_loop_error,
        extra_mode_energy: measured.extra_mode_energy,
        rnn_mse: trained.mse,
        kalman_mse: references.kalman_mse,
        truth_output_error_mse: references.truth_output_error_mse,
        mse_ratio: measured.mse_ratio,
        train_seconds: report.seconds,
        seconds: 0.0,
        checks: checks(
            &settings.targets,
            mode,
            settings.network.activation,
            measured,
        ),
        training: report.clone(),
        baselines: baselines.fitted.iter().map(|(o, _)| o.clone()).collect(),
        equilibrium: truth.and_then(|t| t.equilibrium.clone()),
        weights: Some(trained.fit.weights().clone()),
        crb_max_std: analysis.bound.as_ref().map(|b| b.max_std),
        crb_closed_loop_max_std: analysis.bound.as_ref().and_then(|b| b.closed_loop_max_std),
        dominant_modes: match (truth, time_step(data.train)) {
            (None, Some(dt)) => Some(DominantModes {
                time_step: dt,
                modes: dominant_modes(analysis, dt),
            }),
            _ => None,
        },
    }
}

/// The step between rows in units of the data's `t` column: the median of the positive
/// differences of `t` within sequences (`None` without any).
pub fn time_step(data: &Dataset) -> Option<f64> {
    let mut steps: Vec<f64> = data
        .sequences
        .iter()
        .flat_map(|s| s.t.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>())
        .filter(|d| d.is_finite() && *d > 0.0)
        .collect();
    if steps.is_empty() {
        return None;
    }
    steps.sort_by(f64::total_cmp);
    Some(steps[steps.len() / 2])
}

/// Stage 6: `report.json`, `report.md` and the plots in `dir`.
fn write_report(
    dir: &Path,
    record: &impl Serialize,
    analysis: Analysis,
    outcome: &Outcome,
    stages: Stages<'_>,
    held_out: &Dataset,
) -> Result<Report> {
    let mut plot_list =
        plots::analysis_plots(dir, &analysis).context("drawing the analysis plots")?;
    let baselines = stages.baselines;
    if let Some((values, order)) = &baselines.singular_values {
        let sv = SingularValues {
            values,
            order: *order,
            chosen_by: &baselines.order_source,
        };
        let files = plots::singular_value_plot(dir, "singular_values", &sv)
            .context("singular-value plot")?;
        plot_list.push((
            "N4SID singular values and the model order of the baselines".to_string(),
            files,
        ));
    }
    let mut report = Report::new(record, analysis).context("building the report")?;
    if let Some(d) = &outcome.dominant_modes {
        report = report.with_time_step(d.time_step);
    }
    for (key, value) in outcome.metrics() {
        report = report.metric(&key, value);
    }
    for (title, files) in plot_list {
        report = report.plot(&title, &files.png_name());
    }
    let references = stages.references;
    let floor = match stages.analysis.mode {
        Mode::Predictor => references.kalman_mse.map(|value| Floor {
            value,
            label: "Kalman predictor (Bayes floor)",
        }),
        Mode::Simulation => references.truth_output_error_mse.map(|value| Floor {
            value,
            label: "true system fed the inputs (output-error floor)",
        }),
    };
    let trained = stages.trained;
    if let Some(best) = trained.fit.report.best()
        && !best.history.adam_loss.is_empty()
    {
        let train = best.history.training_curve();
        let val = &best.history.validation_loss;
        let files = plots::loss_plot(dir, "loss", &train, val, floor).context("loss plot")?;
        report = report.plot(
            "Training (Adam, then L-BFGS) and validation loss of the best restart, against the floor",
            &files.png_name(),
        );
    }
    if let (Some(seq), Some(rnn)) = (held_out.sequences.first(), trained.predictions.first()) {
        let kf = references.kalman.as_ref().and_then(|k| k.first());
        let trace = PredictionTrace {
            measured: seq.measurements.row(0).iter().copied().collect(),
            rnn: rnn.row(0).iter().copied().collect(),
            kalman: kf.map(|kf| kf.row(0).iter().copied().collect()),
            channel: "z1".to_string(),
            unit: String::new(),
        };
        let files = plots::prediction_plot(dir, "prediction", &trace).context("prediction plot")?;
        report = report.plot(
            "A held-out sequence: measurements, RNN and Kalman predictions",
            &files.png_name(),
        );
    }
    report
        .write(dir)
        .with_context(|| format!("writing the report into {}", dir.display()))?;
    Ok(report)
}
