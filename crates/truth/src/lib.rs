//! Linear-Gaussian state-space systems: definition, simulation, Kalman filtering,
//! Rauch–Tung–Striebel smoothing and the steady-state (Riccati) solution.
//!
//! ```text
//! x_k = A x_{k-1} + B u_k + w_k,   w_k ~ N(0, Q)
//! z_k = H x_k + v_k,               v_k ~ N(0, R)
//! x_1 ~ N(x0, P0)
//! ```
//!
//! Index convention (everywhere in this crate): `x0`/`P0` is the prior on the state at the
//! first data row, before that row's measurement is used; the inputs of row k drive the
//! transition into row k, so the first row's inputs are not used.

pub mod data;
pub mod error;
pub mod io;
pub mod kalman;
pub mod riccati;
pub mod simulate;
pub mod system;

pub use data::{Dataset, Sequence};
pub use error::{Result, TruthError};
pub use kalman::{Estimates, FilterOutput, SmootherOutput, estimate, filter, smooth};
pub use riccati::{SteadyState, spectral_radius};
pub use simulate::{InputSignal, SimulationConfig, simulate};
pub use system::LinearSystem;
