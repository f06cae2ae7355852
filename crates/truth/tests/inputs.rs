//! Every class of bad input gives its own error, naming the file, line and column or field.

use std::path::Path;

use dynrec_truth::{Dataset, LinearSystem, TruthError};

const GOOD: &str = r#"
A  = [[0.9, -0.2], [0.2, 0.9]]
B  = [[1.0], [0.5]]
H  = [[1.0, 0.0]]
Q  = [[1e-4, 0.0], [0.0, 1e-4]]
R  = [[2.5e-3]]
x0 = [0.0, 0.0]
P0 = [[1.0, 0.0], [0.0, 1.0]]
"#;

fn system(text: &str) -> Result<LinearSystem, TruthError> {
    LinearSystem::from_toml_str(text, Path::new("S.toml"))
}

fn field_error(text: &str) -> TruthError {
    match system(text) {
        Err(TruthError::InvalidSystem { path, problem, .. }) => {
            assert_eq!(path, Path::new("S.toml"));
            *problem
        }
        other => panic!("expected InvalidSystem, got {other:?}"),
    }
}

fn data(text: &str) -> Result<Dataset, TruthError> {
    Dataset::from_csv_reader(text.as_bytes(), Path::new("D.csv"))
}

fn data_error(text: &str) -> (usize, Option<String>, String) {
    match data(text) {
        Err(TruthError::Data {
            path,
            line,
            column,
            message,
        }) => {
            assert_eq!(path, Path::new("D.csv"));
            (line, column, message)
        }
        other => panic!("expected a data error, got {other:?}"),
    }
}

/// The example of docs/formats.md parses, and saving then loading gives the same system back exactly.
#[test]
fn system_file_round_trips() {
    let s = system(GOOD).unwrap();
    assert_eq!((s.n_states(), s.n_inputs(), s.n_outputs()), (2, 1, 1));
    let back = system(&s.to_toml_string()).unwrap();
    assert_eq!(s, back);
    // Optional fields default: no B means no inputs; x0 = 0 and P0 = I.
    let minimal = system("A = [[0.5]]\nH = [[1.0]]\nQ = [[1.0]]\nR = [[1.0]]").unwrap();
    assert_eq!(minimal.n_inputs(), 0);
    assert_eq!(minimal.p0()[(0, 0)], 1.0);
}

/// Invalid TOML and unknown or missing fields are parse errors with the line.
#[test]
fn bad_toml_is_reported_with_line() {
    for text in [
        "A = [[0.9]\nH = 1",
        "A = [[1.0]]\nH = [[1.0]]\nQ = [[1.0]]\nR = [[1.0]]\nZ = 1",
    ] {
        match system(text) {
            Err(TruthError::Toml { path, message }) => {
                assert_eq!(path, Path::new("S.toml"));
                assert!(message.contains("line"), "{message}");
            }
            other => panic!("expected a TOML error, got {other:?}"),
        }
    }
    match system("A = [[1.0]]\nH = [[1.0]]\nR = [[1.0]]") {
        Err(TruthError::Toml { message, .. }) => assert!(message.contains("Q"), "{message}"),
        other => panic!("expected a missing-field error, got {other:?}"),
    }
}

/// Shapes that disagree name the field and the expected shape.
#[test]
fn wrong_dimensions_are_field_errors() {
    let cases = [
        (GOOD.replace("B  = [[1.0], [0.5]]", "B  = [[1.0]]"), "B"),
        (GOOD.replace("H  = [[1.0, 0.0]]", "H  = [[1.0]]"), "H"),
        (
            GOOD.replace("Q  = [[1e-4, 0.0], [0.0, 1e-4]]", "Q  = [[1e-4]]"),
            "Q",
        ),
        (
            GOOD.replace("R  = [[2.5e-3]]", "R  = [[1.0, 0.0], [0.0, 1.0]]"),
            "R",
        ),
        (GOOD.replace("x0 = [0.0, 0.0]", "x0 = [0.0]"), "x0"),
        (
            GOOD.replace("A  = [[0.9, -0.2], [0.2, 0.9]]", "A  = [[0.9, -0.2]]"),
            "A",
        ),
    ];
    for (text, field) in cases {
        match field_error(&text) {
            TruthError::Dimension { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: expected a dimension error, got {other:?}"),
        }
    }
    match field_error(&GOOD.replace("[[0.9, -0.2], [0.2, 0.9]]", "[[0.9, -0.2], [0.2]]")) {
        TruthError::RaggedMatrix {
            field: "A",
            row: 2,
            len: 1,
            first: 2,
        } => {}
        other => panic!("expected a ragged matrix, got {other:?}"),
    }
}

/// Asymmetric, indefinite and singular covariances are rejected with their own variants.
#[test]
fn bad_covariances_are_rejected() {
    match field_error(&GOOD.replace("[[1e-4, 0.0], [0.0, 1e-4]]", "[[1e-4, 1e-5], [0.0, 1e-4]]")) {
        TruthError::NotSymmetric {
            field: "Q",
            row: 0,
            col: 1,
            ..
        } => {}
        other => panic!("expected asymmetric Q, got {other:?}"),
    }
    match field_error(&GOOD.replace("[[1e-4, 0.0], [0.0, 1e-4]]", "[[1e-4, 0.0], [0.0, -1e-4]]")) {
        TruthError::NotPositiveSemidefinite {
            field: "Q",
            min_eigenvalue,
        } => {
            assert!(min_eigenvalue < 0.0)
        }
        other => panic!("expected indefinite Q, got {other:?}"),
    }
    match field_error(&GOOD.replace("R  = [[2.5e-3]]", "R  = [[0.0]]")) {
        TruthError::NotPositiveDefinite { field: "R", .. } => {}
        other => panic!("expected singular R, got {other:?}"),
    }
    match field_error(&GOOD.replace(
        "P0 = [[1.0, 0.0], [0.0, 1.0]]",
        "P0 = [[1.0, 2.0], [2.0, 1.0]]",
    )) {
        TruthError::NotPositiveSemidefinite { field: "P0", .. } => {}
        other => panic!("expected indefinite P0, got {other:?}"),
    }
    // A singular (PSD) Q is allowed: some states may have no process noise.
    assert!(
        system(&GOOD.replace("[[1e-4, 0.0], [0.0, 1e-4]]", "[[1e-4, 0.0], [0.0, 0.0]]")).is_ok()
    );
}

/// NaN and infinite entries (TOML allows `nan` and `inf`) are rejected with their position.
#[test]
fn non_finite_numbers_are_rejected() {
    match field_error(&GOOD.replace("[[0.9, -0.2], [0.2, 0.9]]", "[[0.9, -0.2], [nan, 0.9]]")) {
        TruthError::NotFinite {
            field: "A",
            row: 1,
            col: 0,
            ..
        } => {}
        other => panic!("expected non-finite A, got {other:?}"),
    }
    match field_error(&GOOD.replace("B  = [[1.0], [0.5]]", "B  = [[inf], [0.5]]")) {
        TruthError::NotFinite {
            field: "B",
            row: 0,
            col: 0,
            ..
        } => {}
        other => panic!("expected non-finite B, got {other:?}"),
    }
}

/// A good data file parses: sequences grouped by `seq` (even interleaved), empty z = missing,
/// `t` optional, row order kept.
#[test]
fn data_file_parses_and_round_trips() {
    let d = data("seq,t,u1,z1,z2\n1,0,0.5,1.0,\n2,0,0.1,2.0,3.0\n1,1,0.2,,4.0\n").unwrap();
    assert_eq!(d.sequences.len(), 2);
    assert_eq!(d.sequences[0].len(), 2);
    assert_eq!(d.rows, vec![(0, 0), (1, 0), (0, 1)]);
    assert!(d.sequences[0].measurements[(1, 0)].is_nan());
    assert_eq!(d.sequences[0].measurements[(1, 1)], 4.0);
    let mut bytes = Vec::new();
    d.write_csv(&mut bytes).unwrap();
    let back = data(std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(back.rows, d.rows);
    assert_eq!(back.sequences[1].inputs, d.sequences[1].inputs);
    let no_t = data("z1\n1.5\n2.5\n").unwrap();
    assert_eq!(no_t.sequences[0].t, vec![0.0, 1.0]);
}

/// Unknown, duplicated or gapped columns and a missing z are header errors (line 1) naming the
/// column.
#[test]
fn bad_headers_are_reported() {
    let (line, column, _) = data_error("t,z1,speed\n0,1,2\n");
    assert_eq!((line, column.as_deref()), (1, Some("speed")));
    let (line, column, _) = data_error("t,z1,z1\n0,1,2\n");
    assert_eq!((line, column.as_deref()), (1, Some("z1")));
    let (line, _, message) = data_error("t,z1,z3\n0,1,2\n");
    assert_eq!(line, 1);
    assert!(message.contains("z2"), "{message}");
    let (line, _, message) = data_error("t,u1\n0,1\n");
    assert_eq!(line, 1);
    assert!(message.contains("no measurement"), "{message}");
}

/// Ragged rows, non-numeric cells, NaN text, empty non-z cells and a non-integer seq are errors
/// naming the line (and the column where there is one).
#[test]
fn bad_rows_are_reported() {
    let (line, column, _) = data_error("t,z1\n0,1\n1,2,3\n");
    assert_eq!((line, column), (3, None));
    let (line, column, message) = data_error("t,u1,z1\n0,1,2\n1,abc,3\n");
    assert_eq!((line, column.as_deref()), (3, Some("u1")));
    assert!(message.contains("abc"));
    let (line, column, _) = data_error("t,z1\n0,NaN\n");
    assert_eq!((line, column.as_deref()), (2, Some("z1")));
    let (line, column, _) = data_error("t,u1,z1\n0,,1\n");
    assert_eq!((line, column.as_deref()), (2, Some("u1")));
    let (line, column, _) = data_error("seq,z1\n1.5,1\n");
    assert_eq!((line, column.as_deref()), (2, Some("seq")));
    let (line, _, _) = data_error("t,z1\n");
    assert_eq!(line, 1);
}

/// A data file whose input, measurement or state count disagrees with the system is an error
/// on the header naming the column kind.
#[test]
fn data_that_does_not_fit_the_system_is_rejected() {
    let s = system(GOOD).unwrap();
    let path = Path::new("D.csv");
    let cases = [
        ("t,u1,u2,z1\n0,1,2,3\n", "u"),
        ("t,z1\n0,3\n", "u"),
        ("t,u1,z1,z2\n0,1,2,3\n", "z"),
        ("t,u1,z1,x1\n0,1,2,3\n", "x"),
    ];
    for (text, kind) in cases {
        match data(text).unwrap().check_against(&s, path) {
            Err(TruthError::Data {
                line: 1,
                column: Some(c),
                ..
            }) => assert_eq!(c, kind),
            other => panic!("{text}: expected a mismatch on `{kind}`, got {other:?}"),
        }
    }
    assert!(
        data("t,u1,z1,x1,x2\n0,1,2,3,4\n")
            .unwrap()
            .check_against(&s, path)
            .is_ok()
    );
}

/// A saved file is complete and readable by everyone (0644), and a failed write leaves no file.
#[test]
fn files_are_written_atomically_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("S.toml");
    let s = system(GOOD).unwrap();
    s.save(&path).unwrap();
    assert_eq!(LinearSystem::load(&path).unwrap(), s);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    let failed = dir.path().join("F.csv");
    let result = dynrec_core::write_atomically(&failed, |w| {
        std::io::Write::write_all(w, b"partial")?;
        Err(std::io::Error::other("disk full"))
    });
    assert!(result.is_err());
    assert!(!failed.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}
