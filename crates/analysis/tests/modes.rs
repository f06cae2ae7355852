//! Mode ranking by contribution to the output.

use approx::assert_relative_eq;
use dynrec_analysis::modes::{energy_share_of, rank_modes};
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
/// residues 1 and 2; gains `1/(1 − 0.8) = 5` and `2/(1 − 0.5) = 4`. The impulse response is
/// `g_k = 0.8^k + 2 (−0.5)^k`, with energy `Σ g_k² = 1/(1 − 0.64) + 4/(1 − 0.25) + 4/(1 + 0.4)`
/// (the last term is the cross term `2 · 1 · 2 / (1 − 0.8 · (−0.5))`). Each mode alone carries
/// `1/(1 − 0.64)` and `4/(1 − 0.25)` of it; both are needed for 99 %.
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
    let (e1, e2, cross) = (1.0 / (1.0 - 0.64), 4.0 / (1.0 - 0.25), 4.0 / 1.4);
    let total = e1 + e2 + cross;
    assert_relative_eq!(slow.energy_share, e1 / total, epsilon = 1e-12);
    assert_relative_eq!(fast.energy_share, e2 / total, epsilon = 1e-12);
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
        bias: true,
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

/// `Σ_k ‖H A^k B‖²_F`, summed until the terms vanish: the energy of the impulse response by brute
/// force, independent of any eigendecomposition.
fn impulse_energy(a: &DMatrix<f64>, b: &DMatrix<f64>, h: &DMatrix<f64>) -> f64 {
    let mut x = b.clone();
    let mut energy = 0.0;
    for _ in 0..2000 {
        energy += (h * &x).norm_squared();
        x = a * x;
    }
    energy
}

/// A block-diagonal system: a complex pair `0.5 e^{±0.05i}` seen through `H = [1, 0]` and fed
/// through `B = [0, 1]ᵀ` (so its response `−0.5^k sin(0.05 k)` is tiny although each of its
/// residues has norm 0.5), beside a real mode 0.9 with residue 1.
fn pair_and_real_mode() -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    let (c, s) = (0.5 * 0.05_f64.cos(), 0.5 * 0.05_f64.sin());
    let a = DMatrix::from_row_slice(3, 3, &[c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 0.9]);
    let b = DMatrix::from_row_slice(3, 1, &[0.0, 1.0, 1.0]);
    let h = DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 1.0]);
    (a, b, h)
}

/// The impulse-response energy of the pair's block (the first two states) alone.
fn pair_energy(a: &DMatrix<f64>, b: &DMatrix<f64>, h: &DMatrix<f64>) -> f64 {
    impulse_energy(
        &a.view((0, 0), (2, 2)).into_owned(),
        &b.rows(0, 2).into_owned(),
        &h.columns(0, 2).into_owned(),
    )
}

/// The energy of a conjugate pair includes the cross term between its two members: a pair with
/// large, nearly opposite residues and little output is not counted as a large contributor.
/// The shares equal brute-force impulse-response energies of the blocks over that of the whole
/// system, in any basis, and the real mode alone is dominant.
#[test]
fn conjugate_pair_energy_includes_its_cross_term() {
    let (a, b, h) = pair_and_real_mode();
    let total = impulse_energy(&a, &b, &h);
    let pair = pair_energy(&a, &b, &h);
    let real = 1.0 / (1.0 - 0.81);
    let ss = StateSpace::new(a, b, h).expect("shapes");
    let mut t = DMatrix::identity(3, 3);
    t.view_mut((0, 0), (2, 2)).copy_from(&basis());
    t[(2, 0)] = 0.2;
    for system in [ss.clone(), ss.transformed(&t).expect("invertible")] {
        let ranking = rank_modes(&system, 0.99).expect("diagonalisable");
        let pair_modes: Vec<_> = ranking
            .modes
            .iter()
            .filter(|m| m.eigenvalue[1] != 0.0)
            .collect();
        assert_eq!(pair_modes.len(), 2);
        for m in &pair_modes {
            assert_relative_eq!(m.residue, 0.5, epsilon = 1e-12);
            assert_relative_eq!(m.energy_share, pair / total / 2.0, max_relative = 1e-9);
            assert!(!m.dominant);
        }
        // Without the cross term each member would claim ‖R‖²/(1 − |λ|²) = 1/3 of energy.
        let naive = 0.25 / (1.0 - 0.25);
        assert!(pair < naive / 100.0, "pair {pair} vs naive {naive}");
        let slow = ranking
            .modes
            .iter()
            .find(|m| m.eigenvalue[1] == 0.0)
            .expect("real mode");
        assert_relative_eq!(slow.energy_share, real / total, max_relative = 1e-9);
        assert!(slow.dominant);
        assert_eq!(ranking.dominant_count(), 1);
    }
}

/// `energy_share_of` a set of modes equals the brute-force energy of their block over that of
/// the whole system: the pair alone, the real mode alone, everything, nothing.
#[test]
fn energy_share_of_sets_by_brute_force() {
    let (a, b, h) = pair_and_real_mode();
    let total = impulse_energy(&a, &b, &h);
    let pair = pair_energy(&a, &b, &h);
    let ss = StateSpace::new(a, b, h).expect("shapes");
    let eig = dynrec_analysis::eigenvalues(&ss.a).expect("eigenvalues");
    let pair_idx: Vec<usize> = (0..3).filter(|&i| eig[i].im != 0.0).collect();
    let real_idx: Vec<usize> = (0..3).filter(|&i| eig[i].im == 0.0).collect();
    let share = |set: &[usize]| energy_share_of(&ss, set).expect("diagonalisable");
    assert_relative_eq!(share(&pair_idx), pair / total, max_relative = 1e-9);
    assert_relative_eq!(
        share(&real_idx),
        1.0 / (1.0 - 0.81) / total,
        max_relative = 1e-9
    );
    assert_relative_eq!(share(&[0, 1, 2]), 1.0, epsilon = 1e-12);
    assert_eq!(share(&[]), 0.0);
}

/// Without a known truth, a predictor network with no exogenous inputs is read in its
/// innovations form `x_{k+1} = (U + W_z V) x_k + W_z e_k`: its modes carry the output energy
/// that the innovations drive (the same shares as the hand-built state space `(U + W_z V,
/// W_z, V)`), instead of none at all through an empty input matrix.
#[test]
fn predictor_without_truth_ranks_modes_by_the_innovations() {
    let u = DMatrix::from_row_slice(2, 2, &[0.3, -0.2, 0.2, 0.9]);
    let wz = DMatrix::from_row_slice(2, 1, &[0.6, 0.3]);
    let v = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
    let weights = RnnWeights {
        u: u.clone(),
        w: wz.clone(),
        v: v.clone(),
        b: DVector::zeros(2),
        c: DVector::zeros(1),
        activation: Activation::Linear,
        mode: Mode::Predictor,
        bias: true,
    };
    let analysis = analyse(&weights, None, None, &AnalysisConfig::default()).expect("analysis");
    let modes = analysis.modes.expect("modes ranked");
    assert!(modes.dominant_count() >= 1);
    let innovations = StateSpace::new(&u + &wz * &v, wz, v).expect("state space");
    let expected = rank_modes(&innovations, 0.99).expect("ranking");
    let total: f64 = modes.modes.iter().map(|m| m.energy_share).sum();
    assert_relative_eq!(total, 1.0, epsilon = 1e-9);
    for (got, want) in modes.modes.iter().zip(&expected.modes) {
        assert_eq!(got.index, want.index);
        assert_relative_eq!(got.energy_share, want.energy_share, epsilon = 1e-12);
    }
}
