//! Properties of the simulator.

mod common;

use approx::assert_relative_eq;
use dynrec_truth::{InputSignal, LinearSystem, SimulationConfig, TruthError, simulate};
use nalgebra::{DMatrix, dmatrix};

/// The same system and config give bit-identical data; another seed gives other data.
#[test]
fn simulation_is_reproducible_from_its_seed() {
    let system = common::three_state();
    let config = SimulationConfig {
        sequences: 3,
        steps: 50,
        ..SimulationConfig::default()
    };
    let a = simulate(&system, &config).unwrap();
    let b = simulate(&system, &config).unwrap();
    assert_eq!(a, b);
    let c = simulate(&system, &SimulationConfig { seed: 1, ..config }).unwrap();
    assert_ne!(a.sequences[0].measurements, c.sequences[0].measurements);
}

/// Without noise the states follow `x_k = A x_{k-1} + B u_k` exactly from `x_1 = x0`, the
/// first row's input unused, and `z_k = H x_k`.
#[test]
fn noise_free_simulation_follows_the_index_convention() {
    let tiny = DMatrix::identity(2, 2) * 0.0;
    let system = LinearSystem::new(
        dmatrix![0.9, -0.2; 0.2, 0.9],
        Some(dmatrix![1.0; 0.5]),
        dmatrix![1.0, 0.0],
        tiny.clone(),
        dmatrix![1e-200],
    )
    .unwrap()
    .with_prior(nalgebra::dvector![1.0, -1.0], tiny)
    .unwrap();
    let config = SimulationConfig {
        steps: 20,
        ..SimulationConfig::default()
    };
    let seq = simulate(&system, &config).unwrap().sequences.remove(0);
    let x = seq.states.as_ref().unwrap();
    assert_eq!(x.column(0), nalgebra::dvector![1.0, -1.0]);
    for k in 1..seq.len() {
        let expected = system.a() * x.column(k - 1) + system.b().unwrap() * seq.inputs.column(k);
        assert_relative_eq!(x.column(k).into_owned(), expected, epsilon = 1e-14);
        assert_relative_eq!(seq.measurements[(0, k)], x[(0, k)], epsilon = 1e-90);
    }
}

/// Long stationary simulation: the sample covariance of the states (zero input, started from
/// the stationary distribution) matches the Lyapunov solution `Σ = A Σ Aᵀ + Q` within sampling
/// error (relative Frobenius error ≤ 10% for ~2·10⁴ weakly correlated samples).
#[test]
fn state_covariance_matches_stationary_covariance() {
    let base = common::three_state();
    let sigma = base.stationary_covariance().unwrap();
    let system = LinearSystem::new(
        base.a().clone(),
        None,
        base.h().clone(),
        base.q().clone(),
        base.r().clone(),
    )
    .unwrap()
    .with_prior(nalgebra::DVector::zeros(3), sigma.clone())
    .unwrap();
    let config = SimulationConfig {
        sequences: 20,
        steps: 1000,
        seed: 9,
        ..Default::default()
    };
    let data = simulate(&system, &config).unwrap();
    let mut sample = DMatrix::zeros(3, 3);
    let mut count = 0.0;
    for seq in &data.sequences {
        let x = seq.states.as_ref().unwrap();
        for k in 0..seq.len() {
            sample += x.column(k) * x.column(k).transpose();
            count += 1.0;
        }
    }
    sample /= count;
    let error = (&sample - &sigma).norm() / sigma.norm();
    assert!(error < 0.1, "relative error {error}");
}

/// Input signals have their defining properties: PRBS takes only ±amplitude and holds each level
/// for `hold` steps; white noise has the requested standard deviation; zero is zero.
#[test]
fn input_signals_have_their_defining_properties() {
    let system = common::rotation();
    let run = |input| {
        let config = SimulationConfig {
            steps: 4000,
            input,
            ..SimulationConfig::default()
        };
        simulate(&system, &config)
            .unwrap()
            .sequences
            .remove(0)
            .inputs
    };
    let prbs = run(InputSignal::Prbs {
        amplitude: 2.0,
        hold: 4,
    });
    assert!(prbs.iter().all(|&v| v == 2.0 || v == -2.0));
    for k in 0..prbs.ncols() {
        if k % 4 != 0 {
            assert_eq!(prbs[(0, k)], prbs[(0, k - 1)]);
        }
    }
    let white = run(InputSignal::White { std: 3.0 });
    let std = (white.iter().map(|v| v * v).sum::<f64>() / white.len() as f64).sqrt();
    assert!(
        (std - 3.0).abs() < 3.0 * 4.0 / (2.0 * 4000f64).sqrt(),
        "std {std}"
    );
    assert!(run(InputSignal::Zero).iter().all(|&v| v == 0.0));
    let sines = run(InputSignal::Sines {
        amplitude: 1.0,
        periods: vec![40.0],
    });
    // A single sinusoid of period 40 repeats every 40 steps.
    assert_relative_eq!(sines[(0, 7)], sines[(0, 47)], epsilon = 1e-12);
}

/// Invalid simulation parameters are errors naming the parameter.
#[test]
fn bad_parameters_are_rejected() {
    let system = common::rotation();
    let bad = [
        SimulationConfig {
            steps: 0,
            ..Default::default()
        },
        SimulationConfig {
            missing_fraction: 1.5,
            ..Default::default()
        },
        SimulationConfig {
            input: InputSignal::Prbs {
                amplitude: 1.0,
                hold: 0,
            },
            ..Default::default()
        },
        SimulationConfig {
            input: InputSignal::White { std: -1.0 },
            ..Default::default()
        },
    ];
    for config in bad {
        assert!(matches!(
            simulate(&system, &config),
            Err(TruthError::Parameter { .. })
        ));
    }
}
