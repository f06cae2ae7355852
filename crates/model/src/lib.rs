//! Elman recurrent networks on Burn: definition, training and weight export.
//!
//! ```text
//! h_k = act(U h_{k-1} + W in_k + b)
//! y_k = V h_k + c
//! ```
//!
//! - [`model`]: the network ([`ElmanConfig`] → [`Elman`]), its forward pass, which runs the
//!   whole recurrence (and in training the readout and loss too) as one fused Burn operation
//!   with a hand-written backward pass (module `fused`, internal), and the [`NetworkConfig`]
//!   that training builds it from;
//! - [`data`]: sequences as plain matrices, the input conventions of the two modes,
//!   standardisation;
//! - [`training`]: [`train`] with a [`TrainingConfig`], progress through an [`Observer`], loss
//!   curves in the [`TrainingReport`];
//! - [`inference`]: a [`TrainedRnn`] predicts on new data and saves/loads checkpoints;
//! - [`RnnWeights`] (from `dynrec-core`): the form in which weights leave the crate;
//! - [`device`]: the run-time choice of Burn backend and precision ([`Compute`]);
//! - [`Valid`]: a configuration that passed its checks ([`Validate`]), as training takes it.
//!
//! Burn tensors stay inside this crate; everything that leaves it is a
//! `nalgebra::DMatrix<f64>`.

pub mod data;
pub mod device;
pub mod error;
mod fused;
pub mod inference;
pub mod model;
mod optim;
pub mod training;
mod valid;

pub use data::{SequenceData, Standardisation};
pub use device::{Backend, Compute, Precision};
pub use dynrec_core::weights::{Activation, Mode, RnnWeights, Trajectory};
pub use error::{ModelError, Result};
pub use inference::TrainedRnn;
pub use model::{Elman, ElmanConfig, ElmanOutput, Init, NetworkConfig, Ring, ValidNetworkConfig};
pub use optim::LbfgsStop;
pub use training::{
    Fit, LossHistory, Observer, Phase, Progress, RestartReport, Silent, StopReason, TrainingConfig,
    TrainingReport, ValidTrainingConfig, train, train_checked,
};
pub use valid::{Valid, Validate};
