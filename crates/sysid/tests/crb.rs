//! The Cramér–Rao bound on eig(A) and eig(A − K H): the Fisher information against closed
//! forms and a direct Gaussian computation, invariance under similarity, the DARE derivative,
//! the unidentifiable cases, and a Monte-Carlo check that maximum likelihood (EM) attains it.

mod common;

use approx::assert_relative_eq;
use common::{data, eig, three_state};
use dynrec_sysid::{
    CrbConfig, EigenBound, EigenCrb, EmConfig, N4sidConfig, Parameter, closed_loop_sensitivities,
    cramer_rao, em, fisher_information, n4sid, parameters,
};
use dynrec_truth::{InputSignal, LinearSystem, Sequence, SimulationConfig, simulate};
use nalgebra::{Complex, DMatrix, DVector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A sequence of `len` rows: `inputs` (`[m, len]`), every measurement present (value 0: only
/// the design matters) except the `(component, row)` cells in `missing`.
fn design(p: usize, inputs: DMatrix<f64>, missing: &[(usize, usize)]) -> Sequence {
    let len = inputs.ncols();
    let mut measurements = DMatrix::zeros(p, len);
    for &(i, k) in missing {
        measurements[(i, k)] = f64::NAN;
    }
    Sequence {
        id: 0,
        t: (0..len).map(|k| k as f64).collect(),
        inputs,
        measurements,
        states: None,
    }
}

fn uniform_inputs(m: usize, len: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(m, len, |_, _| rng.random::<f64>() * 2.0 - 1.0)
}

fn scalar(a: f64, b: Option<f64>, q: f64, r: f64, x0: f64, p0: f64) -> LinearSystem {
    LinearSystem::new(
        DMatrix::from_element(1, 1, a),
        b.map(|b| DMatrix::from_element(1, 1, b)),
        DMatrix::from_element(1, 1, 1.0),
        DMatrix::from_element(1, 1, q),
        DMatrix::from_element(1, 1, r),
    )
    .expect("valid")
    .with_prior(
        DVector::from_element(1, x0),
        DMatrix::from_element(1, 1, p0),
    )
    .expect("valid prior")
}

fn index(system: &LinearSystem, param: Parameter) -> usize {
    parameters(system)
        .iter()
        .position(|&p| p == param)
        .expect("parameter exists")
}

fn bound(crb: &EigenCrb) -> &EigenBound {
    match crb {
        EigenCrb::Bound(b) => b,
        EigenCrb::NotIdentifiable(why) => panic!("not identifiable: {why:?}"),
    }
}

/// The damped rotation `ρ R(θ)` with `B = [1, 0.5]ᵀ`, `H = [1, 0]`, `Q = q I`, `R = r`, prior
/// `x0 = 0`, `P0 = p0 I`.
fn rotation(rho: f64, theta: f64, q: f64, r: f64, p0: f64) -> LinearSystem {
    let (c, s) = (rho * theta.cos(), rho * theta.sin());
    LinearSystem::new(
        DMatrix::from_row_slice(2, 2, &[c, -s, s, c]),
        Some(DMatrix::from_row_slice(2, 1, &[1.0, 0.5])),
        DMatrix::from_row_slice(1, 2, &[1.0, 0.0]),
        DMatrix::identity(2, 2) * q,
        DMatrix::identity(1, 1) * r,
    )
    .expect("valid")
    .with_prior(DVector::zeros(2), DMatrix::identity(2, 2) * p0)
    .expect("valid prior")
}

/// `(T A T⁻¹, T B, H T⁻¹, T Q Tᵀ, R)` with the prior `(T x0, T P0 Tᵀ)`: the same distribution
/// of the data.
fn transformed(system: &LinearSystem, t: &DMatrix<f64>) -> LinearSystem {
    let ti = t.clone().try_inverse().expect("invertible");
    let mut q = t * system.q() * t.transpose();
    let mut p0 = t * system.p0() * t.transpose();
    for m in [&mut q, &mut p0] {
        *m = (&*m + m.transpose()) * 0.5;
    }
    LinearSystem::new(
        t * system.a() * &ti,
        system.b().map(|b| t * b),
        system.h() * &ti,
        q,
        system.r().clone(),
    )
    .expect("valid")
    .with_prior(t * system.x0(), p0)
    .expect("valid prior")
}

// ---------------------------------------------------------------------------------------------
// The Fisher information against independent references
// ---------------------------------------------------------------------------------------------

/// Scalar AR(1) with input, observed without noise (`R = 1e-10 ≪ Q = 1`): the likelihood is
/// that of the states, `p(x_1) Π_k N(x_k; a x_{k-1} + b u_k, q)` with `x_1 ~ N(x0, P0)` not
/// depending on `(a, b)`, whose information is exactly (any length, no asymptotics)
/// `I_aa = Σ_{k≥2} E[x_{k-1}²]/q`, `I_ab = Σ E[x_{k-1}] u_k/q`, `I_bb = Σ u_k²/q`, with
/// `E[x_k] = a E[x_{k-1}] + b u_k` and `Var x_k = a² Var x_{k-1} + q` from `(x0, P0)`. Three
/// sequences of different lengths; the filter-based information agrees to 1e-7 relative (the
/// measurement noise perturbs it by `O(R/Q)`).
#[test]
fn noise_free_ar1_matches_state_likelihood() {
    let (a, b, q) = (0.8, 0.5, 1.0);
    let (x0, p0) = (0.3, 2.0);
    let system = scalar(a, Some(b), q, 1e-10, x0, p0);
    let seqs: Vec<Sequence> = [50usize, 120, 7]
        .iter()
        .enumerate()
        .map(|(s, &len)| design(1, uniform_inputs(1, len, 40 + s as u64) * 2.0, &[]))
        .collect();
    let (mut iaa, mut iab, mut ibb) = (0.0, 0.0, 0.0);
    for seq in &seqs {
        let (mut mean, mut var) = (x0, p0);
        for k in 1..seq.len() {
            let u = seq.inputs[(0, k)];
            iaa += (mean * mean + var) / q;
            iab += mean * u / q;
            ibb += u * u / q;
            mean = a * mean + b * u;
            var = a * a * var + q;
        }
    }
    let info = fisher_information(&system, &seqs)
        .expect("information")
        .matrix;
    let (ia, ib) = (
        index(&system, Parameter::A(0, 0)),
        index(&system, Parameter::B(0, 0)),
    );
    println!(
        "I_aa {} (closed form {iaa}), I_ab {} ({iab}), I_bb {} ({ibb})",
        info[(ia, ia)],
        info[(ia, ib)],
        info[(ib, ib)]
    );
    assert_relative_eq!(info[(ia, ia)], iaa, max_relative = 1e-7);
    assert_relative_eq!(info[(ia, ib)], iab, max_relative = 1e-7);
    assert_relative_eq!(info[(ib, ib)], ibb, max_relative = 1e-7);
}

/// The `(a, q, r)` block of the information of one stationary sequence (`P0 = q/(1−a²)`) of
/// the AR(1) plus white noise `z_k = x_k + v_k` (`a = 0.7`, `q = 1`, `r = 0.5`) against the
/// Whittle (stationary-spectrum) form
/// `I_ij ≈ (T/4π) ∫ ∂_i log f ∂_j log f dω`, `f(ω) = q/|1 − a e^{iω}|² + r`, which is exact up
/// to `O(1)` edge terms: the relative difference is below 2e-3 at `T = 2000`, below 2e-4 at
/// `T = 20000`, and shrinks ~10× between them (the `1/T` law).
#[test]
fn ar1_with_measurement_noise_matches_whittle() {
    let (a, q, r) = (0.7, 1.0, 0.5);
    let system = scalar(a, None, q, r, 0.0, q / (1.0 - a * a));
    let params = [
        index(&system, Parameter::A(0, 0)),
        index(&system, Parameter::Q(0, 0)),
        index(&system, Parameter::R(0, 0)),
    ];
    // (1/T) × the Whittle information: ½ mean over ω of the products of the log-derivatives.
    let grid = 4096;
    let mut whittle = DMatrix::<f64>::zeros(3, 3);
    for g in 0..grid {
        let w = -std::f64::consts::PI + 2.0 * std::f64::consts::PI * g as f64 / grid as f64;
        let den = 1.0 - 2.0 * a * w.cos() + a * a;
        let f = q / den + r;
        let d = [
            2.0 * q * (w.cos() - a) / (den * den) / f,
            1.0 / den / f,
            1.0 / f,
        ];
        for i in 0..3 {
            for j in 0..3 {
                whittle[(i, j)] += 0.5 * d[i] * d[j] / grid as f64;
            }
        }
    }
    let mut errors = Vec::new();
    for len in [2000usize, 20000] {
        let seq = design(1, DMatrix::zeros(0, len), &[]);
        let info = fisher_information(&system, &[seq])
            .expect("information")
            .matrix;
        let exact = DMatrix::from_fn(3, 3, |i, j| info[(params[i], params[j])]);
        let reference = &whittle * len as f64;
        let err = (&exact - &reference).amax() / reference.amax();
        println!("T = {len}: exact {exact} Whittle {reference} relative difference {err:e}");
        errors.push(err);
    }
    assert!(errors[0] < 2e-3, "{errors:?}");
    assert!(errors[1] < 2e-4, "{errors:?}");
    assert!(errors[1] < errors[0] / 5.0, "{errors:?}");
}

/// The matrices of a system, free of validation (for perturbing one entry).
#[derive(Clone)]
struct Mats {
    a: DMatrix<f64>,
    b: DMatrix<f64>,
    h: DMatrix<f64>,
    q: DMatrix<f64>,
    r: DMatrix<f64>,
    x0: DVector<f64>,
    p0: DMatrix<f64>,
}

impl Mats {
    fn of(s: &LinearSystem) -> Self {
        Self {
            a: s.a().clone(),
            b: s.b()
                .cloned()
                .unwrap_or_else(|| DMatrix::zeros(s.n_states(), 0)),
            h: s.h().clone(),
            q: s.q().clone(),
            r: s.r().clone(),
            x0: s.x0().clone(),
            p0: s.p0().clone(),
        }
    }

    fn moved(&self, param: Parameter, step: f64) -> Self {
        let mut m = self.clone();
        match param {
            Parameter::A(i, j) => m.a[(i, j)] += step,
            Parameter::B(i, j) => m.b[(i, j)] += step,
            Parameter::H(i, j) => m.h[(i, j)] += step,
            Parameter::Q(i, j) => {
                m.q[(i, j)] += step;
                if i != j {
                    m.q[(j, i)] += step;
                }
            }
            Parameter::R(i, j) => {
                m.r[(i, j)] += step;
                if i != j {
                    m.r[(j, i)] += step;
                }
            }
        }
        m
    }

    /// Mean and covariance of the present measurements of `seq`, stacked row by row, from the
    /// state moments `Cov(x_j, x_k) = Var(x_j) (A^{k-j})ᵀ` (`j ≤ k`).
    fn moments(&self, seq: &Sequence) -> (DVector<f64>, DMatrix<f64>) {
        let (n, len) = (self.a.nrows(), seq.len());
        let mut means = vec![self.x0.clone()];
        let mut vars = vec![self.p0.clone()];
        for k in 1..len {
            means.push(&self.a * &means[k - 1] + &self.b * seq.inputs.column(k));
            vars.push(&self.a * &vars[k - 1] * self.a.transpose() + &self.q);
        }
        let mut powers = vec![DMatrix::identity(n, n)];
        for k in 1..len {
            powers.push(&self.a * &powers[k - 1]);
        }
        let cells: Vec<(usize, usize)> = (0..len)
            .flat_map(|k| (0..seq.measurements.nrows()).map(move |i| (k, i)))
            .filter(|&(k, i)| !seq.measurements[(i, k)].is_nan())
            .collect();
        let mean = DVector::from_iterator(
            cells.len(),
            cells
                .iter()
                .map(|&(k, i)| (self.h.row(i) * &means[k])[(0, 0)]),
        );
        let cov = DMatrix::from_fn(cells.len(), cells.len(), |x, y| {
            let ((k, i), (l, j)) = (cells[x], cells[y]);
            let cross = if k <= l {
                &vars[k] * powers[l - k].transpose()
            } else {
                &powers[k - l] * &vars[l]
            };
            let noise = if k == l { self.r[(i, j)] } else { 0.0 };
            (self.h.row(i) * cross * self.h.row(j).transpose())[(0, 0)] + noise
        });
        (mean, cov)
    }
}

/// With several sequences of different lengths, inputs, a full `R`, a non-zero prior mean and
/// missing cells (single components and whole rows), the information from the filter's
/// sensitivity equations equals the textbook information of the stacked Gaussian observation
/// vector `z ~ N(μ(θ), Σ(θ))` of the present cells, `∂_iμᵀ Σ⁻¹ ∂_jμ + ½ tr(Σ⁻¹ ∂_iΣ Σ⁻¹ ∂_jΣ)`,
/// with `μ`, `Σ` written out from the state moments and differentiated by central differences:
/// every entry agrees to 1e-6 of `√(I_ii I_jj)`.
#[test]
fn missing_cells_match_direct_gaussian_information() {
    let system = LinearSystem::new(
        DMatrix::from_row_slice(2, 2, &[0.7, 0.3, -0.2, 0.8]),
        Some(DMatrix::from_row_slice(2, 1, &[1.0, -0.4])),
        DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.2, 1.0]),
        DMatrix::from_row_slice(2, 2, &[0.05, 0.01, 0.01, 0.03]),
        DMatrix::from_row_slice(2, 2, &[0.02, 0.006, 0.006, 0.04]),
    )
    .expect("valid")
    .with_prior(
        DVector::from_row_slice(&[0.5, -0.2]),
        DMatrix::from_row_slice(2, 2, &[0.1, 0.02, 0.02, 0.2]),
    )
    .expect("valid prior");
    let seqs = vec![
        design(
            2,
            uniform_inputs(1, 12, 1),
            &[(0, 2), (1, 5), (0, 7), (1, 7)],
        ),
        design(2, uniform_inputs(1, 9, 2), &[]),
        design(
            2,
            uniform_inputs(1, 15, 3),
            &[(0, 0), (1, 0), (1, 3), (0, 10)],
        ),
    ];
    let info = fisher_information(&system, &seqs).expect("information");
    assert_eq!(info.patterns, 3);
    let params = parameters(&system);
    let base = Mats::of(&system);
    let step = 1e-6;
    let mut reference = DMatrix::<f64>::zeros(params.len(), params.len());
    for seq in &seqs {
        let (_, cov) = base.moments(seq);
        let cov_inv = cov.try_inverse().expect("invertible");
        let derivs: Vec<(DVector<f64>, DMatrix<f64>)> = params
            .iter()
            .map(|&p| {
                let (mp, cp) = base.moved(p, step).moments(seq);
                let (mm, cm) = base.moved(p, -step).moments(seq);
                ((mp - mm) / (2.0 * step), (cp - cm) / (2.0 * step))
            })
            .collect();
        for i in 0..params.len() {
            for j in 0..params.len() {
                let (mi, ci) = &derivs[i];
                let (mj, cj) = &derivs[j];
                reference[(i, j)] += (mi.transpose() * &cov_inv * mj)[(0, 0)]
                    + 0.5 * (&cov_inv * ci * &cov_inv * cj).trace();
            }
        }
    }
    let mut worst: f64 = 0.0;
    for i in 0..params.len() {
        for j in 0..params.len() {
            let scale = (info.matrix[(i, i)] * info.matrix[(j, j)]).sqrt();
            worst = worst.max((info.matrix[(i, j)] - reference[(i, j)]).abs() / scale);
        }
    }
    println!("largest difference relative to √(I_ii I_jj): {worst:e}");
    assert!(worst < 1e-6, "{worst}");
}

// ---------------------------------------------------------------------------------------------
// Invariance, the closed loop
// ---------------------------------------------------------------------------------------------

/// `σ_λ` of each eigenvalue of `crb`, in the order of `eigenvalues` (matched by nearest).
fn std_devs_at(b: &EigenBound, eigenvalues: &[Complex<f64>]) -> Vec<f64> {
    eigenvalues
        .iter()
        .map(|l| {
            let j = (0..b.eigenvalues.len())
                .min_by(|&x, &y| {
                    (b.eigenvalues[x] - l)
                        .norm()
                        .total_cmp(&(b.eigenvalues[y] - l).norm())
                })
                .expect("non-empty");
            b.std_devs[j]
        })
        .collect()
}

/// The bound is a property of the distribution of the data, not of the state basis: for the
/// three-state system and its image under a random similarity `T` (prior moved along,
/// `T x0`, `T P0 Tᵀ`), the bounds on eig(A) and eig(A − K H) agree to 1e-6 relative, both with
/// `x0 = 0`, `P0 = 0` (the likelihood exactly invariant, no basis information in the
/// prior) and with `P0 = 0.1 I` (the prior carries a little basis information, which the
/// Schur complement keeps consistently).
#[test]
fn similarity_transform_leaves_bound_unchanged() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let t = DMatrix::identity(3, 3) + DMatrix::from_fn(3, 3, |_, _| rng.random::<f64>() - 0.5);
    for p0 in [0.0, 0.1] {
        let system = three_state()
            .with_prior(DVector::zeros(3), DMatrix::identity(3, 3) * p0)
            .expect("valid prior");
        let other = transformed(&system, &t);
        let seqs = data(&system, 4, 100, 12);
        let (c1, c2) = (
            cramer_rao(&system, &seqs, &CrbConfig::default()).expect("bound"),
            cramer_rao(&other, &seqs, &CrbConfig::default()).expect("bound"),
        );
        println!(
            "P0 = {p0}: basis information {:e} / {:e}, null directions {} / {}",
            c1.similarity_information,
            c2.similarity_information,
            c1.null_directions.ncols(),
            c2.null_directions.ncols()
        );
        if p0 == 0.0 {
            assert!(c1.similarity_information < 1e-12);
        }
        let closed1 = c1.closed_loop.as_ref().expect("closed loop");
        let closed2 = c2.closed_loop.as_ref().expect("closed loop");
        for (b1, b2) in [
            (bound(&c1.open_loop), bound(&c2.open_loop)),
            (bound(closed1), bound(closed2)),
        ] {
            let s2 = std_devs_at(b2, &b1.eigenvalues);
            println!("  σ {:?} vs {:?}", b1.std_devs, s2);
            for (x, y) in b1.std_devs.iter().zip(&s2) {
                assert_relative_eq!(*x, *y, max_relative = 1e-6);
            }
        }
    }
}

/// The implicit derivative of the DARE's closed loop `A − K H` equals central differences of
/// `LinearSystem::steady_state` for every parameter of the three-state system, to 1e-5 of the
/// derivative's largest entry.
#[test]
fn closed_loop_derivative_matches_central_differences() {
    let system = three_state();
    let (ss, derivs) = closed_loop_sensitivities(&system).expect("steady state");
    let base = Mats::of(&system);
    let build = |m: &Mats| {
        LinearSystem::new(
            m.a.clone(),
            Some(m.b.clone()),
            m.h.clone(),
            m.q.clone(),
            m.r.clone(),
        )
        .expect("valid")
    };
    let mut worst: f64 = 0.0;
    for (param, analytic) in parameters(&system).into_iter().zip(&derivs) {
        let step = match param {
            Parameter::Q(..) | Parameter::R(..) => 1e-7,
            _ => 1e-5,
        };
        let plus = build(&base.moved(param, step)).steady_state().expect("ss");
        let minus = build(&base.moved(param, -step)).steady_state().expect("ss");
        let numeric = (plus.closed_loop - minus.closed_loop) / (2.0 * step);
        let err = (&numeric - analytic).amax() / analytic.amax().max(1e-12);
        worst = worst.max(err);
        println!(
            "{param}: |∂Φ| {:.3e}, relative difference {err:.1e}",
            analytic.amax()
        );
    }
    println!("closed loop {}", ss.closed_loop);
    assert!(worst < 1e-5, "{worst}");
}

// ---------------------------------------------------------------------------------------------
// Unidentifiable designs
// ---------------------------------------------------------------------------------------------

/// A system with an unobservable mode (`A = diag(0.9, 0.5)`, `H = [1, 0]`, seen in a skewed
/// basis so that no entry is structurally zero): the eigenvalue 0.5 does not act on the data,
/// so eig(A) and eig(A − K H) are reported as not identifiable, naming 0.5, instead of a bound.
#[test]
fn unobservable_mode_is_not_identifiable() {
    let base = LinearSystem::new(
        DMatrix::from_row_slice(2, 2, &[0.9, 0.0, 0.0, 0.5]),
        Some(DMatrix::from_row_slice(2, 1, &[1.0, 1.0])),
        DMatrix::from_row_slice(1, 2, &[1.0, 0.0]),
        DMatrix::identity(2, 2) * 1e-2,
        DMatrix::identity(1, 1) * 1e-2,
    )
    .expect("valid");
    let t = DMatrix::from_row_slice(2, 2, &[1.0, 0.4, -0.3, 1.2]);
    let system = transformed(&base, &t);
    let seqs = data(&system, 4, 100, 13);
    let crb = cramer_rao(&system, &seqs, &CrbConfig::default()).expect("runs");
    println!(
        "null directions {}, open loop {:?}",
        crb.null_directions.ncols(),
        crb.open_loop
    );
    for outcome in [&crb.open_loop, crb.closed_loop.as_ref().expect("closed")] {
        let EigenCrb::NotIdentifiable(why) = outcome else {
            panic!("expected not identifiable, got {outcome:?}");
        };
        assert_relative_eq!(why.worst.re, 0.5, epsilon = 1e-9);
        assert!(why.gradient_in_null_space > 0.5, "{why:?}");
    }
}

/// An unexcited system (no process noise, `x0 = 0`, `P0 = 0`, zero inputs) has states ≡ 0: the
/// data are pure measurement noise and say nothing about `A`, so eig(A) is not identifiable.
/// The same system driven by white inputs has a bound.
#[test]
fn unexcited_system_is_not_identifiable() {
    let system = LinearSystem::new(
        DMatrix::from_row_slice(2, 2, &[0.8, -0.3, 0.3, 0.8]),
        Some(DMatrix::from_row_slice(2, 1, &[1.0, 0.5])),
        DMatrix::from_row_slice(1, 2, &[1.0, 0.0]),
        DMatrix::zeros(2, 2),
        DMatrix::identity(1, 1) * 1e-2,
    )
    .expect("valid")
    .with_prior(DVector::zeros(2), DMatrix::zeros(2, 2))
    .expect("valid prior");
    let silent = vec![design(1, DMatrix::zeros(1, 200), &[]); 2];
    let crb = cramer_rao(&system, &silent, &CrbConfig::default()).expect("runs");
    println!("zero input: {:?}", crb.open_loop);
    assert!(matches!(crb.open_loop, EigenCrb::NotIdentifiable(_)));
    let driven = vec![design(1, uniform_inputs(1, 200, 5), &[]); 2];
    let crb = cramer_rao(&system, &driven, &CrbConfig::default()).expect("runs");
    println!("white input: max σ {:e}", bound(&crb.open_loop).max_std);
    assert!(crb.open_loop.bound().is_some());
}

// ---------------------------------------------------------------------------------------------
// The rotation experiment's design
// ---------------------------------------------------------------------------------------------

/// The `rotation` experiment's damped rotation (`A = 0.95 R(0.3)`, `B = [1, 0.5]ᵀ`,
/// `H = [1, 0]`, `Q = 1e-5 I`, `R = 2.5e-3`, prior `x0 = 0`, `P0 = 1e-4 I`) on its design
/// (64 sequences × 200 rows of unit white input): eig(A) is identifiable, with a bound below
/// the ~6e-5 eigen error the simulation-mode RNN reaches there. With one output and two states
/// a full `Q` is over-parametrised: exactly one null direction, lying (≥ 90 % of its squared
/// norm) in `Q`, which moves neither eigenvalue set. The experiment's second system (the same
/// rotation with a real mode 0.7, `B = [1, 0.5, 1]ᵀ`, `H = [1, 0, 1]`) is identifiable too.
#[test]
fn rotation_experiment_bound() {
    let system = rotation(0.95, 0.3, 1e-5, 2.5e-3, 1e-4);
    let seqs = data(&system, 64, 200, 1);
    let start = std::time::Instant::now();
    let crb = cramer_rao(&system, &seqs, &CrbConfig::default()).expect("bound");
    let open = bound(&crb.open_loop);
    let closed = bound(crb.closed_loop.as_ref().expect("closed loop"));
    println!(
        "{:?}: eig(A) {:?}\n  σ {:?}, cov {}\neig(A − K H) {:?}\n  σ {:?}\nbasis information \
         {:e}, null directions {}",
        start.elapsed(),
        open.eigenvalues,
        open.std_devs,
        open.covariances[0],
        closed.eigenvalues,
        closed.std_devs,
        crb.similarity_information,
        crb.null_directions
    );
    assert!(
        open.max_std < 6e-5 && open.max_std > 1e-6,
        "{}",
        open.max_std
    );
    assert_eq!(crb.null_directions.ncols(), 1);
    let q_weight: f64 = crb
        .information
        .parameters
        .iter()
        .zip(crb.null_directions.column(0).iter())
        .filter(|(p, _)| matches!(p, Parameter::Q(..)))
        .map(|(_, v)| v * v)
        .sum();
    assert!(q_weight > 0.9, "{q_weight}");

    let (c, s) = (0.95 * 0.3f64.cos(), 0.95 * 0.3f64.sin());
    let with_real = LinearSystem::new(
        DMatrix::from_row_slice(3, 3, &[c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 0.7]),
        Some(DMatrix::from_row_slice(3, 1, &[1.0, 0.5, 1.0])),
        DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 1.0]),
        DMatrix::identity(3, 3) * 1e-5,
        DMatrix::identity(1, 1) * 2.5e-3,
    )
    .expect("valid")
    .with_prior(DVector::zeros(3), DMatrix::identity(3, 3) * 1e-4)
    .expect("valid prior");
    let seqs = data(&with_real, 64, 200, 1);
    let crb = cramer_rao(&with_real, &seqs, &CrbConfig::default()).expect("bound");
    let open = bound(&crb.open_loop);
    println!(
        "with the real mode: eig(A) {:?}\n  σ {:?}; eig(A − K H) σ {:?}; null directions {}",
        open.eigenvalues,
        open.std_devs,
        bound(crb.closed_loop.as_ref().expect("closed loop")).std_devs,
        crb.null_directions.ncols()
    );
}

// ---------------------------------------------------------------------------------------------
// Monte Carlo: maximum likelihood attains the bound
// ---------------------------------------------------------------------------------------------

/// `x_k = A x_{k-1} + B u_k` from `x = 0` (the prior mean), the noise-free response to `u`.
fn noise_free_response(system: &LinearSystem, inputs: &DMatrix<f64>) -> DMatrix<f64> {
    let n = system.n_states();
    let mut x = DVector::zeros(n);
    let mut z = DMatrix::zeros(system.n_outputs(), inputs.ncols());
    for k in 0..inputs.ncols() {
        if k > 0 {
            x = system.transition(&x, &inputs.column(k).into_owned());
        }
        z.set_column(k, &(system.h() * &x));
    }
    z
}

/// The eigenvalue of `a` with positive imaginary part (the systems here have one complex pair).
fn upper(a: &DMatrix<f64>) -> Complex<f64> {
    eig(a)
        .into_iter()
        .max_by(|x, y| x.im.total_cmp(&y.im))
        .expect("two eigenvalues")
}

/// Mean, `Cov(Re, Im)` and mean squared error about `truth` of complex estimates, and the
/// standard error of that mean squared error.
fn summary(est: &[Complex<f64>], truth: Complex<f64>) -> (Complex<f64>, DMatrix<f64>, f64, f64) {
    let count = est.len() as f64;
    let mean = est.iter().sum::<Complex<f64>>() / count;
    let mut cov = DMatrix::zeros(2, 2);
    for e in est {
        let d = [e.re - mean.re, e.im - mean.im];
        for i in 0..2 {
            for j in 0..2 {
                cov[(i, j)] += d[i] * d[j] / (count - 1.0);
            }
        }
    }
    let sq: Vec<f64> = est.iter().map(|e| (e - truth).norm_sqr()).collect();
    let mse = sq.iter().sum::<f64>() / count;
    let sd = (sq.iter().map(|s| (s - mse).powi(2)).sum::<f64>() / (count - 1.0)).sqrt();
    (mean, cov, mse, sd / count.sqrt())
}

/// Maximum likelihood attains the bound. The design: the damped rotation `0.9 R(0.4)`
/// (`B = [1, 0.5]ᵀ`, `H = [1, 0]`, `Q = 0.01 I`, `R = 0.01`, `x0 = 0`, `P0 = 0.01 I`), 4 fixed
/// sequences × 100 rows of unit white input; 256 data sets differ only in the noise (the
/// response to the fixed inputs plus a seeded simulation of the noise alone, by linearity).
/// On each, EM (prior known, as in the bound) from the truth runs in chunks of 25 steps until a
/// chunk moves the eigenvalue by less than 1e-3 σ (at most 2000 steps; EM's own log-likelihood
/// tolerance is no use here: with one output a full `Q` is over-parametrised and EM creeps
/// along that flat direction for tens of thousands of steps without moving the eigenvalues).
///
/// Checks: the empirical `E|λ̂ − E λ̂|²` of EM's eigenvalue is within ±25 % of `σ²` of the
/// bound, and neither EM's nor N4SID's mean squared error falls below `σ²` by more than three
/// Monte-Carlo standard errors.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "Monte Carlo, several seconds in release: run with --release"
)]
fn maximum_likelihood_attains_bound_monte_carlo() {
    let start = std::time::Instant::now();
    let truth = rotation(0.9, 0.4, 0.01, 0.01, 0.01);
    let inputs: Vec<DMatrix<f64>> = data(&truth, 4, 100, 77)
        .into_iter()
        .map(|s| s.inputs)
        .collect();
    let designs: Vec<Sequence> = inputs.iter().map(|u| design(1, u.clone(), &[])).collect();
    let crb = cramer_rao(&truth, &designs, &CrbConfig::default()).expect("bound");
    let open = bound(&crb.open_loop);
    let lambda = upper(truth.a());
    let j = (0..2)
        .min_by(|&x, &y| {
            (open.eigenvalues[x] - lambda)
                .norm()
                .total_cmp(&(open.eigenvalues[y] - lambda).norm())
        })
        .expect("two");
    let sigma = open.std_devs[j];
    let responses: Vec<DMatrix<f64>> = inputs
        .iter()
        .map(|u| noise_free_response(&truth, u))
        .collect();

    let replicates = 256;
    let (mut ml, mut subspace, mut iterations) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..replicates {
        let noise = simulate(
            &truth,
            &SimulationConfig {
                sequences: inputs.len(),
                steps: 100,
                input: InputSignal::Zero,
                missing_fraction: 0.0,
                seed: 10_000 + rep,
            },
        )
        .expect("simulates");
        let seqs: Vec<Sequence> = noise
            .sequences
            .into_iter()
            .zip(inputs.iter().zip(&responses))
            .map(|(mut s, (u, z))| {
                s.inputs = u.clone();
                s.measurements += z;
                s
            })
            .collect();
        let config = EmConfig {
            max_iterations: 25,
            tolerance: 0.0,
            learn_prior: false,
        };
        let mut system = truth.clone();
        let mut steps = 0;
        loop {
            let next = em(&seqs, &system, &config).expect("EM runs").system;
            steps += config.max_iterations;
            let moved = (upper(next.a()) - upper(system.a())).norm();
            system = next;
            if moved < 1e-3 * sigma || steps >= 2000 {
                break;
            }
        }
        ml.push(upper(system.a()));
        iterations.push(steps);
        let fit = n4sid(
            &seqs,
            &N4sidConfig {
                order: Some(2),
                ..Default::default()
            },
        )
        .expect("N4SID");
        subspace.push(upper(fit.system.a()));
    }
    let (mean, cov, mse, mse_se) = summary(&ml, lambda);
    let (_, _, n4sid_mse, n4sid_se) = summary(&subspace, lambda);
    let ratio = cov.trace() / (sigma * sigma);
    println!(
        "bound: σ {sigma:.4e}, Cov(Re, Im) {}\nEM ({replicates} data sets, {:.0} steps on \
         average, at most {}): bias {:.2e}, Cov {}, variance / bound {ratio:.3}, MSE / bound \
         {:.3} ± {:.3}\nN4SID: MSE / bound {:.3} ± {:.3}\n{:?} in all",
        open.covariances[j],
        iterations.iter().sum::<usize>() as f64 / replicates as f64,
        iterations.iter().max().expect("some"),
        (mean - lambda).norm(),
        cov,
        mse / (sigma * sigma),
        mse_se / (sigma * sigma),
        n4sid_mse / (sigma * sigma),
        n4sid_se / (sigma * sigma),
        start.elapsed()
    );
    assert!((0.75..=1.25).contains(&ratio), "variance / bound = {ratio}");
    assert!(mse >= sigma * sigma - 3.0 * mse_se, "EM beats the bound");
    assert!(
        n4sid_mse >= sigma * sigma - 3.0 * n4sid_se,
        "N4SID beats the bound"
    );
}
