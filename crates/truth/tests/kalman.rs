//! Properties of the Kalman filter and the RTS smoother.

mod common;

use approx::assert_relative_eq;
use dynrec_truth::{
    InputSignal, LinearSystem, Sequence, SimulationConfig, filter, simulate, smooth,
};
use nalgebra::{DMatrix, DVector, dmatrix};

fn one_sequence(system: &LinearSystem, steps: usize, seed: u64, missing: f64) -> Sequence {
    let config = SimulationConfig {
        sequences: 1,
        steps,
        input: InputSignal::White { std: 1.0 },
        missing_fraction: missing,
        seed,
    };
    simulate(system, &config)
        .expect("valid config")
        .sequences
        .remove(0)
}

/// Scalar random walk (A = 1, H = 1): the filter's prior variance, gain and posterior variance
/// follow the closed-form recursion `P⁻_{k+1} = P_k + q`, `g = P⁻/(P⁻ + r)`, `P_k = (1 − g) P⁻`,
/// and the mean `x̂ = x̂⁻ + g (z − x̂⁻)`.
#[test]
fn scalar_random_walk_matches_closed_form_recursion() {
    let (q, r, p0) = (0.3, 2.0, 5.0);
    let system = LinearSystem::new(dmatrix![1.0], None, dmatrix![1.0], dmatrix![q], dmatrix![r])
        .unwrap()
        .with_prior(DVector::from_element(1, 0.7), dmatrix![p0])
        .unwrap();
    let seq = one_sequence(&system, 50, 3, 0.0);
    let out = filter(&system, &seq).unwrap();
    let (mut x, mut p_prior) = (0.7, p0);
    for k in 0..seq.len() {
        if k > 0 {
            p_prior += q;
        }
        let gain = p_prior / (p_prior + r);
        x += gain * (seq.measurements[(0, k)] - x);
        let p_post = (1.0 - gain) * p_prior;
        assert_relative_eq!(
            out.predicted_covariance(k)[(0, 0)],
            p_prior,
            max_relative = 1e-13
        );
        assert_relative_eq!(out.covariance(k)[(0, 0)], p_post, max_relative = 1e-13);
        assert_relative_eq!(out.means[(0, k)], x, epsilon = 1e-12, max_relative = 1e-12);
        p_prior = p_post;
    }
}

/// Scalar random walk: the steady prior variance is the positive root of `P² − qP − qr = 0`,
/// i.e. `P = (q + √(q² + 4qr)) / 2`, and the filter's prior variance converges to it.
#[test]
fn scalar_random_walk_steady_state_is_closed_form_riccati_root() {
    let (q, r) = (0.3, 2.0);
    let system =
        LinearSystem::new(dmatrix![1.0], None, dmatrix![1.0], dmatrix![q], dmatrix![r]).unwrap();
    let steady = system.steady_state().unwrap();
    let p = (q + (q * q + 4.0 * q * r).sqrt()) / 2.0;
    assert_relative_eq!(steady.prior_covariance[(0, 0)], p, max_relative = 1e-14);
    assert_relative_eq!(
        steady.filter_gain[(0, 0)],
        p / (p + r),
        max_relative = 1e-14
    );
    assert_relative_eq!(
        steady.predictor_gain[(0, 0)],
        p / (p + r),
        max_relative = 1e-14
    );
    assert_relative_eq!(
        steady.closed_loop[(0, 0)],
        r / (p + r),
        max_relative = 1e-14
    );
    let out = filter(&system, &one_sequence(&system, 200, 1, 0.0)).unwrap();
    assert_relative_eq!(
        out.predicted_covariance(199)[(0, 0)],
        p,
        max_relative = 1e-12
    );
}

/// The filter's prior covariance after many steps converges to the DARE solution `P`
/// (3-state system with correlated noises).
#[test]
fn filter_covariance_converges_to_dare_solution() {
    let system = common::three_state();
    let steady = system.steady_state().unwrap();
    let out = filter(&system, &one_sequence(&system, 400, 2, 0.0)).unwrap();
    let p_last = out.predicted_covariance(399).into_owned();
    assert_relative_eq!(
        p_last,
        steady.prior_covariance,
        max_relative = 1e-10,
        epsilon = 1e-12
    );
    assert_relative_eq!(
        out.covariance(399).into_owned(),
        steady.posterior_covariance,
        max_relative = 1e-10,
        epsilon = 1e-12
    );
}

/// The smoother's variance never exceeds the filter's (it conditions on more data), and at the
/// last row smoother and filter coincide exactly.
#[test]
fn smoother_variance_is_below_filter_variance_and_equal_at_last_row() {
    let system = common::three_state();
    let seq = one_sequence(&system, 300, 4, 0.2);
    let f = filter(&system, &seq).unwrap();
    let s = smooth(&system, &f).unwrap();
    for k in 0..seq.len() {
        // P_filter − P_smooth is positive semi-definite, not just its diagonal.
        let gap = (f.covariance(k) - s.covariance(k)).symmetric_eigenvalues();
        assert!(
            gap.min() >= -1e-12,
            "row {k}: P_f − P_s has eigenvalue {}",
            gap.min()
        );
    }
    let last = seq.len() - 1;
    assert_eq!(s.means.column(last), f.means.column(last));
    assert_eq!(s.covariance(last), f.covariance(last));
}

/// On long simulated data the normalised innovations squared `eᵀ S⁻¹ e` are χ²(p): their mean
/// lies within the two-sided 99% bound `p ± 2.576 √(2p / T)`.
#[test]
fn normalised_innovations_average_to_output_dimension() {
    let system = common::three_state();
    let seq = one_sequence(&system, 20_000, 5, 0.0);
    let out = filter(&system, &seq).unwrap();
    let p = system.n_outputs() as f64;
    let t = seq.len() as f64;
    let mean = out.nis.iter().sum::<f64>() / t;
    let bound = 2.576 * (2.0 * p / t).sqrt();
    assert!(
        (mean - p).abs() <= bound,
        "mean NIS {mean}, expected {p} ± {bound}"
    );
}

/// A row whose measurements are all missing is a pure prediction: posterior = prior, no
/// innovation, no log-likelihood term; the next prior is `A x̂ + B u`, `A P Aᵀ + Q`.
#[test]
fn fully_missing_row_is_pure_prediction() {
    let system = common::three_state();
    let mut seq = one_sequence(&system, 30, 6, 0.0);
    let full = filter(&system, &seq).unwrap();
    seq.measurements.column_mut(10).fill(f64::NAN);
    let out = filter(&system, &seq).unwrap();
    assert_eq!(out.means.column(10), out.predicted_means.column(10));
    assert_eq!(out.covariance(10), out.predicted_covariance(10));
    assert_eq!(out.observed[10], 0);
    assert!(out.innovations.column(10).iter().all(|v| v.is_nan()));
    let b = system.b().unwrap();
    let expected = system.a() * out.means.column(10) + b * seq.inputs.column(11);
    assert_relative_eq!(
        out.predicted_means.column(11).into_owned(),
        expected,
        epsilon = 1e-14
    );
    let expected_cov = system.a() * out.covariance(10) * system.a().transpose() + system.q();
    assert_relative_eq!(
        out.predicted_covariance(11).into_owned(),
        expected_cov,
        epsilon = 1e-14
    );
    assert_eq!(out.means.columns(0, 10), full.means.columns(0, 10));
}

/// A row with some components missing gives exactly the update of a filter whose `H` and `R`
/// are reduced to the present components: checked by running, for that row, a one-output
/// system built from the reduced `H`, `R` and the same prior.
#[test]
fn partially_missing_row_equals_reduced_system_update() {
    let system = common::three_state();
    let mut seq = one_sequence(&system, 20, 7, 0.0);
    seq.measurements[(1, 8)] = f64::NAN;
    let out = filter(&system, &seq).unwrap();
    // Reduced system: keep output 0 only; the prior at row 8 is the full filter's prior there.
    let reduced = LinearSystem::new(
        system.a().clone(),
        None,
        system.h().rows(0, 1).into_owned(),
        system.q().clone(),
        system.r().view((0, 0), (1, 1)).into_owned(),
    )
    .unwrap()
    .with_prior(
        out.predicted_means.column(8).into_owned(),
        out.predicted_covariance(8).into_owned(),
    )
    .unwrap();
    let one_row = Sequence {
        id: 0,
        t: vec![0.0],
        inputs: DMatrix::zeros(0, 1),
        measurements: seq.measurements.view((0, 8), (1, 1)).into_owned(),
        states: None,
    };
    let r = filter(&reduced, &one_row).unwrap();
    assert_relative_eq!(
        out.means.column(8).into_owned(),
        r.means.column(0).into_owned(),
        epsilon = 1e-14
    );
    assert_relative_eq!(
        out.covariance(8).into_owned(),
        r.covariance(0).into_owned(),
        epsilon = 1e-14
    );
    assert_eq!(out.observed[8], 1);
    assert!(out.innovations[(1, 8)].is_nan());
}

/// The log-likelihood equals the exact Gaussian log-density of the stacked measurements,
/// computed without any recursion: `z = [z_1..z_T] ~ N(μ, Σ)` with `μ_k = H E[x_k]`,
/// `Σ_{jk} = H Cov(x_j, x_k) Hᵀ + δ_{jk} R`, `Cov(x_j, x_k) = A^{k−j} Cov(x_j)` for `j ≤ k`.
/// Missing components are dropped from `z`, `μ` and `Σ`.
#[test]
fn log_likelihood_equals_joint_gaussian_density() {
    let system = common::three_state();
    let seq = one_sequence(&system, 12, 8, 0.25);
    let out = filter(&system, &seq).unwrap();
    let (p, t) = (system.n_outputs(), seq.len());
    let a = system.a();
    let b = system.b().unwrap();
    // State means and covariances of the prior process.
    let mut mean = vec![system.x0().clone()];
    let mut cov = vec![system.p0().clone()];
    for k in 1..t {
        mean.push(a * &mean[k - 1] + b * seq.inputs.column(k));
        cov.push(a * &cov[k - 1] * a.transpose() + system.q());
    }
    let present: Vec<(usize, usize)> = (0..t)
        .flat_map(|k| (0..p).map(move |i| (k, i)))
        .filter(|&(k, i)| !seq.measurements[(i, k)].is_nan())
        .collect();
    let d = present.len();
    let mut mu = DVector::zeros(d);
    let mut z = DVector::zeros(d);
    let mut sigma = DMatrix::zeros(d, d);
    let state_cov = |j: usize, k: usize| -> DMatrix<f64> {
        // Cov(x_j, x_k) for j ≤ k is Cov(x_j) (A^{k−j})ᵀ.
        let (lo, hi) = if j <= k { (j, k) } else { (k, j) };
        let mut c = cov[lo].clone();
        for _ in lo..hi {
            c = &c * a.transpose();
        }
        if j <= k { c } else { c.transpose() }
    };
    for (r, &(k, i)) in present.iter().enumerate() {
        mu[r] = (system.h().row(i) * &mean[k])[0];
        z[r] = seq.measurements[(i, k)];
        for (c, &(l, j)) in present.iter().enumerate() {
            let cxx = state_cov(k, l);
            sigma[(r, c)] = (system.h().row(i) * cxx * system.h().row(j).transpose())[0]
                + if k == l { system.r()[(i, j)] } else { 0.0 };
        }
    }
    let chol = sigma.clone().cholesky().unwrap();
    let e = &z - &mu;
    let quad = e.dot(&chol.solve(&e));
    let log_det = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let expected = -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det + quad);
    assert_relative_eq!(out.log_likelihood, expected, max_relative = 1e-10);
}
