//! The training-speed benchmark (issues 3 and 12): 100 Adam steps, f32, full BPTT, on two
//! workloads, for linear and tanh networks — Burn (the fused recurrence, and Burn's op-by-op
//! step loop), a hand-written BPTT floor in plain Rust, and PyTorch (its Python step loop and
//! `torch.nn.RNN`) on the same initial weights and data.
//!
//! - **issue 3**: 64 sequences of T = 200, hidden 4, simulation mode, nothing missing;
//! - **long series**: one sequence of T = 2,000, hidden 3, predictor mode, 3% of the
//!   measurements missing (left out of the loss, and the network's own prediction fed back in
//!   place of the missing `z_{k-1}`).
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo bench -p dynrec-model --bench train_step
//! RAYON_NUM_THREADS=1 DYNREC_TORCH_PYTHON=/path/to/python cargo bench -p dynrec-model --bench train_step
//! ```
//!
//! Optional filters: `DYNREC_BENCH_ONLY=issue3|long` (one workload), `DYNREC_BENCH_ACT=linear|tanh`
//! (one activation), `DYNREC_BENCH_ROWS=<substring>` (rows whose name contains it; `torch`
//! selects both PyTorch variants).
//!
//! Each workload (standardised data exactly as the network sees it, initial weights, learning
//! rates) is written to `workload-*.json` under Cargo's bench temp dir; the PyTorch script
//! `benches/reference/torch_rnn.py` reads it. Every implementation also prints its final loss,
//! so one can check that they trained the same thing. The `torch.nn.RNN` columns compare with the
//! fastest `torch.nn.RNN` row of the workload (a tanh row: it has no linear cell).

#[path = "reference/bptt.rs"]
mod bptt;

use std::process::Command;
use std::time::Instant;

use dynrec_model::{
    Activation, Compute, Mode, NetworkConfig, SequenceData, Silent, Standardisation,
    TrainingConfig, train,
};
use dynrec_truth::LinearSystem;
use dynrec_truth::simulate::{InputSignal, SimulationConfig, simulate};
use nalgebra::DMatrix;

const STEPS: usize = 100;
/// Best of at least this many runs, more (up to `MAX_REPEATS`) while the runs so far took less
/// than `BUDGET_S` together, one when a single run takes longer than `SLOW_S`: the minimum of
/// many short runs is the least disturbed by other processes on a shared machine.
const REPEATS: usize = 3;
const MAX_REPEATS: usize = 25;
const BUDGET_S: f64 = 2.0;
const SLOW_S: f64 = 3.0;

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

/// One workload: sizes, mode and the standardised data.
struct Workload {
    name: &'static str,
    key: &'static str,
    batch: usize,
    steps: usize,
    hidden: usize,
    mode: Mode,
    data: Vec<SequenceData>,
}

impl Workload {
    fn new(
        name: &'static str,
        key: &'static str,
        (batch, steps, hidden): (usize, usize, usize),
        mode: Mode,
        missing: f64,
    ) -> Self {
        let raw = simulate(
            &system(),
            &SimulationConfig {
                sequences: batch,
                steps,
                input: InputSignal::White { std: 1.0 },
                missing_fraction: missing,
                seed: 42,
            },
        )
        .expect("simulate");
        let data: Vec<SequenceData> = raw
            .sequences
            .into_iter()
            .map(|s| SequenceData::new(s.inputs, s.measurements).expect("valid"))
            .collect();
        // Standardise once here, so every implementation reads the same numbers.
        let scaling = Standardisation::fit(&data, true);
        let data = data
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
        Self {
            name,
            key,
            batch,
            steps,
            hidden,
            mode,
            data,
        }
    }

    fn network(&self, activation: Activation) -> NetworkConfig {
        NetworkConfig {
            d_hidden: self.hidden,
            mode: self.mode,
            activation,
            ..NetworkConfig::default()
        }
    }

    fn config(&self) -> TrainingConfig {
        TrainingConfig {
            restarts: 1,
            max_steps: STEPS,
            batch_size: self.batch,
            validation_fraction: 0.0,
            eval_every: usize::MAX,
            patience: usize::MAX,
            lbfgs_iterations: 0,
            standardise: false,
            ..TrainingConfig::default()
        }
    }

    /// The network input as fed (`in_1 = 0`, then `u_k` and in predictor mode `z_{k-1}`, 0 where
    /// missing), targets (0 where missing), target mask and the missing-`z_{k-1}` flags, all
    /// `[batch][steps][·]`.
    fn arrays(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<bool>) {
        let (b, t) = (self.batch, self.steps);
        let predictor = self.mode == Mode::Predictor;
        let d = if predictor { 2 } else { 1 };
        let (mut x, mut z) = (vec![0.0; b * t * d], vec![0.0; b * t]);
        let (mut mask, mut missing) = (vec![0.0; b * t], vec![false; b * t]);
        for (s, seq) in self.data.iter().enumerate() {
            for k in 0..t {
                let at = s * t + k;
                if k > 0 {
                    x[at * d] = seq.inputs[(0, k)];
                    if predictor {
                        let previous = seq.measurements[(0, k - 1)];
                        if previous.is_finite() {
                            x[at * d + 1] = previous;
                        } else {
                            missing[at] = true;
                        }
                    }
                }
                let zk = seq.measurements[(0, k)];
                if zk.is_finite() {
                    z[at] = zk;
                    mask[at] = 1.0;
                }
            }
        }
        (x, z, mask, missing)
    }
}

/// One row of a table.
struct Row {
    name: String,
    activation: Activation,
    ms: f64,
    loss: f64,
}

fn act_name(activation: Activation) -> &'static str {
    match activation {
        Activation::Linear => "linear",
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    }
}

fn time_best(mut run: impl FnMut() -> f64) -> (f64, f64) {
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    let mut loss = f64::NAN;
    for repeat in 0..MAX_REPEATS {
        let started = Instant::now();
        loss = run();
        let seconds = started.elapsed().as_secs_f64();
        best = best.min(seconds);
        total += seconds;
        if (repeat == 0 && seconds > SLOW_S) || (repeat + 1 >= REPEATS && total > BUDGET_S) {
            break;
        }
    }
    (best * 1e3 / STEPS as f64, loss)
}

fn burn_rows(work: &Workload, activation: Activation, rows: &mut Vec<Row>) {
    let device = Compute::default().device().expect("flex");
    let network = work.network(activation);
    for (name, scan) in [
        ("burn flex, fused (default)", true),
        ("burn flex, step-by-step (scan: false)", false),
    ] {
        if !selected(name) {
            continue;
        }
        let config = TrainingConfig {
            scan,
            ..work.config()
        };
        let (ms, loss) = time_best(|| {
            train(&work.data, &network, &config, &device, &mut Silent)
                .expect("train")
                .report
                .train_loss
        });
        rows.push(Row {
            name: name.into(),
            activation,
            ms,
            loss,
        });
    }
}

/// Whether a row is selected by `DYNREC_BENCH_ROWS` (a substring of its name; all when unset).
fn selected(name: &str) -> bool {
    std::env::var("DYNREC_BENCH_ROWS").map_or(true, |only| name.contains(&only))
}

fn floor_row(work: &Workload, activation: Activation, rows: &mut Vec<Row>) {
    let config = work.config();
    let init = work
        .network(activation)
        .elman(1, 1, config.restart_seed(0))
        .init_weights(work.mode)
        .expect("init");
    let to32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let prm0 = bptt::Params {
        n: work.hidden,
        d: init.w.ncols(),
        p: 1,
        m: 1,
        u: to32(&row_major(&init.u)),
        w: to32(&row_major(&init.w)),
        v: to32(&row_major(&init.v)),
        b: to32(init.b.as_slice()),
        c: to32(init.c.as_slice()),
    };
    let (x, z, mask, missing) = work.arrays();
    let data = bptt::Data {
        batch: work.batch,
        steps: work.steps,
        count: mask.iter().sum::<f64>() as f32,
        x: to32(&x),
        z: to32(&z),
        mask: to32(&mask),
        missing,
    };
    let lrs: Vec<f32> = (0..STEPS)
        .map(|k| config.learning_rate_at(k) as f32)
        .collect();
    let clip = config.grad_clip_norm.unwrap_or(f64::INFINITY) as f32;
    let run = |prm: &mut bptt::Params| -> f64 {
        let mut scratch = bptt::Scratch::default();
        let mut g = Vec::new();
        let mut theta = prm.flat();
        let mut adam = bptt::Adam::new(theta.len());
        let eval =
            |prm: &bptt::Params, scratch: &mut bptt::Scratch, g: &mut Vec<f32>| match activation {
                Activation::Tanh => bptt::loss_and_grad::<bptt::Tanh>(prm, &data, scratch, g),
                _ => bptt::loss_and_grad::<bptt::Linear>(prm, &data, scratch, g),
            };
        for lr in &lrs {
            prm.set_flat(&theta);
            eval(prm, &mut scratch, &mut g);
            let norm = g.iter().map(|a| a * a).sum::<f32>().sqrt();
            if norm > clip {
                g.iter_mut().for_each(|a| *a *= clip / norm);
            }
            adam.step(&mut theta, &g, *lr);
        }
        prm.set_flat(&theta);
        f64::from(eval(prm, &mut scratch, &mut g))
    };
    let (ms, loss) = time_best(|| run(&mut prm0.clone()));
    rows.push(Row {
        name: "hand-written BPTT (plain Rust, 1 thread)".into(),
        activation,
        ms,
        loss,
    });
}

fn write_workload(work: &Workload, activation: Activation) -> std::path::PathBuf {
    let config = work.config();
    let init = work
        .network(activation)
        .elman(1, 1, config.restart_seed(0))
        .init_weights(work.mode)
        .expect("init");
    let (x, z, mask, missing) = work.arrays();
    let lrs: Vec<f64> = (0..STEPS).map(|k| config.learning_rate_at(k)).collect();
    let workload = serde_json::json!({
        "batch": work.batch, "steps": work.steps, "d_input": init.w.ncols(), "d_output": 1,
        "n_inputs": 1, "d_hidden": work.hidden, "activation": act_name(activation),
        "adam_steps": STEPS, "grad_clip_norm": config.grad_clip_norm, "learning_rates": lrs,
        "x": x, "z": z, "mask": mask,
        "missing": missing.iter().map(|&b| u8::from(b)).collect::<Vec<_>>(),
        "u": row_major(&init.u), "w": row_major(&init.w), "v": row_major(&init.v),
        "b": init.b.as_slice(), "c": init.c.as_slice(),
    });
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "workload-{}-{}.json",
        work.key,
        act_name(activation)
    ));
    std::fs::write(&path, workload.to_string()).expect("write workload");
    path
}

fn torch_rows(work: &Workload, activation: Activation, python: &str, rows: &mut Vec<Row>) {
    let path = write_workload(work, activation);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reference/torch_rnn.py"
    );
    for threads in ["1", "2"] {
        let out = Command::new(python)
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
            rows.push(Row {
                name: parsed["name"].as_str().unwrap_or("pytorch").to_string(),
                activation,
                ms: parsed["ms_per_step"].as_f64().unwrap_or(f64::NAN),
                loss: parsed["final_loss"].as_f64().unwrap_or(f64::NAN),
            });
        }
    }
}

/// The 1-, 5- and 15-minute load averages (Linux), or "?".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn main() {
    let workloads = [
        Workload::new(
            "issue 3: batch 64, T = 200, hidden 4, simulation mode",
            "issue3",
            (64, 200, 4),
            Mode::Simulation,
            0.0,
        ),
        Workload::new(
            "long series: batch 1, T = 2000, hidden 3, predictor mode, 3% missing",
            "long",
            (1, 2000, 3),
            Mode::Predictor,
            0.03,
        ),
    ];
    let python = std::env::var("DYNREC_TORCH_PYTHON").ok();
    if python.is_none() {
        eprintln!("DYNREC_TORCH_PYTHON not set: PyTorch reference skipped");
    }
    let only = std::env::var("DYNREC_BENCH_ONLY").ok();
    println!(
        "threads available: {}, RAYON_NUM_THREADS={}, load average at start: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_default(),
        load_average()
    );
    for work in &workloads {
        if only.as_deref().is_some_and(|key| key != work.key) {
            continue;
        }
        let mut rows = Vec::new();
        for activation in [Activation::Linear, Activation::Tanh] {
            if std::env::var("DYNREC_BENCH_ACT").is_ok_and(|a| a != act_name(activation)) {
                continue;
            }
            burn_rows(work, activation, &mut rows);
            if selected("hand-written BPTT") {
                floor_row(work, activation, &mut rows);
            }
            if let Some(python) = python.as_ref().filter(|_| selected("pytorch torch.nn.RNN")) {
                torch_rows(work, activation, python, &mut rows);
            }
        }
        let floor = |a: Activation| {
            rows.iter()
                .find(|r| r.activation == a && r.name.starts_with("hand-written"))
                .map_or(f64::NAN, |r| r.ms)
        };
        let rnn = rows
            .iter()
            .filter(|r| r.name.contains("torch.nn.RNN"))
            .map(|r| r.ms)
            .fold(f64::NAN, f64::min);
        println!();
        println!(
            "workload {}: {STEPS} Adam steps, f32 (load average after: {})",
            work.name,
            load_average()
        );
        println!(
            "| implementation | act | ms/step | / floor | / torch.nn.RNN | torch.nn.RNN / this | final loss |"
        );
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for row in &rows {
            println!(
                "| {} | {} | {:.3} | {:.2} | {:.4} | {:.1} | {:.6} |",
                row.name,
                act_name(row.activation),
                row.ms,
                row.ms / floor(row.activation),
                row.ms / rnn,
                rnn / row.ms,
                row.loss
            );
        }
    }
}
