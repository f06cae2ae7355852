//! The one-sentence verdict: did the trained weights reveal `A`, and by which numbers?
//!
//! The sentence is built from an [`Analysis`] alone, in one of three forms:
//! - no truth: the recovered dynamics' spectral radius `max |λ_rnn|` and the dominant modes;
//! - a shortfall: the eigen error `max_i |λ_true,i − λ_rnn,π(i)|` (optimal matching `π`) above
//!   the tolerance, with the reasons found (too few hidden units, an unstable operating point,
//!   the Markov parameters' relative error);
//! - agreement: the eigen error, how `A` is recovered (`U`; `U + W_z V` for a predictor; the
//!   Jacobian `D U` or `D (U + W_z V)` at a fixed point for a nonlinear network), the residual
//!   of `T` and the output-energy share of any extra modes.
//!
//! When the truth is itself the linearisation of a nonlinear system, the sentence says so at
//! its end ([`LinearisationPoint::verdict_suffix`]).

use dynrec_core::fmt::sci;
use dynrec_core::weights::{Activation, Mode};

use crate::analysis::Analysis;
use crate::matching::Matching;
use crate::true_system::LinearisationPoint;

/// The name of an activation as the verdict, the notes and the report spell it.
pub(crate) fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Linear => "linear",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    }
}

/// `3.1e-4`-style number: one decimal.
fn sci1(x: f64) -> String {
    sci(x, 1)
}

/// The one-sentence verdict, built from the numbers in `a`; `linearised_at` (the truth is a
/// linearisation) appends where.
pub(crate) fn verdict(a: &Analysis, linearised_at: Option<&LinearisationPoint>) -> String {
    let mut sentence = match &a.rnn_matching {
        None => without_truth(a),
        Some(rnn) if !a.reveals_a() => shortfall(a, rnn),
        Some(rnn) => agreement(a, rnn),
    };
    if let Some(point) = linearised_at {
        sentence.push_str(&point.verdict_suffix());
    }
    sentence
}

/// No truth: only the spectral radius `max |λ_rnn|` and the dominant modes can be stated.
fn without_truth(a: &Analysis) -> String {
    let dominant = a
        .modes
        .as_ref()
        .map(|m| {
            format!(
                "; {} of its {} modes carry {:.0}% of the output energy",
                m.dominant_count(),
                m.modes.len(),
                100.0 * m.energy_fraction
            )
        })
        .unwrap_or_default();
    format!(
        "No true system was given, so whether the weights reveal A cannot be checked: the \
         recovered dynamics have spectral radius {}{dominant}.",
        sci1(a.rnn.iter().map(|z| z.norm()).fold(0.0, f64::max))
    )
}

/// The true state dimension `n` (0 when unknown).
fn order(a: &Analysis) -> usize {
    a.order.unwrap_or(0)
}

/// The recovered dynamics do not agree with `A`: the eigen error and the reasons found.
fn shortfall(a: &Analysis, rnn: &Matching) -> String {
    let reasons = shortfall_reasons(a);
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!("; {}", reasons.join("; "))
    };
    format!(
        "The learned weights do not reveal A: the recovered dynamics' eigenvalues differ from \
         eig(A) by up to {} (tolerance {}){reasons}.",
        sci1(rnn.max_distance),
        sci1(a.tolerance)
    )
}

/// Why the weights may fall short: too few hidden units (`d_hidden < n`), an unstable
/// operating fixed point (spectral radius of its Jacobian ≥ 1), and the relative error of the
/// Markov parameters.
fn shortfall_reasons(a: &Analysis) -> Vec<String> {
    let n = order(a);
    let mut reasons = Vec::new();
    if a.d_hidden < n {
        reasons.push(format!(
            "the network has only {} hidden units for {} states",
            a.d_hidden, n
        ));
    }
    if let Some(fp) = &a.fixed_points
        && let Some(p) = fp.operating_point()
        && !p.stable
    {
        reasons.push(format!(
            "its operating fixed point is unstable (spectral radius {})",
            sci1(p.spectral_radius)
        ));
    }
    if let Some(m) = &a.markov {
        reasons.push(format!(
            "its Markov parameters are off by {} (relative)",
            sci1(m.relative_error)
        ));
    }
    reasons
}

/// The recovered dynamics agree with `A`: how `A` is recovered, by mode and activation.
fn agreement(a: &Analysis, rnn: &Matching) -> String {
    let err = sci1(rnn.max_distance);
    let tol = sci1(a.tolerance);
    let similarity = similarity_clause(a);
    let extras = extras_clause(a);
    let recurrent_err = a
        .recurrent_matching
        .as_ref()
        .map_or(String::new(), |m| sci1(m.max_distance));
    match (a.mode, a.activation) {
        (Mode::Simulation, Activation::Linear) => format!(
            "The learned recurrence reveals A: eigenvalues agree to {err} (tolerance {tol}){similarity}{extras}."
        ),
        (Mode::Predictor, activation) => {
            let cl = closed_loop_clause(a, activation, &recurrent_err);
            let recovered = if activation == Activation::Linear {
                "U + W_z V"
            } else {
                "D (U + W_z V) at the fixed point"
            };
            format!(
                "{cl}A is recovered as {recovered}, whose eigenvalues agree with eig(A) to {err} \
                 (tolerance {tol}){similarity}{extras}."
            )
        }
        (Mode::Simulation, activation) => {
            let stable = a
                .fixed_points
                .as_ref()
                .and_then(|f| f.operating_point())
                .map_or("", |p| if p.stable { "stable " } else { "unstable " });
            format!(
                "The Jacobian of the {} network at its {stable}fixed point reveals A: eigenvalues \
                 agree to {err} (tolerance {tol}), while U alone is off by {recurrent_err}{similarity}{extras}.",
                activation_name(activation)
            )
        }
    }
}

/// A predictor's recurrence compared with the Kalman predictor's `A − K H` (when `K` is
/// known), else with `A`: the clause that opens its verdict.
fn closed_loop_clause(a: &Analysis, activation: Activation, recurrent_err: &str) -> String {
    let what = if activation == Activation::Linear {
        "U"
    } else {
        "The Jacobian D U"
    };
    match &a.closed_loop_matching {
        Some(m) if m.max_distance <= a.tolerance => format!(
            "{what} matches A − K H to {}, not A (off by {recurrent_err}); ",
            sci1(m.max_distance)
        ),
        Some(m) => format!(
            "{what} is off A − K H by {} and off A by {recurrent_err}; ",
            sci1(m.max_distance)
        ),
        None => format!("U is not A (off by {recurrent_err}); "),
    }
}

/// The residual of the similarity transform `T`, or that none was found when the orders
/// agree (nothing when they differ: no `T` exists then).
fn similarity_clause(a: &Analysis) -> String {
    match &a.similarity {
        Some(fit) => format!("; T found with residual {}", sci1(fit.residual())),
        None if a.d_hidden != order(a) => String::new(),
        None => "; no similarity transform could be estimated".to_string(),
    }
}

/// With `d_hidden > n`: the output-energy share of the `d_hidden − n` extra modes together.
fn extras_clause(a: &Analysis) -> String {
    let n = order(a);
    match (a.d_hidden > n, a.extra_mode_energy()) {
        (true, Some(share)) if a.d_hidden - n == 1 => format!(
            "; the extra mode carries {} of the output energy",
            sci1(share)
        ),
        (true, Some(share)) => format!(
            "; the {} extra modes carry {} of the output energy",
            a.d_hidden - n,
            sci1(share)
        ),
        _ => String::new(),
    }
}
