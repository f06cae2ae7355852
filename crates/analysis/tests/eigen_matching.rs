//! Eigenvalues and their matching.

use dynrec_analysis::eigen::{C64, eigenvalues};
use dynrec_analysis::matching::match_eigenvalues;
use nalgebra::DMatrix;
use proptest::prelude::*;

/// Distinct real eigenvalues on a grid (spacing 0.3) and angles for complex pairs (spacing 0.3,
/// away from 0 and π), so every generated spectrum is separated by at least ~0.09 and its
/// eigenvalues are well conditioned.
fn spectrum() -> impl Strategy<Value = Vec<C64>> {
    let reals: Vec<f64> = (-3..=3).map(|k| 0.3 * f64::from(k)).collect();
    let angles: Vec<f64> = (1..=9).map(|k| 0.3 * f64::from(k)).collect();
    (0usize..=3, 0usize..=2)
        .prop_filter("at least one eigenvalue", |(r, c)| r + c > 0)
        .prop_flat_map(move |(nr, nc)| {
            (
                proptest::sample::subsequence(reals.clone(), nr),
                proptest::sample::subsequence(angles.clone(), nc),
                proptest::collection::vec(0.3f64..1.2, nc),
            )
        })
        .prop_map(|(re, th, r)| {
            let mut v: Vec<C64> = re.into_iter().map(|x| C64::new(x, 0.0)).collect();
            for (t, m) in th.into_iter().zip(r) {
                v.push(C64::from_polar(m, t));
                v.push(C64::from_polar(m, -t));
            }
            v
        })
}

/// A real block-diagonal matrix with the given spectrum (conjugate pairs adjacent).
fn block_diagonal(spectrum: &[C64]) -> DMatrix<f64> {
    let n = spectrum.len();
    let mut d = DMatrix::zeros(n, n);
    let mut i = 0;
    while i < n {
        let z = spectrum[i];
        if z.im == 0.0 {
            d[(i, i)] = z.re;
            i += 1;
        } else {
            // [[re, −im], [im, re]] has eigenvalues re ± i·im
            d[(i, i)] = z.re;
            d[(i, i + 1)] = -z.im;
            d[(i + 1, i)] = z.im;
            d[(i + 1, i + 1)] = z.re;
            i += 2;
        }
    }
    d
}

/// A well-conditioned matrix `I + E` with `‖E‖_2 ≤ ‖E‖_F ≤ 0.5`, so `cond ≤ 3`.
fn near_identity(n: usize) -> impl Strategy<Value = DMatrix<f64>> {
    proptest::collection::vec(-1.0f64..1.0, n * n).prop_map(move |e| {
        let e = DMatrix::from_vec(n, n, e);
        let scale = 0.5 / e.norm().max(1.0);
        DMatrix::identity(n, n) + e * scale
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, rng_seed: proptest::test_runner::RngSeed::Fixed(4), ..ProptestConfig::default() })]

    /// Eigenvalues are invariant under similarity: for `A = S D S⁻¹` with known spectrum and a
    /// random invertible `T`, eig(T A T⁻¹) matches eig(A) and the known spectrum. The spectra
    /// are separated and `S`, `T` have condition ≤ 3, so the backward-stable Schur method is
    /// accurate to ~1e-14; 1e-9 leaves room without hiding a wrong answer.
    #[test]
    fn eigenvalues_invariant_under_similarity(
        (known, s, t) in spectrum().prop_flat_map(|sp| {
            let n = sp.len();
            (Just(sp), near_identity(n), near_identity(n))
        })
    ) {
        let d = block_diagonal(&known);
        let s_inv = s.clone().try_inverse().expect("cond ≤ 3");
        let a = &s * d * s_inv;
        let t_inv = t.clone().try_inverse().expect("cond ≤ 3");
        let similar = &t * &a * t_inv;
        let eig_a = eigenvalues(&a).expect("eigenvalues of A");
        let eig_t = eigenvalues(&similar).expect("eigenvalues of T A T⁻¹");
        prop_assert_eq!(eig_a.len(), known.len());
        let m = match_eigenvalues(&eig_a, &eig_t);
        prop_assert!(m.max_distance < 1e-9, "similarity changed eigenvalues by {}", m.max_distance);
        let k = match_eigenvalues(&known, &eig_t);
        prop_assert!(k.max_distance < 1e-9, "eigenvalues off the known spectrum by {}", k.max_distance);
        prop_assert!(m.unmatched_truth.is_empty() && m.unmatched_estimate.is_empty());
    }

    /// Matching a list against any permutation of itself pairs every value with an equal one:
    /// the eigen error is exactly zero.
    #[test]
    fn permuted_copy_matches_with_zero_error(
        (values, perm) in proptest::collection::vec((-2.0f64..2.0, -2.0f64..2.0), 1..12)
            .prop_flat_map(|v| {
                let n = v.len();
                (Just(v), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
            })
    ) {
        let truth: Vec<C64> = values.iter().map(|&(re, im)| C64::new(re, im)).collect();
        let permuted: Vec<C64> = perm.iter().map(|&i| truth[i]).collect();
        let m = match_eigenvalues(&truth, &permuted);
        prop_assert_eq!(m.max_distance, 0.0);
        for p in &m.pairs {
            prop_assert_eq!(truth[p.truth], permuted[p.estimate]);
        }
        prop_assert_eq!(m.pairs.len(), truth.len());
    }
}

/// eig of a permuted similarity copy of a conjugate-pair system come back as exact conjugates
/// and in the documented order (descending modulus, +i first).
#[test]
fn eigenvalues_are_sorted_and_conjugate() {
    let a = DMatrix::from_row_slice(3, 3, &[0.9, -0.2, 0.0, 0.2, 0.9, 0.0, 0.0, 0.0, 0.5]);
    let e = eigenvalues(&a).expect("eigenvalues");
    assert_eq!(e.len(), 3);
    assert!(e[0].im > 0.0);
    assert_eq!(e[0].conj(), e[1]);
    approx::assert_relative_eq!(e[0].re, 0.9, epsilon = 1e-14);
    approx::assert_relative_eq!(e[0].im, 0.2, epsilon = 1e-14);
    approx::assert_relative_eq!(e[2].re, 0.5, epsilon = 1e-14);
}
