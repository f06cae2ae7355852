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

use std::sync::Arc;

use burn::backend::Dispatch;
use burn::tensor::Tensor;

pub(crate) use kernel::MissingFlags;
use op::{ElmanOps, Spec};

use crate::model::{Elman, Feedback};

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
    let device = inputs.device();
    let (n, d, p) = (elman.d_hidden(), elman.d_input(), elman.d_output());
    let missing: Option<Arc<MissingFlags>> = feedback.map(|f| f.flags.clone());
    let spec = Spec {
        activation: elman.activation,
        batch,
        steps,
        n_inputs: feedback.map_or(d, |f| f.n_inputs),
        truncation,
        has_h0: h0.is_some(),
        missing,
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
    let out = <Dispatch as ElmanOps>::elman_hidden(
        elman.u.val().into_dispatch(),
        elman.w.val().into_dispatch(),
        b.into_dispatch(),
        elman.v.val().into_dispatch(),
        c.into_dispatch(),
        inputs.into_dispatch(),
        h0.into_dispatch(),
        spec,
    );
    Tensor::from_dispatch(out)
}
