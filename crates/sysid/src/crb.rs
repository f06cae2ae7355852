//! The Cramér–Rao bound on the eigenvalues of `A` (and of the predictor's closed loop
//! `A − K H`) for a given experiment design, from the exact expected Fisher information of the
//! model
//!
//! ```text
//! x_k = A x_{k-1} + B u_k + w_k,   w_k ~ N(0, Q)
//! z_k = H x_k + v_k,               v_k ~ N(0, R)
//! x_1 ~ N(x0, P0)                  (x0, P0 known)
//! ```
//!
//! over the *given* sequences: their lengths, their inputs and their missing cells are the
//! design; the measured values are never read. The bound is for this design, not an
//! asymptotic formula.
//!
//! # Parameters
//!
//! `θ` = the entries of `A` (row-major), of `B` (row-major, when the system has inputs), of `H`
//! (row-major), and the upper triangles of `Q` and `R` (row-major, `row ≤ col`; moving the
//! parameter `Q(a, b)` moves both `Q_ab` and `Q_ba`). See [`parameters`] and [`Parameter`].
//!
//! # Fisher information: exact sensitivity equations of the Kalman filter
//!
//! The log-likelihood of one sequence is the prediction-error decomposition
//! `ℓ = −½ Σ_k (log det S_k + e_kᵀ S_k⁻¹ e_k) + const`, with the innovations `e_k` and their
//! covariances `S_k` of the (time-varying) Kalman filter, reduced to the components present in
//! row `k`. At the true `θ` each `e_k ~ N(0, S_k)` is independent of everything the filter
//! knew before row `k`, while `∂_i e_k` is a function of that past; taking `−E[∂_i ∂_j ℓ]` term
//! by term gives the expected information exactly (no asymptotics):
//!
//! ```text
//! I_ij = Σ_k  E[∂_i e_kᵀ S_k⁻¹ ∂_j e_k]  +  ½ tr(S_k⁻¹ ∂_i S_k S_k⁻¹ ∂_j S_k)
//! ```
//!
//! summed over the rows with at least one measurement, of every sequence. We chose these
//! analytic sensitivity equations over a numerical Hessian because the *expected* information
//! of the true parameters is what the bound needs, and it is available here in closed form: the
//! `S_k` and their derivatives do not depend on the data, and the first term is the second
//! moment of a linear function of a Gauss–Markov process, which an augmented-state covariance
//! recursion computes exactly (no Monte Carlo, no step sizes).
//!
//! Deterministic part (`x̂_k`, `P_k` the filter's prediction of row `k`; `H_k`, `R_k` the rows
//! of the present components; `P_0 = P0`, `∂P_0 = 0`):
//!
//! ```text
//! S_k = H_k P_k H_kᵀ + R_k,          L_k = P_k H_kᵀ S_k⁻¹            (filter gain)
//! ∂S  = ∂H P Hᵀ + H P ∂Hᵀ + H ∂P Hᵀ + ∂R
//! M   = ∂P Hᵀ + P ∂Hᵀ,               ∂L  = (M − L ∂S) S⁻¹
//! P_{k|k} = (I − L H) P (I − L H)ᵀ + L R Lᵀ,   ∂P_{k|k} = ∂P − M Lᵀ − L Mᵀ + L ∂S Lᵀ
//! P_{k+1} = A P_{k|k} Aᵀ + Q,         ∂P_{k+1} = ∂A P_{k|k} Aᵀ + A P_{k|k} ∂Aᵀ + A ∂P_{k|k} Aᵀ + ∂Q
//! ```
//!
//! (a row without measurements has `P_{k|k} = P_k`). Random part: with the prediction error
//! `ε_k = x_k − x̂_k`, `e_k = H_k ε_k + v_k`, `d_{i,k} = ∂_i x̂_k` and `Φ_k = A − A L_k H_k`,
//!
//! ```text
//! ε_{k+1}     = Φ_k ε_k − A L_k v_k + w_{k+1}
//! x̂_{k+1}     = A x̂_k + A L_k H_k ε_k + A L_k v_k + B u_{k+1}
//! d_{i,k+1}   = Γ_i H_k ε_k + Δ_i x̂_k + Φ_k d_{i,k} + Γ_i v_k + ∂_i B u_{k+1}
//!   Γ_i = ∂_i A L_k + A ∂_i L_k,   Δ_i = ∂_i A − A L_k ∂_i H_k
//! ∂_i e_k     = −∂_i H_k x̂_k − H_k d_{i,k}
//! ```
//!
//! so `ξ_k = [ε_k; x̂_k; d_{1,k}; …; d_{D,k}]` (`n (D + 2)` entries for `D` parameters) is
//! linear Gaussian, `ξ_{k+1} = F_k ξ_k + G_k v_k + [w_{k+1}; 0] + (input terms)`, started at
//! `ε_0 ~ N(0, P0)`, `x̂_0 = x0`, `d_{i,0} = 0`. Its mean `m_k` (driven by `x0` and the inputs,
//! one per sequence) and covariance `Σ_{k+1} = F_k Σ_k F_kᵀ + G_k R_k G_kᵀ + diag(Q, 0, …)`
//! (shared by the sequences with the same length and missing cells) give, with
//! `∂_i e_k = J_{i,k} ξ_k`,
//!
//! ```text
//! E[∂_i e_kᵀ S_k⁻¹ ∂_j e_k] = (J_i m_k)ᵀ S_k⁻¹ (J_j m_k) + tr(S_k⁻¹ J_i Σ_k J_jᵀ)
//! ```
//!
//! The cost per row is `O(n² D² (n + p))` for the recursion of `Σ` and its traces (exploiting
//! the block structure of `F_k` and `J_{i,k}`) per distinct missing pattern, plus
//! `O(D (n² + p D))` per sequence for the means.
//!
//! # Similarity invariance
//!
//! `(A, B, H, Q, R)` and `(T A T⁻¹, T B, H T⁻¹, T Q Tᵀ, R)` give the same distribution of the
//! data *if the prior moves with them* (`T x0`, `T P0 Tᵀ`). The tangent directions of these
//! orbits at `θ` (from `T = I + Δ`, `Δ = E_ab`)
//!
//! ```text
//! ∂A = Δ A − A Δ,   ∂B = Δ B,   ∂H = −H Δ,   ∂Q = Δ Q + Q Δᵀ,   ∂R = 0
//! ```
//!
//! span the `n²`-dimensional (generically) space `V`. With `x0`, `P0` known and fixed, the
//! information along `V` is not exactly zero: the prior carries some information about the
//! basis (none for `x0 = 0`, `P0 = 0`; none along the transforms that keep the prior, e.g. the
//! rotations when `x0 = 0`, `P0 = c I`; elsewhere `O(number of sequences)` against the
//! `O(number of rows)` of the rest). [`CramerRao::similarity_information`] reports it. So `V`
//! is not dropped but eliminated: in the information-scaled coordinates `φ_i = θ_i √I_ii`, with
//! orthonormal bases `U_V` of `V` and `U` of its orthogonal complement,
//!
//! ```text
//! S_⊥ = I_UU − I_UV I_VV⁺ I_VU              (the Schur complement: marginalise the basis)
//! Cov_θ = D U S_⊥⁺ Uᵀ D,   D = diag(1/√I_ii)
//! ```
//!
//! For a similarity-invariant function `g(θ)` (the eigenvalues of `A` and of `A − K H`), `∇g`
//! is orthogonal to `V`, and `∇gᵀ Cov_θ ∇g = ∇gᵀ I⁺ ∇g` is the exact bound of the model with
//! the prior known; where the prior carries no basis information (`I_VV = 0`, hence
//! `I_UV = 0`) it is the pseudo-inverse with the invariance directions projected out, the
//! textbook treatment. Plain projection (`I_UU` in place of `S_⊥`) would give a smaller,
//! still valid but not tight bound when the prior does carry basis information, and one that
//! depends on the basis; the Schur complement is the same in every basis (tested). `I_VV⁺`
//! drops eigenvalues below `1e-12` of the largest of the scaled information (rounding).
//!
//! # Identifiability beyond similarity
//!
//! `S_⊥⁺` keeps the eigenvalues of `S_⊥` above `rank_tolerance · λ_max`; the others span the
//! null space `N` of directions the data do not determine beyond similarity
//! ([`CramerRao::null_directions`]). Some are harmless: with fewer outputs than states a full
//! `Q` is over-parametrised in steady state (only the output spectrum of the noise is
//! identifiable; the transient from the known prior may pin down some of the rest), which
//! moves neither eigenvalue set. A bound exists for `g` when `∇g` has no component in `N`
//! (Stoica & Marzetta 2001), and it is then `∇gᵀ I⁺ ∇g`. When the relative component
//! `‖P_N [∇Re λ, ∇Im λ]‖ / ‖[∇Re λ, ∇Im λ]‖` (Frobenius, scaled coordinates) of some eigenvalue
//! exceeds `gradient_tolerance`, the result is [`EigenCrb::NotIdentifiable`] instead of a bound
//! (an unobservable or unexcited mode).
//!
//! # The eigenvalue bound (delta method)
//!
//! For a simple eigenvalue `λ` of `M` with right and left eigenvectors `M v = λ v`,
//! `wᴴ M = λ wᴴ`,
//!
//! ```text
//! ∂λ/∂θ_i = wᴴ (∂M/∂θ_i) v / (wᴴ v)          (∂λ/∂M_ab = w̄_a v_b / (wᴴ v))
//! Cov(Re λ, Im λ) ≥ G_λᵀ Cov_θ G_λ,   G_λ = [∇ Re λ, ∇ Im λ]   (D × 2)
//! σ_λ = √tr Cov(Re λ, Im λ)  ≤  √E|λ̂ − λ|²  for every unbiased λ̂
//! ```
//!
//! and `max_λ σ_λ`, the bound's counterpart of the reports' eigen error
//! `max |λ_true − λ_est|` over matched eigenvalues (for an unbiased estimator
//! `E[max_λ |λ̂ − λ|²] ≥ max_λ σ_λ²`).
//!
//! # The closed loop `A − K H`
//!
//! `K = A P Hᵀ S⁻¹` with `P` the stabilising solution of the DARE
//! `P = A P_f Aᵀ + Q`, `P_f = P − P Hᵀ S⁻¹ H P`, `S = H P Hᵀ + R`. We differentiate the DARE
//! implicitly (exact, no step sizes; central differences are kept for the test): with the
//! closed loop `Φ = A − K H` and the filter gain `L = P Hᵀ S⁻¹`, `∂P` solves the Lyapunov
//! equation
//!
//! ```text
//! ∂P = Φ ∂P Φᵀ + C,
//! C  = ∂A P_f Aᵀ + A P_f ∂Aᵀ + ∂Q − Φ P ∂Hᵀ Kᵀ − K ∂H P Φᵀ + K ∂R Kᵀ
//! ```
//!
//! (solved by `(I − Φ ⊗ Φ) vec ∂P = vec C`), then `∂S` and `∂L` as above,
//! `∂K = ∂A L + A ∂L` and `∂Φ = ∂A − ∂K H − K ∂H`.

use std::collections::HashMap;
use std::fmt;

use nalgebra::{Complex, DMatrix, DVector};

use dynrec_truth::{LinearSystem, Sequence, SteadyState};

use crate::error::{Result, SysidError};
use crate::n4sid::{dimensions, symmetrise};

/// Default relative cut-off on the eigenvalues of the (scaled, similarity-free) information:
/// below `RANK_TOLERANCE · λ_max` a direction counts as not identifiable.
pub const RANK_TOLERANCE: f64 = 1e-9;
/// Default largest relative component of an eigenvalue gradient in the null space of the
/// information for which the eigenvalue still counts as identifiable.
pub const GRADIENT_TOLERANCE: f64 = 1e-6;
/// Relative cut-off for the rank of the similarity tangent vectors.
const SIMILARITY_RCOND: f64 = 1e-10;
/// Eigenvalues of the information along the similarity directions below this fraction of the
/// largest eigenvalue of the scaled information are rounding, not prior information.
const BASIS_INFORMATION_RCOND: f64 = 1e-12;
/// Relative shift of the inverse iteration for eigenvectors, and the smallest `|wᴴ v|` (unit
/// vectors) of a simple eigenvalue.
const SIMPLE_EIGENVALUE_TOLERANCE: f64 = 1e-10;

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

/// One free parameter of the model, by the matrix entry it moves (0-based `row`, `col`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parameter {
    /// `A[row, col]`.
    A(usize, usize),
    /// `B[row, col]`.
    B(usize, usize),
    /// `H[row, col]`.
    H(usize, usize),
    /// `Q[row, col]` and `Q[col, row]` together (`row ≤ col`).
    Q(usize, usize),
    /// `R[row, col]` and `R[col, row]` together (`row ≤ col`).
    R(usize, usize),
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, i, j) = match *self {
            Self::A(i, j) => ("A", i, j),
            Self::B(i, j) => ("B", i, j),
            Self::H(i, j) => ("H", i, j),
            Self::Q(i, j) => ("Q", i, j),
            Self::R(i, j) => ("R", i, j),
        };
        write!(f, "{name}[{i},{j}]")
    }
}

/// The parameters of `system` in the order of the information matrix: `A` row-major, `B`
/// row-major (none without inputs), `H` row-major, then the upper triangles of `Q` and `R`
/// row-major. `n² + n m + p n + n(n+1)/2 + p(p+1)/2` of them.
pub fn parameters(system: &LinearSystem) -> Vec<Parameter> {
    let (n, m, p) = (system.n_states(), system.n_inputs(), system.n_outputs());
    let mut out = Vec::new();
    out.extend((0..n).flat_map(|i| (0..n).map(move |j| Parameter::A(i, j))));
    out.extend((0..n).flat_map(|i| (0..m).map(move |j| Parameter::B(i, j))));
    out.extend((0..p).flat_map(|i| (0..n).map(move |j| Parameter::H(i, j))));
    out.extend((0..n).flat_map(|i| (i..n).map(move |j| Parameter::Q(i, j))));
    out.extend((0..p).flat_map(|i| (i..p).map(move |j| Parameter::R(i, j))));
    out
}

/// The derivative of `(A, B, H, Q, R)` along one parameter.
#[derive(Debug, Clone)]
struct Direction {
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    h: DMatrix<f64>,
    q: DMatrix<f64>,
    r: DMatrix<f64>,
}

fn directions(system: &LinearSystem, params: &[Parameter]) -> Vec<Direction> {
    let (n, m, p) = (system.n_states(), system.n_inputs(), system.n_outputs());
    params
        .iter()
        .map(|&param| {
            let mut dir = Direction {
                a: DMatrix::zeros(n, n),
                b: DMatrix::zeros(n, m),
                h: DMatrix::zeros(p, n),
                q: DMatrix::zeros(n, n),
                r: DMatrix::zeros(p, p),
            };
            match param {
                Parameter::A(i, j) => dir.a[(i, j)] = 1.0,
                Parameter::B(i, j) => dir.b[(i, j)] = 1.0,
                Parameter::H(i, j) => dir.h[(i, j)] = 1.0,
                Parameter::Q(i, j) => {
                    dir.q[(i, j)] = 1.0;
                    dir.q[(j, i)] = 1.0;
                }
                Parameter::R(i, j) => {
                    dir.r[(i, j)] = 1.0;
                    dir.r[(j, i)] = 1.0;
                }
            }
            dir
        })
        .collect()
}

/// The similarity tangent vectors at `system` in parameter coordinates, one column per
/// generator `Δ = E_ab` (`[D, n²]`): `∂A = ΔA − AΔ`, `∂B = ΔB`, `∂H = −HΔ`, `∂Q = ΔQ + QΔᵀ`,
/// `∂R = 0`.
fn similarity_tangents(system: &LinearSystem, params: &[Parameter]) -> DMatrix<f64> {
    let n = system.n_states();
    let (a, h, q) = (system.a(), system.h(), system.q());
    let mut out = DMatrix::zeros(params.len(), n * n);
    for ga in 0..n {
        for gb in 0..n {
            let mut delta = DMatrix::zeros(n, n);
            delta[(ga, gb)] = 1.0;
            let da = &delta * a - a * &delta;
            let db = system.b().map(|b| &delta * b);
            let dh = -(h * &delta);
            let dq = &delta * q + q * delta.transpose();
            let col = ga * n + gb;
            for (i, param) in params.iter().enumerate() {
                out[(i, col)] = match *param {
                    Parameter::A(r, c) => da[(r, c)],
                    Parameter::B(r, c) => db.as_ref().map_or(0.0, |db| db[(r, c)]),
                    Parameter::H(r, c) => dh[(r, c)],
                    Parameter::Q(r, c) => dq[(r, c)],
                    Parameter::R(..) => 0.0,
                };
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Fisher information
// ---------------------------------------------------------------------------------------------

/// The expected Fisher information of the parameters for one design.
#[derive(Debug, Clone, PartialEq)]
pub struct FisherInformation {
    /// The parameters, in the order of the rows and columns of `matrix`.
    pub parameters: Vec<Parameter>,
    /// `I_ij = −E[∂_i ∂_j log p(z | θ)]` at the true parameters (`[D, D]`, symmetric).
    pub matrix: DMatrix<f64>,
    /// Rows with at least one measurement, over all sequences.
    pub observed_rows: usize,
    /// Distinct (length, missing-cell) patterns, each one recursion of the augmented
    /// covariance.
    pub patterns: usize,
}

/// The exact expected Fisher information of `(A, B, H, Q, R)` at `system` (the true
/// parameters, with its known prior `x0`, `P0`) for the design given by `sequences`: their
/// lengths, inputs and missing measurement cells (`NaN`); the measured values themselves are
/// not used. See the module documentation for the equations.
pub fn fisher_information(
    system: &LinearSystem,
    sequences: &[Sequence],
) -> Result<FisherInformation> {
    let (m, p) = dimensions(sequences)?;
    if m != system.n_inputs() || p != system.n_outputs() {
        return Err(SysidError::Data(format!(
            "data has {m} inputs and {p} outputs, the system {} and {}",
            system.n_inputs(),
            system.n_outputs()
        )));
    }
    if let Some(k) = sequences
        .iter()
        .position(|s| s.inputs.iter().any(|u| !u.is_finite()))
    {
        return Err(SysidError::Data(format!(
            "sequence {k}: inputs must be finite"
        )));
    }
    let params = parameters(system);
    let dirs = directions(system, &params);
    let d = params.len();

    // Sequences with the same length and missing cells share the deterministic recursions and
    // the augmented covariance; groups are kept in order of first appearance (deterministic
    // summation order).
    let mut groups: Vec<Vec<&Sequence>> = Vec::new();
    let mut index: HashMap<Vec<bool>, usize> = HashMap::new();
    for seq in sequences.iter().filter(|s| !s.is_empty()) {
        let key: Vec<bool> = seq.measurements.iter().map(|v| v.is_nan()).collect();
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(seq);
    }

    let mut matrix = DMatrix::zeros(d, d);
    let mut observed_rows = 0;
    for members in &groups {
        observed_rows += accumulate(system, &dirs, members, &mut matrix)?;
    }
    if observed_rows == 0 {
        return Err(SysidError::NotEnoughData {
            found: 0,
            needed: 1,
        });
    }
    symmetrise(&mut matrix);
    if !matrix.iter().all(|v| v.is_finite()) {
        return Err(SysidError::Singular(
            "the Fisher information is not finite (the filter diverged)",
        ));
    }
    Ok(FisherInformation {
        parameters: params,
        matrix,
        observed_rows,
        patterns: groups.len(),
    })
}

/// The measurement update of one row, for the present components, with its derivatives.
struct RowUpdate {
    /// `H_k` (`[p_k, n]`).
    h: DMatrix<f64>,
    /// `R_k`.
    r: DMatrix<f64>,
    /// `∂_i H_k`.
    dh: Vec<DMatrix<f64>>,
    /// Filter gain `L_k` (`[n, p_k]`).
    l: DMatrix<f64>,
    /// `∂_i L_k`.
    dl: Vec<DMatrix<f64>>,
}

/// The block-structured transition `F_k` of the augmented state `[ε; x̂; d_1; …; d_D]`.
struct Transition<'a> {
    n: usize,
    a: &'a DMatrix<f64>,
    /// `Φ_k = A − A L_k H_k`.
    phi: DMatrix<f64>,
    /// `A L_k H_k` (`None` without a measurement).
    alh: Option<DMatrix<f64>>,
    /// `Γ_i H_k`.
    gamma_h: Vec<DMatrix<f64>>,
    /// `Δ_i = ∂_i A − A L_k ∂_i H_k`.
    delta: Vec<DMatrix<f64>>,
}

impl Transition<'_> {
    /// `F x` for `x` with `n (D + 2)` rows.
    fn apply(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let n = self.n;
        let mut out = DMatrix::zeros(x.nrows(), x.ncols());
        let eps = x.rows(0, n);
        let xhat = x.rows(n, n);
        out.rows_mut(0, n).gemm(1.0, &self.phi, &eps, 0.0);
        {
            let mut o = out.rows_mut(n, n);
            o.gemm(1.0, self.a, &xhat, 0.0);
            if let Some(alh) = &self.alh {
                o.gemm(1.0, alh, &eps, 1.0);
            }
        }
        for (i, delta) in self.delta.iter().enumerate() {
            let start = (2 + i) * n;
            let mut o = out.rows_mut(start, n);
            o.gemm(1.0, &self.phi, &x.rows(start, n), 0.0);
            o.gemm(1.0, delta, &xhat, 1.0);
            if let Some(gh) = self.gamma_h.get(i) {
                o.gemm(1.0, gh, &eps, 1.0);
            }
        }
        out
    }
}

/// `tr(X Y) = Σ_ab X_ab Y_ba`.
fn trace_of_product(x: &DMatrix<f64>, y: &DMatrix<f64>) -> f64 {
    x.component_mul(&y.transpose()).sum()
}

/// Adds the information of one group of sequences with the same length and missing cells to
/// `info`; returns the number of observed rows it contributed.
fn accumulate(
    system: &LinearSystem,
    dirs: &[Direction],
    members: &[&Sequence],
    info: &mut DMatrix<f64>,
) -> Result<usize> {
    let Some(first) = members.first() else {
        return Ok(0);
    };
    let (n, p, d) = (system.n_states(), system.n_outputs(), dirs.len());
    let (a, h, r, q) = (system.a(), system.h(), system.r(), system.q());
    let at = a.transpose();
    let big = n * (d + 2);
    let count = members.len() as f64;

    // Deterministic: P_k and ∂_i P_k.
    let mut cov = system.p0().clone();
    let mut dcov: Vec<DMatrix<f64>> = vec![DMatrix::zeros(n, n); d];
    // Random: the augmented covariance Σ_k and, per sequence, the means of x̂_k and d_{i,k}.
    let mut sigma = DMatrix::zeros(big, big);
    sigma.view_mut((0, 0), (n, n)).copy_from(system.p0());
    let mut xhat: Vec<DVector<f64>> = vec![system.x0().clone(); members.len()];
    let mut dmean: Vec<DMatrix<f64>> = vec![DMatrix::zeros(n, d); members.len()];

    let mut observed_rows = 0;
    let mut present: Vec<usize> = Vec::with_capacity(p);
    for k in 0..first.len() {
        present.clear();
        present.extend((0..p).filter(|&i| !first.measurements[(i, k)].is_nan()));
        let (cov_post, dcov_post, update) = if present.is_empty() {
            (cov.clone(), dcov.clone(), None)
        } else {
            observed_rows += members.len();
            let hk = h.select_rows(&present);
            let rk = r.select_rows(&present).select_columns(&present);
            let dh: Vec<DMatrix<f64>> = dirs.iter().map(|g| g.h.select_rows(&present)).collect();
            let dr: Vec<DMatrix<f64>> = dirs
                .iter()
                .map(|g| g.r.select_rows(&present).select_columns(&present))
                .collect();
            let pk = present.len();
            // S = H P Hᵀ + R, L = P Hᵀ S⁻¹
            let pht = &cov * hk.transpose();
            let mut s = &hk * &pht + &rk;
            symmetrise(&mut s);
            let s_inv = s
                .cholesky()
                .ok_or(SysidError::Singular("innovation covariance S_k"))?
                .inverse();
            let l = &pht * &s_inv;
            // ∂S = ∂H P Hᵀ + H P ∂Hᵀ + H ∂P Hᵀ + ∂R,  M = ∂P Hᵀ + P ∂Hᵀ,  ∂L = (M − L ∂S) S⁻¹
            let mut ds = Vec::with_capacity(d);
            let mut mm = Vec::with_capacity(d);
            let mut dl = Vec::with_capacity(d);
            for i in 0..d {
                let x = &dh[i] * &pht;
                let mut dsi = &x + x.transpose() + &hk * &dcov[i] * hk.transpose() + &dr[i];
                symmetrise(&mut dsi);
                let mi = &dcov[i] * hk.transpose() + &cov * dh[i].transpose();
                dl.push((&mi - &l * &dsi) * &s_inv);
                ds.push(dsi);
                mm.push(mi);
            }

            // ½ tr(S⁻¹ ∂_i S S⁻¹ ∂_j S)
            let z: Vec<DMatrix<f64>> = ds.iter().map(|dsi| &s_inv * dsi).collect();
            for i in 0..d {
                for j in i..d {
                    let v = 0.5 * count * trace_of_product(&z[i], &z[j]);
                    info[(i, j)] += v;
                    if j != i {
                        info[(j, i)] += v;
                    }
                }
            }
            // tr(S⁻¹ J_i Σ J_jᵀ) with ∂_i e = J_i ξ = −∂_i H x̂ − H d_i: J_i has two non-zero
            // blocks, so K_i = S⁻¹ J_i Σ costs O(p n² D) and
            // tr(K_i J_jᵀ) = −⟨K_i[:, x̂], ∂_j H⟩ − ⟨K_i[:, d_j], H⟩ (Frobenius products).
            let sigma_xhat = sigma.rows(n, n);
            let mut js = DMatrix::zeros(pk, big);
            for i in 0..d {
                js.gemm(-1.0, &dh[i], &sigma_xhat, 0.0);
                js.gemm(-1.0, &hk, &sigma.rows((2 + i) * n, n), 1.0);
                let k_i = &s_inv * &js;
                let k_xhat = k_i.columns(n, n);
                for j in i..d {
                    let k_dj = k_i.columns((2 + j) * n, n);
                    let tr = k_xhat
                        .iter()
                        .zip(dh[j].iter())
                        .map(|(x, y)| x * y)
                        .sum::<f64>()
                        + k_dj.iter().zip(hk.iter()).map(|(x, y)| x * y).sum::<f64>();
                    let v = -count * tr;
                    info[(i, j)] += v;
                    if j != i {
                        info[(j, i)] += v;
                    }
                }
            }
            // (J_i m)ᵀ S⁻¹ (J_j m) per sequence
            for (x, dm) in xhat.iter().zip(&dmean) {
                let mut mu = -(&hk * dm);
                for i in 0..d {
                    let mut col = mu.column_mut(i);
                    col.gemv(-1.0, &dh[i], x, 1.0);
                }
                *info += mu.transpose() * &s_inv * &mu;
            }

            // P_{k|k} (Joseph form) and ∂P_{k|k} = ∂P − M Lᵀ − L Mᵀ + L ∂S Lᵀ
            let ikh = DMatrix::identity(n, n) - &l * &hk;
            let mut post = &ikh * &cov * ikh.transpose() + &l * &rk * l.transpose();
            symmetrise(&mut post);
            let dpost: Vec<DMatrix<f64>> = (0..d)
                .map(|i| {
                    let lmt = &l * mm[i].transpose();
                    let mut v = &dcov[i] - &lmt - lmt.transpose() + &l * &ds[i] * l.transpose();
                    symmetrise(&mut v);
                    v
                })
                .collect();
            (
                post,
                dpost,
                Some(RowUpdate {
                    h: hk,
                    r: rk,
                    dh,
                    l,
                    dl,
                }),
            )
        };

        if k + 1 == first.len() {
            break;
        }

        // Transition into row k + 1.
        let transition = match &update {
            None => Transition {
                n,
                a,
                phi: a.clone(),
                alh: None,
                gamma_h: Vec::new(),
                delta: dirs.iter().map(|g| g.a.clone()).collect(),
            },
            Some(up) => {
                let al = a * &up.l;
                let alh = &al * &up.h;
                let gamma_h = dirs
                    .iter()
                    .zip(&up.dl)
                    .map(|(g, dli)| (&g.a * &up.l + a * dli) * &up.h)
                    .collect();
                let delta = dirs
                    .iter()
                    .zip(&up.dh)
                    .map(|(g, dhi)| &g.a - &al * dhi)
                    .collect();
                Transition {
                    n,
                    a,
                    phi: a - &alh,
                    alh: Some(alh),
                    gamma_h,
                    delta,
                }
            }
        };
        // Σ_{k+1} = F Σ Fᵀ + G R_k Gᵀ + diag(Q, 0, …), G = [−A L; A L; Γ_1; …; Γ_D]
        let f_sigma = transition.apply(&sigma);
        let mut next = transition.apply(&f_sigma.transpose());
        if let Some(up) = &update {
            let pk = up.h.nrows();
            let al = a * &up.l;
            let mut g = DMatrix::zeros(big, pk);
            g.rows_mut(0, n).copy_from(&(-&al));
            g.rows_mut(n, n).copy_from(&al);
            for (i, (dir, dli)) in dirs.iter().zip(&up.dl).enumerate() {
                g.rows_mut((2 + i) * n, n)
                    .copy_from(&(&dir.a * &up.l + a * dli));
            }
            let gr = &g * &up.r;
            next.gemm(1.0, &gr, &g.transpose(), 1.0);
        }
        {
            let mut eps = next.view_mut((0, 0), (n, n));
            eps += q;
        }
        symmetrise(&mut next);
        sigma = next;

        // Means: x̂ ← A x̂ + B u,  d_i ← Δ_i x̂ + Φ d_i + ∂_i B u
        for (s, seq) in members.iter().enumerate() {
            let u = seq.inputs.column(k + 1);
            let mut dm_next = &transition.phi * &dmean[s];
            for (i, (delta, dir)) in transition.delta.iter().zip(dirs).enumerate() {
                let mut col = dm_next.column_mut(i);
                col.gemv(1.0, delta, &xhat[s], 1.0);
                if dir.b.ncols() > 0 {
                    col.gemv(1.0, &dir.b, &u, 1.0);
                }
            }
            dmean[s] = dm_next;
            let mut x_next = a * &xhat[s];
            if let Some(b) = system.b() {
                x_next.gemv(1.0, b, &u, 1.0);
            }
            xhat[s] = x_next;
        }

        // P_{k+1} = A P_{k|k} Aᵀ + Q,  ∂P_{k+1} = ∂A P_{k|k} Aᵀ + A P_{k|k} ∂Aᵀ + A ∂P_{k|k} Aᵀ + ∂Q
        let ap = a * &cov_post;
        let mut cov_next = &ap * &at + q;
        symmetrise(&mut cov_next);
        cov = cov_next;
        for (i, dir) in dirs.iter().enumerate() {
            let x = &dir.a * ap.transpose();
            let mut v = &x + x.transpose() + a * &dcov_post[i] * &at + &dir.q;
            symmetrise(&mut v);
            dcov[i] = v;
        }
    }
    Ok(observed_rows)
}

// ---------------------------------------------------------------------------------------------
// The closed loop
// ---------------------------------------------------------------------------------------------

/// The steady-state predictor of `system` and the derivatives `∂(A − K H)/∂θ_i` of its closed
/// loop along every parameter of [`parameters`], by implicit differentiation of the DARE (see
/// the module documentation).
pub fn closed_loop_sensitivities(
    system: &LinearSystem,
) -> Result<(SteadyState, Vec<DMatrix<f64>>)> {
    let params = parameters(system);
    let dirs = directions(system, &params);
    let ss = system.steady_state()?;
    let derivatives = closed_loop_derivatives(system, &ss, &dirs)?;
    Ok((ss, derivatives))
}

fn closed_loop_derivatives(
    system: &LinearSystem,
    ss: &SteadyState,
    dirs: &[Direction],
) -> Result<Vec<DMatrix<f64>>> {
    let n = system.n_states();
    let (a, h) = (system.a(), system.h());
    let at = a.transpose();
    let (p, pf) = (&ss.prior_covariance, &ss.posterior_covariance);
    let (l, k, phi) = (&ss.filter_gain, &ss.predictor_gain, &ss.closed_loop);
    let s_inv = ss
        .innovation_covariance
        .clone()
        .cholesky()
        .ok_or(SysidError::Singular("steady-state innovation covariance S"))?
        .inverse();
    // (I − Φ ⊗ Φ) vec ∂P = vec C  (column-major vec: vec(Φ X Φᵀ) = (Φ ⊗ Φ) vec X)
    let lyapunov = (DMatrix::identity(n * n, n * n) - phi.kronecker(phi)).lu();
    let pht = p * h.transpose();
    let mut out = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let x = &dir.a * pf * &at;
        let y = phi * p * dir.h.transpose() * k.transpose();
        let c = &x + x.transpose() + &dir.q - &y - y.transpose() + k * &dir.r * k.transpose();
        let vec_dp = lyapunov
            .solve(&DVector::from_column_slice(c.as_slice()))
            .ok_or(SysidError::Singular(
                "I − Φ ⊗ Φ in the DARE derivative (closed loop not stable)",
            ))?;
        let mut dp = DMatrix::from_column_slice(n, n, vec_dp.as_slice());
        symmetrise(&mut dp);
        let z = &dir.h * &pht;
        let ds = &z + z.transpose() + h * &dp * h.transpose() + &dir.r;
        let dl = (&dp * h.transpose() + p * dir.h.transpose() - l * &ds) * &s_inv;
        let dk = &dir.a * l + a * dl;
        out.push(&dir.a - dk * h - k * &dir.h);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Eigenvalue sensitivities
// ---------------------------------------------------------------------------------------------

/// A unit eigenvector of `m` for the eigenvalue `lambda` by inverse iteration with the shift
/// `λ + δ(1 + i)`, `δ = 1e-10 max(1, ‖m‖)` (three steps from a fixed generic start: the error
/// shrinks by `δ / gap` per step), checked by its residual `‖m v − λ v‖`. (nalgebra's complex
/// SVD is not used: its left singular vectors were found not to reconstruct the matrix.)
fn eigenvector(
    m: &DMatrix<Complex<f64>>,
    lambda: Complex<f64>,
    scale: f64,
) -> Option<DVector<Complex<f64>>> {
    let n = m.nrows();
    let delta = SIMPLE_EIGENVALUE_TOLERANCE * scale;
    let shift = lambda + Complex::new(delta, delta);
    let lu = (m - DMatrix::from_diagonal_element(n, n, shift)).lu();
    let mut x = DVector::from_fn(n, |i, _| {
        Complex::new(1.0 + 0.37 * i as f64, 0.61 - 0.23 * i as f64)
    });
    for _ in 0..3 {
        x = lu.solve(&x)?;
        let norm = x.norm();
        if !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        x /= Complex::new(norm, 0.0);
    }
    let residual = (m * &x - &x * lambda).norm();
    (residual <= 1e-8 * scale).then_some(x)
}

/// The eigenvalues of `m` (in the order of `complex_eigenvalues`) and the gradients of their
/// real and imaginary parts, `[D, 2n]` (column `2j`: `∇ Re λ_j`, `2j+1`: `∇ Im λ_j`), given the
/// derivatives `∂m/∂θ_i`: `∂λ = wᴴ ∂m v / (wᴴ v)` with `m v = λ v`, `mᴴ w = λ̄ w`.
fn eigen_gradients(
    m: &DMatrix<f64>,
    derivatives: &[DMatrix<f64>],
    what: &'static str,
) -> Result<(Vec<Complex<f64>>, DMatrix<f64>)> {
    let n = m.nrows();
    let values: Vec<Complex<f64>> = m.complex_eigenvalues().iter().copied().collect();
    let mc: DMatrix<Complex<f64>> = m.map(|x| Complex::new(x, 0.0));
    let mh = mc.adjoint();
    let scale = m.norm().max(1.0);
    let mut grad = DMatrix::zeros(derivatives.len(), 2 * n);
    for (j, &lambda) in values.iter().enumerate() {
        let repeated = SysidError::RepeatedEigenvalue {
            matrix: what,
            re: lambda.re,
            im: lambda.im,
        };
        // A repeated eigenvalue (defective or not) has no derivative.
        let separated = values
            .iter()
            .enumerate()
            .all(|(k, other)| k == j || (other - lambda).norm() > 1e-8 * scale);
        if !separated {
            return Err(repeated);
        }
        let (Some(v), Some(w)) = (
            eigenvector(&mc, lambda, scale),
            eigenvector(&mh, lambda.conj(), scale),
        ) else {
            return Err(repeated);
        };
        let denom = w.dotc(&v);
        if denom.norm() <= SIMPLE_EIGENVALUE_TOLERANCE {
            return Err(repeated);
        }
        for (i, dm) in derivatives.iter().enumerate() {
            let dmc: DMatrix<Complex<f64>> = dm.map(|x| Complex::new(x, 0.0));
            let dl = w.dotc(&(dmc * &v)) / denom;
            grad[(i, 2 * j)] = dl.re;
            grad[(i, 2 * j + 1)] = dl.im;
        }
    }
    Ok((values, grad))
}

// ---------------------------------------------------------------------------------------------
// The bound
// ---------------------------------------------------------------------------------------------

/// Settings of [`cramer_rao`].
#[derive(Debug, Clone, PartialEq)]
pub struct CrbConfig {
    /// Eigenvalues of the scaled, similarity-free information below `rank_tolerance · λ_max`
    /// span its null space (default [`RANK_TOLERANCE`]).
    pub rank_tolerance: f64,
    /// Largest relative component of an eigenvalue gradient in that null space for which the
    /// eigenvalue still counts as identifiable (default [`GRADIENT_TOLERANCE`]).
    pub gradient_tolerance: f64,
    /// Also bound the eigenvalues of the steady-state predictor's closed loop `A − K H`
    /// (default true; needs the stabilising DARE solution, an error otherwise).
    pub closed_loop: bool,
}

impl Default for CrbConfig {
    fn default() -> Self {
        Self {
            rank_tolerance: RANK_TOLERANCE,
            gradient_tolerance: GRADIENT_TOLERANCE,
            closed_loop: true,
        }
    }
}

/// The bound on the eigenvalues of one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct EigenBound {
    /// The true eigenvalues, in the order of `complex_eigenvalues` (a complex pair appears as
    /// two entries).
    pub eigenvalues: Vec<Complex<f64>>,
    /// Per eigenvalue, the bound on the covariance of `(Re λ̂, Im λ̂)` (`[2, 2]` each).
    pub covariances: Vec<DMatrix<f64>>,
    /// Per eigenvalue, `σ_λ = √tr` of its covariance: the bound on the root-mean-square of
    /// `|λ̂ − λ|` for an unbiased estimator.
    pub std_devs: Vec<f64>,
    /// `max_λ σ_λ`, to set beside the reports' eigen error `max |λ_true − λ_est|`.
    pub max_std: f64,
    /// The joint bound on `(Re λ_1, Im λ_1, Re λ_2, …)` (`[2n, 2n]`).
    pub joint_covariance: DMatrix<f64>,
}

/// Why the eigenvalues of a matrix have no bound: they move along directions the data do not
/// determine (beyond similarity).
#[derive(Debug, Clone, PartialEq)]
pub struct NotIdentifiable {
    /// The true eigenvalues.
    pub eigenvalues: Vec<Complex<f64>>,
    /// The eigenvalue with the largest component of its gradient in the null space.
    pub worst: Complex<f64>,
    /// That relative component, `‖P_N ∇g‖ / ‖∇g‖` in scaled coordinates (above the tolerance).
    pub gradient_in_null_space: f64,
    /// The null direction (parameter coordinates, unit norm) that moves `worst` most.
    pub direction: DVector<f64>,
}

/// The bound on the eigenvalues of one matrix, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum EigenCrb {
    /// The eigenvalues are identifiable: their bound.
    Bound(EigenBound),
    /// Some eigenvalue is not identifiable from this design.
    NotIdentifiable(NotIdentifiable),
}

impl EigenCrb {
    /// The bound, if there is one.
    pub fn bound(&self) -> Option<&EigenBound> {
        match self {
            Self::Bound(b) => Some(b),
            Self::NotIdentifiable(_) => None,
        }
    }
}

/// What [`cramer_rao`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct CramerRao {
    /// The expected Fisher information of the design.
    pub information: FisherInformation,
    /// `Cov_θ = D U S_⊥⁺ Uᵀ D` (`[D, D]`): `∇gᵀ Cov_θ ∇g` bounds the variance of any unbiased
    /// estimate of a similarity-invariant, identifiable `g(θ)`.
    pub parameter_covariance: DMatrix<f64>,
    /// Rank of the similarity tangent space (`n²` unless `(A, B, H, Q)` commutes with some
    /// transform).
    pub similarity_rank: usize,
    /// Largest eigenvalue of the scaled information along the similarity directions relative
    /// to the largest overall: the basis information carried by the known prior (0 for
    /// `x0 = 0`, `P0 = 0`).
    pub similarity_information: f64,
    /// Directions (parameter coordinates, unit columns, `[D, k]`) that the data do not
    /// determine beyond similarity, e.g. the over-parametrised part of `Q` when `p < n`.
    pub null_directions: DMatrix<f64>,
    /// The bound on `eig(A)`.
    pub open_loop: EigenCrb,
    /// The bound on `eig(A − K H)` (`None` unless [`CrbConfig::closed_loop`]).
    pub closed_loop: Option<EigenCrb>,
}

/// The Cramér–Rao bound on the eigenvalues of `A` (and, with `config.closed_loop`, of the
/// steady-state predictor's `A − K H`) at the true `system` for the design of `sequences`
/// (lengths, inputs, missing cells; see [`fisher_information`]).
pub fn cramer_rao(
    system: &LinearSystem,
    sequences: &[Sequence],
    config: &CrbConfig,
) -> Result<CramerRao> {
    let information = fisher_information(system, sequences)?;
    cramer_rao_from_information(system, information, config)
}

/// As [`cramer_rao`], from an information matrix already computed for `system`.
pub fn cramer_rao_from_information(
    system: &LinearSystem,
    information: FisherInformation,
    config: &CrbConfig,
) -> Result<CramerRao> {
    for (field, value) in [
        ("rank_tolerance", config.rank_tolerance),
        ("gradient_tolerance", config.gradient_tolerance),
    ] {
        if !(value.is_finite() && value > 0.0 && value < 1.0) {
            return Err(SysidError::Config {
                field,
                message: format!("must be in (0, 1), got {value}"),
            });
        }
    }
    let params = parameters(system);
    if params != information.parameters {
        return Err(SysidError::Data(
            "the information matrix belongs to a system of other dimensions".into(),
        ));
    }
    let dirs = directions(system, &params);
    let reduced = Reduced::new(
        &information.matrix,
        &similarity_tangents(system, &params),
        config.rank_tolerance,
    );

    let da: Vec<DMatrix<f64>> = dirs.iter().map(|g| g.a.clone()).collect();
    let (values, grad) = eigen_gradients(system.a(), &da, "A")?;
    let open_loop = reduced.eigen_crb(values, &grad, config.gradient_tolerance);
    let closed_loop = if config.closed_loop {
        let ss = system.steady_state()?;
        let dphi = closed_loop_derivatives(system, &ss, &dirs)?;
        let (values, grad) = eigen_gradients(&ss.closed_loop, &dphi, "A − K H")?;
        Some(reduced.eigen_crb(values, &grad, config.gradient_tolerance))
    } else {
        None
    };
    Ok(CramerRao {
        parameter_covariance: reduced.covariance.clone(),
        similarity_rank: reduced.similarity_rank,
        similarity_information: reduced.similarity_information,
        null_directions: reduced.null_directions(),
        information,
        open_loop,
        closed_loop,
    })
}

/// The information with the similarity directions eliminated, in scaled coordinates.
struct Reduced {
    /// `D_ii = 1/√I_ii` (1 where `I_ii = 0`).
    scale: DVector<f64>,
    /// `U`: orthonormal basis of the complement of the similarity directions (`[D, c]`).
    complement: DMatrix<f64>,
    /// Null space of `S_⊥` in the coordinates of `U` (`[c, k]`).
    null: DMatrix<f64>,
    /// `Cov_θ` (`[D, D]`).
    covariance: DMatrix<f64>,
    similarity_rank: usize,
    similarity_information: f64,
}

impl Reduced {
    fn new(info: &DMatrix<f64>, tangents: &DMatrix<f64>, rank_tolerance: f64) -> Self {
        let d = info.nrows();
        let scale = info
            .diagonal()
            .map(|v| if v > 0.0 { 1.0 / v.sqrt() } else { 1.0 });
        // φ = D⁻¹ θ: I_φ = D I D, tangents v_φ = D⁻¹ v
        let mut i_phi = DMatrix::from_fn(d, d, |i, j| info[(i, j)] * scale[i] * scale[j]);
        symmetrise(&mut i_phi);
        let t_phi = DMatrix::from_fn(d, tangents.ncols(), |i, j| tangents[(i, j)] / scale[i]);
        let lambda_max = i_phi.symmetric_eigenvalues().max().max(0.0);

        // U_V: orthonormal basis of span(v_φ); U: of its orthogonal complement.
        let svd = t_phi.svd(true, false);
        let smax = svd.singular_values.max();
        let u_v = match &svd.u {
            Some(u) if smax > 0.0 => {
                let keep: Vec<usize> = (0..svd.singular_values.len())
                    .filter(|&i| svd.singular_values[i] > SIMILARITY_RCOND * smax)
                    .collect();
                u.select_columns(&keep)
            }
            _ => DMatrix::zeros(d, 0),
        };
        let similarity_rank = u_v.ncols();
        let projector = DMatrix::identity(d, d) - &u_v * u_v.transpose();
        let eig = projector.symmetric_eigen();
        let keep: Vec<usize> = (0..d).filter(|&i| eig.eigenvalues[i] > 0.5).collect();
        let complement = eig.eigenvectors.select_columns(&keep);

        // S_⊥ = I_UU − I_UV I_VV⁺ I_VU
        let i_uu = complement.transpose() * &i_phi * &complement;
        let i_uv = complement.transpose() * &i_phi * &u_v;
        let mut i_vv = u_v.transpose() * &i_phi * &u_v;
        symmetrise(&mut i_vv);
        let vv = i_vv.symmetric_eigen();
        let vv_max = vv.eigenvalues.iter().copied().fold(0.0, f64::max);
        let similarity_information = if lambda_max > 0.0 {
            vv_max / lambda_max
        } else {
            0.0
        };
        let cut = BASIS_INFORMATION_RCOND * lambda_max;
        let inv = vv.eigenvalues.map(|l| if l > cut { 1.0 / l } else { 0.0 });
        let i_vv_pinv =
            &vv.eigenvectors * DMatrix::from_diagonal(&inv) * vv.eigenvectors.transpose();
        let mut schur = &i_uu - &i_uv * i_vv_pinv * i_uv.transpose();
        symmetrise(&mut schur);

        let se = schur.symmetric_eigen();
        let s_max = se.eigenvalues.iter().copied().fold(0.0, f64::max);
        let threshold = rank_tolerance * s_max;
        let c = complement.ncols();
        let range: Vec<usize> = (0..c)
            .filter(|&i| s_max > 0.0 && se.eigenvalues[i] > threshold)
            .collect();
        let nulls: Vec<usize> = (0..c).filter(|i| !range.contains(i)).collect();
        let inv =
            DVector::from_iterator(range.len(), range.iter().map(|&i| 1.0 / se.eigenvalues[i]));
        let w_r = se.eigenvectors.select_columns(&range);
        let cov_u = &w_r * DMatrix::from_diagonal(&inv) * w_r.transpose();
        let cov_phi = &complement * cov_u * complement.transpose();
        let mut covariance = DMatrix::from_fn(d, d, |i, j| cov_phi[(i, j)] * scale[i] * scale[j]);
        symmetrise(&mut covariance);
        Self {
            scale,
            null: se.eigenvectors.select_columns(&nulls),
            complement,
            covariance,
            similarity_rank,
            similarity_information,
        }
    }

    /// A null direction (coordinates of `U`) in parameter coordinates, unit norm.
    fn to_parameters(&self, w: &DVector<f64>) -> DVector<f64> {
        let phi = &self.complement * w;
        let theta = phi.component_mul(&self.scale);
        let norm = theta.norm();
        if norm > 0.0 { theta / norm } else { theta }
    }

    fn null_directions(&self) -> DMatrix<f64> {
        let cols: Vec<DVector<f64>> = self
            .null
            .column_iter()
            .map(|w| self.to_parameters(&w.into_owned()))
            .collect();
        if cols.is_empty() {
            DMatrix::zeros(self.scale.len(), 0)
        } else {
            DMatrix::from_columns(&cols)
        }
    }

    /// The bound for eigenvalues with gradients `grad` (`[D, 2n]`), or why there is none.
    fn eigen_crb(
        &self,
        eigenvalues: Vec<Complex<f64>>,
        grad: &DMatrix<f64>,
        gradient_tolerance: f64,
    ) -> EigenCrb {
        // In scaled coordinates g_φ = D g_θ; its part in the complement, g_U = Uᵀ g_φ.
        let g_phi = DMatrix::from_fn(grad.nrows(), grad.ncols(), |i, j| {
            grad[(i, j)] * self.scale[i]
        });
        let g_u = self.complement.transpose() * &g_phi;
        // Per eigenvalue, the relative part of [∇Re λ, ∇Im λ] in the null space (Frobenius
        // norms: the imaginary part of a real eigenvalue has a gradient of rounding size, which
        // must not be judged on its own).
        let mut worst: Option<(usize, f64, usize)> = None;
        for j in 0..eigenvalues.len() {
            let g = g_u.columns(2 * j, 2);
            let norm = g.norm();
            if norm == 0.0 || self.null.ncols() == 0 {
                continue;
            }
            let proj = self.null.transpose() * g;
            let rel = proj.norm() / norm;
            if rel > gradient_tolerance && worst.is_none_or(|(_, r, _)| rel > r) {
                let best = (0..proj.nrows())
                    .max_by(|&x, &y| proj.row(x).norm().total_cmp(&proj.row(y).norm()))
                    .unwrap_or(0);
                worst = Some((j, rel, best));
            }
        }
        if let Some((j, rel, best)) = worst {
            return EigenCrb::NotIdentifiable(NotIdentifiable {
                worst: eigenvalues[j],
                eigenvalues,
                gradient_in_null_space: rel,
                direction: self.to_parameters(&self.null.column(best).into_owned()),
            });
        }
        let mut joint = grad.transpose() * &self.covariance * grad;
        symmetrise(&mut joint);
        let covariances: Vec<DMatrix<f64>> = (0..eigenvalues.len())
            .map(|j| joint.view((2 * j, 2 * j), (2, 2)).into_owned())
            .collect();
        let std_devs: Vec<f64> = covariances
            .iter()
            .map(|c| c.trace().max(0.0).sqrt())
            .collect();
        let max_std = std_devs.iter().copied().fold(0.0, f64::max);
        EigenCrb::Bound(EigenBound {
            eigenvalues,
            covariances,
            std_devs,
            max_std,
            joint_covariance: joint,
        })
    }
}
