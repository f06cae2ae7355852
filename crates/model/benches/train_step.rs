//! The training-speed benchmark of issue 3: 100 Adam steps, batch 64, T = 200, hidden 4,
//! linear, f32 — Burn (parallel scan and step-by-step unrolling), a hand-written BPTT floor in
//! plain Rust, and PyTorch on the same initial weights and data.
//!
//! ```text
//! cargo bench -p dynrec-model --bench train_step
//! DYNREC_TORCH_PYTHON=/path/to/python cargo bench -p dynrec-model --bench train_step
//! ```
//!
//! The workload (standardised data exactly as the network sees it, initial weights, learning
//! rates) is written to `workload.json` under Cargo's bench temp dir; the PyTorch script
//! `benches/reference/torch_rnn.py` reads it. Every implementation also prints its final loss,
//! so one can check that they trained the same thing.

#[path = "reference/bptt.rs"]
mod bptt;

use std::process::Command;
use std::time::Instant;

use dynrec_model::{
    Compute, NetworkConfig, SequenceData, Silent, Standardisation, TrainingConfig, train,
};
use dynrec_truth::LinearSystem;
use dynrec_truth::simulate::{InputSignal, SimulationConfig, simulate};
use nalgebra::DMatrix;

const STEPS: usize = 100;
const BATCH: usize = 64;
const T: usize = 200;
const HIDDEN: usize = 4;
const REPEATS: usize = 3;

fn system() -> LinearSystem {
    let (r, th) = (0.95_f64, 0.3_f64);
    let a = DMatrix::from_row_slice(
        2,
        2,
        &[r * th.cos(), -r * th.sin(), r * th.sin(), r * th.cos()],
    );
    LinearSystem::new(
        a,
        Some(DMatrix::from_row_slice(2, 1, &[1.0, 0.5])),
        DMatrix::from_row_slice(1, 2, &[1.0, 0.0]),
        DMatrix::identity(2, 2) * 1e-4,
        DMatrix::from_element(1, 1, 2.5e-3),
    )
    .expect("valid system")
}

fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| m.row(i).iter().copied().collect::<Vec<_>>())
        .collect()
}

fn main() {
    let raw = simulate(
        &system(),
        &SimulationConfig {
            sequences: BATCH,
            steps: T,
            input: InputSignal::White { std: 1.0 },
            seed: 42,
            ..SimulationConfig::default()
        },
    )
    .expect("simulate");
    // Standardise once here, so every implementation reads the same numbers.
    let data: Vec<SequenceData> = raw
        .sequences
        .into_iter()
        .map(|s| SequenceData::new(s.inputs, s.measurements).expect("valid"))
        .collect();
    let scaling = Standardisation::fit(&data, true);
    let data: Vec<SequenceData> = data
        .iter()
        .map(|s| {
            let u = s
                .inputs
                .map(|u| (u - scaling.input_mean[0]) / scaling.input_std[0]);
            let z = s
                .measurements
                .map(|z| (z - scaling.output_mean[0]) / scaling.output_std[0]);
            SequenceData::new(u, z).expect("valid")
        })
        .collect();

    let network = NetworkConfig {
        d_hidden: HIDDEN,
        ..NetworkConfig::default()
    };
    let config = TrainingConfig {
        restarts: 1,
        max_steps: STEPS,
        batch_size: BATCH,
        validation_fraction: 0.0,
        eval_every: usize::MAX,
        patience: usize::MAX,
        lbfgs_iterations: 0,
        standardise: false,
        ..TrainingConfig::default()
    };
    let init = network
        .elman(1, 1, config.restart_seed(0))
        .init_weights(dynrec_model::Mode::Simulation)
        .expect("init");

    // The network input as fed: in_1 = 0 (u_1 is not used), then u_k.
    let mut x = vec![0.0f64; BATCH * T];
    let mut z = vec![0.0f64; BATCH * T];
    for (s, seq) in data.iter().enumerate() {
        for t in 0..T {
            x[s * T + t] = if t == 0 { 0.0 } else { seq.inputs[(0, t)] };
            z[s * T + t] = seq.measurements[(0, t)];
        }
    }
    let lrs: Vec<f64> = (0..STEPS).map(|k| config.learning_rate_at(k)).collect();
    let workload = serde_json::json!({
        "batch": BATCH, "steps": T, "d_input": 1, "d_output": 1, "d_hidden": HIDDEN,
        "adam_steps": STEPS, "grad_clip_norm": config.grad_clip_norm, "learning_rates": lrs,
        "x": x, "z": z,
        "u": row_major(&init.u), "w": row_major(&init.w), "v": row_major(&init.v),
        "b": init.b.as_slice(), "c": init.c.as_slice(),
    });
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("workload.json");
    std::fs::write(&path, workload.to_string()).expect("write workload");

    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let device = Compute::default().device().expect("flex");
    for (name, scan) in [
        ("burn flex, parallel scan", true),
        ("burn flex, step-by-step", false),
    ] {
        let config = TrainingConfig {
            scan,
            ..config.clone()
        };
        let mut best = f64::INFINITY;
        let mut loss = 0.0;
        for _ in 0..REPEATS {
            let started = Instant::now();
            let fit = train(&data, &network, &config, &device, &mut Silent).expect("train");
            best = best.min(started.elapsed().as_secs_f64());
            loss = fit.report.train_loss;
        }
        rows.push((name.into(), best * 1e3 / STEPS as f64, loss));
    }
    #[cfg(feature = "ndarray")]
    {
        let device = Compute::new(dynrec_model::Backend::Ndarray, Default::default())
            .device()
            .expect("ndarray");
        let started = Instant::now();
        let fit = train(&data, &network, &config, &device, &mut Silent).expect("train");
        let ms = started.elapsed().as_secs_f64() * 1e3 / STEPS as f64;
        rows.push((
            "burn ndarray, parallel scan".into(),
            ms,
            fit.report.train_loss,
        ));
    }

    // Hand-written BPTT floor.
    let to32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let prm0 = bptt::Params {
        n: HIDDEN,
        d: 1,
        p: 1,
        u: to32(&row_major(&init.u)),
        w: to32(&row_major(&init.w)),
        v: to32(&row_major(&init.v)),
        b: to32(init.b.as_slice()),
        c: to32(init.c.as_slice()),
    };
    let (x32, z32) = (to32(&x), to32(&z));
    let clip = config.grad_clip_norm.unwrap_or(f64::INFINITY) as f32;
    let mut best = f64::INFINITY;
    let mut final_loss = 0.0;
    for _ in 0..REPEATS {
        let mut prm = prm0.clone();
        let mut hidden = Vec::new();
        let mut theta = prm.flat();
        let mut adam = bptt::Adam::new(theta.len());
        let started = Instant::now();
        for lr in &lrs {
            prm.set_flat(&theta);
            let (_, mut g) = bptt::loss_and_grad(&prm, &x32, &z32, BATCH, T, &mut hidden);
            let norm = g.iter().map(|a| a * a).sum::<f32>().sqrt();
            if norm > clip {
                g.iter_mut().for_each(|a| *a *= clip / norm);
            }
            adam.step(&mut theta, &g, *lr as f32);
        }
        best = best.min(started.elapsed().as_secs_f64());
        prm.set_flat(&theta);
        final_loss = bptt::loss_and_grad(&prm, &x32, &z32, BATCH, T, &mut hidden).0 as f64;
    }
    rows.push((
        "hand-written BPTT (plain Rust, 1 thread)".into(),
        best * 1e3 / STEPS as f64,
        final_loss,
    ));

    // PyTorch, when a Python with torch is named.
    match std::env::var("DYNREC_TORCH_PYTHON") {
        Ok(python) => {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/benches/reference/torch_rnn.py"
            );
            for threads in ["1", "2"] {
                let out = Command::new(&python)
                    .arg(script)
                    .arg(&path)
                    .args(["--threads", threads])
                    .output()
                    .expect("run python");
                if !out.status.success() {
                    eprintln!(
                        "torch_rnn.py failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    let Ok(parsed) = serde_json::from_str::<serde_json::Value>(line) else {
                        continue;
                    };
                    let name = parsed["name"].as_str().unwrap_or("pytorch").to_string();
                    let ms = parsed["ms_per_step"].as_f64().unwrap_or(f64::NAN);
                    let loss = parsed["final_loss"].as_f64().unwrap_or(f64::NAN);
                    rows.push((name, ms, loss));
                }
            }
        }
        Err(_) => eprintln!("DYNREC_TORCH_PYTHON not set: PyTorch reference skipped"),
    }

    let ours = rows[0].1;
    println!("workload: {STEPS} Adam steps, batch {BATCH}, T = {T}, hidden {HIDDEN}, linear, f32");
    println!(
        "threads available: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| implementation | ms/step | time / burn scan | final loss |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, ms, loss) in &rows {
        println!("| {name} | {ms:.3} | {:.2} | {loss:.6} |", ms / ours);
    }
}
