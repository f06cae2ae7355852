//! End-to-end: `dynrec simulate` and `dynrec filter` against pykalman (the independent
//! reference in `scripts/kalman_reference.py`, itself checked against filterpy).
//! Needs `pip install -r scripts/requirements.txt` (done by `.ci/run`).

mod common;

use common::read_csv;
use std::path::{Path, PathBuf};
use std::process::Command;

use dynrec_truth::{Dataset, LinearSystem, filter};

const SYSTEM: &str = r#"
A  = [[0.8, 0.3, 0.0], [-0.3, 0.8, 0.1], [0.0, 0.0, 0.5]]
B  = [[1.0, 0.0], [0.0, 0.5], [0.3, 1.0]]
H  = [[1.0, 0.0, 1.0], [0.0, 1.0, -0.5]]
Q  = [[0.05, 0.01, 0.0], [0.01, 0.04, 0.0], [0.0, 0.0, 0.02]]
R  = [[0.1, 0.02], [0.02, 0.2]]
x0 = [0.5, -0.2, 0.1]
P0 = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
"#;

/// `dir/name` as a string argument.
fn in_dir(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8 path").to_string()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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

/// Filtered and smoothed means and variances (3 sequences × 200 rows, 2 inputs, correlated R,
/// 10% of measurements missing, some rows partly missing) agree with pykalman to 1e-8, and the
/// log-likelihood agrees to 1e-8 relative.
#[test]
fn filter_and_smoother_agree_with_pykalman() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| in_dir(dir.path(), name);
    std::fs::write(p("S.toml"), SYSTEM).expect("write system");
    dynrec(&[
        "simulate",
        "--system",
        &p("S.toml"),
        "--steps",
        "200",
        "--sequences",
        "3",
        "--missing",
        "0.1",
        "--seed",
        "11",
        "--out",
        &p("D.csv"),
    ]);
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
    let script = repo_root().join("scripts/kalman_reference.py");
    let out = Command::new("python3")
        .args([
            script.to_str().expect("utf-8"),
            "--system",
            &p("S.toml"),
            "--data",
            &p("D.csv"),
            "--filtered",
            &p("PF.csv"),
            "--smoothed",
            &p("PS.csv"),
            "--check",
        ])
        .output()
        .expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the pykalman reference failed (pip install -r scripts/requirements.txt?):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut worst: f64 = 0.0;
    for (ours, theirs) in [("F.csv", "PF.csv"), ("G.csv", "PS.csv")] {
        let (h1, r1) = read_csv(Path::new(&p(ours)));
        let (h2, r2) = read_csv(Path::new(&p(theirs)));
        assert_eq!(h1, h2);
        assert_eq!(r1.len(), 600);
        assert_eq!(r1.len(), r2.len());
        for (a, b) in r1.iter().zip(&r2) {
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
    let theirs: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("loglik "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the script prints `loglik <value>`");
    assert!(
        (ours - theirs).abs() <= 1e-8 * theirs.abs(),
        "log-likelihood {ours} vs {theirs}"
    );
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
