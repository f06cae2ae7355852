//! State-space systems: linear-Gaussian ones with simulation, Kalman filtering,
//! Rauch–Tung–Striebel smoothing and the steady-state (Riccati) solution, and any other
//! dynamics through the [`Dynamics`] trait (a library of continuous-time nonlinear systems
//! discretised by RK4, simulation, extended and unscented Kalman filters, systems selected by
//! name in TOML).
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

pub mod continuous;
pub mod data;
pub mod dynamics;
pub mod error;
pub mod kalman;
pub mod library;
pub mod limits;
pub mod nonlinear;
pub mod riccati;
pub mod simulate;
pub mod spec;
pub mod system;

pub use continuous::{ContinuousDynamics, Observed, Rk4, VectorField};
pub use data::{Dataset, Estimates, Sequence};
pub use dynamics::{Dynamics, Equilibrium, check_jacobians, finite_difference_jacobian};
pub use error::{Result, TruthError, quote};
pub use kalman::{FilterOutput, SmootherOutput, estimate, filter, smooth};
pub use nonlinear::{
    FilterMethod, UnscentedParams, estimate_dynamics, estimate_dynamics_with_progress,
    extended_filter, filter_dynamics, unscented_filter,
};
pub use riccati::{SteadyState, spectral_radius};
pub use simulate::{InputSignal, SimulationConfig, simulate, simulate_with_progress};
pub use spec::{Covariance, DerivedPrior, KNOWN_KINDS, LinearSpec, NamedSystem, PriorCovariance};
pub use system::{LinearSystem, Noise};
