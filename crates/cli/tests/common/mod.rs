//! Helpers shared by the cli integration tests.

#![allow(dead_code)] // each test file uses a subset

use std::path::Path;

/// A path as the `&str` a command line takes.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A CSV file written by `dynrec`: its header and its rows as numbers.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut reader = csv::Reader::from_path(path).expect("readable output");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            r.expect("record")
                .iter()
                .map(|c| c.parse::<f64>().expect("number"))
                .collect()
        })
        .collect();
    (header, rows)
}
