//! End-to-end: `dynrec filter` and `dynrec filter --smooth` against pykalman (the independent
//! reference in `scripts/kalman_reference.py`, itself checked against filterpy), whose values
//! for this test's system and data are stored in `tests/fixtures/kalman_reference.json`:
//! `cargo test` needs no Python.
//!
//! `scripts/check_fixtures.sh` recomputes the references with the package versions of
//! `scripts/requirements.txt` in a virtual environment and fails if any differs by more than
//! 1e-9 relative (`.ci/run` runs it); `--update` rewrites them. `write_fixture_inputs`
//! (ignored) rewrites the fixture's input, the system below and the data `dynrec simulate`
//! makes from it, after which the references must be regenerated.

mod common;

use common::read_csv;
use std::path::{Path, PathBuf};
use std::process::Command;

use dynrec_truth::{Dataset, LinearSystem, filter};
use serde_json::{Value, json};

const SYSTEM: &str = r#"
A  = [[0.8, 0.3, 0.0], [-0.3, 0.8, 0.1], [0.0, 0.0, 0.5]]
B  = [[1.0, 0.0], [0.0, 0.5], [0.3, 1.0]]
H  = [[1.0, 0.0, 1.0], [0.0, 1.0, -0.5]]
Q  = [[0.05, 0.01, 0.0], [0.01, 0.04, 0.0], [0.0, 0.0, 0.02]]
R  = [[0.1, 0.02], [0.02, 0.2]]
x0 = [0.5, -0.2, 0.1]
P0 = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
"#;

/// How the fixture's data was made from [`SYSTEM`] (as `S.toml`).
const SIMULATE: [&str; 8] = [
    "--steps",
    "200",
    "--sequences",
    "3",
    "--missing",
    "0.1",
    "--seed",
    "11",
];

/// `dir/name` as a string argument.
fn in_dir(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8 path").to_string()
}

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kalman_reference.json")
}

fn dynrec(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "dynrec {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stored rows of one kind of estimate, as numbers.
fn stored_rows(reference: &Value, kind: &str) -> Vec<Vec<f64>> {
    serde_json::from_value(reference[kind].clone()).expect("rows of numbers")
}

/// Filtered and smoothed means and variances (3 sequences × 200 rows, 2 inputs, correlated R,
/// 10% of measurements missing, some rows partly missing) agree with pykalman's stored ones to
/// 1e-8, and the log-likelihood agrees to 1e-8 relative.
#[test]
fn filter_and_smoother_agree_with_pykalman() {
    let text = std::fs::read_to_string(fixture_path()).expect("the fixture is committed");
    let fixture: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let reference = &fixture["reference"];
    assert!(
        reference.is_object(),
        "no reference in the fixture (run scripts/check_fixtures.sh --update)"
    );
    assert_eq!(fixture["input"]["system"].as_str(), Some(SYSTEM));
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| in_dir(dir.path(), name);
    std::fs::write(p("S.toml"), SYSTEM).expect("write system");
    let lines: Vec<String> =
        serde_json::from_value(fixture["input"]["data"].clone()).expect("the data's lines");
    std::fs::write(p("D.csv"), lines.join("\n") + "\n").expect("write data");
    dynrec(&[
        "filter",
        "--system",
        &p("S.toml"),
        "--data",
        &p("D.csv"),
        "--out",
        &p("F.csv"),
    ]);
    dynrec(&[
        "filter",
        "--system",
        &p("S.toml"),
        "--data",
        &p("D.csv"),
        "--smooth",
        "--out",
        &p("G.csv"),
    ]);
    let header: Vec<String> = serde_json::from_value(reference["header"].clone()).expect("header");
    let mut worst: f64 = 0.0;
    for (ours, kind) in [("F.csv", "filtered"), ("G.csv", "smoothed")] {
        let (h1, r1) = read_csv(Path::new(&p(ours)));
        let r2 = stored_rows(reference, kind);
        assert_eq!(h1, header);
        assert_eq!(r1.len(), 600);
        assert_eq!(r1.len(), r2.len());
        for (a, b) in r1.iter().zip(&r2) {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                let diff = (x - y).abs();
                worst = worst.max(diff);
                assert!(
                    diff <= 1e-8 * (1.0 + y.abs()),
                    "{ours}: {x} vs pykalman {y}"
                );
            }
        }
    }
    eprintln!("largest difference from pykalman: {worst:e}");

    let system = LinearSystem::load(Path::new(&p("S.toml"))).expect("system");
    let data = Dataset::load(Path::new(&p("D.csv"))).expect("data");
    let ours: f64 = data
        .sequences
        .iter()
        .map(|s| filter(&system, s).expect("filter").log_likelihood)
        .sum();
    let theirs = reference["loglik"].as_f64().expect("loglik");
    assert!(
        (ours - theirs).abs() <= 1e-8 * theirs.abs(),
        "log-likelihood {ours} vs {theirs}"
    );
}

/// Rewrites the fixture's input: [`SYSTEM`] and the data `dynrec simulate` makes from it with
/// [`SIMULATE`] (the reference is kept, and must then be regenerated:
/// `scripts/check_fixtures.sh --update`).
#[test]
#[ignore = "rewrites tests/fixtures/kalman_reference.json; run by hand"]
fn write_fixture_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| in_dir(dir.path(), name);
    std::fs::write(p("S.toml"), SYSTEM).expect("write system");
    let (system, out) = (p("S.toml"), p("D.csv"));
    let mut args = vec!["simulate", "--system", &system];
    args.extend(SIMULATE);
    args.extend(["--out", &out]);
    dynrec(&args);
    let data = std::fs::read_to_string(&out).expect("simulated data");
    let old = std::fs::read_to_string(fixture_path())
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let fixture = json!({
        "about": "Input made by crates/cli/tests/cross_check.rs (write_fixture_inputs): the \
                  system, and the data of `dynrec simulate --system S.toml` with `made_by`'s \
                  arguments; reference by scripts/kalman_reference.py (pykalman, checked \
                  against filterpy) through scripts/fixtures.py with scripts/requirements.txt. \
                  Regenerate: scripts/check_fixtures.sh --update.",
        "input": {
            "system": SYSTEM,
            "made_by": SIMULATE.join(" "),
            "data": data.lines().collect::<Vec<_>>(),
        },
        "reference": old.map_or(Value::Null, |o| o["reference"].clone()),
    });
    std::fs::create_dir_all(fixture_path().parent().expect("a folder")).expect("folder");
    std::fs::write(
        fixture_path(),
        serde_json::to_string_pretty(&fixture).expect("json") + "\n",
    )
    .expect("writes the fixture");
}

/// Bad input files make `dynrec` exit non-zero with a message naming the file and the line or
/// field, and leave no output file behind.
#[test]
fn bad_inputs_exit_non_zero_with_located_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| in_dir(dir.path(), name);
    std::fs::write(p("S.toml"), SYSTEM).expect("write");
    std::fs::write(
        p("bad.toml"),
        SYSTEM.replace("[0.0, 0.0, 0.02]]", "[0.0, 0.0, -0.02]]"),
    )
    .expect("write");
    std::fs::write(p("D.csv"), "t,u1,u2,z1,z2\n0,1,2,3,4\n1,1,x,3,4\n").expect("write");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_dynrec"))
            .args(args)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let message = run(&[
        "filter",
        "--system",
        &p("bad.toml"),
        "--data",
        &p("D.csv"),
        "--out",
        &p("F.csv"),
    ]);
    assert!(
        message.contains("bad.toml") && message.contains("`Q`"),
        "{message}"
    );
    let message = run(&[
        "filter",
        "--system",
        &p("S.toml"),
        "--data",
        &p("D.csv"),
        "--out",
        &p("F.csv"),
    ]);
    assert!(
        message.contains("D.csv") && message.contains("line 3") && message.contains("u2"),
        "{message}"
    );
    assert!(!Path::new(&p("F.csv")).exists());
    let message = run(&[
        "simulate",
        "--system",
        &p("missing.toml"),
        "--steps",
        "5",
        "--out",
        &p("X.csv"),
    ]);
    assert!(message.contains("missing.toml"), "{message}");
}
