//! Resuming: whether `<out>/<name>/` already holds the complete result of a spec, so that a
//! rerun can skip it and a merge can read its [`Outcome`] instead of running it.
//!
//! A report folder appears only as a whole ([`ReportFolder`](crate::ReportFolder): written in a
//! temporary sibling, renamed into place), with `report.json` (the completion mark) and
//! `outcome.json` in it. A run counts as complete for a spec when both are there and the spec
//! that `report.json` records is that spec (the commit and the version it was run with aside),
//! so results of another budget, backend or seed in the same place are not taken for it.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::outcome::{OUTCOME_FILE, Outcome};
use crate::spec::Spec;

/// The keys of a report's `spec` that say how, not what, was run.
const PROVENANCE: [&str; 2] = ["git_commit", "dynrec_version"];

/// What `<out>/<spec.name>/` holds for a spec.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// The complete result of this spec; the outcome's `dir` is the folder it was found in.
    Complete(Box<Outcome>),
    /// No report folder (never run, or killed or failed before it was complete).
    Absent,
    /// A report folder that is not the complete result of this spec, and why.
    Other(String),
}

impl RunState {
    /// The state of the run of `spec` in `out/<spec.name>/`. An unreadable folder is
    /// [`RunState::Other`] (with the reason), never an error: the run is then simply not
    /// complete.
    pub fn of(spec: &Spec, out: &Path) -> Self {
        let dir = out.join(&spec.name);
        if !dir.join("report.json").is_file() {
            return Self::Absent;
        }
        if !dir.join(OUTCOME_FILE).is_file() {
            return Self::Other(format!(
                "{} has a report.json but no {OUTCOME_FILE} (written before runs recorded \
                 their outcome)",
                dir.display()
            ));
        }
        match spec_differences(spec, &dir) {
            Ok(differences) if !differences.is_empty() => {
                return Self::Other(format!(
                    "{} holds the report of another spec (it differs in: {})",
                    dir.display(),
                    differences.join(", ")
                ));
            }
            Ok(_) => {}
            Err(e) => return Self::Other(format!("{e:#}")),
        }
        match Outcome::read(&dir) {
            Ok(outcome) => Self::Complete(Box::new(Outcome { dir, ..outcome })),
            Err(e) => Self::Other(format!("{e:#}")),
        }
    }

    /// The outcome, when complete.
    pub fn complete(self) -> Option<Outcome> {
        match self {
            Self::Complete(outcome) => Some(*outcome),
            Self::Absent | Self::Other(_) => None,
        }
    }
}

/// The top-level fields in which the spec recorded in `dir/report.json` differs from `spec`
/// (seeded, as a run records it), provenance aside; empty when they are the same spec.
fn spec_differences(spec: &Spec, dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("report.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let report: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Some(Value::Object(mut recorded)) = report.get("spec").cloned() else {
        anyhow::bail!("{}: no spec recorded", path.display());
    };
    for key in PROVENANCE {
        recorded.remove(key);
    }
    let Value::Object(expected) = serde_json::to_value(spec.clone().seeded())? else {
        anyhow::bail!("a spec is not a JSON object");
    };
    let mut keys: Vec<&String> = recorded.keys().chain(expected.keys()).collect();
    keys.sort();
    keys.dedup();
    Ok(keys
        .into_iter()
        .filter(|k| recorded.get(*k) != expected.get(*k))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::SpecRecord;
    use crate::spec::{Budget, Prior, damped_rotation, network};
    use dynrec_model::{Activation, Mode};

    fn spec(seed: u64) -> Spec {
        Spec {
            seed,
            ..Spec::new(
                "run",
                damped_rotation(0.95, 0.3, 1e-5, 1e-3, Prior::Isotropic(1e-4)),
                network(Mode::Simulation, 2, Activation::Linear),
                Budget::Smoke,
            )
        }
    }

    /// Writes `out/run/report.json` recording `spec` (as a run records it: seeded, with a
    /// commit and version) and, when `outcome` is given, `out/run/outcome.json`.
    fn folder(out: &Path, spec: &Spec, outcome: Option<&str>) {
        let dir = out.join("run");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let seeded = spec.clone().seeded();
        let report = serde_json::json!({ "spec": SpecRecord::now(&seeded) });
        std::fs::write(dir.join("report.json"), report.to_string()).expect("report");
        if let Some(text) = outcome {
            std::fs::write(dir.join(OUTCOME_FILE), text).expect("outcome");
        }
    }

    /// No folder (or one without report.json, as a killed run's temporary sibling would be
    /// elsewhere anyway) is `Absent`; a report without outcome.json, a report of another seed
    /// (naming the fields that differ) and an unreadable outcome.json are `Other`, never
    /// complete and never an error.
    #[test]
    fn only_the_same_spec_with_its_outcome_is_complete() {
        let root = tempfile::tempdir().expect("root");
        let out = root.path();
        assert_eq!(RunState::of(&spec(1), out), RunState::Absent);
        std::fs::create_dir_all(out.join("run")).expect("mkdir");
        assert_eq!(RunState::of(&spec(1), out), RunState::Absent);

        folder(out, &spec(1), None);
        let RunState::Other(why) = RunState::of(&spec(1), out) else {
            panic!("complete without outcome.json");
        };
        assert!(why.contains("no outcome.json"), "{why}");

        folder(out, &spec(2), Some("{}"));
        let RunState::Other(why) = RunState::of(&spec(1), out) else {
            panic!("another seed taken for this one");
        };
        assert!(
            why.contains("differs in: seed, simulation, training"),
            "{why}"
        );

        folder(out, &spec(1), Some("{ not json"));
        let RunState::Other(why) = RunState::of(&spec(1), out) else {
            panic!("an unreadable outcome taken as complete");
        };
        assert!(why.contains("parsing"), "{why}");
        assert_eq!(RunState::of(&spec(1), out).complete(), None);
    }
}
