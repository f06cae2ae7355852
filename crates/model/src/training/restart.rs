//! One restart: seeded initial weights, Adam on minibatches with early stopping and keep-best
//! ([`Restart::adam_phase`]), then the optional L-BFGS polish ([`Restart::polish_phase`]).

use std::cell::Cell;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;

use super::config::ValidTrainingConfig;
use super::objective::Objective;
use super::observer::{Observer, Phase, Progress};
use super::report::{LossHistory, RestartReport, StopReason};
use crate::data::{Batch, SequenceData, Standardisation, make_training_batch};
use crate::error::Result;
use crate::model::ValidNetworkConfig;
use crate::optim::{Adam, Lbfgs, LbfgsStop, clip_norm};

/// What every restart shares: the configurations, the training sequences and their batches,
/// and the objectives.
pub(super) struct Problem<'a> {
    /// The network.
    pub network: &'a ValidNetworkConfig,
    /// How to train.
    pub config: &'a ValidTrainingConfig,
    /// Number of inputs `m` and outputs `p` of the data.
    pub sizes: (usize, usize),
    /// The training sequences.
    pub train_set: Vec<&'a SequenceData>,
    /// All of them as one batch, on the autodiff device.
    pub full_train: Batch,
    /// The validation sequences as one batch (`None` without any), on the plain device.
    pub val_batch: Option<Batch>,
    /// The standardisation of the batches.
    pub scaling: Standardisation,
    /// The objective on the autodiff device, unrolled as configured.
    pub train_objective: Objective<'a>,
    /// The objective on the plain device, without truncation, for validation.
    pub eval_objective: Objective<'a>,
}

impl Problem<'_> {
    /// The full training loss of `theta`, in original units.
    pub fn train_loss(&self, theta: &[f64]) -> Result<f64> {
        let objective = &self.train_objective;
        let e = objective.evaluate(theta, &self.full_train, false)?;
        Ok(e.original(&objective.output_var))
    }

    /// The validation loss of `theta`, in original units (the full training loss when there is
    /// no validation sequence).
    pub fn validation_loss(&self, theta: &[f64]) -> Result<f64> {
        match &self.val_batch {
            Some(batch) => {
                let objective = &self.eval_objective;
                let e = objective.evaluate(theta, batch, false)?;
                Ok(e.original(&objective.output_var))
            }
            None => self.train_loss(theta),
        }
    }
}

/// How a restart diverged, and the last parameters whose loss was finite.
pub(super) struct Divergence {
    /// The optimiser that diverged.
    pub phase: Phase,
    /// Its step (1-based).
    pub step: usize,
    /// What became non-finite.
    pub reason: String,
    /// The loss of `last_good` (original units).
    pub last_good_loss: f64,
    /// The last parameters whose loss was finite (standardised units).
    pub last_good: Vec<f64>,
}

/// The outcome of one restart before selection.
pub(super) struct RestartOutcome {
    /// Its report.
    pub report: RestartReport,
    /// The parameters it hands over.
    pub theta: Vec<f64>,
    /// How it diverged, if it did.
    pub diverged: Option<Divergence>,
}

/// How the Adam phase ended.
enum AdamEnd {
    /// Normally: all steps taken, or early stopping.
    Stopped(StopReason),
    /// With a non-finite loss, gradient or weight.
    Diverged(Divergence),
}

/// What the L-BFGS polish did.
#[derive(Debug, Clone, Copy)]
struct Polish {
    iterations: usize,
    stop: LbfgsStop,
    kept: bool,
}

/// One restart in progress.
pub(super) struct Restart<'p, 'a> {
    problem: &'p Problem<'a>,
    index: usize,
    seed: u64,
    started: Instant,
    /// The current parameters.
    theta: Vec<f64>,
    adam: Adam,
    /// Minibatch order: shuffled by `rng` at the start of every epoch.
    rng: Xoshiro256PlusPlus,
    order: Vec<usize>,
    n_batches: usize,
    /// The next minibatch of the epoch (`n_batches`: the epoch is over).
    cursor: usize,
    /// The parameters this restart hands over (keep-best, or the polished ones), and their
    /// validation loss.
    best: Vec<f64>,
    best_val: f64,
    /// The latest validation loss.
    last_val: Option<f64>,
    /// Evaluations since the last improvement.
    stale: usize,
    /// The last parameters whose minibatch loss was finite, and that loss.
    last_good: Vec<f64>,
    last_good_loss: f64,
    adam_steps: usize,
    history: LossHistory,
}

impl<'p, 'a> Restart<'p, 'a> {
    /// Restart `index` with `seed`: its initial weights and their validation loss.
    pub fn new(problem: &'p Problem<'a>, index: usize, seed: u64) -> Result<Self> {
        let started = Instant::now();
        let (network, config) = (problem.network, problem.config);
        let (m, p) = problem.sizes;
        let init = network
            .elman(m, p, seed)
            .with_init(network.init.for_restart(index))
            .init_weights(network.mode)?;
        let theta = problem.train_objective.layout.flatten(&init);
        let adam = Adam::new(theta.len(), config.beta1, config.beta2, config.epsilon);
        let n_batches = problem.train_set.len().div_ceil(config.batch_size);
        let best_val = problem.validation_loss(&theta)?;
        Ok(Self {
            problem,
            index,
            seed,
            started,
            best: theta.clone(),
            last_good: theta.clone(),
            theta,
            adam,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            order: (0..problem.train_set.len()).collect(),
            n_batches,
            cursor: n_batches, // forces a shuffle before the first step
            best_val,
            last_val: None,
            stale: 0,
            last_good_loss: f64::NAN,
            adam_steps: 0,
            history: LossHistory::default(),
        })
    }

    /// Runs both phases and reports.
    pub fn run(mut self, observer: &mut dyn Observer) -> Result<RestartOutcome> {
        let stop = match self.adam_phase(observer)? {
            AdamEnd::Stopped(stop) => stop,
            AdamEnd::Diverged(divergence) => {
                let stop = StopReason::Diverged {
                    phase: divergence.phase.name().into(),
                    step: divergence.step,
                    reason: divergence.reason.clone(),
                };
                return self.finish(stop, None, Some(divergence));
            }
        };
        let polish = self.polish_phase(observer)?;
        self.finish(stop, polish, None)
    }

    /// The next minibatch, or `None` when it is the whole training set (one batch per epoch).
    fn next_minibatch(&mut self) -> Option<Batch> {
        if self.cursor == self.n_batches {
            self.cursor = 0;
            if self.n_batches > 1 {
                self.order.shuffle(&mut self.rng);
            }
        }
        let cursor = self.cursor;
        self.cursor += 1;
        if self.n_batches == 1 {
            return None;
        }
        let problem = self.problem;
        let size = problem.config.batch_size;
        let chunk = &self.order[cursor * size..((cursor + 1) * size).min(self.order.len())];
        let seqs: Vec<&SequenceData> = chunk.iter().map(|&i| problem.train_set[i]).collect();
        Some(make_training_batch(
            &seqs,
            problem.network.mode,
            &problem.scaling,
            problem.config.horizon,
            problem.train_objective.device,
        ))
    }

    /// Adam on minibatches, with early stopping on the validation loss and keep-best.
    fn adam_phase(&mut self, observer: &mut dyn Observer) -> Result<AdamEnd> {
        let problem = self.problem;
        let (config, objective) = (problem.config, &problem.train_objective);
        for step in 0..config.max_steps {
            let minibatch = self.next_minibatch();
            let batch = minibatch.as_ref().unwrap_or(&problem.full_train);

            let eval = objective.evaluate(&self.theta, batch, true)?;
            let loss = eval.original(&objective.output_var);
            let mut grad = eval.grad.unwrap_or_default();
            if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
                let what = if loss.is_finite() { "gradient" } else { "loss" };
                return Ok(AdamEnd::Diverged(
                    self.divergence(step + 1, format!("non-finite {what}")),
                ));
            }
            self.last_good_loss = loss;
            self.last_good.clone_from(&self.theta);
            if let Some(max_norm) = config.grad_clip_norm {
                clip_norm(&mut grad, max_norm);
            }
            let lr = config.learning_rate_at(step);
            self.adam.step(&mut self.theta, &grad, lr);
            self.adam_steps = step + 1;
            if self.theta.iter().any(|x| !x.is_finite()) {
                let divergence = self.divergence(step + 1, "non-finite weights".to_string());
                return Ok(AdamEnd::Diverged(divergence));
            }
            let on_schedule = (step + 1) % config.eval_every == 0;
            if on_schedule || step + 1 == config.max_steps {
                let val = problem.validation_loss(&self.theta)?;
                self.last_val = Some(val);
                if val.is_finite() && val < self.best_val * (1.0 - config.min_improvement) {
                    self.best_val = val;
                    self.best.clone_from(&self.theta);
                    self.stale = 0;
                } else {
                    self.stale += 1;
                }
                if on_schedule {
                    self.history.adam_loss.push(loss);
                    self.history.validation_loss.push(val);
                }
            }
            observer.step(&Progress {
                restart: self.index,
                phase: Phase::Adam,
                step: step + 1,
                loss,
                val_loss: self.last_val,
                learning_rate: lr,
            });
            if self.stale >= config.patience {
                return Ok(AdamEnd::Stopped(StopReason::EarlyStopping));
            }
        }
        Ok(AdamEnd::Stopped(StopReason::MaxSteps))
    }

    /// The divergence detected at Adam step `step`, with the last good parameters.
    fn divergence(&mut self, step: usize, reason: String) -> Divergence {
        Divergence {
            phase: Phase::Adam,
            step,
            reason,
            last_good_loss: self.last_good_loss,
            last_good: std::mem::take(&mut self.last_good),
        }
    }

    /// L-BFGS on the full training set from the kept weights (`None` when disabled); the
    /// polished weights replace them unless they raise the validation loss by more than
    /// `polish_tolerance`.
    fn polish_phase(&mut self, observer: &mut dyn Observer) -> Result<Option<Polish>> {
        let problem = self.problem;
        let (config, objective, full_train) = (
            problem.config,
            &problem.train_objective,
            &problem.full_train,
        );
        if config.lbfgs_iterations == 0 {
            return Ok(None);
        }
        let lbfgs = Lbfgs {
            iterations: config.lbfgs_iterations,
            history: config.lbfgs_history,
            tolerance_grad: 1e-12,
            tolerance_change: 1e-12,
        };
        // The original-unit loss of the latest evaluation: the accepted point when `observe`
        // runs.
        let last_loss = Cell::new(f64::NAN);
        let mut f = |x: &[f64]| -> Result<(f64, Vec<f64>)> {
            let e = objective.evaluate(x, full_train, true)?;
            last_loss.set(e.original(&objective.output_var));
            Ok((e.objective(), e.grad.unwrap_or_default()))
        };
        let (restart, val_loss) = (self.index, self.last_val);
        let lbfgs_loss = &mut self.history.lbfgs_loss;
        let mut observe = |iteration: usize, _f: f64, t: f64| {
            let loss = last_loss.get();
            lbfgs_loss.push(loss);
            observer.step(&Progress {
                restart,
                phase: Phase::Lbfgs,
                step: iteration,
                loss,
                val_loss,
                learning_rate: t,
            });
        };
        let polished = lbfgs.minimise(self.best.clone(), &mut f, &mut observe)?;
        let polished_val = problem.validation_loss(&polished.x)?;
        let kept = polished_val.is_finite()
            && polished_val <= self.best_val * (1.0 + config.polish_tolerance);
        if kept {
            self.best = polished.x;
            self.best_val = polished_val;
        }
        Ok(Some(Polish {
            iterations: polished.iterations,
            stop: polished.stop,
            kept,
        }))
    }

    /// The report, with the full training loss of the weights handed over.
    fn finish(
        self,
        stop: StopReason,
        polish: Option<Polish>,
        diverged: Option<Divergence>,
    ) -> Result<RestartOutcome> {
        let train_loss = self.problem.train_loss(&self.best)?;
        Ok(RestartOutcome {
            report: RestartReport {
                restart: self.index,
                seed: self.seed,
                adam_steps: self.adam_steps,
                stop,
                lbfgs_iterations: polish.map_or(0, |p| p.iterations),
                lbfgs_stop: polish.map(|p| p.stop),
                lbfgs_kept: polish.is_some_and(|p| p.kept),
                val_loss: self.best_val,
                train_loss,
                seconds: self.started.elapsed().as_secs_f64(),
                history: self.history,
                weights: None,
            },
            theta: self.best,
            diverged,
        })
    }
}
