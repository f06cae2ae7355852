//! Does a trained Elman RNN reveal the dynamics of the linear system it was trained on?
//!
//! The question is asked up to a similarity transform: an RNN with weights `(U, W, V)` and a
//! system `(A, B, H)` describe the same input–output map when `U = T A T⁻¹`, `W = T B`,
//! `V = H T⁻¹` for some invertible `T`. This crate compares the right objects and says so:
//!
//! - [`eigen`]: eigenvalues of real matrices as complex numbers, with modulus, angle, period;
//! - [`matching`]: bottleneck assignment between true and estimated eigenvalues;
//! - [`dynamics`]: the dynamics a network actually implements (simulation: `U`; predictor:
//!   `U + W_z V`; tanh/relu: the Jacobian at a fixed point, found by [`dynamics::find_fixed_points`]);
//! - [`similarity`]: the transform `T`, Markov parameters, regression of hidden on true states;
//! - [`modes`]: each mode's contribution to the output, to tell real modes from spurious ones;
//! - [`analysis`]: the entry point [`analyse`] that runs all of the above and writes a verdict;
//! - [`report`]: `report.json` and `report.md`, written atomically;
//! - [`plots`]: PNG and SVG figures drawn with a bundled font.
//!
//! Everything takes plain `nalgebra` matrices, so weights trained anywhere can be analysed;
//! [`RnnWeights`] is only a bundle of such matrices.

pub mod analysis;
pub mod dynamics;
pub mod eigen;
pub mod error;
pub mod matching;
pub mod modes;
pub mod plots;
pub mod report;
pub mod serde_matrix;
pub mod similarity;

pub use analysis::{Analysis, AnalysisConfig, Baseline, TrueSystem, analyse};
pub use dynrec_model::weights::{Activation, Mode, RnnWeights};
pub use eigen::{C64, EigenInfo, eigenvalues};
pub use error::{AnalysisError, Result};
pub use matching::{Matching, match_eigenvalues};
pub use report::{Report, ReportFiles};
pub use similarity::StateSpace;
