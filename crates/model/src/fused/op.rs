//! The fused recurrence as one Burn operation with a hand-written backward pass.
//!
//! Burn 0.22's user-facing tensors carry no backend type; a custom operation is a *backend
//! extension* (Burn's `extension` feature): a trait extending `burn::backend::Backend`, annotated
//! with `#[backend_extension(..)]`, which generates its `Dispatch` implementation (run-time routing
//! from a `Tensor<D>`'s dispatch primitive to the concrete backend). The trait is implemented
//!
//! - for the concrete CPU backends (`Flex`, and `NdArray` when compiled in) by its default body,
//!   the forward pass on the host ([`forward_host`]);
//! - for `Autodiff<B, C>` by hand: the forward pass again, plus a [`Backward`] step registered
//!   with Burn's autodiff graph (`Backward::prepare` → `OpsKind::Tracked` → `finish(state, out)`),
//!   exactly the mechanism burn-autodiff uses for its own operations. Its state keeps the host
//!   copies of the weights, inputs and hidden states made by the forward pass, so the backward
//!   pass reads only the incoming gradient `∂L/∂H`.
//!
//! Both passes read the small tensors into host vectors, run the allocation-light loops of
//! [`super::kernel`] in the tensors' float type (`f64` stays `f64`; every other type runs in
//! `f32`), and hand the results back as tensors of the original dtype.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::{DType, Element, TensorData};

use super::kernel::{self, Dims, MissingFlags, Real, Run, Weights};
use crate::weights::Activation;

/// The non-tensor description of one fused evaluation (passed through dispatch unchanged).
#[derive(Debug, Clone)]
pub struct Spec {
    /// The nonlinearity.
    pub activation: Activation,
    /// Sequences.
    pub batch: usize,
    /// Time steps.
    pub steps: usize,
    /// Exogenous inputs `m` (the fed-back `z` occupies input rows `m..`).
    pub n_inputs: usize,
    /// Truncation window of the backward pass.
    pub truncation: Option<usize>,
    /// Whether the `h0` tensor is a real initial state (else it is ignored: zero start, no
    /// feedback at the first step).
    pub has_h0: bool,
    /// Missing `z_{k-1}` to feed back (predictor mode), `None` when nothing is missing.
    pub missing: Option<Arc<MissingFlags>>,
}

/// The fused Elman recurrence as a Burn backend operation.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait ElmanOps: Backend {
    /// The hidden states of the whole sequence (module docs of [`super::kernel`]).
    ///
    /// # Shapes
    /// - `u`: `[n, n]`, `w`: `[n, d]`, `b`: `[n]`, `v`: `[p, n]`, `c`: `[p]`
    /// - `x`: `[d, steps · batch]`, time-major columns
    /// - `h0`: `[n, batch]` (read only when `spec.has_h0`)
    /// - returns `[n, steps · batch]`
    fn elman_hidden(
        u: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        v: FloatTensor<Self>,
        c: FloatTensor<Self>,
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        spec: Spec,
    ) -> FloatTensor<Self> {
        forward_host::<Self>([u, w, b, v, c, x, h0], &spec).0
    }
}

#[cfg(feature = "flex")]
impl ElmanOps for burn::backend::Flex {}

#[cfg(feature = "ndarray")]
#[allow(deprecated)]
impl ElmanOps for burn::backend::NdArray {}

/// Reads a tensor to the host (CPU backends: a copy, no device transfer).
fn read<B: Backend>(tensor: FloatTensor<B>) -> TensorData {
    burn::tensor::try_read_sync(B::float_into_data(tensor))
        .expect("a CPU backend reads synchronously")
        .expect("reading a tensor of the fused recurrence")
}

fn host_vec<T: Real + Element>(data: TensorData) -> Vec<T> {
    data.convert::<T>()
        .try_into_vec::<T>()
        .expect("converted to the kernel's float type")
}

/// What the forward pass keeps for the backward pass, in the kernel's float type.
#[derive(Debug)]
struct Saved<T> {
    weights: Weights<T>,
    x: Vec<T>,
    h0: Option<Vec<T>>,
    hidden: Vec<T>,
    dims: Dims,
    spec: Spec,
}

impl<T: Real> Saved<T> {
    fn run(&self) -> Run<'_, T> {
        Run {
            dims: self.dims,
            activation: self.spec.activation,
            x: &self.x,
            h0: self.h0.as_deref(),
            missing: self.spec.missing.as_deref(),
            truncation: self.spec.truncation,
        }
    }
}

/// The saved forward pass, in whichever float type it ran, and the tensors' dtype.
#[derive(Debug, Clone)]
enum State {
    F32(Arc<Saved<f32>>, DType),
    F64(Arc<Saved<f64>>),
}

fn run_forward<T: Real + Element>(data: [TensorData; 7], dims: Dims, spec: &Spec) -> Saved<T> {
    let [u, w, b, v, c, x, h0] = data.map(host_vec::<T>);
    let weights = Weights { u, w, b, v, c };
    let h0 = spec.has_h0.then_some(h0);
    let mut saved = Saved {
        weights,
        x,
        h0,
        hidden: vec![T::ZERO; dims.n * dims.columns()],
        dims,
        spec: spec.clone(),
    };
    let mut hidden = std::mem::take(&mut saved.hidden);
    kernel::forward(
        &saved.run(),
        &saved.weights,
        &mut hidden,
        &mut kernel::ForwardScratch::default(),
    );
    saved.hidden = hidden;
    saved
}

/// The forward pass on the host: `[u, w, b, v, c, x, h0]` → the hidden states, and the state
/// the backward pass needs.
fn forward_host<B: Backend>(tensors: [FloatTensor<B>; 7], spec: &Spec) -> (FloatTensor<B>, State) {
    let device = tensors[0].device();
    let dtype = tensors[0].dtype();
    let (n, d, p) = (
        tensors[0].shape()[0],
        tensors[1].shape()[1],
        tensors[3].shape()[0],
    );
    let dims = Dims {
        n,
        d,
        p,
        m: spec.n_inputs,
        batch: spec.batch,
        steps: spec.steps,
    };
    let data = tensors.map(read::<B>);
    let shape = [n, dims.columns()];
    if dtype == DType::F64 {
        let saved = run_forward::<f64>(data, dims, spec);
        let out = TensorData::new(saved.hidden.clone(), shape);
        (
            B::float_from_data(out, &device),
            State::F64(Arc::new(saved)),
        )
    } else {
        let saved = run_forward::<f32>(data, dims, spec);
        let out = TensorData::new(saved.hidden.clone(), shape).convert_dtype(dtype);
        (
            B::float_from_data(out, &device),
            State::F32(Arc::new(saved), dtype),
        )
    }
}

/// The backward step of [`ElmanOps::elman_hidden`]: BPTT on the host (module docs of
/// [`super::kernel`]), one gradient per tracked input.
#[derive(Debug)]
struct ElmanBackward;

/// Input order of the operation (and of `Ops::parents`).
const U: usize = 0;
const W: usize = 1;
const B_: usize = 2;
const V: usize = 3;
const C: usize = 4;
const X: usize = 5;
const H0: usize = 6;

fn backward_typed<B: Backend, T: Real + Element>(
    saved: &Saved<T>,
    dtype: DType,
    ops: &Ops<State, 7>,
    grads: &mut Gradients,
) {
    let upstream = grads.consume::<B>(&ops.node);
    let device = upstream.device();
    let upstream: Vec<T> = host_vec(read::<B>(upstream));
    let want_x = ops.parents[X].is_some();
    let g = kernel::backward(
        &saved.run(),
        &saved.weights,
        &saved.hidden,
        &upstream,
        want_x,
        &mut kernel::BackwardScratch::default(),
    );
    let Dims { n, d, p, batch, .. } = saved.dims;
    let feedback = saved.spec.missing.is_some();
    let h0 = if saved.spec.has_h0 { g.h0 } else { None };
    let parts: [(usize, Option<Vec<T>>, Vec<usize>); 7] = [
        (U, Some(g.u), vec![n, n]),
        (W, Some(g.w), vec![n, d]),
        (B_, Some(g.b), vec![n]),
        (V, feedback.then_some(g.v), vec![p, n]),
        (C, feedback.then_some(g.c), vec![p]),
        (X, g.x, vec![d, saved.dims.columns()]),
        (H0, h0, vec![n, batch]),
    ];
    for (index, values, shape) in parts {
        if let (Some(node), Some(values)) = (&ops.parents[index], values) {
            let data = TensorData::new(values, shape).convert_dtype(dtype);
            grads.register::<B>(node.id, B::float_from_data(data, &device));
        }
    }
}

impl<B: Backend> Backward<B, 7> for ElmanBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 7>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        match &ops.state {
            State::F32(saved, dtype) => backward_typed::<B, f32>(saved, *dtype, &ops, grads),
            State::F64(saved) => backward_typed::<B, f64>(saved, DType::F64, &ops, grads),
        }
    }
}

impl<B: ElmanOps, C: CheckpointStrategy> ElmanOps for Autodiff<B, C> {
    fn elman_hidden(
        u: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        v: FloatTensor<Self>,
        c: FloatTensor<Self>,
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        spec: Spec,
    ) -> FloatTensor<Self> {
        let parts = [u, w, b, v, c, x, h0].map(|t| t.into_parts());
        let (primitives, guards): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        let guards: [_; 7] = guards
            .try_into()
            .unwrap_or_else(|_| unreachable!("seven inputs"));
        let primitives: [FloatTensor<B>; 7] = primitives
            .try_into()
            .unwrap_or_else(|_| unreachable!("seven inputs"));
        match ElmanBackward
            .prepare::<C>(guards)
            // Keep the state: recomputing the whole recurrence is the expensive part.
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, state) = forward_host::<B>(primitives, &spec);
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => {
                let [u, w, b, v, c, x, h0] = primitives;
                prep.finish(B::elman_hidden(u, w, b, v, c, x, h0, spec))
            }
        }
    }
}
