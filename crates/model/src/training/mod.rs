//! Training: seeded restarts of Adam on minibatches of whole sequences, early stopping on a
//! validation split, keep-best weights, an optional L-BFGS polish, and export in the data's
//! original units.
//!
//! - `config`: [`TrainingConfig`], checked into a [`ValidTrainingConfig`];
//! - `objective`: the loss and its gradient on the flat parameter vector, and the public
//!   [`loss_gradient`];
//! - `restart`: one restart, its Adam and L-BFGS phases;
//! - `observer`: progress reports while training runs ([`Observer`]);
//! - `report`: what comes back ([`Fit`], [`TrainingReport`], the [`LossHistory`] of each
//!   restart).
//!
//! The objective is the mean squared error over every present measurement of the minibatch, in
//! standardised units (with one output, the original-unit MSE divided by the output variance).
//! Every loss this module *reports* (observer, [`TrainingReport`]) is in the data's original
//! units: `Σ_j σ_j² SSE_j / N`.

mod config;
mod objective;
mod observer;
mod report;
mod restart;

use std::time::Instant;

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

pub use config::{TrainingConfig, ValidTrainingConfig};
pub use objective::loss_gradient;
pub use observer::{Observer, Phase, Progress, Silent};
pub use report::{Fit, LossHistory, RestartReport, StopReason, TrainingReport};

use crate::data::{SequenceData, Standardisation, check_dataset, make_training_batch};
use crate::error::{ModelError, Result, config_error};
use crate::inference::TrainedRnn;
use crate::model::{NetworkConfig, Unroll, ValidNetworkConfig};
use dynrec_core::weights::Mode;
use objective::{Objective, ParameterLayout};
use restart::{Problem, Restart, RestartOutcome};

/// Trains an Elman network on `data` (one [`SequenceData`] per independent sequence): checks
/// both configurations ([`NetworkConfig::check`], [`TrainingConfig::check`]) and runs
/// [`train_checked`].
///
/// `device` is a plain Burn device (see [`crate::Compute::device`]); training enables autodiff
/// on it. The returned model runs inference on the same device, and its weights are in the
/// data's original units.
///
/// # Errors
/// Invalid configuration or data; [`ModelError::Diverged`] when every restart diverged.
pub fn train(
    data: &[SequenceData],
    network: &NetworkConfig,
    config: &TrainingConfig,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<Fit> {
    let config = config.check()?;
    let network = network.check()?;
    train_checked(data, &network, &config, device, observer)
}

/// [`train`] with configurations already checked.
///
/// # Errors
/// Invalid data; [`ModelError::Diverged`] when every restart diverged.
pub fn train_checked(
    data: &[SequenceData],
    network: &ValidNetworkConfig,
    config: &ValidTrainingConfig,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<Fit> {
    let started = Instant::now();
    let (m, p) = check_dataset(data, network.mode, true)?;
    check_horizon(config.horizon, network.mode)?;
    let (train_idx, val_idx) = split(data.len(), config);
    let train_set: Vec<&SequenceData> = train_idx.iter().map(|&i| &data[i]).collect();
    let val_set: Vec<&SequenceData> = val_idx.iter().map(|&i| &data[i]).collect();
    if !train_set
        .iter()
        .any(|s| s.measurements.iter().any(|z| z.is_finite()))
    {
        return Err(ModelError::Data {
            sequence: train_idx[0],
            message: "every training measurement is missing".into(),
        });
    }

    let scaling = if config.standardise {
        Standardisation::fit(train_set.iter().copied(), network.bias)
    } else {
        Standardisation::identity(m, p)
    };
    let ad_device = device.clone().autodiff();
    let horizon = config.horizon;
    let full_train = make_training_batch(&train_set, network.mode, &scaling, horizon, &ad_device);
    let val_batch = (!val_set.is_empty())
        .then(|| make_training_batch(&val_set, network.mode, &scaling, horizon, device));
    let probe = network.elman(m, p, 0);
    let layout = ParameterLayout {
        n: probe.d_hidden,
        d: probe.d_input,
        p,
        bias: network.bias,
    };
    let output_var: Vec<f64> = scaling.output_std.iter().map(|s| s * s).collect();
    let unroll = Unroll {
        scan: config.scan,
        truncation: config.truncation,
    };
    let train_objective = Objective {
        layout,
        activation: network.activation,
        mode: network.mode,
        unroll,
        device: &ad_device,
        output_var: output_var.clone(),
    };
    let eval_objective = Objective {
        device,
        unroll: Unroll {
            truncation: None,
            ..unroll
        },
        output_var,
        ..train_objective
    };
    let problem = Problem {
        network,
        config,
        sizes: (m, p),
        train_set,
        full_train,
        val_batch,
        scaling,
        train_objective,
        eval_objective,
    };

    let mut outcomes = Vec::with_capacity(config.restarts);
    for index in 0..config.restarts {
        let seed = config.restart_seed(index);
        observer.restart_started(index, seed);
        let outcome = Restart::new(&problem, index, seed)?.run(observer)?;
        observer.restart_finished(&outcome.report);
        outcomes.push(outcome);
    }
    let scaling = problem.scaling;

    let Some(best) = best_restart(&outcomes) else {
        return Err(all_diverged(outcomes, network, layout, &scaling));
    };
    let winner = &outcomes[best];
    let scaled = layout.unflatten(&winner.theta, network.activation, network.mode);
    let weights = scaling.to_original(&scaled);
    let model = TrainedRnn::new(weights, device)?;
    let report = TrainingReport {
        best_restart: best,
        train_loss: winner.report.train_loss,
        val_loss: winner.report.val_loss,
        restarts: outcomes
            .into_iter()
            .map(|o| {
                let scaled = layout.unflatten(&o.theta, network.activation, network.mode);
                RestartReport {
                    weights: Some(scaling.to_original(&scaled)),
                    ..o.report
                }
            })
            .collect(),
        train_sequences: train_idx,
        val_sequences: val_idx,
        standardisation: scaling,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Fit { model, report })
}

/// A horizon above one step needs the network to be fed the measurements (predictor mode).
pub(crate) fn check_horizon(horizon: usize, mode: Mode) -> Result<()> {
    if horizon > 1 && mode == Mode::Simulation {
        return Err(config_error(
            "horizon",
            format!(
                "{horizon} needs predictor mode: a simulation-mode network is never fed the \
                 measurements, so every prediction it makes is already free-running"
            ),
        ));
    }
    Ok(())
}

/// The validation split of `count` sequences: whole sequences, seeded, the same for every
/// restart. Returns the sorted training and validation indices; at least one sequence trains.
fn split(count: usize, config: &TrainingConfig) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..count).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(config.seed));
    let n_val = ((count as f64 * config.validation_fraction).round() as usize).min(count - 1);
    let (val_idx, train_idx) = order.split_at(n_val);
    let mut val_idx = val_idx.to_vec();
    let mut train_idx = train_idx.to_vec();
    val_idx.sort_unstable();
    train_idx.sort_unstable();
    (train_idx, val_idx)
}

/// The restart with the lowest validation loss among those that did not diverge.
fn best_restart(outcomes: &[RestartOutcome]) -> Option<usize> {
    outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.diverged.is_none())
        .min_by(|a, b| a.1.report.val_loss.total_cmp(&b.1.report.val_loss))
        .map(|(i, _)| i)
}

/// The error when every restart diverged: the last one, with its last good weights in original
/// units.
fn all_diverged(
    outcomes: Vec<RestartOutcome>,
    network: &ValidNetworkConfig,
    layout: ParameterLayout,
    scaling: &Standardisation,
) -> ModelError {
    let last = outcomes
        .into_iter()
        .enumerate()
        .filter_map(|(i, o)| o.diverged.map(|d| (i, d)))
        .next_back();
    let Some((restart, divergence)) = last else {
        // A checked configuration has at least one restart.
        return config_error("restarts", "must be at least 1");
    };
    let scaled = layout.unflatten(&divergence.last_good, network.activation, network.mode);
    ModelError::Diverged {
        restart,
        phase: divergence.phase.name(),
        step: divergence.step,
        reason: divergence.reason,
        last_good_loss: divergence.last_good_loss,
        last_good: Box::new(scaling.to_original(&scaled)),
    }
}
