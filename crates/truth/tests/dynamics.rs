//! The `Dynamics` trait, the library of continuous-time systems and their RK4 discretisation.

#![allow(clippy::unwrap_used)] // test helpers: a failure is the test failing
mod common;

use approx::assert_relative_eq;
use dynrec_truth::continuous::{ContinuousDynamics, Observed, VectorField};
use dynrec_truth::dynamics::{check_jacobians, jacobian_error};
use dynrec_truth::library::{Duffing, Lorenz, Pendulum, VanDerPol};
use dynrec_truth::{
    Dynamics, Equilibrium, InputSignal, LinearSystem, Noise, Rk4, SimulationConfig, TruthError,
    simulate,
};
use nalgebra::{Complex, DMatrix, DVector, dmatrix, dvector};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Every library system, continuous-time, with a typical state scale for test points.
fn library() -> Vec<(Box<dyn ContinuousDynamics>, f64)> {
    vec![
        (
            Box::new(Observed::first_state(
                Pendulum::new(9.81, 1.0, 1.0, 0.5).unwrap(),
            )),
            2.0,
        ),
        (
            Box::new(Observed::first_state(VanDerPol::new(1.5).unwrap())),
            2.0,
        ),
        (
            Box::new(Observed::first_state(Duffing::new(0.3, -1.0, 1.0).unwrap())),
            1.5,
        ),
        (
            Box::new(Observed::first_state(
                Lorenz::new(10.0, 28.0, 8.0 / 3.0).unwrap(),
            )),
            15.0,
        ),
    ]
}

/// A boxed continuous model as a generic one (Rk4 takes it by value).
#[derive(Debug)]
struct Boxed(Box<dyn ContinuousDynamics>);

impl VectorField for Boxed {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn n_states(&self) -> usize {
        self.0.n_states()
    }
    fn n_inputs(&self) -> usize {
        self.0.n_inputs()
    }
    fn vector_field(&self, x: &DVector<f64>, u: &DVector<f64>) -> DVector<f64> {
        self.0.vector_field(x, u)
    }
    fn state_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        self.0.state_jacobian(x, u)
    }
    fn input_jacobian(&self, x: &DVector<f64>, u: &DVector<f64>) -> DMatrix<f64> {
        self.0.input_jacobian(x, u)
    }
    fn equilibria(&self) -> Vec<Equilibrium> {
        self.0.equilibria()
    }
}

impl ContinuousDynamics for Boxed {
    fn n_outputs(&self) -> usize {
        self.0.n_outputs()
    }
    fn measure(&self, x: &DVector<f64>) -> DVector<f64> {
        self.0.measure(x)
    }
    fn measurement_jacobian(&self, x: &DVector<f64>) -> DMatrix<f64> {
        self.0.measurement_jacobian(x)
    }
}

fn discretise(model: Box<dyn ContinuousDynamics>, dt: f64, substeps: usize) -> Rk4<Boxed> {
    let (n, p) = (model.n_states(), model.n_outputs());
    let noise = Noise::isotropic(n, p, 1e-4, 1e-2).unwrap();
    Rk4::new(Boxed(model), dt, substeps, noise).unwrap()
}

fn random_point(rng: &mut Xoshiro256PlusPlus, n: usize, scale: f64) -> DVector<f64> {
    DVector::from_fn(n, |_, _| scale * (2.0 * rng.random::<f64>() - 1.0))
}

/// The analytic Jacobians of every library system agree with central finite differences, in
/// continuous time (∂g/∂x, ∂g/∂u, ∂h/∂x) and for the RK4 map (∂Φ/∂x, ∂Φ/∂u, exact by the
/// variational equations), at random points and inputs.
#[test]
fn analytic_jacobians_match_finite_differences() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut worst: f64 = 0.0;
    for (model, scale) in library() {
        let (n, m) = (model.n_states(), model.n_inputs());
        for _ in 0..5 {
            let x = random_point(&mut rng, n, scale);
            let u = random_point(&mut rng, m, 1.0);
            let continuous = [
                jacobian_error(
                    &model.state_jacobian(&x, &u),
                    |x| model.vector_field(x, &u),
                    &x,
                ),
                jacobian_error(
                    &model.input_jacobian(&x, &u),
                    |u| model.vector_field(&x, u),
                    &u,
                ),
                jacobian_error(&model.measurement_jacobian(&x), |x| model.measure(x), &x),
            ];
            for e in continuous {
                assert!(
                    e < 1e-8,
                    "{}: continuous Jacobian error {e:e}",
                    model.name()
                );
                worst = worst.max(e);
            }
        }
    }
    for (model, scale) in library() {
        let name = model.name().to_string();
        let dt = if name == "lorenz" { 0.01 } else { 0.05 };
        for substeps in [1, 3] {
            let system = discretise(library_model(&name), dt, substeps);
            for _ in 0..5 {
                let x = random_point(&mut rng, system.n_states(), scale);
                let u = random_point(&mut rng, system.n_inputs(), 1.0);
                let e = check_jacobians(&system, &x, &u).max();
                assert!(
                    e < 1e-8,
                    "{name} (substeps {substeps}): RK4 Jacobian error {e:e}"
                );
                worst = worst.max(e);
            }
        }
    }
    println!("largest Jacobian error against finite differences: {worst:e}");
}

fn library_model(name: &str) -> Box<dyn ContinuousDynamics> {
    library()
        .into_iter()
        .find(|(m, _)| m.name() == name)
        .map(|(m, _)| m)
        .unwrap()
}

/// The eigenvalues `μ` of a matrix matched to targets by nearest neighbour (all distinct here).
fn max_eigen_error(a: &DMatrix<f64>, targets: &[Complex<f64>]) -> f64 {
    let mu: Vec<Complex<f64>> = a.complex_eigenvalues().iter().copied().collect();
    targets
        .iter()
        .map(|t| {
            mu.iter()
                .map(|m| (m - t).norm())
                .fold(f64::INFINITY, f64::min)
        })
        .fold(0.0, f64::max)
}

/// At every equilibrium, eig(∂Φ/∂x) of the RK4 map agrees with exp(λ dt) for the eigenvalues λ
/// of the continuous Jacobian: the stability function `R(z) = Σ_{j≤4} z^j/j!` differs from e^z
/// by `z⁵/120 + O(z⁶)`, so the error is at most about `(|λ| dt)⁵ / 120 · e^{Re λ dt}` and
/// shrinks 32-fold when dt halves (checked as a ratio between 25 and 40).
#[test]
fn discrete_eigenvalues_are_exp_of_continuous_ones_to_fifth_order() {
    for (model, _) in library() {
        let name = model.name().to_string();
        for eq in model.equilibria() {
            let n = model.n_states();
            let zero = DVector::zeros(model.n_inputs());
            let lambda: Vec<Complex<f64>> = model
                .state_jacobian(&eq.state, &zero)
                .complex_eigenvalues()
                .iter()
                .copied()
                .collect();
            let fastest = lambda.iter().map(|l| l.norm()).fold(0.0, f64::max);
            let dt = 0.2 / fastest;
            let mut errors = Vec::new();
            for step in [dt, dt / 2.0] {
                let system = discretise(library_model(&name), step, 1);
                let a = system.transition_jacobian(&eq.state, &zero);
                assert_eq!(a.shape(), (n, n));
                let targets: Vec<Complex<f64>> = lambda.iter().map(|l| (l * step).exp()).collect();
                let error = max_eigen_error(&a, &targets);
                let bound = lambda
                    .iter()
                    .map(|l| (l.norm() * step).powi(5) / 120.0 * (l.re * step).exp())
                    .fold(0.0, f64::max);
                assert!(
                    error <= 1.5 * bound,
                    "{name}/{}: dt {step}: error {error:e} > 1.5 × {bound:e}",
                    eq.name
                );
                errors.push(error);
            }
            let ratio = errors[0] / errors[1];
            println!(
                "{name}/{}: dt = {dt:.4}: eigen error {:.3e}, dt/2: {:.3e}, ratio {ratio:.1}",
                eq.name, errors[0], errors[1]
            );
            assert!(
                (25.0..40.0).contains(&ratio),
                "{name}/{}: error ratio {ratio} is not ≈ 32",
                eq.name
            );
        }
    }
}

/// The continuous model of a linear ODE `ẋ = M x + b u`, with exact solution `exp(M t) x0`.
#[derive(Debug)]
struct LinearOde {
    m: DMatrix<f64>,
}

impl VectorField for LinearOde {
    fn name(&self) -> &str {
        "linear_ode"
    }
    fn n_states(&self) -> usize {
        2
    }
    fn n_inputs(&self) -> usize {
        0
    }
    fn vector_field(&self, x: &DVector<f64>, _u: &DVector<f64>) -> DVector<f64> {
        &self.m * x
    }
    fn equilibria(&self) -> Vec<Equilibrium> {
        vec![Equilibrium::new("origin", DVector::zeros(2))]
    }
}

impl ContinuousDynamics for LinearOde {
    fn n_outputs(&self) -> usize {
        1
    }
    fn measure(&self, x: &DVector<f64>) -> DVector<f64> {
        dvector![x[0]]
    }
}

/// RK4 is fourth order: integrating a damped oscillator `ẋ = M x` to t = 4 the global error
/// against the matrix exponential falls 16-fold when dt halves (ratio in [14, 18]); the same
/// holds for the nonlinear pendulum (θ₀ = 1 rad, dt = 0.05 vs 0.025) against a 64× finer
/// solution. The finite-difference
/// defaults of `VectorField` and `ContinuousDynamics` make this test model's Jacobians too.
#[test]
fn rk4_has_order_four() {
    let m = dmatrix![-0.1, 1.0; -4.0, -0.1];
    let x0 = dvector![1.0, 0.0];
    let t_end = 4.0;
    let exact = (&m * t_end).exp() * &x0;
    let error = |dt: f64| {
        let noise = Noise::isotropic(2, 1, 0.0, 1.0).unwrap();
        let system = Rk4::new(LinearOde { m: m.clone() }, dt, 1, noise).unwrap();
        let steps = (t_end / dt).round() as usize;
        let mut x = x0.clone();
        for _ in 0..steps {
            x = system.transition(&x, &DVector::zeros(0));
        }
        (x - &exact).norm()
    };
    let (e1, e2) = (error(0.1), error(0.05));
    println!(
        "linear ODE: error(0.1) = {e1:.3e}, error(0.05) = {e2:.3e}, ratio {:.2}",
        e1 / e2
    );
    assert!((14.0..18.0).contains(&(e1 / e2)));

    let pendulum = |dt: f64, substeps: usize| {
        let model = Pendulum::new(9.81, 1.0, 1.0, 0.2).unwrap();
        let noise = Noise::isotropic(2, 1, 0.0, 1.0).unwrap();
        let system = Rk4::new(Observed::first_state(model), dt, substeps, noise).unwrap();
        let mut x = dvector![1.0, 0.0];
        for _ in 0..(t_end / dt).round() as usize {
            x = system.transition(&x, &dvector![0.0]);
        }
        x
    };
    let reference = pendulum(0.1, 64);
    let (p1, p2) = (
        (pendulum(0.05, 1) - &reference).norm(),
        (pendulum(0.025, 1) - &reference).norm(),
    );
    println!(
        "pendulum: error(0.05) = {p1:.3e}, error(0.025) = {p2:.3e}, ratio {:.2}",
        p1 / p2
    );
    assert!((14.0..18.0).contains(&(p1 / p2)));
}

/// Every named equilibrium is a fixed point of the RK4 map (`Φ(x*, 0) = x*` to rounding), and
/// its linearisation's A is the map's Jacobian there; a point that is not an equilibrium is
/// refused by name.
#[test]
fn equilibria_are_fixed_points_and_linearise() {
    for (model, _) in library() {
        let name = model.name().to_string();
        let system = discretise(library_model(&name), 0.05, 2);
        let zero = DVector::zeros(system.n_inputs());
        for eq in system.equilibria() {
            let residual = (system.transition(&eq.state, &zero) - &eq.state).amax();
            assert!(residual <= 1e-12, "{name}/{}: {residual:e}", eq.name);
            let linear = system.linearise(&eq).unwrap();
            assert_eq!(linear.a(), &system.transition_jacobian(&eq.state, &zero));
            assert_eq!(linear.h(), &system.measurement_jacobian(&eq.state));
            assert_eq!(linear.q(), system.noise().q());
            assert_relative_eq!(
                linear.x0().clone(),
                system.noise().x0() - &eq.state,
                epsilon = 1e-15
            );
        }
        let off = Equilibrium::new("nowhere", DVector::from_element(system.n_states(), 0.3));
        match system.linearise(&off) {
            Err(TruthError::NotEquilibrium { name, .. }) => assert_eq!(name, "nowhere"),
            other => panic!("{name}: expected NotEquilibrium, got {other:?}"),
        }
    }
}

/// The equilibria have the stability the theory says: the pendulum's bottom is stable and its
/// top a saddle; Van der Pol's origin is unstable (μ > 0); the double-well Duffing has a saddle
/// at the origin and two stable wells at ±1; Lorenz (ρ = 28) has a saddle at the origin and
/// unstable C± (ρ > 24.74).
#[test]
fn equilibria_have_the_expected_stability() {
    let expected: &[(&str, &[(&str, usize)])] = &[
        ("pendulum", &[("bottom", 0), ("top", 1)]),
        ("van_der_pol", &[("origin", 2)]),
        ("duffing", &[("origin", 1), ("right", 0), ("left", 0)]),
        ("lorenz", &[("origin", 1), ("C+", 2), ("C-", 2)]),
    ];
    for &(name, equilibria) in expected {
        let system = discretise(library_model(name), 0.01, 1);
        let found = system.equilibria();
        assert_eq!(found.len(), equilibria.len(), "{name}");
        for (eq, &(eq_name, unstable)) in found.iter().zip(equilibria) {
            assert_eq!(eq.name, eq_name);
            assert!(eq.isolated);
            let a = system.linearise(eq).unwrap().a().clone();
            let outside = a
                .complex_eigenvalues()
                .iter()
                .filter(|l| l.norm() > 1.0)
                .count();
            assert_eq!(outside, unstable, "{name}/{eq_name}");
        }
    }
    let duffing = Duffing::new(0.3, -1.0, 1.0).unwrap();
    assert_relative_eq!(duffing.equilibria()[1].state[0], 1.0);
}

/// A linear system is its own exact linearisation at the origin; with an eigenvalue 1 the
/// origin is still returned but marked as not isolated.
#[test]
fn linear_system_equilibrium_is_the_origin() {
    let system = common::three_state();
    let eqs = Dynamics::equilibria(&system);
    assert_eq!(eqs.len(), 1);
    assert!(eqs[0].isolated);
    let linear = Dynamics::linearise(&system, &eqs[0]).unwrap();
    assert_eq!(linear, system);
    assert_eq!(Dynamics::as_linear(&system), Some(&system));
    let x = dvector![0.3, -1.0, 2.0];
    let u = dvector![0.5, -0.5];
    assert!(check_jacobians(&system, &x, &u).max() < 1e-9);

    let integrator = LinearSystem::new(
        dmatrix![1.0, 0.1; 0.0, 0.5],
        None,
        dmatrix![1.0, 0.0],
        DMatrix::identity(2, 2) * 0.01,
        dmatrix![0.1],
    )
    .unwrap();
    let eqs = Dynamics::equilibria(&integrator);
    assert!(!eqs[0].isolated);
}

/// A simulation that escapes to infinity (a softening Duffing spring started beyond its
/// saddles) is an error naming the sequence and the row, not a table of NaNs.
#[test]
fn divergent_simulation_is_an_error_naming_sequence_and_row() {
    let model = Duffing::new(0.0, 1.0, -1.0).unwrap();
    let noise = Noise::isotropic(2, 1, 1e-6, 1e-2)
        .unwrap()
        .with_prior(dvector![3.0, 0.0], DMatrix::identity(2, 2) * 1e-6)
        .unwrap();
    let system = Rk4::new(Observed::first_state(model), 0.1, 1, noise).unwrap();
    let config = SimulationConfig {
        steps: 500,
        input: InputSignal::Zero,
        ..SimulationConfig::default()
    };
    let err = simulate(&system, &config).unwrap_err();
    match &err {
        TruthError::Diverged { sequence, row, .. } => {
            assert_eq!(*sequence, 0);
            assert!(*row > 0 && *row < 500);
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("sequence 0") && message.contains("row"),
        "{message}"
    );
}

/// Simulating a nonlinear system follows the index convention: with tiny noise, row k's state
/// is Φ(x_{k-1}, u_k) and the measurement is h(x_k).
#[test]
fn nonlinear_simulation_follows_the_index_convention() {
    let model = Pendulum::new(9.81, 1.0, 1.0, 0.5).unwrap();
    let noise = Noise::isotropic(2, 1, 0.0, 1e-300)
        .unwrap()
        .with_prior(dvector![1.0, 0.0], DMatrix::zeros(2, 2))
        .unwrap();
    let system = Rk4::new(Observed::first_state(model), 0.05, 1, noise).unwrap();
    let config = SimulationConfig {
        steps: 50,
        seed: 4,
        ..SimulationConfig::default()
    };
    let data = simulate(&system as &dyn Dynamics, &config).unwrap();
    let seq = &data.sequences[0];
    let x = seq.states.as_ref().unwrap();
    assert_eq!(x.column(0), dvector![1.0, 0.0]);
    for k in 1..seq.len() {
        let expected = system.transition(
            &x.column(k - 1).into_owned(),
            &seq.inputs.column(k).into_owned(),
        );
        assert_relative_eq!(x.column(k).into_owned(), expected, epsilon = 1e-15);
        assert_relative_eq!(seq.measurements[(0, k)], x[(0, k)], epsilon = 1e-140);
    }
}

/// A user's system whose analytic `∂f/∂x` has the wrong shape is refused with an error naming
/// the Jacobian and the expected shape, before simulation or filtering start, not by a panic
/// inside the loop.
#[test]
fn wrong_jacobian_shape_is_an_error_not_a_panic() {
    #[derive(Debug)]
    struct Bad {
        noise: Noise,
    }
    impl Dynamics for Bad {
        fn name(&self) -> &str {
            "bad"
        }
        fn n_inputs(&self) -> usize {
            0
        }
        fn noise(&self) -> &Noise {
            &self.noise
        }
        fn transition(&self, x: &DVector<f64>, _u: &DVector<f64>) -> DVector<f64> {
            x * 0.5
        }
        fn measure(&self, x: &DVector<f64>) -> DVector<f64> {
            x.rows(0, 1).into_owned()
        }
        fn transition_jacobian(&self, _x: &DVector<f64>, _u: &DVector<f64>) -> DMatrix<f64> {
            DMatrix::zeros(2, 3)
        }
        fn equilibria(&self) -> Vec<Equilibrium> {
            Vec::new()
        }
    }
    let bad = Bad {
        noise: Noise::isotropic(2, 1, 1e-3, 1e-3).unwrap(),
    };
    let config = SimulationConfig {
        sequences: 1,
        steps: 10,
        ..Default::default()
    };
    let error = simulate(&bad, &config).unwrap_err().to_string();
    assert!(error.contains("∂f/∂x") && error.contains("2x2"), "{error}");
}
