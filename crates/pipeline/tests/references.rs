//! The floors a network is compared with, for a nonlinear system.

#![allow(clippy::unwrap_used)]

use dynrec_pipeline::references::{kalman_predictions, output_error_predictions};
use dynrec_truth::spec::{Covariance, PendulumSpec};
use dynrec_truth::{InputSignal, NamedSystem, SimulationConfig, simulate};

fn pendulum(noise: f64) -> Box<dyn dynrec_truth::Dynamics> {
    NamedSystem::Pendulum(PendulumSpec {
        gravity: 9.81,
        length: 1.0,
        mass: 1.0,
        damping: 0.5,
        dt: 0.05,
        substeps: 1,
        h: None,
        q: Covariance::Scalar(noise),
        r: Covariance::Scalar(noise),
        x0: Some(vec![0.5, 0.0]),
        p0: Some(vec![vec![noise, 0.0], vec![0.0, noise]]),
    })
    .build()
    .unwrap()
}

/// With (almost) no noise, the simulated measurements are the noise-free output-error
/// prediction `x̂_1 = x0`, `x̂_k = f(x̂_{k-1}, u_k)`, `ŷ_k = h(x̂_k)`: the same index convention,
/// row for row, at a swing (0.5 rad and a white torque) where the pendulum is nonlinear.
#[test]
fn output_error_prediction_is_the_noise_free_simulation() {
    let system = pendulum(1e-24);
    let config = SimulationConfig {
        sequences: 3,
        steps: 150,
        input: InputSignal::White { std: 2.0 },
        ..SimulationConfig::default()
    };
    let data = simulate(system.as_ref(), &config).unwrap();
    for seq in &data.sequences {
        let predicted = output_error_predictions(system.as_ref(), seq);
        let worst = (&predicted - &seq.measurements).amax();
        assert!(worst < 1e-9, "sequence {}: {worst}", seq.id);
    }
}

/// The extended Kalman filter's one-step prediction beats the noise-free output-error
/// prediction on noisy data (it also uses the measurements), and both beat predicting zero.
#[test]
fn kalman_one_step_beats_output_error_on_noisy_data() {
    let system = pendulum(1e-4);
    let config = SimulationConfig {
        sequences: 4,
        steps: 200,
        input: InputSignal::White { std: 2.0 },
        ..SimulationConfig::default()
    };
    let data = simulate(system.as_ref(), &config).unwrap();
    let (mut kf, mut oe, mut zero) = (0.0, 0.0, 0.0);
    for seq in &data.sequences {
        let z = &seq.measurements;
        kf += (kalman_predictions(system.as_ref(), seq).unwrap() - z).norm_squared();
        oe += (output_error_predictions(system.as_ref(), seq) - z).norm_squared();
        zero += z.norm_squared();
    }
    assert!(kf < oe, "EKF {kf} vs output error {oe}");
    assert!(oe < zero, "output error {oe} vs zero {zero}");
}

/// For a linear system with inputs and `x0 = 0`, the output-error prediction equals the output of
/// the true system written as a linear simulation-mode network (`U = A`, `W = B`, `V = H`), run
/// by the model crate's independent `f64` reference implementation.
#[test]
fn output_error_prediction_is_the_true_system_as_a_network() {
    use dynrec_model::{Activation, Mode, RnnWeights};
    use nalgebra::{DMatrix, DVector};
    let a = DMatrix::from_row_slice(2, 2, &[0.9, -0.2, 0.2, 0.9]);
    let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.5]);
    let h = DMatrix::from_row_slice(1, 2, &[1.0, 0.3]);
    let system = dynrec_truth::LinearSystem::new(
        a.clone(),
        Some(b.clone()),
        h.clone(),
        DMatrix::identity(2, 2) * 1e-2,
        DMatrix::identity(1, 1) * 1e-2,
    )
    .unwrap();
    let network = RnnWeights {
        u: a,
        w: b,
        v: h,
        b: DVector::zeros(2),
        c: DVector::zeros(1),
        activation: Activation::Linear,
        mode: Mode::Simulation,
        bias: true,
    };
    let data = simulate(
        &system,
        &SimulationConfig {
            sequences: 2,
            steps: 100,
            ..SimulationConfig::default()
        },
    )
    .unwrap();
    for seq in &data.sequences {
        let run = network.run(&seq.inputs, &seq.measurements).unwrap();
        let worst = (output_error_predictions(&system, seq) - run.outputs).amax();
        assert!(worst < 1e-12, "sequence {}: {worst}", seq.id);
    }
}
