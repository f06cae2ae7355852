//! Regression tests for the "hostile input" issue at the library level: each input that once
//! panicked, hung, wrote non-finite numbers or negative variances, or gave a garbled message,
//! and each defect the fuzzer (`tests/fuzz.rs`) found. The command-line side is in
//! `crates/cli/tests/hostile.rs`.

#![allow(clippy::unwrap_used)] // test helpers: a failure is the test failing

use std::path::{Path, PathBuf};

use dynrec_truth::{
    Dataset, FilterMethod, InputSignal, LinearSystem, NamedSystem, SimulationConfig, TruthError,
    estimate, estimate_dynamics, filter, simulate,
};

fn systems_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems")
}

/// Writes `text` to `S.toml` in a new folder and loads it as the command line does.
fn load(
    text: &str,
) -> (
    tempfile::TempDir,
    Result<Box<dyn dynrec_truth::Dynamics>, TruthError>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("S.toml");
    std::fs::write(&path, text).unwrap();
    let system = NamedSystem::load_dynamics(&path);
    (dir, system)
}

fn err_text(result: Result<impl std::fmt::Debug, TruthError>) -> String {
    result.unwrap_err().to_string()
}

const PENDULUM: &str = "kind = \"pendulum\"\nlength = 1.0\ndamping = 0.5\ndt = 0.05\n";

/// An empty covariance (`R = []`, `q = []`, `Q = []`, `P0 = []`) in a named system is an error
/// naming the file, the field and its line (it panicked in the eigen-solver, exit 101).
#[test]
fn empty_covariances_in_a_named_system_are_field_errors() {
    for (noise, field, line) in [
        ("q = 1e-4\nR = []\n", "R", 6),
        ("q = []\nr = 1e-3\n", "Q", 5),
        ("Q = []\nr = 1e-3\n", "Q", 5),
        ("Q = [[]]\nr = 1e-3\n", "Q", 5),
        ("q = 1e-4\nr = 1e-3\nP0 = []\n", "P0", 7),
        ("q = 1e-4\nr = 1e-3\nH = []\n", "H", 7),
        ("q = 1e-4\nr = 1e-3\nx0 = []\n", "x0", 7),
    ] {
        let (_dir, system) = load(&format!("{PENDULUM}{noise}"));
        let message = err_text(system);
        assert!(message.contains("S.toml"), "{message}");
        assert!(message.contains(&format!("`{field}`")), "{message}");
        assert!(message.contains(&format!("line {line}")), "{message}");
    }
}

/// A linear system whose `A` is unstable, filtered through 1000 rows of missing measurements,
/// stops with an error naming the filter, the sequence and the row where the prediction
/// overflowed, filtered or smoothed (it wrote 124 rows of inf/NaN with exit 0, and smoothing
/// failed with "singular at row 999").
#[test]
fn the_kalman_filter_stops_when_its_prediction_overflows() {
    let (_dir, system) =
        load("A = [[1.5, 0.0], [0.0, 1.2]]\nH = [[1.0, 0.0]]\nq = 1e-4\nr = 1e-3\n");
    let system = system.unwrap();
    let mut text = String::from("t,z1\n0,1.0\n");
    for k in 1..1000 {
        text.push_str(&format!("{k},\n"));
    }
    let data = Dataset::from_csv_reader(text.as_bytes(), Path::new("D.csv")).unwrap();
    for smooth in [false, true] {
        let e = estimate_dynamics(&*system, &data, FilterMethod::Auto, smooth).unwrap_err();
        match &e {
            TruthError::Diverged {
                what: "Kalman filter",
                sequence: 0,
                row,
                ..
            } => assert!(*row > 800 && *row < 1000, "{e}"),
            other => panic!("expected the filter to diverge, got {other}"),
        }
        assert!(!e.to_string().contains("singular"), "{e}");
    }
    let linear = system.as_linear().unwrap();
    assert!(filter(linear, &data.sequences[0]).is_err());
    assert!(estimate(linear, &data, true).is_err());
}

/// A measurement that overflows (`H = [[1e308, 1e308]]`) stops the simulation with an error
/// naming the measurement, the sequence and the row (it wrote `-inf` with exit 0).
#[test]
fn the_simulation_checks_measurements_as_well_as_states() {
    let (_dir, system) =
        load("A = [[1.0, 0.0], [0.0, 1.0]]\nH = [[1e308, 1e308]]\nq = 1.0\nr = 1e-3\n");
    let e = simulate(&*system.unwrap(), &SimulationConfig::default()).unwrap_err();
    assert!(
        matches!(
            e,
            TruthError::Diverged {
                what: "simulation",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("measurement"), "{e}");
}

/// Inputs of 1e308 are errors, never NaN means: a simulated input that overflows stops the
/// simulation (naming the input amplitude), and a data file with `u1 = 1e308` stops every
/// filter with an error naming the sequence and row.
#[test]
fn inputs_near_1e308_are_errors_not_nan() {
    for file in ["rotation.toml", "pendulum.toml"] {
        let system = NamedSystem::load_dynamics(&systems_dir().join(file)).unwrap();
        let config = SimulationConfig {
            input: InputSignal::White { std: 1e308 },
            steps: 50,
            ..SimulationConfig::default()
        };
        let e = simulate(&*system, &config).unwrap_err();
        assert!(e.to_string().contains("input amplitude"), "{file}: {e}");
        let mut text = String::from("t,u1,z1\n");
        for k in 0..20 {
            text.push_str(&format!("{k},1e308,0.5\n"));
        }
        let data = Dataset::from_csv_reader(text.as_bytes(), Path::new("D.csv")).unwrap();
        for method in [FilterMethod::Auto, FilterMethod::Ekf, FilterMethod::Ukf] {
            match estimate_dynamics(&*system, &data, method, false) {
                Err(TruthError::Diverged { .. }) => {}
                Err(other) => panic!("{file} {method:?}: unexpected error {other}"),
                Ok(estimates) => {
                    for e in &estimates {
                        assert!(e.means.iter().all(|v| v.is_finite()), "{file} {method:?}");
                        assert!(e.variances.iter().all(|v| v.is_finite() && *v >= 0.0));
                    }
                }
            }
        }
    }
}

/// The unscented filter's variances stay finite and non-negative with a measurement noise of
/// 1e-20 down to 1e-300 next to a prior of 1, and with `P0` or `Q` near 1e300 it gives finite,
/// non-negative variances or a clean error (it wrote negative variances with exit 0).
#[test]
fn unscented_variances_never_go_negative() {
    let cases = [
        (
            "q = 1e-4",
            "r = 1e-20",
            "P0 = [[1.0, 0.0], [0.0, 1.0]]",
            true,
        ),
        (
            "q = 1e-4",
            "r = 1e-30",
            "P0 = [[1.0, 0.0], [0.0, 1.0]]",
            true,
        ),
        (
            "q = 1e-4",
            "r = 1e-300",
            "P0 = [[1.0, 0.0], [0.0, 1.0]]",
            true,
        ),
        (
            "q = 1e-4",
            "r = 1e-3",
            "P0 = [[1e300, 0.0], [0.0, 1e300]]",
            false,
        ),
        (
            "q = 1e300",
            "r = 1e-3",
            "P0 = [[1.0, 0.0], [0.0, 1.0]]",
            false,
        ),
        (
            "q = 1e-8",
            "r = 1e-20",
            "P0 = [[1e300, 0.0], [0.0, 1e300]]",
            false,
        ),
    ];
    for (q, r, p0, must_succeed) in cases {
        let text = format!("{PENDULUM}{q}\n{r}\nx0 = [1.0, 0.0]\n{p0}\n");
        let (_dir, system) = load(&text);
        let system = system.unwrap();
        let mut data_text = String::from("t,u1,z1\n");
        for k in 0..60 {
            let z = if k % 7 == 3 {
                String::new()
            } else {
                format!("{}", (0.1 * k as f64).cos())
            };
            data_text.push_str(&format!("{k},0.0,{z}\n"));
        }
        let data = Dataset::from_csv_reader(data_text.as_bytes(), Path::new("D.csv")).unwrap();
        match estimate_dynamics(&*system, &data, FilterMethod::Ukf, false) {
            Ok(estimates) => {
                for e in &estimates {
                    assert!(e.means.iter().all(|v| v.is_finite()), "{text}");
                    let worst = e.variances.iter().copied().fold(f64::INFINITY, f64::min);
                    assert!(worst >= 0.0, "{text}: variance {worst}");
                    assert!(e.variances.iter().all(|v| v.is_finite()), "{text}");
                }
            }
            Err(e) => {
                assert!(!must_succeed, "{text}: {e}");
                assert!(matches!(e, TruthError::Diverged { .. }), "{text}: {e}");
            }
        }
    }
}

/// Errors print each thing once: no variant both prints its cause and returns it as
/// `source()`, so a chain printer (anyhow's `{:#}`) cannot repeat it ("field `Q`: entry
/// [0][0] is not finite (NaN): field `Q`: entry [0][0] is not finite (NaN)").
#[test]
fn errors_carry_their_cause_once() {
    let (_dir, system) = load(
        "A = [[1.0, 0.0], [0.0, 1.0]]\nH = [[1.0, 0.0]]\nQ = [[nan, 0.0], [0.0, 1.0]]\nr = 1.0\n",
    );
    let e = system.unwrap_err();
    assert!(std::error::Error::source(&e).is_none(), "{e:?}");
    let text = e.to_string();
    assert_eq!(text.matches("not finite").count(), 1, "{text}");
    assert!(text.contains("S.toml, line 3: field `Q`"), "{text}");
    let missing = NamedSystem::load(Path::new("no/such/file.toml")).unwrap_err();
    assert!(std::error::Error::source(&missing).is_none());
    assert!(
        missing.to_string().starts_with("no/such/file.toml: "),
        "{missing}"
    );
}

/// What an error quotes from a file is capped: a 2 MB line (a syntax error at its end, a
/// string where a number belongs, an unknown `kind`) or a 2 MB data cell gives a message of at
/// most a few hundred characters, with an ellipsis (the whole line used to be echoed).
#[test]
fn errors_quote_at_most_a_few_hundred_characters() {
    let long = "7".repeat(2_000_000);
    let texts = [
        format!("A = [[{long}, oops]]\nH = [[1.0]]\nq = 1.0\nr = 1.0\n"),
        format!("{PENDULUM}q = 1e-4\nr = 1e-3\nx0 = \"{long}\"\n"),
        format!("kind = \"{long}\"\n"),
        format!("kind = [\"{long}\"]\n"),
        format!("{PENDULUM}q = 1e-4\nr = 1e-3\n{long} = 1\n"),
    ];
    for text in &texts {
        let (_dir, system) = load(text);
        let message = err_text(system);
        assert!(
            message.chars().count() < 1000,
            "{} characters: {}",
            message.len(),
            &message[..300]
        );
        assert!(message.contains('…'), "{message}");
        assert!(message.contains("S.toml"), "{message}");
    }
    for data in [
        format!("t,z1\n0,{long}x\n"),
        format!("t,z{long}\n0,1\n"),
        format!("seq,t,z1\n{long}.5,0,1\n"),
    ] {
        let message = err_text(Dataset::from_csv_reader(
            data.as_bytes(),
            Path::new("D.csv"),
        ));
        assert!(message.chars().count() < 1000, "{}", &message[..300]);
        assert!(message.contains("D.csv, line"), "{message}");
    }
}

/// `q` and `Q` (or `r` and `R`) in one file are a duplicate field reported at the line of the
/// second, naming both lines (it was "line 1, column 1", a blank line).
#[test]
fn a_duplicated_field_names_the_line_of_the_second() {
    let text = format!("{PENDULUM}q = 1e-4\n\nQ = [[1e-4, 0.0], [0.0, 1e-4]]\nr = 1e-3\n");
    let (_dir, system) = load(&text);
    let message = err_text(system);
    assert!(message.contains("line 7: duplicate field `Q`"), "{message}");
    assert!(message.contains("lines 5 and 7"), "{message}");
    let linear = "A = [[0.5]]\nH = [[1.0]]\nq = 1.0\nR = [[1.0]]\nr = 2.0\n";
    let second = err_text(load(linear).1);
    assert!(second.contains("line 5: duplicate field `R`"), "{second}");
}

/// A byte-order mark before a system file is accepted (it hid the `kind` line), and a field
/// error on the first line still names line 1.
#[test]
fn a_byte_order_mark_is_accepted() {
    for file in ["pendulum.toml", "rotation.toml", "lorenz.toml"] {
        let text = std::fs::read_to_string(systems_dir().join(file)).unwrap();
        let (_dir, with_bom) = load(&format!("\u{feff}{text}"));
        let (_dir2, without) = load(&text);
        assert_eq!(
            with_bom.unwrap().describe(),
            without.unwrap().describe(),
            "{file}"
        );
    }
    let (_dir, system) = load(
        "\u{feff}length = -1.0\nkind = \"pendulum\"\ndamping = 0.5\ndt = 0.05\nq = 1e-4\nr = 1e-3\n",
    );
    let message = err_text(system);
    assert!(
        message.contains("line 1") && message.contains("`length`"),
        "{message}"
    );
}

/// A data file whose header starts a cell with a multi-byte character (a second byte-order
/// mark, `ü1`) is an error naming the column (the reader split the name inside the character
/// and panicked; found by the fuzzer).
#[test]
fn a_header_cell_starting_with_a_multibyte_character_is_an_error() {
    for header in ["\u{feff}\u{feff}t,z1", "t,ü1", "t,z1,é"] {
        let text = format!("{header}\n0,1\n");
        let e = Dataset::from_csv_reader(text.as_bytes(), Path::new("D.csv")).unwrap_err();
        let message = e.to_string();
        assert!(message.contains("D.csv, line 1"), "{message}");
        assert!(message.contains("unknown column"), "{message}");
    }
}

/// Column numbers are written `u1`, `z12`: a leading zero or a sign (`z01`, `z+1`) is an
/// unknown column, as in the Python reference (they were read as `z1`; found by the fuzzer).
#[test]
fn column_numbers_have_no_leading_zero_or_sign() {
    for column in ["z01", "z+1", "u01", "x+2", "z1.0"] {
        let text = format!("t,z1,{column}\n0,1,2\n");
        let message = err_text(Dataset::from_csv_reader(
            text.as_bytes(),
            Path::new("D.csv"),
        ));
        assert!(
            message.contains(&format!("column `{column}`")) && message.contains("unknown"),
            "{message}"
        );
    }
    assert!(
        Dataset::from_csv_reader(
            "t,z1,z10,z2,z3,z4,z5,z6,z7,z8,z9\n0,1,2,3,4,5,6,7,8,9,10\n".as_bytes(),
            Path::new("D.csv")
        )
        .is_ok()
    );
}

/// A duplicated or unknown column says so once ("column `z1`: appears twice in the header",
/// not "column `z1`: column `z1` appears twice"; found by the fuzzer's repetition check).
#[test]
fn column_errors_name_the_column_once() {
    for (header, words) in [("t,z1,z1", "appears twice"), ("t,z1,y1", "unknown column")] {
        let text = format!("{header}\n0,1,2\n");
        let message = err_text(Dataset::from_csv_reader(
            text.as_bytes(),
            Path::new("D.csv"),
        ));
        let column = header.rsplit(',').next().unwrap();
        assert_eq!(
            message.matches(&format!("`{column}`")).count(),
            1,
            "{message}"
        );
        assert!(message.contains(words), "{message}");
    }
}

/// `P0 = "stationary"` on a system whose Riccati solution overflows (`q = 1e308`) is an error
/// naming `P0` and its line; the spectral radius of a matrix that is not finite is ∞ (the
/// eigen-solver iterated for ever on it; found by the fuzzer as a hang).
#[test]
fn a_stationary_prior_that_overflows_is_an_error_not_a_hang() {
    let text = "A = [[-0.18, -0.02, -0.12], [-0.02, -0.13, -0.12], [-0.27, 0.04, -0.13]]\n\
                H = [[0.81, 0.57, 0.90], [0.66, 0.69, 0.06]]\nq = 1e308\nr = 1.0\n\
                P0 = \"stationary\"\n";
    let (_dir, system) = load(text);
    let message = err_text(system);
    assert!(
        message.contains("line 5") && message.contains("`P0`") && message.contains("stationary"),
        "{message}"
    );
    let nan = nalgebra::DMatrix::from_element(2, 2, f64::NAN);
    assert_eq!(dynrec_truth::spectral_radius(&nan), f64::INFINITY);
    let huge = nalgebra::DMatrix::from_row_slice(2, 2, &[1e308, -1e308, 1e308, 1e308]);
    let radius = dynrec_truth::spectral_radius(&huge);
    assert!(
        (radius / (1e308 * 2f64.sqrt()) - 1.0).abs() < 1e-12,
        "{radius}"
    );
}

/// Covariances with entries near 1e308 are validated and used without hanging the
/// eigen-solver: a system with `Q` of 1e308 loads, and simulating it stops with a clean error
/// (the state overflows) instead of iterating for ever.
#[test]
fn covariances_near_1e308_do_not_hang_the_eigen_solver() {
    let (_dir, system) = load(
        "A = [[0.5, 0.0], [0.0, 0.5]]\nH = [[1.0, 0.0]]\nQ = [[1e308, 1e308], [1e308, 1e308]]\nr = 1.0\n",
    );
    let system = system.unwrap();
    let e = simulate(&*system, &SimulationConfig::default()).unwrap_err();
    assert!(matches!(e, TruthError::Diverged { .. }), "{e}");
}

/// The CSV writers refuse a number that is not finite (a missing measurement, NaN, aside),
/// naming the sequence, the row and the column: nothing non-finite reaches a file.
#[test]
fn the_writers_refuse_non_finite_cells() {
    let system = LinearSystem::load(&systems_dir().join("rotation.toml")).unwrap();
    let mut data = simulate(&system, &SimulationConfig::default()).unwrap();
    data.sequences[0].inputs[(0, 3)] = f64::INFINITY;
    let e = data.write_csv(&mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("row 3, column `u1`"), "{e}");
    let data = simulate(&system, &SimulationConfig::default()).unwrap();
    let mut estimates = estimate(&system, &data, false).unwrap();
    estimates[0].variances[(1, 5)] = -1e-18;
    let e = data
        .write_estimates_csv(&estimates, &mut Vec::new())
        .unwrap_err();
    assert!(e.to_string().contains("row 5, column `var2`"), "{e}");
    estimates[0].variances[(1, 5)] = f64::NAN;
    assert!(
        data.write_estimates_csv(&estimates, &mut Vec::new())
            .is_err()
    );
}

/// Simulations whose data would not fit in memory are refused before anything is allocated,
/// with the estimate in the message (`--steps 18446744073709551615` panicked on a capacity
/// overflow, `--steps 1000000000` aborted on a failed 8 GB allocation, `--sequences 10¹²` ran
/// without bound).
#[test]
fn simulations_too_large_for_memory_are_refused_up_front() {
    let system = NamedSystem::load_dynamics(&systems_dir().join("pendulum.toml")).unwrap();
    for (sequences, steps) in [
        (1, usize::MAX),
        (1, 1_000_000_000_000),
        (1_000_000_000_000, 10),
    ] {
        let config = SimulationConfig {
            sequences,
            steps,
            ..SimulationConfig::default()
        };
        let e = simulate(&*system, &config).unwrap_err();
        assert!(matches!(e, TruthError::TooLarge { .. }), "{e}");
        let message = e.to_string();
        assert!(message.contains("would need about"), "{message}");
        assert!(message.contains("GiB"), "{message}");
        assert!(message.contains(&steps.to_string()), "{message}");
    }
}

/// More than 10⁶ RK4 substeps per row is refused, naming `substeps` and its line
/// (`substeps = 1000000000` ran for hours without a word).
#[test]
fn substeps_are_capped() {
    let (_dir, system) = load(&format!(
        "{PENDULUM}substeps = 1000000000\nq = 1e-4\nr = 1e-3\n"
    ));
    let message = err_text(system);
    assert!(
        message.contains("line 5") && message.contains("`substeps`") && message.contains("1000000"),
        "{message}"
    );
    let (_dir, system) = load(&format!(
        "{PENDULUM}substeps = 1000000\nq = 1e-4\nr = 1e-3\n"
    ));
    assert!(system.is_ok());
}

/// The Kalman filter, the extended filter and the RTS smoother keep every variance ≥ 0 at
/// extreme scales (`R` = 1e-20 next to `P0` = 1e3; `P0` = 1e100 next to `R` = 1e20 with 95%
/// of the rows missing): their covariance updates are recomputed as sums of squares when
/// rounding leaves a negative diagonal (they wrote variances of −1e-15 and −6e84; found by
/// the fuzzer on the code before this issue). Smoothing may still refuse a singular
/// predicted covariance (`Q = 0`), cleanly.
#[test]
fn kalman_variances_never_go_negative() {
    let cases = [
        (
            "A = [[-4.265462529799383e-2, -3.398362795809375e-2], [-8.007301545645504e-2, \
             9.038195895222247e-2]]\nH = [[8.524162057258054e-4, -9.778707030314983e-4]]\n\
             q = 0e0\nr = 1e-20\nP0 = 1e3\n",
            SimulationConfig {
                sequences: 2,
                steps: 32,
                input: InputSignal::Zero,
                missing_fraction: 0.0,
                seed: 7576872232207708519,
            },
        ),
        (
            "A = [[-8.140859461980426e-1]]\nH = [[9.187047360507405e-4]]\nq = 1e0\n\
             r = 1e20\nB = [[-6.351992815161598e-4]]\nP0 = 1e100\n",
            SimulationConfig {
                sequences: 1,
                steps: 16,
                input: InputSignal::White { std: 0.0 },
                missing_fraction: 0.95,
                seed: 2766734188783280295,
            },
        ),
        (
            "A = [[-4.5646331558309694e-1, -8.611091454993676e-1], [-4.239823635654762e-1, \
             -7.122434325227733e-1]]\nH = [[9.585020103630632e-4, -5.339189727773477e-4]]\n\
             q = 1e-2\nr = 1e20\nB = [[5.126718154100648e2, 5.786720386591703e2], \
             [6.355584328111769e2, -5.347509802565212e2]]\nP0 = 1e100\n",
            SimulationConfig {
                sequences: 2,
                steps: 21,
                input: InputSignal::Zero,
                missing_fraction: 0.95,
                seed: 1629812263736213568,
            },
        ),
    ];
    for (text, config) in cases {
        let (_dir, system) = load(text);
        let system = system.unwrap();
        let data = simulate(&*system, &config).unwrap();
        for (method, smooth) in [
            (FilterMethod::Auto, false),
            (FilterMethod::Auto, true),
            (FilterMethod::Ekf, false),
        ] {
            let estimates = match estimate_dynamics(&*system, &data, method, smooth) {
                Ok(estimates) => estimates,
                // With Q = 0 the predicted covariance can become singular, which the RTS
                // smoother (it inverts it) refuses: a clean error, not a negative variance.
                Err(TruthError::Singular { .. }) if smooth => continue,
                Err(e) => panic!("{text} {method:?} {smooth}: {e}"),
            };
            for e in &estimates {
                let worst = e.variances.iter().copied().fold(f64::INFINITY, f64::min);
                assert!(worst >= 0.0, "{text} {method:?} {smooth}: {worst}");
                assert!(e.means.iter().all(|v| v.is_finite()));
            }
        }
    }
}

/// A covariance with a negative diagonal entry, however small (`P0` with −1e-300), is refused
/// naming the field, the entry and its line: the eigenvalue test tolerates rounding-level
/// negative eigenvalues, and such a `P0` was printed as a negative variance by a filter whose
/// first row is missing (found by the fuzzer's long run).
#[test]
fn a_negative_variance_in_a_covariance_is_refused() {
    for (noise, field) in [
        (
            "q = 1e-4\nr = 1e-3\nP0 = [[0.25, 0.0], [0.0, -1e-300]]\n",
            "P0",
        ),
        ("Q = [[-1e-300, 0.0], [0.0, 1e-4]]\nr = 1e-3\n", "Q"),
    ] {
        let (_dir, system) = load(&format!("{PENDULUM}{noise}"));
        let message = err_text(system);
        assert!(
            message.contains(&format!("`{field}`")) && message.contains("is negative"),
            "{message}"
        );
        assert!(
            message.contains("line 5") || message.contains("line 7"),
            "{message}"
        );
    }
}
