//! Sequences of inputs, measurements and (for simulated data) true states, and the CSV data
//! format: a header row; columns `seq`, `t`, `u1..um`, `z1..zp`, `x1..xn`, all optional except
//! at least one `z`. An empty `z` cell is a missing measurement.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use nalgebra::DMatrix;

use crate::dynamics::Dynamics;
use crate::error::{Result, TruthError, quote};
use dynrec_core::write_atomically;

/// One independent sequence of `T` rows. Columns of every matrix are time steps.
///
/// # Shapes
/// - `inputs`: `[m, T]` (`m` may be 0)
/// - `measurements`: `[p, T]`; `NaN` marks a missing measurement (the CSV reader produces
///   `NaN` only from empty cells and rejects a literal `NaN`)
/// - `states`: `[n, T]`, only for simulated data
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// The `seq` value of the rows (0 when the data has no `seq` column).
    pub id: i64,
    /// The time of each row: the `t` column, or the 0-based row index within the sequence.
    pub t: Vec<f64>,
    /// Inputs `u_k`.
    pub inputs: nalgebra::DMatrix<f64>,
    /// Measurements `z_k`, `NaN` where missing.
    pub measurements: nalgebra::DMatrix<f64>,
    /// True states `x_k`, when known.
    pub states: Option<nalgebra::DMatrix<f64>>,
}

impl Sequence {
    /// Number of rows `T`.
    pub fn len(&self) -> usize {
        self.measurements.ncols()
    }
    /// Whether the sequence has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A data set: one or more independent sequences, and the order of the rows in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The sequences, in order of first appearance.
    pub sequences: Vec<Sequence>,
    /// Whether the file has (or should be written with) a `seq` column.
    pub seq_column: bool,
    /// Whether the file has (or should be written with) a `t` column.
    pub t_column: bool,
    /// For each data row in file order: (index into `sequences`, row within that sequence).
    pub rows: Vec<(usize, usize)>,
}

impl Dataset {
    /// Sequences written one after another, with a `seq` column when there are several.
    pub fn from_sequences(sequences: Vec<Sequence>) -> Self {
        let rows = sequences
            .iter()
            .enumerate()
            .flat_map(|(s, seq)| (0..seq.len()).map(move |k| (s, k)))
            .collect();
        Self {
            seq_column: sequences.len() > 1,
            t_column: true,
            sequences,
            rows,
        }
    }

    /// Number of inputs `m` (the same for every sequence).
    pub fn n_inputs(&self) -> usize {
        self.sequences.first().map_or(0, |s| s.inputs.nrows())
    }
    /// Number of measurements `p`.
    pub fn n_outputs(&self) -> usize {
        self.sequences.first().map_or(0, |s| s.measurements.nrows())
    }
    /// Number of true states `n`, when the data has them.
    pub fn n_states(&self) -> Option<usize> {
        self.sequences
            .first()
            .and_then(|s| s.states.as_ref().map(|x| x.nrows()))
    }

    /// Checks that the data fits `system`: as many `u` columns as `B` has columns, as many `z`
    /// columns as `H` has rows, and (if present) as many `x` columns as states. `path` names the
    /// file in the error; the problem is reported on the header (line 1).
    pub fn check_against<D: Dynamics + ?Sized>(&self, system: &D, path: &Path) -> Result<()> {
        let header_error = |column: &str, message: String| TruthError::Data {
            path: path.to_path_buf(),
            line: 1,
            column: Some(column.to_string()),
            message,
        };
        let (m, p, n) = (system.n_inputs(), system.n_outputs(), system.n_states());
        if self.n_inputs() != m {
            return Err(header_error(
                "u",
                format!(
                    "the data has {} input column(s), the system has {m} input(s)",
                    self.n_inputs()
                ),
            ));
        }
        if self.n_outputs() != p {
            return Err(header_error(
                "z",
                format!(
                    "the data has {} measurement column(s), the system has {p} output(s)",
                    self.n_outputs()
                ),
            ));
        }
        if let Some(found) = self.n_states().filter(|&found| found != n) {
            return Err(header_error(
                "x",
                format!("the data has {found} state column(s), the system has {n} states"),
            ));
        }
        Ok(())
    }

    /// Parses the CSV data format; `origin` names the source in errors.
    pub fn from_csv_reader(reader: impl std::io::Read, origin: &Path) -> Result<Self> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let error = |line: usize, column: Option<&str>, message: String| TruthError::Data {
            path: origin.to_path_buf(),
            line,
            column: column.map(quote),
            message,
        };
        let header = csv
            .headers()
            .map_err(|e| error(1, None, e.to_string()))?
            .clone();
        let layout = Layout::parse(&header).map_err(|(column, msg)| error(1, column, msg))?;

        let mut builders: Vec<SequenceBuilder> = Vec::new();
        let mut by_id: HashMap<i64, usize> = HashMap::new();
        let mut rows = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    return Err(error(line, None, e.to_string()));
                }
            }
            let line = record.position().map_or(0, |p| p.line() as usize);
            if record.len() != header.len() {
                return Err(error(
                    line,
                    None,
                    format!("{} cells, the header has {}", record.len(), header.len()),
                ));
            }
            let cell = |i: usize, missing_ok: bool| -> Result<f64> {
                let text = &record[i];
                if text.is_empty() {
                    return if missing_ok {
                        Ok(f64::NAN)
                    } else {
                        Err(error(line, Some(&header[i]), "empty cell".into()))
                    };
                }
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(error(
                        line,
                        Some(&header[i]),
                        format!("`{}` is not a finite number", quote(text)),
                    )),
                }
            };
            let id = match layout.seq {
                Some(i) => record[i].parse::<i64>().map_err(|_| {
                    error(
                        line,
                        Some("seq"),
                        format!("`{}` is not an integer", quote(&record[i])),
                    )
                })?,
                None => 0,
            };
            let s = *by_id.entry(id).or_insert_with(|| {
                builders.push(SequenceBuilder {
                    id,
                    ..Default::default()
                });
                builders.len() - 1
            });
            let b = &mut builders[s];
            rows.push((s, b.t.len()));
            let t = match layout.t {
                Some(i) => cell(i, false)?,
                None => b.t.len() as f64,
            };
            b.t.push(t);
            for &i in &layout.u {
                b.u.push(cell(i, false)?);
            }
            for &i in &layout.z {
                b.z.push(cell(i, true)?);
            }
            for &i in &layout.x {
                b.x.push(cell(i, false)?);
            }
        }
        if rows.is_empty() {
            return Err(error(1, None, "no data rows after the header".into()));
        }
        let (m, p, n) = (layout.u.len(), layout.z.len(), layout.x.len());
        let sequences = builders
            .into_iter()
            .map(|b| {
                let len = b.t.len();
                Sequence {
                    id: b.id,
                    t: b.t,
                    inputs: DMatrix::from_vec(m, len, b.u),
                    measurements: DMatrix::from_vec(p, len, b.z),
                    states: (n > 0).then(|| DMatrix::from_vec(n, len, b.x)),
                }
            })
            .collect();
        Ok(Self {
            sequences,
            seq_column: layout.seq.is_some(),
            t_column: layout.t.is_some(),
            rows,
        })
    }

    /// Loads a data file.
    pub fn load(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|error| TruthError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_csv_reader(std::io::BufReader::new(file), path)
    }

    /// Writes the CSV data format (rows in `self.rows` order) to `w`. A cell that is not
    /// finite (other than a missing measurement, `NaN`, written empty) is an error of kind
    /// `InvalidData` naming the sequence, the row and the column: the file format has no such
    /// numbers, and [`write_atomically`] then leaves no file.
    pub fn write_csv(&self, w: &mut impl Write) -> std::io::Result<()> {
        let (m, p) = (self.n_inputs(), self.n_outputs());
        let n = self.n_states().unwrap_or(0);
        let mut header: Vec<String> = Vec::new();
        if self.seq_column {
            header.push("seq".into());
        }
        header.push("t".into());
        header.extend((1..=m).map(|i| format!("u{i}")));
        header.extend((1..=p).map(|i| format!("z{i}")));
        header.extend((1..=n).map(|i| format!("x{i}")));
        writeln!(w, "{}", header.join(","))?;
        let mut line = String::new();
        for &(s, k) in &self.rows {
            let seq = &self.sequences[s];
            line.clear();
            if self.seq_column {
                line.push_str(&format!("{},", seq.id));
            }
            let cell = |column: &str, v: f64| not_finite(seq.id, k, column, v);
            cell("t", seq.t[k])?;
            line.push_str(&format!("{}", seq.t[k]));
            for (i, v) in seq.inputs.column(k).iter().enumerate() {
                cell(&format!("u{}", i + 1), *v)?;
                line.push_str(&format!(",{v}"));
            }
            for (i, v) in seq.measurements.column(k).iter().enumerate() {
                if v.is_nan() {
                    line.push(',');
                } else {
                    cell(&format!("z{}", i + 1), *v)?;
                    line.push_str(&format!(",{v}"));
                }
            }
            if let Some(x) = &seq.states {
                for (i, v) in x.column(k).iter().enumerate() {
                    cell(&format!("x{}", i + 1), *v)?;
                    line.push_str(&format!(",{v}"));
                }
            }
            writeln!(w, "{line}")?;
        }
        Ok(())
    }

    /// Writes the data file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(write_atomically(path, |w| self.write_csv(w))?)
    }
}

/// An `InvalidData` error for a cell `v` that is not finite, or `Ok`.
fn not_finite(sequence: i64, row: usize, column: &str, v: f64) -> std::io::Result<()> {
    if v.is_finite() {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("sequence {sequence}, row {row}, column `{column}`: {v} is not a finite number"),
    ))
}

#[derive(Default)]
struct SequenceBuilder {
    id: i64,
    t: Vec<f64>,
    u: Vec<f64>,
    z: Vec<f64>,
    x: Vec<f64>,
}

/// The header positions of columns `{kind}1..{kind}N`, given as (number, position) pairs,
/// rejecting gaps in the numbering.
fn contiguous(
    kind: &str,
    mut columns: Vec<(usize, usize)>,
) -> std::result::Result<Vec<usize>, (Option<&'static str>, String)> {
    columns.sort_unstable();
    for (expected, &(k, _)) in (1..).zip(&columns) {
        if k != expected {
            return Err((
                None,
                format!("column `{kind}{k}` present but `{kind}{expected}` missing"),
            ));
        }
    }
    Ok(columns.into_iter().map(|(_, position)| position).collect())
}

/// Where each known column sits in a data file's header.
struct Layout {
    seq: Option<usize>,
    t: Option<usize>,
    u: Vec<usize>,
    z: Vec<usize>,
    x: Vec<usize>,
}

impl Layout {
    /// Column positions from the header; an error carries the offending column's name.
    fn parse(header: &csv::StringRecord) -> std::result::Result<Self, (Option<&str>, String)> {
        let mut seq = None;
        let mut t = None;
        let mut indexed: [Vec<(usize, usize)>; 3] = Default::default();
        for (i, name) in header.iter().enumerate() {
            let duplicate = || (Some(name), "appears twice in the header".to_string());
            match name {
                "seq" => seq.replace(i).map_or(Ok(()), |_| Err(duplicate()))?,
                "t" => t.replace(i).map_or(Ok(()), |_| Err(duplicate()))?,
                _ => {
                    // Split after the first character, not the first byte: a header cell
                    // starting with `ü` or a second byte-order mark panicked here.
                    let mut chars = name.chars();
                    let slot = match chars.next() {
                        Some('u') => 0,
                        Some('z') => 1,
                        Some('x') => 2,
                        _ => usize::MAX,
                    };
                    // `u1`, `z12`: digits only, no leading zero, no sign (`z01` and `z+1`
                    // were read as `z1`).
                    let digits = chars.as_str();
                    let canonical =
                        digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
                    let number = digits
                        .parse::<usize>()
                        .ok()
                        .filter(|&k| k >= 1 && canonical);
                    let (Some(k), true) = (number, slot < 3) else {
                        return Err((
                            Some(name),
                            "unknown column (expected seq, t, u1.., z1.., x1..)".to_string(),
                        ));
                    };
                    if indexed[slot].iter().any(|&(kk, _)| kk == k) {
                        return Err(duplicate());
                    }
                    indexed[slot].push((k, i));
                }
            }
        }
        let [u, z, x] = indexed;
        let (u, z, x) = (
            contiguous("u", u)?,
            contiguous("z", z)?,
            contiguous("x", x)?,
        );
        if z.is_empty() {
            return Err((None, "no measurement column (z1, z2, ...)".into()));
        }
        Ok(Self { seq, t, u, z, x })
    }
}

/// Posterior means and the diagonal of the posterior covariances of one sequence, the content
/// of the filter output file.
///
/// # Shapes
/// `means`, `variances`: `[n, T]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimates {
    /// Posterior means.
    pub means: DMatrix<f64>,
    /// Diagonals of the posterior covariances.
    pub variances: DMatrix<f64>,
}
impl Estimates {
    /// Checks what a filter or smoother of sequence `sequence` produced: every mean and
    /// variance finite, every variance ≥ 0; otherwise [`TruthError::Diverged`] naming `what`,
    /// the sequence and the first bad row.
    pub fn check(&self, sequence: i64, what: &'static str) -> Result<()> {
        for k in 0..self.means.ncols() {
            let quantity = if !self.means.column(k).iter().all(|v| v.is_finite()) {
                "the estimated state is no longer finite"
            } else if !self.variances.column(k).iter().all(|v| v.is_finite()) {
                "a variance is no longer finite"
            } else if self.variances.column(k).iter().any(|v| *v < 0.0) {
                "a variance is negative (the covariance lost positive semi-definiteness)"
            } else {
                continue;
            };
            return Err(TruthError::Diverged {
                what,
                quantity,
                sequence,
                row: k,
            });
        }
        Ok(())
    }
}

impl Dataset {
    /// Writes the filter output format, one row per data row in file order:
    /// `[seq,]t,x1..xn,var1..varn` (`seq` only when the data has a `seq` column). A cell that
    /// is not finite, or a negative variance, is an error of kind `InvalidData` naming the
    /// sequence, the row and the column ([`Estimates::check`] reports it earlier, with what
    /// produced it).
    pub fn write_estimates_csv(
        &self,
        estimates: &[Estimates],
        w: &mut impl Write,
    ) -> std::io::Result<()> {
        let n = estimates.first().map_or(0, |e| e.means.nrows());
        let mut header: Vec<String> = Vec::new();
        if self.seq_column {
            header.push("seq".into());
        }
        header.push("t".into());
        header.extend((1..=n).map(|i| format!("x{i}")));
        header.extend((1..=n).map(|i| format!("var{i}")));
        writeln!(w, "{}", header.join(","))?;
        let mut line = String::new();
        for &(s, k) in &self.rows {
            let (seq, e) = (&self.sequences[s], &estimates[s]);
            line.clear();
            if self.seq_column {
                line.push_str(&format!("{},", seq.id));
            }
            not_finite(seq.id, k, "t", seq.t[k])?;
            line.push_str(&format!("{}", seq.t[k]));
            for (i, v) in e.means.column(k).iter().enumerate() {
                not_finite(seq.id, k, &format!("x{}", i + 1), *v)?;
                line.push_str(&format!(",{v}"));
            }
            for (i, v) in e.variances.column(k).iter().enumerate() {
                let column = format!("var{}", i + 1);
                not_finite(seq.id, k, &column, *v)?;
                if *v < 0.0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "sequence {}, row {k}, column `{column}`: the variance {v} is negative",
                            seq.id
                        ),
                    ));
                }
                line.push_str(&format!(",{v}"));
            }
            writeln!(w, "{line}")?;
        }
        Ok(())
    }
}
