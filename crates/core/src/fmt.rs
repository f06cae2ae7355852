//! Number formats shared by reports, tables and verdicts.

/// Scientific notation with `digits` decimals: `sci(3.14159e-4, 1) = "3.1e-4"`.
pub fn sci(x: f64, digits: usize) -> String {
    format!("{x:.digits$e}")
}

/// [`sci`] with two decimals for a value that may be absent (`"–"`).
pub fn sci_or_dash(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_string(), |x| sci(x, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formats round to the stated number of decimals and mark an absent value.
    #[test]
    fn formats() {
        assert_eq!(sci(3.14159e-4, 1), "3.1e-4");
        assert_eq!(sci(2.0, 2), "2.00e0");
        assert_eq!(sci_or_dash(Some(1.234e5)), "1.23e5");
        assert_eq!(sci_or_dash(None), "–");
    }
}
