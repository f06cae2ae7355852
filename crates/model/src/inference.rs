//! A trained network: inference on new data, and checkpoints.
//!
//! A checkpoint is a folder with `model.bpk` (the parameters, written by Burn's recorder in its
//! burnpack format) and `model.json` (the [`ElmanConfig`] and [`Mode`] needed to rebuild the
//! module before loading the parameters into it).

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::data::{SequenceData, Standardisation, check_dataset, make_batch};
use crate::error::{ModelError, Result};
use crate::model::{Elman, ElmanConfig, Unroll, tensor_to_matrix};
use dynrec_core::weights::{Mode, RnnWeights, Trajectory};

/// File name of the Burn record inside a checkpoint folder.
pub const RECORD_FILE: &str = "model.bpk";
/// File name of the configuration inside a checkpoint folder.
pub const CONFIG_FILE: &str = "model.json";

/// What `model.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CheckpointConfig {
    network: ElmanConfig,
    mode: Mode,
}

/// A network with weights in the data's original units, on a (non-autodiff) device.
#[derive(Debug)]
pub struct TrainedRnn {
    weights: RnnWeights,
    network: Elman,
    device: Device,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |error| ModelError::Io {
        path: path.to_path_buf(),
        error,
    }
}

impl TrainedRnn {
    /// Puts `weights` on `device`. Without [`RnnWeights::bias`], `b` and `c` must be zero.
    ///
    /// [`TrainedRnn::weights`] then returns what the device holds (rounded to its float type),
    /// so that the exported weights are exactly the network that predicts.
    pub fn new(weights: RnnWeights, device: &Device) -> Result<Self> {
        let device = device.clone().without_autodiff();
        let network = Elman::from_weights(&weights, &device)?;
        let weights = network.to_weights(weights.mode)?;
        Ok(Self {
            weights,
            network,
            device,
        })
    }

    /// The weights, in original units.
    pub fn weights(&self) -> &RnnWeights {
        &self.weights
    }

    /// The Burn module.
    pub fn network(&self) -> &Elman {
        &self.network
    }

    /// The module configuration (the seed is irrelevant once trained and reads 0).
    pub fn config(&self) -> ElmanConfig {
        ElmanConfig::new(
            self.weights.d_input(),
            self.weights.d_hidden(),
            self.weights.d_output(),
        )
        .with_activation(self.weights.activation)
        .with_bias(self.weights.bias)
    }

    /// The mode the network was trained in.
    pub fn mode(&self) -> Mode {
        self.weights.mode
    }

    /// Runs the network over each sequence (conventions of [`crate::data`]): the predicted
    /// measurements and the hidden trajectory. Measurements are read only in predictor mode.
    pub fn predict(&self, data: &[SequenceData]) -> Result<Vec<Trajectory>> {
        let mode = self.weights.mode;
        let (m, p) = check_dataset(data, mode, false)?;
        let expected_m = self.weights.w_inputs().ncols();
        if m != expected_m || p != self.weights.d_output() {
            return Err(ModelError::Data {
                sequence: 0,
                message: format!(
                    "{m} inputs and {p} outputs; the network takes {expected_m} and gives {}",
                    self.weights.d_output()
                ),
            });
        }
        let refs: Vec<&SequenceData> = data.iter().collect();
        let batch = make_batch(&refs, mode, &Standardisation::identity(m, p), &self.device);
        let hidden = self.network.hidden_columns(
            batch.inputs,
            batch.batch,
            batch.steps,
            None,
            batch.feedback.as_ref(),
            Unroll::default(),
        );
        let outputs = tensor_to_matrix(self.network.readout_columns(hidden.clone()))?;
        let hidden = tensor_to_matrix(hidden)?;
        let n = self.weights.d_hidden();
        Ok(data
            .iter()
            .enumerate()
            .map(|(i, seq)| {
                let rows = |all: &DMatrix<f64>, dim: usize| {
                    DMatrix::from_fn(dim, seq.steps(), |r, k| all[(r, k * batch.batch + i)])
                };
                Trajectory {
                    outputs: rows(&outputs, p),
                    hidden: rows(&hidden, n),
                }
            })
            .collect())
    }

    /// Writes a checkpoint folder (created if needed): `model.bpk` and `model.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let config = CheckpointConfig {
            network: self.config(),
            mode: self.weights.mode,
        };
        let json_path = dir.join(CONFIG_FILE);
        std::fs::write(&json_path, serde_json::to_string_pretty(&config)?)
            .map_err(io_error(&json_path))?;
        self.network.clone().save_file(dir.join(RECORD_FILE))?;
        Ok(())
    }

    /// Reads a checkpoint folder written by [`TrainedRnn::save`] onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let json_path = dir.join(CONFIG_FILE);
        let json = std::fs::read_to_string(&json_path).map_err(io_error(&json_path))?;
        let config: CheckpointConfig = serde_json::from_str(&json)?;
        let device = device.clone().without_autodiff();
        let network = config
            .network
            .init(&device)?
            .try_load_file(dir.join(RECORD_FILE))?;
        let weights = network.to_weights(config.mode)?;
        Ok(Self {
            weights,
            network,
            device,
        })
    }
}
