//! Every experiment binary, run end to end on its smoke budget in a temporary folder: it exits
//! successfully (status 2 means a target was missed), its summary says every target holds, and
//! each run's report records the spec, the seed and the git commit. Each is then run again in
//! three shards (one per way of choosing a shard) with `--jobs 1` and merged: the merged result
//! equals the unsharded one, number for number.

#![allow(clippy::unwrap_used)] // helpers of the tests, which panic on failure by design

mod common;

use std::path::Path;

use dynrec_experiments::cli::Summary;

fn smoke(binary: &str) -> (Summary, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let output = common::run(&mut common::experiment(binary, dir.path(), &[]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{binary} failed: {:?}",
        output.status
    );
    let text = std::fs::read_to_string(dir.path().join("outcomes.json")).unwrap();
    let summary: Summary = serde_json::from_str(&text).unwrap();
    assert!(summary.passed);
    assert!(
        stdout.contains("| run | measured |") || stdout.contains(", per seed, vs "),
        "stdout ends with a table"
    );
    for o in &summary.outcomes {
        assert!(stdout.contains(&o.verdict));
        check_report(&dir.path().join(&o.name));
    }
    merged_equals_unsharded(binary, dir.path());
    (summary, dir)
}

/// The experiment run again into another folder as three shards, with one run at a time
/// (`--jobs 1`, where the unsharded run used every core): shard 0 from `--shard 0/3`, shard 1
/// from a Slurm array task's variables (`SLURM_ARRAY_TASK_ID` 11 of `MIN` 10, `COUNT` 3),
/// shard 2 from Kubernetes' `JOB_COMPLETION_INDEX` with `--shards 3`; no shard writes the
/// summaries; `--merge` then writes summaries equal to the unsharded run's in `unsharded`
/// (every number; only timings differ) and exits successfully.
fn merged_equals_unsharded(binary: &str, unsharded: &Path) {
    let sharded = tempfile::tempdir().unwrap();
    let out = sharded.path();
    let shards = [
        common::experiment(binary, out, &["--jobs", "1", "--shard", "0/3"]),
        {
            let mut c = common::experiment(binary, out, &["--jobs", "1"]);
            c.env("SLURM_ARRAY_TASK_ID", "11")
                .env("SLURM_ARRAY_TASK_MIN", "10")
                .env("SLURM_ARRAY_TASK_COUNT", "3");
            c
        },
        {
            let mut c = common::experiment(binary, out, &["--jobs", "1", "--shards", "3"]);
            c.env("JOB_COMPLETION_INDEX", "2");
            c
        },
    ];
    for (i, mut shard) in shards.into_iter().enumerate() {
        let output = common::run(&mut shard);
        assert!(output.status.success(), "shard {i}: {:?}", output.status);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(&format!("shard {i}/3")), "{stdout}");
    }
    assert!(!out.join("outcomes.json").exists() && !out.join("README.md").exists());
    let merge = common::run(&mut common::experiment(binary, out, &["--merge"]));
    assert!(merge.status.success(), "merge: {:?}", merge.status);
    assert!(common::assert_same_results(unsharded, out) > 0);
}

/// report.json records the full spec with its seed and the commit; the classical baselines
/// (every experiment runs N4SID and EM by default) have eigenvalues as many as the true ones
/// and an eigen error; report.md and the plots exist.
fn check_report(dir: &Path) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let spec = &json["spec"];
    assert!(spec["seed"].is_u64());
    assert_eq!(spec["budget"], "smoke");
    assert_eq!(spec["simulation"]["seed"], spec["seed"]);
    assert_eq!(spec["training"]["seed"], spec["seed"]);
    assert!(spec["git_commit"].as_str().is_some_and(|c| !c.is_empty()));
    let n = json["eigenvalues"]["truth"].as_array().unwrap().len();
    assert!(n > 0);
    for baseline in ["n4sid", "em"] {
        assert_eq!(
            json["eigenvalues"][baseline].as_array().map(Vec::len),
            Some(n),
            "{baseline} in {}",
            dir.display()
        );
        let error = json["eigen_error"][baseline].as_f64().unwrap();
        assert!(error.is_finite() && error >= 0.0, "{baseline}: {error}");
        assert!(json["metrics"][format!("heldout_mse_{baseline}_one_step")].is_f64());
    }
    assert!(dir.join("singular_values.png").exists());
    assert!(dir.join("report.md").exists());
    for plot in json["plots"].as_array().unwrap() {
        assert!(dir.join(plot["path"].as_str().unwrap()).exists(), "{plot}");
    }
}

/// rotation (claim 1): with hidden = n, eig(U) matches eig(A) to 1e-2 for both systems, and the
/// held-out output-error MSE is within 5% of the true system's. The baselines on the same data:
/// N4SID and EM recover eig(A) to 5e-3 (what `dynrec-sysid`'s tests show on noisier 3-state
/// data, 32 × 300, Q = 1e-3, R = 1e-2; here Q = 1e-5, R = 2.5e-3), and EM's Kalman predictor
/// is within 5% of the true one's held-out one-step MSE (it is the maximum-likelihood estimate).
#[test]
fn rotation() {
    let (summary, _dir) = smoke(env!("CARGO_BIN_EXE_rotation"));
    assert_eq!(summary.outcomes.len(), 2);
    for o in &summary.outcomes {
        assert!(
            o.eigen_error.unwrap() <= 1e-2,
            "{}: {:?}",
            o.name,
            o.eigen_error
        );
        let floor = o.truth_output_error_mse.unwrap();
        assert!((o.rnn_mse / floor - 1.0).abs() <= 0.05);
        // A simulation-mode network cannot beat the Kalman one-step predictor, which also sees
        // the measurements.
        assert!(o.rnn_mse >= o.kalman_mse.unwrap() * 0.95);
        let true_order = if o.name == "three_state" { 3 } else { 2 };
        for name in ["n4sid", "em"] {
            let b = o.baseline(name).unwrap();
            assert_eq!(b.order, true_order, "{}: {name}", o.name);
            assert!(b.eigen_error.unwrap() <= 5e-3, "{}: {name} {b:?}", o.name);
        }
        let em = o.baseline("em").unwrap();
        let kalman = o.kalman_mse.unwrap();
        assert!(
            (em.heldout_mse_one_step / kalman - 1.0).abs() <= 0.05,
            "{}: EM {} vs Kalman {kalman}",
            o.name,
            em.heldout_mse_one_step
        );
    }
}

/// predictor (claim 2): eig(U) matches eig(A − K H) to 2e-2, eig(U + W_z V) matches eig(A) to
/// 1e-2, and the held-out one-step MSE is within 5% of the Kalman filter's.
#[test]
fn predictor() {
    let (summary, _dir) = smoke(env!("CARGO_BIN_EXE_predictor"));
    assert!(!summary.outcomes.is_empty());
    for o in &summary.outcomes {
        assert!(
            o.eigen_error.unwrap() <= 1e-2,
            "{}: {:?}",
            o.name,
            o.eigen_error
        );
        assert!(
            o.closed_loop_error.unwrap() <= 2e-2,
            "{:?}",
            o.closed_loop_error
        );
        assert!((o.rnn_mse / o.kalman_mse.unwrap() - 1.0).abs() <= 0.05);
    }
}

/// hidden_size (claim 4): with 2n hidden units the true eigenvalues are among eig(U) to 1e-2
/// and the unmatched modes carry at most 1% of the output energy.
#[test]
fn hidden_size() {
    let (summary, _dir) = smoke(env!("CARGO_BIN_EXE_hidden_size"));
    for o in &summary.outcomes {
        assert!(o.training.restarts.iter().all(|r| r.val_loss.is_finite()));
        assert!(o.eigen_error.unwrap() <= 1e-2, "{:?}", o.eigen_error);
        assert!(
            o.extra_mode_energy.unwrap() <= 1e-2,
            "{:?}",
            o.extra_mode_energy
        );
    }
}

/// tanh (claim 3): at a small input amplitude the Jacobian of the tanh network at its fixed
/// point has the eigenvalues of A to 1e-2.
#[test]
fn tanh() {
    let (summary, _dir) = smoke(env!("CARGO_BIN_EXE_tanh"));
    for o in &summary.outcomes {
        assert!(o.eigen_error.unwrap() <= 1e-2, "{:?}", o.eigen_error);
        assert!(o.verdict.contains("Jacobian"), "{}", o.verdict);
    }
}

/// noise_and_data: at 32 sequences, a thousandfold larger measurement noise gives a larger
/// eigenvalue error for the RNN and for N4SID (EM, on the smoke budget of 20 iterations, is
/// nearly flat: 2.2e-5 vs 2.3e-5), and every run of every method stays within the 1e-2
/// tolerance; the summary's table has a column per method.
#[test]
fn noise_and_data() {
    let (summary, dir) = smoke(env!("CARGO_BIN_EXE_noise_and_data"));
    let outcome = |name: &str| summary.outcomes.iter().find(|o| o.name == name).unwrap();
    let (quiet, noisy) = (outcome("noise_1e-4_seed_0"), outcome("noise_1e-1_seed_0"));
    assert!(quiet.eigen_error.unwrap() < noisy.eigen_error.unwrap());
    let n4sid = |o: &dynrec_pipeline::Outcome| o.baseline("n4sid").unwrap().eigen_error.unwrap();
    assert!(n4sid(quiet) < n4sid(noisy));
    for o in &summary.outcomes {
        for b in &o.baselines {
            assert!(b.eigen_error.unwrap() <= 1e-2, "{}: {b:?}", o.name);
        }
    }
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(readme.contains("| RNN | N4SID | EM |"), "{readme}");
    assert!(
        summary
            .outcomes
            .iter()
            .all(|o| o.eigen_error.unwrap() <= 1e-2)
    );
    assert!(dir.path().join("sweep_0.png").exists());
    assert!(dir.path().join("sweep_1.png").exists());
}

/// kalman_vs_rnn: with 32 training sequences the RNN's held-out one-step MSE is within 5% of
/// the Kalman filter's.
#[test]
fn kalman_vs_rnn() {
    let (summary, dir) = smoke(env!("CARGO_BIN_EXE_kalman_vs_rnn"));
    for o in &summary.outcomes {
        assert!(
            (o.mse_ratio.unwrap() - 1.0).abs() <= 0.05,
            "{:?}",
            o.mse_ratio
        );
    }
    assert!(dir.path().join("sweep_0.png").exists());
}

/// `eigenvalues.truth` of a run's report, as complex numbers.
fn truth_eigenvalues(dir: &Path, run: &str) -> Vec<nalgebra::Complex<f64>> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(run).join("report.json")).unwrap())
            .unwrap();
    json["eigenvalues"]["truth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| nalgebra::Complex::new(z[0].as_f64().unwrap(), z[1].as_f64().unwrap()))
        .collect()
}

/// `exp(λ dt)` for each `λ`: the eigenvalues of the exact discretisation, which RK4's Jacobian
/// matches to about `(|λ| dt)⁵ / 120` (an independent check of the "A" a nonlinear run compares
/// against, from the continuous-time Jacobian written out by hand).
fn assert_discretised(
    reported: &[nalgebra::Complex<f64>],
    continuous: &[nalgebra::Complex<f64>],
    dt: f64,
) {
    assert_eq!(reported.len(), continuous.len());
    let expected: Vec<_> = continuous.iter().map(|l| (l * dt).exp()).collect();
    let bound = continuous
        .iter()
        .map(|l| (l.norm() * dt).powi(5) / 120.0)
        .fold(0.0, f64::max);
    let matching = dynrec_analysis::match_eigenvalues(&expected, reported);
    assert!(
        matching.max_distance <= 3.0 * bound,
        "{reported:?} vs exp(λ dt) {expected:?}: {} > 3 × {bound:.1e}",
        matching.max_distance
    );
}

/// pendulum (issue 7): at the small swing a linear network recovers the linearisation at the
/// bottom to 1e-2, and the "A" of the report is that linearisation: `exp(λ dt)` with
/// `λ = −c/2 ± i √(g/L − c²/4)` (g = 9.81, L = 1, c = 0.5, dt = 0.05).
#[test]
fn pendulum() {
    let (summary, dir) = smoke(env!("CARGO_BIN_EXE_pendulum"));
    for o in &summary.outcomes {
        assert!(o.eigen_error.unwrap() <= 1e-2, "{:?}", o.eigen_error);
        assert_eq!(o.equilibrium.as_ref().unwrap().name, "bottom");
        let omega = (9.81_f64 - 0.25 * 0.25).sqrt();
        let lambda = [
            nalgebra::Complex::new(-0.25, omega),
            nalgebra::Complex::new(-0.25, -omega),
        ];
        assert_discretised(&truth_eigenvalues(dir.path(), &o.name), &lambda, 0.05);
        let report = std::fs::read_to_string(dir.path().join(&o.name).join("report.md")).unwrap();
        assert!(report.contains("equilibrium `bottom`"), "{report}");
    }
}

/// hopf (the example of docs/extending.md, a system defined in its binary): the linear network
/// recovers the linearisation at the origin, `exp((μ ± iω) dt)`, to 1e-2, and the report's spec
/// records the custom system's description.
#[test]
fn hopf() {
    let (summary, dir) = smoke(env!("CARGO_BIN_EXE_hopf"));
    for o in &summary.outcomes {
        assert!(o.eigen_error.unwrap() <= 1e-2, "{:?}", o.eigen_error);
        let lambda = [
            nalgebra::Complex::new(-0.5, 3.0),
            nalgebra::Complex::new(-0.5, -3.0),
        ];
        assert_discretised(&truth_eigenvalues(dir.path(), &o.name), &lambda, 0.05);
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(&o.name).join("report.json")).unwrap(),
        )
        .unwrap();
        assert!(
            json["spec"]["system"]["custom"]
                .as_str()
                .unwrap()
                .contains("Hopf")
        );
    }
}

/// lorenz (issue 7): the runner compares with the linearisation at C+, whose eigenvalues are
/// `exp(λ dt)` of the continuous Jacobian there (computed here from the equations); the README
/// lists every closed-loop fixed point of the network beside its nearest equilibrium.
#[test]
fn lorenz() {
    let (summary, dir) = smoke(env!("CARGO_BIN_EXE_lorenz"));
    let (sigma, rho, beta) = (10.0, 28.0, 8.0 / 3.0);
    let x = (beta * (rho - 1.0_f64)).sqrt();
    // ∂g/∂x of ẋ = σ(y − x), ẏ = x(ρ − z) − y, ż = xy − βz at C+ = (x, x, ρ − 1).
    let jacobian =
        nalgebra::DMatrix::from_row_slice(3, 3, &[-sigma, sigma, 0.0, 1.0, -1.0, -x, x, x, -beta]);
    let lambda = dynrec_analysis::eigenvalues(&jacobian).unwrap();
    for o in &summary.outcomes {
        assert_eq!(o.equilibrium.as_ref().unwrap().name, "C+");
        assert_discretised(&truth_eigenvalues(dir.path(), &o.name), &lambda, 0.01);
    }
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(
        readme.contains("## Closed-loop fixed points against the Lorenz equilibria"),
        "{readme}"
    );
    let rows: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| tanh_8_seed_11 | ("))
        .collect();
    assert!(!rows.is_empty(), "{readme}");
    for row in rows {
        assert!(
            ["| origin |", "| C+ |", "| C- |"]
                .iter()
                .any(|e| row.contains(e)),
            "{row}"
        );
    }
}

/// real: the real series through `dynrec fit`'s pipeline path on the smoke budget (quick, one
/// seed): every series gets a report folder with report.json, report.md and plots; N4SID and
/// EM ran at the network's order; the dominant modes are reported in years; the detrended CO2
/// run records the line it removed (1.343 ppm per year); the README lists every series; three
/// shards merged equal the unsharded run.
#[test]
fn real() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::run(&mut common::experiment(
        env!("CARGO_BIN_EXE_real"),
        dir.path(),
        &[],
    ));
    assert!(output.status.success(), "real failed: {:?}", output.status);
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    for (series, hidden) in [("co2_raw", 3), ("co2", 3), ("sunspots", 2), ("elnino", 4)] {
        assert!(
            readme.contains(&format!("## `{series}`")),
            "{series} in the README"
        );
        let run = dir.path().join(series).join("seed_1");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(json["spec"]["network"]["d_hidden"], hidden);
        assert_eq!(json["spec"]["network"]["mode"], "predictor");
        for baseline in ["n4sid", "em"] {
            assert_eq!(
                json["eigenvalues"][baseline].as_array().map(Vec::len),
                Some(hidden),
                "{series}: {baseline}"
            );
        }
        let step = json["dominant_modes"]["time_step"].as_f64().unwrap();
        assert!(step > 0.0 && step <= 1.0, "{series}: {step} years per row");
        assert!(run.join("report.md").exists());
        for plot in json["plots"].as_array().unwrap() {
            assert!(run.join(plot["path"].as_str().unwrap()).exists(), "{plot}");
        }
    }
    let co2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("co2/seed_1/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(co2["spec"]["detrend"], "linear");
    let slope = co2["spec"]["trends"][0]["slope"].as_f64().unwrap();
    assert!((slope - 1.343).abs() < 1e-3, "{slope} ppm per year");
    merged_equals_unsharded(env!("CARGO_BIN_EXE_real"), dir.path());
}
