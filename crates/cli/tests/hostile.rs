//! Regression tests for the "hostile input" issue at the command line: `dynrec simulate` and
//! `dynrec filter` on inputs that once panicked (exit 101), aborted, ran without bound, wrote
//! inf/NaN with exit 0, or printed garbled messages. Every failure here is a non-zero exit
//! other than 101, a message naming the file (and the line and field where there is one), and
//! no output file. The library side is in `crates/truth/tests/hostile.rs`.

mod common;

use common::{path, read_csv};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn systems_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(args)
        .env_remove("DYNREC_PROGRESS_AFTER_MS")
        .output()
        .expect("runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `args`, which must fail cleanly: exit code 1 (not a panic's 101, not a signal), and
/// `out` not written. Returns stderr.
fn fails(args: &[&str], out: &Path) -> String {
    let result = run(args);
    let message = stderr(&result);
    assert_eq!(result.status.code(), Some(1), "{args:?}: {message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(!out.exists(), "{} was written", out.display());
    message
}

fn simulate(system: &Path, steps: &str, out: &Path) -> Output {
    run(&[
        "simulate",
        "--system",
        path(system),
        "--steps",
        steps,
        "--out",
        path(out),
    ])
}

const PENDULUM: &str = "kind = \"pendulum\"\nlength = 1.0\ndamping = 0.5\ndt = 0.05\n";

/// An empty covariance in a named system (`R = []`, `q = []`, `Q = []`) stops `simulate` and
/// `filter` (EKF and UKF) with a message naming the file, the line and the field (all three
/// panicked with exit 101).
#[test]
fn empty_covariances_exit_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("d.csv");
    std::fs::write(&data, "t,u1,z1\n0,0,0.1\n1,0,0.2\n").expect("data");
    let out = dir.path().join("o.csv");
    for (noise, field, line) in [
        ("q = 1e-4\nR = []\n", "R", 6),
        ("q = []\nr = 1e-3\n", "Q", 5),
        ("Q = []\nr = 1e-3\n", "Q", 5),
    ] {
        let system = dir.path().join("p.toml");
        std::fs::write(&system, format!("{PENDULUM}{noise}")).expect("system");
        let messages = [
            fails(
                &[
                    "simulate",
                    "--system",
                    path(&system),
                    "--steps",
                    "10",
                    "--out",
                    path(&out),
                ],
                &out,
            ),
            fails(
                &[
                    "filter",
                    "--system",
                    path(&system),
                    "--data",
                    path(&data),
                    "--out",
                    path(&out),
                ],
                &out,
            ),
            fails(
                &[
                    "filter",
                    "--system",
                    path(&system),
                    "--data",
                    path(&data),
                    "--filter",
                    "ukf",
                    "--out",
                    path(&out),
                ],
                &out,
            ),
        ];
        for message in messages {
            assert!(message.contains("p.toml"), "{message}");
            assert!(message.contains(&format!("line {line}")), "{message}");
            assert!(message.contains(&format!("`{field}`")), "{message}");
        }
    }
}

/// Sizes whose data would not fit in memory are refused at once (well under a second) with
/// the estimate in the message: `--steps 18446744073709551615` (a capacity-overflow panic),
/// `--steps 1000000000` (an abort on a failed 8 GB allocation), `--sequences 10¹²` (ran
/// without bound).
#[test]
fn sizes_beyond_memory_are_refused_up_front() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = systems_dir().join("pendulum.toml");
    let out = dir.path().join("o.csv");
    for (steps, sequences) in [
        ("18446744073709551615", "1"),
        ("1000000000000", "1"),
        ("10", "1000000000000"),
    ] {
        let start = Instant::now();
        let message = fails(
            &[
                "simulate",
                "--system",
                path(&system),
                "--steps",
                steps,
                "--sequences",
                sequences,
                "--out",
                path(&out),
            ],
            &out,
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{message}");
        assert!(message.contains("would need about"), "{message}");
        assert!(message.contains("GiB"), "{message}");
        assert!(message.contains("pendulum.toml"), "{message}");
    }
}

/// `substeps = 1000000000` is refused, naming the field and its line (it ran for hours with
/// no word of progress).
#[test]
fn substeps_beyond_the_cap_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = dir.path().join("p.toml");
    std::fs::write(
        &system,
        format!("{PENDULUM}substeps = 1000000000\nq = 1e-4\nr = 1e-3\n"),
    )
    .expect("system");
    let out = dir.path().join("o.csv");
    let message = fails(
        &[
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "10",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(
        message.contains("p.toml, line 5") && message.contains("`substeps`"),
        "{message}"
    );
}

/// Nothing non-finite is written with exit 0: an unstable `A` filtered through 1000 rows of
/// missing measurements stops (filtered or smoothed) with an error naming the data file, the
/// system file, the sequence and the row (it wrote 124 rows of inf/NaN; smoothing said
/// "singular at row 999"); `H = [[1e308, 1e308]]` stops the simulation (it wrote `-inf`).
#[test]
fn nothing_non_finite_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = dir.path().join("u.toml");
    std::fs::write(
        &system,
        "A = [[1.5, 0.0], [0.0, 1.2]]\nH = [[1.0, 0.0]]\nq = 1e-4\nr = 1e-3\n",
    )
    .expect("system");
    let data = dir.path().join("miss.csv");
    let mut text = String::from("t,z1\n0,1.0\n");
    for k in 1..1000 {
        text.push_str(&format!("{k},\n"));
    }
    std::fs::write(&data, text).expect("data");
    let out = dir.path().join("f.csv");
    for smooth in [false, true] {
        let mut args = vec![
            "filter",
            "--system",
            path(&system),
            "--data",
            path(&data),
            "--out",
            path(&out),
        ];
        if smooth {
            args.push("--smooth");
        }
        let message = fails(&args, &out);
        assert!(
            message.contains("miss.csv") && message.contains("u.toml"),
            "{message}"
        );
        assert!(
            message.contains("diverged in sequence 0 at row"),
            "{message}"
        );
        assert!(!message.contains("singular"), "{message}");
    }
    std::fs::write(
        &system,
        "A = [[1.0, 0.0], [0.0, 1.0]]\nH = [[1e308, 1e308]]\nq = 1.0\nr = 1e-3\n",
    )
    .expect("system");
    let message = fails(
        &[
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "10",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(
        message.contains("u.toml") && message.contains("measurement"),
        "{message}"
    );
}

/// `--out` given as a symbolic link writes the link's target and leaves the link a link, for
/// `simulate` and for `filter`.
#[cfg(unix)]
#[test]
fn out_through_a_symbolic_link_writes_its_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = systems_dir().join("rotation.toml");
    let target = dir.path().join("data.csv");
    let link = dir.path().join("link.csv");
    std::fs::write(&target, "old\n").expect("target");
    std::os::unix::fs::symlink("data.csv", &link).expect("link");
    let result = simulate(&system, "20", &link);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    let (header, rows) = read_csv(&target);
    assert_eq!(header.join(","), "t,u1,z1,x1,x2");
    assert_eq!(rows.len(), 20);

    let estimates = dir.path().join("estimates.csv");
    let estimates_link = dir.path().join("estimates-link.csv");
    std::os::unix::fs::symlink(&estimates, &estimates_link).expect("dangling link");
    let result = run(&[
        "filter",
        "--system",
        path(&system),
        "--data",
        path(&link),
        "--out",
        path(&estimates_link),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        std::fs::symlink_metadata(&estimates_link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    let (header, rows) = read_csv(&estimates);
    assert_eq!(header.join(","), "t,x1,x2,var1,var2");
    assert_eq!(rows.len(), 20);
}

/// Every error says each thing once (it was "field `Q`: entry [0][0] is not finite (NaN):
/// field `Q`: entry [0][0] is not finite (NaN)", and a missing file's reason twice).
#[test]
fn errors_say_each_thing_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = dir.path().join("s.toml");
    std::fs::write(
        &system,
        "A = [[1.0, 0.0], [0.0, 1.0]]\nH = [[1.0, 0.0]]\nQ = [[nan, 0.0], [0.0, 1.0]]\nr = 1.0\n",
    )
    .expect("system");
    let out = dir.path().join("o.csv");
    let message = fails(
        &[
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "5",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert_eq!(message.matches("not finite").count(), 1, "{message}");
    assert!(message.contains("s.toml, line 3: field `Q`"), "{message}");
    let missing = dir.path().join("missing.toml");
    let message = fails(
        &[
            "simulate",
            "--system",
            path(&missing),
            "--steps",
            "5",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert_eq!(message.matches("No such file").count(), 1, "{message}");
    let data = dir.path().join("missing.csv");
    let message = fails(
        &[
            "filter",
            "--system",
            path(&systems_dir().join("rotation.toml")),
            "--data",
            path(&data),
            "--out",
            path(&out),
        ],
        &out,
    );
    assert_eq!(message.matches("No such file").count(), 1, "{message}");
    let good = dir.path().join("good.csv");
    let result = simulate(&systems_dir().join("rotation.toml"), "5", &good);
    assert!(result.status.success(), "{}", stderr(&result));
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).expect("folder");
    let result = run(&[
        "filter",
        "--system",
        path(&systems_dir().join("rotation.toml")),
        "--data",
        path(&good),
        "--out",
        path(&folder),
    ]);
    let message = stderr(&result);
    assert_eq!(result.status.code(), Some(1), "{message}");
    assert_eq!(message.matches("is a folder").count(), 1, "{message}");
}

/// An error quotes at most a few hundred characters of what it complains about: a system file
/// with a 2 MB line, a data file with a 2 MB cell and a 100 KB command-line argument give a
/// short stderr (100 KB to 2 MB of it before).
#[test]
fn errors_quote_at_most_a_few_hundred_characters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let long = "7".repeat(2_000_000);
    let system = dir.path().join("s.toml");
    std::fs::write(
        &system,
        format!("A = [[{long}, oops]]\nH = [[1.0]]\nq = 1.0\nr = 1.0\n"),
    )
    .expect("system");
    let out = dir.path().join("o.csv");
    let message = fails(
        &[
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "5",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(message.len() < 2000, "{} bytes", message.len());
    assert!(
        message.contains("s.toml") && message.contains("line 1"),
        "{message}"
    );
    let data = dir.path().join("d.csv");
    std::fs::write(&data, format!("t,u1,z1\n0,1,2\n1,{long}x,2\n")).expect("data");
    let message = fails(
        &[
            "filter",
            "--system",
            path(&systems_dir().join("rotation.toml")),
            "--data",
            path(&data),
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(message.len() < 2000, "{} bytes", message.len());
    assert!(message.contains("d.csv, line 3, column `u1`"), "{message}");
    let argument = "9".repeat(100_000);
    let result = run(&[
        "simulate", "--system", "s.toml", "--steps", &argument, "--out", "o.csv",
    ]);
    assert_eq!(result.status.code(), Some(2));
    assert!(
        stderr(&result).len() < 3000,
        "{} bytes",
        stderr(&result).len()
    );
}

/// `q` and `Q` together are a duplicate field reported at the line of the second (it was
/// "line 1, column 1", a blank line).
#[test]
fn a_duplicated_field_names_the_second_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = dir.path().join("p.toml");
    std::fs::write(
        &system,
        format!("{PENDULUM}q = 1e-4\nQ = [[1e-4, 0.0], [0.0, 1e-4]]\nr = 1e-3\n"),
    )
    .expect("system");
    let out = dir.path().join("o.csv");
    let message = fails(
        &[
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "5",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(
        message.contains("p.toml: line 6: duplicate field `Q`"),
        "{message}"
    );
}

/// An error raised while simulating or filtering names the system file as well as the data
/// file and the system's description.
#[test]
fn errors_while_simulating_or_filtering_name_the_system_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = dir.path().join("duffing-unstable.toml");
    std::fs::write(
        &system,
        "kind = \"duffing\"\ndelta = 0.0\nalpha = 1.0\nbeta = -1.0\ndt = 0.1\nq = 1e-6\nr = 1e-2\nx0 = [3.0, 0.0]\nP0 = [[1e-6, 0.0], [0.0, 1e-6]]\n",
    )
    .expect("system");
    let out = dir.path().join("o.csv");
    let message = fails(
        &[
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "500",
            "--input",
            "zero",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(
        message.contains("simulating") && message.contains("duffing-unstable.toml"),
        "{message}"
    );
    assert!(message.contains("Duffing oscillator"), "{message}");
    let data = dir.path().join("d.csv");
    let mut text = String::from("t,u1,z1\n");
    for k in 0..200 {
        text.push_str(&format!("{k},0,{}\n", 3.0 + k as f64));
    }
    std::fs::write(&data, text).expect("data");
    let message = fails(
        &[
            "filter",
            "--system",
            path(&system),
            "--data",
            path(&data),
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(
        message.contains("filtering") && message.contains("d.csv"),
        "{message}"
    );
    assert!(message.contains("duffing-unstable.toml"), "{message}");
}

/// A byte-order mark before a named system file is accepted by `simulate` and `filter` (it
/// hid the `kind` line), and gives the same data as the file without it.
#[test]
fn a_byte_order_mark_on_a_named_system_file_is_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(systems_dir().join("pendulum.toml")).expect("example");
    let plain = dir.path().join("plain.toml");
    let bom = dir.path().join("bom.toml");
    std::fs::write(&plain, &text).expect("plain");
    std::fs::write(&bom, format!("\u{feff}{text}")).expect("bom");
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    for (system, out) in [(&plain, &a), (&bom, &b)] {
        let result = simulate(system, "30", out);
        assert!(result.status.success(), "{}", stderr(&result));
    }
    assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
    let filtered = dir.path().join("f.csv");
    let result = run(&[
        "filter",
        "--system",
        path(&bom),
        "--data",
        path(&b),
        "--out",
        path(&filtered),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
}

/// Long loops report progress on stderr once they run longer than a few seconds (here the
/// delay is set to 0 with `DYNREC_PROGRESS_AFTER_MS`): `simulate` and `filter` print
/// `rows done/total (percent)` lines, ending at 100%; a short run with the default delay
/// prints none.
#[test]
fn long_loops_report_progress() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = systems_dir().join("rotation.toml");
    let data = dir.path().join("d.csv");
    let result = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args([
            "simulate",
            "--system",
            path(&system),
            "--steps",
            "2000",
            "--sequences",
            "3",
            "--out",
            path(&data),
        ])
        .env("DYNREC_PROGRESS_AFTER_MS", "0")
        .output()
        .expect("runs");
    let message = stderr(&result);
    assert!(result.status.success(), "{message}");
    assert!(message.contains("simulating"), "{message}");
    assert!(message.contains("6000/6000 rows (100%)"), "{message}");
    let out = dir.path().join("f.csv");
    let result = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args([
            "filter",
            "--system",
            path(&system),
            "--data",
            path(&data),
            "--out",
            path(&out),
        ])
        .env("DYNREC_PROGRESS_AFTER_MS", "0")
        .output()
        .expect("runs");
    let message = stderr(&result);
    assert!(result.status.success(), "{message}");
    assert!(message.contains("filtering"), "{message}");
    assert!(message.contains("6000/6000 rows (100%)"), "{message}");
    let quiet = simulate(&system, "100", &dir.path().join("q.csv"));
    assert!(!stderr(&quiet).contains("simulating"), "{}", stderr(&quiet));
}
