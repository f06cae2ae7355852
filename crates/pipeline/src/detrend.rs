//! Removing a mean or a linear trend from each sequence's measurements before a fit, and
//! saying what was removed.
//!
//! A per-sequence line `z ≈ a + b t` (least squares over the present rows, `t` the data's own
//! time column) is a deterministic component: a state-space model can only absorb it as a
//! root at 1 plus an offset, and a network spends a state on it. Removing it leaves the
//! stochastic dynamics; what was removed is reported beside the fit.

use std::fmt;

use dynrec_truth::{Dataset, Sequence};
use serde::{Deserialize, Serialize};

/// What is removed from each sequence's measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Detrend {
    /// Nothing (the default).
    #[default]
    None,
    /// The mean of each channel over the sequence's present rows.
    Mean,
    /// The least-squares line `a + b t` of each channel over the sequence's present rows.
    Linear,
}

/// The line removed from one channel of one sequence: `offset + slope · (t − t_mean)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// The sequence's `seq` value.
    pub sequence: i64,
    /// The measurement channel (0-based: `z1` is 0).
    pub channel: usize,
    /// The mean of the present values.
    pub offset: f64,
    /// The slope per unit of `t` (0 for [`Detrend::Mean`]).
    pub slope: f64,
    /// The mean `t` of the present rows, where the line passes through `offset`.
    pub t_mean: f64,
}

impl fmt::Display for Trend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sequence {}, z{}: {:.6e} + {:.6e} · (t − {:.6e})",
            self.sequence,
            self.channel + 1,
            self.offset,
            self.slope,
            self.t_mean
        )
    }
}

/// The least-squares line through the finite `(t, z)` pairs: `(z̄, slope, t̄)`; the slope is 0
/// with fewer than two distinct times. `None` without any finite `z`.
fn line(t: &[f64], z: impl Iterator<Item = f64>, with_slope: bool) -> Option<(f64, f64, f64)> {
    let points: Vec<(f64, f64)> = t
        .iter()
        .copied()
        .zip(z)
        .filter(|(_, z)| z.is_finite())
        .collect();
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f64;
    let t_mean = points.iter().map(|p| p.0).sum::<f64>() / n;
    let z_mean = points.iter().map(|p| p.1).sum::<f64>() / n;
    let stt: f64 = points.iter().map(|p| (p.0 - t_mean).powi(2)).sum();
    let stz: f64 = points.iter().map(|p| (p.0 - t_mean) * (p.1 - z_mean)).sum();
    let slope = if with_slope && stt > 0.0 {
        stz / stt
    } else {
        0.0
    };
    Some((z_mean, slope, t_mean))
}

/// `data` with each sequence's measurements detrended as `how` says (missing values stay
/// missing; inputs and states are untouched), and the lines removed, one per sequence and
/// channel with a present value. [`Detrend::None`] returns the data unchanged and no lines.
pub fn detrend(data: &Dataset, how: Detrend) -> (Dataset, Vec<Trend>) {
    if how == Detrend::None {
        return (data.clone(), Vec::new());
    }
    let mut trends = Vec::new();
    let sequences = data
        .sequences
        .iter()
        .map(|s| {
            let mut measurements = s.measurements.clone();
            for channel in 0..measurements.nrows() {
                let row: Vec<f64> = s.measurements.row(channel).iter().copied().collect();
                let Some((offset, slope, t_mean)) =
                    line(&s.t, row.iter().copied(), how == Detrend::Linear)
                else {
                    continue;
                };
                for (k, z) in row.iter().enumerate() {
                    measurements[(channel, k)] = z - offset - slope * (s.t[k] - t_mean);
                }
                trends.push(Trend {
                    sequence: s.id,
                    channel,
                    offset,
                    slope,
                    t_mean,
                });
            }
            Sequence {
                measurements,
                ..s.clone()
            }
        })
        .collect();
    (Dataset::from_sequences(sequences), trends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn sequence(id: i64, t: Vec<f64>, z: Vec<f64>) -> Sequence {
        let n = t.len();
        Sequence {
            id,
            t,
            inputs: DMatrix::zeros(0, n),
            measurements: DMatrix::from_row_slice(1, n, &z),
            states: None,
        }
    }

    /// An exact line (with a gap) is removed to rounding and its offset and slope recovered;
    /// on any data the linear residuals are orthogonal to 1 and to t over the present rows (the
    /// normal equations of least squares), and the mean residuals sum to zero. The gap stays a
    /// gap; each sequence gets its own line.
    #[test]
    fn removes_the_least_squares_line() {
        let t: Vec<f64> = (0..50).map(|k| 1958.0 + 0.25 * k as f64).collect();
        let mut exact: Vec<f64> = t.iter().map(|t| 300.0 + 1.5 * (t - 1958.0)).collect();
        exact[7] = f64::NAN;
        let wiggly: Vec<f64> = t
            .iter()
            .enumerate()
            .map(|(k, t)| 2.0 * t + (0.7 * k as f64).sin() + if k % 3 == 0 { 1.0 } else { 0.0 })
            .collect();
        let data = Dataset::from_sequences(vec![
            sequence(0, t.clone(), exact),
            sequence(1, t.clone(), wiggly),
        ]);
        let (out, trends) = detrend(&data, Detrend::Linear);
        assert_eq!(trends.len(), 2);
        assert!((trends[0].slope - 1.5).abs() < 1e-9, "{}", trends[0]);
        let at_mean = 300.0 + 1.5 * (trends[0].t_mean - 1958.0);
        assert!((trends[0].offset - at_mean).abs() < 1e-9);
        let exact_out = &out.sequences[0].measurements;
        assert!(exact_out[(0, 7)].is_nan());
        for k in (0..50).filter(|&k| k != 7) {
            assert!(
                exact_out[(0, k)].abs() < 1e-9,
                "row {k}: {}",
                exact_out[(0, k)]
            );
        }
        let residual = &out.sequences[1].measurements;
        let sum: f64 = residual.iter().sum();
        let moment: f64 = residual.iter().zip(&t).map(|(r, t)| r * (t - 1958.0)).sum();
        assert!(sum.abs() < 1e-9 && moment.abs() < 1e-7, "{sum} {moment}");

        let (centred, trends) = detrend(&data, Detrend::Mean);
        assert!(trends.iter().all(|t| t.slope == 0.0));
        let present: Vec<f64> = centred.sequences[0]
            .measurements
            .iter()
            .copied()
            .filter(|z| z.is_finite())
            .collect();
        assert!(present.iter().sum::<f64>().abs() < 1e-9);

        let (same, none) = detrend(&data, Detrend::None);
        assert!(none.is_empty());
        assert_eq!(
            same.sequences[1].measurements,
            data.sequences[1].measurements
        );
    }
}
