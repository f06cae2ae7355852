//! Training and validation loss on a log scale, with the floor the loss cannot go below.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{
    Axes, CAPTION, DrawResult, Figure, PlotFiles, Ticks, colour, draw_legend, line_key,
    log10_positive, padded_range, render,
};
use crate::error::Result;

/// A reference level drawn as a dashed horizontal line on the loss plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor<'a> {
    /// Its value (same units as the losses).
    pub value: f64,
    /// Legend entry, e.g. `"Kalman predictor (Bayes floor)"`.
    pub label: &'a str,
}

struct LossFigure<'a> {
    train: &'a [f64],
    validation: &'a [f64],
    floor: Option<Floor<'a>>,
}

impl Figure for LossFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        // Losses are drawn as log10 values on a linear axis labelled 10^v; non-positive
        // values cannot be shown on a log scale and are left out.
        let all = self
            .train
            .iter()
            .chain(self.validation)
            .chain(self.floor.iter().map(|f| &f.value))
            .filter_map(|v| log10_positive(*v));
        let (lo, hi) = padded_range(all);
        let epochs = self.train.len().max(self.validation.len()).max(2) as f64;
        let axes = Axes {
            caption: "Training and validation loss",
            caption_size: CAPTION,
            y_label_area: 75,
            x_desc: "evaluation (Adam every few steps, then L-BFGS iterations)",
            y_desc: "mean squared error (log scale)",
            x_ticks: Ticks::Plain,
            y_ticks: Ticks::Pow10,
        };
        let mut chart = axes.draw(root, 1.0..epochs, lo..hi)?;
        // Evaluation i (from 1) at log10 of its loss.
        let series = |values: &[f64]| {
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| log10_positive(*v).map(|l| ((i + 1) as f64, l)))
                .collect::<Vec<_>>()
        };
        let (c0, c1, c2) = (colour(2), colour(1), colour(0));
        chart
            .draw_series(LineSeries::new(series(self.train), c0.stroke_width(2)))?
            .label("training")
            .legend(line_key(c0.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(series(self.validation), c1.stroke_width(2)))?
            .label("validation")
            .legend(line_key(c1.stroke_width(2)));
        if let Some((f, label)) = self
            .floor
            .and_then(|f| Some((log10_positive(f.value)?, f.label)))
        {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(1.0, f), (epochs, f)],
                    8,
                    5,
                    c2.stroke_width(2),
                ))?
                .label(label)
                .legend(line_key(c2.stroke_width(2)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        Ok(())
    }
}

/// Training and validation loss per evaluation on a log scale, with the floor the mode's
/// loss cannot go below (the Kalman predictor's for a predictor, the true system's output
/// error for a simulation-mode network) as a dashed line.
pub fn loss_plot(
    dir: &Path,
    stem: &str,
    train: &[f64],
    validation: &[f64],
    floor: Option<Floor<'_>>,
) -> Result<PlotFiles> {
    render(
        &LossFigure {
            train,
            validation,
            floor,
        },
        dir,
        stem,
    )
}
