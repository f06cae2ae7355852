//! The errors of the `sysid` crate.

use dynrec_truth::TruthError;

/// Everything that can go wrong while identifying a system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysidError {
    /// A configuration value is out of range.
    #[error("config `{field}`: {message}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The sequences disagree with each other or with the initial system.
    #[error("data: {0}")]
    Data(String),
    /// Too little usable data for the requested identification.
    #[error("not enough data: {found} usable windows/rows, need at least {needed}")]
    NotEnoughData {
        /// What was found.
        found: usize,
        /// What is needed.
        needed: usize,
    },
    /// A matrix that must be inverted is (numerically) singular.
    #[error("singular matrix: {0}")]
    Singular(&'static str),
    /// An eigenvalue whose sensitivity is asked for is not simple (repeated or defective), so
    /// it has no derivative and the delta method does not apply.
    #[error(
        "the eigenvalue {re} + {im}i of {matrix} is not simple: it has no derivative with \
         respect to the parameters"
    )]
    RepeatedEigenvalue {
        /// The matrix (`"A"` or `"A − K H"`).
        matrix: &'static str,
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
    /// Building, filtering or smoothing a system failed.
    #[error(transparent)]
    Truth(#[from] TruthError),
}

/// `Result` with [`SysidError`].
pub type Result<T> = std::result::Result<T, SysidError>;
