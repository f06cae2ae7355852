//! Mode ranking by contribution to the output.

use approx::assert_relative_eq;
use dynrec_analysis::modes::rank_modes;
use dynrec_analysis::similarity::StateSpace;
use dynrec_analysis::{Activation, AnalysisConfig, Mode, RnnWeights, TrueSystem, analyse};
use nalgebra::{DMatrix, DVector};

/// `T = [[1, 0.4], [−0.3, 1]]`, to hide the modal structure behind a change of basis.
fn basis() -> DMatrix<f64> {
    DMatrix::from_row_slice(2, 2, &[1.0, 0.4, -0.3, 1.0])
}

/// A mode with zero residue never reaches the output and is ranked negligible.
///
/// `A = diag(0.9, 0.5)`: with `B = [1, 0]ᵀ` the 0.5 mode is uncontrollable (`l₂ B = 0`), with
/// `H = [1, 0]` it is unobservable (`H r₂ = 0`). Either way its residue is 0 (up to rounding)
/// while the 0.9 mode has residue `‖H r₁ l₁ B‖ = 1` and gain `1 / (1 − 0.9) = 10`; the 0.9 mode
/// alone carries the energy. The same holds after a change of basis.
#[test]
fn zero_residue_mode_is_negligible() {
    let a = DMatrix::from_row_slice(2, 2, &[0.9, 0.0, 0.0, 0.5]);
    let cases = [
        ("uncontrollable", [1.0, 0.0], [1.0, 1.0]),
        ("unobservable", [1.0, 1.0], [1.0, 0.0]),
    ];
    for (what, b, h) in cases {
        let ss = StateSpace::new(
            a.clone(),
            DMatrix::from_row_slice(2, 1, &b),
            DMatrix::from_row_slice(1, 2, &h),
        )
        .expect("shapes");
        for system in [ss.clone(), ss.transformed(&basis()).expect("invertible")] {
            let ranking = rank_modes(&system, 0.99).expect("diagonalisable");
            let top = &ranking.modes[0];
            assert_relative_eq!(top.eigenvalue[0], 0.9, epsilon = 1e-14);
            assert_relative_eq!(top.residue, 1.0, epsilon = 1e-12);
            assert_relative_eq!(top.gain, 10.0, epsilon = 1e-10);
            assert!(top.dominant);
            let weak = &ranking.modes[1];
            assert_relative_eq!(weak.eigenvalue[0], 0.5, epsilon = 1e-14);
            assert!(weak.residue < 1e-15, "{what}: residue {}", weak.residue);
            assert!(
                weak.energy_share < 1e-30,
                "{what}: share {}",
                weak.energy_share
            );
            assert!(!weak.dominant, "{what}");
            assert_eq!(ranking.dominant_count(), 1);
        }
    }
}

/// Two modes with known residues: `A = diag(0.8, −0.5)`, `B = [1, 1]ᵀ`, `H = [1, 2]` give
/// residues 1 and 2; gains `1/(1 − 0.8) = 5` and `2/(1 − 0.5) = 4`; energies `1/(1 − 0.64) = 2.78` and
/// `4/(1 − 0.25) = 5.33`, so shares `0.3425` and `0.6575`, both needed for 99 %.
#[test]
fn residues_gains_and_energy_shares_by_hand() {
    let ss = StateSpace::new(
        DMatrix::from_row_slice(2, 2, &[0.8, 0.0, 0.0, -0.5]),
        DMatrix::from_row_slice(2, 1, &[1.0, 1.0]),
        DMatrix::from_row_slice(1, 2, &[1.0, 2.0]),
    )
    .expect("shapes");
    let ranking = rank_modes(&ss, 0.99).expect("diagonalisable");
    let slow = ranking
        .modes
        .iter()
        .find(|m| m.eigenvalue[0] > 0.0)
        .expect("0.8 mode");
    let fast = ranking
        .modes
        .iter()
        .find(|m| m.eigenvalue[0] < 0.0)
        .expect("−0.5 mode");
    assert_relative_eq!(slow.gain, 5.0, epsilon = 1e-12);
    assert_relative_eq!(fast.gain, 4.0, epsilon = 1e-12);
    let (e1, e2) = (1.0 / (1.0 - 0.64), 4.0 / (1.0 - 0.25));
    assert_relative_eq!(slow.energy_share, e1 / (e1 + e2), epsilon = 1e-12);
    assert_relative_eq!(fast.energy_share, e2 / (e1 + e2), epsilon = 1e-12);
    assert_eq!(ranking.dominant_count(), 2);
    assert_eq!(
        ranking.modes[0].eigenvalue[0], slow.eigenvalue[0],
        "ranked by gain"
    );
}

/// Over-parameterised network (hidden 3 for n = 2): the truth embedded in the first two units
/// and an extra unit with its own dynamics 0.3 that is fed but never read out. The extra
/// eigenvalue is reported unmatched, carries no output energy, and the verdict says so.
#[test]
fn spurious_extra_mode_is_flagged() {
    let a = DMatrix::from_row_slice(2, 2, &[0.9, -0.2, 0.2, 0.9]);
    let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.5]);
    let h = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
    let mut u = DMatrix::zeros(3, 3);
    u.view_mut((0, 0), (2, 2)).copy_from(&a);
    u[(2, 2)] = 0.3;
    let mut w = DMatrix::from_element(3, 1, 0.7);
    w.view_mut((0, 0), (2, 1)).copy_from(&b);
    let mut v = DMatrix::zeros(1, 3);
    v.view_mut((0, 0), (1, 2)).copy_from(&h);
    let weights = RnnWeights {
        u,
        w,
        v,
        b: DVector::zeros(3),
        c: DVector::zeros(1),
        activation: Activation::Linear,
        mode: Mode::Simulation,
    };
    let truth = TrueSystem::new(a, Some(b), h, None).expect("truth");
    let result =
        analyse(&weights, Some(&truth), None, &AnalysisConfig::default()).expect("analysis");
    let matching = result.rnn_matching.as_ref().expect("truth");
    assert_eq!(matching.unmatched_estimate.len(), 1);
    let extra = result.rnn[matching.unmatched_estimate[0]];
    assert_relative_eq!(extra.re, 0.3, epsilon = 1e-14);
    assert!(matching.max_distance < 1e-14);
    assert!(result.extra_mode_energy().expect("ranked") < 1e-30);
    assert!(
        result.verdict.contains("the extra mode carries"),
        "{}",
        result.verdict
    );
    assert!(result.similarity.is_none(), "orders differ");
    assert!(result.markov.expect("compared").relative_error < 1e-14);
}
