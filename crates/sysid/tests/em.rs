//! EM: monotone log-likelihood, and no worse than the true parameters at convergence.

mod common;

use common::{data, three_state};
use dynrec_sysid::{EmConfig, N4sidConfig, em, n4sid};
use dynrec_truth::{LinearSystem, Sequence, filter};

fn log_likelihood(system: &LinearSystem, seqs: &[Sequence]) -> f64 {
    seqs.iter()
        .map(|s| filter(system, s).expect("filters").log_likelihood)
        .sum()
}

/// Runs `iterations` EM steps (no early stop) from N4SID's estimate and checks that the
/// log-likelihood never decreases (allowing only rounding, 1e-12 relative).
fn monotone_em(seqs: &[Sequence], iterations: usize) -> dynrec_sysid::EmResult {
    let init = n4sid(seqs, &N4sidConfig::default())
        .expect("identifies")
        .system;
    let config = EmConfig {
        max_iterations: iterations,
        tolerance: 0.0,
        learn_prior: true,
    };
    let fit = em(seqs, &init, &config).expect("runs");
    let ll = &fit.log_likelihoods;
    assert_eq!(ll.len(), iterations + 1);
    println!("first {} last {}", ll[0], ll[iterations]);
    for w in ll.windows(2) {
        assert!(w[1] >= w[0] - 1e-12 * w[0].abs(), "{} then {}", w[0], w[1]);
    }
    fit
}

/// Runs EM from N4SID's estimate to the relative tolerance 1e-6 and checks that it converged
/// to a log-likelihood at least that of the true parameters (the maximum likelihood is
/// ≥ L(θ_true)), up to 1e-6 relative for stopping before the exact maximum.
fn converges_at_least_to_truth(truth: &LinearSystem, seqs: &[Sequence]) {
    let init = n4sid(seqs, &N4sidConfig::default())
        .expect("identifies")
        .system;
    let config = EmConfig {
        max_iterations: 2000,
        tolerance: 1e-6,
        learn_prior: true,
    };
    let fit = em(seqs, &init, &config).expect("runs");
    let l_true = log_likelihood(truth, seqs);
    let l_em = *fit.log_likelihoods.last().expect("non-empty");
    println!(
        "L(truth) {l_true}, L(n4sid) {}, L(em) {l_em} after {} iterations (converged {})",
        fit.log_likelihoods[0], fit.iterations, fit.converged
    );
    assert!(fit.converged);
    assert!(l_em >= l_true - 1e-6 * l_true.abs(), "{l_em} < {l_true}");
}

/// Every EM step is an exact maximiser of the expected complete-data log-likelihood, so the
/// sequence L_0, L_1, … never decreases (allowing only rounding, 1e-12 relative); the last
/// entry is the log-likelihood of the returned system.
#[test]
fn log_likelihood_never_decreases() {
    let truth = three_state();
    let seqs = data(&truth, 8, 200, 21);
    let fit = monotone_em(&seqs, 40);
    let ll = &fit.log_likelihoods;
    approx::assert_relative_eq!(
        log_likelihood(&fit.system, &seqs),
        ll[ll.len() - 1],
        max_relative = 1e-12
    );
}

/// On data from a known system, EM from the N4SID estimate converges to a log-likelihood at
/// least that of the true parameters.
#[test]
fn converged_log_likelihood_at_least_truth() {
    let truth = three_state();
    let seqs = data(&truth, 8, 200, 22);
    converges_at_least_to_truth(&truth, &seqs);
}

/// Rows with every measurement missing are pure predictions: EM stays monotone with them.
#[test]
fn fully_missing_rows_keep_log_likelihood_monotone() {
    let truth = three_state();
    let mut seqs = data(&truth, 4, 150, 23);
    for k in (10..150).step_by(13) {
        seqs[1].measurements[(0, k)] = f64::NAN;
    }
    monotone_em(&seqs, 15);
}

/// A two-output system whose measurement noises are correlated (so a missing component is
/// informative through the observed one), on data where, in every other sequence, about a
/// third of the rows miss one component and a few miss both (the complete sequences give
/// N4SID, which skips windows with a missing value, enough windows for its initial estimate).
fn partially_missing_data(seed: u64) -> (LinearSystem, Vec<Sequence>) {
    let base = common::random_system(3, 1, 2, 5, 1e-3, 1e-2);
    let r = nalgebra::DMatrix::from_row_slice(2, 2, &[1e-2, 6e-3, 6e-3, 2e-2]);
    let truth = LinearSystem::new(
        base.a().clone(),
        base.b().cloned(),
        base.h().clone(),
        base.q().clone(),
        r,
    )
    .expect("valid system");
    let mut seqs = data(&truth, 8, 200, seed);
    for seq in seqs.iter_mut().step_by(2) {
        for k in 0..seq.len() {
            if k % 5 == 1 {
                seq.measurements[(0, k)] = f64::NAN;
            }
            if k % 7 == 3 {
                seq.measurements[(1, k)] = f64::NAN;
            }
        }
    }
    (truth, seqs)
}

/// With some components of a row missing, the E-step fills them by their conditional moments
/// given the observed ones (Shumway & Stoffer 2000), which keeps each M-step an exact
/// maximiser: the log-likelihood (of the observed data only) never decreases.
#[test]
fn partially_missing_rows_keep_log_likelihood_monotone() {
    let (_, seqs) = partially_missing_data(24);
    let partial = seqs
        .iter()
        .flat_map(|s| s.measurements.column_iter())
        .filter(|z| z.iter().any(|v| v.is_nan()) && z.iter().any(|v| v.is_finite()))
        .count();
    assert!(partial > 200, "{partial} partially observed rows");
    let ll = monotone_em(&seqs, 40).log_likelihoods;
    assert!(ll[40] > ll[0]);
}

/// With partially missing rows, EM still converges to a log-likelihood at least that of the
/// true parameters, up to 1e-6 relative for stopping before the exact maximum.
#[test]
fn partially_missing_rows_converge_at_least_to_truth() {
    let (truth, seqs) = partially_missing_data(25);
    converges_at_least_to_truth(&truth, &seqs);
}

/// EM refines the N4SID estimate without leaving the truth: on the noisy 32 × 300 data (the
/// N4SID test's), 50 EM steps from N4SID keep the eigenvalue error within the 5e-3 that N4SID
/// meets.
#[test]
fn em_keeps_eigenvalues_within_5e_3() {
    let truth = three_state();
    let seqs = data(&truth, 32, 300, 3);
    let init = n4sid(&seqs, &N4sidConfig::default())
        .expect("identifies")
        .system;
    let fit = em(
        &seqs,
        &init,
        &EmConfig {
            max_iterations: 50,
            tolerance: 0.0,
            learn_prior: true,
        },
    )
    .expect("runs");
    let before = dynrec_sysid::matched_eigen_error(&common::eig(truth.a()), &common::eig(init.a()));
    let after =
        dynrec_sysid::matched_eigen_error(&common::eig(truth.a()), &common::eig(fit.system.a()));
    println!(
        "eigen error N4SID {before:e}, EM {after:e}; L {} → {} (truth {})",
        fit.log_likelihoods[0],
        fit.log_likelihoods[50],
        log_likelihood(&truth, &seqs)
    );
    assert!(after <= 5e-3, "{after}");
}
