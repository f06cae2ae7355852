//! Markov parameters (the impulse response `H Aʲ B`) true against learned, per lag.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{
    Axes, CAPTION, DrawResult, Figure, Marker, PlotFiles, Ticks, colour, draw_legend, draw_marks,
    line_key, padded_range, render,
};
use crate::error::Result;
use crate::similarity::MarkovComparison;

struct MarkovFigure<'a>(&'a MarkovComparison);

impl Figure for MarkovFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let m = self.0;
        let lags = m.truth.len().max(2) as f64;
        let (lo, hi) = padded_range(
            m.truth
                .iter()
                .chain(&m.learned)
                .flat_map(|x| x.iter().copied()),
        );
        let caption = format!(
            "Markov parameters (relative error {:.2e})",
            m.relative_error
        );
        let axes = Axes {
            caption: &caption,
            caption_size: CAPTION,
            y_label_area: 70,
            x_desc: "lag j (time steps)",
            y_desc: "impulse response entry",
            x_ticks: Ticks::Plain,
            y_ticks: Ticks::Plain,
        };
        let mut chart = axes.draw(root, -0.5..lags - 0.5, lo..hi)?;
        // One colour per entry (i, j) of the p × q parameters: the truth as a line, the
        // learned values as crosses.
        let (p, q) = m.truth.first().map_or((0, 0), |x| x.shape());
        let several = p * q > 1;
        for i in 0..p {
            for j in 0..q {
                let c = colour(1 + i * q + j);
                let entry = if several {
                    format!(" [{}, {}]", i + 1, j + 1)
                } else {
                    String::new()
                };
                chart
                    .draw_series(LineSeries::new(
                        m.truth
                            .iter()
                            .enumerate()
                            .map(|(k, x)| (k as f64, x[(i, j)])),
                        c.stroke_width(2),
                    ))?
                    .label(format!("true H Aʲ B{entry}"))
                    .legend(line_key(c.stroke_width(2)));
                draw_marks!(
                    chart,
                    m.learned
                        .iter()
                        .enumerate()
                        .map(|(k, x)| (k as f64, x[(i, j)])),
                    Marker::Cross,
                    c.stroke_width(2),
                    format!("learned V Uʲ W{entry}")
                );
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        Ok(())
    }
}

/// Markov parameters (impulse response) true vs learned, per lag.
pub fn markov_plot(dir: &Path, stem: &str, comparison: &MarkovComparison) -> Result<PlotFiles> {
    render(&MarkovFigure(comparison), dir, stem)
}
