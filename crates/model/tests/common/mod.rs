//! Shared helpers of the integration tests: the reference system of the issue, simulated data,
//! eigenvalue matching and the noise floors computed from the true system.

#![allow(dead_code)]

use dynrec_model::SequenceData;
use dynrec_truth::LinearSystem;
use dynrec_truth::simulate::{InputSignal, SimulationConfig, simulate};
use nalgebra::{Complex, DMatrix, DVector};

/// The damped rotation `A = r [[cos θ, −sin θ], [sin θ, cos θ]]` (r = 0.95, θ = 0.3),
/// `B = [1, 0.5]ᵀ`, `H = [1, 0]`, small process noise, and a prior `x_1 ~ N(0, P0)`.
pub fn damped_rotation(q: f64, r: f64, p0: f64) -> LinearSystem {
    let (radius, theta) = (0.95_f64, 0.3_f64);
    let a = DMatrix::from_row_slice(
        2,
        2,
        &[
            radius * theta.cos(),
            -radius * theta.sin(),
            radius * theta.sin(),
            radius * theta.cos(),
        ],
    );
    let b = DMatrix::from_row_slice(2, 1, &[1.0, 0.5]);
    let h = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
    LinearSystem::new(
        a,
        Some(b),
        h,
        DMatrix::identity(2, 2) * q,
        DMatrix::from_element(1, 1, r),
    )
    .expect("valid system")
    .with_prior(DVector::zeros(2), DMatrix::identity(2, 2) * p0)
    .expect("valid prior")
}

/// `sequences × steps` of simulated data with white inputs (std 1), as the model's input type.
pub fn simulated(
    system: &LinearSystem,
    sequences: usize,
    steps: usize,
    seed: u64,
) -> Vec<SequenceData> {
    let config = SimulationConfig {
        sequences,
        steps,
        input: InputSignal::White { std: 1.0 },
        seed,
        ..SimulationConfig::default()
    };
    simulate(system, &config)
        .expect("simulation")
        .sequences
        .into_iter()
        .map(|s| SequenceData::new(s.inputs, s.measurements).expect("valid sequence"))
        .collect()
}

/// The smallest, over pairings, of the largest distance between paired eigenvalues.
pub fn eigen_error(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let la: Vec<Complex<f64>> = a.complex_eigenvalues().iter().copied().collect();
    let lb: Vec<Complex<f64>> = b.complex_eigenvalues().iter().copied().collect();
    assert_eq!(la.len(), lb.len());
    let mut best = f64::INFINITY;
    permutations(la.len(), &mut |perm: &[usize]| {
        let worst = perm
            .iter()
            .enumerate()
            .map(|(i, &j)| (la[i] - lb[j]).norm())
            .fold(0.0, f64::max);
        best = best.min(worst);
    });
    best
}

fn permutations(n: usize, visit: &mut dyn FnMut(&[usize])) {
    fn go(prefix: &mut Vec<usize>, n: usize, visit: &mut dyn FnMut(&[usize])) {
        if prefix.len() == n {
            visit(prefix);
            return;
        }
        for i in 0..n {
            if !prefix.contains(&i) {
                prefix.push(i);
                go(prefix, n, visit);
                prefix.pop();
            }
        }
    }
    go(&mut Vec::new(), n, visit);
}

/// Output-error noise floor of a sequence of `steps` rows: the mean over k of
/// `H Σ_k Hᵀ + R` (trace, summed over outputs), with `Σ_1 = P0`, `Σ_k = A Σ_{k-1} Aᵀ + Q` —
/// the error variance of the best prediction of `z_k` from the inputs alone.
pub fn simulation_floor(system: &LinearSystem, steps: usize) -> f64 {
    let (a, h, q, r) = (system.a(), system.h(), system.q(), system.r());
    let mut sigma = system.p0().clone();
    let mut total = 0.0;
    for k in 0..steps {
        if k > 0 {
            sigma = a * &sigma * a.transpose() + q;
        }
        total += (h * &sigma * h.transpose() + r).trace();
    }
    total / (steps as f64 * system.n_outputs() as f64)
}

/// A small random gradient-check problem: weights with `‖U‖_F = 0.8` (so a stable network) and
/// `sequences` random sequences of `steps` rows (`m = 2` inputs, `p = 2` outputs, hidden 3), each
/// measurement missing (`NaN`) with probability `missing`.
pub fn random_problem(
    activation: dynrec_model::Activation,
    mode: dynrec_model::Mode,
    (sequences, steps): (usize, usize),
    seed: u64,
    missing: f64,
) -> (dynrec_model::RnnWeights, Vec<SequenceData>) {
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};
    use rand_distr::StandardNormal;
    let (m, p, n) = (2, 2, 3);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut normal = |rows: usize, cols: usize, std: f64| {
        DMatrix::from_fn(rows, cols, |_, _| {
            std * rng.sample::<f64, _>(StandardNormal)
        })
    };
    let d_in = if mode == dynrec_model::Mode::Predictor {
        m + p
    } else {
        m
    };
    let mut u = normal(n, n, 1.0);
    let norm = u.norm();
    u *= 0.8 / norm;
    let weights = dynrec_model::RnnWeights {
        u,
        w: normal(n, d_in, 0.7),
        v: normal(p, n, 0.7),
        b: normal(n, 1, 0.3).column(0).into_owned(),
        c: normal(p, 1, 0.3).column(0).into_owned(),
        activation,
        mode,
        bias: true,
    };
    let mut flags = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed);
    let data = (0..sequences)
        .map(|_| {
            let inputs = normal(m, steps, 1.0);
            let mut z = normal(p, steps, 1.0);
            for x in z.iter_mut() {
                if flags.random::<f64>() < missing {
                    *x = f64::NAN;
                }
            }
            SequenceData::new(inputs, z).expect("valid sequence")
        })
        .collect();
    (weights, data)
}

/// Every weight of `w` in a fixed order: `U`, `W`, `V`, `b`, `c` (column-major within each).
pub fn weight_entries(w: &dynrec_model::RnnWeights) -> Vec<f64> {
    w.u.iter()
        .chain(w.w.iter())
        .chain(w.v.iter())
        .chain(w.b.iter())
        .chain(w.c.iter())
        .copied()
        .collect()
}
