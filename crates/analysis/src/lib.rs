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
//! - [`true_system`]: the system compared with ([`TrueSystem`]), and for a nonlinear one the
//!   equilibrium it was linearised at ([`LinearisationPoint`]);
//! - [`analysis`]: the entry point [`analyse`] that runs all of the above and states a
//!   one-sentence verdict (built in `verdict.rs`);
//! - [`report`]: `report.json` and `report.md`, written atomically;
//! - [`plots`]: PNG and SVG figures drawn with a bundled font.
//!
//! Everything takes plain `nalgebra` matrices, so weights trained anywhere can be analysed;
//! [`RnnWeights`] is only a bundle of such matrices.
//!
//! # Example
//!
//! ```
//! use dynrec_analysis::{plots, Activation, AnalysisConfig, Mode, Report, RnnWeights, TrueSystem};
//! use nalgebra::{DMatrix, DVector};
//!
//! // x_k = A x_{k-1} + B u_k, z_k = H x_k
//! let a = DMatrix::from_row_slice(2, 2, &[0.9, -0.2, 0.2, 0.9]);
//! let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.5]);
//! let h = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
//! let truth = TrueSystem::new(a.clone(), Some(b.clone()), h.clone(), None)?;
//! // A linear simulation-mode network that happens to be the truth in another basis.
//! let t = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 1.0, 1.0]);
//! let t_inv = t.clone().try_inverse().expect("invertible");
//! let weights = RnnWeights {
//!     u: &t * &a * &t_inv,
//!     w: &t * &b,
//!     v: &h * &t_inv,
//!     b: DVector::zeros(2),
//!     c: DVector::zeros(1),
//!     activation: Activation::Linear,
//!     mode: Mode::Simulation,
//!     bias: true,
//! };
//! let mut analysis = dynrec_analysis::analyse(&weights, Some(&truth), None, &AnalysisConfig::default())?;
//! analysis.add_baseline("n4sid", &a)?;
//! assert!(analysis.verdict.starts_with("The learned recurrence reveals A"));
//!
//! let dir = tempfile::tempdir().expect("temporary folder");
//! let mut report = Report::new(&serde_json::json!({ "seed": 1 }), analysis.clone())?
//!     .metric("validation_mse", 2.5e-3);
//! for (title, files) in plots::analysis_plots(dir.path(), &analysis)? {
//!     report = report.plot(&title, &files.png_name());
//! }
//! let files = report.write(dir.path())?; // report.json and report.md, atomically
//! assert!(files.json.exists());
//! # Ok::<(), dynrec_analysis::AnalysisError>(())
//! ```

pub mod analysis;
pub mod bound;
pub mod consistency;
pub mod dynamics;
pub mod eigen;
pub mod error;
pub mod matching;
pub mod modes;
pub mod plots;
pub mod report;
pub mod similarity;
pub mod true_system;
mod verdict;

pub use analysis::{Analysis, AnalysisConfig, Baseline, analyse};
pub use bound::EigenvalueBound;
pub use dynrec_core::weights::{Activation, Mode, RnnWeights};
pub use eigen::{C64, EigenInfo, eigenvalues};
pub use error::{AnalysisError, Result};
pub use matching::{Matching, match_eigenvalues};
pub use report::{DominantModes, Report, ReportFiles};
pub use similarity::StateSpace;
pub use true_system::{LinearisationPoint, TrueSystem};
