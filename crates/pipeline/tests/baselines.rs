//! The classical baselines: their handling of offsets and the model orders they are fitted at.

#![allow(clippy::unwrap_used)]

use dynrec_pipeline::BaselineSpec;
use dynrec_pipeline::baselines::{BaselineOrder, fit_baselines};
use dynrec_sysid::EmConfig;
use dynrec_truth::{Dataset, LinearSystem, SimulationConfig, simulate};
use nalgebra::DMatrix;

fn rotation() -> LinearSystem {
    let (c, s) = (0.95 * 0.3_f64.cos(), 0.95 * 0.3_f64.sin());
    LinearSystem::new(
        DMatrix::from_row_slice(2, 2, &[c, -s, s, c]),
        Some(DMatrix::from_row_slice(2, 1, &[1.0, 0.5])),
        DMatrix::from_row_slice(1, 2, &[1.0, 0.0]),
        DMatrix::identity(2, 2) * 1e-4,
        DMatrix::identity(1, 1) * 1e-2,
    )
    .unwrap()
}

/// `data` with `offset` added to every measurement.
fn shifted(data: &Dataset, offset: f64) -> Dataset {
    let mut out = data.clone();
    for s in &mut out.sequences {
        s.measurements.add_scalar_mut(offset);
    }
    out
}

/// With the means removed, a constant offset on the measurements changes neither the baselines'
/// eigenvalue errors nor their held-out MSEs (to rounding); without, N4SID (which has no offset
/// term) is off by two orders of magnitude more on the same data (0.23 against 1.4e-4 here).
#[test]
fn removing_means_makes_the_baselines_blind_to_an_offset() {
    let system = rotation();
    let config = |seed| SimulationConfig {
        sequences: 16,
        steps: 200,
        seed,
        ..SimulationConfig::default()
    };
    let (train, held_out) = (
        simulate(&system, &config(1)).unwrap(),
        simulate(&system, &config(2)).unwrap(),
    );
    let spec = BaselineSpec {
        em: EmConfig {
            max_iterations: 20,
            ..EmConfig::default()
        },
        ..BaselineSpec::default()
    };
    let errors = |spec: &BaselineSpec, train: &Dataset, held_out: &Dataset| {
        let fitted = fit_baselines(spec, train, held_out, BaselineOrder::True(2))
            .unwrap()
            .fitted;
        assert_eq!(fitted.len(), 2);
        fitted
            .iter()
            .map(|(o, estimate)| {
                let eig = dynrec_analysis::eigenvalues(estimate.a()).unwrap();
                let truth = dynrec_analysis::eigenvalues(system.a()).unwrap();
                (
                    dynrec_analysis::match_eigenvalues(&truth, &eig).max_distance,
                    o.heldout_mse_one_step,
                )
            })
            .collect::<Vec<_>>()
    };
    let plain = errors(&spec, &train, &held_out);
    let offset = errors(&spec, &shifted(&train, 5.0), &shifted(&held_out, 5.0));
    for ((e0, m0), (e1, m1)) in plain.iter().zip(&offset) {
        assert!((e0 - e1).abs() < 1e-8, "eigen error {e0} vs {e1}");
        assert!((m0 / m1 - 1.0).abs() < 1e-8, "MSE {m0} vs {m1}");
    }
    let raw = BaselineSpec {
        remove_means: false,
        ..spec.clone()
    };
    let without = errors(&raw, &shifted(&train, 5.0), &shifted(&held_out, 5.0));
    assert!(
        without[0].0 > 100.0 * plain[0].0,
        "N4SID without mean removal {} vs with {}",
        without[0].0,
        plain[0].0
    );
}

/// With an order asked for (the network's hidden size, no known truth), the baselines named
/// `n4sid` and `em` are at that order; when N4SID's singular-value gap points at another order,
/// `n4sid_gap` and `em_gap` are fitted at the gap's order too, and the notes say both. Here a
/// damped rotation plus a fast, barely measured real mode: the gap sees 2 states, 3 are asked.
#[test]
fn baselines_follow_the_order_asked_for_and_the_gap() {
    let (c, s) = (0.95 * 0.3_f64.cos(), 0.95 * 0.3_f64.sin());
    let system = LinearSystem::new(
        DMatrix::from_row_slice(3, 3, &[c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 0.2]),
        Some(DMatrix::from_row_slice(3, 1, &[1.0, 0.5, 1.0])),
        DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 0.01]),
        DMatrix::identity(3, 3) * 1e-4,
        DMatrix::identity(1, 1) * 1e-2,
    )
    .unwrap();
    let data = |seed| {
        simulate(
            &system,
            &SimulationConfig {
                sequences: 8,
                steps: 200,
                seed,
                ..SimulationConfig::default()
            },
        )
        .unwrap()
    };
    let (train, held_out) = (data(1), data(2));
    let spec = BaselineSpec {
        em: EmConfig {
            max_iterations: 5,
            ..EmConfig::default()
        },
        ..BaselineSpec::default()
    };
    let fitted = fit_baselines(&spec, &train, &held_out, BaselineOrder::Asked(3)).unwrap();
    let orders: Vec<(&str, usize)> = fitted
        .fitted
        .iter()
        .map(|(o, sys)| {
            assert_eq!(o.order, sys.n_states());
            (o.name.as_str(), o.order)
        })
        .collect();
    assert_eq!(
        orders,
        [("n4sid", 3), ("em", 3), ("n4sid_gap", 2), ("em_gap", 2)]
    );
    assert_eq!(fitted.singular_values.as_ref().map(|s| s.1), Some(3));
    let notes = fitted.notes.join(" ");
    assert!(notes.contains("the order asked for"), "{notes}");
    assert!(
        notes.contains("order 2, largest singular-value gap"),
        "{notes}"
    );

    // Asked for the gap's own order: one set only.
    let same = fit_baselines(&spec, &train, &held_out, BaselineOrder::Asked(2)).unwrap();
    let names: Vec<&str> = same.fitted.iter().map(|(o, _)| o.name.as_str()).collect();
    assert_eq!(names, ["n4sid", "em"]);
}

/// The fixed-gain steady-state predictor is the Kalman filter when the filter's prior covariance
/// is the stationary one: with `x0 = (0.3, −0.2)` and `P0` the stationary predicted covariance
/// (so `P_k = P` and the gain is the steady one at every step) and no missing data,
/// `steady_state_mse` equals the MSE of the filter's one-step predictions to rounding; with a
/// wider prior the filter (whose gain starts larger) predicts the first rows better, and with
/// gaps the filter's gain grows through them while the fixed-gain recursion keeps `K`, so the
/// two differ.
#[test]
fn the_steady_state_predictor_is_the_kalman_filter_from_the_stationary_prior() {
    use dynrec_pipeline::baselines::steady_state_mse;
    use dynrec_pipeline::references::{kalman_predictions, pooled_mse};
    let system = rotation();
    let stationary = system.steady_state().unwrap().prior_covariance;
    let started = system
        .clone()
        .with_prior(nalgebra::DVector::from_vec(vec![0.3, -0.2]), stationary)
        .unwrap();
    let config = |seed, missing| SimulationConfig {
        sequences: 4,
        steps: 150,
        seed,
        missing_fraction: missing,
        ..SimulationConfig::default()
    };
    let spec = BaselineSpec {
        remove_means: false,
        ..BaselineSpec::default()
    };
    let kalman = |system: &LinearSystem, data: &Dataset| {
        pooled_mse(
            data.sequences
                .iter()
                .map(|s| (&s.measurements, kalman_predictions(system, s).unwrap())),
        )
    };
    let data = simulate(&started, &config(3, 0.0)).unwrap();
    let fixed = steady_state_mse(&spec, &data, &data, &started).unwrap();
    let filter = kalman(&started, &data);
    assert!(
        (fixed - filter).abs() <= 1e-12 * filter,
        "{fixed} vs {filter}"
    );

    let wide = system
        .clone()
        .with_prior(nalgebra::DVector::zeros(2), DMatrix::identity(2, 2) * 4.0)
        .unwrap();
    let data = simulate(&wide, &config(4, 0.0)).unwrap();
    assert!(kalman(&wide, &data) < steady_state_mse(&spec, &data, &data, &wide).unwrap());
    let gappy = simulate(&started, &config(5, 0.3)).unwrap();
    let (fixed, filter) = (
        steady_state_mse(&spec, &gappy, &gappy, &started).unwrap(),
        kalman(&started, &gappy),
    );
    assert!(
        (fixed - filter).abs() > 1e-9 * filter,
        "{fixed} vs {filter}"
    );
}
