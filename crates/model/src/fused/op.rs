//! The fused recurrence as Burn operations with hand-written backward passes.
//!
//! Burn 0.22's user-facing tensors carry no backend type; a custom operation is a *backend
//! extension* (Burn's `extension` feature): a trait extending `burn::backend::Backend`, annotated
//! with `#[backend_extension(..)]`, which generates its `Dispatch` implementation (run-time routing
//! from a `Tensor<D>`'s dispatch primitive to the concrete backend, or to `Autodiff<B, C>` when the
//! inputs live on an autodiff device). The trait is implemented
//!
//! - for the concrete CPU backends (`Flex`, and `NdArray` when compiled in) by its default
//!   bodies: the forward pass on the host;
//! - for `Autodiff<B, C>` by hand: the forward pass again, plus a [`Backward`] step registered
//!   with Burn's autodiff graph (`Backward::prepare` → `OpsKind::Tracked` → `finish(state, out)`),
//!   the mechanism burn-autodiff uses for its own operations. Its state keeps the host copies of
//!   the weights, inputs and hidden states made by the forward pass, so the backward pass reads
//!   only the incoming gradient.
//!
//! Two operations share the loops of [`crate::fused::kernel`]:
//!
//! - [`ElmanOps::elman_hidden`]: the hidden states `[n, steps · batch]`, for a graph that goes on
//!   with ordinary Burn operations (readout, any loss);
//! - [`ElmanOps::elman_squared_errors`]: the training loss's per-component sums of squared errors
//!   `[p, 1]` (recurrence, readout and masked errors in one operation; the targets and mask are
//!   constants).
//!
//! Both read the small tensors into host vectors, run in the tensors' float type (`f64` stays
//! `f64`; every other type runs in `f32`), and hand the results back in the original dtype.

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::{DType, Element, TensorData};

use super::kernel::{self, Dims, MissingFlags, Real, Run, Weights};
use dynrec_core::weights::Activation;

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

pub use extension::ElmanOps;

// The `NdArray` selector names Burn's deprecated ndarray backend (kept selectable at run time,
// see `crate::device::Backend`); the generated dispatch code lives in this module. Burn's
// `backend_extension` dispatch routes each tensor argument to its backend, so the tensors are
// separate parameters (a struct of them would not be dispatched): hence the many arguments.
#[allow(deprecated, clippy::too_many_arguments)]
mod extension {
    use super::{Backend, FloatTensor, Spec, backend_extension, forward_host};

    /// The fused Elman recurrence as Burn backend operations.
    ///
    /// # Shapes (both operations)
    /// - `u`: `[n, n]`, `w`: `[n, d]`, `b`: `[n]`, `v`: `[p, n]`, `c`: `[p]`
    /// - `x`: `[d, steps · batch]`, time-major columns
    /// - `h0`: `[n, batch]` (read only when `spec.has_h0`)
    /// - `targets`, `mask`: `[p, steps · batch]`
    #[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
    pub trait ElmanOps: Backend {
        /// The hidden states of the whole sequence (module docs of [`crate::fused::kernel`]),
        /// `[n, steps · batch]`.
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
            forward_host::<Self>([u, w, b, v, c, x, h0], None, &spec).0
        }

        /// Per output component, the sum over every column of `(mask ∘ (V h_k + c − z_k))²`, `[p, 1]`
        /// ([`crate::fused::kernel::squared_errors`]).
        fn elman_squared_errors(
            u: FloatTensor<Self>,
            w: FloatTensor<Self>,
            b: FloatTensor<Self>,
            v: FloatTensor<Self>,
            c: FloatTensor<Self>,
            x: FloatTensor<Self>,
            h0: FloatTensor<Self>,
            targets: FloatTensor<Self>,
            mask: FloatTensor<Self>,
            spec: Spec,
        ) -> FloatTensor<Self> {
            forward_host::<Self>([u, w, b, v, c, x, h0], Some([targets, mask]), &spec).0
        }
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
    /// The masked errors `e` (`[p, N]`) when the operation ends in the loss.
    errors: Option<Vec<T>>,
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

/// Runs the forward pass in `T`; returns what to keep and the output values with their shape.
fn run_forward<T: Real + Element>(
    data: [TensorData; 7],
    loss: Option<[TensorData; 2]>,
    dims: Dims,
    spec: &Spec,
) -> (Saved<T>, Vec<T>, [usize; 2]) {
    let [u, w, b, v, c, x, h0] = data.map(host_vec::<T>);
    let mut saved = Saved {
        weights: Weights { u, w, b, v, c },
        x,
        h0: spec.has_h0.then_some(h0),
        hidden: vec![T::ZERO; dims.n * dims.columns()],
        errors: None,
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
    match loss {
        None => {
            let out = saved.hidden.clone();
            (saved, out, [dims.n, dims.columns()])
        }
        Some(loss) => {
            let [targets, mask] = loss.map(host_vec::<T>);
            let mut errors = vec![T::ZERO; dims.p * dims.columns()];
            let sums = kernel::squared_errors(
                dims,
                &saved.weights,
                &saved.hidden,
                &targets,
                &mask,
                &mut errors,
            );
            saved.errors = Some(errors);
            (saved, sums, [dims.p, 1])
        }
    }
}

/// The forward pass on the host: `[u, w, b, v, c, x, h0]` (and `[targets, mask]` for the loss) →
/// the output, and the state the backward pass needs.
fn forward_host<B: Backend>(
    tensors: [FloatTensor<B>; 7],
    loss: Option<[FloatTensor<B>; 2]>,
    spec: &Spec,
) -> (FloatTensor<B>, State) {
    let device = tensors[0].device();
    let dtype = tensors[0].dtype();
    let dims = Dims {
        n: tensors[0].shape()[0],
        d: tensors[1].shape()[1],
        p: tensors[3].shape()[0],
        m: spec.n_inputs,
        batch: spec.batch,
        steps: spec.steps,
    };
    let data = tensors.map(read::<B>);
    let loss = loss.map(|l| l.map(read::<B>));
    if dtype == DType::F64 {
        let (saved, out, shape) = run_forward::<f64>(data, loss, dims, spec);
        let out = B::float_from_data(TensorData::new(out, shape), &device);
        (out, State::F64(Arc::new(saved)))
    } else {
        let (saved, out, shape) = run_forward::<f32>(data, loss, dims, spec);
        let out = TensorData::new(out, shape).convert_dtype(dtype);
        let out = B::float_from_data(out, &device);
        (out, State::F32(Arc::new(saved), dtype))
    }
}

/// `[(primitive, guard); N]` → `([primitive; N], [guard; N])`.
fn unzip<P, G, const N: usize>(parts: [(P, G); N]) -> ([P; N], [G; N]) {
    let (primitives, guards): (Vec<P>, Vec<G>) = parts.into_iter().unzip();
    match (primitives.try_into(), guards.try_into()) {
        (Ok(primitives), Ok(guards)) => (primitives, guards),
        _ => unreachable!("N parts give N primitives and N guards"),
    }
}

/// Input order of the operations (and of `Ops::parents`).
const U: usize = 0;
const W: usize = 1;
const B_: usize = 2;
const V: usize = 3;
const C: usize = 4;
const X: usize = 5;
const H0: usize = 6;

/// The backward pass in `T`: from the gradient of the operation's output to one gradient per
/// tracked input (`parents`, in input order; the loss's targets and mask get none).
fn backward_typed<B: Backend, T: Real + Element>(
    saved: &Saved<T>,
    dtype: DType,
    parents: &[Option<NodeId>],
    output_grad: FloatTensor<B>,
    grads: &mut Gradients,
) {
    let device = output_grad.device();
    let output_grad: Vec<T> = host_vec(read::<B>(output_grad));
    let dims = saved.dims;
    let Dims { n, d, p, batch, .. } = dims;
    // ∂L/∂h from outside the recurrence, and (for the loss) the readout's ∂V, ∂c.
    let (upstream, readout) = match &saved.errors {
        None => (output_grad, None),
        Some(errors) => {
            let mut upstream = vec![T::ZERO; n * dims.columns()];
            let readout = kernel::squared_errors_backward(
                dims,
                &saved.weights,
                &saved.hidden,
                errors,
                &output_grad,
                &mut upstream,
            );
            (upstream, Some(readout))
        }
    };
    let mut g = kernel::backward(
        &saved.run(),
        &saved.weights,
        &saved.hidden,
        &upstream,
        parents[X].is_some(),
        &mut kernel::BackwardScratch::default(),
    );
    let through_v = saved.spec.missing.is_some() || readout.is_some();
    if let Some((grad_v, grad_c)) = readout {
        g.v.iter_mut().zip(grad_v).for_each(|(a, b)| *a += b);
        g.c.iter_mut().zip(grad_c).for_each(|(a, b)| *a += b);
    }
    let h0 = if saved.spec.has_h0 { g.h0 } else { None };
    let parts: [(usize, Option<Vec<T>>, Vec<usize>); 7] = [
        (U, Some(g.u), vec![n, n]),
        (W, Some(g.w), vec![n, d]),
        (B_, Some(g.b), vec![n]),
        (V, through_v.then_some(g.v), vec![p, n]),
        (C, through_v.then_some(g.c), vec![p]),
        (X, g.x, vec![d, dims.columns()]),
        (H0, h0, vec![n, batch]),
    ];
    for (index, values, shape) in parts {
        if let (Some(id), Some(values)) = (parents[index], values) {
            let data = TensorData::new(values, shape).convert_dtype(dtype);
            grads.register::<B>(id, B::float_from_data(data, &device));
        }
    }
}

fn backward_state<B: Backend, const N: usize>(ops: Ops<State, N>, grads: &mut Gradients) {
    let parents = ops
        .parents
        .each_ref()
        .map(|p| p.as_ref().map(|node| node.id));
    let output_grad = grads.consume::<B>(&ops.node);
    match &ops.state {
        State::F32(saved, dtype) => {
            backward_typed::<B, f32>(saved, *dtype, &parents, output_grad, grads);
        }
        State::F64(saved) => {
            backward_typed::<B, f64>(saved, DType::F64, &parents, output_grad, grads);
        }
    }
}

/// The backward step of [`ElmanOps::elman_hidden`].
#[derive(Debug)]
struct HiddenBackward;

impl<B: Backend> Backward<B, 7> for HiddenBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 7>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        backward_state::<B, 7>(ops, grads);
    }
}

/// The backward step of [`ElmanOps::elman_squared_errors`].
#[derive(Debug)]
struct SquaredErrorsBackward;

impl<B: Backend> Backward<B, 9> for SquaredErrorsBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 9>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        backward_state::<B, 9>(ops, grads);
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
        let ([u, w, b, v, c, x, h0], guards) =
            unzip([u, w, b, v, c, x, h0].map(|t| t.into_parts()));
        match HiddenBackward
            .prepare::<C>(guards)
            // Keep the state: recomputing the whole recurrence is the expensive part.
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, state) = forward_host::<B>([u, w, b, v, c, x, h0], None, &spec);
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::elman_hidden(u, w, b, v, c, x, h0, spec)),
        }
    }

    fn elman_squared_errors(
        u: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        v: FloatTensor<Self>,
        c: FloatTensor<Self>,
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        targets: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        spec: Spec,
    ) -> FloatTensor<Self> {
        let ([u, w, b, v, c, x, h0, targets, mask], guards) =
            unzip([u, w, b, v, c, x, h0, targets, mask].map(|t| t.into_parts()));
        match SquaredErrorsBackward
            .prepare::<C>(guards)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, state) =
                    forward_host::<B>([u, w, b, v, c, x, h0], Some([targets, mask]), &spec);
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::elman_squared_errors(
                u, w, b, v, c, x, h0, targets, mask, spec,
            )),
        }
    }
}
