//! The system file format: the content of a TOML system file (and of the `system` of an
//! experiment spec in JSON), from which a system is built. The `kind` field chooses a linear
//! system or one of the [library](crate::library) systems with its parameters, its step `dt`
//! and its noise; [`KNOWN_KINDS`], [`NamedSystem::kind`], the parser and
//! [`NamedSystem::build`] all come from the one list in the `kinds!` invocation below.
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
//!
//! Adding a library system: its vector field in [`crate::library`], then here one
//! `continuous_spec!` block (its parameters and how they build it) and one line in `kinds!`.

use std::io::Write;
use std::path::Path;

use dynrec_core::write_atomically;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::continuous::{Observed, Rk4, VectorField};
use crate::dynamics::Dynamics;
use crate::error::quote;
use crate::error::{Result, TruthError};
use crate::library::{Duffing, Lorenz, Pendulum, VanDerPol};
use crate::system::{LinearSystem, Noise, check_shape, check_variances, matrix, rows};

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
    /// The matrix (`c I` of size `size` for a scalar); its shape is checked by whoever uses it.
    fn matrix(&self, field: &'static str, size: usize) -> Result<DMatrix<f64>> {
        match self {
            Self::Scalar(c) => Ok(DMatrix::identity(size, size) * *c),
            Self::Matrix(rows) => matrix(field, rows),
        }
    }
}

/// The prior covariance `P0` of the first row's state: a [`Covariance`], or `"stationary"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a number c (meaning c I), a matrix given as an array of rows, or \"stationary\""
)]
pub enum PriorCovariance {
    /// Given.
    Given(Covariance),
    /// Derived from the system.
    Derived(DerivedPrior),
}

/// A prior covariance derived from the system itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DerivedPrior {
    /// The steady-state predicted covariance (the DARE solution): the time-invariant Kalman
    /// predictor is then optimal from the first row on.
    Stationary,
}

/// The linear system file, field for field: matrices as arrays of rows, covariances as a
/// scalar (`c I`) or a matrix. The `kind = "linear"` variant of [`NamedSystem`].
///
/// ```text
/// x_k = A x_{k-1} + B u_k + w_k,  w ~ N(0, Q)
/// z_k = H x_k + v_k,              v ~ N(0, R)
/// x_1 ~ N(x0, P0)
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSpec {
    /// Dynamics `A` (n×n).
    #[serde(rename = "A")]
    pub a: Vec<Vec<f64>>,
    /// Input matrix `B` (n×m); absent: no inputs.
    #[serde(rename = "B", default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Vec<Vec<f64>>>,
    /// Measurement matrix `H` (p×n).
    #[serde(rename = "H")]
    pub h: Vec<Vec<f64>>,
    /// Process-noise covariance: `Q` (matrix, n×n) or `q` (scalar, `q I`).
    #[serde(rename = "Q", alias = "q")]
    pub q: Covariance,
    /// Measurement-noise covariance: `R` (matrix, p×p) or `r` (scalar, `r I`).
    #[serde(rename = "R", alias = "r")]
    pub r: Covariance,
    /// Prior mean (default zeros).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x0: Option<Vec<f64>>,
    /// Prior covariance: a matrix, a scalar (`p0 I`) or `"stationary"` (default identity).
    #[serde(
        rename = "P0",
        alias = "p0",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub p0: Option<PriorCovariance>,
}

impl LinearSpec {
    /// Number of states `n` (rows of `A`).
    pub fn order(&self) -> usize {
        self.a.len()
    }

    /// The validated system.
    pub fn build(&self) -> Result<LinearSystem> {
        let a = matrix("A", &self.a)?;
        let n = a.nrows();
        let b = self.b.as_deref().map(|b| matrix("B", b)).transpose()?;
        let h = matrix("H", &self.h)?;
        let p = h.nrows();
        let system = LinearSystem::new(a, b, h, self.q.matrix("Q", n)?, self.r.matrix("R", p)?)?;
        let x0 = self
            .x0
            .clone()
            .map_or_else(|| DVector::zeros(n), DVector::from_vec);
        check_variances("Q", system.q())?;
        let p0 = match &self.p0 {
            None => DMatrix::identity(n, n),
            Some(PriorCovariance::Given(p0)) => p0.matrix("P0", n)?,
            Some(PriorCovariance::Derived(DerivedPrior::Stationary)) => {
                // Named as the field, so that the error gets P0's line.
                system
                    .steady_state()
                    .map_err(|e| TruthError::Parameter {
                        field: "P0",
                        message: format!("\"stationary\" has no solution: {e}"),
                    })?
                    .prior_covariance
            }
        };
        let given_p0 = matches!(self.p0, Some(PriorCovariance::Given(_)));
        let system = system.with_prior(x0, p0)?;
        if given_p0 {
            check_variances("P0", system.p0())?;
        }
        Ok(system)
    }
}

impl From<&LinearSystem> for LinearSpec {
    fn from(system: &LinearSystem) -> Self {
        Self {
            a: rows(system.a()),
            b: system.b().map(rows),
            h: rows(system.h()),
            q: Covariance::Matrix(rows(system.q())),
            r: Covariance::Matrix(rows(system.r())),
            x0: Some(system.x0().iter().copied().collect()),
            p0: Some(PriorCovariance::Given(Covariance::Matrix(rows(
                system.p0(),
            )))),
        }
    }
}

/// How each kind's spec builds its system.
trait BuildSystem {
    fn build_system(&self) -> Result<Box<dyn Dynamics>>;
}

impl BuildSystem for LinearSpec {
    fn build_system(&self) -> Result<Box<dyn Dynamics>> {
        Ok(Box::new(self.build()?))
    }
}

/// A library system's spec: its own parameters, how they build its [`VectorField`], and the
/// fields every discretised continuous-time system has (step, substeps, measurement, noise,
/// prior).
macro_rules! continuous_spec {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
        builds |$spec:ident| $model:expr
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
            /// Measurement matrix `H` (p×n), `z = H x`; absent: the first state.
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

        impl BuildSystem for $name {
            fn build_system(&self) -> Result<Box<dyn Dynamics>> {
                let $spec = self;
                let model = $model?;
                let model = match &self.h {
                    Some(h) => Observed::new(model, matrix("H", h)?)?,
                    None => Observed::first_state(model),
                };
                discretise(model, self.dt, self.substeps, &self.q, &self.r, &self.x0, &self.p0)
            }
        }
    };
}

/// `model` discretised by RK4 with step `dt` (in `substeps`), noise `q`, `r` and the prior.
fn discretise<F: VectorField + 'static>(
    model: Observed<F>,
    dt: f64,
    substeps: usize,
    q: &Covariance,
    r: &Covariance,
    x0: &Option<Vec<f64>>,
    p0: &Option<Vec<Vec<f64>>>,
) -> Result<Box<dyn Dynamics>> {
    use crate::continuous::ContinuousDynamics;
    let (n, p) = (model.n_states(), model.n_outputs());
    // The shapes first: the kind fixes n and p (an empty `R = []` used to reach the
    // eigen-solver and panic there).
    let q = q.matrix("Q", n)?;
    check_shape("Q", &q, n, n, "n x n, one row per state")?;
    let r = r.matrix("R", p)?;
    check_shape("R", &r, p, p, "p x p, one row per output")?;
    let noise = Noise::new(q, r)?;
    let x0 = x0
        .clone()
        .map_or_else(|| DVector::zeros(n), DVector::from_vec);
    let p0 = match p0 {
        Some(p0) => matrix("P0", p0)?,
        None => DMatrix::identity(n, n),
    };
    let noise = noise.with_prior(x0, p0)?;
    check_variances("Q", noise.q())?;
    check_variances("P0", noise.p0())?;
    Ok(Box::new(Rk4::new(model, dt, substeps, noise)?))
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
    builds |s| Pendulum::new(s.gravity, s.length, s.mass, s.damping)
}

continuous_spec! {
    /// `kind = "van_der_pol"`: [`VanDerPol`], `ẋ = y`, `ẏ = μ (1 − x²) y − x + u`.
    VanDerPolSpec {
        /// Nonlinear damping μ ≥ 0.
        mu: f64,
    }
    builds |s| VanDerPol::new(s.mu)
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
    builds |s| Duffing::new(s.delta, s.alpha, s.beta)
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
    builds |s| Lorenz::new(s.sigma, s.rho, s.beta)
}

/// The one list of kinds: each line gives the variant of [`NamedSystem`], the `kind` string
/// of the files, and the spec it parses into.
macro_rules! kinds {
    ($( $(#[$meta:meta])* $variant:ident = $kind:literal ($spec:ty), )*) => {
        /// A system chosen by name, with everything needed to build it: the content of a
        /// system file, serialisable to JSON (experiment reports embed it) and back.
        ///
        /// In TOML and JSON the variant is the `kind` field (one of [`KNOWN_KINDS`]); a TOML
        /// file without `kind` is linear.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum NamedSystem {
            $( $(#[$meta])* #[serde(rename = $kind)] $variant($spec), )*
        }

        /// The kinds a system file may name, in the order error messages list them.
        pub const KNOWN_KINDS: &[&str] = &[$($kind),*];

        impl NamedSystem {
            /// The `kind` name.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $kind,)*
                }
            }

            /// The validated system.
            pub fn build(&self) -> Result<Box<dyn Dynamics>> {
                match self {
                    $(Self::$variant(spec) => spec.build_system(),)*
                }
            }

            /// The fields of a known `kind` parsed from `body` (`None`: unknown kind).
            fn parse_fields(
                kind: &str,
                body: &str,
            ) -> Option<std::result::Result<Self, toml::de::Error>> {
                match kind {
                    $($kind => Some(toml::from_str::<$spec>(body).map(Self::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    /// The linear format (`A`, `B`, `H`, `Q`, `R`, `x0`, `P0`).
    Linear = "linear" (LinearSpec),
    /// The damped pendulum.
    Pendulum = "pendulum" (PendulumSpec),
    /// The Van der Pol oscillator.
    VanDerPol = "van_der_pol" (VanDerPolSpec),
    /// The Duffing oscillator.
    Duffing = "duffing" (DuffingSpec),
    /// The Lorenz system.
    Lorenz = "lorenz" (LorenzSpec),
}

impl From<LinearSpec> for NamedSystem {
    fn from(spec: LinearSpec) -> Self {
        Self::Linear(spec)
    }
}

impl NamedSystem {
    /// Parses a system file (see `docs/formats.md`); `origin` names the source in errors.
    /// Syntax errors, unknown fields and wrong types carry toml's line and column; an unknown
    /// `kind` lists the known ones.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        let toml_error = |message: String| TruthError::Toml {
            path: origin.to_path_buf(),
            message,
        };
        // A byte-order mark is not part of the first key.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let table: toml::Table =
            toml::from_str(text).map_err(|e| toml_error(toml_message(text, &e)))?;
        let kind = match table.get("kind") {
            None => None,
            Some(toml::Value::String(kind)) => Some(kind.as_str()),
            Some(other) => {
                return Err(toml_error(format!(
                    "{}`kind` must be a string, one of {}; found {}",
                    line_of(text, "kind"),
                    known_kinds(),
                    quote(&other.to_string())
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
        let Some(spec) = Self::parse_fields(kind.unwrap_or("linear"), &body) else {
            return Err(toml_error(format!(
                "{}unknown system kind `{}` (known kinds: {})",
                line_of(text, "kind"),
                quote(kind.unwrap_or_default()),
                known_kinds()
            )));
        };
        spec.map_err(|e| toml_error(toml_message(&body, &e)))
    }

    /// Loads a system file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_toml_str(&read(path)?, path)
    }

    /// Loads and builds a system file; a parameter error names the file (and the line of the
    /// parameter when it is in the file).
    pub fn load_dynamics(path: &Path) -> Result<Box<dyn Dynamics>> {
        let text = read(path)?;
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

/// The linear system file format of a [`LinearSystem`].
impl LinearSystem {
    /// Parses a system file (see `docs/formats.md`); `origin` names the source in errors. A
    /// file naming another `kind` (e.g. `"pendulum"`) is an error saying so: load it with
    /// [`NamedSystem`] instead.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        match NamedSystem::from_toml_str(text, origin)? {
            NamedSystem::Linear(file) => file.build().map_err(|e| invalid(text, origin, e)),
            other => Err(TruthError::Toml {
                path: origin.to_path_buf(),
                message: format!(
                    "kind `{}` is not a linear system, and a linear one (A, B, H, Q, R) is \
                     needed here",
                    other.kind()
                ),
            }),
        }
    }

    /// Loads a system file.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_toml_str(&read(path)?, path)
    }

    /// The system in the TOML system format.
    pub fn to_toml_string(&self) -> String {
        let file = LinearSpec::from(self);
        let body = toml::to_string(&file).expect("a system of finite numbers always serialises");
        format!(
            "# x_k = A x_{{k-1}} + B u_k + w_k,  w ~ N(0, Q)\n\
             # z_k = H x_k + v_k,              v ~ N(0, R)\n\
             # x_1 ~ N(x0, P0)\n{body}"
        )
    }

    /// Writes the system file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(write_atomically(path, |w| {
            w.write_all(self.to_toml_string().as_bytes())
        })?)
    }
}

/// The text of a system file.
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|error| TruthError::Io {
        path: path.to_path_buf(),
        error,
    })
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

/// At most this many characters of the offending line are shown under a TOML error.
const EXCERPT_LIMIT: usize = 160;

/// A toml error's message, in toml's layout (position, the offending line with a caret, what
/// is wrong) but with the line cut to [`EXCERPT_LIMIT`] characters around the position and the
/// message to [`crate::error::QUOTE_LIMIT`] (a 2 MB line used to be echoed whole); a duplicated
/// field (`q` and `Q`) names the line of the second one; an error without a position names the
/// line of the field it names. `text` is the text toml parsed.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    if let Some(field) = message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let lines = assignments(text, field);
        if let [first, second, ..] = lines[..] {
            return format!(
                "line {second}: duplicate field `{}`: lines {first} and {second} both set it \
                 (a scalar and a matrix spelling of one field count as the same)",
                quote(field)
            );
        }
    }
    let message = quote(message);
    let Some(span) = e.span().filter(|span| span.start <= text.len()) else {
        return match message.split('`').nth(1) {
            Some(field) if !line_of(text, field).is_empty() => {
                format!("{}{message}", line_of(text, field))
            }
            _ => message,
        };
    };
    let start = floor_char_boundary(text, span.start);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_text = text[line_start..line_end].trim_end_matches('\r');
    let line = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count();
    let (excerpt, caret_at) = excerpt(line_text, column);
    let width = text[start..floor_char_boundary(text, span.end.max(start))]
        .chars()
        .count()
        .clamp(1, EXCERPT_LIMIT);
    let gutter = " ".repeat(line.to_string().len());
    format!(
        "TOML parse error at line {line}, column {}\n{gutter} |\n{line} | {excerpt}\n{gutter} | \
         {}{}\n{message}",
        column + 1,
        " ".repeat(caret_at),
        "^".repeat(width.min(excerpt.chars().count().saturating_sub(caret_at).max(1)))
    )
}

/// Up to [`EXCERPT_LIMIT`] characters of `line` around the character `column`, with `…` where
/// it was cut and control characters escaped, and where `column` lands in it.
fn excerpt(line: &str, column: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    let start = column
        .saturating_sub(EXCERPT_LIMIT / 2)
        .min(chars.len().saturating_sub(EXCERPT_LIMIT));
    let end = (start + EXCERPT_LIMIT).min(chars.len());
    let mut out = String::new();
    let mut caret_at = 0;
    if start > 0 {
        out.push('…');
    }
    for (i, c) in chars[start..end].iter().enumerate() {
        if start + i == column {
            caret_at = out.chars().count();
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(*c);
        }
    }
    if column >= end {
        caret_at = out.chars().count();
    }
    if end < chars.len() {
        out.push('…');
    }
    (out, caret_at)
}

/// The largest char boundary of `text` at or before `index`.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The 1-based lines that assign `key` in any letter case (`q` and `Q` are one field).
fn assignments(text: &str, key: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start_matches('\u{feff}').trim_start();
            line.get(..key.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(key))
                && line[key.len()..].trim_start().starts_with('=')
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The 1-based line of the first line that assigns `key` (or its lowercase form).
fn line_number(text: &str, key: &str) -> Option<usize> {
    let assigns = |key: &str| {
        text.lines().position(|line| {
            line.trim_start_matches('\u{feff}')
                .trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    assigns(key)
        .or_else(|| assigns(&key.to_lowercase()))
        .map(|i| i + 1)
}

/// A build error wrapped with the file and, when the field is in the file, its line.
fn invalid(text: &str, path: &Path, e: TruthError) -> TruthError {
    let field = match &e {
        TruthError::Parameter { field, .. }
        | TruthError::Dimension { field, .. }
        | TruthError::RaggedMatrix { field, .. }
        | TruthError::NotFinite { field, .. }
        | TruthError::NotSymmetric { field, .. }
        | TruthError::NotPositiveSemidefinite { field, .. }
        | TruthError::NegativeVariance { field, .. }
        | TruthError::NotPositiveDefinite { field, .. } => Some(*field),
        _ => None,
    };
    TruthError::InvalidSystem {
        path: path.to_path_buf(),
        line: field.and_then(|f| line_number(text, f)),
        problem: Box::new(e),
    }
}
