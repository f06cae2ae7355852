//! `dynrec fit` on data that cannot determine a network, and on output folders it must not
//! replace: a clear error naming the file, a non-zero exit, and nothing written.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::path;

fn fit(data: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args([
            "fit",
            "--data",
            path(data),
            "--out",
            path(out),
            "--baselines",
            "none",
        ])
        .args(extra)
        .output()
        .expect("dynrec runs")
}

/// Asserts a failed run whose error names the data file and says `what`, and that `out` was
/// not created (no temporary folder left beside it either).
fn refused(output: &Output, data: &Path, out: &Path, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "accepted: {stderr}");
    assert!(stderr.contains(path(data)), "names the file: {stderr}");
    assert!(stderr.contains(what), "says {what:?}: {stderr}");
    assert!(!out.exists(), "{} was written", out.display());
    let parent = out.parent().expect("parent");
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".dynrec-tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary folders left: {leftovers:?}"
    );
}

/// A measurement column that is constant in every training row carries no dynamics: refused,
/// whatever the hidden size.
#[test]
fn a_constant_measurement_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("constant.csv");
    let rows: String = (0..50).map(|t| format!("{t},0.5,{}\n", t % 7)).collect();
    std::fs::write(&data, format!("t,z1,z2\n{rows}")).expect("write");
    let out = dir.path().join("report");
    for hidden in ["2", "auto"] {
        refused(
            &fit(&data, &out, &["--hidden", hidden]),
            &data,
            &out,
            "z1 is constant (0.5)",
        );
    }
}

/// Fewer present measurements than the network has parameters (three rows; or 10 000 hidden
/// units, 10⁸ parameters, on a few hundred rows) are refused before any training, with the
/// counts in the message.
#[test]
fn too_little_data_for_the_network_is_refused_up_front() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("report");
    let three = dir.path().join("three.csv");
    std::fs::write(&three, "t,z1\n0,1.0\n1,2.0\n2,1.5\n").expect("write");
    refused(
        &fit(&three, &out, &[]),
        &three,
        &out,
        "has 5 parameters but the training data has only 3 present measurements",
    );
    let series = dir.path().join("series.csv");
    let rows: String = (0..300)
        .map(|t| format!("{t},{}\n", (t as f64 * 0.3).sin()))
        .collect();
    std::fs::write(&series, format!("t,z1\n{rows}")).expect("write");
    let started = std::time::Instant::now();
    refused(
        &fit(&series, &out, &["--hidden", "10000"]),
        &series,
        &out,
        "has 100030001 parameters",
    );
    assert!(started.elapsed().as_secs() < 30, "refused up front");
}

/// A folder that holds other things than a dynrec report is never replaced by a report: the
/// error says so before any training (before the search of `--hidden auto` too), and the
/// folder is untouched.
#[test]
fn a_foreign_output_folder_is_not_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("series.csv");
    let rows: String = (0..100)
        .map(|t| format!("{t},{}\n", (t as f64 * 0.3).sin()))
        .collect();
    std::fs::write(&data, format!("t,z1\n{rows}")).expect("write");
    let out = dir.path().join("thesis");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("chapter.tex"), "keep me").expect("write");
    // With `--hidden auto` too: the folder is checked before the search over hidden sizes.
    for hidden in ["1", "auto"] {
        let output = fit(&data, &out, &["--hidden", hidden]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("not a dynrec report folder"), "{stderr}");
        assert!(!stderr.contains("hidden units"), "searched first: {stderr}");
        assert_eq!(
            std::fs::read_to_string(out.join("chapter.tex")).expect("kept"),
            "keep me"
        );
        assert_eq!(std::fs::read_dir(&out).expect("ls").count(), 1);
    }
}
