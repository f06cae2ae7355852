//! Properties of the steady-state solution (DARE) and the stationary covariance.

mod common;

use approx::assert_relative_eq;
use dynrec_truth::riccati::riccati_step;
use dynrec_truth::{LinearSystem, TruthError, spectral_radius};
use nalgebra::{DMatrix, dmatrix};
use proptest::prelude::*;

/// A random system with `ρ(A) < 1`, full-rank `Q`, and `R ≻ 0`, from proptest's seeds.
fn random_stable_system(n: usize, p: usize, entries: &[f64]) -> LinearSystem {
    let mut it = entries.iter().copied().cycle();
    let mut a = DMatrix::from_fn(n, n, |_, _| it.next().unwrap_or(0.0));
    let radius = spectral_radius(&a);
    if radius > 0.0 {
        a *= 0.97 / radius.max(0.97);
    }
    let h = DMatrix::from_fn(p, n, |_, _| it.next().unwrap_or(0.0));
    let gq = DMatrix::from_fn(n, n, |_, _| it.next().unwrap_or(0.0));
    let gr = DMatrix::from_fn(p, p, |_, _| it.next().unwrap_or(0.0));
    let q = &gq * gq.transpose() + DMatrix::identity(n, n) * 1e-3;
    let r = &gr * gr.transpose() + DMatrix::identity(p, p) * 1e-2;
    LinearSystem::new(a, None, h, q, r).expect("constructed to be valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// On random stable systems the DARE solution satisfies `P = Ric(P)` to a relative
    /// residual ≤ 1e-10, is symmetric positive semi-definite, and `A − K H` is stable.
    #[test]
    fn dare_residual_is_tiny_on_random_stable_systems(
        n in 1usize..6,
        p in 1usize..4,
        entries in proptest::collection::vec(-1.0f64..1.0, 64),
    ) {
        let system = random_stable_system(n, p, &entries);
        let steady = system.steady_state().unwrap();
        prop_assert!(steady.residual <= 1e-10, "residual {}", steady.residual);
        let independent = (&steady.prior_covariance - riccati_step(&system, &steady.prior_covariance)).norm()
            / steady.prior_covariance.norm().max(1.0);
        prop_assert!(independent <= 1e-10);
        prop_assert!(steady.prior_covariance.clone().symmetric_eigenvalues().min() >= -1e-12);
        prop_assert!(spectral_radius(&steady.closed_loop) < 1.0);
    }
}

/// Iterating the Riccati map `P ← Ric(P)` from `P0` (the filter's covariance recursion, written
/// independently of the doubling solver) converges to the doubling solution.
#[test]
fn riccati_iteration_converges_to_doubling_solution() {
    let system = common::three_state();
    let steady = system.steady_state().unwrap();
    let mut p = system.p0().clone();
    for _ in 0..500 {
        p = riccati_step(&system, &p);
    }
    assert_relative_eq!(
        p,
        steady.prior_covariance,
        max_relative = 1e-12,
        epsilon = 1e-14
    );
    assert_relative_eq!(
        steady.innovation_covariance,
        system.h() * &p * system.h().transpose() + system.r(),
        max_relative = 1e-12
    );
    assert_relative_eq!(
        steady.predictor_gain,
        system.a() * &steady.filter_gain,
        max_relative = 1e-14
    );
}

/// An unstable mode that the measurement does not see (not detectable) has no stabilising
/// steady state: the solver returns an error instead of looping.
#[test]
fn undetectable_unstable_system_is_an_error() {
    let system = LinearSystem::new(
        dmatrix![1.2, 0.0; 0.0, 0.5],
        None,
        dmatrix![0.0, 1.0],
        DMatrix::identity(2, 2) * 0.1,
        dmatrix![1.0],
    )
    .unwrap();
    assert!(matches!(
        system.steady_state(),
        Err(TruthError::NoSteadyState(_))
    ));
}

/// A random walk without process noise (`Q = 0`) converges to `P = 0` with `A − K H = 1`:
/// not stabilising, so an error.
#[test]
fn marginal_system_without_process_noise_is_an_error() {
    let system = LinearSystem::new(
        dmatrix![1.0],
        None,
        dmatrix![1.0],
        dmatrix![0.0],
        dmatrix![1.0],
    )
    .unwrap();
    assert!(matches!(
        system.steady_state(),
        Err(TruthError::NoSteadyState(_))
    ));
}

/// The stationary covariance solves the Lyapunov equation `Σ = A Σ Aᵀ + Q`; for a scalar
/// system it is `q / (1 − a²)`.
#[test]
fn stationary_covariance_solves_lyapunov_equation() {
    let system = common::three_state();
    let sigma = system.stationary_covariance().unwrap();
    let a = system.a();
    assert_relative_eq!(
        sigma,
        a * &sigma * a.transpose() + system.q(),
        max_relative = 1e-13
    );
    let scalar = LinearSystem::new(
        dmatrix![0.9],
        None,
        dmatrix![1.0],
        dmatrix![0.19],
        dmatrix![1.0],
    )
    .unwrap();
    assert_relative_eq!(
        scalar.stationary_covariance().unwrap()[(0, 0)],
        0.19 / (1.0 - 0.81),
        max_relative = 1e-14
    );
}
