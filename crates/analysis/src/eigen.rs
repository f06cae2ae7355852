//! Eigenvalues of real matrices as complex numbers, and eigenvectors when they are needed.

use nalgebra::{Complex, DMatrix, linalg::Schur};
use serde::{Deserialize, Serialize};

use crate::error::{AnalysisError, Result, check_finite};

/// A complex number with `f64` parts.
pub type C64 = Complex<f64>;

/// Iteration cap for the Schur and SVD iterations (nalgebra's `0` would mean "forever").
const MAX_ITERATIONS: usize = 100_000;

/// Eigenvalues of the square real matrix `a`, sorted by descending modulus, then descending
/// imaginary part (so a conjugate pair lists `+i` first), then descending real part.
///
/// Computed from the real Schur form (`complex_eigenvalues`), so complex pairs are exact
/// conjugates.
pub fn eigenvalues(a: &DMatrix<f64>) -> Result<Vec<C64>> {
    if !a.is_square() {
        return Err(AnalysisError::Dimension(format!(
            "eigenvalues need a square matrix, got {}x{}",
            a.nrows(),
            a.ncols()
        )));
    }
    check_finite("matrix whose eigenvalues are wanted", a.iter())?;
    if a.nrows() == 0 {
        return Ok(Vec::new());
    }
    let schur = Schur::try_new(a.clone(), f64::EPSILON, MAX_ITERATIONS)
        .ok_or(AnalysisError::EigenNoConvergence(a.nrows()))?;
    let mut values: Vec<C64> = schur.complex_eigenvalues().iter().copied().collect();
    sort_eigenvalues(&mut values);
    Ok(values)
}

/// Sorts eigenvalues by descending modulus, then descending imaginary and real part.
pub fn sort_eigenvalues(values: &mut [C64]) {
    values.sort_by(|x, y| {
        y.norm()
            .total_cmp(&x.norm())
            .then(y.im.total_cmp(&x.im))
            .then(y.re.total_cmp(&x.re))
    });
}

/// An eigenvalue with the quantities a reader looks at.
///
/// For `λ = r e^{iθ}`: the mode decays (or grows) by `r` per step and turns by `θ` radians per
/// step, so it oscillates with period `2π / |θ|` steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EigenInfo {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
    /// Modulus `|λ|`.
    pub modulus: f64,
    /// Angle `arg λ` in radians, in `(-π, π]`.
    pub angle: f64,
    /// Period `2π / |arg λ|` in time steps; `None` for a positive real eigenvalue (no oscillation).
    pub period: Option<f64>,
}

impl EigenInfo {
    /// Describes one eigenvalue.
    pub fn new(value: C64) -> Self {
        let angle = value.arg();
        let period = (angle != 0.0).then(|| 2.0 * std::f64::consts::PI / angle.abs());
        Self {
            re: value.re,
            im: value.im,
            modulus: value.norm(),
            angle,
            period,
        }
    }

    /// The eigenvalue as a complex number.
    pub fn value(&self) -> C64 {
        C64::new(self.re, self.im)
    }

    /// Describes a list of eigenvalues.
    pub fn describe(values: &[C64]) -> Vec<Self> {
        values.iter().copied().map(Self::new).collect()
    }
}

/// A diagonalisation `A = R Λ L` with `L = R⁻¹`.
///
/// Column `i` of `right` is a right eigenvector (`A r_i = λ_i r_i`), row `i` of `left` a left
/// eigenvector (`l_i A = λ_i l_i`), normalised so that `l_i r_j = δ_ij`.
///
/// # Shapes
/// - `values`: `[n]`, `right`: `[n, n]`, `left`: `[n, n]`
#[derive(Debug, Clone)]
pub struct Modal {
    /// Eigenvalues, in the order of [`eigenvalues`].
    pub values: Vec<C64>,
    /// Right eigenvectors as columns.
    pub right: DMatrix<C64>,
    /// Left eigenvectors as rows; `left = right⁻¹`.
    pub left: DMatrix<C64>,
    /// Groups of indices whose eigenvalues coincide (to `cluster_tolerance`); singletons for
    /// distinct eigenvalues.
    pub clusters: Vec<Vec<usize>>,
}

/// Eigenvector matrices with a condition number above this are treated as defective.
const MAX_EIGENVECTOR_CONDITION: f64 = 1e12;

/// Diagonalises `a`.
///
/// Eigenvalues that agree to `1e-8 · max(1, ‖A‖_F)` are grouped; for a group of size `k`
/// around `λ`, the right eigenvectors are the `k` right singular vectors of `A − λI` with the
/// smallest singular values (an orthonormal basis of the eigenspace when `λ` is semisimple).
/// Then `L = R⁻¹`. Fails with [`AnalysisError::Defective`] when `R` is not safely invertible.
pub fn diagonalise(a: &DMatrix<f64>) -> Result<Modal> {
    let values = eigenvalues(a)?;
    let n = values.len();
    if n == 0 {
        return Ok(Modal {
            values,
            right: DMatrix::zeros(0, 0),
            left: DMatrix::zeros(0, 0),
            clusters: Vec::new(),
        });
    }
    let tol = 1e-8 * a.norm().max(1.0);
    let clusters = cluster(&values, tol);
    let ac: DMatrix<C64> = a.map(|x| C64::new(x, 0.0));
    let mut right = DMatrix::<C64>::zeros(n, n);
    for group in &clusters {
        let centre = group.iter().map(|&i| values[i]).sum::<C64>() / group.len() as f64;
        let shifted = &ac - DMatrix::<C64>::identity(n, n) * centre;
        let svd = nalgebra::SVD::try_new(shifted, false, true, f64::EPSILON, MAX_ITERATIONS)
            .ok_or(AnalysisError::EigenNoConvergence(n))?;
        let v_t = svd
            .v_t
            .as_ref()
            .ok_or(AnalysisError::EigenNoConvergence(n))?;
        // A repeated eigenvalue must have as many independent eigenvectors as copies: the
        // `k` smallest singular values of A − λI must all vanish, else λ is defective.
        let sv = &svd.singular_values;
        if group.len() > 1 && sv[n - group.len()] > 1e-7 * a.norm().max(1.0) {
            return Err(AnalysisError::Defective {
                condition: f64::INFINITY,
            });
        }
        // Sorted descending: the last `k` rows of Vᴴ span the (near) null space of A − λI.
        for (slot, &i) in group.iter().enumerate() {
            let row = n - group.len() + slot;
            let v = v_t.row(row).adjoint();
            right.set_column(i, &v);
        }
    }
    let sv = right.clone().singular_values();
    let condition = sv[0] / sv[n - 1];
    if !condition.is_finite() || condition > MAX_EIGENVECTOR_CONDITION {
        return Err(AnalysisError::Defective { condition });
    }
    let left = right
        .clone()
        .try_inverse()
        .ok_or(AnalysisError::Defective { condition })?;
    Ok(Modal {
        values,
        right,
        left,
        clusters,
    })
}

/// Groups indices of values that lie within `tol` of each other (single linkage).
fn cluster(values: &[C64], tol: f64) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let hit = groups
            .iter()
            .position(|g| g.iter().any(|&j| (values[j] - v).norm() <= tol));
        match hit {
            Some(g) => groups[g].push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// A rotation-scaling block `r [[cos θ, −sin θ], [sin θ, cos θ]]` has eigenvalues
    /// `r e^{±iθ}`: modulus `r`, angle `±θ`, period `2π/θ`.
    #[test]
    fn rotation_block_has_known_polar_form() {
        let (r, th) = (0.9_f64, 0.3_f64);
        let a = DMatrix::from_row_slice(
            2,
            2,
            &[r * th.cos(), -r * th.sin(), r * th.sin(), r * th.cos()],
        );
        let info = EigenInfo::describe(&eigenvalues(&a).expect("eigenvalues"));
        assert_relative_eq!(info[0].modulus, r, epsilon = 1e-14);
        assert_relative_eq!(info[0].angle, th, epsilon = 1e-14);
        assert_relative_eq!(info[1].angle, -th, epsilon = 1e-14);
        assert_relative_eq!(
            info[0].period.expect("oscillating"),
            2.0 * std::f64::consts::PI / th,
            epsilon = 1e-12
        );
    }

    /// `A = R Λ L` and `L R = I` for a diagonalisable matrix, including a repeated eigenvalue.
    #[test]
    fn diagonalisation_reconstructs_the_matrix() {
        let a = DMatrix::from_row_slice(3, 3, &[0.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.3, -0.2, 0.8]);
        let m = diagonalise(&a).expect("diagonalisable");
        let lambda = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(m.values.clone()));
        let rebuilt = &m.right * lambda * &m.left;
        for (x, y) in rebuilt.iter().zip(a.iter()) {
            assert!((x - C64::new(*y, 0.0)).norm() < 1e-12);
        }
        assert_eq!(m.clusters.iter().map(Vec::len).max(), Some(2));
    }

    /// A Jordan block has only one eigenvector: diagonalisation must refuse it.
    #[test]
    fn jordan_block_is_defective() {
        let a = DMatrix::from_row_slice(2, 2, &[0.5, 1.0, 0.0, 0.5]);
        assert!(matches!(
            diagonalise(&a),
            Err(AnalysisError::Defective { .. })
        ));
    }
}
