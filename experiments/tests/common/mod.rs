//! What the experiment tests share: running a binary with a clean environment, and comparing
//! two output folders of one experiment number for number.

#![allow(dead_code)] // each test file uses its own part
#![allow(clippy::unwrap_used)] // helpers of the tests, which panic on failure by design

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The variables that would make a binary pick a shard by itself.
const SHARD_VARIABLES: [&str; 6] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
];

/// `binary --budget smoke --quiet --out out ARGS` ([`command`]).
pub fn experiment(binary: &str, out: &Path, args: &[&str]) -> Command {
    command(binary, "smoke", out, args)
}

/// `binary --budget BUDGET --quiet --out out ARGS`, without any shard variable of the test's
/// own environment (a test run inside a Slurm array task must not shard its "unsharded" runs).
pub fn command(binary: &str, budget: &str, out: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["--budget", budget, "--quiet", "--out"])
        .arg(out)
        .args(args);
    for variable in SHARD_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// Runs `command` and returns its output, echoing it for a failing test's log.
pub fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The value without timings (keys `seconds`, `*_seconds`) and report locations (`dir`).
pub fn without_timings(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    k.as_str() != "seconds" && k.as_str() != "dir" && !k.ends_with("_seconds")
                })
                .map(|(k, v)| (k.clone(), without_timings(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_timings).collect()),
        other => other.clone(),
    }
}

/// `line` with every number of seconds (a number followed by the word `s`, as in
/// `(0.38, 0.12 s)` or `| 0.8 s / 1.4 s |`) replaced by `_`.
fn mask_seconds(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let unit = |w: &str| {
        w.strip_prefix('s')
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
    };
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let number = w.trim_start_matches('(').parse::<f64>().is_ok();
            if number && words.get(i + 1).is_some_and(|n| unit(n)) {
                "_"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Asserts that two output folders of one experiment hold the same results: `outcomes.json`
/// and every run's `outcome.json` equal but for timings and locations, `README.md` equal but
/// for its rows of seconds and its numbers of seconds, the sweep plots (SVG) byte for byte. Returns the number of runs.
pub fn assert_same_results(a: &Path, b: &Path) -> usize {
    let (summary_a, summary_b) = (
        json(&a.join("outcomes.json")),
        json(&b.join("outcomes.json")),
    );
    assert_eq!(
        without_timings(&summary_a),
        without_timings(&summary_b),
        "outcomes.json of {} and {}",
        a.display(),
        b.display()
    );
    let readme = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("README.md"))
            .unwrap()
            .lines()
            .filter(|l| !l.contains("seconds"))
            .map(mask_seconds)
            .collect()
    };
    assert_eq!(readme(a), readme(b), "README.md");
    let plots = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("sweep_") && n.ends_with(".svg"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(plots(a), plots(b));
    for name in plots(a) {
        assert!(
            std::fs::read(a.join(&name)).unwrap() == std::fs::read(b.join(&name)).unwrap(),
            "{name} differs"
        );
    }
    let outcomes = summary_a["outcomes"].as_array().unwrap();
    for o in outcomes {
        let run = o["name"].as_str().unwrap();
        assert_eq!(
            without_timings(&json(&a.join(run).join("outcome.json"))),
            without_timings(&json(&b.join(run).join("outcome.json"))),
            "{run}/outcome.json"
        );
    }
    outcomes.len()
}
