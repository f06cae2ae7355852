//! Watching training as it runs: [`Observer`] receives a [`Progress`] after every step (for
//! progress bars and logs; the loss curves are kept in the report, see
//! [`super::LossHistory`]).

use serde::{Deserialize, Serialize};

use super::report::RestartReport;

/// Which optimiser produced a [`Progress`] report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Adam on minibatches.
    Adam,
    /// L-BFGS on the full training set.
    Lbfgs,
}

impl Phase {
    /// The name used in reports and errors (`"adam"`, `"lbfgs"`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Adam => "adam",
            Phase::Lbfgs => "lbfgs",
        }
    }
}

/// One step of training, as reported to an [`Observer`]. Losses are in original units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Restart index (0-based).
    pub restart: usize,
    /// The optimiser.
    pub phase: Phase,
    /// Step (Adam) or iteration (L-BFGS), 1-based.
    pub step: usize,
    /// Training loss: the minibatch's before the Adam step, the full set's after an L-BFGS
    /// iteration.
    pub loss: f64,
    /// The latest validation loss, when one has been computed in this restart.
    pub val_loss: Option<f64>,
    /// Adam's learning rate, or the L-BFGS step length accepted by the line search.
    pub learning_rate: f64,
}

/// Watches training; every method defaults to doing nothing.
pub trait Observer {
    /// A restart begins.
    fn restart_started(&mut self, _restart: usize, _seed: u64) {}
    /// A step finished.
    fn step(&mut self, _progress: &Progress) {}
    /// A restart ended.
    fn restart_finished(&mut self, _report: &RestartReport) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}
