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
//! - `energy_share`: the energy of the impulse response of the mode's *real group* alone (a real
//!   eigenvalue, or a complex-conjugate pair, together with any eigenvalues repeated with them),
//!   as a fraction of the energy of the whole impulse response, split equally between the
//!   group's members. The energy of any set `S` of modes is exact, cross terms included:
//!
//!   ```text
//!   E(S) = Σ_k ‖Σ_{i∈S} R_i λ_i^k‖²_F = Σ_{i,j∈S} tr(R_iᴴ R_j) / (1 − λ̄_i λ_j)
//!   ```
//!
//!   Within a conjugate pair the cross term matters: a pair of nearly real eigenvalues with
//!   nearly opposite residues can carry large `‖R_i‖` and yet produce almost no output, which a
//!   sum of `‖R_i‖²/(1 − |λ_i|²)` would miss. Between groups the shares need not add up to 1
//!   (their responses can reinforce or cancel each other).
//!
//! The dominant modes are the fewest groups, taken by descending energy, whose modal
//! truncation reproduces the impulse response to the requested fraction:
//! `E(rest) ≤ (1 − fraction) · E(all)` (99 % by default).
//!
//! An unstable mode (`|λ| ≥ 1`) with a nonzero residue has infinite gain and energy; then the
//! unstable modes share the energy equally, the stable ones get 0, and the unstable ones are
//! the dominant ones.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::eigen::{C64, Modal, diagonalise};
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
    #[serde(with = "dynrec_core::serde_matrix::infinite_as_null")]
    pub gain: f64,
    /// Fraction of the output energy carried by this mode's real group alone, split equally
    /// between the group's members (see the module documentation).
    pub energy_share: f64,
    /// Among the fewest modes whose truncation carries the requested fraction of the energy.
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

/// The residues `R_i = (H r_i)(l_i B)` and eigenvalues of `ss`.
struct Residues {
    modal: Modal,
    residues: Vec<DMatrix<C64>>,
}

impl Residues {
    fn new(ss: &StateSpace) -> Result<Self> {
        let modal = diagonalise(&ss.a)?;
        let hc = ss.h.map(|x| C64::new(x, 0.0));
        let bc = ss.b.map(|x| C64::new(x, 0.0));
        let residues = (0..modal.values.len())
            .map(|i| (&hc * modal.right.column(i)) * (modal.left.row(i) * &bc))
            .collect();
        Ok(Self { modal, residues })
    }

    /// `E(S) = Σ_{i,j∈S} tr(R_iᴴ R_j) / (1 − λ̄_i λ_j)`: the energy of the impulse response of
    /// the modes in `set` (infinite when one of them is unstable with a nonzero residue).
    fn energy(&self, set: &[usize]) -> f64 {
        let lambda = &self.modal.values;
        let zero = C64::new(0.0, 0.0);
        if set
            .iter()
            .any(|&i| lambda[i].norm() >= 1.0 && self.residues[i].iter().any(|&x| x != zero))
        {
            return f64::INFINITY;
        }
        let mut total = zero;
        for &i in set {
            for &j in set {
                let inner = self.residues[i].dotc(&self.residues[j]);
                if inner != zero {
                    total += inner / (C64::new(1.0, 0.0) - lambda[i].conj() * lambda[j]);
                }
            }
        }
        // A Gram sum: real and ≥ 0 up to rounding.
        total.re.max(0.0)
    }

    /// Real groups: each cluster of repeated eigenvalues joined with the cluster of its
    /// conjugates, so that every group's impulse response is real.
    fn real_groups(&self) -> Vec<Vec<usize>> {
        let values = &self.modal.values;
        let clusters = &self.modal.clusters;
        let cluster_of = |i: usize| clusters.iter().position(|c| c.contains(&i));
        let mut taken = vec![false; clusters.len()];
        let mut groups = Vec::new();
        for (c, members) in clusters.iter().enumerate() {
            if taken[c] {
                continue;
            }
            taken[c] = true;
            let mut group = members.clone();
            // The conjugate of this cluster's first eigenvalue is (one of) the closest values to it.
            let conjugate = values[members[0]].conj();
            let partner = (0..values.len())
                .filter(|j| !members.contains(j))
                .min_by(|&x, &y| {
                    (values[x] - conjugate)
                        .norm()
                        .total_cmp(&(values[y] - conjugate).norm())
                });
            if values[members[0]].im != 0.0
                && let Some(j) = partner
                && let Some(pc) = cluster_of(j)
                && !taken[pc]
            {
                taken[pc] = true;
                group.extend_from_slice(&clusters[pc]);
            }
            group.sort_unstable();
            groups.push(group);
        }
        groups
    }
}

/// The output energy of the modes `indices` of `ss` (indices in [`crate::eigen::eigenvalues`]
/// order), cross terms included, as a fraction of the energy of the whole impulse response:
/// `E(indices) / E(all)`.
///
/// `0` when `indices` is empty or the output has no energy. When `ss` is unstable the energies
/// are infinite; the share is then `1` if the set holds an unstable mode that reaches the
/// output, else `0`.
pub fn energy_share_of(ss: &StateSpace, indices: &[usize]) -> Result<f64> {
    let r = Residues::new(ss)?;
    let all: Vec<usize> = (0..r.modal.values.len()).collect();
    let (part, total) = (r.energy(indices), r.energy(&all));
    Ok(if indices.is_empty() || total == 0.0 {
        0.0
    } else if total.is_infinite() {
        if part.is_infinite() { 1.0 } else { 0.0 }
    } else {
        part / total
    })
}

/// Ranks the modes of `ss` by their contribution to the output.
///
/// Fails when `A` is defective (its eigenvectors do not form a basis).
pub fn rank_modes(ss: &StateSpace, energy_fraction: f64) -> Result<ModeRanking> {
    let r = Residues::new(ss)?;
    let n = r.modal.values.len();
    // Per-mode residue size: a repeated eigenvalue's members share their combined residue
    // (the individual ones depend on the arbitrary basis of the eigenspace).
    let mut residue = vec![0.0; n];
    for group in &r.modal.clusters {
        let combined = group.iter().fold(
            DMatrix::<C64>::zeros(ss.h.nrows(), ss.b.ncols()),
            |acc, &i| acc + &r.residues[i],
        );
        let size = combined.norm() / group.len() as f64;
        for &i in group {
            residue[i] = size;
        }
    }
    let modulus: Vec<f64> = r.modal.values.iter().map(|z| z.norm()).collect();
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

    let mut share = vec![0.0; n];
    let mut dominant = vec![false; n];
    let n_unstable = (0..n).filter(|&i| unstable(i)).count();
    if n_unstable > 0 {
        for i in (0..n).filter(|&i| unstable(i)) {
            share[i] = 1.0 / n_unstable as f64;
            dominant[i] = true;
        }
    } else {
        let all: Vec<usize> = (0..n).collect();
        let total = r.energy(&all);
        let groups = r.real_groups();
        let own: Vec<f64> = groups.iter().map(|g| r.energy(g)).collect();
        if total > 0.0 {
            for (g, e) in groups.iter().zip(&own) {
                for &i in g {
                    share[i] = e / total / g.len() as f64;
                }
            }
            // Greedy modal truncation: add groups by descending own energy until the
            // modes left out carry at most (1 − fraction) of the energy.
            let mut order: Vec<usize> = (0..groups.len()).collect();
            order.sort_by(|&x, &y| own[y].total_cmp(&own[x]).then(x.cmp(&y)));
            let mut kept = vec![false; groups.len()];
            for &g in &order {
                let rest: Vec<usize> = (0..groups.len())
                    .filter(|&h| !kept[h])
                    .flat_map(|h| groups[h].iter().copied())
                    .collect();
                if r.energy(&rest) <= (1.0 - energy_fraction) * total || own[g] == 0.0 {
                    break;
                }
                kept[g] = true;
                for &i in &groups[g] {
                    dominant[i] = true;
                }
            }
        }
    }

    let mut modes: Vec<ModeContribution> = (0..n)
        .map(|i| ModeContribution {
            index: i,
            eigenvalue: [r.modal.values[i].re, r.modal.values[i].im],
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

/// A mode of the learned dynamics as a reader of real data wants it: in the data's own time
/// unit (`dt` is the step between rows, in units of the data's `t` column).
///
/// ```text
/// λ = |λ| e^{iθ}:   period = 2π dt / |θ|,   damping time τ = −dt / ln|λ|   (e-folding)
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeSummary {
    /// The eigenvalue `[re, im]` (of a conjugate pair, the one with `im ≥ 0`).
    pub eigenvalue: [f64; 2],
    /// `|λ|`.
    pub modulus: f64,
    /// The period in units of `t` (`None` for a real eigenvalue).
    pub period: Option<f64>,
    /// The e-folding time of the amplitude in units of `t` (`None` when `|λ| ≥ 1`).
    pub damping_time: Option<f64>,
    /// Share of the output energy (a pair: both members together).
    pub energy_share: f64,
    /// Each classical baseline's eigenvalue nearest to this one, by name.
    pub nearest: Vec<NearestMode>,
}

/// A baseline's eigenvalue nearest to a learned mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearestMode {
    /// The baseline (`"n4sid"`, `"em"`, …).
    pub baseline: String,
    /// Its eigenvalue `[re, im]`.
    pub eigenvalue: [f64; 2],
    /// Its period in units of `t` (`None` for a real eigenvalue).
    pub period: Option<f64>,
    /// `|λ − λ_baseline|`.
    pub distance: f64,
}

/// Period in units of `t` of an eigenvalue (`None` when real).
fn period(z: C64, dt: f64) -> Option<f64> {
    (z.im.abs() > 1e-12 * z.norm().max(1.0))
        .then(|| 2.0 * std::f64::consts::PI * dt / z.arg().abs())
}

/// The dominant modes of `analysis` (those among the fewest that carry its energy fraction;
/// one row per real eigenvalue or conjugate pair), largest energy share first, with the
/// nearest eigenvalue of every baseline, in units of `dt`.
pub fn dominant_modes(analysis: &crate::Analysis, dt: f64) -> Vec<ModeSummary> {
    let Some(ranking) = &analysis.modes else {
        return Vec::new();
    };
    let mut out: Vec<ModeSummary> = Vec::new();
    for m in ranking.modes.iter().filter(|m| m.dominant) {
        let z = C64::new(m.eigenvalue[0], m.eigenvalue[1]);
        if z.im < 0.0 {
            continue; // the pair is listed once, under its member with im > 0
        }
        let pair = z.im > 0.0;
        let energy_share = if pair {
            2.0 * m.energy_share
        } else {
            m.energy_share
        };
        let nearest = analysis
            .baselines
            .iter()
            .filter_map(|b| {
                b.eigenvalues
                    .iter()
                    .map(|&w| (w, (w - z).norm()))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(w, distance)| NearestMode {
                        baseline: b.name.clone(),
                        eigenvalue: [w.re, w.im.abs()],
                        period: period(w, dt),
                        distance,
                    })
            })
            .collect();
        let modulus = z.norm();
        out.push(ModeSummary {
            eigenvalue: m.eigenvalue,
            modulus,
            period: period(z, dt),
            damping_time: (modulus < 1.0 && modulus > 0.0).then(|| -dt / modulus.ln()),
            energy_share,
            nearest,
        });
    }
    out.sort_by(|a, b| b.energy_share.total_cmp(&a.energy_share));
    out
}
