//! The entry point: analyse a trained network against the true system and state a verdict.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::dynamics::{FixedPointOptions, FixedPointSearch, Linearisation, linearise};
use crate::eigen::{C64, eigenvalues};
use crate::error::{AnalysisError, Result, check_finite};
use crate::matching::{Matching, match_eigenvalues};
use crate::modes::{ModeRanking, energy_share_of, rank_modes};
use crate::similarity::{
    MarkovComparison, SimilarityFit, StateRegression, StateSpace, compare_markov,
    estimate_similarity,
};
use dynrec_core::serde_matrix;
use dynrec_core::weights::{Activation, Mode, RnnWeights};

/// The system the data came from, as plain matrices.
///
/// ```text
/// x_k = A x_{k-1} + B u_k + w_k,   z_k = H x_k + v_k
/// ```
///
/// `predictor_gain` is the steady-state Kalman predictor gain `K = A P Hᵀ S⁻¹` (from
/// `truth`'s steady state); it is needed to compare a predictor network's `U` with `A − K H`.
///
/// # Shapes
/// - `a`: `[n, n]`, `b`: `[n, m]` or `None`, `h`: `[p, n]`, `predictor_gain`: `[n, p]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrueSystem {
    /// Dynamics `A`.
    #[serde(with = "serde_matrix::rows")]
    pub a: DMatrix<f64>,
    /// Input matrix `B` (`None`: no inputs).
    #[serde(with = "serde_matrix::option_rows")]
    pub b: Option<DMatrix<f64>>,
    /// Measurement matrix `H`.
    #[serde(with = "serde_matrix::rows")]
    pub h: DMatrix<f64>,
    /// Steady-state predictor gain `K`.
    #[serde(with = "serde_matrix::option_rows")]
    pub predictor_gain: Option<DMatrix<f64>>,
}

impl TrueSystem {
    /// Checks shapes and finiteness.
    pub fn new(
        a: DMatrix<f64>,
        b: Option<DMatrix<f64>>,
        h: DMatrix<f64>,
        predictor_gain: Option<DMatrix<f64>>,
    ) -> Result<Self> {
        let n = a.nrows();
        let b_matrix = b.clone().unwrap_or_else(|| DMatrix::zeros(n, 0));
        StateSpace::new(a.clone(), b_matrix, h.clone())?;
        if let Some(k) = &predictor_gain {
            if k.nrows() != n || k.ncols() != h.nrows() {
                return Err(AnalysisError::Dimension(format!(
                    "predictor gain K is {}x{}, expected {}x{}",
                    k.nrows(),
                    k.ncols(),
                    n,
                    h.nrows()
                )));
            }
            check_finite("K", k.iter())?;
        }
        Ok(Self {
            a,
            b,
            h,
            predictor_gain,
        })
    }

    /// State dimension `n`.
    pub fn order(&self) -> usize {
        self.a.nrows()
    }

    /// `B`, or an `n × 0` matrix without inputs.
    pub fn input_matrix(&self) -> DMatrix<f64> {
        self.b
            .clone()
            .unwrap_or_else(|| DMatrix::zeros(self.order(), 0))
    }

    /// `A − K H`, the dynamics of the steady-state Kalman predictor, when `K` is known.
    pub fn closed_loop(&self) -> Option<DMatrix<f64>> {
        self.predictor_gain.as_ref().map(|k| &self.a - k * &self.h)
    }
}

/// Settings of [`analyse`], with documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnalysisConfig {
    /// Eigenvalues "agree" when the eigen error is at most this. Default 1e-2.
    pub tolerance: f64,
    /// Markov parameters are compared for lags `0..=markov_horizon`. Default 20.
    pub markov_horizon: usize,
    /// Fraction of output energy the dominant modes must carry. Default 0.99.
    pub energy_fraction: f64,
    /// Fixed-point search for nonlinear networks.
    pub fixed_points: FixedPointOptions,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            tolerance: 1e-2,
            markov_horizon: 20,
            energy_fraction: 0.99,
            fixed_points: FixedPointOptions::default(),
        }
    }
}

/// A classical estimate of `A` placed beside the RNN's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Method name, e.g. `"n4sid"`; the key in `report.json`.
    pub name: String,
    /// Eigenvalues of the estimated `A`.
    #[serde(with = "serde_matrix::complex_vec")]
    pub eigenvalues: Vec<C64>,
    /// Matching against the true eigenvalues, when the truth is known.
    pub matching: Option<Matching>,
}

/// Names that [`Analysis::add_baseline`] refuses, because `report.json` uses them already.
pub const RESERVED_KEYS: [&str; 5] = [
    "truth",
    "rnn",
    "recurrent",
    "closed_loop",
    "recurrent_vs_closed_loop",
];

/// Everything the analysis found. Eigenvalue lists are in [`eigenvalues`] order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Simulation or predictor.
    pub mode: Mode,
    /// The network's nonlinearity.
    pub activation: Activation,
    /// Hidden size.
    pub d_hidden: usize,
    /// True state dimension `n`, when known.
    pub order: Option<usize>,
    /// The agreement tolerance used in the verdict.
    pub tolerance: f64,
    /// eig(A).
    #[serde(with = "serde_matrix::complex_vec")]
    pub truth: Vec<C64>,
    /// eig(A − K H), when `K` is known.
    #[serde(with = "serde_matrix::complex_vec")]
    pub closed_loop: Vec<C64>,
    /// eig(U) as trained.
    #[serde(with = "serde_matrix::complex_vec")]
    pub recurrent: Vec<C64>,
    /// eig of the recovered dynamics ([`Linearisation::dynamics`]).
    #[serde(with = "serde_matrix::complex_vec")]
    pub rnn: Vec<C64>,
    /// Recovered dynamics vs eig(A).
    pub rnn_matching: Option<Matching>,
    /// eig(U) vs eig(A).
    pub recurrent_matching: Option<Matching>,
    /// eig(D U) vs eig(A − K H) (predictor mode with known `K`).
    pub closed_loop_matching: Option<Matching>,
    /// The linearised network (the recovered dynamics and their input and output matrices).
    pub linearisation: Linearisation,
    /// Every fixed point found (nonlinear networks).
    pub fixed_points: Option<FixedPointSearch>,
    /// The similarity transform, when the orders agree and `T` is identifiable.
    pub similarity: Option<SimilarityFit>,
    /// Markov parameters true vs learned.
    pub markov: Option<MarkovComparison>,
    /// The recovered system's modes ranked by their contribution to the output.
    pub modes: Option<ModeRanking>,
    /// Output-energy share of the recovered modes left unmatched to a true eigenvalue, taken
    /// together (cross terms included, see [`crate::modes`]), when the truth is known.
    #[serde(default)]
    pub extra_mode_energy: Option<f64>,
    /// Regression of hidden on true states, when the caller supplies trajectories.
    pub state_regression: Option<StateRegression>,
    /// Classical estimates.
    pub baselines: Vec<Baseline>,
    /// Why a part of the analysis is missing, and other remarks.
    pub notes: Vec<String>,
    /// One sentence with numbers: did the weights reveal A?
    pub verdict: String,
}

/// Analyses `weights` against `truth` (if known).
///
/// `input_mean` is the mean network input `ū` (length `d_input`: in predictor mode the inputs
/// and then the mean measurement); `None` means zeros. It only matters for nonlinear networks,
/// which are linearised about the fixed point they settle at when fed `ū`.
///
/// What is compared with what:
/// - eig(recovered dynamics) with eig(A): the `rnn` eigen error, the verdict's number;
/// - eig(U) with eig(A): the `recurrent` eigen error;
/// - in predictor mode, eig(D U) with eig(A − K H);
/// - `T` between `(A, B, H)` (predictor: `(A, [B | K], H)`) and the linearised network
///   `(D U | D(U + W_z V), D W, V)`, when `d_hidden = n`;
/// - Markov parameters of the same pair, any hidden size.
pub fn analyse(
    weights: &RnnWeights,
    truth: Option<&TrueSystem>,
    input_mean: Option<&DVector<f64>>,
    config: &AnalysisConfig,
) -> Result<Analysis> {
    let zeros = DVector::zeros(weights.d_input());
    let input_mean = input_mean.unwrap_or(&zeros);
    let mut notes = Vec::new();
    let (linearisation, fixed_points) = match linearise(weights, input_mean, &config.fixed_points) {
        Ok(found) => found,
        Err(AnalysisError::NoFixedPoint) => {
            notes.push(format!(
                "No fixed point of the {} network was found for the mean input, so it could not \
                 be linearised; U itself is used as the dynamics.",
                activation_name(weights.activation)
            ));
            let identity = crate::dynamics::Linearisation {
                operating_point: None,
                slopes: DVector::from_element(weights.d_hidden(), 1.0),
                recurrent: weights.u.clone(),
                dynamics: match weights.w_measurements() {
                    Some(w_z) => crate::dynamics::predictor_dynamics(&weights.u, &w_z, &weights.v)?,
                    None => weights.u.clone(),
                },
                input: weights.w.clone(),
                output: weights.v.clone(),
            };
            (identity, None)
        }
        Err(e) => return Err(e),
    };
    let recurrent = eigenvalues(&weights.u)?;
    let rnn = eigenvalues(&linearisation.dynamics)?;

    let mut analysis = Analysis {
        mode: weights.mode,
        activation: weights.activation,
        d_hidden: weights.d_hidden(),
        order: truth.map(TrueSystem::order),
        tolerance: config.tolerance,
        truth: Vec::new(),
        closed_loop: Vec::new(),
        recurrent,
        rnn,
        rnn_matching: None,
        recurrent_matching: None,
        closed_loop_matching: None,
        linearisation,
        fixed_points,
        similarity: None,
        markov: None,
        modes: None,
        extra_mode_energy: None,
        state_regression: None,
        baselines: Vec::new(),
        notes,
        verdict: String::new(),
    };
    let lin = &analysis.linearisation;

    // The learned system to compare: the whole input matrix in predictor mode when K is known
    // (against [B | K]); otherwise only the columns fed by the inputs u_k (against B).
    let with_gain =
        weights.mode == Mode::Predictor && truth.is_some_and(|t| t.predictor_gain.is_some());
    let learned_input = if weights.mode == Mode::Predictor && !with_gain {
        let m = weights.w_inputs().ncols();
        lin.input.columns(0, m).into_owned()
    } else {
        lin.input.clone()
    };
    let learned = StateSpace::new(lin.dynamics.clone(), learned_input, lin.output.clone())?;

    match rank_modes(&learned, config.energy_fraction) {
        Ok(r) => analysis.modes = Some(r),
        Err(e) => analysis.notes.push(format!("Modes not ranked: {e}.")),
    }

    if let Some(truth) = truth {
        analysis.truth = eigenvalues(&truth.a)?;
        analysis.rnn_matching = Some(match_eigenvalues(&analysis.truth, &analysis.rnn));
        analysis.recurrent_matching = Some(match_eigenvalues(&analysis.truth, &analysis.recurrent));
        if let Some(m) = &analysis.rnn_matching
            && analysis.modes.is_some()
        {
            match energy_share_of(&learned, &m.unmatched_estimate) {
                Ok(share) => analysis.extra_mode_energy = Some(share),
                Err(e) => analysis
                    .notes
                    .push(format!("Energy of the unmatched modes not computed: {e}.")),
            }
        }
        if weights.mode == Mode::Predictor {
            match truth.closed_loop() {
                Some(acl) => {
                    analysis.closed_loop = eigenvalues(&acl)?;
                    let du = eigenvalues(&analysis.linearisation.recurrent)?;
                    analysis.closed_loop_matching =
                        Some(match_eigenvalues(&analysis.closed_loop, &du));
                }
                None => analysis.notes.push(
                    "No predictor gain K was given: eig(U) is not compared with eig(A − K H)."
                        .to_string(),
                ),
            }
        }
        let mut true_input = truth.input_matrix();
        if with_gain && let Some(k) = &truth.predictor_gain {
            // [B | K]
            let m = true_input.ncols();
            let mut bk = DMatrix::zeros(truth.order(), m + k.ncols());
            bk.columns_mut(0, m).copy_from(&true_input);
            bk.columns_mut(m, k.ncols()).copy_from(k);
            true_input = bk;
        }
        let true_ss = StateSpace::new(truth.a.clone(), true_input, truth.h.clone())?;
        match compare_markov(&true_ss, &learned, config.markov_horizon) {
            Ok(m) => analysis.markov = Some(m),
            Err(e) => analysis
                .notes
                .push(format!("Markov parameters not compared: {e}.")),
        }
        if learned.order() == true_ss.order() {
            match estimate_similarity(&true_ss, &learned) {
                Ok(fit) => analysis.similarity = Some(fit),
                Err(e) => analysis
                    .notes
                    .push(format!("No similarity transform: {e}.")),
            }
        } else {
            analysis.notes.push(format!(
                "No similarity transform: the network has {} hidden units for {} true states.",
                learned.order(),
                true_ss.order()
            ));
        }
    }
    analysis.verdict = verdict(&analysis);
    Ok(analysis)
}

impl Analysis {
    /// Places a classical estimate of `A` beside the RNN's (matched against the truth, if known)
    /// and returns it.
    pub fn add_baseline(&mut self, name: &str, a_estimate: &DMatrix<f64>) -> Result<&Baseline> {
        if RESERVED_KEYS.contains(&name) || self.baselines.iter().any(|b| b.name == name) {
            return Err(AnalysisError::Dimension(format!(
                "baseline name {name:?} is reserved or already used"
            )));
        }
        let eig = eigenvalues(a_estimate)?;
        let matching = (!self.truth.is_empty()).then(|| match_eigenvalues(&self.truth, &eig));
        self.baselines.push(Baseline {
            name: name.to_string(),
            eigenvalues: eig,
            matching,
        });
        Ok(&self.baselines[self.baselines.len() - 1])
    }

    /// Regresses the network's hidden states on the true states (`h_k ≈ T x_k + c`, with R²)
    /// and keeps the result in [`Analysis::state_regression`].
    ///
    /// # Shapes
    /// - `hidden`: `[N, d_hidden]`, `states`: `[N, n]`, one row per time step
    pub fn set_state_regression(
        &mut self,
        hidden: &DMatrix<f64>,
        states: &DMatrix<f64>,
    ) -> Result<()> {
        self.state_regression = Some(crate::similarity::regress_hidden_on_state(hidden, states)?);
        Ok(())
    }

    /// The `rnn` eigen error: the largest matched `|λ_true − λ_rnn|`.
    pub fn eigen_error(&self) -> Option<f64> {
        self.rnn_matching.as_ref().map(|m| m.max_distance)
    }

    /// Whether the recovered dynamics agree with A within the tolerance.
    pub fn reveals_a(&self) -> bool {
        self.rnn_matching
            .as_ref()
            .is_some_and(|m| m.max_distance <= self.tolerance && m.unmatched_truth.is_empty())
    }

    /// Output-energy share of the recovered modes that have no true partner (taken together).
    pub fn extra_mode_energy(&self) -> Option<f64> {
        self.extra_mode_energy
    }
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Linear => "linear",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    }
}

/// `3.1e-4`-style number.
fn sci(x: f64) -> String {
    format!("{x:.1e}")
}

/// The one-sentence verdict, built from the numbers in `a`.
fn verdict(a: &Analysis) -> String {
    let tol = sci(a.tolerance);
    let Some(rnn) = &a.rnn_matching else {
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
        return format!(
            "No true system was given, so whether the weights reveal A cannot be checked: the \
             recovered dynamics have spectral radius {}{dominant}.",
            sci(a.rnn.iter().map(|z| z.norm()).fold(0.0, f64::max))
        );
    };
    let err = sci(rnn.max_distance);
    let n = a.order.unwrap_or(0);
    let similarity = match &a.similarity {
        Some(fit) => format!("; T found with residual {}", sci(fit.residual())),
        None if a.d_hidden != n => String::new(),
        None => "; no similarity transform could be estimated".to_string(),
    };
    let extras = match (a.d_hidden > n, a.extra_mode_energy()) {
        (true, Some(share)) if a.d_hidden - n == 1 => format!(
            "; the extra mode carries {} of the output energy",
            sci(share)
        ),
        (true, Some(share)) => format!(
            "; the {} extra modes carry {} of the output energy",
            a.d_hidden - n,
            sci(share)
        ),
        _ => String::new(),
    };
    let recurrent_err = a
        .recurrent_matching
        .as_ref()
        .map_or(String::new(), |m| sci(m.max_distance));

    if !a.reveals_a() {
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
                sci(p.spectral_radius)
            ));
        }
        if let Some(m) = &a.markov {
            reasons.push(format!(
                "its Markov parameters are off by {} (relative)",
                sci(m.relative_error)
            ));
        }
        let reasons = if reasons.is_empty() {
            String::new()
        } else {
            format!("; {}", reasons.join("; "))
        };
        return format!(
            "The learned weights do not reveal A: the recovered dynamics' eigenvalues differ from \
             eig(A) by up to {err} (tolerance {tol}){reasons}."
        );
    }

    match (a.mode, a.activation) {
        (Mode::Simulation, Activation::Linear) => format!(
            "The learned recurrence reveals A: eigenvalues agree to {err} (tolerance {tol}){similarity}{extras}."
        ),
        (Mode::Predictor, activation) => {
            let what = if activation == Activation::Linear {
                "U"
            } else {
                "The Jacobian D U"
            };
            let cl = a.closed_loop_matching.as_ref().map_or(String::new(), |m| {
                if m.max_distance <= a.tolerance {
                    format!(
                        "{what} matches A − K H to {}, not A (off by {recurrent_err}); ",
                        sci(m.max_distance)
                    )
                } else {
                    format!(
                        "{what} is off A − K H by {} and off A by {recurrent_err}; ",
                        sci(m.max_distance)
                    )
                }
            });
            let recovered = if activation == Activation::Linear {
                "U + W_z V"
            } else {
                "D (U + W_z V) at the fixed point"
            };
            let cl = if cl.is_empty() {
                format!("U is not A (off by {recurrent_err}); ")
            } else {
                cl
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
