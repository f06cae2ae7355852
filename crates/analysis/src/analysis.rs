//! The entry point: analyse a trained network against the true system and state a verdict.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::dynamics::{FixedPointOptions, FixedPointSearch, Linearisation, linearise};
use crate::eigen::{C64, eigenvalues};
use crate::error::{AnalysisError, Result};
use crate::matching::{Matching, match_eigenvalues};
use crate::modes::{ModeRanking, energy_share_of, rank_modes};
use crate::similarity::{
    MarkovComparison, SimilarityFit, StateRegression, StateSpace, compare_markov,
    estimate_similarity,
};
use crate::verdict::{activation_name, verdict};
use dynrec_core::serde_matrix;
use dynrec_core::weights::{Activation, Mode, RnnWeights};

pub use crate::true_system::{LinearisationPoint, TrueSystem};

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
    /// The Cramér–Rao bound on the true eigenvalues for this run's data (see
    /// [`Analysis::add_bound`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<crate::bound::EigenvalueBound>,
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
    let linearised_at = truth.and_then(|t| t.linearisation_point.as_ref());
    // A linearised truth is said first: every number below is about its linearisation.
    let mut notes: Vec<String> = linearised_at
        .map(LinearisationPoint::note)
        .into_iter()
        .collect();
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
        bound: None,
        notes,
        verdict: String::new(),
    };
    let lin = &analysis.linearisation;

    // The learned system to compare: the whole input matrix in predictor mode when K is known
    // (against [B | K]); only the columns fed by the inputs u_k when a truth without K is
    // (against B). Without a truth the whole input too: a predictor is then read in its
    // innovations form, x_{k+1} = (U + W_z V) x_k + W_u u_k + W_z e_k, whose modes are driven
    // by the innovations e_k = z_k − y_k even when there are no inputs u_k.
    let with_gain =
        weights.mode == Mode::Predictor && truth.is_some_and(|t| t.predictor_gain.is_some());
    let learned_input = if weights.mode == Mode::Predictor && !with_gain && truth.is_some() {
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
    analysis.verdict = verdict(&analysis, linearised_at);
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
