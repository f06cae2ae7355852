//! The errors of the `truth` crate.
//!
//! Every message is complete in its `Display`, and no variant exposes a `source()`: an error
//! that wraps another one prints it inside its own message, so a printer that walks the chain
//! (anyhow's `{:#}`) says each thing once. Text quoted from a file (a cell, a column name, a
//! `kind`) goes through [`quote`], which caps it at [`QUOTE_LIMIT`] characters.

use std::path::PathBuf;

/// At most this many characters of user text are quoted in a message (more ends in `…`).
pub const QUOTE_LIMIT: usize = 200;

/// `text` as an error message quotes it: at most [`QUOTE_LIMIT`] characters (then `…`), with
/// control characters escaped (a file cannot write terminal escape sequences to stderr).
pub fn quote(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE_LIMIT {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Everything that can go wrong while building, loading, simulating or filtering a system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TruthError {
    /// A matrix has the wrong number of rows or columns.
    #[error("field `{field}`: expected {expected}, got {rows}x{cols}")]
    Dimension {
        /// The offending field, e.g. `"Q"`.
        field: &'static str,
        /// What the shape should be, in words, e.g. `"2x2 (n x n)"`.
        expected: String,
        /// Rows found.
        rows: usize,
        /// Columns found.
        cols: usize,
    },
    /// A matrix given as rows has rows of different lengths.
    #[error("field `{field}`: row {row} has {len} entries, row 1 has {first}")]
    RaggedMatrix {
        /// The offending field.
        field: &'static str,
        /// 1-based index of the first row whose length differs.
        row: usize,
        /// Its length.
        len: usize,
        /// The length of the first row.
        first: usize,
    },
    /// A number is NaN or infinite.
    #[error("field `{field}`: entry [{row}][{col}] is not finite ({value})")]
    NotFinite {
        /// The offending field.
        field: &'static str,
        /// 0-based row.
        row: usize,
        /// 0-based column.
        col: usize,
        /// The value.
        value: f64,
    },
    /// A covariance is not symmetric.
    #[error(
        "field `{field}`: not symmetric: [{row}][{col}] = {upper} but [{col}][{row}] = {lower}"
    )]
    NotSymmetric {
        /// The offending field.
        field: &'static str,
        /// 0-based row of the first asymmetric pair.
        row: usize,
        /// 0-based column of the first asymmetric pair.
        col: usize,
        /// The entry above the diagonal.
        upper: f64,
        /// The mirrored entry below the diagonal.
        lower: f64,
    },
    /// A covariance has a negative eigenvalue.
    #[error("field `{field}`: not positive semi-definite (smallest eigenvalue {min_eigenvalue:e})")]
    NotPositiveSemidefinite {
        /// The offending field.
        field: &'static str,
        /// Its smallest eigenvalue.
        min_eigenvalue: f64,
    },
    /// A covariance has a negative diagonal entry (a variance below zero), however small.
    #[error("field `{field}`: the variance [{index}][{index}] = {value:e} is negative")]
    NegativeVariance {
        /// The offending field.
        field: &'static str,
        /// 0-based index of the diagonal entry.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A covariance that must be invertible is not positive definite.
    #[error("field `{field}`: not positive definite (smallest eigenvalue {min_eigenvalue:e})")]
    NotPositiveDefinite {
        /// The offending field.
        field: &'static str,
        /// Its smallest eigenvalue.
        min_eigenvalue: f64,
    },
    /// A system file is not valid TOML or does not have the expected fields.
    #[error("{path}: {message}")]
    Toml {
        /// The file (or `<string>`).
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A system file parsed, but a field is invalid.
    #[error("{path}{}: {problem}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    InvalidSystem {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending field, when it is in the file.
        line: Option<usize>,
        /// What is wrong (printed in this message; not a `source()`).
        problem: Box<TruthError>,
    },
    /// A data file is malformed.
    #[error("{path}, line {line}{}: {message}", column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default())]
    Data {
        /// The file (or `<data>`).
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1).
        line: usize,
        /// The column concerned, when there is one.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// Data and system disagree (wrong number of inputs, outputs or states).
    #[error("{what}: the data has {found}, the system expects {expected}")]
    DataMismatch {
        /// Which count disagrees, e.g. `"inputs (u columns)"`.
        what: &'static str,
        /// Count in the data.
        found: usize,
        /// Count the system needs.
        expected: usize,
    },
    /// An innovation covariance or other matrix that must be inverted is singular.
    #[error(
        "{what} is singular{} at row {row}",
        sequence.map(|s| format!(" in sequence {s}")).unwrap_or_default()
    )]
    Singular {
        /// Which matrix.
        what: &'static str,
        /// The sequence's id, when known.
        sequence: Option<i64>,
        /// 0-based row of the sequence where it happened.
        row: usize,
    },
    /// The Riccati equation has no stabilising solution the solver could reach.
    #[error("steady state: {0}")]
    NoSteadyState(String),
    /// A simulation or input parameter is invalid.
    #[error("parameter `{field}`: {message}")]
    Parameter {
        /// The offending parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A state given as an equilibrium is not a fixed point of the noise-free transition.
    #[error("equilibrium `{name}`: ‖f(x*, 0) − x*‖∞ = {residual:e} is not 0")]
    NotEquilibrium {
        /// The equilibrium's name.
        name: String,
        /// `‖f(x*, 0) − x*‖∞`.
        residual: f64,
    },
    /// A simulated state or measurement, or a filter's estimate, stopped being finite (or a
    /// variance became negative).
    #[error("{what} diverged in sequence {sequence} at row {row}: {quantity}")]
    Diverged {
        /// What diverged, e.g. `"simulation"` or `"extended Kalman filter"`.
        what: &'static str,
        /// What went wrong and what to change, e.g. `"the state is no longer finite (reduce
        /// the step dt, …)"`.
        quantity: &'static str,
        /// The sequence's id (its `seq` value; 0-based index for simulated data).
        sequence: i64,
        /// 0-based row within the sequence.
        row: usize,
    },
    /// A job would need more memory than the machine has; refused before it starts.
    #[error(
        "{what} would need about {} ({detail}), more than the {} {limit}",
        gib(*needed),
        gib(*available as f64)
    )]
    TooLarge {
        /// What was asked, e.g. `"simulating 1000000000 rows"`.
        what: String,
        /// How the estimate is made, e.g. `"rows × 5 columns × 8 bytes"`.
        detail: String,
        /// The estimate in bytes (a float: it may exceed every integer type).
        needed: f64,
        /// The memory available, in bytes.
        available: u64,
        /// Where `available` comes from, e.g. `"available (MemAvailable in /proc/meminfo)"`.
        limit: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (printed in this message; not a `source()`).
        error: std::io::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, TruthError>;

impl From<dynrec_core::CoreError> for TruthError {
    fn from(e: dynrec_core::CoreError) -> Self {
        match e {
            dynrec_core::CoreError::Io { path, error } => Self::Io { path, error },
            other => Self::Io {
                path: PathBuf::new(),
                error: std::io::Error::other(other.to_string()),
            },
        }
    }
}

/// Bytes in GiB (or MiB, KiB below a GiB), for messages.
fn gib(bytes: f64) -> String {
    const KIB: f64 = 1024.0;
    let gib = bytes / (KIB * KIB * KIB);
    if gib >= 1e6 {
        format!("{gib:.2e} GiB")
    } else if gib >= 1.0 {
        format!("{gib:.3} GiB")
    } else if bytes >= KIB * KIB {
        format!("{:.1} MiB", bytes / (KIB * KIB))
    } else {
        format!("{:.1} KiB", bytes / KIB)
    }
}
