//! The one error type of this crate.

use dynrec_core::weights::RnnWeights;

/// Everything that can go wrong while building, training, running or storing a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A configuration value is out of range or inconsistent with another one.
    #[error("invalid configuration: `{field}` {message}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// The training or inference data do not fit the network or are malformed.
    #[error("invalid data (sequence {sequence}): {message}")]
    Data {
        /// Index of the offending sequence.
        sequence: usize,
        /// What is wrong with it.
        message: String,
    },

    /// Every restart diverged (non-finite loss, gradient or weights). The weights of the last
    /// step whose loss was finite are kept in `last_good`.
    #[error(
        "training diverged in restart {restart} at {phase} step {step}: {reason} \
         (last finite loss {last_good_loss:e}); try a smaller learning rate"
    )]
    Diverged {
        /// Restart index (0-based) of the last restart that diverged.
        restart: usize,
        /// `"adam"` or `"lbfgs"`.
        phase: &'static str,
        /// Step (Adam) or iteration (L-BFGS) at which divergence was detected.
        step: usize,
        /// What became non-finite.
        reason: String,
        /// Loss of `last_good`, in the data's original units.
        last_good_loss: f64,
        /// The last weights whose loss was finite, in the data's original units.
        last_good: Box<RnnWeights>,
    },

    /// The requested Burn backend was not compiled into this build.
    #[error("backend `{0}` is not available in this build (enable the cargo feature `{0}`)")]
    BackendUnavailable(&'static str),

    /// A second float precision was requested for a device already configured with another one;
    /// Burn fixes a device's float type once per process.
    #[error(
        "device `{backend}` already uses {configured:?} in this process; {requested:?} was requested"
    )]
    PrecisionConflict {
        /// The backend.
        backend: &'static str,
        /// The precision fixed earlier in this process.
        configured: crate::device::Precision,
        /// The precision asked for now.
        requested: crate::device::Precision,
    },

    /// Burn refused to configure a device.
    #[error("device configuration failed: {0}")]
    Device(#[from] burn::tensor::DeviceError),

    /// A tensor could not be read back from the device.
    #[error("reading a tensor from the device failed: {0}")]
    TensorRead(String),

    /// Saving or loading a Burn record failed.
    #[error("checkpoint record: {0}")]
    Record(#[from] burn::store::RecordError),

    /// File system error (with the path involved).
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },

    /// JSON (de)serialisation failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

pub(crate) fn config_error(field: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::Config {
        field,
        message: message.into(),
    }
}

impl From<dynrec_core::CoreError> for ModelError {
    fn from(e: dynrec_core::CoreError) -> Self {
        match e {
            dynrec_core::CoreError::Io { path, error } => Self::Io { path, error },
            dynrec_core::CoreError::Json(e) => Self::Json(e),
            other => Self::Data {
                sequence: 0,
                message: other.to_string(),
            },
        }
    }
}
