//! N4SID and 50 EM iterations on 32 sequences × 300 rows of a three-state system (one input,
//! one output); the numbers beside nfoursid and pykalman are in `BENCH.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dynrec_sysid::{EmConfig, N4sidConfig, em, n4sid};
use dynrec_truth::{InputSignal, LinearSystem, SimulationConfig, simulate};
use nalgebra::DMatrix;

fn system() -> LinearSystem {
    let a = DMatrix::from_row_slice(3, 3, &[0.9, -0.2, 0.0, 0.2, 0.9, 0.0, 0.0, 0.0, 0.5]);
    let b = DMatrix::from_row_slice(3, 1, &[1.0, 0.5, -0.8]);
    let h = DMatrix::from_row_slice(1, 3, &[1.0, 0.3, 1.0]);
    LinearSystem::new(
        a,
        Some(b),
        h,
        DMatrix::identity(3, 3) * 1e-3,
        DMatrix::identity(1, 1) * 1e-2,
    )
    .expect("valid system")
}

fn bench(c: &mut Criterion) {
    let data = simulate(
        &system(),
        &SimulationConfig {
            sequences: 32,
            steps: 300,
            input: InputSignal::White { std: 1.0 },
            missing_fraction: 0.0,
            seed: 3,
        },
    )
    .expect("simulates");
    // The Python side of BENCH.md (scripts/bench_sysid.py) reads the very same rows.
    if let Some(path) = std::env::var_os("DYNREC_SYSID_BENCH_DATA") {
        data.save(std::path::Path::new(&path))
            .expect("writes the benchmark data");
    }
    let seqs = &data.sequences;
    let config = N4sidConfig::default();
    c.bench_function("n4sid_32x300_n3", |b| {
        b.iter(|| n4sid(black_box(seqs), &config).expect("identifies"))
    });
    let init = n4sid(seqs, &config).expect("identifies").system;
    let em_config = EmConfig {
        max_iterations: 50,
        tolerance: 0.0,
        learn_prior: true,
    };
    let mut group = c.benchmark_group("em");
    group.sample_size(10);
    group.bench_function("em50_32x300_n3", |b| {
        b.iter(|| em(black_box(seqs), &init, &em_config).expect("runs"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
