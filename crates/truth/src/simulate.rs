//! Seeded simulation of any [`Dynamics`] (a [`LinearSystem`](crate::LinearSystem) or a
//! nonlinear system): independent sequences of inputs, measurements and true states, following
//! the index convention of the crate (the prior is on the first row's state; row k's input
//! drives the transition into row k).

use nalgebra::{DMatrix, DVector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Sequence};
use crate::dynamics::{Dynamics, check_dimensions};
use crate::error::{Result, TruthError};
use crate::limits::{check_memory, simulation_bytes};
use crate::system::symmetric_eigen;

/// The input signal `u_k` fed to every input channel (each channel drawn independently).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum InputSignal {
    /// `u_k = 0`.
    Zero,
    /// White Gaussian noise, `u_k ~ N(0, std²)`.
    White {
        /// Standard deviation.
        std: f64,
    },
    /// Pseudo-random binary sequence: `±amplitude`, a fair coin redrawn every `hold` steps.
    Prbs {
        /// Level of the signal.
        amplitude: f64,
        /// Number of steps each level is held (≥ 1).
        hold: usize,
    },
    /// Sum of sinusoids `amplitude · Σ_j sin(2π k / period_j + φ_j)` with phases `φ_j`
    /// uniform on [0, 2π), drawn per sequence and channel.
    Sines {
        /// Amplitude of each sinusoid.
        amplitude: f64,
        /// Periods in steps (each > 0).
        periods: Vec<f64>,
    },
}

impl Default for InputSignal {
    fn default() -> Self {
        Self::White { std: 1.0 }
    }
}

impl InputSignal {
    fn validate(&self) -> Result<()> {
        let bad = |field, message: &str| {
            Err(TruthError::Parameter {
                field,
                message: message.to_string(),
            })
        };
        match self {
            Self::Zero => Ok(()),
            Self::White { std } if !(std.is_finite() && *std >= 0.0) => {
                bad("std", "must be finite and ≥ 0")
            }
            Self::Prbs { amplitude, .. } if !amplitude.is_finite() => {
                bad("amplitude", "must be finite")
            }
            Self::Prbs { hold: 0, .. } => bad("hold", "must be at least 1"),
            Self::Sines { amplitude, .. } if !amplitude.is_finite() => {
                bad("amplitude", "must be finite")
            }
            Self::Sines { periods, .. } if periods.iter().any(|p| !(p.is_finite() && *p > 0.0)) => {
                bad("periods", "every period must be finite and > 0")
            }
            _ => Ok(()),
        }
    }

    /// `m` channels of `steps` samples (a `[m, steps]` matrix).
    fn generate(&self, m: usize, steps: usize, rng: &mut Xoshiro256PlusPlus) -> DMatrix<f64> {
        let mut u = DMatrix::zeros(m, steps);
        for i in 0..m {
            match self {
                Self::Zero => {}
                Self::White { std } => {
                    for k in 0..steps {
                        u[(i, k)] = std * rng.sample::<f64, _>(StandardNormal);
                    }
                }
                Self::Prbs { amplitude, hold } => {
                    let mut level = 0.0;
                    for k in 0..steps {
                        if k % hold == 0 {
                            level = if rng.random::<bool>() {
                                *amplitude
                            } else {
                                -amplitude
                            };
                        }
                        u[(i, k)] = level;
                    }
                }
                Self::Sines { amplitude, periods } => {
                    let tau = std::f64::consts::TAU;
                    let phases: Vec<f64> =
                        periods.iter().map(|_| tau * rng.random::<f64>()).collect();
                    for k in 0..steps {
                        u[(i, k)] = amplitude
                            * periods
                                .iter()
                                .zip(&phases)
                                .map(|(p, phi)| (tau * k as f64 / p + phi).sin())
                                .sum::<f64>();
                    }
                }
            }
        }
        u
    }
}

/// How to simulate: how many sequences, how long, driven by what, from which seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulationConfig {
    /// Number of independent sequences `K` (default 1).
    pub sequences: usize,
    /// Rows per sequence `T` (default 200).
    pub steps: usize,
    /// Input signal (default white noise, std 1); ignored when the system has no inputs.
    pub input: InputSignal,
    /// Probability that each measurement component is dropped (left missing), default 0.
    pub missing_fraction: f64,
    /// Seed of the random number generator (default 0).
    pub seed: u64,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        Self {
            sequences: 1,
            steps: 200,
            input: InputSignal::default(),
            missing_fraction: 0.0,
            seed: 0,
        }
    }
}

/// Why a simulation stops when its state overflows, and what to change.
const STATE_NOT_FINITE: &str = "the state is no longer finite (reduce the step dt, the noise, \
     the prior or the input amplitude, or check that the system is stable)";

/// A square root `L` of a symmetric positive semi-definite matrix, `L Lᵀ = M`
/// (from the eigendecomposition, so singular covariances are fine); `None` when the
/// eigendecomposition fails (a matrix that is not finite).
pub fn psd_sqrt(m: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    let (eigenvalues, eigenvectors) = symmetric_eigen(m)?;
    let roots = eigenvalues.map(|l| l.max(0.0).sqrt());
    Some(eigenvectors * DMatrix::from_diagonal(&roots))
}

fn gaussian(rng: &mut Xoshiro256PlusPlus, sqrt: &DMatrix<f64>) -> DVector<f64> {
    let e = DVector::from_fn(sqrt.ncols(), |_, _| rng.sample::<f64, _>(StandardNormal));
    sqrt * e
}

/// Simulates `config.sequences` independent sequences of `config.steps` rows:
///
/// ```text
/// x_1 ~ N(x0, P0)
/// x_k = f(x_{k-1}, u_k) + w_k,  w_k ~ N(0, Q)   (k ≥ 2; u_1 is generated but unused)
/// z_k = h(x_k) + v_k,           v_k ~ N(0, R)
/// ```
///
/// (`f(x, u) = A x + B u`, `h(x) = H x` for a linear system.) The same system and config give
/// the same data, bit for bit; for a linear system the numbers are those of the linear-only
/// simulator this generalises (tested). An input, state or measurement that is not finite is
/// an error ([`TruthError::Diverged`]) naming the sequence and the row, so every number of the
/// result is finite (missing measurements aside). A simulation whose data would not fit in the
/// memory the machine has is refused before it starts ([`TruthError::TooLarge`], see
/// [`crate::limits`]).
pub fn simulate<D: Dynamics + ?Sized>(system: &D, config: &SimulationConfig) -> Result<Dataset> {
    simulate_with_progress(system, config, &mut |_, _| {})
}

/// [`simulate`], calling `progress(rows done, rows in all)` after every row (cheap: the
/// caller decides when to show anything).
pub fn simulate_with_progress<D: Dynamics + ?Sized>(
    system: &D,
    config: &SimulationConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Dataset> {
    config.input.validate()?;
    if config.steps == 0 || config.sequences == 0 {
        return Err(TruthError::Parameter {
            field: if config.steps == 0 {
                "steps"
            } else {
                "sequences"
            },
            message: "must be at least 1".into(),
        });
    }
    if !(0.0..1.0).contains(&config.missing_fraction) {
        return Err(TruthError::Parameter {
            field: "missing_fraction",
            message: format!("{} is not in [0, 1)", config.missing_fraction),
        });
    }
    check_dimensions(system)?;
    let (n, m, p) = (system.n_states(), system.n_inputs(), system.n_outputs());
    let (needed, detail) = simulation_bytes(config.sequences, config.steps, n, m, p);
    check_memory(
        || format!("{} sequence(s) of {} steps", config.sequences, config.steps),
        detail,
        needed,
    )?;
    let noise = system.noise();
    let root = |field: &'static str, m: &DMatrix<f64>| {
        psd_sqrt(m).ok_or(TruthError::NotPositiveSemidefinite {
            field,
            min_eigenvalue: f64::NAN,
        })
    };
    let (sqrt_p0, sqrt_q, sqrt_r) = (
        root("P0", noise.p0())?,
        root("Q", noise.q())?,
        root("R", noise.r())?,
    );
    let total = config.sequences as u64 * config.steps as u64;
    let mut done = 0;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let sequences = (0..config.sequences)
        .map(|s| -> Result<Sequence> {
            let steps = config.steps;
            let diverged = |row, quantity| TruthError::Diverged {
                what: "simulation",
                quantity,
                sequence: s as i64,
                row,
            };
            let inputs = config.input.generate(m, steps, &mut rng);
            if let Some(k) = (0..steps).find(|&k| !inputs.column(k).iter().all(|v| v.is_finite())) {
                return Err(diverged(
                    k,
                    "the input is no longer finite (reduce the input amplitude)",
                ));
            }
            let mut states = DMatrix::zeros(n, steps);
            let mut measurements = DMatrix::zeros(p, steps);
            let mut x = noise.x0() + gaussian(&mut rng, &sqrt_p0);
            for k in 0..steps {
                if k > 0 {
                    x = system.transition(&x, &inputs.column(k).into_owned())
                        + gaussian(&mut rng, &sqrt_q);
                }
                if !x.iter().all(|v| v.is_finite()) {
                    return Err(diverged(k, STATE_NOT_FINITE));
                }
                let z = system.measure(&x) + gaussian(&mut rng, &sqrt_r);
                if !z.iter().all(|v| v.is_finite()) {
                    return Err(diverged(
                        k,
                        "the measurement is no longer finite (H, R or the state are too large)",
                    ));
                }
                states.set_column(k, &x);
                measurements.set_column(k, &z);
                if config.missing_fraction > 0.0 {
                    for i in 0..p {
                        if rng.random::<f64>() < config.missing_fraction {
                            measurements[(i, k)] = f64::NAN;
                        }
                    }
                }
                done += 1;
                progress(done, total);
            }
            Ok(Sequence {
                id: s as i64,
                t: (0..steps).map(|k| k as f64).collect(),
                inputs,
                measurements,
                states: Some(states),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Dataset::from_sequences(sequences))
}
