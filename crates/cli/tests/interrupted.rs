//! `dynrec fit` killed (SIGKILL) at any moment, over a report folder it already wrote: the
//! folder holds the old complete report or the new complete one, never a mix, and the next
//! run into the same place removes what the killed ones left beside it.

mod common;

use common::path;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The damped rotation λ = 0.95 e^{±0.3i} without inputs (predictor mode).
const SYSTEM: &str = "A = [[0.9075696646693256, -0.2807441963282726], \
                      [0.2807441963282726, 0.9075696646693256]]\n\
                      H = [[1.0, 0.0]]\nQ = [[1e-2, 0.0], [0.0, 1e-2]]\nR = [[1e-2]]\n";

fn fit_command(data: &Path, out: &Path, seed: u64) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dynrec"));
    command
        .args([
            "fit",
            "--data",
            path(data),
            "--hidden",
            "2",
            "--budget",
            "quick",
        ])
        .args(["--seed", &seed.to_string(), "--out", path(out)])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The names in `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// The seed recorded in `out/report.json`.
fn report_seed(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("valid report.json");
    report["spec"]["seed"].as_u64().expect("spec.seed")
}

/// Kills a rerun at nine points spread over the length of a full run (from the start to the
/// last plots being written): after each kill `out` is exactly the old report (same files,
/// same bytes) or, where the kill came after the rename, exactly a complete new one (the same
/// files, the new seed). A final uninterrupted run leaves no temporary or replaced folder.
#[cfg(unix)]
#[test]
fn a_killed_fit_leaves_the_old_report_or_the_new_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = dir.path().join("s.toml");
    std::fs::write(&system, SYSTEM).expect("system");
    let data = dir.path().join("d.csv");
    let simulated = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(["simulate", "--system", path(&system), "--out", path(&data)])
        .args(["--steps", "200", "--sequences", "16", "--seed", "4"])
        .status()
        .expect("simulate");
    assert!(simulated.success());
    let out = dir.path().join("report");

    let start = Instant::now();
    assert!(fit_command(&data, &out, 1).status().expect("fit").success());
    let full = start.elapsed();
    let files = names(&out);
    assert!(
        files.contains("report.json") && files.contains("report.md"),
        "{files:?}"
    );
    let old_report = std::fs::read(out.join("report.json")).expect("report.json");

    let mut interrupted = 0;
    for (k, fraction) in [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.98, 1.0]
        .into_iter()
        .enumerate()
    {
        let mut child = fit_command(&data, &out, 2).spawn().expect("spawn fit");
        std::thread::sleep(full.mul_f64(fraction));
        if child.try_wait().expect("try_wait").is_none() {
            interrupted += 1;
        }
        child.kill().ok();
        child.wait().expect("wait");
        assert_eq!(
            names(&out),
            files,
            "kill {k} ({fraction} of {full:?}): a mixed folder"
        );
        match report_seed(&out) {
            1 => assert_eq!(
                std::fs::read(out.join("report.json")).expect("report.json"),
                old_report,
                "kill {k}: the old report changed"
            ),
            seed => assert_eq!(seed, 2, "kill {k}: a report of neither run"),
        }
    }
    assert!(
        interrupted >= 5,
        "only {interrupted} of 9 kills came before the rerun ended (a full run: {full:?})"
    );

    assert!(fit_command(&data, &out, 3).status().expect("fit").success());
    assert_eq!(report_seed(&out), 3);
    assert_eq!(names(&out), files);
    let leftovers: Vec<_> = names(dir.path())
        .into_iter()
        .filter(|n| n.contains(".dynrec-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "left beside the report: {leftovers:?}"
    );
}
