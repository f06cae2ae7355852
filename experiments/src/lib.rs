//! dynrec's experiments: each binary in `src/bin/` asks one question of `docs/design.md` and
//! answers it with reports in `results/<experiment>/`. The runs themselves are
//! `dynrec-pipeline`'s; this library is the harness the binaries share:
//!
//! - [`cli`]: an [`cli::Experiment`] (its runs: specs or a sweep) and its command line
//!   (`--budget`, `--out`, `--shard`, `--jobs`, `--redo`, `--merge`, `--backend`), the printed
//!   verdicts and table, the `results/README.md` index;
//! - [`shard`]: which runs a process runs (`--shard I/N`, a Slurm array task, a Kubernetes
//!   indexed job), by a stable hash of each run's name;
//! - [`runner`]: a shard's runs, skipping complete ones, in parallel on `--jobs` threads;
//! - [`merge`]: `<out>/README.md`, `<out>/outcomes.json` and the sweep plots, rebuilt from the
//!   run folders alone;
//! - [`sweep`]: a parameter varied over several seeds, with sweep plots.
//!
//! How to run a sweep on a cluster: `docs/scaling.md`.

pub mod cli;
pub mod merge;
pub mod runner;
pub mod shard;
pub mod sweep;
