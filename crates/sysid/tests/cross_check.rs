//! N4SID against nfoursid and EM against pykalman, on the inputs and reference outputs stored
//! in `tests/fixtures/sysid_reference.json`: `cargo test` needs no Python.
//!
//! The references were computed by `scripts/sysid_reference.py` with the package versions of
//! `scripts/requirements.txt`; `scripts/check_fixtures.sh` recomputes them in a virtual
//! environment and fails if any differs by more than 1e-9 relative (`.ci/run` runs it), and
//! `scripts/check_fixtures.sh --update` rewrites them. The inputs come from this crate's own
//! generators: `write_fixture_inputs` (ignored; `cargo test -p dynrec-sysid --release --test
//! cross_check -- --ignored`) rewrites them, after which the references must be regenerated.

mod common;

use std::path::{Path, PathBuf};

use common::{data, eig, random_system, three_state};
use dynrec_sysid::{EmConfig, N4sidConfig, em, markov_parameters, matched_eigen_error, n4sid};
use dynrec_truth::{LinearSystem, Sequence};
use nalgebra::{Complex, DMatrix, DVector};
use serde_json::{Value, json};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysid_reference.json")
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(fixture_path()).expect("the fixture is committed");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// One case of the fixture: what was sent to the reference and what it returned.
fn case(name: &str) -> (Value, Value) {
    let all = fixture();
    let case = &all["cases"][name];
    assert!(
        case["reference"].is_object(),
        "{name}: no reference in the fixture (run scripts/check_fixtures.sh --update)"
    );
    (case["input"].clone(), case["reference"].clone())
}

fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| m.row(i).iter().copied().collect())
        .collect()
}

fn columns_as_rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    rows(&m.transpose())
}

fn to_matrix(v: &Value) -> DMatrix<f64> {
    let r: Vec<Vec<f64>> = serde_json::from_value(v.clone()).expect("matrix");
    let cols = r.first().map_or(0, Vec::len);
    DMatrix::from_fn(r.len(), cols, |i, j| r[i][j])
}

/// A matrix stored one time step per row, as `[width, T]` (width given: a list of empty rows
/// cannot say it).
fn time_steps(v: &Value, width: usize) -> DMatrix<f64> {
    let r: Vec<Vec<f64>> = serde_json::from_value(v.clone()).expect("rows");
    DMatrix::from_fn(width, r.len(), |i, k| r[k][i])
}

/// The stored sequence of a case's input (`u` optional).
fn sequence(input: &Value) -> Sequence {
    let z = &input["z"];
    let p = z[0].as_array().expect("z rows").len();
    let measurements = time_steps(z, p);
    let len = measurements.ncols();
    let inputs = match input.get("u") {
        Some(u) => time_steps(u, u[0].as_array().expect("u rows").len()),
        None => DMatrix::zeros(0, len),
    };
    Sequence {
        id: 0,
        t: (0..len).map(|k| k as f64).collect(),
        inputs,
        measurements,
        states: None,
    }
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().expect("a count") as usize
}

/// Compares our N4SID with the stored nfoursid result of `case`; returns (eigenvalue
/// difference, largest Markov-parameter difference relative to the largest entry), both
/// between the two tools.
fn compare_with_nfoursid(name: &str) -> (f64, f64) {
    let (input, theirs) = case(name);
    let seq = sequence(&input);
    let ours = n4sid(
        std::slice::from_ref(&seq),
        &N4sidConfig {
            block_rows: usize_of(&input["block_rows"]),
            order: Some(usize_of(&input["order"])),
            max_order: None,
        },
    )
    .expect("identifies")
    .system;
    let their_eig: Vec<Complex<f64>> = theirs["eig"]
        .as_array()
        .expect("eig")
        .iter()
        .map(|e| Complex::new(e[0].as_f64().expect("re"), e[1].as_f64().expect("im")))
        .collect();
    let eig_diff = matched_eigen_error(&eig(ours.a()), &their_eig);
    let our_markov = markov_parameters(&ours, usize_of(&input["markov"]));
    let scale = our_markov.iter().map(|m| m.amax()).fold(0.0, f64::max);
    let their_markov = theirs["markov"].as_array().expect("markov");
    assert_eq!(their_markov.len(), our_markov.len());
    let markov_diff = their_markov
        .iter()
        .zip(&our_markov)
        .map(|(t, o)| (to_matrix(t) - o).amax())
        .fold(0.0, f64::max)
        / scale;
    (eig_diff, markov_diff)
}

/// Noise-free data (one sequence of 1000 rows, random minimal system n = 3, m = 2, p = 2):
/// both tools are exact, so eig(A) and the Markov parameters (ours H A^j B, nfoursid's D, C B,
/// C A B, … on the raw rows) agree to 1e-8.
#[test]
fn n4sid_matches_nfoursid_noise_free() {
    let (eig_diff, markov_diff) = compare_with_nfoursid("n4sid_noise_free");
    println!("noise-free: eigenvalue difference {eig_diff:e}, Markov difference {markov_diff:e}");
    assert!(eig_diff <= 1e-8, "{eig_diff}");
    assert!(markov_diff <= 1e-8, "{markov_diff}");
}

/// Noisy data (one sequence of 3000 rows of the three-state system): the two estimators differ
/// (nfoursid estimates D freely, we impose D = 0 in the shifted form) but both are consistent,
/// so their eigenvalues agree to 2e-2 and their Markov parameters to 5e-2 relative.
#[test]
fn n4sid_close_to_nfoursid_noisy() {
    let (eig_diff, markov_diff) = compare_with_nfoursid("n4sid_noisy");
    println!("noisy: eigenvalue difference {eig_diff:e}, Markov difference {markov_diff:e}");
    assert!(eig_diff <= 2e-2, "{eig_diff}");
    assert!(markov_diff <= 5e-2, "{markov_diff}");
}

/// From the same initial parameters (our N4SID estimate, stored with the data), our EM and
/// pykalman's EM (learning A, H, Q, R, x0, P0 on one sequence of 300 rows of the three-state
/// system without inputs) produce the same log-likelihood sequence over 10 steps, to 1e-8
/// relative.
#[test]
fn em_log_likelihoods_match_pykalman() {
    let (input, theirs) = case("em_pykalman");
    let seq = sequence(&input);
    let init = &input["init"];
    let x0: Vec<f64> = serde_json::from_value(init["x0"].clone()).expect("x0");
    let init = LinearSystem::new(
        to_matrix(&init["A"]),
        None,
        to_matrix(&init["H"]),
        to_matrix(&init["Q"]),
        to_matrix(&init["R"]),
    )
    .expect("a valid stored initial system")
    .with_prior(DVector::from_vec(x0), to_matrix(&init["P0"]))
    .expect("a valid stored prior");
    let ours = em(
        std::slice::from_ref(&seq),
        &init,
        &EmConfig {
            max_iterations: usize_of(&input["iterations"]),
            tolerance: 0.0,
            learn_prior: true,
        },
    )
    .expect("runs");
    let their_ll: Vec<f64> =
        serde_json::from_value(theirs["log_likelihoods"].clone()).expect("log-likelihoods");
    assert_eq!(their_ll.len(), ours.log_likelihoods.len());
    let worst = their_ll
        .iter()
        .zip(&ours.log_likelihoods)
        .map(|(t, o)| ((t - o) / t.abs()).abs())
        .fold(0.0, f64::max);
    println!(
        "ours {:?}\ntheirs {their_ll:?}\nworst relative difference {worst:e}",
        ours.log_likelihoods
    );
    assert!(worst <= 1e-8, "{worst}");
}

/// Rewrites the inputs of the fixture from this crate's generators (the references are kept,
/// and must then be regenerated: `scripts/check_fixtures.sh --update`).
#[test]
#[ignore = "rewrites tests/fixtures/sysid_reference.json; run by hand"]
fn write_fixture_inputs() {
    let truth = random_system(3, 2, 2, 7, 0.0, 1e-30);
    let noise_free = &data(&truth, 1, 1000, 31)[0];
    let noisy = &data(&three_state(), 1, 3000, 32)[0];
    let with_inputs = three_state();
    let no_inputs = LinearSystem::new(
        with_inputs.a().clone(),
        None,
        with_inputs.h().clone(),
        with_inputs.q().clone(),
        with_inputs.r().clone(),
    )
    .expect("valid");
    let em_data = data(&no_inputs, 1, 300, 33);
    let init = n4sid(&em_data, &N4sidConfig::default())
        .expect("identifies")
        .system;
    let nfoursid = |seq: &Sequence, block_rows: usize| {
        json!({
            "mode": "nfoursid",
            "u": columns_as_rows(&seq.inputs),
            "z": columns_as_rows(&seq.measurements),
            "block_rows": block_rows,
            "order": 3,
            "markov": 10,
        })
    };
    let inputs = [
        ("n4sid_noise_free", nfoursid(noise_free, 6)),
        ("n4sid_noisy", nfoursid(noisy, 10)),
        (
            "em_pykalman",
            json!({
                "mode": "pykalman",
                "z": columns_as_rows(&em_data[0].measurements),
                "init": {
                    "A": rows(init.a()), "H": rows(init.h()), "Q": rows(init.q()),
                    "R": rows(init.r()),
                    "x0": init.x0().iter().copied().collect::<Vec<f64>>(), "P0": rows(init.p0()),
                },
                "iterations": 10,
            }),
        ),
    ];
    let old = std::fs::read_to_string(fixture_path())
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let mut cases = serde_json::Map::new();
    for (name, input) in inputs {
        let reference = old
            .as_ref()
            .map_or(Value::Null, |o| o["cases"][name]["reference"].clone());
        cases.insert(
            name.into(),
            json!({ "input": input, "reference": reference }),
        );
    }
    let fixture = json!({
        "about": "Inputs made by crates/sysid/tests/cross_check.rs (write_fixture_inputs); \
                  references by scripts/sysid_reference.py through scripts/fixtures.py with \
                  scripts/requirements.txt. Regenerate: scripts/check_fixtures.sh --update.",
        "cases": cases,
    });
    std::fs::create_dir_all(fixture_path().parent().expect("a folder")).expect("folder");
    std::fs::write(
        fixture_path(),
        serde_json::to_string_pretty(&fixture).expect("json") + "\n",
    )
    .expect("writes the fixture");
}
