//! A fuzzing harness that stays: property-based generators of hostile input for the system-file
//! parser, the data-file reader, and simulation followed by filtering, the path `dynrec
//! simulate` and `dynrec filter` take (file → [`NamedSystem::load_dynamics`] → simulate → CSV →
//! [`Dataset::load`] → filter → CSV).
//!
//! **The property**, for every input: a clean error (a `TruthError` whose message, printed with
//! its chain as anyhow's `{:#}` prints it, names the file, cites no line outside it, says
//! nothing twice and stays short) or a finite, well-formed result (every number written is
//! finite, every variance ≥ 0, the CSV reads back to the same data); never a panic, a hang (each
//! case runs under a deadline; a hang stops the whole run with the input) or a non-finite cell.
//!
//! **Why proptest and not `cargo fuzz`:** `cargo fuzz` (libFuzzer) needs a nightly toolchain,
//! and this project builds on stable only; proptest runs in the normal `cargo test`, shrinks a
//! failure to a small input, and stores it in `tests/fuzz.proptest-regressions` for every later
//! run. Its generators are structured (mutations of the files in `systems/`, of a simulated data
//! file, and of systems built from extreme parameters) rather than coverage-guided, so they
//! reach deep paths (a filter on a system that parsed) that random bytes would not.
//!
//! **Cases per target** (release build, in the normal `cargo test`; each target well under 60 s
//! on one loaded core): [`PARSER_CASES`], [`DATA_CASES`], [`END_TO_END_CASES`]. The `--ignored`
//! long run (`cargo test -p dynrec-truth --release --test fuzz -- --ignored`) multiplies each by
//! [`LONG_RUN_FACTOR`]; `DYNREC_FUZZ_CASES` overrides the count of every target.
//!
//! Measured on the 2-core development machine (release, one test thread, other builds
//! running): system files 3,000 cases in about 14 s, data files 20,000 in about 10 s, simulate
//! → filter 4,000 in about 15 s, binary system files 200 in under a second. `-- --nocapture`
//! prints how the cases ended (each kind of error and each kind of success, with counts).
//! `DYNREC_FUZZ_SURVEY=1` counts failures instead of stopping at the first (with the first
//! input of each), to list everything a target finds at once.
//!
//! **Defects the fuzzer found while it was built** (each fixed at its cause, each with a
//! regression test in `tests/hostile.rs`):
//! - a data-file header cell starting with a multi-byte character (a second byte-order mark,
//!   `ü1`) panicked: the reader split the name after its first byte
//!   (`a_header_cell_starting_with_a_multibyte_character_is_an_error`);
//! - `z01`, `z+1`, `u01` were read as `z1`, `u1` (the Python reference refuses them)
//!   (`column_numbers_have_no_leading_zero_or_sign`);
//! - `P0 = "stationary"` with `q = 1e308` hung for ever: the Riccati solution overflowed, and
//!   nalgebra's Schur iteration (no iteration limit) never returned on the NaN closed loop
//!   (`a_stationary_prior_that_overflows_is_an_error_not_a_hang`); the symmetric eigen-solver
//!   and the SVD had the same unbounded loop and are bounded and rescaled too
//!   (`covariances_near_1e308_do_not_hang_the_eigen_solver`);
//! - a duplicated or unknown column named the column twice ("column `z1`: column `z1` appears
//!   twice") (`column_errors_name_the_column_once`);
//! - the Kalman filter, the extended filter and the RTS smoother left negative variances at
//!   extreme scales (−1e-15 with `R` = 1e-20 next to `P0` = 1e3, −6e84 with `P0` = 1e100 next
//!   to `R` = 1e20), not only the unscented filter named in the issue
//!   (`kalman_variances_never_go_negative`);
//! - a `P0` (or `Q`) with −1e-300 on its diagonal passed validation (the eigenvalue test
//!   tolerates rounding-level negative eigenvalues) and was printed as a negative variance by
//!   a filter whose first row is missing (long run; `a_negative_variance_in_a_covariance_is_refused`).
//!
//! Run on the code before the issue (commit b87f82a) in survey mode, the same targets also find
//! the issue's own defects: measurements of `H x` that overflow written with exit 0, negative
//! UKF variances (R ≤ 1e-20, P0 or Q near 1e300), 100 KB cells quoted whole, the hang above.

#![allow(clippy::unwrap_used)] // test helpers: a failure is the test failing

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use dynrec_truth::{
    Dataset, FilterMethod, InputSignal, NamedSystem, SimulationConfig, TruthError,
    estimate_dynamics, simulate,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Cases of the system-file target in the normal test run.
const PARSER_CASES: u32 = 3000;
/// Cases of the data-file target in the normal test run.
const DATA_CASES: u32 = 20000;
/// Cases of the simulate → filter target in the normal test run.
const END_TO_END_CASES: u32 = 4000;
/// How many times more cases the `--ignored` long run makes.
const LONG_RUN_FACTOR: u32 = 30;
/// The longest one case may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(30);
/// The longest message an error may print (a 2 MB line used to be echoed whole).
const MESSAGE_LIMIT: usize = 2000;

/// How the cases of a target ended: the first words of each error, and the successes.
static OUTCOMES: Mutex<BTreeMap<&'static str, BTreeMap<String, usize>>> =
    Mutex::new(BTreeMap::new());

/// Counts one outcome of `target` (printed by [`report`]).
fn record(target: &'static str, outcome: String) {
    let mut all = OUTCOMES.lock().unwrap_or_else(|e| e.into_inner());
    *all.entry(target).or_default().entry(outcome).or_default() += 1;
}

/// The kind of an error, for the outcome counts: its message without numbers and paths.
fn kind(e: &TruthError) -> String {
    let message = chain(e);
    let words: Vec<&str> = message
        .split_whitespace()
        .filter(|w| !w.contains(|c: char| c.is_ascii_digit() || c == '/'))
        .take(8)
        .collect();
    format!("error: {}", words.join(" "))
}

/// Prints how the cases of `target` ended (`cargo test … -- --nocapture` shows it).
fn report(target: &'static str, start: Instant) {
    let all = OUTCOMES.lock().unwrap_or_else(|e| e.into_inner());
    let outcomes = all.get(target).cloned().unwrap_or_default();
    let total: usize = outcomes.values().sum();
    eprintln!(
        "{target}: {total} cases in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let mut sorted: Vec<_> = outcomes.into_iter().collect();
    sorted.sort_by_key(|b| std::cmp::Reverse(b.1));
    for (outcome, count) in sorted.iter().take(25) {
        eprintln!("  {count:6}  {outcome}");
    }
    let first = FIRST_INPUTS.lock().unwrap_or_else(|e| e.into_inner());
    for (outcome, _) in &sorted {
        if let Some(input) = first.get(outcome) {
            eprintln!("first input of {outcome}:\n{input}\n");
        }
    }
}

fn cases(normal: u32, long: bool) -> u32 {
    std::env::var("DYNREC_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(if long {
            normal * LONG_RUN_FACTOR
        } else {
            normal
        })
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        max_shrink_iters: 2000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        source_file: Some(file!()),
        ..Config::default()
    })
}

/// Which filter a case runs.
fn method() -> impl Strategy<Value = FilterMethod> {
    prop_oneof![
        Just(FilterMethod::Auto),
        Just(FilterMethod::Ekf),
        Just(FilterMethod::Ukf)
    ]
}

fn systems_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems")
}

/// The example system files, as (name, text).
fn system_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(systems_dir())
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// Whether failures are surveyed (`DYNREC_FUZZ_SURVEY=1`): each is counted with the first
/// input that showed it and the run goes on, instead of stopping at the first and shrinking
/// it. Used to list every defect a target finds at once (e.g. on an old commit).
fn survey() -> bool {
    std::env::var_os("DYNREC_FUZZ_SURVEY").is_some()
}

/// Runs one case of `target` on another thread under [`DEADLINE`]. A failure or a panic fails
/// the case (or, in [`survey`] mode, is counted and the run goes on); a hang prints the input
/// and stops the whole test binary (shrinking would only start more hanging threads).
fn run_case(
    target: &'static str,
    input: String,
    f: impl FnOnce() -> Result<(), TestCaseError> + Send + 'static,
) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    let outcome = match rx.recv_timeout(DEADLINE) {
        Ok(outcome) => outcome,
        Err(_) if survey() && HANGS.fetch_add(1, Ordering::SeqCst) < 3 => {
            // Surveying: the thread is left spinning (at most 3 of them) and the run goes on.
            let what = format!("HANG: more than {DEADLINE:?}");
            FIRST_INPUTS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(what.clone())
                .or_insert(input);
            record(target, what);
            return Ok(());
        }
        Err(_) => {
            eprintln!("HANG ({target}): more than {DEADLINE:?} on this input:\n{input}");
            std::process::exit(3);
        }
    };
    if !survey() {
        return match outcome {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
    }
    let what = match outcome {
        Ok(Err(TestCaseError::Fail(reason))) => format!("FAIL: {reason}"),
        Err(panic) => format!(
            "PANIC: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        ),
        Ok(other) => return other,
    };
    let what: String = what.chars().take(160).collect();
    let mut first = FIRST_INPUTS.lock().unwrap_or_else(|e| e.into_inner());
    first
        .entry(what.clone())
        .or_insert_with(|| input.chars().take(1500).collect());
    drop(first);
    record(target, what);
    Ok(())
}

/// In [`survey`] mode, the hangs seen so far.
static HANGS: AtomicUsize = AtomicUsize::new(0);

/// In [`survey`] mode, the first input of each failure.
static FIRST_INPUTS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// The message an error prints, with its causes as anyhow's `{:#}` prints them.
fn chain(e: &TruthError) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// A part of `message` said twice in a row ("A: A"), at least 12 characters long.
fn doubled(message: &str) -> Option<String> {
    for (i, _) in message.match_indices(": ") {
        let (left, right) = (&message[..i], &message[i + 2..]);
        for (end, _) in right.char_indices().skip(12) {
            if left.ends_with(&right[..end]) {
                return Some(right[..end].to_string());
            }
        }
    }
    None
}

/// The lines a message cites (`line N`).
fn cited_lines(message: &str) -> Vec<usize> {
    message
        .match_indices("line ")
        .filter_map(|(i, _)| {
            let digits: String = message[i + 5..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// The error half of the property: the message names `file`, cites only lines of `text`
/// (`None`: not checked), says nothing twice and stays under [`MESSAGE_LIMIT`].
fn check_error(
    target: &'static str,
    e: &TruthError,
    file: &str,
    text: Option<&str>,
) -> Result<(), TestCaseError> {
    record(target, kind(e));
    let message = chain(e);
    prop_assert!(
        message.chars().count() <= MESSAGE_LIMIT,
        "a message of {} characters: {}…",
        message.chars().count(),
        message.chars().take(300).collect::<String>()
    );
    prop_assert!(message.contains(file), "the file is not named: {message}");
    prop_assert!(
        !message.contains("lost positive semi-definiteness"),
        "a filter or smoother produced a negative variance: {message}"
    );
    if let Some(d) = doubled(&message) {
        prop_assert!(false, "`{d}` said twice: {message}");
    }
    if let Some(text) = text {
        let lines = text.lines().count().max(1);
        for line in cited_lines(&message) {
            prop_assert!(
                line >= 1 && line <= lines + 1,
                "line {line} of a {lines}-line file: {message}"
            );
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ system files

/// Replacements for a number of a system file: floats TOML accepts, at the extremes.
const FLOATS: &[&str] = &[
    "nan",
    "+nan",
    "-nan",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e-308",
    "5e-324",
    "0.0",
    "-0.0",
    "0",
    "-1",
    "-1e-300",
    "1e-20",
    "1e-300",
    "1e300",
    "1e150",
    "2",
    "1000000000",
    "3.0",
];

/// Replacements for a number that TOML or the format refuses (or reads as another type).
const TOKENS: &[&str] = &[
    "1e400",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "\"1.0\"",
    "true",
    "[]",
    "[[]]",
    "[1.0]",
    "[[1.0]]",
    "[[1.0, 2.0]]",
    "{}",
    "1979-05-27",
    "0x10",
    "1_000",
    "1e",
    "--1",
    ".5",
];

/// Replacements for an array of a system file.
const ARRAYS: &[&str] = &[
    "[]",
    "[[]]",
    "[[], []]",
    "[[1.0]]",
    "[1.0, 2.0]",
    "[[1.0, 0.0], [0.0]]",
    "[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]",
    "[[nan, 0.0], [0.0, 1.0]]",
    "[[1e308, 1e308], [1e308, 1e308]]",
    "[[1e308, -1e308], [-1e308, 1e308]]",
    "[[1e300, 0.0], [0.0, 1e300]]",
    "[[1e-300, 0.0], [0.0, 1e-300]]",
    "[[1.0, 2.0], [2.0, 1.0]]",
    "[[1.0, 1e-9], [0.0, 1.0]]",
    "[\"a\", \"b\"]",
    "[[1.0, \"x\"]]",
    "[[[1.0]]]",
];

/// Lines a mutation may add to a system file.
const EXTRA_LINES: &[&str] = &[
    "q = 1e-4",
    "Q = [[1.0, 0.0], [0.0, 1.0]]",
    "r = 1.0",
    "R = [[1.0]]",
    "P0 = [[1.0, 0.0], [0.0, 1.0]]",
    "p0 = 1.0",
    "P0 = \"stationary\"",
    "kind = \"linear\"",
    "kind = \"pendulum\"",
    "kind = 3",
    "kind = [\"lorenz\"]",
    "substeps = 1000000000",
    "substeps = 0",
    "substeps = -1",
    "dt = 1e308",
    "dt = 1e-308",
    "dt = -0.05",
    "H = [[1e308, 0.0]]",
    "H = [[1.0, 0.0], [0.0, 1.0]]",
    "H = []",
    "x0 = [1e308, 1e308]",
    "x0 = []",
    "B = []",
    "B = [[1e308], [1e308]]",
    "[table]",
    "[[array]]",
    "unknown = 1",
    "a.b.c = 1",
    "\"quoted key\" = 1",
    "# comment",
    "",
    "=",
    "Q =",
];

/// One change to a system file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the `index`-th number (mod their count) by `FLOATS[choice]`.
    Number(usize, usize),
    /// Replace the `index`-th number by `TOKENS[choice]`.
    Token(usize, usize),
    /// Replace the `index`-th array value by `ARRAYS[choice]`.
    Array(usize, usize),
    /// Replace the `index`-th array value by one nested `depth` deep.
    Nested(usize, usize),
    /// Add `EXTRA_LINES[choice]` after line `index`.
    AddLine(usize, usize),
    /// Delete line `index`.
    DeleteLine(usize),
    /// Duplicate line `index`.
    DuplicateLine(usize),
    /// Swap the case of the key of line `index` (`q` ↔ `Q`).
    SwapCase(usize),
    /// Put a byte-order mark first.
    Bom,
    /// Every `\n` becomes `\r\n`.
    Crlf,
    /// Cut the text at `index` (mod its length).
    Truncate(usize),
    /// Insert these characters at `index`.
    Garbage(usize, String),
    /// Append a line of `length` characters (`x0 = [0.0, 0.0, …]` or a long string).
    LongLine(usize, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        8 => (any::<usize>(), 0..FLOATS.len()).prop_map(|(i, c)| Mutation::Number(i, c)),
        1 => (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, c)| Mutation::Token(i, c)),
        4 => (any::<usize>(), 0..ARRAYS.len()).prop_map(|(i, c)| Mutation::Array(i, c)),
        1 => (any::<usize>(), prop_oneof![1..10usize, 100..5000usize])
            .prop_map(|(i, d)| Mutation::Nested(i, d)),
        2 => (any::<usize>(), 0..EXTRA_LINES.len()).prop_map(|(i, c)| Mutation::AddLine(i, c)),
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => any::<usize>().prop_map(Mutation::SwapCase),
        1 => Just(Mutation::Bom),
        1 => Just(Mutation::Crlf),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), ".{1,12}").prop_map(|(i, g)| Mutation::Garbage(i, g)),
        1 => (prop_oneof![10..300usize, 100_000..300_000usize], any::<bool>())
            .prop_map(|(l, s)| Mutation::LongLine(l, s)),
    ]
}

/// The byte ranges of the numbers of a TOML text (digits not part of a key such as `x0`).
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts {
            let start = if i > 0 && bytes[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            let mut end = i;
            while end < bytes.len()
                && (bytes[end].is_ascii_digit() || b".eE+-_".contains(&bytes[end]))
            {
                end += 1;
            }
            out.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// The byte ranges of the array values (`key = [...]`) of a TOML text.
fn arrays(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (i, _) in text.match_indices('[') {
        let before = text[..i].trim_end();
        if !before.ends_with('=') {
            continue;
        }
        let mut depth = 0;
        for (j, &b) in bytes.iter().enumerate().skip(i) {
            match b {
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push((i, j + 1));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn replace_nth(text: &str, ranges: &[(usize, usize)], index: usize, with: &str) -> String {
    if ranges.is_empty() {
        return text.to_string();
    }
    let (start, end) = ranges[index % ranges.len()];
    format!("{}{with}{}", &text[..start], &text[end..])
}

fn char_boundary(text: &str, index: usize) -> usize {
    let mut i = index % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let line = |i: usize| i % lines.len().max(1);
    match m {
        Mutation::Number(i, c) => replace_nth(text, &numbers(text), *i, FLOATS[*c]),
        Mutation::Token(i, c) => replace_nth(text, &numbers(text), *i, TOKENS[*c]),
        Mutation::Array(i, c) => replace_nth(text, &arrays(text), *i, ARRAYS[*c]),
        Mutation::Nested(i, depth) => {
            let nested = format!("{}1.0{}", "[".repeat(*depth), "]".repeat(*depth));
            replace_nth(text, &arrays(text), *i, &nested)
        }
        Mutation::AddLine(i, c) => {
            let at = if lines.is_empty() { 0 } else { line(*i) + 1 };
            lines.insert(at, EXTRA_LINES[*c].to_string());
            lines.join("\n") + "\n"
        }
        Mutation::DeleteLine(i) => {
            if !lines.is_empty() {
                let at = line(*i);
                lines.remove(at);
            }
            lines.join("\n") + "\n"
        }
        Mutation::DuplicateLine(i) => {
            if !lines.is_empty() {
                let at = line(*i);
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            lines.join("\n") + "\n"
        }
        Mutation::SwapCase(i) => {
            if !lines.is_empty() {
                let at = line(*i);
                let swapped: String = lines[at]
                    .chars()
                    .map(|c| {
                        if c.is_ascii_uppercase() {
                            c.to_ascii_lowercase()
                        } else {
                            c.to_ascii_uppercase()
                        }
                    })
                    .collect();
                lines[at] = swapped;
            }
            lines.join("\n") + "\n"
        }
        Mutation::Bom => format!("\u{feff}{text}"),
        Mutation::Crlf => text.replace('\n', "\r\n"),
        Mutation::Truncate(i) => text[..char_boundary(text, *i)].to_string(),
        Mutation::Garbage(i, g) => {
            let at = char_boundary(text, *i);
            format!("{}{g}{}", &text[..at], &text[at..])
        }
        Mutation::LongLine(length, string) => {
            let value = if *string {
                format!("\"{}\"", "x".repeat(*length))
            } else {
                format!("[{}]", vec!["0.0"; *length / 5 + 1].join(", "))
            };
            format!("{text}\nx0 = {value}\n")
        }
    }
}

/// A system that built, simulated briefly and filtered: either step may fail cleanly; what
/// succeeds is finite and well formed.
fn exercise(
    target: &'static str,
    system: &dyn dynrec_truth::Dynamics,
    config: &SimulationConfig,
    method: FilterMethod,
    smooth: bool,
    file: &str,
) -> Result<(), TestCaseError> {
    let data = match simulate(system, config) {
        Ok(data) => data,
        Err(e) => return check_error(target, &e, "", None),
    };
    for seq in &data.sequences {
        let states = seq.states.as_ref().unwrap();
        prop_assert!(seq.t.iter().chain(seq.inputs.iter()).all(|v| v.is_finite()));
        prop_assert!(states.iter().all(|v| v.is_finite()));
        prop_assert!(seq.measurements.iter().all(|v| v.is_finite() || v.is_nan()));
    }
    // Through the file format, as the command line goes.
    let mut csv = Vec::new();
    data.write_csv(&mut csv).unwrap();
    let path = Path::new(file);
    let back = Dataset::from_csv_reader(csv.as_slice(), path).unwrap();
    prop_assert!(same_data(&data, &back), "the CSV does not read back");
    back.check_against(system, path).unwrap();
    match estimate_dynamics(system, &back, method, smooth) {
        Ok(estimates) => {
            prop_assert_eq!(estimates.len(), back.sequences.len());
            for e in &estimates {
                prop_assert!(e.means.iter().all(|v| v.is_finite()), "a mean not finite");
                prop_assert!(
                    e.variances.iter().all(|v| v.is_finite() && *v >= 0.0),
                    "a variance not finite or negative: {:?}",
                    e.variances.iter().find(|v| !(v.is_finite() && **v >= 0.0))
                );
            }
            let mut out = Vec::new();
            back.write_estimates_csv(&estimates, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            for cell in text.lines().skip(1).flat_map(|l| l.split(',')) {
                let v: f64 = cell.parse().unwrap();
                prop_assert!(v.is_finite(), "a non-finite cell `{cell}` was written");
            }
            record(
                target,
                format!("ok: simulated and filtered ({method:?}, smooth {smooth})"),
            );
        }
        Err(e) => check_error(target, &e, "", None)?,
    }
    Ok(())
}

/// Whether two data sets hold the same numbers (NaN = missing equal to NaN).
fn same_data(a: &Dataset, b: &Dataset) -> bool {
    let same = |x: &[f64], y: &[f64]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
    };
    a.sequences.len() == b.sequences.len()
        && a.rows == b.rows
        && a.sequences.iter().zip(&b.sequences).all(|(s, t)| {
            s.id == t.id
                && same(&s.t, &t.t)
                && s.inputs.shape() == t.inputs.shape()
                && same(s.inputs.as_slice(), t.inputs.as_slice())
                && s.measurements.shape() == t.measurements.shape()
                && same(s.measurements.as_slice(), t.measurements.as_slice())
                && match (&s.states, &t.states) {
                    (Some(x), Some(y)) => {
                        x.shape() == y.shape() && same(x.as_slice(), y.as_slice())
                    }
                    (None, None) => true,
                    _ => false,
                }
        })
}

fn system_file_target(long: bool) {
    let start = Instant::now();
    let files = system_files();
    let dir = tempfile::tempdir().unwrap();
    let strategy = (
        0..files.len(),
        prop::collection::vec(mutation(), 1..4),
        any::<u64>(),
        method(),
        any::<bool>(),
    );
    runner(cases(PARSER_CASES, long))
        .run(&strategy, |(file, mutations, seed, method, smooth)| {
            let mut text = files[file].1.clone();
            for m in &mutations {
                text = apply(&text, m);
            }
            let path = dir.path().join("S.toml");
            std::fs::write(&path, &text).unwrap();
            let input = format!("{}, mutated by {mutations:?}:\n{text}", files[file].0);
            let shown: String = input.chars().take(5000).collect();
            run_case(
                "system files",
                shown,
                move || -> Result<(), TestCaseError> {
                    match NamedSystem::load_dynamics(&path) {
                        Err(e) => check_error("system files", &e, "S.toml", Some(&text)),
                        Ok(system) => {
                            let config = SimulationConfig {
                                sequences: 1,
                                steps: 12,
                                seed,
                                missing_fraction: 0.2,
                                ..SimulationConfig::default()
                            };
                            exercise("system files", &*system, &config, method, smooth, "D.csv")
                        }
                    }
                },
            )
        })
        .unwrap();
    report("system files", start);
}

/// The system-file parser and builder on mutated example files (NaN, inf, 1e308, wrong
/// shapes, empty arrays, deep nesting, duplicated and re-cased keys, BOM, CRLF, truncation,
/// garbage, 300 KB lines): a clean error or a system that simulates and filters to finite,
/// well-formed output.
#[test]
fn system_files_load_cleanly_or_fail_cleanly() {
    system_file_target(false);
}

/// [`system_files_load_cleanly_or_fail_cleanly`] with [`LONG_RUN_FACTOR`] times the cases.
#[test]
#[ignore = "long fuzzing run"]
fn system_files_long_run() {
    system_file_target(true);
}

/// The same, for a file that is not UTF-8 (binary garbage): a clean error naming the file.
#[test]
fn binary_system_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("S.toml");
    runner(200)
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            std::fs::File::create(&path)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
            match NamedSystem::load_dynamics(&path) {
                Err(e) => check_error("binary system files", &e, "S.toml", None),
                Ok(_) => Ok(()),
            }
        })
        .unwrap();
}

// ------------------------------------------------------------------ data files

/// Replacements for a data cell.
const CELLS: &[&str] = &[
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "infinity",
    "1e308",
    "-1e308",
    "1e309",
    "1e-400",
    "5e-324",
    "0x10",
    "1_0",
    "+1",
    "-0",
    "x",
    "1,2",
    "\"3\"",
    "\"",
    "1.5",
    "-9223372036854775808",
    "9223372036854775808",
    "99999999999999999999",
    "\u{feff}1",
    "\t",
    "1e",
    ".",
    "-",
];

/// Replacements for a header cell.
const COLUMNS: &[&str] = &[
    "seq",
    "t",
    "u1",
    "u2",
    "u3",
    "z1",
    "z2",
    "z0",
    "z01",
    "x1",
    "x2",
    "x3",
    "Z1",
    "",
    " z1",
    "y1",
    "u",
    "z",
    "x-1",
    "z18446744073709551616",
];

/// One change to a data file.
#[derive(Debug, Clone)]
enum DataMutation {
    /// Replace cell `column` of row `row` (mod their counts) by `CELLS[choice]`.
    Cell(usize, usize, usize),
    /// Replace header cell `column` by `COLUMNS[choice]`.
    Header(usize, usize),
    /// Delete column `column` from every row.
    DeleteColumn(usize),
    /// Duplicate column `column` in every row.
    DuplicateColumn(usize),
    /// Delete row `row`.
    DeleteRow(usize),
    /// Duplicate row `row`.
    DuplicateRow(usize),
    /// Insert a blank line before row `row`.
    BlankLine(usize),
    /// A byte-order mark first.
    Bom,
    /// CRLF line ends.
    Crlf,
    /// Cut the bytes at `index`.
    Truncate(usize),
    /// Insert these bytes at `index`.
    Garbage(usize, Vec<u8>),
    /// Replace a cell by `length` characters.
    LongCell(usize, usize, usize),
}

fn data_mutation() -> impl Strategy<Value = DataMutation> {
    prop_oneof![
        5 => (any::<usize>(), any::<usize>(), 0..CELLS.len())
            .prop_map(|(r, c, k)| DataMutation::Cell(r, c, k)),
        2 => (any::<usize>(), 0..COLUMNS.len()).prop_map(|(c, k)| DataMutation::Header(c, k)),
        1 => any::<usize>().prop_map(DataMutation::DeleteColumn),
        1 => any::<usize>().prop_map(DataMutation::DuplicateColumn),
        1 => any::<usize>().prop_map(DataMutation::DeleteRow),
        1 => any::<usize>().prop_map(DataMutation::DuplicateRow),
        1 => any::<usize>().prop_map(DataMutation::BlankLine),
        1 => Just(DataMutation::Bom),
        1 => Just(DataMutation::Crlf),
        1 => any::<usize>().prop_map(DataMutation::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, g)| DataMutation::Garbage(i, g)),
        1 => (any::<usize>(), any::<usize>(), prop_oneof![100..300usize, 100_000..200_000usize])
            .prop_map(|(r, c, l)| DataMutation::LongCell(r, c, l)),
    ]
}

fn apply_data(bytes: Vec<u8>, m: &DataMutation) -> Vec<u8> {
    let edit_table = |f: &dyn Fn(&mut Vec<Vec<String>>)| {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut table: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        if !table.is_empty() {
            f(&mut table);
        }
        let lines: Vec<String> = table.iter().map(|r| r.join(",")).collect();
        (lines.join("\n") + "\n").into_bytes()
    };
    match m {
        DataMutation::Cell(r, c, k) => edit_table(&|t| {
            let r = 1 + r % (t.len() - 1).max(1);
            if let Some(row) = t.get_mut(r) {
                let c = c % row.len();
                row[c] = CELLS[*k].to_string();
            }
        }),
        DataMutation::LongCell(r, c, l) => edit_table(&|t| {
            let r = r % t.len();
            let c = c % t[r].len();
            t[r][c] = "7".repeat(*l);
        }),
        DataMutation::Header(c, k) => edit_table(&|t| {
            let c = c % t[0].len();
            t[0][c] = COLUMNS[*k].to_string();
        }),
        DataMutation::DeleteColumn(c) => edit_table(&|t| {
            let c = c % t[0].len();
            for row in t.iter_mut() {
                if c < row.len() {
                    row.remove(c);
                }
            }
        }),
        DataMutation::DuplicateColumn(c) => edit_table(&|t| {
            let c = c % t[0].len();
            for row in t.iter_mut() {
                if c < row.len() {
                    let copy = row[c].clone();
                    row.insert(c, copy);
                }
            }
        }),
        DataMutation::DeleteRow(r) => edit_table(&|t| {
            let r = r % t.len();
            t.remove(r);
        }),
        DataMutation::DuplicateRow(r) => edit_table(&|t| {
            let r = r % t.len();
            let copy = t[r].clone();
            t.insert(r, copy);
        }),
        DataMutation::BlankLine(r) => edit_table(&|t| {
            let r = r % t.len();
            t.insert(r, vec![String::new()]);
        }),
        DataMutation::Bom => [b"\xef\xbb\xbf".as_slice(), &bytes].concat(),
        DataMutation::Crlf => String::from_utf8_lossy(&bytes)
            .replace('\n', "\r\n")
            .into_bytes(),
        DataMutation::Truncate(i) => bytes[..i % (bytes.len() + 1)].to_vec(),
        DataMutation::Garbage(i, g) => {
            let at = i % (bytes.len() + 1);
            [&bytes[..at], g.as_slice(), &bytes[at..]].concat()
        }
    }
}

fn data_file_target(long: bool) {
    let start = Instant::now();
    let rotation = NamedSystem::load_dynamics(&systems_dir().join("rotation.toml")).unwrap();
    let mut base = Vec::new();
    simulate(
        &*rotation,
        &SimulationConfig {
            sequences: 2,
            steps: 6,
            missing_fraction: 0.3,
            seed: 1,
            ..SimulationConfig::default()
        },
    )
    .unwrap()
    .write_csv(&mut base)
    .unwrap();
    let strategy = (
        prop::collection::vec(data_mutation(), 1..5),
        method(),
        any::<bool>(),
    );
    runner(cases(DATA_CASES, long))
        .run(&strategy, |(mutations, method, smooth)| {
            let mut bytes = base.clone();
            for m in &mutations {
                bytes = apply_data(bytes, m);
            }
            let input = format!(
                "{mutations:?}:\n{}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(3000)
                    .collect::<String>()
            );
            let rotation =
                NamedSystem::load_dynamics(&systems_dir().join("rotation.toml")).unwrap();
            run_case("data files", input, move || -> Result<(), TestCaseError> {
                let path = Path::new("D.csv");
                let data = match Dataset::from_csv_reader(bytes.as_slice(), path) {
                    Ok(data) => data,
                    Err(e) => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        check_error("data files", &e, "D.csv", Some(&text))?;
                        prop_assert!(chain(&e).contains("line "), "no line: {}", chain(&e));
                        return Ok(());
                    }
                };
                for seq in &data.sequences {
                    prop_assert!(seq.t.iter().chain(seq.inputs.iter()).all(|v| v.is_finite()));
                    prop_assert!(seq.states.iter().flatten().all(|v| v.is_finite()));
                    prop_assert!(seq.measurements.iter().all(|v| v.is_finite() || v.is_nan()));
                    prop_assert_eq!(seq.inputs.ncols(), seq.len());
                }
                let total: usize = data.sequences.iter().map(|s| s.len()).sum();
                prop_assert_eq!(total, data.rows.len());
                let mut csv = Vec::new();
                data.write_csv(&mut csv).unwrap();
                let back = Dataset::from_csv_reader(csv.as_slice(), path).unwrap();
                prop_assert!(
                    same_data(&data, &back),
                    "the data does not survive a round trip"
                );
                match data.check_against(&*rotation, path) {
                    Err(e) => check_error("data files", &e, "D.csv", None),
                    Ok(()) => match estimate_dynamics(&*rotation, &data, method, smooth) {
                        Err(e) => check_error("data files", &e, "", None),
                        Ok(estimates) => {
                            for e in &estimates {
                                prop_assert!(e.means.iter().all(|v| v.is_finite()));
                                prop_assert!(
                                    e.variances.iter().all(|v| v.is_finite() && *v >= 0.0)
                                );
                            }
                            record("data files", "ok: read and filtered".into());
                            Ok(())
                        }
                    },
                }
            })
        })
        .unwrap();
    report("data files", start);
}

/// The data-file reader on mutated simulated files (NaN, inf, 1e308, empty and garbage cells,
/// wrong, duplicated and missing columns, duplicated and blank rows, BOM, CRLF, truncation,
/// binary garbage, 200 KB cells): a clean error naming the file and the line, or data whose
/// every number is finite (missing measurements aside), that survives a round trip through
/// the format and filters to finite estimates or a clean error.
#[test]
fn data_files_read_cleanly_or_fail_cleanly() {
    data_file_target(false);
}

/// [`data_files_read_cleanly_or_fail_cleanly`] with [`LONG_RUN_FACTOR`] times the cases.
#[test]
#[ignore = "long fuzzing run"]
fn data_files_long_run() {
    data_file_target(true);
}

// ------------------------------------------------------------------ simulate → filter

/// Extreme magnitudes for noise, prior and parameters.
const SCALES: &[f64] = &[
    0.0, 1e-300, 1e-20, 1e-8, 1e-4, 1e-2, 1.0, 1e3, 1e20, 1e100, 1e300, 1e308,
];

/// A system file built from extreme parameters: a linear one of random shape or a library
/// kind, with noise, prior, inputs and measurement at the scales of [`SCALES`].
fn system_text() -> impl Strategy<Value = String> {
    let scale = || prop::sample::select(SCALES);
    let linear = (
        (1..4usize, 0..3usize, 1..3usize),
        prop::collection::vec(-1.0..1.0f64, 36),
        prop::sample::select(&[0.3, 0.9, 1.0, 1.2, 2.0, 1e154, 1e308][..]),
        (scale(), scale(), scale(), scale(), scale()),
        any::<bool>(),
    )
        .prop_map(
            |((n, m, p), draws, a_scale, (q, r, p0, b, h), stationary)| {
                let mut draws = draws.into_iter().cycle();
                let mut matrix = |rows: usize, cols: usize, scale: f64| {
                    let rows: Vec<String> = (0..rows)
                        .map(|_| {
                            let row: Vec<String> = (0..cols)
                                .map(|_| format!("{:e}", draws.next().unwrap() * scale))
                                .collect();
                            format!("[{}]", row.join(", "))
                        })
                        .collect();
                    format!("[{}]", rows.join(", "))
                };
                let a = matrix(n, n, a_scale / n as f64);
                let b = matrix(n, m, b.max(1e-3));
                let h = matrix(p, n, h.max(1e-3));
                let mut text = format!("A = {a}\nH = {h}\nq = {q:e}\nr = {:e}\n", r.max(1e-300));
                if m > 0 {
                    text.push_str(&format!("B = {b}\n"));
                }
                if stationary {
                    text.push_str("P0 = \"stationary\"\n");
                } else {
                    text.push_str(&format!("P0 = {p0:e}\n"));
                }
                text
            },
        );
    let named = (
        0..4usize,
        prop::sample::select(&[1e-6, 0.01, 0.05, 1.0, 100.0, 1e308][..]),
        prop::sample::select(&[1usize, 3, 50][..]),
        (scale(), scale(), scale(), scale()),
    )
        .prop_map(|(kind, dt, substeps, (q, r, p0, x0))| {
            let (kind, parameters, n) = [
                ("pendulum", "length = 1.0\ndamping = 0.5\n", 2),
                ("van_der_pol", "mu = 1.0\n", 2),
                ("duffing", "delta = 0.3\nalpha = -1.0\nbeta = 1.0\n", 2),
                (
                    "lorenz",
                    "sigma = 10.0\nrho = 28.0\nbeta = 2.6666666666666665\n",
                    3,
                ),
            ][kind];
            let x0: Vec<String> = (0..n)
                .map(|i| format!("{:e}", x0 * (i as f64 - 0.5)))
                .collect();
            let p0 = format!(
                "[{}]",
                (0..n)
                    .map(|i| {
                        let row: Vec<String> = (0..n)
                            .map(|j| format!("{:e}", if i == j { p0 } else { 0.0 }))
                            .collect();
                        format!("[{}]", row.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            format!(
                "kind = \"{kind}\"\n{parameters}dt = {dt:e}\nsubsteps = {substeps}\n\
                 q = {q:e}\nr = {:e}\nx0 = [{}]\nP0 = {p0}\n",
                r.max(1e-300),
                x0.join(", ")
            )
        });
    prop_oneof![linear, named]
}

fn input_signal() -> impl Strategy<Value = InputSignal> {
    let amplitude = prop::sample::select(&[0.0, 1.0, 1e3, 1e150, 1e308][..]);
    prop_oneof![
        Just(InputSignal::Zero),
        amplitude.clone().prop_map(|std| InputSignal::White { std }),
        (amplitude.clone(), 1..5usize)
            .prop_map(|(amplitude, hold)| InputSignal::Prbs { amplitude, hold }),
        amplitude.prop_map(|amplitude| InputSignal::Sines {
            amplitude,
            periods: vec![50.0, 7.0, 2.5],
        }),
    ]
}

fn end_to_end_target(long: bool) {
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let strategy = (
        system_text(),
        (1..3usize, 1..40usize),
        input_signal(),
        prop::sample::select(&[0.0, 0.3, 0.95][..]),
        any::<u64>(),
        method(),
        any::<bool>(),
    );
    runner(cases(END_TO_END_CASES, long))
        .run(
            &strategy,
            |(text, (sequences, steps), input, missing, seed, method, smooth)| {
                let path = dir.path().join("S.toml");
                std::fs::write(&path, &text).unwrap();
                let config = SimulationConfig {
                    sequences,
                    steps,
                    input,
                    missing_fraction: missing,
                    seed,
                };
                let input = format!("{text}\n{config:?}, {method:?}, smooth {smooth}");
                run_case(
                    "simulate then filter",
                    input,
                    move || -> Result<(), TestCaseError> {
                        match NamedSystem::load_dynamics(&path) {
                            Err(e) => {
                                check_error("simulate then filter", &e, "S.toml", Some(&text))
                            }
                            Ok(system) => exercise(
                                "simulate then filter",
                                &*system,
                                &config,
                                method,
                                smooth,
                                "D.csv",
                            ),
                        }
                    },
                )
            },
        )
        .unwrap();
    report("simulate then filter", start);
}

/// Simulation then filtering (Kalman, extended, unscented; smoothed or not) of systems built
/// from extreme parameters (noise and prior from 0 to 1e308, unstable and 1e308 dynamics,
/// inputs up to 1e308, steps from 1e-6 to 1e308, 95% missing): clean errors or finite output
/// with non-negative variances.
#[test]
fn simulate_then_filter_is_finite_or_fails_cleanly() {
    end_to_end_target(false);
}

/// [`simulate_then_filter_is_finite_or_fails_cleanly`] with [`LONG_RUN_FACTOR`] times the
/// cases.
#[test]
#[ignore = "long fuzzing run"]
fn simulate_then_filter_long_run() {
    end_to_end_target(true);
}
