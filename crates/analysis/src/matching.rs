//! Optimal matching of true and estimated eigenvalues.
//!
//! The assignment minimises the largest distance `max |λ_i − μ_σ(i)|` (a bottleneck assignment),
//! and among the assignments that reach that bottleneck, the total distance. Both steps use the
//! Hungarian algorithm (`pathfinding::kuhn_munkres`): the bottleneck is the smallest distance
//! threshold at which a complete matching uses only edges under it (binary search over the
//! sorted distances); the tie-break is a minimum-sum assignment restricted to those edges.

use pathfinding::kuhn_munkres::{kuhn_munkres, kuhn_munkres_min};
use pathfinding::matrix::Matrix;
use serde::{Deserialize, Serialize};

use crate::eigen::C64;

/// One matched pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Index into the true eigenvalues.
    pub truth: usize,
    /// Index into the estimated eigenvalues.
    pub estimate: usize,
    /// `|λ_truth − μ_estimate|`.
    pub distance: f64,
}

/// The result of matching true against estimated eigenvalues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matching {
    /// Matched pairs, in the order of the true eigenvalues.
    pub pairs: Vec<Pair>,
    /// True eigenvalues left without a partner (the estimate has fewer).
    pub unmatched_truth: Vec<usize>,
    /// Estimated eigenvalues left without a partner (the estimate has more: hidden > n).
    pub unmatched_estimate: Vec<usize>,
    /// The eigen error: the largest matched distance (0 when nothing is matched).
    pub max_distance: f64,
}

impl Matching {
    /// The partner of estimate `j`, if it has one.
    pub fn truth_for_estimate(&self, j: usize) -> Option<Pair> {
        self.pairs.iter().copied().find(|p| p.estimate == j)
    }
}

/// Resolution of the integer costs used for the tie-break (relative to the largest distance).
const COST_SCALE: f64 = 1e9;

/// Matches `truth` with `estimate`, minimising the largest distance.
///
/// Every eigenvalue of the shorter list gets a partner; the extras of the longer list are
/// reported as unmatched. Non-finite distances never occur for finite inputs; eigenvalues come
/// from [`crate::eigen::eigenvalues`], which rejects non-finite matrices.
pub fn match_eigenvalues(truth: &[C64], estimate: &[C64]) -> Matching {
    // Rows must be the shorter list (kuhn_munkres needs rows ≤ columns).
    let swap = truth.len() > estimate.len();
    let (rows, cols) = if swap {
        (estimate, truth)
    } else {
        (truth, estimate)
    };
    let dist = |i: usize, j: usize| (rows[i] - cols[j]).norm();
    let assignment = if rows.is_empty() {
        Vec::new()
    } else {
        bottleneck_assignment(rows.len(), cols.len(), &dist)
    };
    let mut pairs: Vec<Pair> = assignment
        .iter()
        .enumerate()
        .map(|(i, &j)| {
            let (t, e) = if swap { (j, i) } else { (i, j) };
            Pair {
                truth: t,
                estimate: e,
                distance: dist(i, j),
            }
        })
        .collect();
    pairs.sort_by_key(|p| p.truth);
    let unmatched_truth = (0..truth.len())
        .filter(|t| !pairs.iter().any(|p| p.truth == *t))
        .collect();
    let unmatched_estimate = (0..estimate.len())
        .filter(|e| !pairs.iter().any(|p| p.estimate == *e))
        .collect();
    let max_distance = pairs.iter().map(|p| p.distance).fold(0.0, f64::max);
    Matching {
        pairs,
        unmatched_truth,
        unmatched_estimate,
        max_distance,
    }
}

/// Assignment of each of `nr` rows to a distinct one of `nc ≥ nr` columns minimising
/// `max d(i, σ(i))`, ties broken by `Σ d(i, σ(i))`.
fn bottleneck_assignment(nr: usize, nc: usize, dist: &dyn Fn(usize, usize) -> f64) -> Vec<usize> {
    let mut thresholds: Vec<f64> = (0..nr)
        .flat_map(|i| (0..nc).map(move |j| (i, j)))
        .map(|(i, j)| dist(i, j))
        .collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    // A complete matching using only edges with d ≤ θ exists iff the maximum-weight
    // assignment with weights 1{d ≤ θ} has weight nr. Monotone in θ: binary search.
    let feasible = |theta: f64| {
        let w = Matrix::from_fn(nr, nc, |(i, j)| i64::from(dist(i, j) <= theta));
        kuhn_munkres(&w).0 == nr as i64
    };
    let (mut lo, mut hi) = (0usize, thresholds.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if feasible(thresholds[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let theta = thresholds[lo];
    // Tie-break: minimum total distance among edges under the bottleneck. Costs are integers
    // (kuhn_munkres needs Ord); a forbidden edge costs more than any complete allowed matching.
    let largest = thresholds[thresholds.len() - 1].max(f64::MIN_POSITIVE);
    let forbidden = (COST_SCALE as i64 + 1) * (nr as i64 + 1);
    let cost = Matrix::from_fn(nr, nc, |(i, j)| {
        let d = dist(i, j);
        if d <= theta {
            (d / largest * COST_SCALE).round() as i64
        } else {
            forbidden
        }
    });
    kuhn_munkres_min(&cost).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    /// Truth {0, 1}, estimates {1.7, 0.6}: of the two assignments, 0↔0.6, 1↔1.7 has largest
    /// distance 0.7 and 0↔1.7, 1↔0.6 has 1.7, so the first is optimal.
    #[test]
    fn minimises_the_largest_distance() {
        let t = [C64::new(0.0, 0.0), C64::new(1.0, 0.0)];
        let e = [C64::new(1.7, 0.0), C64::new(0.6, 0.0)];
        let m = match_eigenvalues(&t, &e);
        assert_relative_eq!(m.max_distance, 0.7, epsilon = 1e-15);
        assert_eq!(m.pairs[0].estimate, 1);
        assert_eq!(m.pairs[1].estimate, 0);
    }

    /// With more estimates than true values, the far-away extra is the unmatched one; with fewer,
    /// a true value is left unmatched.
    #[test]
    fn extras_are_reported_unmatched() {
        let t = [C64::new(0.9, 0.1), C64::new(0.9, -0.1)];
        let e = [C64::new(0.9, -0.1), C64::new(0.01, 0.0), C64::new(0.9, 0.1)];
        let m = match_eigenvalues(&t, &e);
        assert_eq!(m.unmatched_estimate, vec![1]);
        assert_eq!(m.max_distance, 0.0);
        let back = match_eigenvalues(&e, &t);
        assert_eq!(back.unmatched_truth, vec![1]);
        assert_eq!(back.max_distance, 0.0);
    }
}
