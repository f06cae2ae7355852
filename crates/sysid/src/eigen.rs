//! Basis-free summaries of an identified system: Markov parameters and matched eigenvalues.

use nalgebra::{Complex, DMatrix};

use dynrec_truth::LinearSystem;

/// Markov parameters `M_j = H A^j B`, `j = 0..count`, the impulse response from `u_k` to
/// `z_{k+j}` in dynrec's convention (`z_k = Σ_{j≥0} H A^j B u_{k-j} + noise terms`). They do not
/// depend on the state basis. Empty when the system has no inputs.
///
/// # Shapes
/// each `M_j`: `[p, m]`
pub fn markov_parameters(system: &LinearSystem, count: usize) -> Vec<DMatrix<f64>> {
    let Some(b) = system.b() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(count);
    let mut a_pow_b = b.clone();
    for _ in 0..count {
        out.push(system.h() * &a_pow_b);
        a_pow_b = system.a() * &a_pow_b;
    }
    out
}

/// `max_i |λ_i − μ_π(i)|` minimised over the pairings `π` (exhaustive search over
/// permutations: meant for the small orders of this crate, n ≤ 8). `f64::INFINITY` when the
/// lengths differ.
pub fn matched_eigen_error(a: &[Complex<f64>], b: &[Complex<f64>]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let mut perm: Vec<usize> = (0..b.len()).collect();
    let mut best = f64::INFINITY;
    permute(&mut perm, 0, &mut |p| {
        let err = a
            .iter()
            .zip(p)
            .map(|(x, &j)| (x - b[j]).norm())
            .fold(0.0, f64::max);
        best = best.min(err);
    });
    best
}

fn permute(p: &mut [usize], k: usize, visit: &mut impl FnMut(&[usize])) {
    if k == p.len() {
        visit(p);
        return;
    }
    for i in k..p.len() {
        p.swap(k, i);
        permute(p, k + 1, visit);
        p.swap(k, i);
    }
}

/// Eigenvalues of `A` as a vector.
pub fn eigenvalues(a: &DMatrix<f64>) -> Vec<Complex<f64>> {
    a.complex_eigenvalues().iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matching finds the pairing regardless of order: a permuted copy has error 0, and one
    /// moved eigenvalue gives exactly its displacement.
    #[test]
    fn matching_is_order_free() {
        let a = [
            Complex::new(0.9, 0.1),
            Complex::new(0.9, -0.1),
            Complex::new(0.5, 0.0),
        ];
        let b = [a[2], a[0], a[1]];
        assert_eq!(matched_eigen_error(&a, &b), 0.0);
        let c = [a[1], Complex::new(0.5, 0.01), a[0]];
        approx::assert_relative_eq!(matched_eigen_error(&a, &c), 0.01, epsilon = 1e-15);
    }
}
