//! Similarity transforms, Markov parameters and the hidden-state regression.

use approx::assert_relative_eq;
use dynrec_analysis::similarity::{
    StateSpace, compare_markov, estimate_similarity, regress_hidden_on_state,
};
use nalgebra::DMatrix;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

fn random_matrix(rng: &mut Xoshiro256PlusPlus, r: usize, c: usize) -> DMatrix<f64> {
    DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0))
}

/// `I + E` with `‖E‖_F ≤ 0.5`: condition number at most 3.
fn random_transform(rng: &mut Xoshiro256PlusPlus, n: usize) -> DMatrix<f64> {
    let e = random_matrix(rng, n, n);
    let scale = 0.5 / e.norm().max(1.0);
    DMatrix::identity(n, n) + e * scale
}

/// A random stable system: `A` scaled to spectral norm 0.95.
fn random_system(rng: &mut Xoshiro256PlusPlus, n: usize, m: usize, p: usize) -> StateSpace {
    let a = random_matrix(rng, n, n);
    let norm2 = a.clone().singular_values()[0];
    StateSpace::new(
        a * (0.95 / norm2),
        random_matrix(rng, n, m),
        random_matrix(rng, p, n),
    )
    .expect("consistent shapes")
}

/// For `(Â, Ŵ, V̂) = (T A T⁻¹, T B, H T⁻¹)`, the least-squares estimate of the similarity
/// transform is `T` itself (to 1e-8), all residuals vanish, and the Markov parameters
/// `H Aʲ B` and `V̂ Âʲ Ŵ` agree (they need no `T`).
#[test]
fn similarity_transform_is_recovered() {
    for (seed, (n, m, p)) in [
        (1u64, (3, 1, 1)),
        (2, (4, 2, 1)),
        (3, (2, 1, 2)),
        (4, (5, 1, 1)),
    ] {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let truth = random_system(&mut rng, n, m, p);
        let t = random_transform(&mut rng, n);
        let learned = truth.transformed(&t).expect("T invertible");
        let fit = estimate_similarity(&truth, &learned).expect("identifiable");
        assert!(
            (&fit.t - &t).amax() < 1e-8,
            "seed {seed}: T off by {}",
            (&fit.t - &t).amax()
        );
        assert!(
            fit.residual() < 1e-10,
            "seed {seed}: residual {}",
            fit.residual()
        );
        let markov = compare_markov(&truth, &learned, 20).expect("same inputs and outputs");
        assert!(
            markov.relative_error < 1e-10,
            "seed {seed}: {}",
            markov.relative_error
        );
        for (x, y) in markov.truth.iter().zip(&markov.learned) {
            assert!((x - y).amax() <= 1e-12 * (1.0 + x.amax()));
        }
    }
}

/// Without inputs (`m = 0`) `T` is still unique when `(A, H)` is observable: `V̂ T = H` and
/// `Â T = T A` determine it.
#[test]
fn similarity_without_inputs_uses_observability() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let truth = random_system(&mut rng, 3, 0, 1);
    let t = random_transform(&mut rng, 3);
    let fit = estimate_similarity(&truth, &truth.transformed(&t).expect("invertible"))
        .expect("observable");
    assert!((&fit.t - &t).amax() < 1e-8);
}

/// A system that is neither controllable nor observable in one mode leaves `T` undetermined
/// in that direction; the estimate refuses rather than inventing one.
#[test]
fn unidentifiable_transform_is_an_error() {
    let a = DMatrix::from_row_slice(2, 2, &[0.9, 0.0, 0.0, 0.5]);
    let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.0]);
    let h = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
    let ss = StateSpace::new(a, b, h).expect("shapes");
    assert!(estimate_similarity(&ss, &ss).is_err());
}

/// Hidden states that are an exact affine image `h_k = T x_k + c` of the true states give
/// `R² = 1` and the regression returns `T` and `c`.
#[test]
fn exact_affine_hidden_states_regress_perfectly() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let (steps, n, d) = (200, 3, 4);
    let x = random_matrix(&mut rng, steps, n);
    let t = random_matrix(&mut rng, d, n);
    let c = random_matrix(&mut rng, d, 1);
    let hidden = &x * t.transpose() + DMatrix::from_fn(steps, d, |_, j| c[j]);
    let reg = regress_hidden_on_state(&hidden, &x).expect("well posed");
    assert_relative_eq!(reg.r_squared, 1.0, epsilon = 1e-12);
    assert!((&reg.t - &t).amax() < 1e-10);
    assert!((&reg.offset - c.column(0)).amax() < 1e-10);
    for r2 in reg.r_squared_per_unit {
        assert_relative_eq!(r2, 1.0, epsilon = 1e-12);
    }
}
