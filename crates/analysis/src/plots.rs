//! Figures, each written as PNG and SVG.
//!
//! Text is drawn with DejaVu Sans bundled in `assets/` (registered through `ab_glyph`), so a
//! machine without system fonts draws the same figures. Every function creates the output
//! folder, draws, calls `present()` and reports errors; files appear atomically (drawn under a
//! temporary name, then renamed).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::RGBColor;

use crate::analysis::Analysis;
use crate::eigen::C64;
use crate::error::{AnalysisError, Result, io_error};
use crate::similarity::MarkovComparison;
use dynrec_core::io::write_bytes_atomically;

/// DejaVu Sans (Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name under which [`FONT`] is registered.
const FAMILY: &str = "sans-serif";

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

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Half-size of a mark in pixels.
const MARK: i32 = 6;

/// Legend key of a line series: a short stroke in `style`.
fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}

/// The legend box, drawn alike on every chart.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
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
/// same mark. One arm per mark, since each is its own element type.
macro_rules! draw_marks {
    ($chart:expr, $points:expr, $marker:expr, $style:expr, $label:expr) => {{
        let style: ShapeStyle = $style;
        let s = MARK;
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
            Marker::Circle => arm!(Circle::new((0, 0), s, style)),
            Marker::Dot => arm!(Circle::new((0, 0), s - 2, style.filled())),
            Marker::Cross => arm!(Cross::new((0, 0), s, style)),
            Marker::Triangle => arm!(TriangleMarker::new((0, 0), s + 1, style)),
            Marker::Square => arm!(PathElement::new(square.to_vec(), style)),
            Marker::Diamond => arm!(PathElement::new(diamond.to_vec(), style)),
        };
    }};
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Something that can be drawn on any backend.
trait Figure {
    fn size(&self) -> (u32, u32) {
        (900, 600)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Draws `figure` to `dir/stem.png` and `dir/stem.svg`.
fn render(figure: &impl Figure, dir: &Path, stem: &str) -> Result<PlotFiles> {
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
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{stem}.{}-{call}.tmp.png", std::process::id()));
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .and_then(|()| figure.draw(&root))
            .and_then(|()| root.present());
        if let Err(e) = drawn {
            let _ = std::fs::remove_file(&tmp);
            return Err(plot_error(&png, e.to_string()));
        }
    }
    std::fs::rename(&tmp, &png).map_err(io_error(&png))?;

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| figure.draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| plot_error(&svg, e.to_string()))?;
    }
    write_bytes_atomically(&svg, text.as_bytes())?;
    Ok(PlotFiles { png, svg })
}

/// How a set of eigenvalues is marked in the complex plane.
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
    let mut sets = Vec::new();
    if !analysis.truth.is_empty() {
        sets.push(EigenSet {
            label: "truth: eig(A)".to_string(),
            values: analysis.truth.clone(),
            marker: Marker::Circle,
        });
    }
    sets.push(EigenSet {
        label: "RNN: recovered dynamics".to_string(),
        values: analysis.rnn.clone(),
        marker: Marker::Cross,
    });
    if !analysis.closed_loop.is_empty() {
        sets.push(EigenSet {
            label: "Kalman predictor: eig(A − K H)".to_string(),
            values: analysis.closed_loop.clone(),
            marker: Marker::Triangle,
        });
    }
    let marks = [Marker::Square, Marker::Diamond, Marker::Dot];
    for (i, b) in analysis.baselines.iter().enumerate() {
        sets.push(EigenSet {
            label: b.name.clone(),
            values: b.eigenvalues.clone(),
            marker: marks[i % marks.len()],
        });
    }
    sets
}

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

struct EigenFigure<'a> {
    title: &'a str,
    sets: &'a [EigenSet],
}

impl Figure for EigenFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (760, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let radius = self
            .sets
            .iter()
            .flat_map(|s| s.values.iter().map(|z| z.norm()))
            .fold(1.0_f64, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(-radius..radius, -radius..radius)?;
        chart
            .configure_mesh()
            .x_desc("Re λ")
            .y_desc("Im λ")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()?;
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

/// Range `[lo, hi]` of the finite values, widened by 5 % (and to a unit interval if flat).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
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
        let log = |v: f64| (v > 0.0).then(|| v.log10());
        let all = self
            .train
            .iter()
            .chain(self.validation)
            .chain(self.floor.iter().map(|f| &f.value))
            .filter_map(|v| log(*v));
        let (lo, hi) = padded_range(all);
        let epochs = self.train.len().max(self.validation.len()).max(2) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("Training and validation loss", (FAMILY, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(1.0..epochs, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("evaluation (Adam every few steps, then L-BFGS iterations)")
            .y_desc("mean squared error (log scale)")
            .x_label_formatter(&tick)
            .y_label_formatter(&pow10_label)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()?;
        let series = |values: &[f64]| {
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| log(*v).map(|l| ((i + 1) as f64, l)))
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
        if let Some((f, label)) = self.floor.and_then(|f| Some((log(f.value)?, f.label))) {
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
            "arbitrary units".to_string()
        } else {
            t.unit.clone()
        };
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Held-out sequence: measured {} and one-step predictions",
                    t.channel
                ),
                (FAMILY, 22),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..steps - 1.0, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("time step k")
            .y_desc(format!("{} ({unit})", t.channel))
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()?;
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
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Markov parameters (relative error {:.2e})",
                    m.relative_error
                ),
                (FAMILY, 24),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..lags - 0.5, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("lag j (time steps)")
            .y_desc("impulse response entry")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()?;
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
        let mut chart = ChartBuilder::on(root)
            .caption(
                "N4SID: singular values of the oblique projection",
                (FAMILY, 24),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(0.5..count + 0.5, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("index k")
            .y_desc("singular value s_k (log scale)")
            .x_label_formatter(&tick)
            .y_label_formatter(&pow10_label)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()?;
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

struct SweepFigure<'a>(&'a Sweep);

impl Figure for SweepFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let s = self.0;
        let tx = |v: f64| {
            if s.log_x {
                (v > 0.0).then(|| v.log10())
            } else {
                Some(v)
            }
        };
        let ty = |v: f64| {
            if s.log_y {
                (v > 0.0).then(|| v.log10())
            } else {
                Some(v)
            }
        };
        // Per point: (x, mean, min, max) in axis coordinates; mean over the seeds whose value
        // is finite (and positive on a log axis). On a log axis the mean of log10 values is the
        // geometric mean.
        let summarise = |p: &SweepPoint| {
            let x = tx(p.x)?;
            let ys: Vec<f64> = p
                .values
                .iter()
                .filter(|v| v.is_finite())
                .filter_map(|v| ty(*v))
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
        };
        let mut curves: Vec<Vec<(f64, f64, f64, f64)>> = s
            .series
            .iter()
            .map(|c| c.points.iter().filter_map(summarise).collect())
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
        let mut chart = ChartBuilder::on(root)
            .caption(&s.title, (FAMILY, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(if s.log_x {
            format!("{} (log scale)", s.x_label)
        } else {
            s.x_label.clone()
        })
        .y_desc(if s.log_y {
            format!("{} (log scale)", s.y_label)
        } else {
            s.y_label.clone()
        })
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 17));
        mesh.x_label_formatter(if s.log_x { &pow10_label } else { &tick });
        mesh.y_label_formatter(if s.log_y { &pow10_label } else { &tick });
        mesh.draw()?;
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
