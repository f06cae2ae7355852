//! The classical baselines' handling of offsets.

#![allow(clippy::unwrap_used)]

use dynrec_pipeline::BaselineSpec;
use dynrec_pipeline::baselines::fit_baselines;
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
        let fitted = fit_baselines(spec, train, held_out, Some(2))
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
