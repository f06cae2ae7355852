//! Readable JSON for matrices: a `DMatrix` is written as an array of rows, a `DVector` as an
//! array, complex numbers as `[re, im]`.
//!
//! Use with `#[serde(with = "dynrec_core::serde_matrix::rows")]` and friends.

use nalgebra::{Complex, DMatrix, DVector};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::RaggedRows;

/// A matrix from its rows (the array-of-rows layout of the system files and specs), rejecting
/// ragged rows; `field` names the matrix in the error. No rows give a `0 × 0` matrix.
pub fn matrix_from_rows(
    field: &'static str,
    rows: &[Vec<f64>],
) -> std::result::Result<DMatrix<f64>, RaggedRows> {
    let first = rows.first().map_or(0, Vec::len);
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != first) {
        return Err(RaggedRows {
            field,
            row: i + 1,
            len: row.len(),
            first,
        });
    }
    Ok(DMatrix::from_fn(rows.len(), first, |i, j| rows[i][j]))
}

/// Converts a matrix to its rows.
pub fn to_rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    m.row_iter().map(|r| r.iter().copied().collect()).collect()
}

/// [`matrix_from_rows`] for a deserialiser: the error as a message.
fn from_rows(rows: &[Vec<f64>]) -> Result<DMatrix<f64>, String> {
    matrix_from_rows("matrix", rows).map_err(|e| e.to_string())
}

/// Complex numbers as `[re, im]` pairs.
pub fn to_pairs(values: &[Complex<f64>]) -> Vec<[f64; 2]> {
    values.iter().map(|c| [c.re, c.im]).collect()
}

/// `[re, im]` pairs as complex numbers.
pub fn from_pairs(pairs: &[[f64; 2]]) -> Vec<Complex<f64>> {
    pairs.iter().map(|p| Complex::new(p[0], p[1])).collect()
}

/// `DMatrix<f64>` as an array of rows.
pub mod rows {
    use super::*;

    /// Serialises a matrix as rows.
    pub fn serialize<S: Serializer>(m: &DMatrix<f64>, s: S) -> Result<S::Ok, S::Error> {
        to_rows(m).serialize(s)
    }

    /// Deserialises a matrix from rows (an empty array is a 0x0 matrix).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DMatrix<f64>, D::Error> {
        let rows = Vec::<Vec<f64>>::deserialize(d)?;
        from_rows(&rows).map_err(serde::de::Error::custom)
    }
}

/// `Option<DMatrix<f64>>` as an array of rows or `null`.
pub mod option_rows {
    use super::*;

    /// Serialises an optional matrix as rows or `null`.
    pub fn serialize<S: Serializer>(m: &Option<DMatrix<f64>>, s: S) -> Result<S::Ok, S::Error> {
        m.as_ref().map(to_rows).serialize(s)
    }

    /// Deserialises an optional matrix from rows or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DMatrix<f64>>, D::Error> {
        Option::<Vec<Vec<f64>>>::deserialize(d)?
            .map(|rows| from_rows(&rows).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `Vec<DMatrix<f64>>` as an array of row arrays.
pub mod vec_rows {
    use super::*;

    /// Serialises each matrix as rows.
    pub fn serialize<S: Serializer>(ms: &[DMatrix<f64>], s: S) -> Result<S::Ok, S::Error> {
        ms.iter().map(to_rows).collect::<Vec<_>>().serialize(s)
    }

    /// Deserialises a list of matrices from rows.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DMatrix<f64>>, D::Error> {
        Vec::<Vec<Vec<f64>>>::deserialize(d)?
            .iter()
            .map(|rows| from_rows(rows).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// `DVector<f64>` as an array.
pub mod vector {
    use super::*;

    /// Serialises a vector as an array.
    pub fn serialize<S: Serializer>(v: &DVector<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.as_slice().serialize(s)
    }

    /// Deserialises a vector from an array.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DVector<f64>, D::Error> {
        Ok(DVector::from_vec(Vec::<f64>::deserialize(d)?))
    }
}

/// `Option<DVector<f64>>` as an array or `null`.
pub mod option_vector {
    use super::*;

    /// Serialises an optional vector as an array or `null`.
    pub fn serialize<S: Serializer>(v: &Option<DVector<f64>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(|v| v.as_slice().to_vec()).serialize(s)
    }

    /// Deserialises an optional vector from an array or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DVector<f64>>, D::Error> {
        Ok(Option::<Vec<f64>>::deserialize(d)?.map(DVector::from_vec))
    }
}

/// `Vec<Complex<f64>>` as `[[re, im], ...]`.
pub mod complex_vec {
    use super::*;

    /// Serialises complex numbers as `[re, im]` pairs.
    pub fn serialize<S: Serializer>(v: &[Complex<f64>], s: S) -> Result<S::Ok, S::Error> {
        to_pairs(v).serialize(s)
    }

    /// Deserialises complex numbers from `[re, im]` pairs.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Complex<f64>>, D::Error> {
        Ok(from_pairs(&Vec::<[f64; 2]>::deserialize(d)?))
    }
}

/// An `f64` that may be `+∞` (e.g. the gain of an unstable mode), written as `null` then.
pub mod infinite_as_null {
    use super::*;

    /// Serialises a finite value as a number and a non-finite one as `null`.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        v.is_finite().then_some(*v).serialize(s)
    }

    /// Deserialises `null` as `+∞`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows become a matrix row by row; a ragged row is refused with its 1-based index.
    #[test]
    fn rows_to_matrix() {
        let m = matrix_from_rows("A", &[vec![1.0, 2.0], vec![3.0, 4.0]]).expect("square");
        assert_eq!(m, DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
        assert_eq!(to_rows(&m), vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        let e = matrix_from_rows("Q", &[vec![1.0, 2.0], vec![3.0]]).expect_err("ragged");
        assert_eq!((e.field, e.row, e.len, e.first), ("Q", 2, 1, 2));
        assert_eq!(matrix_from_rows("R", &[]).expect("empty").shape(), (0, 0));
    }
}
