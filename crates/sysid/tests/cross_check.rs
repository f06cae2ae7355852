//! N4SID against nfoursid and EM against pykalman, both run by `scripts/sysid_reference.py`
//! on the same generated data. Needs `pip install -r scripts/requirements.txt`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{data, eig, random_system, three_state};
use dynrec_sysid::{EmConfig, N4sidConfig, em, markov_parameters, matched_eigen_error, n4sid};
use dynrec_truth::{LinearSystem, Sequence};
use nalgebra::{Complex, DMatrix};
use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference(spec: &Value) -> Value {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (input, output) = (dir.path().join("in.json"), dir.path().join("out.json"));
    std::fs::write(&input, spec.to_string()).expect("writes input");
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/sysid_reference.py"))
        .arg(&input)
        .arg(&output)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "sysid_reference.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&output).expect("output")).expect("json")
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

/// Compares our N4SID with nfoursid on one sequence; returns (eigenvalue difference, largest
/// Markov-parameter difference relative to the largest entry), both between the two tools.
fn compare_with_nfoursid(seq: &Sequence, block_rows: usize, order: usize) -> (f64, f64) {
    let ours = n4sid(
        std::slice::from_ref(seq),
        &N4sidConfig {
            block_rows,
            order: Some(order),
            max_order: None,
        },
    )
    .expect("identifies")
    .system;
    let theirs = reference(&json!({
        "mode": "nfoursid",
        "u": columns_as_rows(&seq.inputs),
        "z": columns_as_rows(&seq.measurements),
        "block_rows": block_rows,
        "order": order,
        "markov": 10,
    }));
    let their_eig: Vec<Complex<f64>> = theirs["eig"]
        .as_array()
        .expect("eig")
        .iter()
        .map(|e| Complex::new(e[0].as_f64().expect("re"), e[1].as_f64().expect("im")))
        .collect();
    let eig_diff = matched_eigen_error(&eig(ours.a()), &their_eig);
    let our_markov = markov_parameters(&ours, 10);
    let scale = our_markov.iter().map(|m| m.amax()).fold(0.0, f64::max);
    let markov_diff = theirs["markov"]
        .as_array()
        .expect("markov")
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
    let truth = random_system(3, 2, 2, 7, 0.0, 1e-30);
    let seqs = data(&truth, 1, 1000, 31);
    let (eig_diff, markov_diff) = compare_with_nfoursid(&seqs[0], 6, 3);
    println!("noise-free: eigenvalue difference {eig_diff:e}, Markov difference {markov_diff:e}");
    assert!(eig_diff <= 1e-8, "{eig_diff}");
    assert!(markov_diff <= 1e-8, "{markov_diff}");
}

/// Noisy data (one sequence of 3000 rows of the three-state system): the two estimators differ
/// (nfoursid estimates D freely, we impose D = 0 in the shifted form) but both are consistent,
/// so their eigenvalues agree to 2e-2 and their Markov parameters to 5e-2 relative.
#[test]
fn n4sid_close_to_nfoursid_noisy() {
    let seqs = data(&three_state(), 1, 3000, 32);
    let (eig_diff, markov_diff) = compare_with_nfoursid(&seqs[0], 10, 3);
    println!("noisy: eigenvalue difference {eig_diff:e}, Markov difference {markov_diff:e}");
    assert!(eig_diff <= 2e-2, "{eig_diff}");
    assert!(markov_diff <= 5e-2, "{markov_diff}");
}

/// From the same initial parameters (our N4SID estimate), our EM and pykalman's EM (learning
/// A, H, Q, R, x0, P0 on one sequence of 300 rows of the three-state system without inputs)
/// produce the same log-likelihood sequence over 10 steps, to 1e-8 relative.
#[test]
fn em_log_likelihoods_match_pykalman() {
    let with_inputs = three_state();
    let truth = LinearSystem::new(
        with_inputs.a().clone(),
        None,
        with_inputs.h().clone(),
        with_inputs.q().clone(),
        with_inputs.r().clone(),
    )
    .expect("valid");
    let seqs = data(&truth, 1, 300, 33);
    let init = n4sid(&seqs, &N4sidConfig::default())
        .expect("identifies")
        .system;
    let ours = em(
        &seqs,
        &init,
        &EmConfig {
            max_iterations: 10,
            tolerance: 0.0,
            learn_prior: true,
        },
    )
    .expect("runs");
    let theirs = reference(&json!({
        "mode": "pykalman",
        "z": columns_as_rows(&seqs[0].measurements),
        "init": {
            "A": rows(init.a()), "H": rows(init.h()), "Q": rows(init.q()), "R": rows(init.r()),
            "x0": init.x0().iter().copied().collect::<Vec<f64>>(), "P0": rows(init.p0()),
        },
        "iterations": 10,
    }));
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
