//! A library of continuous-time nonlinear systems, each with analytic Jacobians, named
//! equilibria and validated parameters. Discretise one with [`Rk4`](crate::continuous::Rk4)
//! (or build it from a TOML file through [`NamedSystem`](crate::spec::NamedSystem)).
//!
//! Each is a [`VectorField`]; [`Observed`](crate::continuous::Observed) measures it through a
//! linear selection `z = H x` (by default its first state).

use std::f64::consts::PI;

use nalgebra::{DMatrix, DVector, dmatrix, dvector};

use crate::continuous::VectorField;
use crate::dynamics::Equilibrium;
use crate::error::{Result, TruthError};

fn parameter(field: &'static str, value: f64, ok: bool, rule: &str) -> Result<()> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(TruthError::Parameter {
            field,
            message: format!("{value} {rule}"),
        })
    }
}

/// The damped pendulum driven by a torque:
///
/// ```text
/// θ̇ = ω
/// ω̇ = −(g / L) sin θ − c ω + u / (m L²)
/// ```
///
/// States `(θ, ω)` (rad, rad/s), one input (torque), measurement `θ` by default.
/// Equilibria: `bottom` (0, 0), stable for `c > 0` with `λ = −c/2 ± √(c²/4 − g/L)`, and `top`
/// (π, 0), a saddle with `λ = −c/2 ± √(c²/4 + g/L)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pendulum {
    gravity: f64,
    length: f64,
    mass: f64,
    damping: f64,
}

impl Pendulum {
    /// `gravity` g > 0 (m/s²), `length` L > 0 (m), `mass` m > 0 (kg), `damping` c ≥ 0 (1/s).
    pub fn new(gravity: f64, length: f64, mass: f64, damping: f64) -> Result<Self> {
        parameter("gravity", gravity, gravity > 0.0, "must be finite and > 0")?;
        parameter("length", length, length > 0.0, "must be finite and > 0")?;
        parameter("mass", mass, mass > 0.0, "must be finite and > 0")?;
        parameter("damping", damping, damping >= 0.0, "must be finite and ≥ 0")?;
        Ok(Self {
            gravity,
            length,
            mass,
            damping,
        })
    }
}

impl VectorField for Pendulum {
    fn name(&self) -> &str {
        "pendulum"
    }
    fn describe(&self) -> String {
        format!(
            "damped pendulum (g = {}, L = {}, m = {}, c = {})",
            self.gravity, self.length, self.mass, self.damping
        )
    }
    fn n_states(&self) -> usize {
        2
    }
    fn n_inputs(&self) -> usize {
        1
    }
    fn vector_field(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        let (theta, omega) = (x[0], x[1]);
        let inertia = self.mass * self.length * self.length;
        dvector![
            omega,
            -(self.gravity / self.length) * theta.sin() - self.damping * omega + u[0] / inertia
        ]
    }
    fn state_jacobian(&self, x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        dmatrix![
            0.0, 1.0;
            -(self.gravity / self.length) * x[0].cos(), -self.damping
        ]
    }
    fn input_jacobian(&self, _x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        dmatrix![0.0; 1.0 / (self.mass * self.length * self.length)]
    }
    fn equilibria(&self) -> Vec<Equilibrium> {
        vec![
            Equilibrium::new("bottom", dvector![0.0, 0.0]),
            Equilibrium::new("top", dvector![PI, 0.0]),
        ]
    }
}

/// The Van der Pol oscillator with an additive force:
///
/// ```text
/// ẋ = y
/// ẏ = μ (1 − x²) y − x + u
/// ```
///
/// States `(x, y)`, one input, measurement `x` by default. One equilibrium, `origin`, with
/// `λ = μ/2 ± √(μ²/4 − 1)`: unstable for μ > 0, surrounded by a stable limit cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct VanDerPol {
    mu: f64,
}

impl VanDerPol {
    /// Nonlinear damping `mu` ≥ 0.
    pub fn new(mu: f64) -> Result<Self> {
        parameter("mu", mu, mu >= 0.0, "must be finite and ≥ 0")?;
        Ok(Self { mu })
    }
}

impl VectorField for VanDerPol {
    fn name(&self) -> &str {
        "van_der_pol"
    }
    fn describe(&self) -> String {
        format!("Van der Pol oscillator (mu = {})", self.mu)
    }
    fn n_states(&self) -> usize {
        2
    }
    fn n_inputs(&self) -> usize {
        1
    }
    fn vector_field(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        dvector![x[1], self.mu * (1.0 - x[0] * x[0]) * x[1] - x[0] + u[0]]
    }
    fn state_jacobian(&self, x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        dmatrix![
            0.0, 1.0;
            -2.0 * self.mu * x[0] * x[1] - 1.0, self.mu * (1.0 - x[0] * x[0])
        ]
    }
    fn input_jacobian(&self, _x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        dmatrix![0.0; 1.0]
    }
    fn equilibria(&self) -> Vec<Equilibrium> {
        vec![Equilibrium::new("origin", dvector![0.0, 0.0])]
    }
}

/// The (unforced) Duffing oscillator with an additive force:
///
/// ```text
/// ẋ = v
/// v̇ = −δ v − α x − β x³ + u
/// ```
///
/// States `(x, v)`, one input (a periodic forcing `γ cos ωt` is one choice of input), measurement
/// `x` by default. Equilibria: `origin`, and when `α/β < 0` also `right` and `left` at
/// `x = ±√(−α/β)`. The double well (α < 0, β > 0) has a saddle at the origin and two stable
/// wells; the hardening spring (α > 0, β ≥ 0) has the origin only.
#[derive(Debug, Clone, PartialEq)]
pub struct Duffing {
    delta: f64,
    alpha: f64,
    beta: f64,
}

impl Duffing {
    /// Damping `delta` ≥ 0, linear stiffness `alpha`, cubic stiffness `beta`, not both zero
    /// (then every `(x, 0)` would be an equilibrium).
    pub fn new(delta: f64, alpha: f64, beta: f64) -> Result<Self> {
        parameter("delta", delta, delta >= 0.0, "must be finite and ≥ 0")?;
        parameter("beta", beta, true, "must be finite")?;
        parameter(
            "alpha",
            alpha,
            alpha != 0.0 || beta != 0.0,
            "must be finite, and alpha and beta not both 0",
        )?;
        Ok(Self { delta, alpha, beta })
    }
}

impl VectorField for Duffing {
    fn name(&self) -> &str {
        "duffing"
    }
    fn describe(&self) -> String {
        format!(
            "Duffing oscillator (delta = {}, alpha = {}, beta = {})",
            self.delta, self.alpha, self.beta
        )
    }
    fn n_states(&self) -> usize {
        2
    }
    fn n_inputs(&self) -> usize {
        1
    }
    fn vector_field(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        let p = x[0];
        dvector![
            x[1],
            -self.delta * x[1] - self.alpha * p - self.beta * p * p * p + u[0]
        ]
    }
    fn state_jacobian(&self, x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        dmatrix![
            0.0, 1.0;
            -self.alpha - 3.0 * self.beta * x[0] * x[0], -self.delta
        ]
    }
    fn input_jacobian(&self, _x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        dmatrix![0.0; 1.0]
    }
    fn equilibria(&self) -> Vec<Equilibrium> {
        let mut out = vec![Equilibrium::new("origin", dvector![0.0, 0.0])];
        if self.beta != 0.0 && -self.alpha / self.beta > 0.0 {
            let x = (-self.alpha / self.beta).sqrt();
            out.push(Equilibrium::new("right", dvector![x, 0.0]));
            out.push(Equilibrium::new("left", dvector![-x, 0.0]));
        }
        out
    }
}

/// The Lorenz system (autonomous, no inputs):
///
/// ```text
/// ẋ = σ (y − x)
/// ẏ = x (ρ − z) − y
/// ż = x y − β z
/// ```
///
/// Measurement `x` by default. Equilibria: `origin` (a saddle for ρ > 1) and, for ρ > 1,
/// `C+` and `C-` at `(±√(β(ρ−1)), ±√(β(ρ−1)), ρ − 1)` (unstable for the classical
/// σ = 10, β = 8/3, ρ = 28 > 24.74).
#[derive(Debug, Clone, PartialEq)]
pub struct Lorenz {
    sigma: f64,
    rho: f64,
    beta: f64,
}

impl Lorenz {
    /// `sigma` > 0, `rho` > 0, `beta` > 0.
    pub fn new(sigma: f64, rho: f64, beta: f64) -> Result<Self> {
        parameter("sigma", sigma, sigma > 0.0, "must be finite and > 0")?;
        parameter("rho", rho, rho > 0.0, "must be finite and > 0")?;
        parameter("beta", beta, beta > 0.0, "must be finite and > 0")?;
        Ok(Self { sigma, rho, beta })
    }
}

impl VectorField for Lorenz {
    fn name(&self) -> &str {
        "lorenz"
    }
    fn describe(&self) -> String {
        format!(
            "Lorenz system (sigma = {}, rho = {}, beta = {})",
            self.sigma, self.rho, self.beta
        )
    }
    fn n_states(&self) -> usize {
        3
    }
    fn n_inputs(&self) -> usize {
        0
    }
    fn vector_field(&self, x: &DVector<f64>, _u: &DVector<f64>) -> DVector<f64> {
        dvector![
            self.sigma * (x[1] - x[0]),
            x[0] * (self.rho - x[2]) - x[1],
            x[0] * x[1] - self.beta * x[2]
        ]
    }
    fn state_jacobian(&self, x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        dmatrix![
            -self.sigma, self.sigma, 0.0;
            self.rho - x[2], -1.0, -x[0];
            x[1], x[0], -self.beta
        ]
    }
    fn input_jacobian(&self, _x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
        DMatrix::zeros(3, 0)
    }
    fn equilibria(&self) -> Vec<Equilibrium> {
        let mut out = vec![Equilibrium::new("origin", dvector![0.0, 0.0, 0.0])];
        if self.rho > 1.0 {
            let c = (self.beta * (self.rho - 1.0)).sqrt();
            out.push(Equilibrium::new("C+", dvector![c, c, self.rho - 1.0]));
            out.push(Equilibrium::new("C-", dvector![-c, -c, self.rho - 1.0]));
        }
        out
    }
}
