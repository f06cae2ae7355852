//! The classical baselines beside the RNN (claim 5 of docs/design.md): N4SID, then EM initialised from
//! N4SID, fitted on the same training data, compared on the same held-out data.
//!
//! The model order is the true one when the system is known, otherwise the one asked for (the
//! network's hidden size, so that like is compared with like) and, when N4SID's largest
//! singular-value gap suggests another, that one too (see [`BaselineOrder`]). A baseline the data cannot support (too few windows for the Hankel
//! matrices, a singular covariance in EM, …) is left out with a note saying why; the run goes
//! on.

use std::time::Instant;

use anyhow::Result;
use dynrec_sysid::{N4sidConfig, N4sidResult, em, gap_order, n4sid};
use dynrec_truth::{Dataset, LinearSystem, Sequence};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::references::{kalman_predictions, output_error_predictions, pooled_mse};
use crate::spec::BaselineSpec;

/// What one baseline achieved (also in the report's `eigen_error` and `metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineOutcome {
    /// `"n4sid"` or `"em"`: the key in `report.json`.
    pub name: String,
    /// Model order of the estimate.
    pub order: usize,
    /// Eigen error of the estimated `A` against the true `A` (when known).
    pub eigen_error: Option<f64>,
    /// Seconds of the fit (EM: its iterations only, not the N4SID that initialises it).
    pub seconds: f64,
    /// Held-out one-step MSE of the Kalman predictor built on the estimate.
    pub heldout_mse_one_step: f64,
    /// Held-out MSE of the estimate fed the inputs alone (systems with inputs): comparable to
    /// a simulation-mode RNN.
    pub heldout_mse_output_error: Option<f64>,
    /// EM: log-likelihood of the training data at the end.
    pub log_likelihood: Option<f64>,
    /// EM: iterations taken.
    pub iterations: Option<usize>,
    /// EM: whether the relative tolerance was reached.
    pub converged: Option<bool>,
    /// Eigen error of the estimate's own steady-state predictor closed loop
    /// `A_b − K_b H_b` against the true `A − K H` (predictor-mode runs with a known truth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop_error: Option<f64>,
}

/// How the baselines' model order is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineOrder {
    /// The true system's order (the system is known).
    True(usize),
    /// The order asked for: the network's hidden size, so that the eigenvalue table compares
    /// like with like. When N4SID's singular-value gap suggests another order, the baselines
    /// are fitted at that one too, under the names `n4sid_gap` and `em_gap`.
    Asked(usize),
    /// N4SID's largest singular-value gap.
    Gap,
}

/// The fitted baselines of a run.
#[derive(Debug, Default)]
pub struct Baselines {
    /// One per reported method, with its estimate.
    pub fitted: Vec<(BaselineOutcome, LinearSystem)>,
    /// N4SID's singular values and the order of the first set (`n4sid`, `em`), when N4SID ran.
    pub singular_values: Option<(Vec<f64>, usize)>,
    /// How that order was chosen (`"the true order"`, the order asked for, or the gap).
    pub order_source: String,
    /// Remarks for the report: the orders and their origin, baselines left out and why.
    pub notes: Vec<String>,
}

/// Fits the baselines `spec` asks for on `train` at the order `order` chooses (and, for an
/// asked order that differs from the singular-value gap's, at the gap's order as well) and
/// measures them on `held_out`. Errors of a method become notes; only a failure to evaluate a
/// fitted estimate is an error.
pub fn fit_baselines(
    spec: &BaselineSpec,
    train: &Dataset,
    held_out: &Dataset,
    order: BaselineOrder,
) -> Result<Baselines> {
    let mut out = Baselines::default();
    let methods = spec.methods;
    if !(methods.n4sid() || methods.em()) {
        return Ok(out);
    }
    // Fit and evaluate in centred coordinates: the prediction errors, and so the MSEs, are the
    // same as in the original ones.
    let means = spec.remove_means.then(|| Means::of(train));
    let (train, held_out) = match &means {
        Some(m) => (&m.subtract(train), &m.subtract(held_out)),
        None => (train, held_out),
    };
    let fixed = match order {
        BaselineOrder::True(n) | BaselineOrder::Asked(n) => Some(n),
        BaselineOrder::Gap => None,
    };
    let Some((n4, n4_seconds)) = run_n4sid(spec, train, fixed, &mut out.notes) else {
        return Ok(out);
    };
    // The gap's own choice, when the order was asked for: N4SID's projection is the same at
    // every order, so the singular values above say where the gap is.
    let gap = gap_order(&n4.singular_values, None);
    out.order_source = match order {
        BaselineOrder::True(_) => "the true order".to_string(),
        BaselineOrder::Asked(n) => format!(
            "the order asked for (the network's {n} hidden units; the largest singular-value \
             gap is at order {gap}{})",
            if gap == n {
                ""
            } else {
                ", fitted too as `n4sid_gap` and `em_gap`"
            }
        ),
        BaselineOrder::Gap => gap_description(&n4.singular_values, n4.order),
    };
    out.notes.push(format!(
        "Classical baselines ({}) fitted on the training data with order {}, {}; N4SID used \
         {} block rows and {} windows.",
        match (methods.n4sid(), methods.em()) {
            (true, true) => "N4SID, and EM initialised from it",
            (true, false) => "N4SID",
            _ => "EM initialised from N4SID",
        },
        n4.order,
        out.order_source,
        spec.block_rows,
        n4.windows
    ));
    if let Some(m) = &means {
        out.notes.push(format!(
            "N4SID and EM were fitted with the training means removed (z̄ = {:?}{}); \
             their estimates are in those centred coordinates.",
            m.z.as_slice(),
            if m.u.is_empty() {
                String::new()
            } else {
                format!(", ū = {:?}", m.u.as_slice())
            }
        ));
    }
    out.singular_values = Some((n4.singular_values.clone(), n4.order));
    let data = (train, held_out);
    fit_set("", spec, &n4, n4_seconds, data, &mut out)?;
    if matches!(order, BaselineOrder::Asked(n) if n != gap)
        && let Some((n4_gap, seconds)) = run_n4sid(spec, train, Some(gap), &mut out.notes)
    {
        out.notes.push(format!(
            "`n4sid_gap` and `em_gap`: the same methods at order {gap}, {}.",
            gap_description(&n4_gap.singular_values, gap)
        ));
        fit_set("_gap", spec, &n4_gap, seconds, data, &mut out)?;
    }
    Ok(out)
}

/// N4SID at `order` (`None`: the gap's) on `train`, with its seconds; a failure becomes a note.
fn run_n4sid(
    spec: &BaselineSpec,
    train: &Dataset,
    order: Option<usize>,
    notes: &mut Vec<String>,
) -> Option<(N4sidResult, f64)> {
    let started = Instant::now();
    let config = N4sidConfig {
        block_rows: spec.block_rows,
        order,
        max_order: None,
    };
    match n4sid(&train.sequences, &config) {
        Ok(n4) => Some((n4, started.elapsed().as_secs_f64())),
        Err(e) => {
            notes.push(format!(
                "Classical baselines left out: N4SID ({} block rows{}) failed on the training \
                 data: {e}.{}",
                spec.block_rows,
                order.map_or(String::new(), |n| format!(", order {n}")),
                if spec.methods.em() {
                    " EM, which starts from N4SID's estimate, did not run either."
                } else {
                    ""
                }
            ));
            None
        }
    }
}

/// `"largest singular-value gap (s_n/s_{n+1} = r)"`.
fn gap_description(s: &[f64], n: usize) -> String {
    format!(
        "largest singular-value gap (s_{0}/s_{1} = {2:.1})",
        n,
        n + 1,
        s[n - 1] / s.get(n).copied().unwrap_or(0.0)
    )
}

/// N4SID's estimate (when asked for) and EM from it, named `n4sid{suffix}` and `em{suffix}`.
fn fit_set(
    suffix: &str,
    spec: &BaselineSpec,
    n4: &N4sidResult,
    n4_seconds: f64,
    (train, held_out): (&Dataset, &Dataset),
    out: &mut Baselines,
) -> Result<()> {
    if spec.methods.n4sid() {
        let outcome = evaluate(&format!("n4sid{suffix}"), &n4.system, n4_seconds, held_out)?;
        out.fitted.push((outcome, n4.system.clone()));
    }
    if spec.methods.em() {
        let started = Instant::now();
        match em(&train.sequences, &n4.system, &spec.em) {
            Ok(fit) => {
                let seconds = started.elapsed().as_secs_f64();
                let mut outcome = evaluate(&format!("em{suffix}"), &fit.system, seconds, held_out)?;
                outcome.log_likelihood = fit.log_likelihoods.last().copied();
                outcome.iterations = Some(fit.iterations);
                outcome.converged = Some(fit.converged);
                if !fit.converged {
                    out.notes.push(format!(
                        "EM{} stopped at its budget of {} iterations before the relative \
                         tolerance {:.0e}.",
                        if suffix.is_empty() {
                            String::new()
                        } else {
                            format!(" (`em{suffix}`)")
                        },
                        spec.em.max_iterations,
                        spec.em.tolerance
                    ));
                }
                out.fitted.push((outcome, fit.system));
            }
            Err(e) => out.notes.push(format!(
                "EM{} left out: it failed from N4SID's estimate on the training data: {e}.",
                if suffix.is_empty() {
                    String::new()
                } else {
                    format!(" (`em{suffix}`)")
                },
            )),
        }
    }
    Ok(())
}

/// The one-step MSE on `held_out` of `system`'s steady-state Kalman predictor, run as a
/// predictor network runs, with a fixed gain from the estimate's prior mean `x0`:
///
/// ```text
/// x̂_1 = x0,   ŷ_k = H x̂_k,   e_k = z_k − ŷ_k (0 in a missing component),
/// x̂_{k+1} = A x̂_k + B u_{k+1} + K e_k
/// ```
///
/// (`K` the steady-state predictor gain), in the coordinates the baselines were fitted in (the
/// training means removed when `spec.remove_means`). A linear network of the same order
/// represents exactly this predictor (`U = A − K H`, `W = [B | K]`, `V = H`, its first state
/// `h_1 = b` set to `x0`); the Kalman filter behind [`fit_baselines`]' one-step MSE also has a
/// time-varying gain from the prior covariance, which no time-invariant network has. `None`
/// when the estimate has no steady state.
pub fn steady_state_mse(
    spec: &BaselineSpec,
    train: &Dataset,
    held_out: &Dataset,
    system: &LinearSystem,
) -> Option<f64> {
    let gain = system.steady_state().ok()?.predictor_gain;
    let centred;
    let held_out = if spec.remove_means {
        centred = Means::of(train).subtract(held_out);
        &centred
    } else {
        held_out
    };
    let (a, h) = (system.a(), system.h());
    let pairs = held_out.sequences.iter().map(|s| {
        let mut x = system.noise().x0().clone();
        let mut out = DMatrix::zeros(h.nrows(), s.len());
        for k in 0..s.len() {
            let y = h * &x;
            out.set_column(k, &y);
            let e = DVector::from_fn(y.len(), |j, _| {
                let z = s.measurements[(j, k)];
                if z.is_finite() { z - y[j] } else { 0.0 }
            });
            x = a * &x + &gain * e;
            if let (Some(b), true) = (system.b(), k + 1 < s.len()) {
                x += b * s.inputs.column(k + 1);
            }
        }
        (&s.measurements, out)
    });
    Some(pooled_mse(pairs))
}

/// Per-channel means of a data set's inputs and present measurements.
struct Means {
    u: DVector<f64>,
    z: DVector<f64>,
}

impl Means {
    fn of(data: &Dataset) -> Self {
        let mean = |rows: usize, of: fn(&Sequence) -> &DMatrix<f64>| {
            DVector::from_fn(rows, |i, _| {
                let (sum, count) = data
                    .sequences
                    .iter()
                    .flat_map(|s| of(s).row(i).iter().copied().collect::<Vec<_>>())
                    .filter(|x| x.is_finite())
                    .fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
                sum / count.max(1) as f64
            })
        };
        Self {
            u: mean(data.n_inputs(), |s| &s.inputs),
            z: mean(data.n_outputs(), |s| &s.measurements),
        }
    }

    /// `data` with the means subtracted (missing measurements stay missing).
    fn subtract(&self, data: &Dataset) -> Dataset {
        let sequences = data
            .sequences
            .iter()
            .map(|s| Sequence {
                inputs: DMatrix::from_fn(s.inputs.nrows(), s.inputs.ncols(), |i, k| {
                    s.inputs[(i, k)] - self.u[i]
                }),
                measurements: DMatrix::from_fn(
                    s.measurements.nrows(),
                    s.measurements.ncols(),
                    |i, k| s.measurements[(i, k)] - self.z[i],
                ),
                ..s.clone()
            })
            .collect();
        Dataset::from_sequences(sequences)
    }
}

/// The estimate's held-out MSEs: one-step Kalman prediction, and output error from the inputs
/// alone when there are inputs.
fn evaluate(
    name: &str,
    system: &LinearSystem,
    seconds: f64,
    held_out: &Dataset,
) -> Result<BaselineOutcome> {
    let one_step = held_out
        .sequences
        .iter()
        .map(|s| Ok((&s.measurements, kalman_predictions(system, s)?)))
        .collect::<Result<Vec<_>>>()?;
    // From the estimate's own prior mean x0 (EM learns it), fed the inputs alone.
    let output_error = (system.n_inputs() > 0).then(|| {
        pooled_mse(
            held_out
                .sequences
                .iter()
                .map(|s| (&s.measurements, output_error_predictions(system, s))),
        )
    });
    Ok(BaselineOutcome {
        name: name.to_string(),
        order: system.n_states(),
        eigen_error: None,
        seconds,
        heldout_mse_one_step: pooled_mse(one_step),
        heldout_mse_output_error: output_error,
        log_likelihood: None,
        iterations: None,
        converged: None,
        closed_loop_error: None,
    })
}
