//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while analysing weights or writing results.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// Matrix shapes do not fit together.
    #[error("dimension mismatch: {0}")]
    Dimension(String),
    /// A matrix or vector contains NaN or infinity.
    #[error("{0} contains a non-finite number")]
    NonFinite(String),
    /// The Schur decomposition behind the eigenvalues did not converge.
    #[error("eigenvalues of a {0}x{0} matrix: the Schur iteration did not converge")]
    EigenNoConvergence(usize),
    /// The eigenvector matrix is singular or too ill-conditioned to invert (a defective matrix).
    #[error(
        "eigenvectors are not independent (condition number {condition:.3e}): the matrix is defective or nearly so"
    )]
    Defective {
        /// Condition number of the eigenvector matrix.
        condition: f64,
    },
    /// A least-squares problem has no unique solution.
    #[error("{what} is not identifiable: its least-squares problem has rank {rank} < {unknowns}")]
    NotIdentifiable {
        /// What was being estimated.
        what: String,
        /// Numerical rank found.
        rank: usize,
        /// Number of unknowns.
        unknowns: usize,
    },
    /// A nonlinear network has no fixed point to linearise about.
    #[error("no fixed point found: the network cannot be linearised")]
    NoFixedPoint,
    /// A matrix that must be inverted is singular.
    #[error("{0} is singular")]
    Singular(String),
    /// A plot could not be drawn.
    #[error("plot {path}: {message}")]
    Plot {
        /// The file being drawn.
        path: PathBuf,
        /// What the drawing backend said.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error (in this message; not a `source()`).
        error: std::io::Error,
    },
    /// Serialising the report failed.
    #[error("serialising the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with [`AnalysisError`].
pub type Result<T> = std::result::Result<T, AnalysisError>;

/// Checks that every entry of `m` is finite.
pub(crate) fn check_finite<'a>(
    what: &str,
    values: impl IntoIterator<Item = &'a f64>,
) -> Result<()> {
    if values.into_iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(AnalysisError::NonFinite(what.to_string()))
    }
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AnalysisError {
    let path = path.into();
    move |error| AnalysisError::Io { path, error }
}

impl From<dynrec_core::CoreError> for AnalysisError {
    fn from(e: dynrec_core::CoreError) -> Self {
        match e {
            dynrec_core::CoreError::Io { path, error } => Self::Io { path, error },
            dynrec_core::CoreError::Json(e) => Self::Json(e),
            other => Self::Dimension(other.to_string()),
        }
    }
}
