//! Reproducibility, divergence handling, standardisation, checkpoints and backends, on tiny
//! budgets (f32, the default precision).

mod common;

use approx::assert_relative_eq;
use burn::tensor::Device;
use dynrec_model::{
    Activation, Backend, Compute, Fit, Mode, ModelError, NetworkConfig, Observer, Phase, Precision,
    Progress, RnnWeights, SequenceData, Silent, TrainedRnn, TrainingConfig, train,
};
use nalgebra::DMatrix;

use common::{damped_rotation, simulated};

fn device() -> Device {
    Compute::default().device().expect("default device")
}

fn small_data(sequences: usize, steps: usize) -> Vec<SequenceData> {
    simulated(&damped_rotation(1e-4, 2.5e-3, 1e-3), sequences, steps, 3)
}

fn quick(seed: u64) -> TrainingConfig {
    TrainingConfig {
        seed,
        restarts: 2,
        max_steps: 60,
        batch_size: 8,
        lbfgs_iterations: 5,
        ..TrainingConfig::default()
    }
}

/// Same data, configuration, seed, backend and thread count give bit-identical weights and
/// losses (minibatches, restarts and the L-BFGS polish included); another seed gives other
/// weights.
#[test]
fn training_is_deterministic() {
    let data = small_data(20, 50);
    let network = NetworkConfig {
        d_hidden: 3,
        activation: Activation::Tanh,
        ..Default::default()
    };
    let run = |seed| train(&data, &network, &quick(seed), &device(), &mut Silent).expect("fit");
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a.weights(), b.weights());
    assert_eq!(a.report.train_loss, b.report.train_loss);
    assert_eq!(a.report.val_sequences, b.report.val_sequences);
    assert_ne!(a.weights(), c.weights());
}

/// The fit as exact text: every weight and every number of the report (losses, curves, stop
/// reasons, split, standardisation) in round-trip JSON, wall-clock seconds left out.
fn exact(fit: &Fit) -> (String, String) {
    let mut report = fit.report.clone();
    report.seconds = 0.0;
    report.restarts.iter_mut().for_each(|r| r.seconds = 0.0);
    (
        fit.weights().to_json().expect("weights json"),
        serde_json::to_string(&report).expect("report json"),
    )
}

/// Same seed twice on a tiny predictor network with minibatches, early stopping and an L-BFGS
/// polish: the weights and the whole report (every restart's losses and loss curves) are
/// identical to the last bit.
#[test]
fn same_seed_gives_bit_identical_weights_and_report() {
    let config = TrainingConfig {
        batch_size: 3,
        patience: 3,
        eval_every: 4,
        ..quick(8)
    };
    let network = NetworkConfig {
        mode: Mode::Predictor,
        activation: Activation::Tanh,
        ..NetworkConfig::default()
    };
    let data = small_data(10, 30);
    let run = || train(&data, &network, &config, &device(), &mut Silent).expect("fit");
    let (a, b) = (run(), run());
    assert!(
        a.report
            .restarts
            .iter()
            .all(|r| !r.history.adam_loss.is_empty())
    );
    assert_eq!(exact(&a), exact(&b));
}

/// The loss curves of experiments/src/progress.rs's `Recorder`, recorded from the observer
/// calls exactly as it does (without the progress bar).
#[derive(Default)]
struct Recorder {
    eval_every: usize,
    train: Vec<Vec<f64>>,
    validation: Vec<Vec<f64>>,
}

impl Observer for Recorder {
    fn restart_started(&mut self, _restart: usize, _seed: u64) {
        self.train.push(Vec::new());
        self.validation.push(Vec::new());
    }

    fn step(&mut self, p: &Progress) {
        if p.phase == Phase::Adam {
            if p.step.is_multiple_of(self.eval_every) {
                if let Some(t) = self.train.last_mut() {
                    t.push(p.loss);
                }
                if let (Some(v), Some(val)) = (self.validation.last_mut(), p.val_loss) {
                    v.push(val);
                }
            }
        } else if let Some(t) = self.train.last_mut() {
            t.push(p.loss);
        }
    }
}

/// Each restart's `LossHistory` holds bit for bit the curves that the experiments' progress
/// `Recorder` records from the observer (training loss every `eval_every` Adam steps, the
/// validation loss at the same steps, then one point per L-BFGS iteration), here with an
/// `eval_every` that does not divide `max_steps`, minibatches and the polish; one Adam point
/// per `eval_every` steps taken and one L-BFGS point per iteration.
#[test]
fn loss_history_is_what_the_progress_recorder_records() {
    let data = small_data(12, 30);
    let config = TrainingConfig {
        max_steps: 50,
        eval_every: 7,
        ..quick(3)
    };
    let mut recorder = Recorder {
        eval_every: config.eval_every,
        ..Recorder::default()
    };
    let fit = train(
        &data,
        &NetworkConfig::default(),
        &config,
        &device(),
        &mut recorder,
    )
    .expect("fit");
    assert_eq!(recorder.train.len(), fit.report.restarts.len());
    let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for (r, report) in fit.report.restarts.iter().enumerate() {
        let history = &report.history;
        assert_eq!(bits(&history.training_curve()), bits(&recorder.train[r]));
        assert_eq!(
            bits(&history.validation_loss),
            bits(&recorder.validation[r])
        );
        assert_eq!(
            history.adam_loss.len(),
            report.adam_steps / config.eval_every
        );
        assert_eq!(history.validation_loss.len(), history.adam_loss.len());
        assert_eq!(history.lbfgs_loss.len(), report.lbfgs_iterations);
        assert!(report.lbfgs_iterations > 0);
    }
}

/// An absurd learning rate makes every restart diverge: training returns
/// `ModelError::Diverged`, whose kept weights (the last with a finite loss) are finite, rather
/// than NaN weights.
#[test]
fn divergence_is_reported_with_last_good_weights() {
    let data = small_data(8, 40);
    let network = NetworkConfig::default();
    let config = TrainingConfig {
        learning_rate: 1e6,
        final_learning_rate: 1e6,
        grad_clip_norm: None,
        max_steps: 200,
        restarts: 2,
        ..TrainingConfig::default()
    };
    match train(&data, &network, &config, &device(), &mut Silent) {
        Err(ModelError::Diverged {
            last_good,
            last_good_loss,
            step,
            ..
        }) => {
            assert!(last_good.is_finite(), "kept weights must be finite");
            assert!(last_good_loss.is_finite());
            assert!(step >= 1);
        }
        other => panic!("expected divergence, got {other:?}"),
    }
}

/// Standardised training exports weights in original units: on data whose inputs and outputs
/// carry large offsets and scales, the exported weights run through the independent `f64`
/// reference give the same predictions as the trained Burn model, and those predictions fit the
/// data (the loss is recomputed from them and equals the reported training loss).
#[test]
fn standardisation_round_trip() {
    let data: Vec<SequenceData> = small_data(12, 60)
        .into_iter()
        .map(|s| {
            SequenceData::new(
                s.inputs.map(|u| 40.0 + 25.0 * u),
                s.measurements.map(|z| -7.0 + 300.0 * z),
            )
            .expect("valid")
        })
        .collect();
    for mode in [Mode::Simulation, Mode::Predictor] {
        let network = NetworkConfig {
            mode,
            ..NetworkConfig::default()
        };
        let config = TrainingConfig {
            validation_fraction: 0.0,
            restarts: 1,
            ..quick(1)
        };
        let fit = train(&data, &network, &config, &device(), &mut Silent).expect("fit");
        let predicted = fit.model.predict(&data).expect("predict");
        let (mut sse, mut count) = (0.0, 0.0);
        for (seq, traj) in data.iter().zip(&predicted) {
            let reference = fit
                .weights()
                .run(&seq.inputs, &seq.measurements)
                .expect("run");
            for (a, b) in traj.outputs.iter().zip(reference.outputs.iter()) {
                assert_relative_eq!(*a, *b, max_relative = 1e-4, epsilon = 1e-3);
            }
            for (y, z) in reference.outputs.iter().zip(seq.measurements.iter()) {
                sse += (y - z).powi(2);
                count += 1.0;
            }
        }
        assert_relative_eq!(sse / count, fit.report.train_loss, max_relative = 1e-4);
    }
}

/// A checkpoint saved with Burn's recorder and loaded back gives bit-identical weights and
/// predictions (predicted measurements and hidden trajectory), with and without biases.
#[test]
fn checkpoint_round_trip() {
    let data = small_data(4, 30);
    let dir = tempfile::tempdir().expect("temp dir");
    for (bias, activation) in [(true, Activation::Tanh), (false, Activation::Linear)] {
        let network = NetworkConfig {
            bias,
            activation,
            mode: Mode::Predictor,
            ..Default::default()
        };
        let config = TrainingConfig {
            restarts: 1,
            max_steps: 20,
            ..quick(2)
        };
        let fit = train(&data, &network, &config, &device(), &mut Silent).expect("fit");
        let path = dir.path().join(format!("ckpt-{bias}"));
        fit.model.save(&path).expect("save");
        let loaded = TrainedRnn::load(&path, &device()).expect("load");
        assert_eq!(loaded.weights(), fit.weights());
        assert_eq!(
            loaded.predict(&data).expect("p"),
            fit.model.predict(&data).expect("p")
        );
    }
}

/// Exported weights survive a JSON round trip exactly.
#[test]
fn weights_json_round_trip() {
    let fit = train(
        &small_data(4, 20),
        &NetworkConfig::default(),
        &quick(4),
        &device(),
        &mut Silent,
    )
    .expect("fit");
    let json = fit.weights().to_json().expect("json");
    assert_eq!(&RnnWeights::from_json(&json).expect("parse"), fit.weights());
}

/// Burn fixes a device's float type once per process: asking for f64 on a backend already
/// used in f32 is an error, not a silent f32 computation.
#[test]
fn second_precision_is_refused() {
    let _ = device();
    let err = Compute::new(Backend::Flex, Precision::F64)
        .device()
        .expect_err("f64 after f32 must be refused");
    assert!(matches!(err, ModelError::PrecisionConflict { .. }), "{err}");
}

/// The `ndarray` backend, selected at run time, trains the same network as `flex`: same data,
/// configuration and seed give the same losses and weights up to f32 rounding (1e-3), and its
/// predictions agree with the `f64` reference run of its own exported weights.
#[cfg(feature = "ndarray")]
#[test]
fn ndarray_backend_trains_like_flex() {
    let ndarray = Compute::new(Backend::Ndarray, Precision::F32)
        .device()
        .expect("ndarray");
    let data = small_data(8, 40);
    let config = TrainingConfig {
        restarts: 1,
        max_steps: 100,
        lbfgs_iterations: 0,
        ..quick(3)
    };
    let network = NetworkConfig::default();
    let fit = train(&data, &network, &config, &ndarray, &mut Silent).expect("fit");
    let flex = train(&data, &network, &config, &device(), &mut Silent).expect("fit");
    assert_relative_eq!(
        fit.report.train_loss,
        flex.report.train_loss,
        max_relative = 1e-3
    );
    for (a, b) in fit.weights().u.iter().zip(flex.weights().u.iter()) {
        assert_relative_eq!(*a, *b, epsilon = 1e-3);
    }
    let predicted = fit.model.predict(&data).expect("predict");
    let reference = fit
        .weights()
        .run(&data[0].inputs, &data[0].measurements)
        .expect("run");
    for (a, b) in predicted[0].outputs.iter().zip(reference.outputs.iter()) {
        assert_relative_eq!(*a, *b, max_relative = 1e-4, epsilon = 1e-5);
    }
}

/// Without the `ndarray` feature, asking for that backend is a clear error.
#[cfg(not(feature = "ndarray"))]
#[test]
fn ndarray_backend_unavailable_is_an_error() {
    let err = Compute::new(Backend::Ndarray, Precision::F32)
        .device()
        .expect_err("ndarray is not compiled in");
    assert!(
        matches!(err, ModelError::BackendUnavailable("ndarray")),
        "{err}"
    );
}

/// Without the `vulkan` feature, asking for that backend is a clear error (with it, the
/// backend is tested on a Vulkan device by `tests/vulkan.rs`).
#[cfg(not(feature = "vulkan"))]
#[test]
fn vulkan_backend_unavailable_is_an_error() {
    let err = Compute::new(Backend::Vulkan, Precision::F32)
        .device()
        .expect_err("vulkan is not compiled in");
    assert!(
        matches!(err, ModelError::BackendUnavailable("vulkan")),
        "{err}"
    );
}

/// Predicting on inputs alone (every measurement missing) works in simulation mode.
#[test]
fn simulation_predicts_without_measurements() {
    let data = small_data(4, 30);
    let fit = train(
        &data,
        &NetworkConfig::default(),
        &quick(9),
        &device(),
        &mut Silent,
    )
    .expect("fit");
    let blind = SequenceData::new(
        data[0].inputs.clone(),
        DMatrix::from_element(1, 30, f64::NAN),
    )
    .expect("valid");
    let with = fit.model.predict(&data[..1]).expect("predict");
    let without = fit.model.predict(&[blind]).expect("predict");
    assert_eq!(with, without);
}
