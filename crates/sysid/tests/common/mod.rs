//! Shared test systems.
#![allow(dead_code)]

use dynrec_truth::{InputSignal, LinearSystem, Sequence, SimulationConfig, simulate};
use nalgebra::{Complex, DMatrix};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A random system with spectral radius 0.9 (generically minimal).
pub fn random_system(n: usize, m: usize, p: usize, seed: u64, q: f64, r: f64) -> LinearSystem {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut draw =
        |rows, cols| DMatrix::from_fn(rows, cols, |_, _| rng.random::<f64>() * 2.0 - 1.0);
    let a0 = draw(n, n);
    let rho = a0
        .complex_eigenvalues()
        .iter()
        .map(|c| c.norm())
        .fold(0.0, f64::max);
    let a = a0 * (0.9 / rho);
    let b = draw(n, m);
    let h = draw(p, n);
    LinearSystem::new(
        a,
        Some(b),
        h,
        DMatrix::identity(n, n) * q,
        DMatrix::identity(p, p) * r,
    )
    .expect("valid system")
}

/// The noisy three-state benchmark system: eigenvalues 0.9 ± 0.2i and 0.5, one input, one output.
pub fn three_state() -> LinearSystem {
    let a = DMatrix::from_row_slice(3, 3, &[0.9, -0.2, 0.0, 0.2, 0.9, 0.0, 0.0, 0.0, 0.5]);
    let b = DMatrix::from_row_slice(3, 1, &[1.0, 0.5, -0.8]);
    let h = DMatrix::from_row_slice(1, 3, &[1.0, 0.3, 1.0]);
    LinearSystem::new(
        a,
        Some(b),
        h,
        DMatrix::identity(3, 3) * 1e-3,
        DMatrix::identity(1, 1) * 1e-2,
    )
    .expect("valid system")
}

/// Simulated sequences, white inputs of std 1, no missing values.
pub fn data(system: &LinearSystem, sequences: usize, steps: usize, seed: u64) -> Vec<Sequence> {
    simulate(
        system,
        &SimulationConfig {
            sequences,
            steps,
            input: InputSignal::White { std: 1.0 },
            missing_fraction: 0.0,
            seed,
        },
    )
    .expect("simulates")
    .sequences
}

/// Eigenvalues of a real matrix.
pub fn eig(a: &DMatrix<f64>) -> Vec<Complex<f64>> {
    a.complex_eigenvalues().iter().copied().collect()
}
