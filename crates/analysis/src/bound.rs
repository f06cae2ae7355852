//! How close to the limit? The Cramér–Rao bound on the true eigenvalues for the data of a run,
//! and every eigen error as a multiple of it.
//!
//! The bound itself is computed elsewhere (`dynrec_sysid::crb`, from the exact Fisher
//! information of the Gaussian likelihood over the run's sequences); here it is placed beside
//! the errors. The statistic matches the eigen error's: the error is `max_i |λ_i − λ̂_π(i)|`,
//! the bound `max_i σ_i` with `σ_i² = Var(Re λ̂_i) + Var(Im λ̂_i)` at the bound, so
//! `eigen error / max σ` near 1 means "as precise as the data allow" (an efficient estimator's
//! `|λ̂ − λ|` is about 0.9 σ on average, its maximum over a conjugate pair the same).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::eigen::C64;

/// The Cramér–Rao bound on the eigenvalues of the truth (and of `A − K H`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EigenvalueBound {
    /// `σ_i` for each eigenvalue of [`Analysis::truth`], in that order.
    pub std_devs: Vec<f64>,
    /// `max_i σ_i`.
    pub max_std: f64,
    /// `σ_i` for each eigenvalue of [`Analysis::closed_loop`] (predictor mode, when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop_std_devs: Option<Vec<f64>>,
    /// Their maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop_max_std: Option<f64>,
    /// What the bound is for (the data design it was computed on).
    pub design: String,
}

impl EigenvalueBound {
    /// The bound from per-eigenvalue standard deviations given with their eigenvalues
    /// (`values`, in any order), aligned with `truth` by nearest eigenvalue.
    pub fn aligned(truth: &[C64], values: &[(C64, f64)]) -> Vec<f64> {
        truth
            .iter()
            .map(|z| {
                values
                    .iter()
                    .min_by(|a, b| (a.0 - z).norm().total_cmp(&(b.0 - z).norm()))
                    .map_or(f64::NAN, |v| v.1)
            })
            .collect()
    }
}

impl Analysis {
    /// Places the Cramér–Rao bound beside the eigen errors and says in the verdict how far the
    /// network's error is from it.
    pub fn add_bound(&mut self, bound: EigenvalueBound) {
        let ratio = self
            .rnn_matching
            .as_ref()
            .map(|m| m.max_distance / bound.max_std);
        if let Some(r) = ratio {
            self.verdict.push_str(&format!(
                " The eigen error is {} the Cramér–Rao bound of this data (σ = {:.1e} per \
                 eigenvalue).",
                multiple(r),
                bound.max_std
            ));
        }
        self.notes.push(format!(
            "Cramér–Rao bound: {}; σ per eigenvalue = √(Var Re λ̂ + Var Im λ̂) at the bound, \
             {:.2e} at most{}.",
            bound.design,
            bound.max_std,
            bound
                .closed_loop_max_std
                .map_or(String::new(), |c| format!(", {c:.2e} for eig(A − K H)"))
        ));
        self.bound = Some(bound);
    }

    /// Every eigen error as a multiple of the bound's `max σ`: `rnn`, `recurrent` (simulation
    /// mode), each baseline by name, and `recurrent_vs_closed_loop` against the bound on
    /// eig(A − K H) (predictor mode).
    pub fn eigen_error_crb_ratios(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        let Some(bound) = &self.bound else {
            return out;
        };
        let mut put = |key: &str, error: Option<f64>, std: Option<f64>| {
            if let (Some(e), Some(s)) = (error, std) {
                out.insert(key.to_string(), e / s);
            }
        };
        let distance = |m: Option<&crate::matching::Matching>| m.map(|m| m.max_distance);
        put(
            "rnn",
            distance(self.rnn_matching.as_ref()),
            Some(bound.max_std),
        );
        // A predictor's U is compared with A − K H, not with A.
        if self.mode == dynrec_core::weights::Mode::Simulation {
            put(
                "recurrent",
                distance(self.recurrent_matching.as_ref()),
                Some(bound.max_std),
            );
        }
        for b in &self.baselines {
            put(&b.name, distance(b.matching.as_ref()), Some(bound.max_std));
        }
        put(
            "recurrent_vs_closed_loop",
            distance(self.closed_loop_matching.as_ref()),
            bound.closed_loop_max_std,
        );
        out
    }
}

/// `"1.93×"`: `r` with two decimals and a times sign.
fn multiple(r: f64) -> String {
    format!("{r:.2}×")
}
