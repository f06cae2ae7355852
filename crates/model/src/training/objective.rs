//! The training objective on a flat parameter vector: its value and gradient on a batch
//! ([`Objective`]), the vector's layout ([`ParameterLayout`]), and the public
//! [`loss_gradient`].
//!
//! The objective is the mean squared error over every present measurement of the batch, in
//! standardised units (with one output, the original-unit MSE divided by the output variance);
//! [`Evaluation::original`] gives the same error in the data's original units.

use burn::tensor::{Device, Tensor};

use super::config::TrainingConfig;
use crate::data::{Batch, SequenceData, Standardisation, check_dataset, make_training_batch};
use crate::error::{ModelError, Result};
use crate::model::{Elman, Unroll, read_vec};
use dynrec_core::weights::{Activation, Mode, RnnWeights};

/// Where each weight sits in the flat parameter vector `[vec(U), vec(W), vec(V), b, c]`
/// (row-major; no `b`, `c` without bias).
#[derive(Debug, Clone, Copy)]
pub(super) struct ParameterLayout {
    /// Hidden size.
    pub n: usize,
    /// Network input size.
    pub d: usize,
    /// Output size.
    pub p: usize,
    /// Whether `b` and `c` are in the vector.
    pub bias: bool,
}

impl ParameterLayout {
    /// The layout of `weights`' parameters.
    pub fn of(weights: &RnnWeights) -> Self {
        Self {
            n: weights.d_hidden(),
            d: weights.d_input(),
            p: weights.d_output(),
            bias: weights.bias,
        }
    }

    /// The flat vector of `w`.
    pub fn flatten(&self, w: &RnnWeights) -> Vec<f64> {
        let mut out = Vec::new();
        for m in [&w.u, &w.w, &w.v] {
            for i in 0..m.nrows() {
                out.extend(m.row(i).iter());
            }
        }
        if self.bias {
            out.extend(w.b.iter());
            out.extend(w.c.iter());
        }
        out
    }

    /// The weights whose flat vector is `theta` (biases 0 when the layout has none).
    pub fn unflatten(&self, theta: &[f64], activation: Activation, mode: Mode) -> RnnWeights {
        let (n, d, p) = (self.n, self.d, self.p);
        let mut at = 0;
        let mut take = |len: usize| {
            let slice = &theta[at..at + len];
            at += len;
            slice
        };
        let u = nalgebra::DMatrix::from_row_slice(n, n, take(n * n));
        let w = nalgebra::DMatrix::from_row_slice(n, d, take(n * d));
        let v = nalgebra::DMatrix::from_row_slice(p, n, take(p * n));
        let (b, c) = if self.bias {
            (
                nalgebra::DVector::from_column_slice(take(n)),
                nalgebra::DVector::from_column_slice(take(p)),
            )
        } else {
            (nalgebra::DVector::zeros(n), nalgebra::DVector::zeros(p))
        };
        RnnWeights {
            u,
            w,
            v,
            b,
            c,
            activation,
            mode,
            bias: self.bias,
        }
    }
}

/// Evaluates the objective and its gradient for flat parameters on a batch.
pub(super) struct Objective<'a> {
    /// How the flat parameters map to weights.
    pub layout: ParameterLayout,
    /// The network's nonlinearity.
    pub activation: Activation,
    /// The network's mode.
    pub mode: Mode,
    /// How the recurrence is unrolled.
    pub unroll: Unroll,
    /// Where the network runs (an autodiff device when gradients are wanted).
    pub device: &'a Device,
    /// Variance of each output in original units (`σ_j²`), to report original-unit losses.
    pub output_var: Vec<f64>,
}

/// The sums of squared errors of one evaluation, per output component (standardised units).
pub(super) struct Evaluation {
    /// `SSE_j`, standardised units.
    pub sse: Vec<f64>,
    /// The number of predictions each `SSE_j` sums over.
    pub counts: Vec<f64>,
    /// The gradient of the objective, when asked for.
    pub grad: Option<Vec<f64>>,
}

impl Evaluation {
    /// The objective: MSE in standardised units.
    pub fn objective(&self) -> f64 {
        self.sse.iter().sum::<f64>() / self.counts.iter().sum::<f64>()
    }

    /// MSE in original units, `Σ_j σ_j² SSE_j / N`.
    pub fn original(&self, output_var: &[f64]) -> f64 {
        self.sse
            .iter()
            .zip(output_var)
            .map(|(s, v)| s * v)
            .sum::<f64>()
            / self.counts.iter().sum::<f64>()
    }
}

impl Objective<'_> {
    /// The errors of the network with parameters `theta` on `batch` (of the k-step-ahead loss
    /// when the batch has branches), and with `with_grad` the gradient of the objective.
    pub fn evaluate(&self, theta: &[f64], batch: &Batch, with_grad: bool) -> Result<Evaluation> {
        let weights = self.layout.unflatten(theta, self.activation, self.mode);
        let elman = Elman::from_weights(&weights, self.device)?;
        let sse = elman.squared_errors(batch, self.unroll);
        let counts = batch.counts.clone();
        if !with_grad {
            return Ok(Evaluation {
                sse: read_vec(sse)?,
                counts,
                grad: None,
            });
        }
        let total: f64 = counts.iter().sum();
        let objective: Tensor<1> = sse.clone().sum().mul_scalar(1.0 / total);
        let grads = objective.backward();
        let sse = read_vec(sse.detach())?;
        let mut grad = Vec::with_capacity(theta.len());
        let mut push = |t: Option<Tensor<2>>, len: usize| -> Result<()> {
            match t {
                Some(t) => grad.extend(read_vec(t)?),
                None => grad.extend(std::iter::repeat_n(0.0, len)),
            }
            Ok(())
        };
        let (n, d, p) = (self.layout.n, self.layout.d, self.layout.p);
        push(elman.u.val().grad(&grads), n * n)?;
        push(elman.w.val().grad(&grads), n * d)?;
        push(elman.v.val().grad(&grads), p * n)?;
        if let (Some(b), Some(c)) = (&elman.b, &elman.c) {
            push(b.val().grad(&grads).map(|g| g.unsqueeze::<2>()), n)?;
            push(c.val().grad(&grads).map(|g| g.unsqueeze::<2>()), p)?;
        }
        Ok(Evaluation {
            sse,
            counts,
            grad: Some(grad),
        })
    }
}

/// The training objective at `weights`, without standardisation: the mean squared error over
/// every present measurement of `data` (original units; with `config.horizon = K > 1`, over
/// every prediction of a present measurement 1 to `K` steps ahead), and its gradient with respect to each
/// weight (returned in the shapes of [`RnnWeights`]; the bias entries are 0 when the network
/// has no biases). `config.scan` and `config.truncation` choose how the recurrence is unrolled,
/// as in [`super::train`]; with a truncation the gradient is the truncated one.
///
/// # Errors
/// An invalid `config` ([`TrainingConfig::check`]), or data that do not fit the network.
pub fn loss_gradient(
    weights: &RnnWeights,
    data: &[SequenceData],
    config: &TrainingConfig,
    device: &Device,
) -> Result<(f64, RnnWeights)> {
    let config = config.check()?;
    let (m, p) = check_dataset(data, weights.mode, true)?;
    super::check_horizon(config.horizon, weights.mode)?;
    if weights.d_input() != crate::data::network_input_size(weights.mode, m, p)
        || weights.d_output() != p
    {
        return Err(ModelError::Data {
            sequence: 0,
            message: "the data do not fit the network's input and output sizes".into(),
        });
    }
    let ad_device = device.clone().autodiff();
    let refs: Vec<&SequenceData> = data.iter().collect();
    let batch = make_training_batch(
        &refs,
        weights.mode,
        &Standardisation::identity(m, p),
        config.horizon,
        &ad_device,
    );
    let layout = ParameterLayout::of(weights);
    let objective = Objective {
        layout,
        activation: weights.activation,
        mode: weights.mode,
        unroll: Unroll {
            scan: config.scan,
            truncation: config.truncation,
        },
        device: &ad_device,
        output_var: vec![1.0; p],
    };
    let eval = objective.evaluate(&layout.flatten(weights), &batch, true)?;
    let loss = eval.objective();
    let grad = eval.grad.unwrap_or_default();
    let grad = if layout.bias {
        grad
    } else {
        [grad, vec![0.0; layout.n + p]].concat()
    };
    let full = ParameterLayout {
        bias: true,
        ..layout
    };
    Ok((
        loss,
        full.unflatten(&grad, weights.activation, weights.mode),
    ))
}
