//! The one runner every experiment calls: spec → simulate → Kalman reference → train → analyse
//! → `report.json`, `report.md` and plots in `<out>/<name>/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dynrec_analysis::plots::{self, Floor, PredictionTrace, SingularValues};
use dynrec_analysis::{Analysis, Report, TrueSystem, analyse};
use dynrec_model::{Activation, Mode, RnnWeights, SequenceData, TrainingReport, train};
use dynrec_truth::{Dataset, Dynamics, Equilibrium, LinearSystem, SimulationConfig, simulate};
use serde::{Deserialize, Serialize};

use crate::baselines::{BaselineOutcome, Baselines, fit_baselines};
use crate::progress::Recorder;
use crate::reference::{
    kalman_predictions, mean_network_input, network_predictions, output_error_predictions,
    pooled_mse,
};
use crate::spec::{BaselineSpec, Spec, Targets};
use dynrec_analysis::AnalysisConfig;
use dynrec_model::{Compute, NetworkConfig, TrainingConfig};

/// One checked target: the measured value, the bound, and whether it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is measured.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// The bound it must not exceed (`None`: measured and reported, not targeted).
    pub target: Option<f64>,
    /// `value ≤ target` (true when there is no target).
    pub pass: bool,
}

/// What a run measured (also in its report's `metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The spec's name.
    pub name: String,
    /// Where the report was written.
    pub dir: PathBuf,
    /// The analysis's one-sentence verdict.
    pub verdict: String,
    /// Eigen error of the recovered dynamics against `A`.
    pub eigen_error: Option<f64>,
    /// Eigen error of `U` against `A` (equal to `eigen_error` for a linear simulation network).
    pub recurrent_error: Option<f64>,
    /// Eigen error of `U` against `A − K H` (predictor mode).
    pub closed_loop_error: Option<f64>,
    /// Share of the output energy carried by learned modes left unmatched to a true eigenvalue
    /// (hidden size above the true order).
    pub extra_mode_energy: Option<f64>,
    /// Held-out MSE of the network.
    pub rnn_mse: f64,
    /// Held-out one-step MSE of the Kalman filter with the true system (when known).
    pub kalman_mse: Option<f64>,
    /// Held-out output-error MSE of the true system fed the inputs alone (systems with inputs).
    pub truth_output_error_mse: Option<f64>,
    /// `rnn_mse` over the floor that applies to the mode (Kalman for predictor, the true
    /// system's output error for simulation), when the truth is known.
    pub mse_ratio: Option<f64>,
    /// Seconds of training.
    pub train_seconds: f64,
    /// Seconds of the whole run.
    pub seconds: f64,
    /// The spec's targets, checked.
    pub checks: Vec<Check>,
    /// How training went (restarts, stop reasons, losses).
    pub training: TrainingReport,
    /// The classical baselines that ran (absent in outcomes written before they existed).
    #[serde(default)]
    pub baselines: Vec<BaselineOutcome>,
    /// For a nonlinear system, the equilibrium whose linearisation was compared as `A`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equilibrium: Option<Equilibrium>,
    /// The trained network (original units), for analyses beyond the runner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<RnnWeights>,
}

impl Outcome {
    /// Whether every target holds.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }

    /// The baseline called `name` (`"n4sid"`, `"em"`), when it ran.
    pub fn baseline(&self, name: &str) -> Option<&BaselineOutcome> {
        self.baselines.iter().find(|b| b.name == name)
    }
}

/// What is written as the report's `spec`: the spec itself and where it was run from.
#[derive(Debug, Serialize)]
pub struct Recorded<'a> {
    /// The spec.
    #[serde(flatten)]
    pub spec: &'a Spec,
    /// [`git_commit`] when the run started.
    pub git_commit: String,
    /// Version of dynrec.
    pub dynrec_version: &'static str,
}

/// `git rev-parse HEAD` of the working tree, `-dirty` appended when it has uncommitted changes
/// outside `results/`; `"unknown"` when git is unavailable.
pub fn git_commit() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
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

/// The model crate's view of a simulated data set.
pub fn sequence_data(data: &Dataset) -> Result<Vec<SequenceData>> {
    data.sequences
        .iter()
        .map(|s| {
            SequenceData::new(s.inputs.clone(), s.measurements.clone())
                .with_context(|| format!("sequence {}", s.id))
        })
        .collect()
}

/// The analysis's view of the truth; in predictor mode it carries the steady-state gain `K`.
pub fn true_system(system: &LinearSystem, mode: Mode) -> Result<TrueSystem> {
    let gain = match mode {
        Mode::Predictor => Some(
            system
                .steady_state()
                .context("steady-state Kalman gain")?
                .predictor_gain,
        ),
        Mode::Simulation => None,
    };
    TrueSystem::new(
        system.a().clone(),
        system.b().cloned(),
        system.h().clone(),
        gain,
    )
    .context("true system for the analysis")
}

/// The linear system the network is compared with: the system itself when it is linear,
/// otherwise its linearisation (in deviation coordinates) at the equilibrium called `name`
/// (`None`: its first equilibrium), returned with it.
pub fn reference_linearisation(
    system: &dyn Dynamics,
    name: Option<&str>,
) -> Result<(LinearSystem, Option<Equilibrium>)> {
    if let Some(linear) = system.as_linear() {
        if let Some(name) = name.filter(|&n| n != "origin") {
            anyhow::bail!(
                "the equilibrium {name:?} was asked for, but the system is linear: it is \
                 compared with A itself (its only equilibrium is the origin)"
            );
        }
        return Ok((linear.clone(), None));
    }
    let equilibria = system.equilibria();
    let chosen = match name {
        Some(name) => equilibria
            .iter()
            .find(|e| e.name == name)
            .with_context(|| {
                format!(
                    "{} has no equilibrium called {name:?} (it has: {})",
                    system.describe(),
                    equilibria
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
        None => equilibria.first().with_context(|| {
            format!("{} lists no equilibrium to linearise at", system.describe())
        })?,
    };
    let linear = system
        .linearise(chosen)
        .with_context(|| format!("linearising {} at {}", system.describe(), chosen.name))?;
    Ok((linear, Some(chosen.clone())))
}

/// Runs one spec and writes its report into `out/<spec.name>/`.
pub fn run(spec: &Spec, out: &Path, progress: bool) -> Result<Outcome> {
    let system = spec.system.build()?;
    run_system(spec, system.as_ref(), out, progress)
}

/// [`run`] with the system built by the caller: what an experiment binary that defines its own
/// dynamics calls (its spec's `system` is then [`SystemChoice::Custom`]
/// (crate::spec::SystemChoice::Custom)).
pub fn run_system(
    spec: &Spec,
    system: &dyn Dynamics,
    out: &Path,
    progress: bool,
) -> Result<Outcome> {
    let spec = spec.clone().seeded();

    // Data: training sequences and independent held-out sequences.
    let train_set = simulate(system, &spec.simulation).context("simulating training data")?;
    let held_out_config = SimulationConfig {
        sequences: spec.held_out.max(1),
        seed: spec.seed.wrapping_add(1),
        ..spec.simulation.clone()
    };
    let held_out = simulate(system, &held_out_config).context("simulating held-out data")?;
    let recorded = Recorded {
        spec: &spec,
        git_commit: git_commit(),
        dynrec_version: env!("CARGO_PKG_VERSION"),
    };
    fit_and_report(
        &Problem {
            name: &spec.name,
            train: &train_set,
            held_out: &held_out,
            system: Some(system),
            equilibrium: spec.equilibrium.as_deref(),
            network: &spec.network,
            training: &spec.training,
            compute: spec.compute,
            analysis: spec.analysis,
            targets: spec.targets,
            baselines: &spec.baselines,
        },
        &recorded,
        &out.join(&spec.name),
        progress,
    )
}

/// What [`fit_and_report`] needs: data, optionally the true system, and how to train.
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    /// Name of the run (progress bar, outcome).
    pub name: &'a str,
    /// Training data (the trainer holds out its own validation split from it).
    pub train: &'a Dataset,
    /// Data the network never saw, on which it is compared with the Kalman filter.
    pub held_out: &'a Dataset,
    /// The true system, when known.
    pub system: Option<&'a dyn Dynamics>,
    /// For a nonlinear system: the equilibrium whose linearisation is compared as `A`
    /// (`None`: the first one).
    pub equilibrium: Option<&'a str>,
    /// The network.
    pub network: &'a NetworkConfig,
    /// The training.
    pub training: &'a TrainingConfig,
    /// Backend and precision.
    pub compute: Compute,
    /// Analysis settings.
    pub analysis: AnalysisConfig,
    /// Targets to check.
    pub targets: Targets,
    /// Classical identification beside the RNN, on the same training data.
    pub baselines: &'a BaselineSpec,
}

/// Trains on `problem.train`, compares with the references on `problem.held_out`, analyses
/// the weights (against the truth when known) and writes `report.json` (with `spec` as its
/// spec), `report.md` and the plots into `dir`. What `dynrec fit` and every experiment run.
pub fn fit_and_report(
    problem: &Problem<'_>,
    spec: &impl Serialize,
    dir: &Path,
    progress: bool,
) -> Result<Outcome> {
    let started = Instant::now();
    let mode = problem.network.mode;
    // What the network is compared with: A itself, or the linearisation at the chosen
    // equilibrium (checked before anything is trained or written, so that a wrong name fails
    // at once).
    let reference = problem
        .system
        .map(|system| reference_linearisation(system, problem.equilibrium))
        .transpose()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let train_data = sequence_data(problem.train)?;
    let test_data = sequence_data(problem.held_out)?;
    let held_out = problem.held_out;

    // References on the held-out data.
    let kalman: Option<Vec<_>> = problem
        .system
        .map(|system| {
            held_out
                .sequences
                .iter()
                .map(|s| kalman_predictions(system, s))
                .collect::<Result<_>>()
        })
        .transpose()?;
    let kalman_mse = kalman.as_ref().map(|kalman| {
        pooled_mse(
            held_out
                .sequences
                .iter()
                .zip(kalman.iter().cloned())
                .map(|(s, k)| (&s.measurements, k)),
        )
    });
    let measured = || held_out.sequences.iter().map(|s| &s.measurements);
    let truth_output_error_mse = match problem.system {
        Some(system) if system.n_inputs() > 0 => Some(pooled_mse(
            measured().zip(
                held_out
                    .sequences
                    .iter()
                    .map(|s| output_error_predictions(system, s)),
            ),
        )),
        _ => None,
    };

    // Train.
    let device = problem.compute.device().context("compute device")?;
    let mut recorder = Recorder::new(
        problem.name,
        problem.training.restarts,
        problem.training.max_steps,
        problem.training.eval_every,
        progress,
    );
    let fit = train(
        &train_data,
        problem.network,
        problem.training,
        &device,
        &mut recorder,
    )
    .context("training the RNN")?;
    recorder.finish();
    let weights = fit.weights();
    let rnn_out = network_predictions(weights, &test_data)?;
    let rnn_mse = pooled_mse(
        held_out
            .sequences
            .iter()
            .map(|s| &s.measurements)
            .zip(rnn_out.iter().cloned()),
    );
    let floor = match mode {
        Mode::Predictor => kalman_mse,
        Mode::Simulation => truth_output_error_mse.or(kalman_mse),
    };
    let mse_ratio = floor.map(|f| rnn_mse / f);

    // Analyse: against A itself, or the linearisation at the chosen equilibrium.
    let truth = reference
        .as_ref()
        .map(|(linear, _)| true_system(linear, mode))
        .transpose()?;
    let input_mean = mean_network_input(&train_data, mode);
    let mut analysis = analyse(
        weights,
        truth.as_ref(),
        Some(&input_mean),
        &problem.analysis,
    )
    .context("analysing the trained weights")?;

    // Classical baselines on the same training data, measured on the same held-out data.
    let mut baselines = fit_baselines(
        problem.baselines,
        problem.train,
        held_out,
        problem.system.map(|s| s.n_states()),
    )
    .context("evaluating the classical baselines")?;
    for (outcome, estimate) in &mut baselines.fitted {
        analysis
            .add_baseline(&outcome.name, estimate.a())
            .context("adding a baseline to the analysis")?;
        outcome.eigen_error = analysis
            .baselines
            .last()
            .and_then(|b| b.matching.as_ref())
            .map(|m| m.max_distance);
    }
    analysis.notes.append(&mut baselines.notes);
    let equilibrium = reference.and_then(|(_, e)| e);
    if let (Some(system), Some(e)) = (problem.system, &equilibrium) {
        analysis.notes.insert(
            0,
            format!(
                "The system is nonlinear ({}): the `A` compared here is the Jacobian of its \
                 discrete-time transition at the equilibrium `{}`, x* = {:?} (and `B`, `H` \
                 likewise, in deviation coordinates).",
                system.describe(),
                e.name,
                e.state.as_slice()
            ),
        );
        analysis.verdict += &format!(" (A: the linearisation at the equilibrium `{}`.)", e.name);
    }
    let eigen_error = analysis.eigen_error();
    let recurrent_error = analysis.recurrent_matching.as_ref().map(|m| m.max_distance);
    let closed_loop_error = analysis
        .closed_loop_matching
        .as_ref()
        .map(|m| m.max_distance);
    let extra_mode_energy = analysis
        .extra_mode_energy()
        .filter(|_| analysis.order.is_some_and(|n| analysis.d_hidden > n));
    let checks = checks(
        &problem.targets,
        mode,
        problem.network.activation,
        eigen_error,
        closed_loop_error,
        mse_ratio,
        extra_mode_energy,
    );

    // Report.
    let report = write_report(
        spec,
        mode,
        dir,
        analysis,
        &recorder,
        fit.report.best_restart,
        held_out,
        &rnn_out,
        kalman.as_deref(),
        &baselines,
        Metrics {
            rnn_mse,
            kalman_mse,
            truth_output_error_mse,
            mse_ratio,
            train_seconds: fit.report.seconds,
            train_loss: fit.report.train_loss,
            val_loss: fit.report.val_loss,
        },
    )?;
    Ok(Outcome {
        name: problem.name.to_string(),
        dir: dir.to_path_buf(),
        verdict: report.verdict,
        eigen_error,
        recurrent_error,
        closed_loop_error,
        extra_mode_energy,
        rnn_mse,
        kalman_mse,
        truth_output_error_mse,
        mse_ratio,
        train_seconds: fit.report.seconds,
        seconds: started.elapsed().as_secs_f64(),
        checks,
        training: fit.report.clone(),
        baselines: baselines.fitted.into_iter().map(|(o, _)| o).collect(),
        equilibrium,
        weights: Some(weights.clone()),
    })
}

fn checks(
    t: &Targets,
    mode: Mode,
    activation: Activation,
    eigen_error: Option<f64>,
    closed_loop_error: Option<f64>,
    mse_ratio: Option<f64>,
    extra_mode_energy: Option<f64>,
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |name: &str, value: Option<f64>, target: Option<f64>| {
        if target.is_none() && value.is_none() {
            return;
        }
        let value = value.unwrap_or(f64::NAN);
        out.push(Check {
            name: name.to_string(),
            value,
            target,
            pass: target.is_none_or(|t| value <= t),
        });
    };
    let what = match (mode, activation) {
        (_, Activation::Tanh | Activation::Relu) => "eig(fixed-point Jacobian) vs eig(A)",
        (Mode::Simulation, Activation::Linear) => "eig(U) vs eig(A)",
        (Mode::Predictor, Activation::Linear) => "eig(U + W_z V) vs eig(A)",
    };
    check(what, eigen_error, t.eigen_error);
    check(
        "eig(U) vs eig(A − K H)",
        closed_loop_error,
        t.closed_loop_error,
    );
    let floor = match mode {
        Mode::Predictor => "abs(MSE_rnn / MSE_kalman − 1)",
        Mode::Simulation => "abs(MSE_rnn / MSE_truth − 1)",
    };
    check(floor, mse_ratio.map(|r| (r - 1.0).abs()), t.mse_ratio);
    check(
        "output energy share of the extra modes",
        extra_mode_energy,
        t.extra_mode_energy,
    );
    out
}

struct Metrics {
    rnn_mse: f64,
    kalman_mse: Option<f64>,
    truth_output_error_mse: Option<f64>,
    mse_ratio: Option<f64>,
    train_seconds: f64,
    train_loss: f64,
    val_loss: f64,
}

fn write_report(
    spec: &impl Serialize,
    mode: Mode,
    dir: &Path,
    analysis: Analysis,
    recorder: &Recorder,
    best_restart: usize,
    held_out: &Dataset,
    rnn_out: &[nalgebra::DMatrix<f64>],
    kalman: Option<&[nalgebra::DMatrix<f64>]>,
    baselines: &Baselines,
    m: Metrics,
) -> Result<Report> {
    let mut plot_list =
        plots::analysis_plots(dir, &analysis).context("drawing the analysis plots")?;
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
    let mut report = Report::new(spec, analysis)
        .context("building the report")?
        .metric("heldout_mse_rnn", m.rnn_mse)
        .metric("train_loss", m.train_loss)
        .metric("validation_loss", m.val_loss)
        .metric("train_seconds", m.train_seconds);
    if let Some(k) = m.kalman_mse {
        report = report.metric("heldout_mse_kalman", k);
    }
    if let Some(r) = m.mse_ratio {
        report = report.metric("heldout_mse_ratio", r);
    }
    if let Some(t) = m.truth_output_error_mse {
        report = report.metric("heldout_mse_truth_output_error", t);
    }
    for (b, _) in &baselines.fitted {
        let name = &b.name;
        report = report
            .metric(
                &format!("heldout_mse_{name}_one_step"),
                b.heldout_mse_one_step,
            )
            .metric(&format!("{name}_seconds"), b.seconds);
        if let Some(e) = b.heldout_mse_output_error {
            report = report.metric(&format!("heldout_mse_{name}_output_error"), e);
        }
        if let Some(l) = b.log_likelihood {
            report = report.metric(&format!("{name}_log_likelihood"), l);
        }
        if let Some(i) = b.iterations {
            report = report.metric(&format!("{name}_iterations"), i as f64);
        }
    }
    for (title, files) in plot_list {
        report = report.plot(&title, &files.png_name());
    }
    let floor = match mode {
        Mode::Predictor => m.kalman_mse.map(|value| Floor {
            value,
            label: "Kalman predictor (Bayes floor)",
        }),
        Mode::Simulation => m.truth_output_error_mse.map(|value| Floor {
            value,
            label: "true system fed the inputs (output-error floor)",
        }),
    };
    let curves = &recorder.curves;
    if let (Some(train), Some(val)) = (
        curves.train.get(best_restart),
        curves.validation.get(best_restart),
    ) && !train.is_empty()
    {
        let files = plots::loss_plot(dir, "loss", train, val, floor).context("loss plot")?;
        report = report.plot(
            "Training (Adam, then L-BFGS) and validation loss of the best restart, against the floor",
            &files.png_name(),
        );
    }
    if let (Some(seq), Some(rnn)) = (held_out.sequences.first(), rnn_out.first()) {
        let kf = kalman.and_then(|k| k.first());
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
