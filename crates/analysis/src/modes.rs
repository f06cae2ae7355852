//! How much each mode contributes to the output.
//!
//! With `A = Σ_i λ_i r_i l_i` (right eigenvectors `r_i`, left eigenvectors `l_i`, `l_i r_j = δ_ij`)
//! the transfer function splits into modes:
//!
//! ```text
//! H (zI − A)⁻¹ B = Σ_i R_i / (z − λ_i),   R_i = (H r_i)(l_i B)   (the residue, p × m, rank one)
//! ```
//!
//! A mode that is uncontrollable (`l_i B = 0`) or unobservable (`H r_i = 0`) has `R_i = 0` and
//! never reaches the output. Two sizes are reported per mode:
//!
//! - `gain = ‖R_i‖ / (1 − |λ_i|)`: the peak over the unit circle of `‖R_i / (z − λ_i)‖`, the
//!   mode's largest steady-state amplification (‖R_i‖ = ‖H r_i‖ ‖l_i B‖ for a rank-one matrix);
//!   modes are ranked by it.
//! - `energy = ‖R_i‖²_F / (1 − |λ_i|²) = Σ_j ‖R_i λ_i^j‖²_F`: the energy of the mode's impulse
//!   response (cross terms between modes are not attributed). `energy_share` is its fraction
//!   of the total; the dominant modes are the fewest, by descending energy, whose shares add up
//!   to the requested fraction (99 % by default).
//!
//! An unstable mode (`|λ| ≥ 1`) with a nonzero residue has infinite gain and energy; then the
//! unstable modes share the energy equally and the stable ones get 0. Modes with a repeated
//! eigenvalue share their combined residue `Σ_{i∈group} H r_i l_i B` equally.

use serde::{Deserialize, Serialize};

use crate::eigen::{C64, diagonalise};
use crate::error::Result;
use crate::similarity::StateSpace;

/// One mode's contribution to the output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModeContribution {
    /// Index of the eigenvalue in [`crate::eigen::eigenvalues`] order.
    pub index: usize,
    /// The eigenvalue `[re, im]`.
    pub eigenvalue: [f64; 2],
    /// `‖R_i‖_F`.
    pub residue: f64,
    /// `‖R_i‖_F / (1 − |λ_i|)` (infinite, written as `null`, for an unstable mode).
    #[serde(with = "crate::serde_matrix::infinite_as_null")]
    pub gain: f64,
    /// Fraction of the output energy carried by this mode.
    pub energy_share: f64,
    /// Among the fewest modes that carry the requested fraction of the energy.
    pub dominant: bool,
}

/// All modes, ranked by gain (largest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeRanking {
    /// Modes in descending order of gain.
    pub modes: Vec<ModeContribution>,
    /// The energy fraction the dominant set must carry (e.g. 0.99).
    pub energy_fraction: f64,
}

impl ModeRanking {
    /// The contribution of eigenvalue `index`.
    pub fn mode(&self, index: usize) -> Option<&ModeContribution> {
        self.modes.iter().find(|m| m.index == index)
    }

    /// Number of dominant modes.
    pub fn dominant_count(&self) -> usize {
        self.modes.iter().filter(|m| m.dominant).count()
    }
}

/// Ranks the modes of `ss` by their contribution to the output.
///
/// Fails when `A` is defective (its eigenvectors do not form a basis).
pub fn rank_modes(ss: &StateSpace, energy_fraction: f64) -> Result<ModeRanking> {
    let modal = diagonalise(&ss.a)?;
    let n = modal.values.len();
    let hc = ss.h.map(|x| C64::new(x, 0.0));
    let bc = ss.b.map(|x| C64::new(x, 0.0));
    let mut residue = vec![0.0; n];
    for group in &modal.clusters {
        // Σ_{i∈group} (H r_i)(l_i B)
        let mut r = nalgebra::DMatrix::<C64>::zeros(hc.nrows(), bc.ncols());
        for &i in group {
            r += (&hc * modal.right.column(i)) * (modal.left.row(i) * &bc);
        }
        let size = r.norm() / group.len() as f64;
        for &i in group {
            residue[i] = size;
        }
    }
    let modulus: Vec<f64> = modal.values.iter().map(|z| z.norm()).collect();
    let unstable = |i: usize| modulus[i] >= 1.0 && residue[i] > 0.0;
    let gain: Vec<f64> = (0..n)
        .map(|i| {
            if residue[i] == 0.0 {
                0.0
            } else if unstable(i) {
                f64::INFINITY
            } else {
                residue[i] / (1.0 - modulus[i])
            }
        })
        .collect();
    let n_unstable = (0..n).filter(|&i| unstable(i)).count();
    let share: Vec<f64> = if n_unstable > 0 {
        (0..n)
            .map(|i| {
                if unstable(i) {
                    1.0 / n_unstable as f64
                } else {
                    0.0
                }
            })
            .collect()
    } else {
        let energy: Vec<f64> = (0..n)
            .map(|i| residue[i].powi(2) / (1.0 - modulus[i].powi(2)))
            .collect();
        let total: f64 = energy.iter().sum();
        energy
            .iter()
            .map(|e| if total > 0.0 { e / total } else { 0.0 })
            .collect()
    };
    let mut by_energy: Vec<usize> = (0..n).collect();
    by_energy.sort_by(|&i, &j| share[j].total_cmp(&share[i]).then(i.cmp(&j)));
    let mut dominant = vec![false; n];
    let mut carried = 0.0;
    for &i in &by_energy {
        if carried >= energy_fraction || share[i] == 0.0 {
            break;
        }
        dominant[i] = true;
        carried += share[i];
    }
    let mut modes: Vec<ModeContribution> = (0..n)
        .map(|i| ModeContribution {
            index: i,
            eigenvalue: [modal.values[i].re, modal.values[i].im],
            residue: residue[i],
            gain: gain[i],
            energy_share: share[i],
            dominant: dominant[i],
        })
        .collect();
    modes.sort_by(|x, y| y.gain.total_cmp(&x.gain).then(x.index.cmp(&y.index)));
    Ok(ModeRanking {
        modes,
        energy_fraction,
    })
}
