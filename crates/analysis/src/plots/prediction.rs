//! A held-out sequence: measured output against the RNN's and the Kalman predictor's
//! one-step predictions.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::RGBColor;

use super::chart::{
    Axes, DrawResult, Figure, PlotFiles, Ticks, colour, draw_legend, line_key, padded_range, render,
};
use crate::error::Result;

/// A held-out sequence: measurements and predictions of one output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionTrace {
    /// Measured `z_k`.
    pub measured: Vec<f64>,
    /// RNN prediction `y_k`.
    pub rnn: Vec<f64>,
    /// Kalman prediction `H x̂_{k|k-1}`, when the truth is known.
    pub kalman: Option<Vec<f64>>,
    /// Which output channel, for the axis label (e.g. `"z1"`).
    pub channel: String,
    /// Unit of the measurement, for the axis label (empty: arbitrary units).
    pub unit: String,
}

struct PredictionFigure<'a>(&'a PredictionTrace);

impl Figure for PredictionFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (1000, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let t = self.0;
        let steps = t.measured.len().max(t.rnn.len()).max(2) as f64;
        let (lo, hi) = padded_range(
            t.measured
                .iter()
                .chain(&t.rnn)
                .chain(t.kalman.iter().flatten())
                .copied(),
        );
        let unit = if t.unit.is_empty() {
            "arbitrary units"
        } else {
            &t.unit
        };
        let caption = format!(
            "Held-out sequence: measured {} and one-step predictions",
            t.channel
        );
        let y_desc = format!("{} ({unit})", t.channel);
        let axes = Axes {
            caption: &caption,
            caption_size: 22,
            y_label_area: 70,
            x_desc: "time step k",
            y_desc: &y_desc,
            x_ticks: Ticks::Plain,
            y_ticks: Ticks::Plain,
        };
        let mut chart = axes.draw(root, 0.0..steps - 1.0, lo..hi)?;
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(
                t.measured
                    .iter()
                    .enumerate()
                    .map(|(k, v)| Circle::new((k as f64, *v), 2, grey.filled())),
            )?
            .label("measured z")
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, grey.filled()));
        let c_rnn = colour(1);
        chart
            .draw_series(LineSeries::new(
                t.rnn.iter().enumerate().map(|(k, v)| (k as f64, *v)),
                c_rnn.stroke_width(2),
            ))?
            .label("RNN prediction")
            .legend(line_key(c_rnn.stroke_width(2)));
        if let Some(kalman) = &t.kalman {
            let c_k = colour(2);
            chart
                .draw_series(DashedLineSeries::new(
                    kalman.iter().enumerate().map(|(k, v)| (k as f64, *v)),
                    6,
                    4,
                    c_k.stroke_width(2),
                ))?
                .label("Kalman prediction")
                .legend(line_key(c_k.stroke_width(2)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
        Ok(())
    }
}

/// Measured z vs RNN prediction vs Kalman prediction on a held-out sequence.
pub fn prediction_plot(dir: &Path, stem: &str, trace: &PredictionTrace) -> Result<PlotFiles> {
    render(&PredictionFigure(trace), dir, stem)
}
