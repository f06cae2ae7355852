//! `dynrec fit` end to end on small simulated files: the default mode follows the data (inputs →
//! simulation, none → predictor), a known system is compared, and the report is written.

use std::path::Path;
use std::process::Command;

/// The damped rotation λ = 0.95 e^{±0.3i}, with or without its input.
fn system_toml(with_input: bool) -> String {
    let b = if with_input {
        "B = [[1.0], [0.5]]\n"
    } else {
        ""
    };
    format!(
        "A = [[0.9075696646693256, -0.2807441963282726], [0.2807441963282726, 0.9075696646693256]]\n\
         {b}H = [[1.0, 0.0]]\nQ = [[1e-2, 0.0], [0.0, 1e-2]]\nR = [[1e-2]]\n"
    )
}

fn dynrec(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(args)
        .output()
        .expect("run dynrec");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "dynrec {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("valid report.json")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temporary path")
}

/// With inputs and the true system: simulation mode by default, and U's eigenvalues match A's
/// to 1e-2 (claim 1 on a user's file); the Kalman filter is the reference.
#[test]
fn fit_with_inputs_and_system() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let system = dir.path().join("s.toml");
    std::fs::write(&system, system_toml(true)).expect("write system");
    let data = dir.path().join("d.csv");
    let out = dir.path().join("out");
    dynrec(&[
        "simulate",
        "--system",
        path(&system),
        "--steps",
        "200",
        "--sequences",
        "20",
        "--seed",
        "5",
        "--out",
        path(&data),
    ]);
    let stdout = dynrec(&[
        "fit",
        "--data",
        path(&data),
        "--system",
        path(&system),
        "--hidden",
        "2",
        "--out",
        path(&out),
    ]);
    let json = report(&out);
    assert_eq!(json["spec"]["network"]["mode"], "simulation");
    assert_eq!(
        json["spec"]["held_out_sequences"].as_array().map(Vec::len),
        Some(4)
    );
    let error = json["eigen_error"]["rnn"].as_f64().expect("eigen error");
    assert!(error <= 1e-2, "eigen error {error}");
    assert!(json["metrics"]["heldout_mse_kalman"].as_f64().is_some());
    assert!(stdout.contains("reveals A"), "{stdout}");
}

/// Without inputs and without a system: predictor mode by default, and the report says that A
/// cannot be checked while still listing the learned eigenvalues.
#[test]
fn fit_without_inputs_or_system() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let system = dir.path().join("s.toml");
    std::fs::write(&system, system_toml(false)).expect("write system");
    let data = dir.path().join("d.csv");
    let out = dir.path().join("out");
    dynrec(&[
        "simulate",
        "--system",
        path(&system),
        "--steps",
        "200",
        "--sequences",
        "10",
        "--seed",
        "6",
        "--out",
        path(&data),
    ]);
    let stdout = dynrec(&[
        "fit",
        "--data",
        path(&data),
        "--hidden",
        "2",
        "--out",
        path(&out),
    ]);
    let json = report(&out);
    assert_eq!(json["spec"]["network"]["mode"], "predictor");
    assert_eq!(json["eigenvalues"]["rnn"].as_array().map(Vec::len), Some(2));
    assert!(json["eigen_error"].get("rnn").is_none());
    assert!(stdout.contains("No true system was given"), "{stdout}");
}
