//! Systems selected by name in TOML (`kind = "..."`), their errors, and their JSON round trip.

#![allow(clippy::unwrap_used)] // test helpers: a failure is the test failing
use std::path::{Path, PathBuf};

use dynrec_truth::spec::KNOWN_KINDS;
use dynrec_truth::{LinearSystem, NamedSystem, TruthError};

fn systems_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systems")
}

fn parse(text: &str) -> Result<NamedSystem, TruthError> {
    NamedSystem::from_toml_str(text, Path::new("S.toml"))
}

const PENDULUM: &str = r#"kind = "pendulum"
length = 1.0
damping = 0.5
dt = 0.05
q = 1e-4
r = 1e-3
"#;

/// Every example system file loads, builds, and has the dimensions its kind promises.
#[test]
fn every_system_file_loads_and_builds() {
    let expected = [
        ("rotation.toml", "linear", (2, 1, 1)),
        ("pendulum.toml", "pendulum", (2, 1, 1)),
        ("van_der_pol.toml", "van_der_pol", (2, 1, 1)),
        ("duffing.toml", "duffing", (2, 1, 1)),
        ("lorenz.toml", "lorenz", (3, 0, 1)),
    ];
    for (file, kind, (n, m, p)) in expected {
        let path = systems_dir().join(file);
        let spec = NamedSystem::load(&path).unwrap();
        assert_eq!(spec.kind(), kind, "{file}");
        let system = NamedSystem::load_dynamics(&path).unwrap();
        assert_eq!(system.name(), kind, "{file}");
        assert_eq!(
            (system.n_states(), system.n_inputs(), system.n_outputs()),
            (n, m, p),
            "{file}"
        );
        assert!(!system.equilibria().is_empty(), "{file}");
    }
}

/// A file without `kind` is the historical linear format: it builds the same system as
/// `LinearSystem::load`, and the exact filter is available through `as_linear`.
#[test]
fn a_file_without_kind_is_linear_and_unchanged() {
    let path = systems_dir().join("rotation.toml");
    let old = LinearSystem::load(&path).unwrap();
    let spec = NamedSystem::load(&path).unwrap();
    assert!(matches!(spec, NamedSystem::Linear(_)));
    let built = spec.build().unwrap();
    assert_eq!(built.as_linear(), Some(&old));
    // `kind = "linear"` spelled out is the same system.
    let text = std::fs::read_to_string(&path).unwrap();
    let explicit = parse(&format!("kind = \"linear\"\n{text}")).unwrap();
    assert_eq!(explicit, spec);
}

/// Specs survive JSON (as embedded in report.json) and TOML round trips unchanged.
#[test]
fn specs_round_trip_through_json_and_toml() {
    for entry in std::fs::read_dir(systems_dir()).unwrap() {
        let path = entry.unwrap().path();
        let spec = NamedSystem::load(&path).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert!(
            json.contains(&format!("\"kind\":\"{}\"", spec.kind())),
            "{json}"
        );
        let back: NamedSystem = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec, "{}", path.display());
        let toml = spec.to_toml_string();
        assert_eq!(parse(&toml).unwrap(), spec, "{toml}");
        assert_eq!(
            back.build().unwrap().describe(),
            spec.build().unwrap().describe()
        );
    }
}

/// An unknown kind is an error naming the file, the line, the kind, and every known kind.
#[test]
fn unknown_kind_names_the_kind_and_lists_the_known_ones() {
    let message = parse(&PENDULUM.replace("pendulum", "pendulm"))
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("S.toml: line 1:"), "{message}");
    assert!(message.contains("`pendulm`"), "{message}");
    for kind in KNOWN_KINDS {
        assert!(message.contains(kind), "{message}");
    }
}

/// Unknown fields and wrong types carry toml's line; bad parameter values name the parameter
/// and its line; a missing field is named.
#[test]
fn field_errors_name_the_field_and_the_line() {
    let unknown = parse(&PENDULUM.replace("damping", "dampnig"))
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("line 3") && unknown.contains("`dampnig`"),
        "{unknown}"
    );
    let wrong_type = parse(&PENDULUM.replace("length = 1.0", "length = \"long\""))
        .unwrap_err()
        .to_string();
    assert!(wrong_type.contains("line 2"), "{wrong_type}");
    let missing = parse(&PENDULUM.replace("dt = 0.05\n", ""))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("`dt`"), "{missing}");
    let covariance = parse(&PENDULUM.replace("q = 1e-4", "q = [1.0]"))
        .unwrap_err()
        .to_string();
    assert!(
        covariance.contains("line 5") && covariance.contains("array of rows"),
        "{covariance}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    for (text, field, line) in [
        (
            PENDULUM.replace("length = 1.0", "length = -1.0"),
            "length",
            2,
        ),
        (PENDULUM.replace("dt = 0.05", "dt = 0.0"), "dt", 4),
        (PENDULUM.replace("r = 1e-3", "r = -1e-3"), "R", 6),
    ] {
        std::fs::write(&path, text).unwrap();
        let message = NamedSystem::load_dynamics(&path).unwrap_err().to_string();
        assert!(message.contains("bad.toml"), "{message}");
        assert!(message.contains(&format!("`{field}`")), "{message}");
        assert!(message.contains(&format!("line {line}")), "{message}");
    }
}

/// Each library kind validates its own parameters, naming them.
#[test]
fn library_parameters_are_validated() {
    let cases = [
        (
            "kind = \"van_der_pol\"\nmu = -1.0\ndt = 0.05\nq = 1e-4\nr = 1e-2\n",
            "mu",
        ),
        (
            "kind = \"duffing\"\ndelta = 0.1\nalpha = 0.0\nbeta = 0.0\ndt = 0.05\nq = 1e-4\nr = 1e-2\n",
            "alpha",
        ),
        (
            "kind = \"lorenz\"\nsigma = 10.0\nrho = 28.0\nbeta = 0.0\ndt = 0.01\nq = 1e-4\nr = 1e-2\n",
            "beta",
        ),
        (
            "kind = \"lorenz\"\nsigma = 10.0\nrho = 28.0\nbeta = 1.0\ndt = 0.01\nq = 1e-4\nr = 1e-2\nH = [[1.0, 0.0]]\n",
            "H",
        ),
        (
            "kind = \"pendulum\"\nlength = 1.0\ndamping = 0.1\ndt = 0.05\nsubsteps = 0\nq = 1e-4\nr = 1e-2\n",
            "substeps",
        ),
    ];
    for (text, field) in cases {
        let message = parse(text).unwrap().build().unwrap_err().to_string();
        assert!(
            message.contains(&format!("`{field}`")),
            "{field}: {message}"
        );
    }
}

/// A linear-only loader given a nonlinear file says which kind it got.
#[test]
fn linear_loader_rejects_other_kinds_by_name() {
    let message = LinearSystem::from_toml_str(PENDULUM, Path::new("S.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`pendulum`") && message.contains("linear"),
        "{message}"
    );
}
