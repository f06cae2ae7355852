//! `dynrec fit` end to end on small simulated files: the default mode follows the data (inputs →
//! simulation, none → predictor), a known system is compared, and the report is written.

mod common;

use common::path;
use std::path::{Path, PathBuf};
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

/// `system_text` written to `dir/<file>` and simulated into `dir/d.csv` with the given
/// `dynrec simulate` options; returns the two paths.
fn simulate_file(
    dir: &Path,
    file: &str,
    system_text: &str,
    options: &[&str],
) -> (PathBuf, PathBuf) {
    let system = dir.join(file);
    std::fs::write(&system, system_text).expect("write system");
    let data = dir.join("d.csv");
    let mut args = vec!["simulate", "--system", path(&system), "--out", path(&data)];
    args.extend_from_slice(options);
    dynrec(&args);
    (system, data)
}

/// Simulated data written to `dir/d.csv`: `sequences` × `steps` rows of the damped rotation
/// (with or without its input), whose system file is `dir/s.toml`.
fn simulated(
    dir: &Path,
    with_input: bool,
    sequences: usize,
    steps: usize,
    seed: u64,
) -> (PathBuf, PathBuf) {
    let (sequences, steps, seed) = (sequences.to_string(), steps.to_string(), seed.to_string());
    simulate_file(
        dir,
        "s.toml",
        &system_toml(with_input),
        &[
            "--steps",
            &steps,
            "--sequences",
            &sequences,
            "--seed",
            &seed,
        ],
    )
}

/// `dynrec fit --data <data> [--system <system>] <options> --out <out>`; returns its stdout.
fn fit(data: &Path, system: Option<&Path>, options: &[&str], out: &Path) -> String {
    let mut args = vec!["fit", "--data", path(data)];
    if let Some(system) = system {
        args.extend(["--system", path(system)]);
    }
    args.extend_from_slice(options);
    args.extend(["--out", path(out)]);
    dynrec(&args)
}

/// With inputs and the true system: simulation mode by default, and U's eigenvalues match A's
/// to 1e-2 (claim 1 on a user's file); the Kalman filter is the reference.
#[test]
fn fit_with_inputs_and_system() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (system, data) = simulated(dir.path(), true, 20, 200, 5);
    let out = dir.path().join("out");
    let stdout = fit(&data, Some(&system), &["--hidden", "2"], &out);
    let json = report(&out);
    assert_eq!(json["spec"]["network"]["mode"], "simulation");
    assert_eq!(
        json["spec"]["held_out_sequences"].as_array().map(Vec::len),
        Some(4)
    );
    let error = json["eigen_error"]["rnn"].as_f64().expect("eigen error");
    assert!(error <= 1e-2, "eigen error {error}");
    let kalman = json["metrics"]["heldout_mse_kalman"]
        .as_f64()
        .expect("Kalman MSE");
    assert!(stdout.contains("reveals A"), "{stdout}");
    // The baselines run by default, with the true order, and recover eig(A) as well as the
    // RNN's tolerance asks; EM's Kalman predictor is within 5% of the true one's.
    for baseline in ["n4sid", "em"] {
        assert_eq!(
            json["eigenvalues"][baseline].as_array().map(Vec::len),
            Some(2)
        );
        let error = json["eigen_error"][baseline].as_f64().expect("eigen error");
        assert!(error <= 1e-2, "{baseline} eigen error {error}");
    }
    let em = json["metrics"]["heldout_mse_em_one_step"]
        .as_f64()
        .expect("EM MSE");
    assert!(
        (em / kalman - 1.0).abs() <= 0.05,
        "EM {em}, Kalman {kalman}"
    );
    assert!(stdout.contains("baseline em:"), "{stdout}");
    let notes = json["analysis"]["notes"].to_string();
    assert!(notes.contains("the true order"), "{notes}");
}

/// Without inputs and without a system: predictor mode by default, and the report says that A
/// cannot be checked while still listing the learned eigenvalues.
#[test]
fn fit_without_inputs_or_system() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (_, data) = simulated(dir.path(), false, 10, 200, 6);
    let out = dir.path().join("out");
    let stdout = fit(&data, None, &["--hidden", "2"], &out);
    let json = report(&out);
    assert_eq!(json["spec"]["network"]["mode"], "predictor");
    assert_eq!(json["eigenvalues"]["rnn"].as_array().map(Vec::len), Some(2));
    assert!(json["eigen_error"].get("rnn").is_none());
    assert!(stdout.contains("No true system was given"), "{stdout}");
    // Without the truth the baselines' order comes from N4SID's singular-value gap, which finds
    // the rotation's two states; there is nothing to measure an eigen error against.
    assert_eq!(
        json["eigenvalues"]["n4sid"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(json["eigenvalues"]["em"].as_array().map(Vec::len), Some(2));
    assert!(json["eigen_error"].get("n4sid").is_none());
    let notes = json["analysis"]["notes"].to_string();
    assert!(notes.contains("singular-value gap"), "{notes}");
    assert!(out.join("singular_values.png").exists());
}

/// `--baselines none`: no classical estimate in report.json, no singular-value plot.
#[test]
fn fit_without_baselines() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (system, data) = simulated(dir.path(), true, 6, 100, 7);
    let out = dir.path().join("out");
    fit(
        &data,
        Some(&system),
        &["--hidden", "2", "--baselines", "none"],
        &out,
    );
    let json = report(&out);
    assert_eq!(json["spec"]["baselines"]["methods"], "none");
    for baseline in ["n4sid", "em"] {
        assert!(json["eigenvalues"].get(baseline).is_none(), "{baseline}");
        assert!(json["eigen_error"].get(baseline).is_none(), "{baseline}");
    }
    assert!(!out.join("singular_values.png").exists());
}

/// Sequences of 15 rows are too short for N4SID's Hankel matrices (2 × 10 block rows + 1): the
/// fit still succeeds, the report says why the baselines are absent, and it has none.
#[test]
fn fit_with_data_too_short_for_baselines() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (system, data) = simulated(dir.path(), true, 10, 15, 7);
    let out = dir.path().join("out");
    fit(&data, Some(&system), &["--hidden", "2"], &out);
    let json = report(&out);
    assert!(json["eigenvalues"].get("n4sid").is_none());
    assert!(json["eigenvalues"].get("em").is_none());
    let notes = json["analysis"]["notes"].to_string();
    assert!(
        notes.contains("N4SID") && notes.contains("not enough data"),
        "{notes}"
    );
}

/// An unknown `--baselines` value is a usage error (clap: exit status 2) that lists the
/// valid ones.
#[test]
fn fit_rejects_unknown_baselines() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let out = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(["fit", "--data", "d.csv", "--out"])
        .arg(dir.path().join("out"))
        .args(["--baselines", "bogus"])
        .output()
        .expect("run dynrec");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'bogus' for '--baselines")
            && stderr.contains("[possible values: none, n4sid, em, all]"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists());
}

/// Missing measurements (20% of the rows, predictor mode, no inputs): the network is fed its own
/// prediction where `z` is missing, and `U + W_z V` still recovers eig(A) to 1e-2; the loss and
/// the MSEs count only the present measurements, so they stay finite.
#[test]
fn fit_with_missing_measurements() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (system, data) = simulate_file(
        dir.path(),
        "s.toml",
        &system_toml(false),
        &[
            "--steps",
            "200",
            "--sequences",
            "20",
            "--missing",
            "0.2",
            "--seed",
            "9",
        ],
    );
    let text = std::fs::read_to_string(&data).expect("data");
    let missing = text
        .lines()
        .filter(|l| l.split(',').any(str::is_empty))
        .count();
    assert!(missing > 600, "{missing} rows with a missing z of 4000");
    let out = dir.path().join("out");
    fit(&data, Some(&system), &["--hidden", "2"], &out);
    let json = report(&out);
    assert_eq!(json["spec"]["network"]["mode"], "predictor");
    let error = json["eigen_error"]["rnn"].as_f64().expect("eigen error");
    assert!(error <= 1e-2, "eigen error {error}");
    for metric in ["heldout_mse_rnn", "heldout_mse_kalman"] {
        let mse = json["metrics"][metric].as_f64().expect(metric);
        assert!(mse.is_finite() && mse > 0.0, "{metric} {mse}");
    }
}

/// A nonlinear system file (`kind = "pendulum"`): the learned dynamics are compared with the
/// pendulum's linearisation at `--equilibrium bottom`, whose eigenvalues are `exp(λ dt)` with
/// `λ = −c/2 ± i √(g/L − c²/4)` to RK4's O((|λ| dt)⁵) accuracy, and the report says so.
#[test]
fn fit_against_a_nonlinear_system() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (system, data) = simulate_file(
        dir.path(),
        "p.toml",
        "kind = \"pendulum\"\nlength = 1.0\ndamping = 0.5\ndt = 0.05\n\
         Q = [[1e-8, 0.0], [0.0, 1e-5]]\nr = 1e-5\nP0 = [[1e-6, 0.0], [0.0, 1e-6]]\n",
        &["--steps", "200", "--sequences", "20", "--seed", "4"],
    );
    let out = dir.path().join("out");
    fit(
        &data,
        Some(&system),
        &[
            "--equilibrium",
            "bottom",
            "--hidden",
            "2",
            "--baselines",
            "none",
        ],
        &out,
    );
    let json = report(&out);
    assert_eq!(json["spec"]["equilibrium"], "bottom");
    let omega = (9.81_f64 - 0.0625).sqrt();
    let truth = json["eigenvalues"]["truth"].as_array().expect("truth");
    assert_eq!(truth.len(), 2);
    for z in truth {
        let (re, im) = (z[0].as_f64().expect("re"), z[1].as_f64().expect("im"));
        let exact = (-0.25 * 0.05_f64).exp();
        let angle = omega * 0.05;
        let distance = (re - exact * angle.cos()).hypot(im.abs() - exact * angle.sin());
        assert!(distance < 1e-6, "{re} {im}: {distance}");
    }
    let error = json["eigen_error"]["rnn"].as_f64().expect("eigen error");
    assert!(error <= 1e-2, "eigen error {error}");
    let notes = json["analysis"]["notes"].to_string();
    assert!(notes.contains("equilibrium `bottom`"), "{notes}");
}

/// An equilibrium the system does not have is an error that lists the ones it has.
#[test]
fn fit_rejects_an_unknown_equilibrium() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (system, data) = simulate_file(
        dir.path(),
        "p.toml",
        "kind = \"pendulum\"\nlength = 1.0\ndamping = 0.5\ndt = 0.05\nq = 1e-6\nr = 1e-4\n",
        &["--steps", "50"],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(["fit", "--data", path(&data), "--system", path(&system)])
        .args(["--equilibrium", "middle", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .expect("run dynrec");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"middle\"") && stderr.contains("bottom, top"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("hidden size"),
        "checked before training: {stdout}"
    );
    assert!(!dir.path().join("out").exists(), "nothing written");
}
