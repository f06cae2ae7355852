//! What a run measured: one typed record, from which the report's metrics, the experiments'
//! tables and `outcomes.json` are all derived.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dynrec_core::write_atomically;

use dynrec_analysis::DominantModes;
use dynrec_model::{Activation, Mode, RnnWeights, TrainingReport};
use dynrec_truth::Equilibrium;
use serde::{Deserialize, Serialize};

use crate::baselines::BaselineOutcome;
use crate::spec::Targets;

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

/// What a run measured.
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
    /// The Cramér–Rao bound's `max σ` on the true eigenvalues for this run's training data
    /// (a known linear truth only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crb_max_std: Option<f64>,
    /// The same on the eigenvalues of `A − K H` (predictor mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crb_closed_loop_max_std: Option<f64>,
    /// Without a known truth: the dominant learned modes in the data's time unit, each with
    /// the baselines' nearest eigenvalues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dominant_modes: Option<DominantModes>,
}

/// The file of a report folder that holds the run's [`Outcome`]: written before the folder is
/// committed, so every complete report folder has one, and the experiments' summaries can be
/// rebuilt from the report folders alone.
pub const OUTCOME_FILE: &str = "outcome.json";

impl Outcome {
    /// Writes the outcome into `dir/outcome.json` ([`OUTCOME_FILE`]).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(OUTCOME_FILE);
        let json = serde_json::to_string_pretty(self)? + "\n";
        write_atomically(&path, |w| w.write_all(json.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Reads `dir/outcome.json` ([`OUTCOME_FILE`]).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(OUTCOME_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Whether every target holds.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }

    /// The baseline called `name` (`"n4sid"`, `"em"`), when it ran.
    pub fn baseline(&self, name: &str) -> Option<&BaselineOutcome> {
        self.baselines.iter().find(|b| b.name == name)
    }

    /// The scalar metrics of `report.json`, by key: `heldout_mse_rnn`, `train_loss`,
    /// `validation_loss`, `train_seconds`, `heldout_mse_kalman`, `heldout_mse_ratio`,
    /// `heldout_mse_truth_output_error`, `crb_max_std`, `crb_closed_loop_max_std`, and, per
    /// baseline `<b>`, `<b>_closed_loop_error`, `heldout_mse_<b>_one_step`,
    /// `heldout_mse_<b>_output_error`, `<b>_seconds`, `<b>_log_likelihood`, `<b>_iterations`
    /// (absent values are left out).
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        let mut put = |key: String, value: Option<f64>| {
            if let Some(v) = value {
                m.insert(key, v);
            }
        };
        put("heldout_mse_rnn".into(), Some(self.rnn_mse));
        put("train_loss".into(), Some(self.training.train_loss));
        put("validation_loss".into(), Some(self.training.val_loss));
        put("train_seconds".into(), Some(self.train_seconds));
        put("heldout_mse_kalman".into(), self.kalman_mse);
        put("heldout_mse_ratio".into(), self.mse_ratio);
        put(
            "heldout_mse_truth_output_error".into(),
            self.truth_output_error_mse,
        );
        put("crb_max_std".into(), self.crb_max_std);
        put(
            "crb_closed_loop_max_std".into(),
            self.crb_closed_loop_max_std,
        );
        for b in &self.baselines {
            let name = &b.name;
            put(
                format!("heldout_mse_{name}_one_step"),
                Some(b.heldout_mse_one_step),
            );
            put(format!("{name}_seconds"), Some(b.seconds));
            put(
                format!("heldout_mse_{name}_output_error"),
                b.heldout_mse_output_error,
            );
            put(format!("{name}_log_likelihood"), b.log_likelihood);
            put(format!("{name}_iterations"), b.iterations.map(|i| i as f64));
            put(format!("{name}_closed_loop_error"), b.closed_loop_error);
        }
        m
    }
}

/// What the targets are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Eigen error of the recovered dynamics against `A`.
    pub eigen_error: Option<f64>,
    /// Eigen error of `U` against `A − K H`.
    pub closed_loop_error: Option<f64>,
    /// The held-out MSE over its floor.
    pub mse_ratio: Option<f64>,
    /// Output energy share of the extra modes.
    pub extra_mode_energy: Option<f64>,
}

/// The targets checked against what was measured; a value measured without a target is
/// listed too, with no target.
pub fn checks(targets: &Targets, mode: Mode, activation: Activation, m: Measured) -> Vec<Check> {
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
    check(what, m.eigen_error, targets.eigen_error);
    check(
        "eig(U) vs eig(A − K H)",
        m.closed_loop_error,
        targets.closed_loop_error,
    );
    let floor = match mode {
        Mode::Predictor => "abs(MSE_rnn / MSE_kalman − 1)",
        Mode::Simulation => "abs(MSE_rnn / MSE_truth − 1)",
    };
    check(
        floor,
        m.mse_ratio.map(|r| (r - 1.0).abs()),
        targets.mse_ratio,
    );
    check(
        "output energy share of the extra modes",
        m.extra_mode_energy,
        targets.extra_mode_energy,
    );
    out
}
