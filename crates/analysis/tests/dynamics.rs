//! Recovered dynamics: predictor identity, Jacobians and fixed points.

use approx::assert_relative_eq;
use dynrec_analysis::dynamics::{FixedPointOptions, find_fixed_points, linearise};
use dynrec_analysis::{Activation, AnalysisConfig, Mode, RnnWeights, TrueSystem, analyse};
use nalgebra::{DMatrix, DVector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

mod common;

/// Steady-state predictor gain of the scalar system `x_k = a x_{k-1} + w`, `z_k = h x_k + v`,
/// solved by hand. The prediction Riccati equation `P = a²P − a²P²h²/(h²P + r) + q` is the
/// quadratic `h²P² + (r(1 − a²) − q h²) P − q r = 0`, whose positive root is `P`; then
/// `K = a P h / (h² P + r)`.
fn scalar_predictor_gain(a: f64, h: f64, q: f64, r: f64) -> f64 {
    let beta = r * (1.0 - a * a) - q * h * h;
    let p = (-beta + (beta * beta + 4.0 * h * h * q * r).sqrt()) / (2.0 * h * h);
    // P must satisfy the Riccati equation it came from.
    let riccati = a * a * p - a * a * p * p * h * h / (h * h * p + r) + q;
    assert_relative_eq!(riccati, p, max_relative = 1e-12);
    a * p * h / (h * h * p + r)
}

/// Predictor identity: the exact Kalman predictor written as a network
/// (`U = A − K H`, `W_z = K`, `V = H`) has recovered dynamics `U + W_z V = A`, so its eigen
/// error against A is zero, eig(U) equals eig(A − K H), and the verdict says so.
#[test]
fn kalman_predictor_weights_recover_a() {
    let (a, h, q, r) = (0.95, 1.0, 1e-2, 0.25);
    let k = scalar_predictor_gain(a, h, q, r);
    let u = DMatrix::from_element(1, 1, a - k * h);
    let weights = RnnWeights {
        u,
        w: DMatrix::from_row_slice(1, 2, &[0.7, k]), // [W_u | W_z], B = 0.7
        v: DMatrix::from_element(1, 1, h),
        b: DVector::zeros(1),
        c: DVector::zeros(1),
        activation: Activation::Linear,
        mode: Mode::Predictor,
        bias: true,
    };
    let truth = TrueSystem::new(
        DMatrix::from_element(1, 1, a),
        Some(DMatrix::from_element(1, 1, 0.7)),
        DMatrix::from_element(1, 1, h),
        Some(DMatrix::from_element(1, 1, k)),
    )
    .expect("consistent truth");
    let result =
        analyse(&weights, Some(&truth), None, &AnalysisConfig::default()).expect("analysis");
    assert_relative_eq!(result.linearisation.dynamics[(0, 0)], a, epsilon = 1e-15);
    assert!(result.eigen_error().expect("truth known") < 1e-15);
    let cl = result.closed_loop_matching.as_ref().expect("K known");
    assert!(cl.max_distance < 1e-15);
    // U is not A: the RNN's raw recurrence differs from A by exactly K H.
    let raw = result.recurrent_matching.as_ref().expect("truth known");
    assert_relative_eq!(raw.max_distance, k * h, epsilon = 1e-15);
    assert!(
        result.verdict.contains("A is recovered as U + W_z V"),
        "{}",
        result.verdict
    );
    assert!(result.verdict.contains("A − K H"), "{}", result.verdict);
    let fit = result.similarity.as_ref().expect("orders agree");
    assert_relative_eq!(fit.t[(0, 0)], 1.0, epsilon = 1e-12);
}

/// Predictor identity with `K` from `dynrec-truth`'s steady state (an independent DARE
/// solver) for a two-state oscillator: the network `U = A − K H`, `W = [B | K]`, `V = H`
/// recovers `U + W_z V = A` (to rounding), eig(U) equals eig(A − K H), `T = I`, and the
/// Markov parameters of `(A, [B | K], H)` are reproduced.
#[test]
fn kalman_predictor_from_truth_steady_state_recovers_a() {
    let a = DMatrix::from_row_slice(2, 2, &[0.9, -0.2, 0.2, 0.9]);
    let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.5]);
    let h = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
    let q = DMatrix::from_diagonal_element(2, 2, 1e-4);
    let r = DMatrix::from_element(1, 1, 2.5e-3);
    let system = dynrec_truth::LinearSystem::new(a.clone(), Some(b.clone()), h.clone(), q, r)
        .expect("valid system");
    let steady = system.steady_state().expect("detectable and stabilisable");
    let k = steady.predictor_gain.clone();
    let mut w = DMatrix::zeros(2, 2);
    w.set_column(0, &b.column(0));
    w.set_column(1, &k.column(0));
    let weights = RnnWeights {
        u: &a - &k * &h,
        w,
        v: h.clone(),
        b: DVector::zeros(2),
        c: DVector::zeros(1),
        activation: Activation::Linear,
        mode: Mode::Predictor,
        bias: true,
    };
    let truth = TrueSystem::new(a.clone(), Some(b), h, Some(k)).expect("truth");
    let result =
        analyse(&weights, Some(&truth), None, &AnalysisConfig::default()).expect("analysis");
    assert!((&result.linearisation.dynamics - &a).amax() < 1e-15);
    assert!(result.eigen_error().expect("truth") < 1e-14);
    let acl = dynrec_analysis::eigenvalues(&steady.closed_loop).expect("eigenvalues");
    let cl = dynrec_analysis::match_eigenvalues(&acl, &result.recurrent);
    assert!(cl.max_distance < 1e-14);
    let fit = result.similarity.as_ref().expect("identifiable");
    assert!((&fit.t - DMatrix::<f64>::identity(2, 2)).amax() < 1e-10);
    assert!(result.markov.as_ref().expect("compared").relative_error < 1e-14);
}

/// The same identity in two states with the network in another basis:
/// `(T(A − KH)T⁻¹, T[B | K], H T⁻¹)` recovers eig(A) and finds `T` (here `K` is any gain: the
/// identity `U + W_z V = T A T⁻¹` holds for every `K`).
#[test]
fn transformed_predictor_recovers_a_and_t() {
    let truth = common::oscillator_with_gain();
    let t = DMatrix::from_row_slice(2, 2, &[1.2, 0.3, -0.4, 0.8]);
    let weights = common::predictor_network(&truth, &t, Activation::Linear);
    let result =
        analyse(&weights, Some(&truth), None, &AnalysisConfig::default()).expect("analysis");
    assert!(result.eigen_error().expect("truth") < 1e-12);
    let fit = result.similarity.as_ref().expect("identifiable");
    assert!((&fit.t - &t).amax() < 1e-8);
}

/// At a tanh fixed point `h* = tanh(pre*)`, so `act'(pre*) = 1 − h*²` and the Jacobian is
/// exactly `diag(1 − h*²) U`. With zero drive the origin is a fixed point and the Jacobian is
/// `U` itself; with tiny weights (spectral radius 0.05) it is the only, stable, fixed point.
#[test]
fn tanh_jacobian_at_origin_is_u() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let n = 4;
    let u: DMatrix<f64> = DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0));
    let norm2 = u.clone().singular_values()[0];
    let u = u * (0.05 / norm2);
    let weights = RnnWeights {
        u: u.clone(),
        w: DMatrix::from_fn(n, 1, |_, _| rng.random_range(-1.0..1.0)),
        v: DMatrix::from_fn(1, n, |_, _| rng.random_range(-1.0..1.0)),
        b: DVector::zeros(n),
        c: DVector::zeros(1),
        activation: Activation::Tanh,
        mode: Mode::Simulation,
        bias: true,
    };
    let (lin, search) = linearise(&weights, &DVector::zeros(1), &FixedPointOptions::default())
        .expect("linearisation");
    let search = search.expect("nonlinear network");
    assert_eq!(search.points.len(), 1, "a contraction has one fixed point");
    assert!(search.points[0].stable);
    assert_eq!(search.points[0].h.amax(), 0.0);
    assert_eq!(lin.recurrent, u);
    assert_eq!(lin.dynamics, u);

    // Tiny nonzero drive: the fixed point moves off the origin and D = diag(1 − h*²).
    let mut shifted = weights.clone();
    shifted.b = DVector::from_fn(n, |_, _| rng.random_range(-1e-2..1e-2));
    let (lin, search) = linearise(&shifted, &DVector::zeros(1), &FixedPointOptions::default())
        .expect("linearisation");
    let h = &search.expect("nonlinear").points[0].h;
    let expected = DMatrix::from_diagonal(&h.map(|x| 1.0 - x * x)) * &u;
    assert!((&lin.dynamics - &expected).amax() < 1e-15);
}

/// `h = tanh(U h)` with `U = [[0, 2], [2, 0]]`, solved by hand: on the diagonal `h1 = h2 = s`
/// with `s = tanh(2s)`, giving `s = 0` and `s = ±s*` (s* ≈ 0.9575, found here by bisection);
/// off it, `h1 = −h2 = a` needs `a = −tanh(2a)`, only `a = 0`. The origin has Jacobian `U`
/// with eigenvalues ±2 (unstable); at ±(s*, s*) the Jacobian is `(1 − s*²) U` with eigenvalues
/// `±2(1 − s*²) ≈ ±0.166` (stable).
#[test]
fn hand_solved_tanh_fixed_points() {
    // Bisection for s = tanh(2s) on [0.5, 1]: g(s) = tanh(2s) − s changes sign there.
    let (mut lo, mut hi) = (0.5_f64, 1.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if (2.0 * mid).tanh() - mid > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let s = 0.5 * (lo + hi);
    let u = DMatrix::from_row_slice(2, 2, &[0.0, 2.0, 2.0, 0.0]);
    let options = FixedPointOptions {
        starts: 32,
        ..FixedPointOptions::default()
    };
    let search =
        find_fixed_points(&u, &DVector::zeros(2), Activation::Tanh, &options).expect("search");
    assert_eq!(search.points.len(), 3, "{:?}", search.points);
    let find = |target: [f64; 2]| {
        search
            .points
            .iter()
            .find(|p| (p.h[0] - target[0]).abs() < 1e-9 && (p.h[1] - target[1]).abs() < 1e-9)
            .unwrap_or_else(|| panic!("fixed point {target:?} not found"))
    };
    let origin = find([0.0, 0.0]);
    assert!(!origin.stable);
    assert_relative_eq!(origin.spectral_radius, 2.0, epsilon = 1e-12);
    for sign in [1.0, -1.0] {
        let p = find([sign * s, sign * s]);
        assert!(p.stable);
        assert_relative_eq!(p.spectral_radius, 2.0 * (1.0 - s * s), epsilon = 1e-9);
    }
    // The operating point is a stable one, although iterating from h = 0 stays at the
    // (unstable) origin: any perturbation leaves it.
    let op = search.operating_point().expect("found");
    assert!(op.stable);
    assert_relative_eq!(op.h[0].abs(), s, epsilon = 1e-9);
}

/// A relu cell `h = max(0, 0.5 h + 1)` has the single fixed point `h* = 2` (solve
/// `h = 0.5 h + 1`), where the slope is 1 and the Jacobian is 0.5: stable.
#[test]
fn hand_solved_relu_fixed_point() {
    let u = DMatrix::from_element(1, 1, 0.5);
    let search = find_fixed_points(
        &u,
        &DVector::from_element(1, 1.0),
        Activation::Relu,
        &FixedPointOptions::default(),
    )
    .expect("search");
    assert_eq!(search.points.len(), 1);
    assert_relative_eq!(search.points[0].h[0], 2.0, epsilon = 1e-12);
    assert!(search.points[0].stable);
    assert_relative_eq!(search.points[0].spectral_radius, 0.5, epsilon = 1e-15);
}
