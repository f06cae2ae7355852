//! Burn's Vulkan backend (cargo feature `vulkan`) on the machine's Vulkan device. The README's
//! test command does not build them, and with `--features vulkan` they are ignored: they need a
//! Vulkan driver at run time (building needs none), and the one CI could install, Mesa's
//! software lavapipe of Debian 12 (Mesa 22.3.6), crashes (SIGSEGV inside `libvulkan_lvp.so`, in
//! `vkCreateComputePipelines`) on the SPIR-V of Burn's matrix product, although element-wise
//! kernels run (see docs/scaling.md). On a machine with a GPU:
//!
//! ```sh
//! cargo test --release -p dynrec-model --features vulkan --test vulkan -- --ignored
//! ```
#![cfg(feature = "vulkan")]

mod common;

use approx::assert_relative_eq;
use dynrec_model::{
    Activation, Backend, Compute, ModelError, NetworkConfig, Precision, Silent, TrainingConfig,
    train,
};

use common::{damped_rotation, simulated};

/// The `vulkan` backend, selected at run time, trains the same network as `flex`: same data,
/// configuration and seed give the same losses and weights up to f32 rounding (1e-3, as for
/// `ndarray`), for a linear and a tanh network (both through Burn's step-by-step path: the fused
/// recurrence has CPU kernels only), and its predictions agree with the `f64` reference run of its own exported weights.
#[test]
#[ignore = "needs a Vulkan GPU driver (Debian 12's lavapipe crashes on Burn's matmul)"]
fn vulkan_backend_trains_like_flex() {
    let vulkan = Compute::new(Backend::Vulkan, Precision::F32)
        .device()
        .expect("a Vulkan device");
    let flex = Compute::default().device().expect("flex");
    let data = simulated(&damped_rotation(1e-4, 2.5e-3, 1e-3), 8, 40, 3);
    let config = TrainingConfig {
        seed: 3,
        restarts: 1,
        max_steps: 100,
        batch_size: 8,
        lbfgs_iterations: 0,
        ..TrainingConfig::default()
    };
    for activation in [Activation::Linear, Activation::Tanh] {
        let network = NetworkConfig {
            activation,
            ..NetworkConfig::default()
        };
        let on_vulkan = train(&data, &network, &config, &vulkan, &mut Silent).expect("vulkan");
        let on_flex = train(&data, &network, &config, &flex, &mut Silent).expect("flex");
        assert_relative_eq!(
            on_vulkan.report.train_loss,
            on_flex.report.train_loss,
            max_relative = 1e-3
        );
        for (a, b) in on_vulkan.weights().u.iter().zip(on_flex.weights().u.iter()) {
            assert_relative_eq!(*a, *b, epsilon = 1e-3);
        }
        let predicted = on_vulkan.model.predict(&data).expect("predict");
        let reference = on_vulkan
            .weights()
            .run(&data[0].inputs, &data[0].measurements)
            .expect("run");
        for (a, b) in predicted[0].outputs.iter().zip(reference.outputs.iter()) {
            assert_relative_eq!(*a, *b, max_relative = 1e-4, epsilon = 1e-5);
        }
    }
}

/// The backend's name parses, it is compiled in, and once a process uses it in f32, asking for
/// f64 is refused rather than silently computed in f32.
#[test]
#[ignore = "needs a Vulkan GPU driver (Debian 12's lavapipe crashes on Burn's matmul)"]
fn vulkan_is_named_and_keeps_its_precision() {
    assert_eq!("vulkan".parse::<Backend>().expect("parse"), Backend::Vulkan);
    assert!(Backend::available().contains(&Backend::Vulkan));
    let _ = Compute::new(Backend::Vulkan, Precision::F32)
        .device()
        .expect("f32");
    let err = Compute::new(Backend::Vulkan, Precision::F64).device();
    assert!(
        matches!(err, Err(ModelError::PrecisionConflict { .. })),
        "{err:?}"
    );
}
