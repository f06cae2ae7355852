//! Predictor mode on the reference system (with substantial process noise): the linear
//! RNN fed `[u_k; z_{k-1}]` becomes the steady-state Kalman predictor, `U ≈ T (A − K H) T⁻¹`,
//! and its one-step error reaches the Kalman floor `H P Hᵀ + R`.

mod common;

use std::sync::OnceLock;

use dynrec_model::{Compute, Fit, Mode, NetworkConfig, Silent, TrainingConfig, train};
use dynrec_truth::SteadyState;
use nalgebra::DVector;

use common::{damped_rotation, eigen_error, simulated};

const Q: f64 = 1e-2;
const R: f64 = 1e-2;

struct Outcome {
    fit: Fit,
    steady: SteadyState,
    a: nalgebra::DMatrix<f64>,
}

fn fit() -> &'static Outcome {
    static FIT: OnceLock<Outcome> = OnceLock::new();
    FIT.get_or_init(|| {
        // Start every sequence from the stationary prior, so that the time-invariant Kalman
        // predictor is optimal from the first row on and its error is S at every step.
        let steady = damped_rotation(Q, R, 1.0).steady_state().expect("DARE");
        let system = damped_rotation(Q, R, 1.0)
            .with_prior(DVector::zeros(2), steady.prior_covariance.clone())
            .expect("prior");
        let data = simulated(&system, 64, 200, 2);
        let network = NetworkConfig {
            mode: Mode::Predictor,
            d_hidden: 2,
            ..Default::default()
        };
        let config = TrainingConfig {
            restarts: 2,
            ..TrainingConfig::default()
        };
        let device = Compute::default().device().expect("default device");
        let fit = train(&data, &network, &config, &device, &mut Silent).expect("training");
        let w = fit.weights();
        let recovered = &w.u + w.w_measurements().expect("predictor") * &w.v;
        eprintln!(
            "predictor: eig(U) vs eig(A−KH) {:.2e}, eig(U + W_z V) vs eig(A) {:.2e}, \
             train loss {:.5e}, floor S {:.5e}, {:.2} s; {:?}",
            eigen_error(&w.u, &steady.closed_loop),
            eigen_error(&recovered, system.a()),
            fit.report.train_loss,
            steady.innovation_covariance[(0, 0)],
            fit.report.seconds,
            fit.report.restarts,
        );
        Outcome {
            fit,
            steady,
            a: system.a().clone(),
        }
    })
}

/// Claim 2 of docs/design.md: the recurrent matrix of a predictor-mode RNN has the eigenvalues of
/// the Kalman predictor's closed loop `A − K H` (K from the DARE), to 2e-2.
#[test]
fn eigenvalues_of_u_match_closed_loop() {
    let Outcome { fit, steady, .. } = fit();
    let error = eigen_error(&fit.weights().u, &steady.closed_loop);
    assert!(error < 2e-2, "eig(U) vs eig(A − KH): {error:e}");
}

/// `A` is recovered as `U + W_z V` (since `U = A − K H`, `W_z = K`, `V = H` up to a similarity):
/// its eigenvalues match those of the true `A` to 2e-2.
#[test]
fn a_is_recovered_from_u_plus_wz_v() {
    let Outcome { fit, a, .. } = fit();
    let w = fit.weights();
    let recovered = &w.u + w.w_measurements().expect("predictor weights") * &w.v;
    let error = eigen_error(&recovered, a);
    assert!(error < 2e-2, "eig(U + W_z V) vs eig(A): {error:e}");
}

/// The one-step prediction error reaches the Bayes-optimal floor, the innovation variance
/// `S = H P Hᵀ + R` of the steady-state Kalman predictor: the training loss is within 5% of it.
#[test]
fn training_loss_reaches_kalman_floor() {
    let Outcome { fit, steady, .. } = fit();
    let floor = steady.innovation_covariance[(0, 0)];
    let ratio = fit.report.train_loss / floor;
    assert!((ratio - 1.0).abs() < 0.05, "loss / floor = {ratio}");
}
