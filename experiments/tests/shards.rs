//! Resuming and merging, end to end on smoke budgets: a rerun skips the complete runs and
//! redoes only what is missing; a killed run leaves nothing that looks complete; a failed run
//! is recorded while the others go on; a merge lists what is missing and fails until nothing
//! is. (That the merge of shards equals the unsharded run is checked for every binary in
//! `smoke.rs`.)

#![allow(clippy::unwrap_used)] // tests panic on failure by design

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use dynrec_experiments::cli::Summary;

const SWEEP: &str = env!("CARGO_BIN_EXE_noise_and_data");
const RUNS: [&str; 3] = ["noise_1e-4_seed_0", "noise_1e-1_seed_0", "data_16_seed_0"];

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn summary(out: &Path) -> Summary {
    serde_json::from_str(&std::fs::read_to_string(out.join("outcomes.json")).unwrap()).unwrap()
}

/// Copies the files of `from` (and of its folders, one level down) into `to`.
fn copy_results(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            for file in std::fs::read_dir(entry.path()).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), target.join(file.file_name())).unwrap();
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A rerun into the same folder skips every complete run (and says so: "2 complete, skipped",
/// "ran 1, skipped 2"), redoes the one whose folder was deleted, leaves the others' files
/// untouched (their outcome.json, timings included, byte for byte), and ends with the same
/// results as the first run; `--redo` reruns all three, again with the same numbers.
#[test]
fn rerun_redoes_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    assert!(
        common::run(&mut common::experiment(SWEEP, out, &[]))
            .status
            .success()
    );
    let first = tempfile::tempdir().unwrap();
    copy_results(out, first.path());
    let kept: Vec<Vec<u8>> = RUNS[..2]
        .iter()
        .map(|r| std::fs::read(out.join(r).join("outcome.json")).unwrap())
        .collect();
    std::fs::remove_dir_all(out.join(RUNS[2])).unwrap();

    let rerun = common::run(&mut common::experiment(SWEEP, out, &[]));
    assert!(rerun.status.success());
    let text = stdout(&rerun);
    assert!(text.contains("3 runs: 2 complete, skipped"), "{text}");
    assert!(
        text.contains("ran 1, skipped 2 (complete), failed 0"),
        "{text}"
    );
    assert!(text.contains(&format!("{}: done", RUNS[2])), "{text}");
    for (run, before) in RUNS[..2].iter().zip(&kept) {
        assert!(
            &std::fs::read(out.join(run).join("outcome.json")).unwrap() == before,
            "{run} was rewritten"
        );
    }
    assert_eq!(common::assert_same_results(first.path(), out), 3);

    let redo = common::run(&mut common::experiment(
        SWEEP,
        out,
        &["--redo", "--jobs", "1"],
    ));
    assert!(redo.status.success());
    assert!(stdout(&redo).contains("ran 3, skipped 0 (complete), failed 0"));
    assert_eq!(common::assert_same_results(first.path(), out), 3);
}

/// A run killed (SIGKILL) while it writes leaves only its hidden temporary folder: no
/// `<out>/<run>/`, so `--merge` lists the run as missing (on the console, in README.md and in
/// outcomes.json) and exits with status 1; the next run completes it and removes the leftover.
#[test]
fn killed_run_leaves_nothing_that_looks_complete() {
    let binary = env!("CARGO_BIN_EXE_tanh");
    let run = "amplitude_0.05";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let temporary = |out: &Path| -> Vec<String> {
        std::fs::read_dir(out)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&format!(".{run}.dynrec-tmp-")))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut child = common::experiment(binary, out, &[]).spawn().unwrap();
    let started = Instant::now();
    while temporary(out).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no temporary folder"
        );
        assert!(child.try_wait().unwrap().is_none(), "finished too early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join(run).exists(), "a killed run left {run}/");
    assert_eq!(temporary(out).len(), 1);

    let merge = common::run(&mut common::experiment(binary, out, &["--merge"]));
    assert_eq!(merge.status.code(), Some(1));
    assert!(stdout(&merge).contains(&format!("- {run}: not run")));
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("## Missing runs"), "{readme}");
    let merged = summary(out);
    assert!(merged.outcomes.is_empty() && !merged.passed);
    assert_eq!(merged.missing[0].name, run);

    let again = common::run(&mut common::experiment(binary, out, &[]));
    assert!(again.status.success());
    assert!(out.join(run).join("outcome.json").exists());
    assert!(temporary(out).is_empty(), "the leftover was not removed");
    let complete = summary(out);
    assert!(complete.missing.is_empty() && complete.passed);
}

/// A run that fails (here: its folder is taken by something that is not a report) is recorded
/// in `<run>.failed.txt` while the other runs complete; the run exits with status 1 and the
/// summaries list the run as failed, with the error. Once the cause is gone, a rerun runs only
/// that run, removes the record and succeeds.
#[test]
fn failed_run_is_recorded_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let failing = RUNS[1];
    std::fs::create_dir_all(out.join(failing)).unwrap();
    std::fs::write(out.join(failing).join("notes.txt"), "mine").unwrap();

    let first = common::run(&mut common::experiment(SWEEP, out, &[]));
    assert_eq!(first.status.code(), Some(1));
    let text = stdout(&first);
    assert!(text.contains(&format!("{failing}: FAILED")), "{text}");
    assert!(
        text.contains("ran 2, skipped 0 (complete), failed 1"),
        "{text}"
    );
    let record = std::fs::read_to_string(out.join(format!("{failing}.failed.txt"))).unwrap();
    assert!(record.contains("not a dynrec report folder"), "{record}");
    let merged = summary(out);
    assert_eq!(merged.outcomes.len(), 2);
    assert_eq!(merged.missing.len(), 1);
    assert!(merged.missing[0].reason.starts_with("failed: "));

    std::fs::remove_dir_all(out.join(failing)).unwrap();
    let second = common::run(&mut common::experiment(SWEEP, out, &[]));
    assert!(second.status.success());
    assert!(stdout(&second).contains("ran 1, skipped 2 (complete), failed 0"));
    assert!(!out.join(format!("{failing}.failed.txt")).exists());
    assert!(summary(out).missing.is_empty());
}

/// After one shard of three, `--merge` lists the two runs of the other shards as missing and
/// exits with status 1; merged for another budget, the same folder's runs are not taken for
/// that budget's (their specs differ), so every run of that budget is listed.
#[test]
fn merge_lists_the_runs_of_missing_shards() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let shard = common::run(&mut common::experiment(SWEEP, out, &["--shard", "0/3"]));
    assert!(shard.status.success());
    assert!(stdout(&shard).contains("shard 0/3 (from --shard): 1 of 3 runs"));
    let merge = common::run(&mut common::experiment(SWEEP, out, &["--merge"]));
    assert_eq!(merge.status.code(), Some(1));
    let merged = summary(out);
    assert_eq!(merged.outcomes.len(), 1);
    assert_eq!(merged.missing.len(), 2);

    let merge_full = common::run(&mut common::command(SWEEP, "full", out, &["--merge"]));
    assert_eq!(merge_full.status.code(), Some(1));
    let merged_full = summary(out);
    assert!(merged_full.outcomes.is_empty());
    assert_eq!(merged_full.missing.len(), 30);
    let present = &merged.outcomes[0].name;
    let reason = &merged_full
        .missing
        .iter()
        .find(|m| &m.name == present)
        .unwrap()
        .reason;
    assert!(reason.contains("another spec"), "{reason}");
}
