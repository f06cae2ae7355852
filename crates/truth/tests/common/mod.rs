//! Fixtures shared by the integration tests.
#![allow(dead_code, missing_docs)]

use dynrec_truth::LinearSystem;
use nalgebra::{DMatrix, DVector, dmatrix};

/// The damped rotation of docs/design.md (claim 1): r = 0.95, θ = 0.3, one input, one output.
pub fn rotation() -> LinearSystem {
    let (r, th) = (0.95_f64, 0.3_f64);
    LinearSystem::new(
        dmatrix![r * th.cos(), -r * th.sin(); r * th.sin(), r * th.cos()],
        Some(dmatrix![1.0; 0.5]),
        dmatrix![1.0, 0.0],
        DMatrix::identity(2, 2) * 1e-2,
        dmatrix![0.05],
    )
    .expect("valid rotation system")
}

/// A 3-state, 2-output, 2-input system with correlated noises and a non-trivial prior.
pub fn three_state() -> LinearSystem {
    LinearSystem::new(
        dmatrix![0.8, 0.3, 0.0; -0.3, 0.8, 0.1; 0.0, 0.0, 0.5],
        Some(dmatrix![1.0, 0.0; 0.0, 0.5; 0.3, 1.0]),
        dmatrix![1.0, 0.0, 1.0; 0.0, 1.0, -0.5],
        dmatrix![0.05, 0.01, 0.0; 0.01, 0.04, 0.0; 0.0, 0.0, 0.02],
        dmatrix![0.1, 0.02; 0.02, 0.2],
    )
    .expect("valid system")
    .with_prior(
        DVector::from_vec(vec![0.5, -0.2, 0.1]),
        DMatrix::identity(3, 3) * 2.0,
    )
    .expect("valid prior")
}
