//! How to train: [`TrainingConfig`] as written in files, and [`ValidTrainingConfig`], the same
//! values once [`TrainingConfig::check`] has accepted them.

use serde::{Deserialize, Serialize};

use crate::error::{Result, config_error};
use crate::valid::{Valid, Validate};

/// How to train. Every field has a documented default (`TrainingConfig::default()`, or omit the
/// field in JSON/TOML). [`TrainingConfig::check`] gives the [`ValidTrainingConfig`] that
/// training uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// Base seed of restarts, minibatch order and validation split (default 0).
    pub seed: u64,
    /// Independent random restarts; the best validation loss wins (default 3).
    pub restarts: usize,
    /// Adam steps per restart, at most (default 2000).
    pub max_steps: usize,
    /// Sequences per minibatch (default 64); each Adam step sees one minibatch.
    pub batch_size: usize,
    /// Initial Adam learning rate (default 0.02).
    pub learning_rate: f64,
    /// Learning rate reached at `max_steps`, decaying geometrically from `learning_rate`
    /// (default 1e-4).
    pub final_learning_rate: f64,
    /// Adam `β₁` (default 0.9).
    pub beta1: f64,
    /// Adam `β₂` (default 0.999).
    pub beta2: f64,
    /// Adam `ε` (default 1e-8, as in PyTorch; Burn's Adam uses 1e-5).
    pub epsilon: f64,
    /// Clip the global gradient norm to this (default 10; `None` disables).
    pub grad_clip_norm: Option<f64>,
    /// Prediction horizon `K` of the loss (default 1, the one-step error; predictor mode only).
    /// With `K > 1` every present measurement is also predicted `2..K` steps ahead, the network
    /// running free on its own predictions from the state `j − 1` steps before it (as it runs
    /// through a gap), and the loss is the mean squared error over all these predictions (a
    /// multi-step prediction error criterion); every loss the training reports and selects by
    /// is then that mean. It weighs slow, lightly damped dynamics that the one-step error
    /// barely sees, and for a model of the right order it has the same minimiser (the Kalman
    /// predictor is optimal at every horizon).
    #[serde(skip_serializing_if = "is_one")]
    pub horizon: usize,
    /// Truncate backpropagation through time to windows of this many steps (default `None`:
    /// full BPTT).
    pub truncation: Option<usize>,
    /// Fraction of the sequences held out for validation (default 0.2; at least one sequence
    /// stays for training). With no validation sequence, early stopping and keep-best use the
    /// full training loss.
    pub validation_fraction: f64,
    /// Evaluate the validation loss every this many Adam steps (default 10).
    pub eval_every: usize,
    /// Stop after this many evaluations without improvement (default 30).
    pub patience: usize,
    /// Relative decrease of the validation loss that counts as an improvement (default 1e-5).
    pub min_improvement: f64,
    /// L-BFGS iterations after Adam on the full training set (default 200; 0 disables).
    pub lbfgs_iterations: usize,
    /// L-BFGS memory (default 20).
    pub lbfgs_history: usize,
    /// The polished weights are kept unless they raise the validation loss by more than this
    /// relative amount (default 1e-3).
    pub polish_tolerance: f64,
    /// Standardise inputs and outputs for training (default true); exported weights are in the
    /// original units either way. Without biases only the scale is changed, not the mean.
    pub standardise: bool,
    /// Run the recurrence, readout and loss as one fused operation with a hand-written
    /// backward pass (default true; see `crate::fused`; on the CPU backends only, a Vulkan
    /// device always steps). `false` steps through time with Burn's tensor operations: same
    /// result, several times slower, kept for cross-checks. (The name
    /// is historical: it once chose a parallel scan for linear networks.)
    pub scan: bool,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            restarts: 3,
            max_steps: 2000,
            batch_size: 64,
            learning_rate: 0.02,
            final_learning_rate: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            grad_clip_norm: Some(10.0),
            horizon: 1,
            truncation: None,
            validation_fraction: 0.2,
            eval_every: 10,
            patience: 30,
            min_improvement: 1e-5,
            lbfgs_iterations: 200,
            lbfgs_history: 20,
            polish_tolerance: 1e-3,
            standardise: true,
            scan: true,
        }
    }
}

impl TrainingConfig {
    /// Checks every range and returns the configuration as a [`ValidTrainingConfig`].
    ///
    /// # Errors
    /// [`crate::ModelError::Config`] naming the first field out of range.
    pub fn check(&self) -> Result<ValidTrainingConfig> {
        Valid::new(self.clone())
    }

    /// Learning rate at Adam step `step` (0-based): geometric decay from `learning_rate` to
    /// `final_learning_rate` at step `max_steps − 1`.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let span = self.max_steps.saturating_sub(1).max(1) as f64;
        let frac = (step as f64 / span).min(1.0);
        self.learning_rate * (self.final_learning_rate / self.learning_rate).powf(frac)
    }

    /// Seed of restart `restart`'s initial weights ([`crate::ElmanConfig::seed`]) and minibatch
    /// order.
    pub fn restart_seed(&self, restart: usize) -> u64 {
        splitmix64(self.seed ^ splitmix64(restart as u64 + 1))
    }
}

impl Validate for TrainingConfig {
    fn validate(&self) -> Result<()> {
        let positive = |field: &'static str, x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(config_error(field, format!("{x} must be finite and > 0")))
            }
        };
        if self.restarts == 0 {
            return Err(config_error("restarts", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(config_error("batch_size", "must be at least 1"));
        }
        if self.eval_every == 0 {
            return Err(config_error("eval_every", "must be at least 1"));
        }
        if self.horizon == 0 {
            return Err(config_error("horizon", "must be at least 1 step"));
        }
        if self.truncation == Some(0) {
            return Err(config_error("truncation", "must be at least 1 step"));
        }
        positive("learning_rate", self.learning_rate)?;
        positive("final_learning_rate", self.final_learning_rate)?;
        positive("epsilon", self.epsilon)?;
        if let Some(clip) = self.grad_clip_norm {
            positive("grad_clip_norm", clip)?;
        }
        for (field, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(config_error(field, format!("{beta} is not in [0, 1)")));
            }
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return Err(config_error(
                "validation_fraction",
                format!("{} is not in [0, 1)", self.validation_fraction),
            ));
        }
        if !(self.min_improvement >= 0.0 && self.polish_tolerance >= 0.0) {
            return Err(config_error("min_improvement", "tolerances must be ≥ 0"));
        }
        if self.lbfgs_iterations > 0 && self.lbfgs_history == 0 {
            return Err(config_error("lbfgs_history", "must be at least 1"));
        }
        Ok(())
    }
}

/// A [`TrainingConfig`] that passed its checks ([`TrainingConfig::check`]): at least one
/// restart, a non-empty minibatch, positive finite learning rates, and so on.
pub type ValidTrainingConfig = Valid<TrainingConfig>;

fn is_one(x: &usize) -> bool {
    *x == 1
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ModelError;
    use crate::model::{NetworkConfig, ValidNetworkConfig};

    /// The checked configurations serialise exactly like the unchecked ones (the format written
    /// into every report does not change), and deserialising a checked one runs the check: an
    /// out-of-range value is refused with the name of its field.
    #[test]
    fn checked_configs_share_the_serde_format() {
        let training = TrainingConfig {
            truncation: Some(5),
            grad_clip_norm: None,
            ..TrainingConfig::default()
        };
        let valid = training.check().expect("valid");
        let json = serde_json::to_string(&training).expect("json");
        assert_eq!(serde_json::to_string(&valid).expect("json"), json);
        let back: ValidTrainingConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, valid);
        let bad = r#"{"restarts": 0}"#;
        let err = serde_json::from_str::<ValidTrainingConfig>(bad).expect_err("0 restarts");
        assert!(err.to_string().contains("restarts"), "{err}");

        let network = NetworkConfig {
            d_hidden: 4,
            ..NetworkConfig::default()
        };
        let valid = network.check().expect("valid");
        let json = serde_json::to_string(&network).expect("json");
        assert_eq!(serde_json::to_string(&valid).expect("json"), json);
        let bad = r#"{"init_spectral_radius": 1.5}"#;
        let err = serde_json::from_str::<ValidNetworkConfig>(bad).expect_err("radius 1.5");
        assert!(err.to_string().contains("init_spectral_radius"), "{err}");
    }

    /// `check` refuses each kind of bad value, naming the field.
    #[test]
    fn check_names_the_bad_field() {
        type Spoil = fn(&mut TrainingConfig);
        let cases: [(&str, Spoil); 6] = [
            ("batch_size", |c| c.batch_size = 0),
            ("truncation", |c| c.truncation = Some(0)),
            ("learning_rate", |c| c.learning_rate = f64::NAN),
            ("beta2", |c| c.beta2 = 1.0),
            ("validation_fraction", |c| c.validation_fraction = 1.0),
            ("lbfgs_history", |c| c.lbfgs_history = 0),
        ];
        for (field, spoil) in cases {
            let mut config = TrainingConfig::default();
            spoil(&mut config);
            match config.check() {
                Err(ModelError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected a config error, got {other:?}"),
            }
        }
        let network = NetworkConfig {
            d_hidden: 0,
            ..NetworkConfig::default()
        };
        assert!(matches!(
            network.check(),
            Err(ModelError::Config {
                field: "d_hidden",
                ..
            })
        ));
    }
}
