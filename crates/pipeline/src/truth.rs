//! The true system of a run, when it is known, and the linear system the network is compared
//! with: the system itself when it is linear, otherwise its linearisation at an equilibrium.

use anyhow::{Context, Result};
use dynrec_analysis::{LinearisationPoint, TrueSystem};
use dynrec_model::Mode;
use dynrec_truth::{Dynamics, Equilibrium, LinearSystem};

/// A known true system and what the network's dynamics are compared with.
pub struct Truth<'a> {
    /// The system that generated the data.
    pub system: &'a dyn Dynamics,
    /// `A`, `B`, `H` compared with the network: the system itself, or its linearisation (in
    /// deviation coordinates) at [`Truth::equilibrium`].
    pub linear: LinearSystem,
    /// For a nonlinear system, the equilibrium it is linearised at.
    pub equilibrium: Option<Equilibrium>,
}

impl<'a> Truth<'a> {
    /// `system`, compared through itself when it is linear, otherwise through its linearisation
    /// at the equilibrium called `equilibrium` (`None`: its first one). A name that the system
    /// does not have is an error listing the ones it has; naming one for a linear system is an
    /// error too (its only equilibrium is the origin).
    pub fn new(system: &'a dyn Dynamics, equilibrium: Option<&str>) -> Result<Self> {
        if let Some(linear) = system.as_linear() {
            if let Some(name) = equilibrium.filter(|&n| n != "origin") {
                anyhow::bail!(
                    "the equilibrium {name:?} was asked for, but the system is linear: it is \
                     compared with A itself (its only equilibrium is the origin)"
                );
            }
            return Ok(Self {
                system,
                linear: linear.clone(),
                equilibrium: None,
            });
        }
        let equilibria = system.equilibria();
        let chosen = match equilibrium {
            Some(name) => equilibria
                .iter()
                .find(|e| e.name == name)
                .with_context(|| {
                    format!(
                        "{} has no equilibrium called {name:?} (it has: {})",
                        system.describe(),
                        equilibria
                            .iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?,
            None => equilibria.first().with_context(|| {
                format!("{} lists no equilibrium to linearise at", system.describe())
            })?,
        };
        let linear = system
            .linearise(chosen)
            .with_context(|| format!("linearising {} at {}", system.describe(), chosen.name))?;
        Ok(Self {
            system,
            linear,
            equilibrium: Some(chosen.clone()),
        })
    }

    /// The analysis's view of the truth; in predictor mode it carries the steady-state gain
    /// `K` of the compared linear system, and for a nonlinear system the point it is
    /// linearised at (so that the analysis says what `A` is in its notes and verdict).
    pub fn for_analysis(&self, mode: Mode) -> Result<TrueSystem> {
        let system = &self.linear;
        let gain = match mode {
            Mode::Predictor => Some(
                system
                    .steady_state()
                    .context("steady-state Kalman gain")?
                    .predictor_gain,
            ),
            Mode::Simulation => None,
        };
        let truth = TrueSystem::new(
            system.a().clone(),
            system.b().cloned(),
            system.h().clone(),
            gain,
        )
        .context("true system for the analysis")?;
        Ok(match &self.equilibrium {
            Some(e) => truth.linearised_at(LinearisationPoint {
                system: self.system.describe(),
                equilibrium: e.name.clone(),
                state: e.state.as_slice().to_vec(),
            }),
            None => truth,
        })
    }
}
