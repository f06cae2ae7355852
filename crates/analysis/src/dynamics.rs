//! The dynamics a trained network actually implements.
//!
//! ```text
//! h_k = act(U h_{k-1} + W in_k + b),   y_k = V h_k + c
//! ```
//!
//! - Simulation mode, linear: the dynamics are `U`.
//! - Predictor mode, linear: the network is fed `z_{k-1} ≈ y_{k-1} = V h_{k-1}`, so closing the
//!   loop gives `h_k = (U + W_z V) h_{k-1} + …`; for the Kalman predictor `U = A − K H`,
//!   `W_z = K`, `V = H`, and `U + W_z V = A`.
//! - Nonlinear (tanh, relu): around a fixed point `h* = act(U h* + W ū + b)` of the network fed
//!   its mean input `ū`, small deviations evolve by the Jacobian `J = diag(act'(pre*)) U`, with
//!   `pre* = U h* + W ū + b`; in predictor mode `D (U + W_z V)` with `D = diag(act'(pre*))`.

use nalgebra::{DMatrix, DVector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::eigen::{C64, eigenvalues};
use crate::error::{AnalysisError, Result, check_finite};
use dynrec_core::serde_matrix;
use dynrec_core::weights::{Activation, Mode, RnnWeights};

/// `act(x)`.
pub fn activate(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Linear => x,
        Activation::Tanh => x.tanh(),
        Activation::Relu => x.max(0.0),
    }
}

/// `act'(x)`; for relu the derivative at exactly 0 is taken as 0.
pub fn derivative(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Linear => 1.0,
        // d/dx tanh x = 1 − tanh² x
        Activation::Tanh => 1.0 - x.tanh().powi(2),
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// The closed-loop dynamics of a linear predictor network, `U + W_z V`.
///
/// # Shapes
/// - `u`: `[d, d]`, `w_z`: `[d, p]`, `v`: `[p, d]` → `[d, d]`
pub fn predictor_dynamics(
    u: &DMatrix<f64>,
    w_z: &DMatrix<f64>,
    v: &DMatrix<f64>,
) -> Result<DMatrix<f64>> {
    let d = u.nrows();
    if !u.is_square() || w_z.nrows() != d || v.ncols() != d || w_z.ncols() != v.nrows() {
        return Err(AnalysisError::Dimension(format!(
            "U + W_z V with U {}x{}, W_z {}x{}, V {}x{}",
            u.nrows(),
            u.ncols(),
            w_z.nrows(),
            w_z.ncols(),
            v.nrows(),
            v.ncols()
        )));
    }
    Ok(u + w_z * v)
}

/// The Jacobian `∂h_k/∂h_{k-1} = diag(act'(pre)) U` of the cell at pre-activation `pre`.
pub fn jacobian(u: &DMatrix<f64>, pre: &DVector<f64>, activation: Activation) -> DMatrix<f64> {
    let slopes = pre.map(|x| derivative(activation, x));
    DMatrix::from_diagonal(&slopes) * u
}

/// Settings of the fixed-point search (in the spirit of Golub & Sussillo's FixedPointFinder).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FixedPointOptions {
    /// Number of random starts, besides the origin and the settled state. Default 16.
    pub starts: usize,
    /// Seed of the random starts. Default 0.
    pub seed: u64,
    /// Random starts are uniform in `[-scale, scale]^d` (relu: `[0, scale]^d`). Default 1.
    pub start_scale: f64,
    /// Levenberg–Marquardt iterations per start. Default 200.
    pub max_iterations: usize,
    /// A point is fixed when `‖F(h) − h‖_∞ ≤ tolerance · (1 + ‖h‖_∞)`. Default 1e-10.
    pub tolerance: f64,
    /// Fixed points closer than this (max norm) are the same point. Default 1e-6.
    pub distinct: f64,
    /// Steps of `h ← F(h)` from the origin that give the settled state. Default 1000.
    pub settle_steps: usize,
}

impl Default for FixedPointOptions {
    fn default() -> Self {
        Self {
            starts: 16,
            seed: 0,
            start_scale: 1.0,
            max_iterations: 200,
            tolerance: 1e-10,
            distinct: 1e-6,
            settle_steps: 1000,
        }
    }
}

/// A fixed point `h* = F(h*)` of the network fed a constant input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedPoint {
    /// The point `h*`.
    #[serde(with = "serde_matrix::vector")]
    pub h: DVector<f64>,
    /// `‖F(h*) − h*‖_∞`.
    pub residual: f64,
    /// Eigenvalues of the Jacobian `diag(act'(pre*)) U` there.
    #[serde(with = "serde_matrix::complex_vec")]
    pub eigenvalues: Vec<C64>,
    /// Largest modulus among them.
    pub spectral_radius: f64,
    /// Asymptotically stable: spectral radius < 1.
    pub stable: bool,
}

/// Every fixed point found, and which one the network settles at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedPointSearch {
    /// Distinct fixed points: stable ones first, each group sorted by distance from the
    /// settled state.
    pub points: Vec<FixedPoint>,
    /// The state after iterating `h ← F(h)` from the origin (`None` if it diverged).
    #[serde(with = "serde_matrix::option_vector")]
    pub settled: Option<DVector<f64>>,
}

impl FixedPointSearch {
    /// The operating point (the first one): the stable fixed point nearest the settled state,
    /// or the nearest unstable one if none is stable.
    pub fn operating_point(&self) -> Option<&FixedPoint> {
        self.points.first()
    }
}

/// Finds the fixed points of `F(h) = act(U h + d)`, with `d = W ū + b` the constant drive.
///
/// Each start is refined by Levenberg–Marquardt on `q(h) = ½‖G(h)‖²`, `G(h) = F(h) − h`,
/// whose Jacobian is `∇G = diag(act'(U h + d)) U − I`:
/// `δ = −(∇Gᵀ∇G + μI)⁻¹ ∇Gᵀ G`, `μ` shrunk ×10 on success and grown ×10 on failure, so the
/// iteration becomes Newton's near a root. Starts: the origin, the settled state and
/// `options.starts` seeded random points.
pub fn find_fixed_points(
    u: &DMatrix<f64>,
    drive: &DVector<f64>,
    activation: Activation,
    options: &FixedPointOptions,
) -> Result<FixedPointSearch> {
    let d = u.nrows();
    if !u.is_square() || drive.len() != d {
        return Err(AnalysisError::Dimension(format!(
            "fixed points of act(U h + d) with U {}x{} and d of length {}",
            u.nrows(),
            u.ncols(),
            drive.len()
        )));
    }
    check_finite("U", u.iter())?;
    check_finite("drive W ū + b", drive.iter())?;
    let map = |h: &DVector<f64>| (u * h + drive).map(|x| activate(activation, x));

    let mut settled = DVector::zeros(d);
    for _ in 0..options.settle_steps {
        settled = map(&settled);
    }
    let settled = settled.iter().all(|x| x.is_finite()).then_some(settled);

    let mut starts = vec![DVector::zeros(d)];
    starts.extend(settled.clone());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
    for _ in 0..options.starts {
        starts.push(DVector::from_fn(d, |_, _| match activation {
            Activation::Relu => rng.random_range(0.0..=options.start_scale),
            _ => rng.random_range(-options.start_scale..=options.start_scale),
        }));
    }

    let mut points: Vec<FixedPoint> = Vec::new();
    for start in starts {
        let Some(h) = refine(u, drive, activation, start, options) else {
            continue;
        };
        if points
            .iter()
            .any(|p| (&p.h - &h).amax() <= options.distinct)
        {
            continue;
        }
        let pre = u * &h + drive;
        let eig = eigenvalues(&jacobian(u, &pre, activation))?;
        let spectral_radius = eig.iter().map(|z| z.norm()).fold(0.0, f64::max);
        points.push(FixedPoint {
            residual: (map(&h) - &h).amax(),
            h,
            eigenvalues: eig,
            spectral_radius,
            stable: spectral_radius < 1.0,
        });
    }
    // Stable points first (the network cannot stay at an unstable one once its input
    // fluctuates), each group by distance from the settled state.
    let reference = settled.clone().unwrap_or_else(|| DVector::zeros(d));
    points.sort_by(|a, b| {
        b.stable.cmp(&a.stable).then(
            (&a.h - &reference)
                .norm()
                .total_cmp(&(&b.h - &reference).norm()),
        )
    });
    Ok(FixedPointSearch { points, settled })
}

/// Levenberg–Marquardt from `h` towards a root of `G(h) = act(U h + d) − h`.
fn refine(
    u: &DMatrix<f64>,
    drive: &DVector<f64>,
    activation: Activation,
    mut h: DVector<f64>,
    options: &FixedPointOptions,
) -> Option<DVector<f64>> {
    let d = u.nrows();
    let residual = |h: &DVector<f64>| (u * h + drive).map(|x| activate(activation, x)) - h;
    let converged =
        |g: &DVector<f64>, h: &DVector<f64>| g.amax() <= options.tolerance * (1.0 + h.amax());
    let mut g = residual(&h);
    let mut q = 0.5 * g.norm_squared();
    let mut mu = 1e-3;
    for _ in 0..options.max_iterations {
        if !q.is_finite() {
            return None;
        }
        if converged(&g, &h) {
            return Some(polish(u, drive, activation, h, g));
        }
        let pre = u * &h + drive;
        // ∇G = diag(act'(pre)) U − I
        let grad_g = jacobian(u, &pre, activation) - DMatrix::identity(d, d);
        let normal = grad_g.transpose() * &grad_g + DMatrix::identity(d, d) * mu;
        let rhs = -(grad_g.transpose() * &g);
        let Some(step) = normal.cholesky().map(|c| c.solve(&rhs)) else {
            mu *= 10.0;
            continue;
        };
        let candidate = &h + step;
        let g_new = residual(&candidate);
        let q_new = 0.5 * g_new.norm_squared();
        if q_new < q {
            h = candidate;
            g = g_new;
            q = q_new;
            mu = (mu / 10.0).max(1e-15);
        } else {
            mu *= 10.0;
            if mu > 1e15 {
                break;
            }
        }
    }
    converged(&g, &h).then(|| polish(u, drive, activation, h, g))
}

/// Undamped Newton steps `∇G δ = −G` from a converged point, kept while they shrink `‖G‖`:
/// they take the point to rounding level (LM's damping leaves it at the tolerance).
fn polish(
    u: &DMatrix<f64>,
    drive: &DVector<f64>,
    activation: Activation,
    mut h: DVector<f64>,
    mut g: DVector<f64>,
) -> DVector<f64> {
    let d = u.nrows();
    for _ in 0..5 {
        let pre = u * &h + drive;
        let grad_g = jacobian(u, &pre, activation) - DMatrix::identity(d, d);
        let Some(step) = grad_g.lu().solve(&(-&g)) else {
            break;
        };
        let candidate = &h + step;
        let g_new = (u * &candidate + drive).map(|x| activate(activation, x)) - &candidate;
        if g_new.amax() < g.amax() {
            h = candidate;
            g = g_new;
        } else {
            break;
        }
    }
    h
}

/// The linearised network: `δh_k = dynamics δh_{k-1} + input δin_k`, `δy_k = output δh_k`.
///
/// With `D = diag(act'(pre*))` at the operating point (`D = I` for a linear network):
/// `recurrent = D U`, `dynamics = D U` (simulation) or `D (U + W_z V)` (predictor),
/// `input = D W`, `output = V`.
///
/// # Shapes
/// - `recurrent`, `dynamics`: `[d, d]`; `input`: `[d, d_input]`; `output`: `[p, d]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linearisation {
    /// The fixed point linearised about (`None` for a linear network, where none is needed).
    #[serde(with = "serde_matrix::option_vector")]
    pub operating_point: Option<DVector<f64>>,
    /// `act'(pre*)` per hidden unit.
    #[serde(with = "serde_matrix::vector")]
    pub slopes: DVector<f64>,
    /// `D U`: the recurrence as trained (compare with `A`, or `A − K H` in predictor mode).
    #[serde(with = "serde_matrix::rows")]
    pub recurrent: DMatrix<f64>,
    /// The recovered dynamics (compare with `A`).
    #[serde(with = "serde_matrix::rows")]
    pub dynamics: DMatrix<f64>,
    /// `D W` (compare with `B`, or `[B | K]` in predictor mode).
    #[serde(with = "serde_matrix::rows")]
    pub input: DMatrix<f64>,
    /// `V` (compare with `H`).
    #[serde(with = "serde_matrix::rows")]
    pub output: DMatrix<f64>,
}

/// Checks the shapes of a weight bundle.
pub fn check_weights(w: &RnnWeights) -> Result<()> {
    let d = w.u.nrows();
    let ok = w.u.is_square()
        && w.w.nrows() == d
        && w.v.ncols() == d
        && w.b.len() == d
        && w.c.len() == w.v.nrows()
        && (w.mode == Mode::Simulation || w.w.ncols() >= w.v.nrows());
    if !ok {
        return Err(AnalysisError::Dimension(format!(
            "RNN weights U {}x{}, W {}x{}, V {}x{}, b {}, c {} ({:?} mode)",
            w.u.nrows(),
            w.u.ncols(),
            w.w.nrows(),
            w.w.ncols(),
            w.v.nrows(),
            w.v.ncols(),
            w.b.len(),
            w.c.len(),
            w.mode
        )));
    }
    for (name, m) in [("U", &w.u), ("W", &w.w), ("V", &w.v)] {
        check_finite(name, m.iter())?;
    }
    check_finite("b", w.b.iter())?;
    check_finite("c", w.c.iter())
}

/// Linearises the network about its operating fixed point when fed `input_mean` (see
/// [`FixedPointSearch::operating_point`]).
///
/// Returns the linearisation and, for a nonlinear network, the fixed-point search behind it.
/// Fails with [`AnalysisError::NoFixedPoint`] when a nonlinear network has none.
pub fn linearise(
    weights: &RnnWeights,
    input_mean: &DVector<f64>,
    options: &FixedPointOptions,
) -> Result<(Linearisation, Option<FixedPointSearch>)> {
    check_weights(weights)?;
    if input_mean.len() != weights.d_input() {
        return Err(AnalysisError::Dimension(format!(
            "mean input has length {}, the network takes {}",
            input_mean.len(),
            weights.d_input()
        )));
    }
    let d = weights.d_hidden();
    let (slopes, operating_point, search) = match weights.activation {
        Activation::Linear => (DVector::from_element(d, 1.0), None, None),
        activation => {
            let drive = &weights.w * input_mean + &weights.b;
            let search = find_fixed_points(&weights.u, &drive, activation, options)?;
            let point = search
                .operating_point()
                .ok_or(AnalysisError::NoFixedPoint)?;
            let pre = &weights.u * &point.h + &drive;
            let slopes = pre.map(|x| derivative(activation, x));
            (slopes, Some(point.h.clone()), Some(search))
        }
    };
    let gain = DMatrix::from_diagonal(&slopes);
    let recurrent = &gain * &weights.u;
    let dynamics = match weights.w_measurements() {
        None => recurrent.clone(),
        Some(w_z) => &gain * predictor_dynamics(&weights.u, &w_z, &weights.v)?,
    };
    Ok((
        Linearisation {
            operating_point,
            recurrent,
            dynamics,
            input: &gain * &weights.w,
            output: weights.v.clone(),
            slopes,
        },
        search,
    ))
}
