//! The steady state of the Kalman filter: the discrete algebraic Riccati equation (DARE) for
//! the prior covariance, and the stationary covariance of the state (a Lyapunov equation).

use nalgebra::{DMatrix, LU, Schur};

use crate::error::{Result, TruthError};
use crate::kalman::symmetrise;
use crate::system::{EIGEN_MAX_ITERATIONS, LinearSystem, safe_scale};

/// Relative change between doubling iterates below which the solution is accepted.
pub const DOUBLING_TOLERANCE: f64 = 1e-14;
/// Doubling steps before giving up; each step doubles the horizon, so 64 steps cover 2⁶⁴
/// Riccati recursions: a system still moving after that has no stabilising solution.
pub const MAX_DOUBLINGS: usize = 64;

/// The steady-state Kalman filter of a system.
#[derive(Debug, Clone, PartialEq)]
pub struct SteadyState {
    /// Prior covariance `P = lim P_{k|k-1}`, the stabilising solution of
    /// `P = A P Aᵀ + Q − A P Hᵀ (H P Hᵀ + R)⁻¹ H P Aᵀ`.
    pub prior_covariance: DMatrix<f64>,
    /// Posterior covariance `P − L H P` in steady state.
    pub posterior_covariance: DMatrix<f64>,
    /// Filter gain `L = P Hᵀ S⁻¹` (prior to posterior).
    pub filter_gain: DMatrix<f64>,
    /// Predictor gain `K = A P Hᵀ S⁻¹`: `x̂_{k+1|k} = A x̂_{k|k-1} + B u_{k+1} + K e_k`.
    pub predictor_gain: DMatrix<f64>,
    /// Innovation covariance `S = H P Hᵀ + R`, the covariance of one-step prediction errors.
    pub innovation_covariance: DMatrix<f64>,
    /// The predictor's closed-loop matrix `A − K H`.
    pub closed_loop: DMatrix<f64>,
    /// Doubling steps taken.
    pub iterations: usize,
    /// Relative residual of the DARE, `‖P − Ric(P)‖_F / max(1, ‖P‖_F)`.
    pub residual: f64,
}

/// The Riccati map `Ric(P) = A P Aᵀ + Q − A P Hᵀ (H P Hᵀ + R)⁻¹ H P Aᵀ`.
pub fn riccati_step(system: &LinearSystem, p: &DMatrix<f64>) -> DMatrix<f64> {
    let (a, h) = (system.a(), system.h());
    let s = h * p * h.transpose() + system.r();
    let apht = a * p * h.transpose();
    let correction = &apht
        * LU::new(s)
            .solve(&apht.transpose())
            .expect("S = H P Hᵀ + R is positive definite");
    let mut next = a * p * a.transpose() + system.q() - correction;
    symmetrise(&mut next);
    next
}

impl LinearSystem {
    /// Solves the filtering DARE by the structure-preserving doubling algorithm (quadratic
    /// convergence) and derives the gains. It is the control DARE of the dual pair
    /// `(Aᵀ, Hᵀ)`; with `G₀ = Hᵀ R⁻¹ H`, `A₀ = Aᵀ`, `X₀ = Q`:
    ///
    /// ```text
    /// W       = (I + G_k X_k)⁻¹
    /// A_{k+1} = A_k W A_k
    /// G_{k+1} = G_k + A_k W G_k A_kᵀ
    /// X_{k+1} = X_k + A_kᵀ X_k W A_k  → P
    /// ```
    ///
    /// Errors when the iteration does not settle within [`MAX_DOUBLINGS`] steps or the result is
    /// not stabilising (`ρ(A − K H) ≥ 1`: the pair `(A, H)` is not detectable or `(A, Q^½)` not
    /// stabilisable on the unit circle).
    pub fn steady_state(&self) -> Result<SteadyState> {
        let n = self.n_states();
        let (a, h, r) = (self.a(), self.h(), self.r());
        let identity = DMatrix::<f64>::identity(n, n);
        let r_inv_h = LU::new(r.clone())
            .solve(h)
            .ok_or_else(|| TruthError::NoSteadyState("R is singular".into()))?;
        let mut a_k = a.transpose();
        let mut g_k = h.transpose() * r_inv_h;
        let mut x_k = self.q().clone();
        let mut iterations = 0;
        loop {
            iterations += 1;
            let w = LU::new(&identity + &g_k * &x_k)
                .try_inverse()
                .ok_or_else(|| {
                    TruthError::NoSteadyState("I + G X became singular during doubling".into())
                })?;
            let a_w = &a_k * &w;
            let mut x_next = x_k.clone();
            // X_{k+1} = X_k + A_kᵀ X_k W A_k
            x_next.gemm(1.0, &(a_k.transpose() * &x_k * &w), &a_k, 1.0);
            let mut g_next = &g_k + &a_w * &g_k * a_k.transpose();
            let a_next = &a_w * &a_k;
            symmetrise(&mut x_next);
            symmetrise(&mut g_next);
            if !x_next.iter().all(|v| v.is_finite()) {
                return Err(TruthError::NoSteadyState(
                    "the doubling iteration diverged".into(),
                ));
            }
            let change = (&x_next - &x_k).norm() / x_next.norm().max(f64::MIN_POSITIVE);
            x_k = x_next;
            g_k = g_next;
            a_k = a_next;
            if change <= DOUBLING_TOLERANCE || x_k.norm() == 0.0 {
                break;
            }
            if iterations >= MAX_DOUBLINGS {
                return Err(TruthError::NoSteadyState(format!(
                    "no convergence after {MAX_DOUBLINGS} doubling steps (relative change {change:e})"
                )));
            }
        }
        let p = x_k;
        let s = h * &p * h.transpose() + r;
        let s_lu = LU::new(s.clone());
        let filter_gain = s_lu
            .solve(&(h * &p))
            .ok_or_else(|| TruthError::NoSteadyState("S = H P Hᵀ + R is singular".into()))?
            .transpose();
        let predictor_gain = a * &filter_gain;
        let closed_loop = a - &predictor_gain * h;
        if !(s.iter().chain(closed_loop.iter())).all(|v| v.is_finite()) {
            return Err(TruthError::NoSteadyState(
                "the solution overflowed (S = H P Hᵀ + R or the gain is not finite: Q, R or \
                 A too large)"
                    .into(),
            ));
        }
        let radius = spectral_radius(&closed_loop);
        if radius >= 1.0 {
            return Err(TruthError::NoSteadyState(format!(
                "the solution is not stabilising: spectral radius of A − K H is {radius} ≥ 1 \
                 ((A, H) not detectable, or (A, Q) not stabilisable)"
            )));
        }
        let mut posterior_covariance = &p - &filter_gain * h * &p;
        symmetrise(&mut posterior_covariance);
        let residual = (&p - riccati_step(self, &p)).norm() / p.norm().max(1.0);
        Ok(SteadyState {
            prior_covariance: p,
            posterior_covariance,
            filter_gain,
            predictor_gain,
            innovation_covariance: s,
            closed_loop,
            iterations,
            residual,
        })
    }

    /// The stationary covariance of the state driven by process noise alone,
    /// `Σ = A Σ Aᵀ + Q = Σ_j Aʲ Q (Aᵀ)ʲ`, by doubling (`Σ_{k+1} = Σ_k + A_k Σ_k A_kᵀ`,
    /// `A_{k+1} = A_k²`). Needs `ρ(A) < 1`.
    pub fn stationary_covariance(&self) -> Result<DMatrix<f64>> {
        let radius = spectral_radius(self.a());
        if radius >= 1.0 {
            return Err(TruthError::NoSteadyState(format!(
                "A is not stable (spectral radius {radius} ≥ 1): no stationary covariance"
            )));
        }
        let mut a_k = self.a().clone();
        let mut sigma = self.q().clone();
        for _ in 0..MAX_DOUBLINGS {
            let next = &sigma + &a_k * &sigma * a_k.transpose();
            let change = (&next - &sigma).norm() / next.norm().max(f64::MIN_POSITIVE);
            sigma = next;
            a_k = &a_k * &a_k;
            if change <= DOUBLING_TOLERANCE || sigma.norm() == 0.0 {
                symmetrise(&mut sigma);
                return Ok(sigma);
            }
        }
        Err(TruthError::NoSteadyState(
            "stationary covariance did not converge".into(),
        ))
    }
}

/// Largest modulus of the eigenvalues of a square matrix; `∞` when it cannot be computed (an
/// entry that is not finite, or a Schur iteration that does not converge within
/// [`EIGEN_MAX_ITERATIONS`]), so that a check `radius < 1` fails safe. (nalgebra's
/// `complex_eigenvalues` iterates without bound: a closed loop with NaN entries hung
/// `P0 = "stationary"` for ever.) Matrices near 1e308 are scaled by a power of two first.
pub fn spectral_radius(m: &DMatrix<f64>) -> f64 {
    if m.is_empty() {
        return 0.0;
    }
    if !m.iter().all(|v| v.is_finite()) {
        return f64::INFINITY;
    }
    let scale = safe_scale(m);
    match Schur::try_new(m / scale, f64::EPSILON, EIGEN_MAX_ITERATIONS) {
        Some(schur) => {
            schur
                .complex_eigenvalues()
                .iter()
                .map(|l| l.norm())
                .fold(0.0, f64::max)
                * scale
        }
        None => f64::INFINITY,
    }
}
