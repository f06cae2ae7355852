//! Filter and smoother throughput on the reference workload: n = 5 states, p = 2 outputs,
//! 10⁵ steps, no inputs (the same workload as `scripts/bench_pykalman.py`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynrec_truth::{InputSignal, LinearSystem, SimulationConfig, filter, simulate, smooth};
use nalgebra::DMatrix;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

const STEPS: usize = 100_000;

fn workload() -> (LinearSystem, dynrec_truth::Sequence) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let mut random = |r, c| DMatrix::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0));
    let mut a = random(5, 5);
    a *= 0.95 / dynrec_truth::spectral_radius(&a);
    let h = random(2, 5);
    let g = random(5, 5);
    let q = &g * g.transpose() * 0.1 + DMatrix::identity(5, 5) * 1e-3;
    let r = DMatrix::identity(2, 2) * 0.5;
    let system = LinearSystem::new(a, None, h, q, r).expect("valid benchmark system");
    let config = SimulationConfig {
        steps: STEPS,
        input: InputSignal::Zero,
        ..Default::default()
    };
    let seq = simulate(&system, &config)
        .expect("valid config")
        .sequences
        .remove(0);
    (system, seq)
}

fn bench(c: &mut Criterion) {
    let (system, seq) = workload();
    let mut group = c.benchmark_group("kalman_n5_p2_1e5");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(STEPS as u64));
    group.bench_function("filter", |b| {
        b.iter(|| filter(&system, &seq).expect("filter"))
    });
    let filtered = filter(&system, &seq).expect("filter");
    group.bench_function("smoother_pass", |b| {
        b.iter(|| smooth(&system, &filtered).expect("smooth"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
