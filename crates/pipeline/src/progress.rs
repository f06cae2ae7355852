//! Training progress: an [`Observer`] that draws an `indicatif` bar (hidden when stderr is not a
//! terminal) and records the loss curves for the loss plot.

use dynrec_model::{Observer, Phase, Progress, RestartReport};
use indicatif::{ProgressBar, ProgressStyle};

/// Loss curves of each restart: one point per validation evaluation during Adam, then (training
/// only, on the full training set) one point per L-BFGS iteration, so that a polish that moves
/// the loss shows on the plot.
#[derive(Debug, Clone, Default)]
pub struct Curves {
    /// `train[r]`: training (minibatch) losses of restart `r`.
    pub train: Vec<Vec<f64>>,
    /// `validation[r]`: validation losses of restart `r`.
    pub validation: Vec<Vec<f64>>,
}

/// Draws a progress bar and records [`Curves`].
pub struct Recorder {
    bar: ProgressBar,
    eval_every: usize,
    max_steps: usize,
    /// What was recorded.
    pub curves: Curves,
}

impl Recorder {
    /// A recorder for `restarts × max_steps` Adam steps, evaluated every `eval_every` steps.
    /// `bar` is `None` for a silent recorder.
    pub fn new(
        label: &str,
        restarts: usize,
        max_steps: usize,
        eval_every: usize,
        bar: bool,
    ) -> Self {
        let bar = if bar {
            let b = ProgressBar::new((restarts * max_steps) as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>16} [{bar:30}] {pos}/{len} Adam steps {msg} ({elapsed})",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_prefix(label.to_string());
            b
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            eval_every: eval_every.max(1),
            max_steps,
            curves: Curves::default(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Recorder {
    fn restart_started(&mut self, _restart: usize, _seed: u64) {
        self.curves.train.push(Vec::new());
        self.curves.validation.push(Vec::new());
    }

    fn step(&mut self, p: &Progress) {
        if p.phase == Phase::Adam {
            self.bar.inc(1);
            if p.step.is_multiple_of(self.eval_every) {
                if let Some(t) = self.curves.train.last_mut() {
                    t.push(p.loss);
                }
                if let (Some(v), Some(val)) = (self.curves.validation.last_mut(), p.val_loss) {
                    v.push(val);
                }
                self.bar.set_message(format!("loss {:.3e}", p.loss));
            }
        } else {
            if let Some(t) = self.curves.train.last_mut() {
                t.push(p.loss);
            }
            self.bar
                .set_message(format!("L-BFGS {} loss {:.3e}", p.step, p.loss));
        }
    }

    fn restart_finished(&mut self, report: &RestartReport) {
        // Jump over the steps early stopping skipped.
        self.bar
            .set_position(((report.restart + 1) * self.max_steps) as u64);
        self.bar.set_message(format!(
            "restart {} done, val {:.3e}",
            report.restart, report.val_loss
        ));
    }
}
