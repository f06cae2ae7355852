//! dynrec's experiments: each binary in `src/bin/` asks one question of `docs/design.md` and
//! answers it with reports in `results/<experiment>/`. The runs themselves are
//! `dynrec-pipeline`'s; this library is the harness the binaries share:
//!
//! - [`cli`]: the command line of a binary, running its specs, the printed verdicts and
//!   table, `<out>/README.md`, `<out>/outcomes.json` and the `results/README.md` index;
//! - [`sweep`]: a parameter varied over several seeds, all runs in parallel, with sweep plots.

pub mod cli;
pub mod sweep;
