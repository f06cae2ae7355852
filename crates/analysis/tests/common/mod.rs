//! Fixtures shared by the analysis integration tests.

#![allow(dead_code)] // each test file uses a subset

use dynrec_analysis::{Activation, Mode, RnnWeights, TrueSystem};
use nalgebra::{DMatrix, DVector};

/// A damped oscillator `x_k = A x_{k-1} + B u_k`, `z_k = H x_k` with
/// `A = [[0.9, −0.2], [0.2, 0.9]]` (eigenvalues `0.9 ± 0.2i`), `B = [1, 0.5]ᵀ`, `H = [1, 0]`,
/// and no predictor gain.
pub fn oscillator() -> TrueSystem {
    TrueSystem::new(
        DMatrix::from_row_slice(2, 2, &[0.9, -0.2, 0.2, 0.9]),
        Some(DMatrix::from_row_slice(2, 1, &[1.0, 0.5])),
        DMatrix::from_row_slice(1, 2, &[1.0, 0.0]),
        None,
    )
    .expect("truth")
}

/// [`oscillator`] with the predictor gain `K = [0.6, 0.3]ᵀ` (not the Kalman gain of any
/// particular noise: the predictor identity `U + W_z V = A` holds for every `K`).
pub fn oscillator_with_gain() -> TrueSystem {
    let t = oscillator();
    let k = DMatrix::from_row_slice(2, 1, &[0.6, 0.3]);
    TrueSystem::new(t.a, t.b, t.h, Some(k)).expect("truth")
}

/// The predictor of `truth` (which must carry `K`) written as a network in the basis `T`:
/// `U = T (A − K H) T⁻¹`, `W = T [B | K]`, `V = H T⁻¹`, zero biases, so that
/// `U + W_z V = T A T⁻¹`.
pub fn predictor_network(
    truth: &TrueSystem,
    t: &DMatrix<f64>,
    activation: Activation,
) -> RnnWeights {
    let (a, b, h) = (&truth.a, truth.input_matrix(), &truth.h);
    let k = truth.predictor_gain.as_ref().expect("a truth with K");
    let t_inv = t.clone().try_inverse().expect("invertible");
    let mut w = DMatrix::zeros(a.nrows(), b.ncols() + k.ncols());
    w.columns_mut(0, b.ncols()).copy_from(&(t * &b));
    w.columns_mut(b.ncols(), k.ncols()).copy_from(&(t * k));
    RnnWeights {
        u: t * (a - k * h) * &t_inv,
        w,
        v: h * &t_inv,
        b: DVector::zeros(a.nrows()),
        c: DVector::zeros(h.nrows()),
        activation,
        mode: Mode::Predictor,
        bias: true,
    }
}
