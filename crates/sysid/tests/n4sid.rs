//! N4SID on simulated data: exact recovery without noise, consistency with noise.

mod common;

use common::{data, eig, random_system, three_state};
use dynrec_sysid::{N4sidConfig, markov_parameters, matched_eigen_error, n4sid};

/// Noise-free data (Q = 0, R = 1e-30 I) from a random minimal system with n = 3, m = 2, p = 2:
/// the singular values of O_i have a gap after the third (the gap search picks n = 3), eig(A)
/// is recovered to 1e-8 and the Markov parameters H A^j B (j < 10), which do not depend on the
/// state basis, to 1e-8 relative to their largest entry.
#[test]
fn noise_free_recovers_eigenvalues_and_markov_parameters() {
    let truth = random_system(3, 2, 2, 7, 0.0, 1e-30);
    let seqs = data(&truth, 4, 200, 11);
    let fit = n4sid(
        &seqs,
        &N4sidConfig {
            block_rows: 6,
            ..Default::default()
        },
    )
    .expect("identifies");
    let s = &fit.singular_values;
    println!("singular values {s:?}");
    assert_eq!(fit.order, 3);
    assert!(s[2] / s[3] > 1e6, "gap {}", s[2] / s[3]);
    let err = matched_eigen_error(&eig(truth.a()), &eig(fit.system.a()));
    println!("eigen error {err:e}");
    assert!(err <= 1e-8, "eigenvalue error {err}");
    let (mt, mf) = (
        markov_parameters(&truth, 10),
        markov_parameters(&fit.system, 10),
    );
    let scale = mt.iter().map(|m| m.amax()).fold(0.0, f64::max);
    let merr = mt
        .iter()
        .zip(&mf)
        .map(|(a, b)| (a - b).amax())
        .fold(0.0, f64::max)
        / scale;
    println!("markov error {merr:e}");
    assert!(merr <= 1e-8, "Markov parameter error {merr}");
}

/// Noisy data, 32 sequences × 300 rows of the three-state system (Q = 1e-3 I, R = 1e-2): the
/// gap picks n = 3 and the eigenvalue error after optimal matching is at most 5e-3.
#[test]
fn noisy_multi_sequence_eigenvalues_within_5e_3() {
    let truth = three_state();
    let seqs = data(&truth, 32, 300, 3);
    let fit = n4sid(&seqs, &N4sidConfig::default()).expect("identifies");
    println!("singular values {:?}", fit.singular_values);
    assert_eq!(fit.order, 3);
    let err = matched_eigen_error(&eig(truth.a()), &eig(fit.system.a()));
    println!("eigen error {err:e}; windows {}", fit.windows);
    assert!(err <= 5e-3, "eigenvalue error {err}");
}

/// Windows are counted per sequence (T − 2i each, never spanning two sequences), and a
/// missing measurement removes exactly the 2i windows that contain its row.
#[test]
fn windows_per_sequence_and_missing_rows_skipped() {
    let truth = three_state();
    let mut seqs = data(&truth, 3, 100, 5);
    let config = N4sidConfig::default();
    let full = n4sid(&seqs, &config).expect("identifies");
    assert_eq!(full.windows, 3 * (100 - 20));
    seqs[1].measurements[(0, 50)] = f64::NAN;
    let gappy = n4sid(&seqs, &config).expect("identifies");
    assert_eq!(gappy.windows, 3 * (100 - 20) - 20);
}

/// The reported gain K approaches the true steady-state predictor gain as the number of block
/// rows grows (the states of finite-i N4SID are non-steady Kalman estimates, so the residual
/// covariances are biased for small i): on the noisy 32 × 300 data the basis-free H K error
/// shrinks from i = 5 to 10 to 20 and is within 10 % at i = 20.
#[test]
fn kalman_gain_approaches_riccati_predictor() {
    let truth = three_state();
    let seqs = data(&truth, 32, 300, 3);
    let steady = truth.steady_state().expect("steady state");
    let hk_true = truth.h() * &steady.predictor_gain;
    let errors: Vec<f64> = [5, 10, 20]
        .iter()
        .map(|&block_rows| {
            let fit = n4sid(
                &seqs,
                &N4sidConfig {
                    block_rows,
                    ..Default::default()
                },
            )
            .expect("identifies");
            let closed_fit = fit.system.a() - &fit.kalman_gain * fit.system.h();
            let closed_err = matched_eigen_error(&eig(&steady.closed_loop), &eig(&closed_fit));
            let hk_err = (&hk_true - fit.system.h() * &fit.kalman_gain).amax() / hk_true.amax();
            println!(
                "i = {block_rows}: H K relative error {hk_err:e}, eig(A − K H) error {closed_err:e}"
            );
            hk_err
        })
        .collect();
    assert!(errors[0] > errors[1] && errors[1] > errors[2], "{errors:?}");
    assert!(errors[2] <= 0.1, "{errors:?}");
}

/// Stacking Hankel columns per sequence is not the same as concatenating the sequences: the
/// joins put windows across independent initial states into the Hankel matrices, and on the
/// 32 × 300 data concatenation gives a larger eigenvalue error than stacking.
#[test]
fn stacking_beats_concatenation() {
    let truth = three_state();
    let seqs = data(&truth, 32, 300, 3);
    let mut joined = seqs[0].clone();
    let total: usize = seqs.iter().map(|s| s.len()).sum();
    joined.inputs = nalgebra::DMatrix::from_fn(1, total, |_, k| seqs[k / 300].inputs[(0, k % 300)]);
    joined.measurements =
        nalgebra::DMatrix::from_fn(1, total, |_, k| seqs[k / 300].measurements[(0, k % 300)]);
    joined.t = (0..total).map(|k| k as f64).collect();
    joined.states = None;
    let config = N4sidConfig {
        order: Some(3),
        ..Default::default()
    };
    let stacked = n4sid(&seqs, &config).expect("identifies");
    let concatenated = n4sid(std::slice::from_ref(&joined), &config).expect("identifies");
    let e_stacked = matched_eigen_error(&eig(truth.a()), &eig(stacked.system.a()));
    let e_joined = matched_eigen_error(&eig(truth.a()), &eig(concatenated.system.a()));
    println!("stacked {e_stacked:e}, concatenated {e_joined:e}");
    assert!(e_joined > e_stacked, "{e_joined} ≤ {e_stacked}");
}
