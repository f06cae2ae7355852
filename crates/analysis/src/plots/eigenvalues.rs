//! Eigenvalues in the complex plane, with the unit circle.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::RGBColor;

use super::chart::{
    Axes, CAPTION, DrawResult, Figure, Marker, PlotFiles, Ticks, colour, draw_legend, draw_marks,
    line_key, render,
};
use crate::analysis::Analysis;
use crate::eigen::C64;
use crate::error::Result;

/// One set of eigenvalues in the complex-plane plot.
#[derive(Debug, Clone, PartialEq)]
pub struct EigenSet {
    /// Legend entry.
    pub label: String,
    /// The eigenvalues.
    pub values: Vec<C64>,
    /// Mark.
    pub marker: Marker,
}

/// The standard sets of an analysis: truth ○, RNN ×, A − K H △, baselines □ ◇ ●.
pub fn eigen_sets(analysis: &Analysis) -> Vec<EigenSet> {
    let set = |label: &str, values: &[C64], marker| EigenSet {
        label: label.to_string(),
        values: values.to_vec(),
        marker,
    };
    let mut sets = Vec::new();
    if !analysis.truth.is_empty() {
        sets.push(set("truth: eig(A)", &analysis.truth, Marker::Circle));
    }
    sets.push(set("RNN: recovered dynamics", &analysis.rnn, Marker::Cross));
    if !analysis.closed_loop.is_empty() {
        sets.push(set(
            "Kalman predictor: eig(A − K H)",
            &analysis.closed_loop,
            Marker::Triangle,
        ));
    }
    let marks = [Marker::Square, Marker::Diamond, Marker::Dot];
    for (i, b) in analysis.baselines.iter().enumerate() {
        sets.push(set(&b.name, &b.eigenvalues, marks[i % marks.len()]));
    }
    sets
}

struct EigenFigure<'a> {
    title: &'a str,
    sets: &'a [EigenSet],
}

impl Figure for EigenFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (760, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        // A square view of radius 1.1 max(1, max |λ|): the unit circle is always in it.
        let radius = self
            .sets
            .iter()
            .flat_map(|s| s.values.iter().map(|z| z.norm()))
            .fold(1.0_f64, f64::max)
            * 1.1;
        let axes = Axes {
            caption: self.title,
            caption_size: CAPTION,
            y_label_area: 60,
            x_desc: "Re λ",
            y_desc: "Im λ",
            x_ticks: Ticks::Plain,
            y_ticks: Ticks::Plain,
        };
        let mut chart = axes.draw(root, -radius..radius, -radius..radius)?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(LineSeries::new(
                (0..=360).map(|k| {
                    let t = f64::from(k).to_radians();
                    (t.cos(), t.sin())
                }),
                grey.stroke_width(1),
            ))?
            .label("unit circle")
            .legend(line_key(grey.into()));
        for (i, set) in self.sets.iter().enumerate() {
            let style = colour(i).stroke_width(2);
            draw_marks!(
                chart,
                set.values.iter().map(|z| (z.re, z.im)),
                set.marker,
                style,
                set.label.as_str()
            );
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

/// Eigenvalues in the complex plane with the unit circle (truth ○, RNN ×, A − K H △, …).
pub fn eigenvalue_plot(
    dir: &Path,
    stem: &str,
    title: &str,
    sets: &[EigenSet],
) -> Result<PlotFiles> {
    render(&EigenFigure { title, sets }, dir, stem)
}
