//! What every dynrec crate shares and none of them should own.
//!
//! - [`weights`]: an Elman network's weights as plain matrices ([`RnnWeights`], [`Mode`],
//!   [`Activation`]) and a plain-`f64` reference run of the network: the form in which weights
//!   leave the Burn-based `dynrec-model` and enter the analysis, which therefore needs no Burn;
//! - [`io`]: [`write_atomically`], so that no reader ever sees a half-written file;
//! - [`serde_matrix`]: readable JSON for matrices (arrays of rows), vectors and complex numbers,
//!   and [`matrix_from_rows`] for the array-of-rows layout of the TOML and JSON formats;
//! - [`fmt`]: the number formats of reports and tables.

pub mod error;
pub mod fmt;
pub mod io;
pub mod serde_matrix;
pub mod weights;

pub use error::{CoreError, RaggedRows, Result};
pub use io::write_atomically;
pub use serde_matrix::matrix_from_rows;
pub use weights::{Activation, Mode, RnnWeights, Trajectory};
