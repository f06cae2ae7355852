//! Optimisers over the flat parameter vector, in `f64` on the host.
//!
//! The network has a few dozen parameters, so the optimiser state lives on the host: one read
//! of the gradients and one write of the weights per step, and in exchange `f64` master weights,
//! global-norm gradient clipping, bit-for-bit reproducibility and a divergence check for free.

use std::collections::VecDeque;

use crate::error::Result;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Euclidean norm.
pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Adam (Kingma & Ba) with bias correction:
///
/// ```text
/// m ← β₁ m + (1−β₁) g,   v ← β₂ v + (1−β₂) g²
/// θ ← θ − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
/// ```
pub(crate) struct Adam {
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    pub fn new(len: usize, beta1: f64, beta2: f64, epsilon: f64) -> Self {
        Self {
            beta1,
            beta2,
            epsilon,
            m: vec![0.0; len],
            v: vec![0.0; len],
            t: 0,
        }
    }

    /// One update of `theta` with gradient `grad` and learning rate `lr`.
    pub fn step(&mut self, theta: &mut [f64], grad: &[f64], lr: f64) {
        self.t += 1;
        let c1 = 1.0 - self.beta1.powi(self.t);
        let c2 = 1.0 - self.beta2.powi(self.t);
        for i in 0..theta.len() {
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * grad[i];
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * grad[i] * grad[i];
            theta[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + self.epsilon);
        }
    }
}

/// Scales `grad` so that its Euclidean norm is at most `max_norm`; returns the norm before.
pub(crate) fn clip_norm(grad: &mut [f64], max_norm: f64) -> f64 {
    let n = norm(grad);
    if n > max_norm {
        let s = max_norm / n;
        grad.iter_mut().for_each(|g| *g *= s);
    }
    n
}

/// Why the L-BFGS polish stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LbfgsStop {
    /// The iteration budget is spent.
    Iterations,
    /// The gradient (max norm) fell below the tolerance.
    Gradient,
    /// The loss changed by less than the tolerance.
    Change,
    /// No step along the search direction decreased the loss (the floating-point floor).
    LineSearch,
}

/// Limited-memory BFGS with a backtracking (Armijo) line search.
pub(crate) struct Lbfgs {
    pub iterations: usize,
    pub history: usize,
    pub tolerance_grad: f64,
    pub tolerance_change: f64,
}

/// A function returning its value and gradient at a point.
pub(crate) type ValueAndGradient<'a> = dyn FnMut(&[f64]) -> Result<(f64, Vec<f64>)> + 'a;

/// The result of [`Lbfgs::minimise`].
pub(crate) struct LbfgsResult {
    pub x: Vec<f64>,
    pub iterations: usize,
    pub stop: LbfgsStop,
}

impl Lbfgs {
    /// Minimises `f` (returning value and gradient) from `x`; `observe(iteration, f, step)` is
    /// called after every accepted step. Non-finite trial values are treated as too large.
    pub fn minimise(
        &self,
        mut x: Vec<f64>,
        f: &mut ValueAndGradient<'_>,
        observe: &mut dyn FnMut(usize, f64, f64),
    ) -> Result<LbfgsResult> {
        let (mut fx, mut g) = f(&x)?;
        let mut memory: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
        for it in 0..self.iterations {
            let g_max = g.iter().fold(0.0_f64, |a, b| a.max(b.abs()));
            if g_max <= self.tolerance_grad {
                return Ok(LbfgsResult {
                    x,
                    iterations: it,
                    stop: LbfgsStop::Gradient,
                });
            }
            // Two-loop recursion: d = −H g.
            let mut q = g.clone();
            let mut alphas = Vec::with_capacity(memory.len());
            for (s, y, rho) in memory.iter().rev() {
                let a = rho * dot(s, &q);
                q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
                alphas.push(a);
            }
            let gamma = match memory.back() {
                Some((s, y, _)) => dot(s, y) / dot(y, y),
                None => (1.0 / g.iter().map(|v| v.abs()).sum::<f64>()).min(1.0),
            };
            q.iter_mut().for_each(|qi| *qi *= gamma);
            for ((s, y, rho), a) in memory.iter().zip(alphas.iter().rev()) {
                let b = rho * dot(y, &q);
                q.iter_mut().zip(s).for_each(|(qi, si)| *qi += si * (a - b));
            }
            let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
            let mut gtd = dot(&g, &d);
            // Not a descent direction (or NaN): restart from steepest descent.
            if gtd.is_nan() || gtd >= 0.0 {
                memory.clear();
                let scale = (1.0 / g.iter().map(|v| v.abs()).sum::<f64>()).min(1.0);
                d = g.iter().map(|v| -scale * v).collect();
                gtd = dot(&g, &d);
            }
            let mut t = 1.0;
            let mut accepted = None;
            for _ in 0..40 {
                let trial: Vec<f64> = x.iter().zip(&d).map(|(xi, di)| xi + t * di).collect();
                let (ft, gt) = f(&trial)?;
                if ft.is_finite() && gt.iter().all(|v| v.is_finite()) && ft <= fx + 1e-4 * t * gtd {
                    accepted = Some((trial, ft, gt));
                    break;
                }
                t *= 0.5;
            }
            let Some((x_new, f_new, g_new)) = accepted else {
                return Ok(LbfgsResult {
                    x,
                    iterations: it,
                    stop: LbfgsStop::LineSearch,
                });
            };
            let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
            let sy = dot(&s, &y);
            if sy > 1e-12 * norm(&s) * norm(&y) {
                if memory.len() == self.history {
                    memory.pop_front();
                }
                memory.push_back((s, y, 1.0 / sy));
            }
            let change = (fx - f_new).abs();
            x = x_new;
            g = g_new;
            fx = f_new;
            observe(it + 1, fx, t);
            if change <= self.tolerance_change * fx.abs().max(f64::MIN_POSITIVE) {
                return Ok(LbfgsResult {
                    x,
                    iterations: it + 1,
                    stop: LbfgsStop::Change,
                });
            }
        }
        Ok(LbfgsResult {
            x,
            iterations: self.iterations,
            stop: LbfgsStop::Iterations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L-BFGS reaches the minimiser of the Rosenbrock function, (1, 1), from (−1.2, 1).
    #[test]
    fn lbfgs_minimises_rosenbrock() {
        let lbfgs = Lbfgs {
            iterations: 200,
            history: 10,
            tolerance_grad: 1e-10,
            tolerance_change: 0.0,
        };
        let mut f = |x: &[f64]| -> Result<(f64, Vec<f64>)> {
            let (a, b) = (x[0], x[1]);
            let value = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let grad = vec![
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ];
            Ok((value, grad))
        };
        let result = lbfgs
            .minimise(vec![-1.2, 1.0], &mut f, &mut |_, _, _| {})
            .expect("finite Rosenbrock values");
        approx::assert_abs_diff_eq!(result.x[0], 1.0, epsilon = 1e-6);
        approx::assert_abs_diff_eq!(result.x[1], 1.0, epsilon = 1e-6);
    }

    /// Adam's first step moves every coordinate by `lr` against the sign of its gradient
    /// (bias correction makes `m̂ = g`, `v̂ = g²`), up to the `ε` term.
    #[test]
    fn adam_first_step_is_sign_step() {
        let mut adam = Adam::new(3, 0.9, 0.999, 1e-12);
        let mut theta = vec![1.0, 2.0, 3.0];
        adam.step(&mut theta, &[0.5, -3.0, 1e-3], 0.1);
        approx::assert_relative_eq!(theta[0], 0.9, epsilon = 1e-9);
        approx::assert_relative_eq!(theta[1], 2.1, epsilon = 1e-9);
        approx::assert_relative_eq!(theta[2], 2.9, epsilon = 1e-9);
    }

    /// Norm clipping keeps the direction and caps the Euclidean norm.
    #[test]
    fn clipping_caps_the_norm() {
        let mut g = vec![3.0, 4.0];
        assert_eq!(clip_norm(&mut g, 1.0), 5.0);
        approx::assert_relative_eq!(g[0], 0.6, epsilon = 1e-12);
        approx::assert_relative_eq!(g[1], 0.8, epsilon = 1e-12);
    }
}
