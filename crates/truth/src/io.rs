//! Writing files so that a reader never sees a half-written one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Result, TruthError};

/// Writes `path` through `fill`: into a temporary file in the same folder, flushed, then
/// renamed over `path`. On any error the temporary file is removed and `path` is untouched.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let io_error = |source| TruthError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    // Outputs are for everyone to read: rw-r--r-- (a temporary file would be rw-------).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let temp = builder.tempfile_in(dir).map_err(io_error)?;
    let mut writer = BufWriter::new(temp.reopen().map_err(io_error)?);
    fill(&mut writer).map_err(io_error)?;
    writer.flush().map_err(io_error)?;
    writer.get_ref().sync_all().map_err(io_error)?;
    drop(writer);
    temp.persist(path).map_err(|e| io_error(e.error))?;
    Ok(())
}
