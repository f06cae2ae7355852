//! The one error type of this crate.

use std::path::PathBuf;

/// What can go wrong in the shared helpers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error (printed in this message; not a `source()`, so that a chain of
        /// causes does not print it twice).
        error: std::io::Error,
    },
    /// Data does not fit a network's sizes.
    #[error("{0}")]
    Shape(String),
    /// JSON (de)serialisation failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;

/// A matrix given as an array of rows whose rows differ in length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: row {row} has {len} entries, the first row has {first}")]
pub struct RaggedRows {
    /// The field the matrix was read from.
    pub field: &'static str,
    /// 1-based index of the first row whose length differs.
    pub row: usize,
    /// Its length.
    pub len: usize,
    /// The length of the first row.
    pub first: usize,
}
