//! The classical baselines beside the RNN (claim 5 of docs/design.md): N4SID, then EM initialised from
//! N4SID, fitted on the same training data, compared on the same held-out data.
//!
//! The model order is the true one when the system is known, otherwise N4SID's largest
//! singular-value gap. A baseline the data cannot support (too few windows for the Hankel
//! matrices, a singular covariance in EM, …) is left out with a note saying why; the run goes
//! on.

use std::time::Instant;

use anyhow::Result;
use dynrec_sysid::{N4sidConfig, em, n4sid};
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
}

/// The fitted baselines of a run.
#[derive(Debug, Default)]
pub struct Baselines {
    /// One per reported method, with its estimate.
    pub fitted: Vec<(BaselineOutcome, LinearSystem)>,
    /// N4SID's singular values and the order used, when N4SID ran.
    pub singular_values: Option<(Vec<f64>, usize)>,
    /// How the order was chosen (`"the true order"` or the gap).
    pub order_source: String,
    /// Remarks for the report: the order's origin, baselines left out and why.
    pub notes: Vec<String>,
}

/// Fits the baselines `spec` asks for on `train` and measures them on `held_out`. Errors of a
/// method become notes; only a failure to evaluate a fitted estimate is an error.
pub fn fit_baselines(
    spec: &BaselineSpec,
    train: &Dataset,
    held_out: &Dataset,
    true_order: Option<usize>,
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
    let started = Instant::now();
    let config = N4sidConfig {
        block_rows: spec.block_rows,
        order: true_order,
        max_order: None,
    };
    let n4 = match n4sid(&train.sequences, &config) {
        Ok(n4) => n4,
        Err(e) => {
            out.notes.push(format!(
                "Classical baselines left out: N4SID ({} block rows{}) failed on the training \
                 data: {e}.{}",
                spec.block_rows,
                true_order.map_or(String::new(), |n| format!(", order {n}")),
                if methods.em() {
                    " EM, which starts from N4SID's estimate, did not run either."
                } else {
                    ""
                }
            ));
            return Ok(out);
        }
    };
    let n4_seconds = started.elapsed().as_secs_f64();
    out.order_source = match true_order {
        Some(_) => "the true order".to_string(),
        None => {
            let s = &n4.singular_values;
            format!(
                "largest singular-value gap (s_{0}/s_{1} = {2:.1})",
                n4.order,
                n4.order + 1,
                s[n4.order - 1] / s.get(n4.order).copied().unwrap_or(0.0)
            )
        }
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
    if methods.n4sid() {
        let outcome = evaluate("n4sid", &n4.system, n4_seconds, held_out)?;
        out.fitted.push((outcome, n4.system.clone()));
    }
    if methods.em() {
        let started = Instant::now();
        match em(&train.sequences, &n4.system, &spec.em) {
            Ok(fit) => {
                let seconds = started.elapsed().as_secs_f64();
                let mut outcome = evaluate("em", &fit.system, seconds, held_out)?;
                outcome.log_likelihood = fit.log_likelihoods.last().copied();
                outcome.iterations = Some(fit.iterations);
                outcome.converged = Some(fit.converged);
                if !fit.converged {
                    out.notes.push(format!(
                        "EM stopped at its budget of {} iterations before the relative \
                         tolerance {:.0e}.",
                        spec.em.max_iterations, spec.em.tolerance
                    ));
                }
                out.fitted.push((outcome, fit.system));
            }
            Err(e) => out.notes.push(format!(
                "EM left out: it failed from N4SID's estimate on the training data: {e}."
            )),
        }
    }
    Ok(out)
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
    })
}
