//! The fused Elman recurrence: the whole sequence's forward pass and its backpropagation
//! through time as one Burn operation, instead of a few tracked tensor operations per time step.
//!
//! ```text
//! h_k = act(U h_{k-1} + W x̃_k + b),   x̃_k = x_k with each missing z_{k-1} replaced by
//!                                            y_{k-1} = V h_{k-1} + c   (predictor mode)
//! ```
//!
//! - [`kernel`]: the host loops (forward and BPTT, their equations, `f32`/`f64`);
//! - [`op`]: the Burn operation (a backend extension with a hand-written `Backward` step).
//!
//! [`hidden`] is what [`crate::model::Elman::hidden_columns`] calls: it returns the hidden states
//! `[d_hidden, steps · batch]` as a tracked tensor, so the readout and the loss after it stay
//! ordinary Burn operations and the parameter gradients from both sides add up in Burn's graph.

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
    let Prepared { tensors, spec } =
        prepare(elman, inputs, batch, steps, h0, feedback, truncation);
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
