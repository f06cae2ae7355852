//! dynrec's experiments: each binary in `src/bin/` asks one question of `DESIGN.md` and answers
//! it with a report in `results/<experiment>/`; this library is the one runner they share.
//!
//! - [`spec`]: the serde [`Spec`] of a run (system, data, network, training, seed, budget,
//!   targets), written into every report;
//! - [`runner`]: [`run`]: simulate → Kalman reference on held-out data → train → analyse →
//!   `report.json`, `report.md`, plots;
//! - [`baselines`]: the classical estimates beside the RNN (N4SID, EM from N4SID);
//! - [`reference`]: the floors a network is measured against (Kalman one-step prediction, the
//!   true system's output-error prediction);
//! - [`progress`]: an `indicatif` training observer that also records the loss curves;
//! - [`cli`]: the command line, printed table and summaries every binary shares.

pub mod baselines;
pub mod cli;
pub mod progress;
pub mod reference;
pub mod runner;
pub mod spec;
pub mod sweep;

pub use runner::{
    Check, Outcome, Problem, Recorded, fit_and_report, git_commit, reference_linearisation, run,
    run_system,
};
pub use spec::{BaselineSpec, Baselines, Budget, Prior, Spec, SystemChoice, SystemSpec, Targets};
