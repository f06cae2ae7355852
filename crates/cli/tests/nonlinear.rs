//! `dynrec simulate` and `dynrec filter` with nonlinear system files (`kind = ...`).

mod common;

use common::{path, read_csv};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn systems_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(args)
        .output()
        .expect("runs")
}

fn dynrec(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "dynrec {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every nonlinear example system simulates, with its true states written as x1..xn (and no
/// `u` column for the autonomous Lorenz system), and filters with the EKF by default and the
/// UKF on request: the filtered angle of the pendulum tracks the true one within ±3σ almost
/// everywhere.
#[test]
fn simulate_and_filter_every_nonlinear_kind() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (file, header) in [
        ("pendulum.toml", "seq,t,u1,z1,x1,x2"),
        ("van_der_pol.toml", "seq,t,u1,z1,x1,x2"),
        ("duffing.toml", "seq,t,u1,z1,x1,x2"),
        ("lorenz.toml", "seq,t,z1,x1,x2,x3"),
    ] {
        let system = systems_dir().join(file);
        let data = dir.path().join(format!("{file}.csv"));
        dynrec(&[
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "300",
            "--sequences",
            "2",
            "--amplitude",
            "0.5",
            "--seed",
            "3",
            "--out",
            path(&data),
        ]);
        let (found, rows) = read_csv(&data);
        assert_eq!(found.join(","), header, "{file}");
        assert_eq!(rows.len(), 600);
        assert!(rows.iter().flatten().all(|v| v.is_finite()));
        let n = header.matches(",x").count();
        for method in ["auto", "ukf"] {
            let out = dir.path().join(format!("{file}.{method}.csv"));
            dynrec(&[
                "filter",
                "--system",
                path(&system),
                "--data",
                path(&data),
                "--filter",
                method,
                "--out",
                path(&out),
            ]);
            let (est_header, est) = read_csv(&out);
            assert_eq!(est_header.len(), 2 + 2 * n, "{file}: {est_header:?}");
            assert_eq!(est.len(), rows.len());
            if file == "pendulum.toml" {
                // Columns: data seq,t,u1,z1,x1,x2; estimates seq,t,x1,x2,var1,var2.
                let inside = rows
                    .iter()
                    .zip(&est)
                    .filter(|(d, e)| (d[4] - e[2]).abs() <= 3.0 * e[4].sqrt())
                    .count();
                let coverage = inside as f64 / rows.len() as f64;
                assert!(coverage >= 0.97, "{method}: θ coverage {coverage}");
            }
        }
    }
}

/// Smoothing a nonlinear system is refused with a message saying why; nothing is written.
#[test]
fn smoothing_a_nonlinear_system_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = systems_dir().join("pendulum.toml");
    let data = dir.path().join("d.csv");
    dynrec(&[
        "simulate",
        "--system",
        path(&system),
        "--steps",
        "20",
        "--out",
        path(&data),
    ]);
    let out_file = dir.path().join("f.csv");
    let out = run(&[
        "filter",
        "--system",
        path(&system),
        "--data",
        path(&data),
        "--smooth",
        "--out",
        path(&out_file),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("smoothing") && stderr.contains("linear"),
        "{stderr}"
    );
    assert!(!out_file.exists());
}

/// An unknown `kind` stops both commands with a non-zero exit and a message naming the file,
/// the kind and the known kinds.
#[test]
fn unknown_kind_is_an_error_naming_file_and_kind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = dir.path().join("weird.toml");
    std::fs::write(&system, "kind = \"pendulm\"\nlength = 1.0\n").expect("writable");
    let data = dir.path().join("d.csv");
    let out = run(&[
        "simulate",
        "--system",
        path(&system),
        "--steps",
        "10",
        "--out",
        path(&data),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("weird.toml"), "{stderr}");
    assert!(stderr.contains("`pendulm`"), "{stderr}");
    assert!(
        stderr.contains("pendulum") && stderr.contains("lorenz"),
        "{stderr}"
    );
    assert!(!data.exists());
    std::fs::write(&data, "t,z1\n0,1.0\n").expect("writable");
    let out = run(&[
        "filter",
        "--system",
        path(&system),
        "--data",
        path(&data),
        "--out",
        path(&dir.path().join("f.csv")),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("weird.toml") && stderr.contains("`pendulm`"),
        "{stderr}"
    );
}
