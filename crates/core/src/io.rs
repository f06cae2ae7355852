//! Writing files so that a reader never sees a half-written one.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};

/// Symbolic links followed before giving up (as the kernel's `ELOOP` limit).
const MAX_LINKS: usize = 40;

/// Marks a temporary file: `.<name>.dynrec-tmp-<pid>-<random>` while `<name>` is written.
const TEMPORARY: &str = ".dynrec-tmp-";

/// Writes `path` through `fill` so that a reader sees the old content or the new, never a mix.
///
/// - A regular file (or a new one) is written into a temporary file in the same folder
///   (`.<name>.dynrec-tmp-<pid>-…`), flushed, synced, then renamed over the target; on any
///   error the temporary file is removed and the target is untouched. Temporary files of the
///   same name left by killed processes are removed first.
/// - A symbolic link is written through: its target receives the bytes (atomically, as
///   above) and the link stays a link.
/// - Anything that exists and is not a regular file (a device such as `/dev/null`, a FIFO, a
///   terminal) is not ours to replace: it is opened and written directly. A folder is an
///   error.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error| CoreError::Io { path, error }
    };
    let target = resolve_links(path).map_err(io_error(path))?;
    if let Ok(meta) = std::fs::metadata(&target) {
        if meta.is_dir() {
            return Err(io_error(path)(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a folder, not a file",
            )));
        }
        if !meta.is_file() {
            let file = OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(io_error(path))?;
            let mut writer = BufWriter::new(file);
            fill(&mut writer).map_err(io_error(path))?;
            return writer.flush().map_err(io_error(path));
        }
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temporaries(dir, &name);
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}{TEMPORARY}{}-", std::process::id());
    builder.prefix(&prefix);
    // Outputs are for everyone to read: rw-r--r-- (a temporary file would be rw-------).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let temp = builder.tempfile_in(dir).map_err(io_error(path))?;
    let mut writer = BufWriter::new(temp.reopen().map_err(io_error(path))?);
    fill(&mut writer).map_err(io_error(path))?;
    writer.flush().map_err(io_error(path))?;
    writer.get_ref().sync_all().map_err(io_error(path))?;
    drop(writer);
    temp.persist(&target).map_err(|e| io_error(path)(e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` with [`write_atomically`].
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, |w| w.write_all(bytes))
}

/// Whether the process `pid` is running: `Some` where the answer is known (Linux, from its
/// `/proc` entry), `None` elsewhere.
pub fn process_running(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// Removes the temporary files of `name` in `dir` whose writer is known to have stopped (a
/// killed process leaves its temporary file behind). Best effort: what cannot be read or
/// removed is left, and so is everything where no process table can be read.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}{TEMPORARY}");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && pid != std::process::id() && process_running(pid) == Some(false) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The file `path` finally names: symbolic links in its last component followed (a relative
/// link is relative to the link's folder), up to [`MAX_LINKS`]. A dangling link resolves to
/// the path it points at, which is then created.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links in a chain"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) -> Result<()> {
        write_bytes_atomically(path, text.as_bytes())
    }

    /// A new file gets the bytes; an existing one is replaced; no temporary file is left.
    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.csv");
        write(&path, "one").expect("first");
        write(&path, "two").expect("second");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    /// A failing writer leaves the old content and no temporary file.
    #[test]
    fn failure_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.csv");
        write(&path, "old").expect("first");
        let failed = write_atomically(&path, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    /// A killed writer's temporary file (its process no longer runs) is removed by the next
    /// write of the same name; a running writer's (this process's, PID 1's) and another
    /// name's are left alone.
    #[cfg(target_os = "linux")]
    #[test]
    fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.csv");
        // Above the kernel's largest PID (2^22): never a running process.
        let dead = u32::MAX - 1;
        assert_eq!(process_running(dead), Some(false));
        assert_eq!(process_running(std::process::id()), Some(true));
        let leftover = |name: &str, pid: u32| {
            let p = dir.path().join(format!(".{name}{TEMPORARY}{pid}-abc123"));
            std::fs::write(&p, "half").expect("leftover");
            p
        };
        let stale = leftover("out.csv", dead);
        let own = leftover("out.csv", std::process::id());
        let init = leftover("out.csv", 1);
        let other = leftover("other.csv", dead);
        write(&path, "new").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert!(!stale.exists(), "the killed writer's file is removed");
        for kept in [&own, &init, &other] {
            assert!(kept.exists(), "{} is left", kept.display());
        }
    }

    /// A symbolic link is written through: the target gets the bytes and the link stays a
    /// link (also when the link is dangling, or a chain of two links).
    #[cfg(unix)]
    #[test]
    fn writes_through_symbolic_links() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("target.csv");
        let link = dir.path().join("link.csv");
        let chain = dir.path().join("chain.csv");
        std::os::unix::fs::symlink("target.csv", &link).expect("link");
        std::os::unix::fs::symlink(&link, &chain).expect("chain");
        write(&link, "dangling").expect("dangling link");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "dangling");
        write(&chain, "through two").expect("chain");
        assert_eq!(
            std::fs::read_to_string(&target).expect("read"),
            "through two"
        );
        for l in [&link, &chain] {
            let meta = std::fs::symlink_metadata(l).expect("meta");
            assert!(
                meta.file_type().is_symlink(),
                "{} is still a link",
                l.display()
            );
        }
    }

    /// Something that is not a regular file (here a FIFO, read by another thread) is written
    /// into, not replaced by a regular file.
    #[cfg(unix)]
    #[test]
    fn writes_into_a_fifo_without_replacing_it() {
        use std::io::Read;
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                File::open(&fifo)
                    .and_then(|mut f| f.read_to_string(&mut text))
                    .expect("read the fifo");
                text
            })
        };
        write(&fifo, "through the pipe").expect("write");
        assert_eq!(reader.join().expect("reader"), "through the pipe");
        let meta = std::fs::symlink_metadata(&fifo).expect("meta");
        assert!(meta.file_type().is_fifo(), "the FIFO is still a FIFO");
    }

    /// A folder is refused with an error naming it.
    #[test]
    fn refuses_a_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = write(dir.path(), "x").expect_err("a folder");
        assert!(e.to_string().contains(&dir.path().display().to_string()));
    }
}
