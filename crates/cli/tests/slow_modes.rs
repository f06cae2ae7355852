//! The failure class of the issue on simulated data: a slow, lightly damped oscillation beside
//! a near-unit root, one long sequence with gaps, predictor mode, hidden 3, `--budget quick`.
//! With `U` initialised at random (spectral radius 0.5; every restart of the code before
//! `--init` existed) the quick budget ends, for most seeds, either where one pair (modulus
//! 0.94, period ~100 steps) stands in for both the root and the cycle or still on its slow way
//! from the disc's interior to the pair (modulus 0.957–0.985); `dynrec fit`'s default
//! (`--init diverse`: restarts alternate random and a ring of slow, lightly damped
//! eigenvalues) starts next to the pair and recovers it.

mod common;

use common::path;
use std::process::Command;

/// `A = diag(0.999, 0.995 R(2π/50))` (a real root at 0.999 and a pair of period 50 steps,
/// modulus 0.995), seen through `H = [1, 1, 0]`, `Q = 0.01 I`, `R = 0.1`, from the stationary
/// prior.
fn system_toml() -> String {
    let theta = 2.0 * std::f64::consts::PI / 50.0;
    let (c, s) = (0.995 * theta.cos(), 0.995 * theta.sin());
    format!(
        "A = [[0.999, 0.0, 0.0], [0.0, {c:?}, {:?}], [0.0, {s:?}, {c:?}]]\n\
         H = [[1.0, 1.0, 0.0]]\n\
         Q = [[0.01, 0.0, 0.0], [0.0, 0.01, 0.0], [0.0, 0.0, 0.01]]\n\
         R = [[0.1]]\n\
         P0 = \"stationary\"\n",
        -s
    )
}

fn dynrec(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_dynrec"))
        .args(args)
        .output()
        .expect("run dynrec");
    assert!(
        out.status.success(),
        "dynrec {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 2,000 rows with 3% of the measurements missing, fitted by `dynrec fit --hidden 3 --budget
/// quick` (predictor mode, the default without inputs) with training seeds 1–4: for every seed
/// the true pair `0.995 e^{±2πi/50}` is matched by an eigenvalue of `U + W_z V` within 0.01.
/// Checked against a build of the code before the fix (commit c64fc12, whose `dynrec fit` has
/// no `--init` and starts every restart at random) on the same data and seeds: the pair's
/// errors were 0.083, 3.9e-3, 0.0104 and 0.040 (seeds 1, 3 and 4 fail), over all three
/// eigenvalues 0.40, 3.9e-3, 0.0104 and 0.040; after the fix at most 3.9e-3.
#[test]
fn slow_lightly_damped_pair_beside_a_near_unit_root_is_recovered() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let system = dir.path().join("s.toml");
    std::fs::write(&system, system_toml()).expect("write system");
    let data = dir.path().join("d.csv");
    dynrec(&[
        "simulate",
        "--system",
        path(&system),
        "--steps",
        "2000",
        "--missing",
        "0.03",
        "--seed",
        "1",
        "--out",
        path(&data),
    ]);
    let mut errors = Vec::new();
    for seed in ["1", "2", "3", "4"] {
        let out = dir.path().join(format!("fit_{seed}"));
        dynrec(&[
            "fit",
            "--data",
            path(&data),
            "--system",
            path(&system),
            "--hidden",
            "3",
            "--budget",
            "quick",
            "--seed",
            seed,
            "--out",
            path(&out),
        ]);
        let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid report.json");
        assert_eq!(json["spec"]["network"]["mode"], "predictor");
        let truth = json["eigenvalues"]["truth"].as_array().expect("truth");
        let pairs = json["analysis"]["rnn_matching"]["pairs"]
            .as_array()
            .expect("matching");
        let pair_error = pairs
            .iter()
            .filter(|p| {
                let i = p["truth"].as_u64().expect("index") as usize;
                truth[i][1].as_f64().expect("imaginary part").abs() > 1e-9
            })
            .map(|p| p["distance"].as_f64().expect("distance"))
            .fold(0.0_f64, f64::max);
        let all = json["eigen_error"]["rnn"].as_f64().expect("eigen error");
        eprintln!("seed {seed}: pair {pair_error:.2e}, all eigenvalues {all:.2e}");
        errors.push((seed, pair_error));
    }
    for (seed, error) in errors {
        assert!(
            error <= 1e-2,
            "seed {seed}: the pair is {error:.3e} from the truth"
        );
    }
}
