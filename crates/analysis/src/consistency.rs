//! Does the story add up? Checks that need more evidence than one network's weights, for data
//! without a known truth, where nothing else would expose a network stuck in the wrong
//! minimum while its one-step loss looks fine:
//!
//! - **a mode the network lacks**: a classical baseline at the network's order finds a lightly
//!   damped mode (`|λ| > 0.95`) with no eigenvalue of the network's recovered dynamics within
//!   0.05 of it;
//! - **restarts that disagree**: restarts whose validation loss is within 5% of the best one's
//!   recover dominant modes that differ by more than 0.05 (bottleneck matching of the dominant
//!   eigenvalues): the data do not pin the dynamics down, or training did not find them;
//! - **a better predictor of the same order** (predictor mode): a classical baseline at the
//!   network's order whose steady-state Kalman predictor (fixed gain, from the estimate's prior
//!   mean, run as the network runs) has a one-step error more than 5% below the network's on
//!   the same data. A linear predictor network of order `n` represents that predictor exactly
//!   (`U = A − K H`, `W_z = K`, `V = H`, its first state `h_1 = b`), so it is a point of the
//!   network's own loss that training did not reach: a worse local minimum, whatever the
//!   eigenvalues say. (The baseline's Kalman *filter*, whose gain also varies in time from its
//!   prior covariance, is not the comparison: no time-invariant network has that, and on a
//!   series with a nearly deterministic cycle the difference alone is tens of percent.)
//!
//! - **a better simulator of the same order** (simulation mode, linear network, with or
//!   without a known truth): a classical baseline of order at most the network's, fed the
//!   inputs alone as the network is, has a held-out MSE more than 20% below the network's. The
//!   network represents that model (`U = A`, `W = B`, `V = H`), so here too training stopped
//!   in a worse minimum of its own loss; the eigenvalues may still be close (a network can
//!   find A and miss B or H), but the fit is not the data's best.
//!
//! Each finding becomes a sentence appended to the verdict and a note.

use dynrec_core::weights::RnnWeights;

use crate::analysis::{Analysis, AnalysisConfig, analyse};
use crate::eigen::C64;
use crate::matching::match_eigenvalues;

/// A baseline mode is lightly damped above this modulus.
pub const LIGHTLY_DAMPED: f64 = 0.95;
/// Distance within which a network eigenvalue partners a baseline's, and within which the
/// dominant modes of two restarts agree.
pub const PARTNER_DISTANCE: f64 = 0.05;
/// Restarts whose validation loss is within this relative margin of the best fit equally well.
pub const EQUALLY_GOOD: f64 = 0.05;
/// A baseline predicts better than the network when its one-step MSE is below the network's by
/// more than this relative margin.
pub const BETTER_PREDICTOR: f64 = 0.05;

/// A baseline simulates better than a linear simulation-mode network when its held-out MSE is
/// below the network's by more than this relative margin (wider than [`BETTER_PREDICTOR`]:
/// the baseline starts from its own prior mean, the network from its learned first state).
pub const BETTER_SIMULATOR: f64 = 0.2;

/// A restart of the training: its validation loss and its weights.
#[derive(Debug, Clone, Copy)]
pub struct RestartFit<'a> {
    /// Its validation loss (original units).
    pub val_loss: f64,
    /// The weights it ended with.
    pub weights: &'a RnnWeights,
}

impl Analysis {
    /// Without a known truth: checks the network against the baselines already added
    /// ([`Analysis::add_baseline`]) and against the other `restarts` of its training (the best
    /// one, this network, among them), appends a sentence per finding to the verdict and a
    /// note, and returns the findings. With a truth it does nothing (the eigen errors say more).
    pub fn check_consistency(
        &mut self,
        restarts: &[RestartFit<'_>],
        config: &AnalysisConfig,
    ) -> Vec<String> {
        if !self.truth.is_empty() {
            return Vec::new();
        }
        let mut findings = self.missing_modes();
        if let Some(f) = restart_disagreement(restarts, config) {
            findings.push(f);
        }
        for f in &findings {
            self.verdict.push_str(&format!(" Warning: {f}"));
            self.notes.push(format!("Warning: {f}"));
        }
        findings
    }

    /// The lightly damped modes that every baseline at the network's order finds (within
    /// [`PARTNER_DISTANCE`] of each other) and that the network has no partner for. One
    /// baseline alone is not enough when another disagrees: N4SID's moduli are biased at
    /// finitely many block rows, and where EM, the likelihood's answer, agrees with the network
    /// the story adds up.
    fn missing_modes(&self) -> Vec<String> {
        let same_order: Vec<&crate::analysis::Baseline> = self
            .baselines
            .iter()
            .filter(|b| b.eigenvalues.len() == self.d_hidden)
            .collect();
        let Some(first) = same_order.first() else {
            return Vec::new();
        };
        let near = |z: &C64, set: &[C64]| set.iter().any(|w| (*w - *z).norm() <= PARTNER_DISTANCE);
        let lonely: Vec<&C64> = first
            .eigenvalues
            .iter()
            .filter(|z| z.norm() > LIGHTLY_DAMPED && z.im >= 0.0)
            .filter(|z| !near(z, &self.rnn))
            .filter(|z| same_order.iter().all(|b| near(z, &b.eigenvalues)))
            .collect();
        if lonely.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = same_order.iter().map(|b| b.name.as_str()).collect();
        let modes: Vec<String> = lonely.iter().map(|z| describe(**z)).collect();
        vec![format!(
            "{} (order {}) find{} the lightly damped mode{} {} that the network has no \
             eigenvalue within {PARTNER_DISTANCE} of; the network may have missed slow dynamics \
             that the one-step loss does not show.",
            names.join(" and "),
            self.d_hidden,
            if names.len() == 1 { "s" } else { "" },
            if modes.len() > 1 { "s" } else { "" },
            modes.join(", ")
        )]
    }
}

impl Analysis {
    /// Without a known truth, in predictor mode: `baselines` are the one-step MSEs (name,
    /// value) of the steady-state predictors (fixed gain, from the prior mean) of the classical
    /// baselines at the network's order, on the same data as the network's `rnn_mse`; when the best of them
    /// is more than [`BETTER_PREDICTOR`] below it, appends a warning to the verdict and the
    /// notes and returns it.
    pub fn check_one_step_error(
        &mut self,
        rnn_mse: f64,
        baselines: &[(&str, f64)],
    ) -> Option<String> {
        if !self.truth.is_empty() || self.mode != dynrec_core::weights::Mode::Predictor {
            return None;
        }
        let (name, best) = baselines
            .iter()
            .filter(|(_, mse)| mse.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        if !(rnn_mse.is_finite() && *best < rnn_mse * (1.0 - BETTER_PREDICTOR)) {
            return None;
        }
        let finding = format!(
            "the steady-state Kalman predictor of {name} (order {}), run with a fixed gain as \
             the network runs, has a one-step MSE {:.1}% below the network's ({best:.4e} \
             against {rnn_mse:.4e}), though a predictor network of that order can represent \
             it: training stopped in a worse minimum of its own loss, and its eigenvalues need \
             not be the data's. Restarts from a ring of slow, lightly damped eigenvalues, a \
             k-step-ahead loss or a detrended series may find the better one (README, 'Slow \
             modes').",
            self.d_hidden,
            100.0 * (1.0 - best / rnn_mse)
        );
        self.verdict.push_str(&format!(" Warning: {finding}"));
        self.notes.push(format!("Warning: {finding}"));
        Some(finding)
    }

    /// In simulation mode, for a linear network: `baselines` are the held-out MSEs (name,
    /// order, value) of the classical baselines fed the inputs alone, on the same held-out data
    /// as the network's `rnn_mse`; when one of order at most the network's is more than
    /// [`BETTER_SIMULATOR`] below it, appends a warning to the verdict and the notes and
    /// returns it.
    pub fn check_simulation_error(
        &mut self,
        rnn_mse: f64,
        baselines: &[(&str, usize, f64)],
    ) -> Option<String> {
        if self.mode != dynrec_core::weights::Mode::Simulation
            || self.activation != dynrec_core::weights::Activation::Linear
        {
            return None;
        }
        let (name, order, best) = baselines
            .iter()
            .filter(|(_, order, mse)| *order <= self.d_hidden && mse.is_finite())
            .min_by(|a, b| a.2.total_cmp(&b.2))?;
        if !(rnn_mse.is_finite() && *best < rnn_mse * (1.0 - BETTER_SIMULATOR)) {
            return None;
        }
        let finding = format!(
            "{name}'s model (order {order}), fed the inputs as the network is, has a held-out \
             MSE {:.1}% below the network's ({best:.4e} against {rnn_mse:.4e}), though a linear \
             network of {} units represents it: training stopped in a worse minimum of its own \
             loss, so the weights above are that minimum's, not the data's best fit. More \
             restarts may find the better one.",
            100.0 * (1.0 - best / rnn_mse),
            self.d_hidden
        );
        self.verdict.push_str(&format!(" Warning: {finding}"));
        self.notes.push(format!("Warning: {finding}"));
        Some(finding)
    }
}

/// `λ = a ± bi (|λ| r, period P steps)`.
fn describe(z: C64) -> String {
    let period = if z.im.abs() > 1e-12 {
        format!(
            ", period {:.1} steps",
            2.0 * std::f64::consts::PI / z.arg().abs()
        )
    } else {
        String::new()
    };
    format!(
        "λ = {:.4}{} (|λ| {:.4}{period})",
        z.re,
        if z.im.abs() > 1e-12 {
            format!(" ± {:.4}i", z.im.abs())
        } else {
            String::new()
        },
        z.norm()
    )
}

/// The eigenvalues of the dominant modes of a network (all of them when none are ranked).
fn dominant_eigenvalues(a: &Analysis) -> Vec<C64> {
    match &a.modes {
        Some(m) => m
            .modes
            .iter()
            .filter(|m| m.dominant)
            .map(|m| C64::new(m.eigenvalue[0], m.eigenvalue[1]))
            .collect(),
        None => a.rnn.clone(),
    }
}

/// The largest disagreement on the dominant modes between the best restart and the others that
/// fit about as well, when above [`PARTNER_DISTANCE`].
fn restart_disagreement(restarts: &[RestartFit<'_>], config: &AnalysisConfig) -> Option<String> {
    let best = restarts
        .iter()
        .filter(|r| r.val_loss.is_finite())
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))?;
    let good: Vec<&RestartFit<'_>> = restarts
        .iter()
        .filter(|r| r.val_loss.is_finite() && r.val_loss <= best.val_loss * (1.0 + EQUALLY_GOOD))
        .collect();
    if good.len() < 2 {
        return None;
    }
    // A restart whose dynamics cannot be analysed (a nonlinear network without a fixed point)
    // is left out of the comparison.
    let dominant = |r: &RestartFit<'_>| {
        analyse(r.weights, None, None, config)
            .ok()
            .map(|a| dominant_eigenvalues(&a))
    };
    let reference = dominant(best)?;
    let mut worst = 0.0_f64;
    for r in good {
        let Some(other) = dominant(r) else {
            continue;
        };
        let distance = if other.len() == reference.len() {
            match_eigenvalues(&reference, &other).max_distance
        } else {
            f64::INFINITY
        };
        worst = worst.max(distance);
    }
    (worst > PARTNER_DISTANCE).then(|| {
        format!(
            "restarts whose validation loss is within {:.0}% of the best recover different \
             dominant modes ({}): the data do not pin the dynamics down, or training did not \
             find them.",
            100.0 * EQUALLY_GOOD,
            if worst.is_finite() {
                format!("they differ by up to {worst:.2e}")
            } else {
                "a different number of them".to_string()
            }
        )
    })
}
