//! Maximum likelihood by expectation–maximisation (Shumway & Stoffer 1982; Ghahramani &
//! Hinton 1996) for dynrec's model, on the Kalman filter and RTS smoother of `dynrec-truth`.
//!
//! # Free parameters
//!
//! `A`, `B` (when the data has inputs), `H`, `Q`, `R` always; the prior `x0`, `P0` when
//! [`EmConfig::learn_prior`] is set (shared by every sequence: each starts again from it).
//!
//! # E-step (per sequence, smoothed moments given all its data)
//!
//! ```text
//! x̂_k = E[x_k | z],  P_k = Cov(x_k | z)                       (RTS smoother)
//! C_{k-1} = P_{k-1|k-1} Aᵀ P_{k|k-1}⁻¹                          (RTS gain)
//! P_{k,k-1} = Cov(x_k, x_{k-1} | z) = P_k C_{k-1}ᵀ               (lag-one covariance)
//! ```
//!
//! # M-step (sums over all sequences; transitions k ≥ 2, observed rows for H and R)
//!
//! ```text
//! φ_k = [x_{k-1}; u_k]
//! S11 = Σ E[x_k x_kᵀ],  S10 = Σ E[x_k φ_kᵀ],  S00 = Σ E[φ_k φ_kᵀ]
//! [A B] = S10 S00⁻¹,   Q = (S11 − [A B] S10ᵀ) / N_trans
//! H = Σ E[z_k x_kᵀ] (Σ E[x_k x_kᵀ])⁻¹,   R = (Σ E[z_k z_kᵀ] − H Σ E[z_k x_kᵀ]ᵀ) / N_obs
//! x0 = mean_s x̂_1,   P0 = mean_s (P_1 + x̂_1 x̂_1ᵀ) − x0 x0ᵀ
//! ```
//!
//! Each update is the exact maximiser of the expected complete-data log-likelihood, so the
//! log-likelihood never decreases.
//!
//! # Missing measurements (Shumway & Stoffer 2000)
//!
//! A row with every measurement missing drops out of the `H`, `R` sums (its state still enters
//! the transition sums). In a row with only some components missing, the missing ones `z_M`
//! are part of the complete data and enter the sums through their conditional moments given
//! the observed ones `z_O` (a full `R` couples them, so dropping them would leave the M-step
//! without a closed form). With `G = R_MO R_OO⁻¹` and `F = H_M − G H_O`,
//!
//! ```text
//! z_M = F x_k + G z_O + ε,   ε ~ N(0, R_MM − G R_OM), independent of x_k given the data
//! ẑ_M = F x̂_k + G z_O
//! E[z_M x_kᵀ] = ẑ_M x̂_kᵀ + F P_k
//! E[z_M z_Mᵀ] = ẑ_M ẑ_Mᵀ + F P_k Fᵀ + R_MM − G R_OM,   E[z_M z_Oᵀ] = ẑ_M z_Oᵀ
//! ```
//!
//! with the current `H`, `R`; the row then counts in `N_obs` like a complete one.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use dynrec_truth::{LinearSystem, Sequence, filter, smooth};

use crate::error::{Result, SysidError};
use crate::n4sid::{dimensions, symmetrise};

/// Settings of [`em`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmConfig {
    /// Maximum number of M-steps (default 200).
    pub max_iterations: usize,
    /// Stop when `|L_t − L_{t-1}| ≤ tolerance · |L_{t-1}|` (default 1e-8).
    pub tolerance: f64,
    /// Learn the prior `x0`, `P0` (default true); otherwise they stay as in the initial system.
    pub learn_prior: bool,
}

impl Default for EmConfig {
    fn default() -> Self {
        Self {
            max_iterations: 200,
            tolerance: 1e-8,
            learn_prior: true,
        }
    }
}

/// What [`em`] found.
#[derive(Debug, Clone)]
pub struct EmResult {
    /// The final parameters.
    pub system: LinearSystem,
    /// `log p(z | θ_t)` summed over sequences, for the initial parameters (`t = 0`) and after
    /// every M-step; the last entry belongs to `system`.
    pub log_likelihoods: Vec<f64>,
    /// M-steps taken.
    pub iterations: usize,
    /// Whether the relative tolerance was reached (rather than `max_iterations`).
    pub converged: bool,
}

/// Runs EM from `init` until the relative change of the log-likelihood falls below
/// `config.tolerance` or `config.max_iterations` M-steps have been taken.
pub fn em(sequences: &[Sequence], init: &LinearSystem, config: &EmConfig) -> Result<EmResult> {
    let (m, p) = dimensions(sequences)?;
    if m != init.n_inputs() || p != init.n_outputs() {
        return Err(SysidError::Data(format!(
            "data has {m} inputs and {p} outputs, the initial system {} and {}",
            init.n_inputs(),
            init.n_outputs()
        )));
    }
    if !(config.tolerance.is_finite() && config.tolerance >= 0.0) {
        return Err(SysidError::Config {
            field: "tolerance",
            message: format!("must be finite and ≥ 0, got {}", config.tolerance),
        });
    }
    let mut system = init.clone();
    let mut log_likelihoods = Vec::with_capacity(config.max_iterations + 1);
    let mut converged = false;
    let mut iterations = 0;
    loop {
        let stats = e_step(&system, sequences)?;
        let ll = stats.log_likelihood;
        if let Some(&prev) = log_likelihoods.last() {
            let prev: f64 = prev;
            if (ll - prev).abs() <= config.tolerance * prev.abs() {
                converged = true;
            }
        }
        log_likelihoods.push(ll);
        if converged || iterations == config.max_iterations {
            break;
        }
        system = stats.m_step(&system, config.learn_prior)?;
        iterations += 1;
    }
    Ok(EmResult {
        system,
        log_likelihoods,
        iterations,
        converged,
    })
}

/// Sufficient statistics of one E-step, summed over sequences.
struct Stats {
    log_likelihood: f64,
    s11: DMatrix<f64>,
    s10: DMatrix<f64>,
    s00: DMatrix<f64>,
    n_trans: usize,
    szx: DMatrix<f64>,
    sxx: DMatrix<f64>,
    szz: DMatrix<f64>,
    n_obs: usize,
    x1: DVector<f64>,
    xx1: DMatrix<f64>,
    n_seq: usize,
}

fn e_step(system: &LinearSystem, sequences: &[Sequence]) -> Result<Stats> {
    let (n, m, p) = (system.n_states(), system.n_inputs(), system.n_outputs());
    let mut st = Stats {
        log_likelihood: 0.0,
        s11: DMatrix::zeros(n, n),
        s10: DMatrix::zeros(n, n + m),
        s00: DMatrix::zeros(n + m, n + m),
        n_trans: 0,
        szx: DMatrix::zeros(p, n),
        sxx: DMatrix::zeros(n, n),
        szz: DMatrix::zeros(p, p),
        n_obs: 0,
        x1: DVector::zeros(n),
        xx1: DMatrix::zeros(n, n),
        n_seq: 0,
    };
    let mut phi = DVector::zeros(n + m);
    for seq in sequences {
        if seq.is_empty() {
            continue;
        }
        let f = filter(system, seq)?;
        let s = smooth(system, &f)?;
        st.log_likelihood += f.log_likelihood;
        st.n_seq += 1;
        let x0 = s.means.column(0);
        st.x1 += x0;
        st.xx1 += s.covariance(0) + x0 * x0.transpose();
        for k in 0..seq.len() {
            let x = s.means.column(k);
            // E[x_k x_kᵀ] = P_k + x̂_k x̂_kᵀ
            let exx = s.covariance(k) + x * x.transpose();
            if f.observed[k] == p {
                let z = seq.measurements.column(k);
                st.szx += z * x.transpose();
                st.sxx += &exx;
                st.szz += z * z.transpose();
                st.n_obs += 1;
            } else if f.observed[k] > 0 {
                let (ezx, ezz) =
                    partial_moments(system, seq.measurements.column(k), x, s.covariance(k))?;
                st.szx += ezx;
                st.sxx += &exx;
                st.szz += ezz;
                st.n_obs += 1;
            }
            if k == 0 {
                continue;
            }
            let xp = s.means.column(k - 1);
            phi.rows_mut(0, n).copy_from(&xp);
            phi.rows_mut(n, m).copy_from(&seq.inputs.column(k));
            // C_{k-1}ᵀ = P_{k|k-1}⁻¹ A P_{k-1|k-1};  P_{k,k-1} = P_k C_{k-1}ᵀ
            let chol = f
                .predicted_covariance(k)
                .into_owned()
                .cholesky()
                .ok_or(SysidError::Singular("predicted covariance P_{k|k-1}"))?;
            let gain_t = chol.solve(&(system.a() * f.covariance(k - 1)));
            let lag = s.covariance(k) * gain_t;
            st.s11 += &exx;
            // E[x_k φ_kᵀ] = [P_{k,k-1} + x̂_k x̂_{k-1}ᵀ, x̂_k u_kᵀ]
            let mut e10 = x * phi.transpose();
            let mut lag_block = e10.columns_mut(0, n);
            lag_block += &lag;
            st.s10 += e10;
            // E[φ_k φ_kᵀ] = φ φᵀ + diag(P_{k-1}, 0)
            let mut e00 = &phi * phi.transpose();
            let mut block = e00.view_mut((0, 0), (n, n));
            block += s.covariance(k - 1);
            st.s00 += e00;
            st.n_trans += 1;
        }
    }
    if st.n_trans == 0 || st.n_obs == 0 {
        return Err(SysidError::NotEnoughData {
            found: st.n_trans.min(st.n_obs),
            needed: 1,
        });
    }
    Ok(st)
}

/// `(E[z_k x_kᵀ], E[z_k z_kᵀ])` of a row whose measurement `z` has some components missing
/// (`NaN`), given the data: the missing ones filled by their conditional moments (see the
/// module documentation).
///
/// # Shapes
/// `z`: `[p]`, `x`: `[n]` (smoothed mean), `p_k`: `[n, n]` (smoothed covariance);
/// returns `[p, n]` and `[p, p]`.
fn partial_moments(
    system: &LinearSystem,
    z: nalgebra::DVectorView<'_, f64>,
    x: nalgebra::DVectorView<'_, f64>,
    p_k: nalgebra::DMatrixView<'_, f64>,
) -> Result<(DMatrix<f64>, DMatrix<f64>)> {
    let (h, r) = (system.h(), system.r());
    let (obs, mis): (Vec<usize>, Vec<usize>) = (0..z.len()).partition(|&i| z[i].is_finite());
    let r_oo = r.select_rows(&obs).select_columns(&obs);
    let r_om = r.select_rows(&obs).select_columns(&mis);
    let r_mm = r.select_rows(&mis).select_columns(&mis);
    let h_o = h.select_rows(&obs);
    let h_m = h.select_rows(&mis);
    let z_o = DVector::from_iterator(obs.len(), obs.iter().map(|&i| z[i]));
    // Gᵀ = R_OO⁻¹ R_OM
    let g = r_oo
        .cholesky()
        .ok_or(SysidError::Singular("observed block R_OO of R"))?
        .solve(&r_om)
        .transpose();
    let f = &h_m - &g * &h_o;
    let z_m = &f * x + &g * &z_o;
    let mut cond = &r_mm - &g * &r_om;
    symmetrise(&mut cond);
    let mut ez = DVector::zeros(z.len());
    for (j, &i) in obs.iter().enumerate() {
        ez[i] = z_o[j];
    }
    for (j, &i) in mis.iter().enumerate() {
        ez[i] = z_m[j];
    }
    let mut ezx = &ez * x.transpose();
    let fp = &f * p_k;
    let mut ezz = &ez * ez.transpose();
    let extra = &fp * f.transpose() + cond;
    for (j, &i) in mis.iter().enumerate() {
        let mut row = ezx.row_mut(i);
        row += fp.row(j);
        for (l, &il) in mis.iter().enumerate() {
            ezz[(i, il)] += extra[(j, l)];
        }
    }
    Ok((ezx, ezz))
}

impl Stats {
    fn m_step(&self, old: &LinearSystem, learn_prior: bool) -> Result<LinearSystem> {
        let n = old.n_states();
        let m = old.n_inputs();
        // [A B] = S10 S00⁻¹  (S00 symmetric positive definite)
        let theta = self
            .s00
            .clone()
            .cholesky()
            .ok_or(SysidError::Singular("Σ E[φ φᵀ] in the A, B update"))?
            .solve(&self.s10.transpose())
            .transpose();
        let mut q = (&self.s11 - &theta * self.s10.transpose()) / self.n_trans as f64;
        symmetrise(&mut q);
        // H = Szx Sxx⁻¹
        let h = self
            .sxx
            .clone()
            .cholesky()
            .ok_or(SysidError::Singular("Σ E[x xᵀ] in the H update"))?
            .solve(&self.szx.transpose())
            .transpose();
        let mut r = (&self.szz - &h * self.szx.transpose()) / self.n_obs as f64;
        symmetrise(&mut r);
        let a = theta.columns(0, n).into_owned();
        let b = (m > 0).then(|| theta.columns(n, m).into_owned());
        let (x0, p0) = if learn_prior {
            let x0 = &self.x1 / self.n_seq as f64;
            let mut p0 = &self.xx1 / self.n_seq as f64 - &x0 * x0.transpose();
            symmetrise(&mut p0);
            (x0, p0)
        } else {
            (old.x0().clone(), old.p0().clone())
        };
        Ok(LinearSystem::new(a, b, h, q, r)?.with_prior(x0, p0)?)
    }
}
