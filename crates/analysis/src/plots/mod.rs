//! Figures, each written as PNG and SVG.
//!
//! Text is drawn with DejaVu Sans bundled in `assets/` (registered through `ab_glyph`), so a
//! machine without system fonts draws the same figures. Every function creates the output
//! folder, draws, calls `present()` and reports errors; files appear atomically (drawn under a
//! temporary name, then renamed).
//!
//! One file per figure; what they share (font, canvas, axes, colours, marks, legend, the
//! writing of both files) is in `chart`:
//!
//! - [`eigenvalue_plot`]: eigenvalues in the complex plane ([`eigen_sets`] of an analysis);
//! - [`markov_plot`]: Markov parameters `H Aʲ B` true vs learned;
//! - [`loss_plot`]: training and validation loss with the [`Floor`];
//! - [`prediction_plot`]: a held-out [`PredictionTrace`];
//! - [`singular_value_plot`]: N4SID's [`SingularValues`] and the chosen order;
//! - [`sweep_plot`]: a metric against a swept parameter ([`Sweep`]).

use std::path::Path;

use crate::analysis::Analysis;
use crate::error::Result;

mod chart;
mod eigenvalues;
mod loss;
mod markov;
mod prediction;
mod singular_values;
mod sweep;

pub use chart::{Marker, PlotFiles};
pub use eigenvalues::{EigenSet, eigen_sets, eigenvalue_plot};
pub use loss::{Floor, loss_plot};
pub use markov::markov_plot;
pub use prediction::{PredictionTrace, prediction_plot};
pub use singular_values::{SingularValues, singular_value_plot};
pub use sweep::{Sweep, SweepPoint, SweepSeries, sweep_plot};

/// The plots that need nothing but the analysis: `eigenvalues` (complex plane) and, when the
/// truth is known, `markov` (impulse responses). Returns `(title, files)` pairs; link them with
/// [`crate::Report::plot`]`(title, &files.png_name())`.
pub fn analysis_plots(dir: &Path, analysis: &Analysis) -> Result<Vec<(String, PlotFiles)>> {
    let mut out = Vec::new();
    let title = "Eigenvalues in the complex plane";
    out.push((
        title.to_string(),
        eigenvalue_plot(dir, "eigenvalues", title, &eigen_sets(analysis))?,
    ));
    if let Some(markov) = &analysis.markov {
        out.push((
            "Markov parameters, true vs learned".to_string(),
            markov_plot(dir, "markov", markov)?,
        ));
    }
    Ok(out)
}
