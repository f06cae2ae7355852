//! Systems selected by name: the `kind` field of a TOML system file (and of an experiment spec
//! in JSON) chooses a linear system or one of the [library](crate::library) systems with its
//! parameters, its step `dt` and its noise.
//!
//! ```toml
//! kind = "pendulum"      # absent or "linear": the linear format (A, B, H, Q, R, x0, P0)
//! length = 1.0
//! damping = 0.5
//! dt = 0.05
//! q = 1e-5               # Q = q I (or a matrix: Q = [[..], ..])
//! r = 1e-3               # R = r I (or R = [[..]])
//! x0 = [1.0, 0.0]        # optional, default zeros
//! P0 = [[0.01, 0.0], [0.0, 0.01]]   # optional, default identity
//! ```

use std::path::Path;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::continuous::{ContinuousDynamics, Rk4};
use crate::dynamics::Dynamics;
use crate::error::{Result, TruthError};
use crate::library::{Duffing, Lorenz, Pendulum, VanDerPol};
use crate::system::{LinearSpec, LinearSystem, Noise, matrix};

/// The kinds a system file may name, in the order error messages list them.
pub const KNOWN_KINDS: [&str; 5] = ["linear", "pendulum", "van_der_pol", "duffing", "lorenz"];

/// A covariance given as a scalar `c` (meaning `c I`) or as a matrix (arrays of rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a number c (meaning c I) or a matrix given as an array of rows"
)]
pub enum Covariance {
    /// `c I`.
    Scalar(f64),
    /// The full matrix.
    Matrix(Vec<Vec<f64>>),
}

impl Covariance {
    fn matrix(&self, field: &'static str, size: usize) -> Result<DMatrix<f64>> {
        match self {
            Self::Scalar(c) => Ok(DMatrix::identity(size, size) * *c),
            Self::Matrix(rows) => matrix(field, rows),
        }
    }
}

/// The fields every discretised continuous-time system has besides its own parameters.
macro_rules! continuous_spec {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
            /// Sampling step Δt between rows (> 0).
            pub dt: f64,
            /// RK4 steps per row (default 1).
            #[serde(default = "one")]
            pub substeps: usize,
            /// Measurement matrix `H` (p×n), `z = H x`; absent: the system's default.
            #[serde(rename = "H", default, skip_serializing_if = "Option::is_none")]
            pub h: Option<Vec<Vec<f64>>>,
            /// Process-noise covariance per row: `q` (scalar, `q I`) or `Q` (matrix).
            #[serde(rename = "Q", alias = "q")]
            pub q: Covariance,
            /// Measurement-noise covariance: `r` (scalar, `r I`) or `R` (matrix).
            #[serde(rename = "R", alias = "r")]
            pub r: Covariance,
            /// Prior mean of the first row's state (default zeros).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub x0: Option<Vec<f64>>,
            /// Prior covariance (default identity).
            #[serde(rename = "P0", default, skip_serializing_if = "Option::is_none")]
            pub p0: Option<Vec<Vec<f64>>>,
        }

        impl $name {
            /// Discretises `model` with this spec's step and noise.
            fn discretise<G: ContinuousDynamics + 'static>(&self, model: G) -> Result<Box<dyn Dynamics>> {
                let (n, p) = (model.n_states(), model.n_outputs());
                let noise = Noise::new(self.q.matrix("Q", n)?, self.r.matrix("R", p)?)?;
                let x0 = self.x0.clone().map_or_else(|| DVector::zeros(n), DVector::from_vec);
                let p0 = match &self.p0 {
                    Some(p0) => matrix("P0", p0)?,
                    None => DMatrix::identity(n, n),
                };
                let noise = noise.with_prior(x0, p0)?;
                Ok(Box::new(Rk4::new(model, self.dt, self.substeps, noise)?))
            }

            fn measurement(&self) -> Result<Option<DMatrix<f64>>> {
                self.h.as_deref().map(|h| matrix("H", h)).transpose()
            }
        }
    };
}

fn one() -> usize {
    1
}

fn default_gravity() -> f64 {
    9.81
}

fn default_mass() -> f64 {
    1.0
}

continuous_spec! {
    /// `kind = "pendulum"`: [`Pendulum`], `θ̇ = ω`, `ω̇ = −(g/L) sin θ − c ω + u/(m L²)`.
    PendulumSpec {
        /// Gravity g (m/s², default 9.81).
        #[serde(default = "default_gravity")]
        gravity: f64,
        /// Length L (m).
        length: f64,
        /// Mass m (kg, default 1).
        #[serde(default = "default_mass")]
        mass: f64,
        /// Viscous damping c (1/s).
        damping: f64,
    }
}

continuous_spec! {
    /// `kind = "van_der_pol"`: [`VanDerPol`], `ẋ = y`, `ẏ = μ (1 − x²) y − x + u`.
    VanDerPolSpec {
        /// Nonlinear damping μ ≥ 0.
        mu: f64,
    }
}

continuous_spec! {
    /// `kind = "duffing"`: [`Duffing`], `ẋ = v`, `v̇ = −δ v − α x − β x³ + u`.
    DuffingSpec {
        /// Damping δ ≥ 0.
        delta: f64,
        /// Linear stiffness α.
        alpha: f64,
        /// Cubic stiffness β.
        beta: f64,
    }
}

continuous_spec! {
    /// `kind = "lorenz"`: [`Lorenz`], `ẋ = σ (y − x)`, `ẏ = x (ρ − z) − y`, `ż = x y − β z`.
    LorenzSpec {
        /// σ > 0.
        sigma: f64,
        /// ρ > 0.
        rho: f64,
        /// β > 0.
        beta: f64,
    }
}

/// A system chosen by name, with everything needed to build it: the content of a system file,
/// serialisable to JSON (experiment reports embed it) and back.
///
/// In TOML and JSON the variant is the `kind` field (`"linear"`, `"pendulum"`,
/// `"van_der_pol"`, `"duffing"`, `"lorenz"`); a TOML file without `kind` is linear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NamedSystem {
    /// The linear format (`A`, `B`, `H`, `Q`, `R`, `x0`, `P0`).
    Linear(LinearSpec),
    /// The damped pendulum.
    Pendulum(PendulumSpec),
    /// The Van der Pol oscillator.
    VanDerPol(VanDerPolSpec),
    /// The Duffing oscillator.
    Duffing(DuffingSpec),
    /// The Lorenz system.
    Lorenz(LorenzSpec),
}

impl NamedSystem {
    /// The `kind` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Linear(_) => "linear",
            Self::Pendulum(_) => "pendulum",
            Self::VanDerPol(_) => "van_der_pol",
            Self::Duffing(_) => "duffing",
            Self::Lorenz(_) => "lorenz",
        }
    }

    /// The validated system.
    pub fn build(&self) -> Result<Box<dyn Dynamics>> {
        match self {
            Self::Linear(spec) => Ok(Box::new(spec.build()?)),
            Self::Pendulum(s) => {
                let mut model = Pendulum::new(s.gravity, s.length, s.mass, s.damping)?;
                if let Some(h) = s.measurement()? {
                    model = model.with_measurement(h)?;
                }
                s.discretise(model)
            }
            Self::VanDerPol(s) => {
                let mut model = VanDerPol::new(s.mu)?;
                if let Some(h) = s.measurement()? {
                    model = model.with_measurement(h)?;
                }
                s.discretise(model)
            }
            Self::Duffing(s) => {
                let mut model = Duffing::new(s.delta, s.alpha, s.beta)?;
                if let Some(h) = s.measurement()? {
                    model = model.with_measurement(h)?;
                }
                s.discretise(model)
            }
            Self::Lorenz(s) => {
                let mut model = Lorenz::new(s.sigma, s.rho, s.beta)?;
                if let Some(h) = s.measurement()? {
                    model = model.with_measurement(h)?;
                }
                s.discretise(model)
            }
        }
    }

    /// Parses a system file (see `docs/formats.md`); `origin` names the source in errors.
    /// Syntax errors, unknown fields and wrong types carry toml's line and column; an unknown
    /// `kind` lists the known ones.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        let toml_error = |message: String| TruthError::Toml {
            path: origin.to_path_buf(),
            message,
        };
        let table: toml::Table =
            toml::from_str(text).map_err(|e| toml_error(e.to_string().trim_end().to_string()))?;
        let kind = match table.get("kind") {
            None => None,
            Some(toml::Value::String(kind)) => Some(kind.as_str()),
            Some(other) => {
                return Err(toml_error(format!(
                    "{}`kind` must be a string, one of {}; found {other}",
                    line_of(text, "kind"),
                    known_kinds()
                )));
            }
        };
        let kind = match kind {
            None => None,
            Some(kind) if KNOWN_KINDS.contains(&kind) => Some(kind.to_string()),
            Some(kind) => {
                return Err(toml_error(format!(
                    "{}unknown system kind `{kind}` (known kinds: {})",
                    line_of(text, "kind"),
                    known_kinds()
                )));
            }
        };
        // Each kind's fields are parsed from the text with the `kind` line blanked out (so line
        // numbers stay right), so that toml's errors point at the offending line and column.
        let body = match line_number(text, "kind") {
            Some(line) if kind.is_some() => text
                .lines()
                .enumerate()
                .map(|(i, l)| if i + 1 == line { "" } else { l })
                .collect::<Vec<_>>()
                .join("\n"),
            _ => text.to_string(),
        };
        fn parse<T: serde::de::DeserializeOwned>(
            body: &str,
        ) -> std::result::Result<T, toml::de::Error> {
            toml::from_str(body)
        }
        let spec = match kind.as_deref() {
            None | Some("linear") => parse(&body).map(Self::Linear),
            Some("pendulum") => parse(&body).map(Self::Pendulum),
            Some("van_der_pol") => parse(&body).map(Self::VanDerPol),
            Some("duffing") => parse(&body).map(Self::Duffing),
            Some("lorenz") => parse(&body).map(Self::Lorenz),
            Some(other) => {
                return Err(toml_error(format!(
                    "system kind `{other}` is known but has no parser (known kinds: {})",
                    known_kinds()
                )));
            }
        };
        spec.map_err(|e| toml_error(with_line(text, e)))
    }

    /// Loads a system file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TruthError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Loads and builds a system file; a parameter error names the file (and the line of the
    /// parameter when it is in the file).
    pub fn load_dynamics(path: &Path) -> Result<Box<dyn Dynamics>> {
        let text = std::fs::read_to_string(path).map_err(|source| TruthError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let spec = Self::from_toml_str(&text, path)?;
        spec.build().map_err(|e| invalid(&text, path, e))
    }

    /// The system as TOML (the system file format).
    pub fn to_toml_string(&self) -> String {
        match self {
            Self::Linear(spec) => toml::to_string(spec),
            other => toml::to_string(other),
        }
        .expect("a system spec of finite numbers always serialises")
    }
}

impl From<&LinearSystem> for NamedSystem {
    fn from(system: &LinearSystem) -> Self {
        Self::Linear(LinearSpec::from(system))
    }
}

fn known_kinds() -> String {
    KNOWN_KINDS.join(", ")
}

/// `"line N: "` for the first line that assigns `key`, or `""`.
fn line_of(text: &str, key: &str) -> String {
    line_number(text, key)
        .map(|l| format!("line {l}: "))
        .unwrap_or_default()
}

/// A toml error's message; when toml gives no position, the line of the field it names.
fn with_line(text: &str, e: toml::de::Error) -> String {
    let message = e.to_string().trim_end().to_string();
    if e.span().is_some() {
        return message;
    }
    match message.split('`').nth(1) {
        Some(field) if !line_of(text, field).is_empty() => {
            format!("{}{message}", line_of(text, field))
        }
        _ => message,
    }
}

/// The 1-based line of the first line that assigns `key` (or its lowercase form).
fn line_number(text: &str, key: &str) -> Option<usize> {
    let assigns = |key: &str| {
        text.lines().position(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    assigns(key)
        .or_else(|| assigns(&key.to_lowercase()))
        .map(|i| i + 1)
}

/// A build error wrapped with the file and, when the field is in the file, its line.
pub(crate) fn invalid(text: &str, path: &Path, e: TruthError) -> TruthError {
    let field = match &e {
        TruthError::Parameter { field, .. }
        | TruthError::Dimension { field, .. }
        | TruthError::RaggedMatrix { field, .. }
        | TruthError::NotFinite { field, .. }
        | TruthError::NotSymmetric { field, .. }
        | TruthError::NotPositiveSemidefinite { field, .. }
        | TruthError::NotPositiveDefinite { field, .. } => Some(*field),
        _ => None,
    };
    TruthError::InvalidSystem {
        path: path.to_path_buf(),
        line: field.and_then(|f| line_number(text, f)),
        source: Box::new(e),
    }
}
