//! Classical system identification, the baseline beside the RNN: subspace identification
//! ([`n4sid`]) and maximum likelihood by expectation–maximisation ([`em`]), both for the model
//! of `dynrec-truth`:
//!
//! ```text
//! x_k = A x_{k-1} + B u_k + w_k,   w_k ~ N(0, Q)
//! z_k = H x_k + v_k,               v_k ~ N(0, R)
//! x_1 ~ N(x0, P0)
//! ```
//!
//! Both take independent sequences (never concatenated) and return a validated
//! [`dynrec_truth::LinearSystem`]. Beside them, [`crb`] gives the Cramér–Rao bound on the
//! eigenvalues of `A` (and of the predictor's `A − K H`) for a given design, from the exact
//! expected Fisher information.

pub mod crb;
pub mod eigen;
pub mod em;
pub mod error;
pub mod n4sid;

pub use crb::{
    CramerRao, CrbConfig, EigenBound, EigenCrb, FisherInformation, NotIdentifiable, Parameter,
    closed_loop_sensitivities, cramer_rao, cramer_rao_from_information, fisher_information,
    parameters,
};
pub use eigen::{markov_parameters, matched_eigen_error};
pub use em::{EmConfig, EmResult, em};
pub use error::{Result, SysidError};
pub use n4sid::{N4sidConfig, N4sidResult, gap_order, n4sid};
