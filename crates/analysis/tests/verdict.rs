//! The verdict states the right conclusion with the numbers behind it.

use dynrec_analysis::{
    Activation, Analysis, AnalysisConfig, LinearisationPoint, Mode, RnnWeights, TrueSystem, analyse,
};
use nalgebra::{DMatrix, DVector};

mod common;
use common::{oscillator, oscillator_with_gain, predictor_network};

/// `weights` analysed against `truth` with the default configuration.
fn analysed(weights: &RnnWeights, truth: Option<&TrueSystem>) -> Analysis {
    analyse(weights, truth, None, &AnalysisConfig::default()).expect("analysis")
}

/// Asserts that `verdict` opens with `prefix`, showing the verdict when it does not.
fn assert_opens_with(verdict: &str, prefix: &str) {
    assert!(verdict.starts_with(prefix), "{verdict}");
}

fn network(u: DMatrix<f64>, activation: Activation) -> RnnWeights {
    RnnWeights {
        u,
        w: DMatrix::from_row_slice(2, 1, &[1.0, 0.5]),
        v: DMatrix::from_row_slice(1, 2, &[1.0, 0.0]),
        b: DVector::zeros(2),
        c: DVector::zeros(1),
        activation,
        mode: Mode::Simulation,
        bias: true,
    }
}

/// A linear simulation network with `U = A` (and `W = B`, `V = H`) reveals A: zero eigen
/// error, `T = I` with zero residual, and the verdict says "reveals A" with the numbers.
#[test]
fn exact_linear_network_reveals_a() {
    let truth = oscillator();
    let result = analysed(&network(truth.a.clone(), Activation::Linear), Some(&truth));
    assert_opens_with(
        &result.verdict,
        "The learned recurrence reveals A: eigenvalues agree to 0.0e0",
    );
    assert!(
        result
            .verdict
            .contains("(tolerance 1.0e-2); T found with residual")
    );
    assert!(result.reveals_a());
}

/// A tanh network with zero bias and zero mean input sits at the fixed point 0, where
/// `D = I`: its Jacobian is `U = A`, so the Jacobian reveals A (the verdict names the
/// linearisation, not U alone).
#[test]
fn tanh_network_at_origin_reveals_a_through_its_jacobian() {
    let truth = oscillator();
    let result = analysed(&network(truth.a.clone(), Activation::Tanh), Some(&truth));
    assert_opens_with(
        &result.verdict,
        "The Jacobian of the tanh network at its stable fixed point reveals A",
    );
    assert_eq!(result.eigen_error(), Some(0.0));
}

/// A network whose recurrence has eigenvalues 0.5 and 0.3 (truth: 0.9 ± 0.2i) does not reveal
/// A. Either assignment pairs some true eigenvalue with 0.3, at distance
/// `|0.9 + 0.2i − 0.3| = sqrt(0.36 + 0.04) = 0.632`, which is the eigen error; the verdict says
/// so with that number.
#[test]
fn wrong_network_gets_an_honest_negative() {
    let truth = oscillator();
    let result = analysed(
        &network(
            DMatrix::from_row_slice(2, 2, &[0.5, 0.0, 0.0, 0.3]),
            Activation::Linear,
        ),
        Some(&truth),
    );
    let expected = (0.6_f64 * 0.6 + 0.2 * 0.2).sqrt();
    approx::assert_relative_eq!(
        result.eigen_error().expect("truth"),
        expected,
        epsilon = 1e-14
    );
    assert_opens_with(
        &result.verdict,
        "The learned weights do not reveal A: the recovered dynamics' eigenvalues differ from eig(A) by up to 6.3e-1 (tolerance 1.0e-2)",
    );
    assert!(!result.reveals_a());
}

/// A tanh predictor network carrying the Kalman predictor weights (`U = A − K H`, `W_z = K`,
/// `V = H`) with zero bias and zero mean input sits at the fixed point 0 (`D = I`): its
/// Jacobian `D U` matches A − K H and `D (U + W_z V) = A` is recovered exactly.
#[test]
fn tanh_predictor_recovers_a_through_the_loop() {
    let truth = oscillator_with_gain();
    let identity = DMatrix::identity(2, 2);
    let result = analysed(
        &predictor_network(&truth, &identity, Activation::Tanh),
        Some(&truth),
    );
    assert_eq!(result.eigen_error(), Some(0.0));
    assert_opens_with(
        &result.verdict,
        "The Jacobian D U matches A − K H to 0.0e0, not A",
    );
    assert!(
        result
            .verdict
            .contains("A is recovered as D (U + W_z V) at the fixed point")
    );
}

/// Without a true system nothing can be revealed, and the verdict says so instead of
/// claiming agreement; no truth keys are produced.
#[test]
fn without_truth_the_verdict_declines() {
    let truth = oscillator();
    let result = analysed(&network(truth.a.clone(), Activation::Linear), None);
    assert_opens_with(&result.verdict, "No true system was given");
    assert!(result.truth.is_empty() && result.eigen_error().is_none());
}

/// The equilibrium of a pendulum-like system, for the linearisation tests.
fn top() -> LinearisationPoint {
    LinearisationPoint {
        system: "pendulum (g/l = 9.81, damping 0.1)".to_string(),
        equilibrium: "top".to_string(),
        state: vec![std::f64::consts::PI, 0.0],
    }
}

/// A truth that is the linearisation of a nonlinear system gets, first among the notes, the
/// sentence naming the system, the equilibrium and `x*` (`{:?}` of the state), and a verdict
/// ending in `` (A: the linearisation at the equilibrium `top`.)``, in exactly the runner's
/// former wording; a linear truth with the same matrices gets neither, and everything else in
/// the two analyses is equal. (A predictor without `K` is used so that another note exists
/// for the linearisation note to precede.)
#[test]
fn linearised_truth_gets_the_note_first_and_the_verdict_suffix() {
    let linear_truth = oscillator();
    let weights = predictor_network(
        &oscillator_with_gain(),
        &DMatrix::identity(2, 2),
        Activation::Linear,
    );
    let linear = analysed(&weights, Some(&linear_truth));
    let linearised = analysed(&weights, Some(&linear_truth.clone().linearised_at(top())));

    assert!(
        !linear.notes.is_empty(),
        "the no-K note is there to be preceded"
    );
    assert!(linear.notes.iter().all(|n| !n.contains("nonlinear")));
    assert!(
        !linear.verdict.contains("linearisation"),
        "{}",
        linear.verdict
    );

    assert_eq!(
        linearised.notes[0],
        "The system is nonlinear (pendulum (g/l = 9.81, damping 0.1)): the `A` compared here \
         is the Jacobian of its discrete-time transition at the equilibrium `top`, \
         x* = [3.141592653589793, 0.0] (and `B`, `H` likewise, in deviation coordinates)."
    );
    assert_eq!(linearised.notes[1..], linear.notes[..]);
    assert_eq!(
        linearised.verdict,
        format!(
            "{} (A: the linearisation at the equilibrium `top`.)",
            linear.verdict
        )
    );
    let mut rest = linearised.clone();
    rest.notes.remove(0);
    rest.verdict = linear.verdict.clone();
    assert_eq!(rest, linear, "only the note and the verdict differ");
}

/// A `TrueSystem` serialised before the linearisation point existed (no such key) parses,
/// as linear; a linear one is written without the key, and a linearised one round-trips
/// with its point.
#[test]
fn true_system_json_with_and_without_the_point() {
    let linear = oscillator();
    let text = serde_json::to_string(&linear).expect("serialises");
    assert!(!text.contains("linearisation_point"), "{text}");
    let back: TrueSystem = serde_json::from_str(&text).expect("old form parses");
    assert_eq!(back, linear);
    assert_eq!(back.linearisation_point, None);

    let linearised = linear.linearised_at(top());
    let text = serde_json::to_string(&linearised).expect("serialises");
    let back: TrueSystem = serde_json::from_str(&text).expect("parses");
    assert_eq!(back.linearisation_point, Some(top()));
}

/// The Cramér–Rao bound placed beside the errors: each eigen error divided by the bound's
/// `max σ` (a baseline's too; in predictor mode `U` against `A − K H` by the closed-loop bound,
/// and not `U` against `A`), the per-eigenvalue σ in the table's column, and the verdict says
/// the multiple.
#[test]
fn the_bound_gives_each_error_as_a_multiple() {
    use dynrec_analysis::EigenvalueBound;
    let truth = common::oscillator_with_gain();
    let t = DMatrix::from_row_slice(2, 2, &[1.0, 0.3, 0.0, 1.0]);
    let mut weights = common::predictor_network(&truth, &t, Activation::Linear);
    weights.u[(0, 0)] += 1e-3; // an error of about 1e-3
    let mut analysis =
        analyse(&weights, Some(&truth), None, &AnalysisConfig::default()).expect("analysis");
    analysis
        .add_baseline("em", &(&truth.a + DMatrix::from_element(2, 2, 2e-4)))
        .expect("baseline");
    let rnn = analysis
        .rnn_matching
        .as_ref()
        .expect("matched")
        .max_distance;
    let em = analysis.baselines[0]
        .matching
        .as_ref()
        .expect("matched")
        .max_distance;
    let closed = analysis
        .closed_loop_matching
        .as_ref()
        .expect("matched")
        .max_distance;
    analysis.add_bound(EigenvalueBound {
        std_devs: vec![4e-4, 5e-4],
        max_std: 5e-4,
        closed_loop_std_devs: Some(vec![1e-2, 2e-2]),
        closed_loop_max_std: Some(2e-2),
        design: "a test design".into(),
    });
    let ratios = analysis.eigen_error_crb_ratios();
    approx::assert_relative_eq!(ratios["rnn"], rnn / 5e-4, epsilon = 1e-12);
    approx::assert_relative_eq!(ratios["em"], em / 5e-4, epsilon = 1e-12);
    approx::assert_relative_eq!(
        ratios["recurrent_vs_closed_loop"],
        closed / 2e-2,
        epsilon = 1e-12
    );
    assert!(!ratios.contains_key("recurrent"));
    assert!(
        analysis
            .verdict
            .ends_with(&format!("The eigen error is {:.2}× the Cramér–Rao bound of this data (σ = 5.0e-4 per eigenvalue).", rnn / 5e-4)),
        "{}",
        analysis.verdict
    );
    let report = dynrec_analysis::Report::new(&serde_json::json!({}), analysis).expect("report");
    assert_eq!(report.eigen_error_crb_ratio, ratios);
    let md = report.markdown().expect("markdown");
    assert!(md.contains("| CRB σ |"));
    assert!(
        md.contains("| 4.00e-4 |") && md.contains("| 2.00e-2 |"),
        "{md}"
    );
}
