//! The fused Elman recurrence: the whole sequence's forward pass and its backpropagation
//! through time as one Burn operation, instead of a few tracked tensor operations per time step.
//!
//! ```text
//! h_k = act(U h_{k-1} + W x̃_k + b),   x̃_k = x_k with each missing z_{k-1} replaced by
//!                                            y_{k-1} = V h_{k-1} + c   (predictor mode)
//! ```
//!
//! - [`kernel`]: the host loops (forward, BPTT, readout and loss; their equations; `f32`/`f64`);
//! - [`op`]: the Burn operations (a backend extension with hand-written `Backward` steps).
//!
//! Two entry points:
//!
//! - [`hidden`], what [`crate::model::Elman::hidden_columns`] calls: the hidden states
//!   `[d_hidden, steps · batch]` as a tracked tensor, so whatever follows (readout, any loss)
//!   stays ordinary Burn operations and the gradients from both sides add up in Burn's graph;
//! - [`squared_errors`], what training calls (through [`crate::model::Elman::squared_errors`]):
//!   recurrence, readout and masked squared errors in one operation. Measured against
//!   [`hidden`] followed by Burn's readout and loss, it saves 17% of a training step on 64
//!   sequences of 200 steps and 25–35% on one series of 2,000 steps (`BENCH.md`), the Burn
//!   operations it replaces being mostly fixed per-operation cost.
//!
//! Where the fused path does not run (`TrainingConfig::scan = false`, the generic path kept for
//! cross-checks) the same equations are unrolled as Burn tensor operations; the tests check that
//! both agree, and that the fused gradients equal finite differences.

pub(crate) mod kernel;
pub(crate) mod op;

use burn::backend::{Dispatch, DispatchTensor};
use burn::tensor::Tensor;

pub(crate) use kernel::MissingFlags;
use op::{ElmanOps, Spec};

use crate::model::{Elman, Feedback};

/// The tensors and description of one fused evaluation.
struct Prepared {
    tensors: [DispatchTensor; 7],
    spec: Spec,
}

fn prepare(
    elman: &Elman,
    inputs: Tensor<2>,
    batch: usize,
    steps: usize,
    h0: Option<Tensor<2>>,
    feedback: Option<&Feedback>,
    truncation: Option<usize>,
) -> Prepared {
    let device = inputs.device();
    let (n, d, p) = (elman.d_hidden(), elman.d_input(), elman.d_output());
    let spec = Spec {
        activation: elman.activation,
        batch,
        steps,
        n_inputs: feedback.map_or(d, |f| f.n_inputs),
        truncation,
        has_h0: h0.is_some(),
        missing: feedback.map(|f| f.flags.clone()),
    };
    let b = elman
        .b
        .as_ref()
        .map_or_else(|| Tensor::zeros([n], &device), |b| b.val());
    let c = elman
        .c
        .as_ref()
        .map_or_else(|| Tensor::zeros([p], &device), |c| c.val());
    let h0 = h0.unwrap_or_else(|| Tensor::zeros([n, batch], &device));
    Prepared {
        tensors: [
            elman.u.val().into_dispatch(),
            elman.w.val().into_dispatch(),
            b.into_dispatch(),
            elman.v.val().into_dispatch(),
            c.into_dispatch(),
            inputs.into_dispatch(),
            h0.into_dispatch(),
        ],
        spec,
    }
}

/// Whether the fused operation runs on `device`: it has host kernels for the CPU backends
/// (`flex`, `ndarray`) only. On any other (Vulkan) the network steps through time with Burn's
/// generic operations instead, which every backend runs (Burn's dispatch would otherwise panic
/// with "unsupported dispatch backend").
pub(crate) fn runs_on(device: &burn::tensor::Device) -> bool {
    match device.as_dispatch().clone().inner() {
        #[cfg(feature = "flex")]
        burn::backend::DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        burn::backend::DispatchDevice::NdArray(_) => true,
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// The hidden states of `elman` by the fused operation; same contract as
/// [`Elman::hidden_columns`] (whose `truncation` is the BPTT window).
///
/// # Shapes
/// - `inputs`: `[d_input, steps · batch]`, time-major columns
/// - `h0`: `[d_hidden, batch]`
/// - returns `[d_hidden, steps · batch]`
pub(crate) fn hidden(
    elman: &Elman,
    inputs: Tensor<2>,
    batch: usize,
    steps: usize,
    h0: Option<Tensor<2>>,
    feedback: Option<&Feedback>,
    truncation: Option<usize>,
) -> Tensor<2> {
    let Prepared { tensors, spec } = prepare(elman, inputs, batch, steps, h0, feedback, truncation);
    let [u, w, b, v, c, x, h0] = tensors;
    Tensor::from_dispatch(<Dispatch as ElmanOps>::elman_hidden(
        u, w, b, v, c, x, h0, spec,
    ))
}

/// The training loss's per-component sums of squared errors by one fused operation: the same
/// value as [`crate::model::squared_error_sums`] of [`Elman::readout_columns`] of [`hidden`]
/// (from `h_0 = 0`), with the gradient of all three in one backward step. `targets` and `mask`
/// are constants (no gradient flows to them).
///
/// # Shapes
/// - `inputs`: `[d_input, steps · batch]`, time-major columns
/// - `targets`, `mask`: `[d_output, steps · batch]` (`mask` 1 where the target is present)
/// - returns `[d_output, 1]`
pub(crate) fn squared_errors(
    elman: &Elman,
    inputs: Tensor<2>,
    targets: Tensor<2>,
    mask: Tensor<2>,
    (batch, steps): (usize, usize),
    feedback: Option<&Feedback>,
    truncation: Option<usize>,
) -> Tensor<2> {
    let Prepared { tensors, spec } =
        prepare(elman, inputs, batch, steps, None, feedback, truncation);
    let [u, w, b, v, c, x, h0] = tensors;
    Tensor::from_dispatch(<Dispatch as ElmanOps>::elman_squared_errors(
        u,
        w,
        b,
        v,
        c,
        x,
        h0,
        targets.into_dispatch(),
        mask.into_dispatch(),
        spec,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};
    use nalgebra::{DMatrix, DVector};
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    use crate::data::{SequenceData, Standardisation, make_batch};
    use crate::device::Compute;
    use crate::model::{Elman, ElmanConfig, Unroll, read_vec};
    use dynrec_core::weights::{Activation, Mode};

    /// The fused operation runs on every CPU backend compiled in, plain and autodiff.
    #[test]
    fn runs_on_cpu_backends() {
        for backend in crate::device::Backend::available() {
            if backend == crate::device::Backend::Vulkan {
                continue; // needs a driver to open; refused by the same match
            }
            let device = Compute::new(backend, crate::device::Precision::F32)
                .device()
                .expect("device");
            assert!(super::runs_on(&device), "{backend:?}");
            assert!(
                super::runs_on(&device.clone().autodiff()),
                "{backend:?} autodiff"
            );
        }
    }

    /// `|a − b| ≤ tol · ‖b‖∞` for every component: relative error in the max norm (f32 sums
    /// of many terms leave ~10⁻⁷ of the largest term in a small component, so a per-component
    /// relative bound would measure cancellation, not agreement).
    fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}[{i}]: fused {x:e}, generic {y:e}"
            );
        }
    }

    /// The fused hidden-state operation is differentiated like Burn's own step-by-step graph:
    /// for `L = Σ R ∘ H` with a random `R`, the gradients with respect to `U`, `W`, `b`, `V`, `c`,
    /// the inputs and `h_0` agree with those of the generic path (f32, relative 1e-5 in the max
    /// norm of each gradient; the worst seen is ~4·10⁻⁷), for every
    /// activation, in predictor mode with fed-back predictions, with and without a truncation
    /// window, for a small (scalar loops) and a larger (lane loops) batch.
    #[test]
    fn hidden_op_gradients_match_generic_path() {
        let device = Compute::default().device().expect("device").autodiff();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        for sequences in [3, super::kernel::LANES_FROM + 2] {
            let (m, p, n, steps) = (1, 2, 3, 9);
            let data: Vec<SequenceData> = (0..sequences)
                .map(|_| {
                    let u = DMatrix::from_fn(m, steps, |_, _| rng.random::<f64>() - 0.5);
                    let z = DMatrix::from_fn(p, steps, |_, _| {
                        if rng.random::<f64>() < 0.25 {
                            f64::NAN
                        } else {
                            rng.random::<f64>() - 0.5
                        }
                    });
                    SequenceData::new(u, z).expect("valid")
                })
                .collect();
            let refs: Vec<&SequenceData> = data.iter().collect();
            let batch = make_batch(
                &refs,
                Mode::Predictor,
                &Standardisation::identity(m, p),
                &device,
            );
            assert!(batch.feedback.is_some());
            let columns = batch.batch * batch.steps;
            let upstream =
                Tensor::<2>::random([n, columns], Distribution::Normal(0.0, 1.0), &device);
            for activation in [Activation::Linear, Activation::Tanh, Activation::Relu] {
                let mut weights = ElmanConfig::new(m + p, n, p)
                    .with_activation(activation)
                    .with_seed(2)
                    .init_weights(Mode::Predictor)
                    .expect("init");
                weights.b = DVector::from_vec(vec![0.1, -0.2, 0.15]);
                weights.c = DVector::from_vec(vec![0.05, -0.1]);
                let elman = Elman::from_weights(&weights, &device).expect("module");
                let h0 =
                    Tensor::<2>::random([n, batch.batch], Distribution::Normal(0.0, 1.0), &device);
                for truncation in [None, Some(4)] {
                    let gradients = |scan: bool| -> Vec<Vec<f64>> {
                        let inputs = batch.inputs.clone().require_grad();
                        let h0 = h0.clone().require_grad();
                        let hidden = elman.hidden_columns(
                            inputs.clone(),
                            batch.batch,
                            batch.steps,
                            Some(h0.clone()),
                            batch.feedback.as_ref(),
                            Unroll { scan, truncation },
                        );
                        let grads = (hidden * upstream.clone()).sum().backward();
                        // No gradient at all (h_0 behind a truncation cut, in the generic
                        // path) reads as zeros.
                        let read = |t: Option<Tensor<2>>, len: usize| {
                            t.map_or(vec![0.0; len], |t| read_vec(t).expect("read"))
                        };
                        let read1 =
                            |t: Option<Tensor<1>>| read_vec(t.expect("grad")).expect("read");
                        vec![
                            read(elman.u.val().grad(&grads), n * n),
                            read(elman.w.val().grad(&grads), n * (m + p)),
                            read1(elman.b.as_ref().expect("b").val().grad(&grads)),
                            read(elman.v.val().grad(&grads), p * n),
                            read1(elman.c.as_ref().expect("c").val().grad(&grads)),
                            read(inputs.grad(&grads), (m + p) * columns),
                            read(h0.grad(&grads), n * batch.batch),
                        ]
                    };
                    let (fused, generic) = (gradients(true), gradients(false));
                    for (name, (a, b)) in ["U", "W", "b", "V", "c", "x", "h0"]
                        .iter()
                        .zip(fused.iter().zip(&generic))
                    {
                        assert_close(a, b, 1e-5, &format!("{activation:?} {truncation:?} {name}"));
                    }
                }
            }
        }
    }
}
