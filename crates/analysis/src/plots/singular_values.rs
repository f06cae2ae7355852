//! The singular values of a subspace identification and the model order chosen from them.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{
    Axes, CAPTION, DrawResult, Figure, Marker, PlotFiles, Ticks, colour, draw_legend, draw_marks,
    line_key, padded_range, render,
};
use crate::error::Result;

/// The singular values of a subspace identification and the model order chosen from them.
#[derive(Debug, Clone, PartialEq)]
pub struct SingularValues<'a> {
    /// Singular values, descending.
    pub values: &'a [f64],
    /// The order used: the first `order` values are kept.
    pub order: usize,
    /// How the order was chosen, for the legend (e.g. `"the true order"`).
    pub chosen_by: &'a str,
}

struct SingularValueFigure<'a>(&'a SingularValues<'a>);

impl Figure for SingularValueFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let sv = self.0;
        // log10 of the positive values against their index 1..; zeros cannot be drawn.
        let points: Vec<(f64, f64)> = sv
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0.0 && v.is_finite())
            .map(|(k, v)| ((k + 1) as f64, v.log10()))
            .collect();
        let count = sv.values.len().max(2) as f64;
        let (lo, hi) = padded_range(points.iter().map(|p| p.1));
        let axes = Axes {
            caption: "N4SID: singular values of the oblique projection",
            caption_size: CAPTION,
            y_label_area: 75,
            x_desc: "index k",
            y_desc: "singular value s_k (log scale)",
            x_ticks: Ticks::Plain,
            y_ticks: Ticks::Pow10,
        };
        let mut chart = axes.draw(root, 0.5..count + 0.5, lo..hi)?;
        let (kept, dropped) = (colour(1), colour(0));
        let split = |keep: bool| {
            points
                .iter()
                .filter(move |p| (p.0 <= sv.order as f64) == keep)
                .copied()
        };
        chart.draw_series(
            split(true).map(|(x, y)| PathElement::new(vec![(x, lo), (x, y)], kept.stroke_width(3))),
        )?;
        draw_marks!(
            chart,
            split(true),
            Marker::Dot,
            kept.stroke_width(2),
            format!("kept (order n = {})", sv.order)
        );
        draw_marks!(
            chart,
            split(false),
            Marker::Circle,
            dropped.stroke_width(2),
            "discarded"
        );
        let cut = sv.order as f64 + 0.5;
        let grey = colour(2);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(cut, lo), (cut, hi)],
                8,
                5,
                grey.stroke_width(2),
            ))?
            .label(format!("chosen order: {}", sv.chosen_by))
            .legend(line_key(grey.stroke_width(2)));
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// The singular values of N4SID's oblique projection (log scale, one stem per value), the kept
/// ones marked, and a dashed line at the chosen order.
pub fn singular_value_plot(dir: &Path, stem: &str, sv: &SingularValues<'_>) -> Result<PlotFiles> {
    render(&SingularValueFigure(sv), dir, stem)
}
