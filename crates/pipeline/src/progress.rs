//! Training progress: an [`Observer`] that draws an `indicatif` bar (hidden when stderr is not a
//! terminal, or when asked to be silent). The loss curves themselves are in the training
//! report (each restart's `history`).

use dynrec_model::{Observer, Phase, Progress, RestartReport};
use indicatif::{ProgressBar, ProgressStyle};

/// Draws a progress bar of the Adam steps of every restart, with the latest loss.
pub struct ProgressBarObserver {
    bar: ProgressBar,
    eval_every: usize,
    max_steps: usize,
}

impl ProgressBarObserver {
    /// A bar for `restarts × max_steps` Adam steps, its message refreshed every `eval_every`
    /// steps; hidden when `visible` is false.
    pub fn new(
        label: &str,
        restarts: usize,
        max_steps: usize,
        eval_every: usize,
        visible: bool,
    ) -> Self {
        let bar = if visible {
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
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for ProgressBarObserver {
    fn step(&mut self, p: &Progress) {
        if p.phase == Phase::Adam {
            self.bar.inc(1);
            if p.step.is_multiple_of(self.eval_every) {
                self.bar.set_message(format!("loss {:.3e}", p.loss));
            }
        } else {
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
