//! The [`Dynamics`] trait: any discrete-time state-space model with additive Gaussian noise,
//!
//! ```text
//! x_k = f(x_{k-1}, u_k) + w_k,   w_k ~ N(0, Q)
//! z_k = h(x_k) + v_k,            v_k ~ N(0, R)
//! x_1 ~ N(x0, P0)
//! ```
//!
//! in the crate's index convention (row k's input drives the transition into row k; the prior is
//! on the first row's state). [`LinearSystem`] implements it exactly; continuous-time models
//! implement [`ContinuousDynamics`](crate::continuous::ContinuousDynamics) and are discretised
//! by [`Rk4`](crate::continuous::Rk4). Simulation
//! ([`simulate`](crate::simulate::simulate)) and filtering
//! ([`filter_dynamics`](crate::nonlinear::filter_dynamics)) take any `&dyn Dynamics`.
//!
//! Adding a system is one `impl Dynamics` with five required methods (`name`, `n_inputs`,
//! `noise`, `transition`, `measure`) plus `equilibria`; the Jacobians default to central finite
//! differences and can be overridden with analytic ones, checked with [`check_jacobians`].

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TruthError};
use crate::system::{LinearSystem, Noise, singular_values};

/// Relative tolerance below which `f(x*, 0) = x*` counts as an equilibrium in
/// [`Dynamics::linearise`]: `‖f(x*, 0) − x*‖∞ ≤ tol · max(1, ‖x*‖∞)`.
pub const EQUILIBRIUM_TOLERANCE: f64 = 1e-9;

/// A fixed point of the noise-free transition with zero input, `f(x*, 0) = x*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Equilibrium {
    /// A short name, e.g. `"bottom"`, `"top"`, `"origin"`, `"C+"`.
    pub name: String,
    /// The state `x*`.
    #[serde(with = "vector_as_list")]
    pub state: DVector<f64>,
    /// `false` when `x*` is one point of a continuum of equilibria (e.g. a linear system whose
    /// `A` has an eigenvalue 1: every point of `x* + null(A − I)` is an equilibrium too).
    pub isolated: bool,
}

impl Equilibrium {
    /// An isolated equilibrium.
    pub fn new(name: impl Into<String>, state: DVector<f64>) -> Self {
        Self {
            name: name.into(),
            state,
            isolated: true,
        }
    }
}

/// A discrete-time state-space model with additive Gaussian noise (see the module docs).
///
/// Object safe: simulation and filtering take `&dyn Dynamics`, and
/// [`NamedSystem::build`](crate::spec::NamedSystem::build) returns `Box<dyn Dynamics>`.
///
/// # Shapes
/// `x`: n, `u`: m (length 0 without inputs), `f(x, u)`: n, `h(x)`: p; `∂f/∂x`: n×n,
/// `∂f/∂u`: n×m, `∂h/∂x`: p×n.
pub trait Dynamics: std::fmt::Debug + Send + Sync {
    /// A short name of the kind of system, e.g. `"pendulum"` or `"linear"`.
    fn name(&self) -> &str;

    /// One line saying what the system is, with its parameters.
    fn describe(&self) -> String {
        self.name().to_string()
    }

    /// Number of inputs `m` (0: autonomous).
    fn n_inputs(&self) -> usize;

    /// Number of states `n` (by default the size of `Q`).
    fn n_states(&self) -> usize {
        self.noise().n_states()
    }

    /// Number of outputs `p` (by default the size of `R`).
    fn n_outputs(&self) -> usize {
        self.noise().n_outputs()
    }

    /// The noise covariances `Q`, `R` and the prior `x0`, `P0`.
    fn noise(&self) -> &Noise;

    /// The noise-free transition into a row, `f(x_{k-1}, u_k)`.
    fn transition(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64>;

    /// The noise-free measurement `h(x_k)`.
    fn measure(&self, x: &DVector<f64>) -> DVector<f64>;

    /// `∂f/∂x` at `(x, u)` (n×n). Default: central finite differences.
    fn transition_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        finite_difference_jacobian(|x| self.transition(x, u), x)
    }

    /// `∂f/∂u` at `(x, u)` (n×m). Default: central finite differences.
    fn input_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        finite_difference_jacobian(|u| self.transition(x, u), u)
    }

    /// `∂h/∂x` at `x` (p×n). Default: central finite differences.
    fn measurement_jacobian(&self, x: &DVector<f64>) -> DMatrix<f64> {
        finite_difference_jacobian(|x| self.measure(x), x)
    }

    /// The equilibria for zero input, each with a name.
    fn equilibria(&self) -> Vec<Equilibrium>;

    /// The linearisation at an equilibrium, in **deviation coordinates**
    /// `δx = x − x*`, `δu = u`, `δz = z − h(x*)`:
    ///
    /// ```text
    /// δx_k = A δx_{k-1} + B u_k + w_k,   A = ∂f/∂x (x*, 0), B = ∂f/∂u (x*, 0)
    /// δz_k = H δx_k + v_k,               H = ∂h/∂x (x*)
    /// δx_1 ~ N(x0 − x*, P0)
    /// ```
    ///
    /// with the same `Q` and `R`. Errors when `x*` is not a fixed point
    /// ([`EQUILIBRIUM_TOLERANCE`]) or the Jacobians are not finite.
    fn linearise(&self, equilibrium: &Equilibrium) -> Result<LinearSystem> {
        linearise_at(self, equilibrium)
    }

    /// The system as a [`LinearSystem`] when it is one, so that callers can use the exact
    /// Kalman filter and smoother.
    fn as_linear(&self) -> Option<&LinearSystem> {
        None
    }
}

/// The default [`Dynamics::linearise`]; see there.
pub fn linearise_at<D: Dynamics + ?Sized>(
    system: &D,
    equilibrium: &Equilibrium,
) -> Result<LinearSystem> {
    let x = &equilibrium.state;
    let n = system.n_states();
    if x.len() != n {
        return Err(TruthError::Dimension {
            field: "equilibrium state",
            expected: format!("{n} entries (n)"),
            rows: x.len(),
            cols: 1,
        });
    }
    let u = DVector::zeros(system.n_inputs());
    let residual = (system.transition(x, &u) - x).amax();
    let within = residual <= EQUILIBRIUM_TOLERANCE * x.amax().max(1.0);
    if !within {
        return Err(TruthError::NotEquilibrium {
            name: equilibrium.name.clone(),
            residual,
        });
    }
    let a = system.transition_jacobian(x, &u);
    let b = (system.n_inputs() > 0).then(|| system.input_jacobian(x, &u));
    let h = system.measurement_jacobian(x);
    let noise = system.noise();
    let prior = Noise::new(noise.q().clone(), noise.r().clone())?
        .with_prior(noise.x0() - x, noise.p0().clone())?;
    LinearSystem::from_parts(a, b, h, prior)
}

/// Central finite-difference Jacobian of `f` at `x`: column j is
/// `(f(x + h_j e_j) − f(x − h_j e_j)) / (2 h_j)` with `h_j = ε^{1/3} max(1, |x_j|)`, which
/// balances truncation (O(h²)) and rounding (O(ε/h)) errors at about 1e-10 relative.
pub fn finite_difference_jacobian(
    f: impl Fn(&DVector<f64>) -> DVector<f64>,
    x: &DVector<f64>,
) -> DMatrix<f64> {
    let step0 = f64::EPSILON.cbrt();
    let mut columns = Vec::with_capacity(x.len());
    let mut probe = x.clone();
    for j in 0..x.len() {
        let h = step0 * x[j].abs().max(1.0);
        probe[j] = x[j] + h;
        let plus = f(&probe);
        probe[j] = x[j] - h;
        let minus = f(&probe);
        probe[j] = x[j];
        columns.push((plus - minus) / (2.0 * h));
    }
    if columns.is_empty() {
        let rows = f(x).len();
        return DMatrix::zeros(rows, 0);
    }
    DMatrix::from_columns(&columns)
}

/// How far an analytic Jacobian is from central finite differences of its function:
/// `max |J − J_fd| / max(1, max |J|)`. About 1e-9 or less for a correct smooth Jacobian at
/// moderate `x`; `∞` when the shapes differ.
pub fn jacobian_error(
    analytic: &DMatrix<f64>,
    f: impl Fn(&DVector<f64>) -> DVector<f64>,
    x: &DVector<f64>,
) -> f64 {
    let numeric = finite_difference_jacobian(f, x);
    if numeric.shape() != analytic.shape() {
        return f64::INFINITY;
    }
    if numeric.is_empty() {
        return 0.0;
    }
    (analytic - numeric).amax() / analytic.amax().max(1.0)
}

/// The [`jacobian_error`] of each of a system's three Jacobians at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JacobianErrors {
    /// Of `∂f/∂x`.
    pub transition: f64,
    /// Of `∂f/∂u` (0 without inputs).
    pub input: f64,
    /// Of `∂h/∂x`.
    pub measurement: f64,
}

impl JacobianErrors {
    /// The largest of the three.
    pub fn max(&self) -> f64 {
        self.transition.max(self.input).max(self.measurement)
    }
}

/// Checks a system's (analytic) Jacobians against finite differences at `(x, u)`.
pub fn check_jacobians<D: Dynamics + ?Sized>(
    system: &D,
    x: &DVector<f64>,
    u: &DVector<f64>,
) -> JacobianErrors {
    JacobianErrors {
        transition: jacobian_error(
            &system.transition_jacobian(x, u),
            |x| system.transition(x, u),
            x,
        ),
        input: jacobian_error(&system.input_jacobian(x, u), |u| system.transition(x, u), u),
        measurement: jacobian_error(&system.measurement_jacobian(x), |x| system.measure(x), x),
    }
}

/// Checks that a system's functions return what its dimensions promise (evaluated once at the
/// prior mean with zero input), so that a bad implementation fails with a message instead of a
/// panic deep in a loop.
pub fn check_dimensions<D: Dynamics + ?Sized>(system: &D) -> Result<()> {
    let (n, m, p) = (system.n_states(), system.n_inputs(), system.n_outputs());
    let noise = system.noise();
    let wrong = |field: &'static str, expected: String, rows: usize, cols: usize| {
        Err(TruthError::Dimension {
            field,
            expected,
            rows,
            cols,
        })
    };
    if noise.n_states() != n {
        return wrong(
            "Q",
            format!("{n}x{n} (n x n)"),
            noise.n_states(),
            noise.n_states(),
        );
    }
    if noise.n_outputs() != p {
        return wrong(
            "R",
            format!("{p}x{p} (p x p)"),
            noise.n_outputs(),
            noise.n_outputs(),
        );
    }
    let (x, u) = (noise.x0(), DVector::zeros(m));
    let fx = system.transition(x, &u);
    if fx.len() != n {
        return wrong("f(x, u)", format!("{n} entries (n)"), fx.len(), 1);
    }
    let hx = system.measure(x);
    if hx.len() != p {
        return wrong("h(x)", format!("{p} entries (p)"), hx.len(), 1);
    }
    let jacobians = [
        ("∂f/∂x", system.transition_jacobian(x, &u), n, n, "n x n"),
        ("∂f/∂u", system.input_jacobian(x, &u), n, m, "n x m"),
        ("∂h/∂x", system.measurement_jacobian(x), p, n, "p x n"),
    ];
    for (field, j, rows, cols, what) in jacobians {
        if j.shape() != (rows, cols) {
            return wrong(
                field,
                format!("{rows}x{cols} ({what})"),
                j.nrows(),
                j.ncols(),
            );
        }
    }
    Ok(())
}

/// The linear system is its own linearisation, exact everywhere.
impl Dynamics for LinearSystem {
    fn name(&self) -> &str {
        "linear"
    }

    fn describe(&self) -> String {
        format!(
            "linear system (n = {}, m = {}, p = {})",
            self.n_states(),
            self.n_inputs(),
            self.n_outputs()
        )
    }

    fn n_inputs(&self) -> usize {
        LinearSystem::n_inputs(self)
    }

    fn n_states(&self) -> usize {
        LinearSystem::n_states(self)
    }

    fn n_outputs(&self) -> usize {
        LinearSystem::n_outputs(self)
    }

    fn noise(&self) -> &Noise {
        LinearSystem::noise(self)
    }

    /// `A x + B u`.
    fn transition(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        LinearSystem::transition(self, x, u)
    }

    /// `H x`.
    fn measure(&self, x: &DVector<f64>) -> DVector<f64> {
        self.h() * x
    }

    fn transition_jacobian(&self, _x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        self.a().clone()
    }

    fn input_jacobian(&self, _x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        self.b()
            .cloned()
            .unwrap_or_else(|| DMatrix::zeros(LinearSystem::n_states(self), 0))
    }

    fn measurement_jacobian(&self, _x: &DVector<f64>) -> DMatrix<f64> {
        self.h().clone()
    }

    /// The origin. When `A − I` is singular (`A` has an eigenvalue 1, e.g. an integrator) the
    /// equilibria form the subspace `null(A − I)`; the origin is then returned with
    /// `isolated = false`. (Singular: smallest singular value of `A − I` at most
    /// `1e-10 · max(1, ‖A‖₂)`.)
    fn equilibria(&self) -> Vec<Equilibrium> {
        let n = LinearSystem::n_states(self);
        let shifted = self.a() - DMatrix::identity(n, n);
        // Bounded solvers: an A near 1e308 made nalgebra's SVD iterate for ever. When they
        // cannot decide, the origin counts as isolated (the default).
        let isolated = match (singular_values(self.a()), singular_values(&shifted)) {
            (Some(sv), Some(sv_shifted)) => sv_shifted.min() > 1e-10 * sv.max().max(1.0),
            _ => true,
        };
        vec![Equilibrium {
            name: "origin".into(),
            state: DVector::zeros(n),
            isolated,
        }]
    }

    /// At the origin this is the system itself (deviation coordinates are the coordinates);
    /// elsewhere on a continuum of equilibria it is the same system with the prior shifted.
    fn linearise(&self, equilibrium: &Equilibrium) -> Result<LinearSystem> {
        linearise_at(self, equilibrium)
    }

    fn as_linear(&self) -> Option<&LinearSystem> {
        Some(self)
    }
}

/// Serde for a `DVector<f64>` as a plain list of numbers.
pub(crate) mod vector_as_list {
    use nalgebra::DVector;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &DVector<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DVector<f64>, D::Error> {
        Ok(DVector::from_vec(Vec::<f64>::deserialize(d)?))
    }
}
