//! Continuous-time models `ẋ = g(x, u)` and their discretisation by the classical fourth-order
//! Runge–Kutta method at a stated step, with the exact Jacobian of the discrete map.

use nalgebra::{DMatrix, DVector};

use crate::dynamics::{Dynamics, Equilibrium, finite_difference_jacobian};
use crate::error::{Result, TruthError};
use crate::system::{Noise, check_measurement};

/// The state equation of a continuous-time model, `ẋ = g(x, u)`, with its equilibria.
///
/// # Shapes
/// `x`: n, `u`: m, `g(x, u)`: n; `∂g/∂x`: n×n, `∂g/∂u`: n×m.
pub trait VectorField: std::fmt::Debug + Send + Sync {
    /// A short name, e.g. `"pendulum"`.
    fn name(&self) -> &str;
    /// One line with the parameters.
    fn describe(&self) -> String {
        self.name().to_string()
    }
    /// Number of states `n`.
    fn n_states(&self) -> usize;
    /// Number of inputs `m`.
    fn n_inputs(&self) -> usize;
    /// The vector field `g(x, u)`.
    fn vector_field(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64>;
    /// `∂g/∂x` (n×n). Default: central finite differences; library systems are analytic.
    fn state_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        finite_difference_jacobian(|x| self.vector_field(x, u), x)
    }
    /// `∂g/∂u` (n×m). Default: central finite differences.
    fn input_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        finite_difference_jacobian(|u| self.vector_field(x, u), u)
    }
    /// The zeros of `g(·, 0)`, each with a name. They are fixed points of the RK4 map too
    /// (every stage vanishes there).
    fn equilibria(&self) -> Vec<Equilibrium>;
}

/// A continuous-time model: a [`VectorField`] observed through `z = h(x)` (noise is added in
/// discrete time by [`Rk4`]). A linear selection `z = H x` needs no implementation of its own:
/// wrap the vector field in [`Observed`].
///
/// # Shapes
/// `h(x)`: p, `∂h/∂x`: p×n.
pub trait ContinuousDynamics: VectorField {
    /// Number of outputs `p`.
    fn n_outputs(&self) -> usize;
    /// The measurement `h(x)`.
    fn measure(&self, x: &DVector<f64>) -> DVector<f64>;
    /// `∂h/∂x` (p×n). Default: central finite differences.
    fn measurement_jacobian(&self, x: &DVector<f64>) -> DMatrix<f64> {
        finite_difference_jacobian(|x| self.measure(x), x)
    }
}

/// A vector field measured through a linear selection, `z = H x`: how every library system is
/// observed (by default its first state, `H = [1, 0, …, 0]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<F> {
    field: F,
    h: DMatrix<f64>,
}

impl<F: VectorField> Observed<F> {
    /// `field` measured through `h` (p×n, p ≥ 1, finite).
    pub fn new(field: F, h: DMatrix<f64>) -> Result<Self> {
        check_measurement(&h, field.n_states())?;
        Ok(Self { field, h })
    }

    /// `field` measured through its first state, `z = x₁`.
    pub fn first_state(field: F) -> Self {
        let n = field.n_states();
        let h = DMatrix::from_fn(1, n, |_, j| if j == 0 { 1.0 } else { 0.0 });
        Self { field, h }
    }

    /// The measurement matrix `H`.
    pub fn h(&self) -> &DMatrix<f64> {
        &self.h
    }
}

impl<F: VectorField> VectorField for Observed<F> {
    fn name(&self) -> &str {
        self.field.name()
    }
    fn describe(&self) -> String {
        self.field.describe()
    }
    fn n_states(&self) -> usize {
        self.field.n_states()
    }
    fn n_inputs(&self) -> usize {
        self.field.n_inputs()
    }
    fn vector_field(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        self.field.vector_field(x, u)
    }
    fn state_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        self.field.state_jacobian(x, u)
    }
    fn input_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        self.field.input_jacobian(x, u)
    }
    fn equilibria(&self) -> Vec<Equilibrium> {
        self.field.equilibria()
    }
}

impl<F: VectorField> ContinuousDynamics for Observed<F> {
    fn n_outputs(&self) -> usize {
        self.h.nrows()
    }
    fn measure(&self, x: &DVector<f64>) -> DVector<f64> {
        &self.h * x
    }
    fn measurement_jacobian(&self, _x: &DVector<f64>) -> DMatrix<f64> {
        self.h.clone()
    }
}

/// The exact Jacobians of one discrete step `Φ(x, u)` of [`Rk4`].
#[derive(Debug, Clone, PartialEq)]
pub struct StepJacobians {
    /// `∂Φ/∂x` (n×n).
    pub state: DMatrix<f64>,
    /// `∂Φ/∂u` (n×m).
    pub input: DMatrix<f64>,
}

/// The most RK4 steps per row [`Rk4::new`] accepts: at 10⁶ a row of a library system takes
/// about a second (the extended filter's Jacobians several), and RK4's error at `dt / 10⁶` is
/// far below rounding for any step the file format allows; `substeps = 10⁹` ran for hours.
pub const MAX_SUBSTEPS: usize = 1_000_000;

/// A continuous-time model discretised by classical RK4 with the input held constant over each
/// step (zero-order hold):
///
/// ```text
/// x_k = Φ(x_{k-1}, u_k) + w_k,   Φ = `substeps` RK4 steps of size h = dt / substeps
/// z_k = h(x_k) + v_k
/// ```
///
/// One RK4 step: `k1 = g(x)`, `k2 = g(x + h/2 k1)`, `k3 = g(x + h/2 k2)`, `k4 = g(x + h k3)`,
/// `x⁺ = x + h/6 (k1 + 2 k2 + 2 k3 + k4)`; its local error is O(h⁵), global O(h⁴).
///
/// The Jacobians [`Dynamics::transition_jacobian`] and [`Dynamics::input_jacobian`] are the
/// exact derivatives of `Φ` (the variational equations carried through every stage with the
/// model's analytic `∂g/∂x`, `∂g/∂u`), not finite differences; at an equilibrium
/// `∂Φ/∂x = R(h J)^substeps` with `R(z) = 1 + z + z²/2 + z³/6 + z⁴/24`, whose eigenvalues
/// agree with `exp(λ dt)` of the continuous Jacobian's to O(dt⁵) per step.
#[derive(Debug, Clone)]
pub struct Rk4<G> {
    model: G,
    dt: f64,
    substeps: usize,
    noise: Noise,
}

impl<G: ContinuousDynamics> Rk4<G> {
    /// Discretises `model` with step `dt` (> 0) split into `substeps` (1 to [`MAX_SUBSTEPS`])
    /// RK4 steps, with additive discrete-time noise and prior `noise` (Q n×n, R p×p).
    pub fn new(model: G, dt: f64, substeps: usize, noise: Noise) -> Result<Self> {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(TruthError::Parameter {
                field: "dt",
                message: format!("{dt} must be finite and > 0"),
            });
        }
        if substeps == 0 {
            return Err(TruthError::Parameter {
                field: "substeps",
                message: "must be at least 1".into(),
            });
        }
        if substeps > MAX_SUBSTEPS {
            return Err(TruthError::Parameter {
                field: "substeps",
                message: format!(
                    "{substeps} is more than {MAX_SUBSTEPS} RK4 steps per row (RK4's error \
                     reaches rounding level long before, and each row would take minutes)"
                ),
            });
        }
        let (n, p) = (model.n_states(), model.n_outputs());
        if noise.n_states() != n {
            return Err(TruthError::Dimension {
                field: "Q",
                expected: format!("{n}x{n} (n x n)"),
                rows: noise.n_states(),
                cols: noise.n_states(),
            });
        }
        if noise.n_outputs() != p {
            return Err(TruthError::Dimension {
                field: "R",
                expected: format!("{p}x{p} (p x p)"),
                rows: noise.n_outputs(),
                cols: noise.n_outputs(),
            });
        }
        Ok(Self {
            model,
            dt,
            substeps,
            noise,
        })
    }

    /// The continuous-time model.
    pub fn model(&self) -> &G {
        &self.model
    }
    /// The sampling step `dt` between rows.
    pub fn dt(&self) -> f64 {
        self.dt
    }
    /// RK4 steps per row.
    pub fn substeps(&self) -> usize {
        self.substeps
    }

    /// `Φ(x, u)` with its exact Jacobians (see [`StepJacobians`]).
    pub fn step_with_jacobians(
        &self,
        x: &DVector<f64>,
        u: &DVector<f64>,
    ) -> (DVector<f64>, StepJacobians) {
        let (next, jacobians) = self.step(x, u, true);
        let n = self.model.n_states();
        let jacobians = jacobians.unwrap_or_else(|| StepJacobians {
            state: DMatrix::identity(n, n),
            input: DMatrix::zeros(n, self.model.n_inputs()),
        });
        (next, jacobians)
    }

    /// `Φ(x, u)` and, with `jacobians`, its Jacobians by the variational equations:
    /// for each stage `s` with argument `y_s = x + c_s h k_{s-1}`,
    /// `∂k_s/∂x = G_x(y_s) (I + c_s h ∂k_{s-1}/∂x)`,
    /// `∂k_s/∂u = G_x(y_s) c_s h ∂k_{s-1}/∂u + G_u(y_s)`, and the substeps compose by the
    /// chain rule.
    fn step(
        &self,
        x: &DVector<f64>,
        u: &DVector<f64>,
        jacobians: bool,
    ) -> (DVector<f64>, Option<StepJacobians>) {
        let (n, m) = (self.model.n_states(), self.model.n_inputs());
        let h = self.dt / self.substeps as f64;
        let mut x = x.clone();
        let mut jx = DMatrix::identity(n, n);
        let mut ju = DMatrix::zeros(n, m);
        let g = |y: &DVector<f64>| self.model.vector_field(y, u);
        for _ in 0..self.substeps {
            let k1 = g(&x);
            let y2 = &x + &k1 * (h / 2.0);
            let k2 = g(&y2);
            let y3 = &x + &k2 * (h / 2.0);
            let k3 = g(&y3);
            let y4 = &x + &k3 * h;
            let k4 = g(&y4);
            if jacobians {
                let gx = |y: &DVector<f64>| self.model.state_jacobian(y, u);
                let gu = |y: &DVector<f64>| self.model.input_jacobian(y, u);
                let eye = DMatrix::<f64>::identity(n, n);
                // Derivatives of the stages with respect to this substep's start (x, u).
                let d1x = gx(&x);
                let d1u = gu(&x);
                let g2 = gx(&y2);
                let d2x = &g2 * (&eye + &d1x * (h / 2.0));
                let d2u = &g2 * &d1u * (h / 2.0) + gu(&y2);
                let g3 = gx(&y3);
                let d3x = &g3 * (&eye + &d2x * (h / 2.0));
                let d3u = &g3 * &d2u * (h / 2.0) + gu(&y3);
                let g4 = gx(&y4);
                let d4x = &g4 * (&eye + &d3x * h);
                let d4u = &g4 * &d3u * h + gu(&y4);
                let step_x = &eye + (d1x + &d2x * 2.0 + &d3x * 2.0 + d4x) * (h / 6.0);
                let step_u = (d1u + &d2u * 2.0 + &d3u * 2.0 + d4u) * (h / 6.0);
                // Chain rule over substeps: J ← S_x J, J_u ← S_x J_u + S_u.
                ju = &step_x * &ju + step_u;
                jx = &step_x * &jx;
            }
            x += (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0);
        }
        (
            x,
            jacobians.then_some(StepJacobians {
                state: jx,
                input: ju,
            }),
        )
    }
}

impl<G: ContinuousDynamics> Dynamics for Rk4<G> {
    fn name(&self) -> &str {
        self.model.name()
    }

    fn describe(&self) -> String {
        let sub = if self.substeps > 1 {
            format!(" in {} substeps", self.substeps)
        } else {
            String::new()
        };
        format!(
            "{}, discretised by RK4 at dt = {}{sub}",
            self.model.describe(),
            self.dt
        )
    }

    fn n_inputs(&self) -> usize {
        self.model.n_inputs()
    }

    fn n_states(&self) -> usize {
        self.model.n_states()
    }

    fn n_outputs(&self) -> usize {
        self.model.n_outputs()
    }

    fn noise(&self) -> &Noise {
        &self.noise
    }

    fn transition(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        self.step(x, u, false).0
    }

    fn measure(&self, x: &DVector<f64>) -> DVector<f64> {
        self.model.measure(x)
    }

    /// Exact `∂Φ/∂x` (see [`Rk4::step_with_jacobians`]).
    fn transition_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        self.step_with_jacobians(x, u).1.state
    }

    /// Exact `∂Φ/∂u` (see [`Rk4::step_with_jacobians`]).
    fn input_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        self.step_with_jacobians(x, u).1.input
    }

    fn measurement_jacobian(&self, x: &DVector<f64>) -> DMatrix<f64> {
        self.model.measurement_jacobian(x)
    }

    fn equilibria(&self) -> Vec<Equilibrium> {
        self.model.equilibria()
    }
}
