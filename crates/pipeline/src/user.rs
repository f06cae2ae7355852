//! Fitting a user's own data (no simulation): the held-out split, the hidden-size search, the
//! budget's training, the initialisation, the loss horizon and the detrending, then
//! [`fit_and_report`]. What `dynrec fit` and the `real` experiment share.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dynrec_analysis::AnalysisConfig;
use dynrec_model::{
    Activation, Compute, Init, Mode, NetworkConfig, SequenceData, Silent, TrainingConfig, train,
};
use dynrec_sysid::EmConfig;
use dynrec_truth::{Dataset, Sequence};
use serde::Serialize;

use crate::detrend::{Detrend, Trend, detrend};
use crate::folder::ReportFolder;
use crate::outcome::Outcome;
use crate::run::{FitData, FitSettings, SpecRecord, check_trainable, fit_and_report};
use crate::spec::{BaselineSpec, Baselines, Targets};
use crate::truth::Truth;

/// The hidden size: given, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hidden {
    /// The smallest in `1..=6` whose validation loss is within 1% of the best.
    Auto,
    /// Fixed.
    Size(usize),
}

impl std::str::FromStr for Hidden {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(Self::Size(n)),
            _ => Err(format!("expected a positive integer or `auto`, got `{s}`")),
        }
    }
}

/// How long to train (and how many EM iterations the baseline may take).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FitBudget {
    /// Two restarts of at most 1000 Adam steps, 100 L-BFGS iterations.
    Quick,
    /// Four restarts of at most 3000 Adam steps, 200 L-BFGS iterations.
    Full,
}

impl FitBudget {
    /// The baselines of `methods` with this budget's EM iterations: 100 (relative tolerance
    /// 1e-7) for quick, 200 (1e-8) for full.
    pub fn baselines(self, methods: Baselines) -> BaselineSpec {
        let em = match self {
            FitBudget::Quick => EmConfig {
                max_iterations: 100,
                tolerance: 1e-7,
                ..EmConfig::default()
            },
            FitBudget::Full => EmConfig::default(),
        };
        BaselineSpec {
            methods,
            em,
            ..BaselineSpec::default()
        }
    }

    /// The training of this budget with `seed`.
    pub fn training(self, seed: u64) -> TrainingConfig {
        let (restarts, max_steps, lbfgs_iterations) = match self {
            FitBudget::Quick => (2, 1000, 100),
            FitBudget::Full => (4, 3000, 200),
        };
        TrainingConfig {
            seed,
            restarts,
            max_steps,
            lbfgs_iterations,
            ..TrainingConfig::default()
        }
    }
}

/// The network and its training, as a user asks for them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserNetwork {
    /// The hidden size.
    pub hidden: Hidden,
    /// The mode (`None`: simulation when the data has inputs, predictor otherwise).
    pub mode: Option<Mode>,
    /// The cell's nonlinearity.
    pub activation: Activation,
    /// How `U` starts.
    pub init: Init,
    /// The loss's prediction horizon (predictor mode).
    pub horizon: usize,
    /// Restarts (`None`: the budget's).
    pub restarts: Option<usize>,
    /// Seed of training.
    pub seed: u64,
    /// The budget.
    pub budget: FitBudget,
}

/// A fit of a user's data.
#[derive(Clone, Copy)]
pub struct UserFit<'a> {
    /// The data as loaded.
    pub data: &'a Dataset,
    /// Where it was loaded from (recorded in the report).
    pub data_path: &'a Path,
    /// The true system when known, and its file.
    pub truth: Option<(&'a Truth<'a>, &'a Path)>,
    /// The network and its training.
    pub network: &'a UserNetwork,
    /// What is removed from each sequence before the fit.
    pub detrend: Detrend,
    /// The classical baselines.
    pub baselines: Baselines,
}

/// What `report.json` records as the spec of a user's fit (with the git commit and version).
#[derive(Debug, Serialize)]
struct FitSpec {
    data: PathBuf,
    system: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    equilibrium: Option<String>,
    hidden: Hidden,
    /// Validation loss of each candidate hidden size (`--hidden auto`).
    hidden_search: Vec<(usize, f64)>,
    held_out_sequences: Vec<i64>,
    #[serde(skip_serializing_if = "is_none")]
    detrend: Detrend,
    /// The lines (or means) removed, one per sequence and channel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    trends: Vec<Trend>,
    network: NetworkConfig,
    training: TrainingConfig,
    compute: Compute,
    analysis: AnalysisConfig,
    baselines: BaselineSpec,
    seed: u64,
    budget: FitBudget,
}

fn is_none(d: &Detrend) -> bool {
    *d == Detrend::None
}

/// Largest hidden size `Hidden::Auto` tries.
pub const MAX_AUTO_HIDDEN: usize = 6;

/// Share of a sequence's variance that a straight line must explain for the report to suggest
/// removing it.
pub const TREND_NOTE: f64 = 0.5;

/// What a fit of a user's data produced, besides its report folder.
#[derive(Debug, Clone)]
pub struct UserOutcome {
    /// The run's outcome.
    pub outcome: Outcome,
    /// The hidden size trained.
    pub d_hidden: usize,
    /// The validation loss of each candidate hidden size (`Hidden::Auto`).
    pub hidden_search: Vec<(usize, f64)>,
    /// Whether the MSEs were measured in-sample (fewer than five sequences).
    pub in_sample: bool,
    /// The lines removed.
    pub trends: Vec<Trend>,
}

/// Trains, compares and writes the report of a fit of `fit.data` into `folder`: every fifth
/// sequence held out when there are at least five (otherwise the comparison is in-sample),
/// the hidden size searched when asked, then [`fit_and_report`].
pub fn fit_user_data(
    fit: UserFit<'_>,
    folder: ReportFolder,
    progress: bool,
) -> Result<UserOutcome> {
    let data_path = fit.data_path.display().to_string();
    let network = fit.network;
    let (data, trends) = detrend(fit.data, fit.detrend);
    let mut notes = Vec::new();
    if fit.detrend == Detrend::None {
        notes.extend(trend_notes(&data));
    } else {
        notes.push(format!(
            "Each sequence had its {} removed before the fit (network and baselines alike); \
             the report's spec lists them ({} in all).",
            match fit.detrend {
                Detrend::Linear => "least-squares line a + b t per measurement channel",
                _ => "mean per measurement channel",
            },
            trends.len()
        ));
    }
    let mode = match network.mode {
        Some(mode) => mode,
        None if data.n_inputs() > 0 => Mode::Simulation,
        None => Mode::Predictor,
    };
    if mode == Mode::Simulation && data.n_inputs() == 0 {
        bail!("{data_path}: simulation mode needs input columns u1..; use predictor mode");
    }
    if network.horizon > 1 && mode == Mode::Simulation {
        bail!(
            "a horizon of {} steps needs predictor mode (a simulation-mode network never sees \
             the measurements)",
            network.horizon
        );
    }
    let mut training = TrainingConfig {
        horizon: network.horizon,
        ..network.budget.training(network.seed)
    };
    if let Some(restarts) = network.restarts {
        training.restarts = restarts;
    }

    let in_sample = data.sequences.len() < 5;
    let (train_set, held_out) = split(&data);
    if in_sample && progress {
        eprintln!(
            "note: {} sequence(s): fewer than 5, so the MSEs are measured in-sample",
            data.sequences.len()
        );
    }
    let config = |d_hidden| NetworkConfig {
        mode,
        d_hidden,
        activation: network.activation,
        init: network.init,
        ..NetworkConfig::default()
    };
    let (d_hidden, hidden_search) = match network.hidden {
        Hidden::Size(n) => {
            check_trainable(&train_set, &config(n)).context(data_path.clone())?;
            (n, Vec::new())
        }
        Hidden::Auto => {
            search_hidden(&train_set, &config, &training, progress).context(data_path.clone())?
        }
    };

    let spec = FitSpec {
        data: fit.data_path.to_path_buf(),
        system: fit.truth.map(|(_, path)| path.to_path_buf()),
        equilibrium: fit
            .truth
            .and_then(|(t, _)| t.equilibrium.as_ref().map(|e| e.name.clone())),
        hidden: network.hidden,
        hidden_search: hidden_search.clone(),
        held_out_sequences: if in_sample {
            Vec::new()
        } else {
            held_out.sequences.iter().map(|s| s.id).collect()
        },
        detrend: fit.detrend,
        trends: trends.clone(),
        network: config(d_hidden),
        training,
        compute: Compute::default(),
        analysis: AnalysisConfig::default(),
        baselines: network.budget.baselines(fit.baselines),
        seed: network.seed,
        budget: network.budget,
    };
    let outcome = fit_and_report(
        FitData {
            name: "fit",
            train: &train_set,
            held_out: &held_out,
            notes: &notes,
        },
        fit.truth.map(|(t, _)| t),
        FitSettings {
            network: &spec.network,
            training: &spec.training,
            compute: spec.compute,
            analysis: spec.analysis,
            baselines: &spec.baselines,
            targets: Targets::default(),
        },
        &SpecRecord::now(&spec),
        folder,
        progress,
    )?;
    Ok(UserOutcome {
        outcome,
        d_hidden,
        hidden_search,
        in_sample,
        trends,
    })
}

/// Training and held-out data: every fifth sequence held out when there are at least five;
/// otherwise both are the whole data (the comparison is in-sample).
fn split(data: &Dataset) -> (Dataset, Dataset) {
    if data.sequences.len() < 5 {
        return (data.clone(), data.clone());
    }
    let (held, kept): (Vec<_>, Vec<_>) = data
        .sequences
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 5 == 4);
    let strip = |v: Vec<(usize, Sequence)>| {
        Dataset::from_sequences(v.into_iter().map(|(_, s)| s).collect())
    };
    (strip(kept), strip(held))
}

/// The hidden-size search: one restart per size in `1..=MAX_AUTO_HIDDEN` (as far as the data
/// determine the network), the smallest within 1% of the best validation loss.
fn search_hidden(
    train_set: &Dataset,
    config: &dyn Fn(usize) -> NetworkConfig,
    training: &TrainingConfig,
    progress: bool,
) -> Result<(usize, Vec<(usize, f64)>)> {
    // The sizes the data can determine (the first one that it cannot is where the search
    // stops; none at all is an error).
    check_trainable(train_set, &config(1))?;
    let sizes: Vec<usize> = (1..=MAX_AUTO_HIDDEN)
        .take_while(|&n| check_trainable(train_set, &config(n)).is_ok())
        .collect();
    if sizes.len() < MAX_AUTO_HIDDEN && progress {
        eprintln!(
            "note: the data determine at most {} hidden units; the search stops there",
            sizes.len()
        );
    }
    let device = Compute::default().device().context("compute device")?;
    let train_data = train_set
        .sequences
        .iter()
        .map(|s| SequenceData::new(s.inputs.clone(), s.measurements.clone()))
        .collect::<dynrec_model::Result<Vec<_>>>()?;
    let search = TrainingConfig {
        restarts: 1,
        ..training.clone()
    };
    let mut found = Vec::new();
    for n in sizes {
        let fit = train(&train_data, &config(n), &search, &device, &mut Silent)
            .with_context(|| format!("training with {n} hidden units"))?;
        if progress {
            eprintln!("hidden {n}: validation loss {:.4e}", fit.report.val_loss);
        }
        found.push((n, fit.report.val_loss));
    }
    let best = found.iter().map(|&(_, v)| v).fold(f64::INFINITY, f64::min);
    let chosen = found
        .iter()
        .find(|&&(_, v)| v <= best * 1.01)
        .map_or(1, |&(n, _)| n);
    Ok((chosen, found))
}

/// The share of the variance of `values` (finite ones, against `t`) that their least-squares
/// line explains, `R²`; `None` with fewer than three finite values or no variance.
pub fn line_r2(t: &[f64], values: &[f64]) -> Option<f64> {
    let points: Vec<(f64, f64)> = t
        .iter()
        .copied()
        .zip(values.iter().copied())
        .filter(|(_, z)| z.is_finite())
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let (tm, zm) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut stt, mut szz, mut stz) = (0.0, 0.0, 0.0);
    for (t, z) in &points {
        stt += (t - tm).powi(2);
        szz += (z - zm).powi(2);
        stz += (t - tm) * (z - zm);
    }
    (stt > 0.0 && szz > 0.0).then(|| stz * stz / (stt * szz))
}

/// A note for each sequence and channel whose straight line explains more than
/// [`TREND_NOTE`] of its variance.
fn trend_notes(data: &Dataset) -> Vec<String> {
    let mut notes = Vec::new();
    for s in &data.sequences {
        for channel in 0..s.measurements.nrows() {
            let row: Vec<f64> = s.measurements.row(channel).iter().copied().collect();
            if let Some(r2) = line_r2(&s.t, &row).filter(|r2| *r2 > TREND_NOTE) {
                notes.push(format!(
                    "A straight line in t explains {:.0}% of the variance of z{} in sequence {}: \
                     the network and the baselines spend a state on it, and a slow, lightly \
                     damped mode beneath it is hard to find; `--detrend linear` removes the \
                     line (and reports it) before the fit.",
                    100.0 * r2,
                    channel + 1,
                    s.id
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `R²` of a line is 1 for exact lines, 0 for a symmetric bump around a constant, and the
    /// squared correlation otherwise (here against numpy's value for the same points).
    #[test]
    fn line_r2_is_the_squared_correlation() {
        let t: Vec<f64> = (0..5).map(f64::from).collect();
        assert!((line_r2(&t, &[1.0, 3.0, 5.0, 7.0, 9.0]).expect("a line") - 1.0).abs() < 1e-12);
        assert!(
            line_r2(&t, &[0.0, 1.0, 2.0, 1.0, 0.0])
                .expect("a line")
                .abs()
                < 1e-12
        );
        // numpy: np.corrcoef([0, 1, 2, 3, 4], [1, 0, 4, 3, 5])[0, 1]**2 = 0.7034883720930232
        let r2 = line_r2(&t, &[1.0, 0.0, 4.0, 3.0, 5.0]).expect("a line");
        assert!((r2 - 0.7034883720930232).abs() < 1e-12, "{r2}");
        assert!(line_r2(&t, &[2.0; 5]).is_none());
        assert!(line_r2(&t[..2], &[1.0, f64::NAN]).is_none());
    }
}
