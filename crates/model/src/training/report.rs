//! What training hands back: the [`Fit`] (network and [`TrainingReport`]), one
//! [`RestartReport`] per restart with its [`LossHistory`].

use serde::{Deserialize, Serialize};

use crate::data::Standardisation;
use crate::inference::TrainedRnn;
use crate::optim::LbfgsStop;
use dynrec_core::weights::RnnWeights;

/// How a restart ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// Adam used all `max_steps`.
    MaxSteps,
    /// The validation loss stopped improving.
    EarlyStopping,
    /// A non-finite loss, gradient or weight appeared.
    Diverged {
        /// `"adam"` or `"lbfgs"`.
        phase: String,
        /// Step at which it was detected.
        step: usize,
        /// What became non-finite.
        reason: String,
    },
}

/// The loss curves of one restart, in original units: what a loss plot draws.
///
/// Adam contributes one point per validation evaluation at steps `eval_every`,
/// `2 eval_every`, … (not the extra evaluation at `max_steps` when `eval_every` does not divide
/// it); the L-BFGS polish one training point per iteration. A step at which the restart
/// diverged leaves no point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LossHistory {
    /// Training loss at each of those Adam steps: the loss of the step's minibatch, before the
    /// update.
    pub adam_loss: Vec<f64>,
    /// Validation loss (the full training loss when there is no validation sequence) after each
    /// of the same Adam steps.
    pub validation_loss: Vec<f64>,
    /// Full training loss after each L-BFGS iteration (empty when the polish did not run).
    pub lbfgs_loss: Vec<f64>,
}

impl LossHistory {
    /// The training curve in one line: the Adam points, then the L-BFGS points.
    pub fn training_curve(&self) -> Vec<f64> {
        [self.adam_loss.as_slice(), &self.lbfgs_loss].concat()
    }
}

/// What one restart did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartReport {
    /// Restart index.
    pub restart: usize,
    /// Seed of its initial weights and minibatch order.
    pub seed: u64,
    /// Adam steps taken.
    pub adam_steps: usize,
    /// Why Adam stopped.
    pub stop: StopReason,
    /// L-BFGS iterations taken (0 when disabled or diverged).
    pub lbfgs_iterations: usize,
    /// Why L-BFGS stopped (`None` when it did not run).
    pub lbfgs_stop: Option<LbfgsStop>,
    /// Whether the L-BFGS result was kept.
    pub lbfgs_kept: bool,
    /// Best validation loss (original units) of the weights this restart hands over.
    pub val_loss: f64,
    /// Full training loss (original units) of those weights.
    pub train_loss: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The loss curves (empty in reports written before they were recorded).
    #[serde(default)]
    pub history: LossHistory,
    /// The weights this restart hands over, in original units (absent in reports written
    /// before they were kept): whether restarts that fit equally well agree on the dynamics
    /// is a question of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<RnnWeights>,
}

/// The record of a whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// One entry per restart.
    pub restarts: Vec<RestartReport>,
    /// Index of the winning restart.
    pub best_restart: usize,
    /// Training loss of the returned weights (original units, MSE over present measurements).
    pub train_loss: f64,
    /// Validation loss of the returned weights (original units; the training loss when there is
    /// no validation sequence).
    pub val_loss: f64,
    /// Indices of the sequences used for training.
    pub train_sequences: Vec<usize>,
    /// Indices of the sequences held out for validation.
    pub val_sequences: Vec<usize>,
    /// The standardisation used during training.
    pub standardisation: Standardisation,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

impl TrainingReport {
    /// The winning restart's report.
    pub fn best(&self) -> Option<&RestartReport> {
        self.restarts.get(self.best_restart)
    }
}

/// A trained network and the record of how it was trained.
#[derive(Debug)]
pub struct Fit {
    /// The network, in original units, ready for inference.
    pub model: TrainedRnn,
    /// How training went.
    pub report: TrainingReport,
}

impl Fit {
    /// The trained weights, in original units.
    pub fn weights(&self) -> &RnnWeights {
        self.model.weights()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A restart report written before the loss curves were recorded (no `history` key) still
    /// reads, with empty curves; one written now reads back unchanged.
    #[test]
    fn reports_without_history_still_read() {
        let old = r#"{"restart": 1, "seed": 7, "adam_steps": 20, "stop": {"kind": "max_steps"},
            "lbfgs_iterations": 0, "lbfgs_stop": null, "lbfgs_kept": false,
            "val_loss": 0.5, "train_loss": 0.25, "seconds": 1.0}"#;
        let report: RestartReport = serde_json::from_str(old).expect("old report");
        assert_eq!(report.history, LossHistory::default());
        let new = RestartReport {
            history: LossHistory {
                adam_loss: vec![3.0, 2.0],
                validation_loss: vec![3.5, 2.5],
                lbfgs_loss: vec![1.0],
            },
            ..report
        };
        let json = serde_json::to_string(&new).expect("json");
        assert_eq!(
            serde_json::from_str::<RestartReport>(&json).expect("new report"),
            new
        );
        assert_eq!(new.history.training_curve(), vec![3.0, 2.0, 1.0]);
    }
}
