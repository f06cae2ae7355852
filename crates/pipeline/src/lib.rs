//! One dynrec run, as typed stages that the experiment binaries and the `dynrec` command share
//! (see `docs/design.md`, "Architecture"):
//!
//! ```text
//! spec → simulate → references (floors on held-out data) → train → analyse → baselines
//!      → checks → report folder (report.json, report.md, plots)
//! ```
//!
//! - [`spec`]: the serde [`Spec`] of an experiment run (system, data, network, training, seed,
//!   budget, targets, baselines), written into every report;
//! - [`truth`]: the known system and the linear one the network is compared with;
//! - [`references`]: the floors a network is measured against (Kalman one-step prediction,
//!   the true system's output-error prediction);
//! - [`baselines`]: the classical estimates beside the RNN (N4SID, EM from N4SID);
//! - [`detrend`]: a per-sequence mean or linear trend removed before a fit;
//! - [`run`]: the stages and [`fit_and_report`], [`run_spec`];
//! - [`outcome`]: [`Outcome`], the one typed record of a run's numbers;
//! - [`folder`]: report folders replaced as a whole;
//! - [`resume`]: whether a report folder already holds a spec's complete result ([`RunState`]);
//! - [`progress`]: the training progress bar;
//! - [`user`]: a fit of a user's own data ([`user::fit_user_data`]), shared by `dynrec fit` and
//!   the `real` experiment.

pub mod baselines;
pub mod detrend;
pub mod folder;
pub mod outcome;
pub mod progress;
pub mod references;
pub mod resume;
pub mod run;
pub mod spec;
pub mod truth;
pub mod user;

pub use folder::ReportFolder;
pub use outcome::{Check, OUTCOME_FILE, Outcome};
pub use resume::RunState;
pub use run::{
    FitData, FitSettings, SpecRecord, fit_and_report, git_commit, run_spec, run_spec_on,
};
pub use spec::{
    BaselineSpec, Baselines, Budget, Prior, Spec, SystemChoice, Targets, damped_rotation,
    rotation_with_real_mode,
};
pub use truth::Truth;
