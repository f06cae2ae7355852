//! What every figure shares: the bundled font, the canvas, the axes (margins, caption and
//! axis styles, tick labels), colours, marks and the legend, and [`render`], which draws a
//! figure to PNG and SVG and writes both atomically.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::RGBColor;

use crate::error::{AnalysisError, Result, io_error};
use dynrec_core::io::write_bytes_atomically;

/// DejaVu Sans (Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The family name under which [`FONT`] is registered.
pub(super) const FAMILY: &str = "sans-serif";

/// Registers the bundled font once.
fn ensure_font() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font DejaVuSans.ttf is not a valid font".to_string())
        })
        .clone()
}

/// The two files a plot is written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotFiles {
    /// `dir/stem.png`.
    pub png: PathBuf,
    /// `dir/stem.svg`.
    pub svg: PathBuf,
}

impl PlotFiles {
    /// The PNG's file name, for a link relative to the report folder.
    pub fn png_name(&self) -> String {
        self.png
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Distinct colours, in order of use.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

/// The `i`-th colour of the palette (cycling).
pub(super) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Half-size of a mark in pixels.
pub(super) const MARK: i32 = 6;

/// How a set of points (eigenvalues, learned Markov parameters, singular values) is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// ○ (the truth).
    Circle,
    /// × (the RNN).
    Cross,
    /// △ (A − K H).
    Triangle,
    /// □.
    Square,
    /// ◇.
    Diamond,
    /// ●.
    Dot,
}

/// Legend key of a line series: a short stroke in `style`.
pub(super) fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}

/// The legend box, drawn alike on every chart.
pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
}

/// Draws `points` (data coordinates) with `marker` and adds a legend entry `label` with the
/// same mark. One arm per mark, since each is its own element type; `?` returns the drawing
/// error from the enclosing function.
macro_rules! draw_marks {
    ($chart:expr, $points:expr, $marker:expr, $style:expr, $label:expr) => {{
        use plotters::prelude::{Circle, Cross, EmptyElement, PathElement, TriangleMarker};
        use $crate::plots::chart::Marker as M;
        let style: plotters::style::ShapeStyle = $style;
        let s = $crate::plots::chart::MARK;
        let square = [(-s, -s), (s, -s), (s, s), (-s, s), (-s, -s)];
        let diamond = [
            (0, -s - 1),
            (s + 1, 0),
            (0, s + 1),
            (-s - 1, 0),
            (0, -s - 1),
        ];
        macro_rules! arm {
            ($shape:expr) => {
                $chart
                    .draw_series($points.map(|c| EmptyElement::at(c) + $shape))?
                    .label($label)
                    .legend(move |(x, y)| EmptyElement::at((x + 10, y)) + $shape)
            };
        }
        match $marker {
            M::Circle => arm!(Circle::new((0, 0), s, style)),
            M::Dot => arm!(Circle::new((0, 0), s - 2, style.filled())),
            M::Cross => arm!(Cross::new((0, 0), s, style)),
            M::Triangle => arm!(TriangleMarker::new((0, 0), s + 1, style)),
            M::Square => arm!(PathElement::new(square.to_vec(), style)),
            M::Diamond => arm!(PathElement::new(diamond.to_vec(), style)),
        };
    }};
}
pub(crate) use draw_marks;

/// What drawing on a backend returns.
pub(super) type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart with `f64` axes, as [`Axes::draw`] sets it up.
pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Something that can be drawn on any backend.
pub(super) trait Figure {
    /// Canvas size in pixels.
    fn size(&self) -> (u32, u32) {
        (900, 600)
    }
    /// Draws the figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Draws `figure` to `dir/stem.png` and `dir/stem.svg`, creating `dir`; each file appears
/// atomically (the PNG is drawn under a temporary name and renamed, the SVG is drawn into
/// memory and written atomically).
pub(super) fn render(figure: &impl Figure, dir: &Path, stem: &str) -> Result<PlotFiles> {
    let plot_error = |path: &Path, message: String| AnalysisError::Plot {
        path: path.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    ensure_font().map_err(|m| plot_error(&png, m))?;
    let size = figure.size();

    // PNG: drawn under a temporary name (the encoder picks the format from the extension).
    // Unique per process and call, so concurrent plots never share a temporary file.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{stem}.{}-{call}.tmp.png", std::process::id()));
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        if let Err(e) = paint(figure, &root) {
            let _ = std::fs::remove_file(&tmp);
            return Err(plot_error(&png, e.to_string()));
        }
    }
    std::fs::rename(&tmp, &png).map_err(io_error(&png))?;

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        paint(figure, &root).map_err(|e| plot_error(&svg, e.to_string()))?;
    }
    write_bytes_atomically(&svg, text.as_bytes())?;
    Ok(PlotFiles { png, svg })
}

/// White canvas, the figure, `present()`.
fn paint<DB: DrawingBackend>(
    figure: &impl Figure,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    root.fill(&WHITE)
        .and_then(|()| figure.draw(root))
        .and_then(|()| root.present())
}

/// How an axis labels its ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ticks {
    /// The value itself ([`tick`]).
    Plain,
    /// A log10 axis: the value `v` is labelled `10^v` ([`pow10_label`]).
    Pow10,
}

impl Ticks {
    /// [`Ticks::Pow10`] on a log axis, [`Ticks::Plain`] otherwise.
    pub(super) fn log_if(log: bool) -> Self {
        if log { Self::Pow10 } else { Self::Plain }
    }

    fn formatter(self) -> &'static dyn Fn(&f64) -> String {
        match self {
            Self::Plain => &tick,
            Self::Pow10 => &pow10_label,
        }
    }
}

/// Margin around every chart, in pixels.
const MARGIN: u32 = 15;
/// Height of the x-axis label area, in pixels.
const X_LABEL_AREA: u32 = 45;
/// Caption size of most charts.
pub(super) const CAPTION: u32 = 24;
/// Tick label size.
const LABEL: u32 = 15;
/// Axis description size.
const AXIS_DESC: u32 = 17;

/// The set-up of a chart: caption, axis descriptions and tick formats, with margins and text
/// styles shared by every figure.
#[derive(Debug, Clone, Copy)]
pub(super) struct Axes<'t> {
    /// The caption above the chart.
    pub caption: &'t str,
    /// Its size in pixels ([`CAPTION`] on most charts).
    pub caption_size: u32,
    /// Width of the y-axis label area, in pixels (wide enough for the tick labels).
    pub y_label_area: u32,
    /// The x-axis description.
    pub x_desc: &'t str,
    /// The y-axis description.
    pub y_desc: &'t str,
    /// How the x ticks are labelled.
    pub x_ticks: Ticks,
    /// How the y ticks are labelled.
    pub y_ticks: Ticks,
}

impl Axes<'_> {
    /// Builds a chart over `x × y` on `root` and draws its caption, mesh and axis labels.
    pub(super) fn draw<'a, DB: DrawingBackend>(
        &self,
        root: &'a DrawingArea<DB, Shift>,
        x: Range<f64>,
        y: Range<f64>,
    ) -> std::result::Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
        let mut chart = ChartBuilder::on(root)
            .caption(self.caption, (FAMILY, self.caption_size))
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(self.y_label_area)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .x_label_formatter(self.x_ticks.formatter())
            .y_label_formatter(self.y_ticks.formatter())
            .label_style((FAMILY, LABEL))
            .axis_desc_style((FAMILY, AXIS_DESC))
            .draw()?;
        Ok(chart)
    }
}

/// `log10 v` for `v > 0`; `None` otherwise (a log axis cannot show it).
pub(super) fn log10_positive(v: f64) -> Option<f64> {
    (v > 0.0).then(|| v.log10())
}

/// Range `[lo, hi]` of the finite values, widened by 5 % (and to a unit interval if flat).
pub(super) fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// A tick label without float noise: `0` not `-0.0`, `5` not `5.0`, at most 4 significant
/// digits, scientific notation for very small or large numbers.
fn tick(v: &f64) -> String {
    let v = *v;
    let a = v.abs();
    if a < 1e-12 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let text = format!("{v:.digits$}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Formats a log10 axis value `v` as the number `10^v`.
fn pow10_label(v: &f64) -> String {
    format!("{:.0e}", 10f64.powf(*v))
}

#[cfg(test)]
mod tests {
    use super::tick;

    /// Tick labels carry no float noise: `-0.0` → `0`, `5.0` → `5`, 4 significant digits.
    #[test]
    fn tick_labels_are_clean() {
        assert_eq!(tick(&-0.0), "0");
        assert_eq!(tick(&1e-17), "0");
        assert_eq!(tick(&5.0), "5");
        assert_eq!(tick(&-0.25), "-0.25");
        assert_eq!(tick(&0.30000000000000004), "0.3");
        assert_eq!(tick(&123.456), "123.5");
        assert_eq!(tick(&2e-5), "2.0e-5");
    }
}
