//! Memory limits: a job whose memory would exceed what the machine has is refused before it
//! starts, with the estimate in the message, instead of aborting on a failed allocation (or
//! panicking on a size that overflows) part way through.
//!
//! What the machine has is `MemAvailable` from `/proc/meminfo` where that exists (Linux), and
//! [`FALLBACK_MEMORY`] elsewhere. The estimates count the arrays a job keeps, 8 bytes per
//! number; they are computed in floating point, so no size overflows.

use crate::error::{Result, TruthError};

/// The memory assumed available where `/proc/meminfo` cannot be read: 8 GiB.
pub const FALLBACK_MEMORY: u64 = 8 << 30;

/// Bytes per stored number.
const F64: f64 = 8.0;

/// The memory available to a new job, in bytes, and where the number comes from.
pub fn available_memory() -> (u64, &'static str) {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available(&text))
        .map_or(
            (
                FALLBACK_MEMORY,
                "assumed available (no /proc/meminfo to read MemAvailable from)",
            ),
            |bytes| (bytes, "available (MemAvailable in /proc/meminfo)"),
        )
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    let scale = match words.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(scale)
}

/// Refuses a job of `needed` bytes (see [`TruthError::TooLarge`]) when it exceeds
/// [`available_memory`].
pub fn check_memory(what: impl FnOnce() -> String, detail: String, needed: f64) -> Result<()> {
    let (available, limit) = available_memory();
    check_against(what, detail, needed, available, limit)
}

fn check_against(
    what: impl FnOnce() -> String,
    detail: String,
    needed: f64,
    available: u64,
    limit: &'static str,
) -> Result<()> {
    if needed.is_finite() && needed <= available as f64 {
        return Ok(());
    }
    Err(TruthError::TooLarge {
        what: what(),
        detail,
        needed,
        available,
        limit,
    })
}

/// The memory a simulation keeps: `sequences × steps` rows of `t`, `m` inputs, `p`
/// measurements and `n` states, plus the file order of the rows (2 numbers a row).
/// Returns the estimate in bytes and how it was made.
pub fn simulation_bytes(
    sequences: usize,
    steps: usize,
    n: usize,
    m: usize,
    p: usize,
) -> (f64, String) {
    let columns = 1 + m + p + n + 2;
    let rows = sequences as f64 * steps as f64;
    (
        rows * columns as f64 * F64,
        format!(
            "{sequences} sequence(s) × {steps} steps × {columns} numbers (t, {m} input(s), \
             {p} measurement(s), {n} state(s), row order) × 8 bytes"
        ),
    )
}

/// The memory filtering keeps: while one sequence of `longest` rows is filtered, its means,
/// predicted means, innovations (`p`), covariances and predicted covariances (`n × n` each)
/// and NIS; with `smoothed`, the smoother's copy of the means and covariances; and for all
/// `rows` of the data the estimates written out (`n` means and `n` variances a row).
pub fn filter_bytes(
    longest: usize,
    rows: usize,
    n: usize,
    p: usize,
    smoothed: bool,
) -> (f64, String) {
    let (n, p) = (n as f64, p as f64);
    let mut per_row = 2.0 * n * n + 2.0 * n + p + 2.0;
    if smoothed {
        per_row += n * n + n;
    }
    let needed = (longest as f64 * per_row + rows as f64 * 2.0 * n) * F64;
    let covariances = if smoothed { 3 } else { 2 };
    (
        needed,
        format!(
            "{longest} rows × ({covariances} covariances of {n}×{n} and the means) × 8 bytes for \
             the longest sequence, and {rows} rows × {} estimates × 8 bytes",
            2.0 * n
        ),
    )
}

/// The memory training an Elman network keeps, per training row: the data on the host (`m`
/// inputs, `p` measurements) and as tensors (`d` network inputs, `p` targets and `p` mask
/// entries), the forward pass's hidden states and errors (`n + p`), and the backward pass's
/// hidden-state gradients and pre-activation derivatives (`2n`) and input gradients (`d`):
/// `3n + 2d + m + 4p` numbers, counted at 8 bytes. Returns the estimate in bytes and how it
/// was made.
pub fn training_bytes(rows: usize, n: usize, d: usize, m: usize, p: usize) -> (f64, String) {
    let per_row = 3.0 * n as f64 + 2.0 * d as f64 + m as f64 + 4.0 * p as f64;
    (
        rows as f64 * per_row * F64,
        format!(
            "{rows} training rows × {per_row} numbers ({n} hidden units: states and two \
             gradients; {d} network inputs and their gradients; {m} input(s); {p} \
             measurement(s): data, targets, mask and errors) × 8 bytes"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MemAvailable` is read in kB and returned in bytes; a text without it gives nothing.
    #[test]
    fn reads_mem_available() {
        let text = "MemTotal:       24000000 kB\nMemFree:  1 kB\nMemAvailable:   22000000 kB\n";
        assert_eq!(mem_available(text), Some(22_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }

    /// A size over the limit (or one that is not finite) is refused with the estimate, the
    /// limit and how the estimate was made in the message; a size within it passes.
    #[test]
    fn refuses_sizes_over_the_limit() {
        let detail = || "rows × 5 × 8 bytes".to_string();
        assert!(check_against(|| "x".into(), detail(), 1e9, 2 << 30, "available").is_ok());
        let e = check_against(|| "simulating".into(), detail(), 8e9, 1 << 30, "available")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("simulating") && e.contains("7.451 GiB") && e.contains("1.000 GiB"),
            "{e}"
        );
        assert!(e.contains("rows × 5 × 8 bytes"), "{e}");
        let e = check_against(|| "x".into(), detail(), f64::INFINITY, 1 << 30, "available");
        assert!(e.is_err());
    }

    /// Training's estimate counts `3n + 2d + m + 4p` numbers a row at 8 bytes: 10⁶ rows of a
    /// 1,000-unit network with 1 input and 1 measurement (predictor mode: d = 2) need
    /// 10⁶ × 3,009 × 8 = 24.072 GB, which a 16 GiB machine refuses.
    #[test]
    fn training_estimate() {
        let (bytes, detail) = training_bytes(1_000_000, 1000, 2, 1, 1);
        assert_eq!(bytes, 24.072e9);
        assert!(detail.contains("3009 numbers"), "{detail}");
        assert!(check_against(|| "training".into(), detail, bytes, 16 << 30, "available").is_err());
    }
}
