//! A metric against a swept parameter: mean over seeds as a line, min–max as error bars.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{
    Axes, CAPTION, DrawResult, Figure, PlotFiles, Ticks, colour, draw_legend, line_key,
    log10_positive, padded_range, render,
};
use crate::error::Result;

/// One parameter value of a sweep and the metric over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// Parameter value.
    pub x: f64,
    /// Metric, one value per seed.
    pub values: Vec<f64>,
}

/// One curve of a sweep plot.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSeries {
    /// Legend entry.
    pub label: String,
    /// Points in order of the parameter.
    pub points: Vec<SweepPoint>,
}

/// A metric against a swept parameter: mean over seeds as a line (geometric mean on a log
/// metric axis), min–max as error bars.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Title.
    pub title: String,
    /// Parameter axis label, with unit.
    pub x_label: String,
    /// Metric axis label, with unit.
    pub y_label: String,
    /// Log scale on the parameter axis (non-positive values are left out).
    pub log_x: bool,
    /// Log scale on the metric axis (non-positive values are left out).
    pub log_y: bool,
    /// The curves.
    pub series: Vec<SweepSeries>,
}

/// `v` in axis coordinates: `log10 v` on a log axis (`None` for `v ≤ 0`), `v` otherwise.
fn on_axis(log: bool, v: f64) -> Option<f64> {
    if log { log10_positive(v) } else { Some(v) }
}

/// An axis description, marked `(log scale)` on a log axis.
fn axis_desc(label: &str, log: bool) -> String {
    if log {
        format!("{label} (log scale)")
    } else {
        label.to_string()
    }
}

/// One point of a curve in axis coordinates: `(x, mean, min, max)`.
type Summary = (f64, f64, f64, f64);

/// Summarises `p` over the seeds whose value is finite (and positive on a log axis); on a
/// log axis the mean of log10 values is the geometric mean. `None` when no seed counts.
fn summarise(s: &Sweep, p: &SweepPoint) -> Option<Summary> {
    let x = on_axis(s.log_x, p.x)?;
    let ys: Vec<f64> = p
        .values
        .iter()
        .filter(|v| v.is_finite())
        .filter_map(|v| on_axis(s.log_y, *v))
        .collect();
    if ys.is_empty() {
        return None;
    }
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let (lo, hi) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(*y), b.max(*y))
        });
    Some((x, mean, lo, hi))
}

struct SweepFigure<'a>(&'a Sweep);

impl Figure for SweepFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let s = self.0;
        let mut curves: Vec<Vec<Summary>> = s
            .series
            .iter()
            .map(|c| c.points.iter().filter_map(|p| summarise(s, p)).collect())
            .collect();
        let (x0, x1) = padded_range(curves.iter().flatten().map(|p| p.0));
        // Several curves share the parameter values: dodge them sideways by 1.5 % of the axis
        // each so that their error bars stay apart.
        let dodge = 0.015 * (x1 - x0);
        let middle = (curves.len() as f64 - 1.0) / 2.0;
        for (i, curve) in curves.iter_mut().enumerate() {
            for p in curve.iter_mut() {
                p.0 += (i as f64 - middle) * dodge;
            }
        }
        // The legend goes to the upper corner the curves leave free: left when they rise.
        let (first, last): (Vec<f64>, Vec<f64>) = curves
            .iter()
            .filter_map(|c| Some((c.first()?.1, c.last()?.1)))
            .unzip();
        let rising = last.iter().sum::<f64>() > first.iter().sum::<f64>();
        let legend_at = if rising {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        };
        let (y0, y1) = padded_range(curves.iter().flatten().flat_map(|p| [p.2, p.3]));
        // Headroom for the legend, one line per curve.
        let y1 = y1 + 0.08 * (curves.len() as f64 + 1.0) * (y1 - y0);
        let (x_desc, y_desc) = (
            axis_desc(&s.x_label, s.log_x),
            axis_desc(&s.y_label, s.log_y),
        );
        let axes = Axes {
            caption: &s.title,
            caption_size: CAPTION,
            y_label_area: 75,
            x_desc: &x_desc,
            y_desc: &y_desc,
            x_ticks: Ticks::log_if(s.log_x),
            y_ticks: Ticks::log_if(s.log_y),
        };
        let mut chart = axes.draw(root, x0..x1, y0..y1)?;
        for (i, (series, points)) in s.series.iter().zip(&curves).enumerate() {
            let c = colour(i + 1);
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p.0, p.1)),
                    c.stroke_width(2),
                ))?
                .label(format!(
                    "{} ({}, min–max over seeds)",
                    series.label,
                    if s.log_y { "geometric mean" } else { "mean" }
                ))
                .legend(line_key(c.stroke_width(2)));
            chart.draw_series(
                points
                    .iter()
                    .map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, c.stroke_width(2), 8)),
            )?;
        }
        draw_legend(&mut chart, legend_at)?;
        Ok(())
    }
}

/// A metric against a swept parameter (mean and spread over seeds).
pub fn sweep_plot(dir: &Path, stem: &str, sweep: &Sweep) -> Result<PlotFiles> {
    render(&SweepFigure(sweep), dir, stem)
}
