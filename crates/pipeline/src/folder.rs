//! A report folder that is replaced as a whole: a run writes everything into a temporary
//! sibling folder and renames it into place when complete, so a reader (or a killed run) finds
//! the old complete report or the new complete one, never a mix. Leftovers of killed runs are
//! removed by the next run into the same place.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Marks the folders this module creates: `.<name>.dynrec-tmp-…` while writing,
/// `.<name>.dynrec-old-…` for the replaced one between the two renames.
const TEMPORARY: &str = ".dynrec-tmp-";
const REPLACED: &str = ".dynrec-old-";
/// The file inside a temporary folder that names the process writing it.
const OWNER: &str = ".dynrec-pid";

/// A report folder being written.
#[derive(Debug)]
pub struct ReportFolder {
    target: PathBuf,
    temporary: Option<tempfile::TempDir>,
}

impl ReportFolder {
    /// Starts writing the folder `target`: checks that it can be replaced (it is absent, empty,
    /// or holds a `report.json`), removes what killed runs left beside it, and creates the
    /// temporary folder next to it (so a bad location fails now, before any training).
    pub fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .with_context(|| format!("{}: not a folder name", target.display()))?
            .to_string_lossy()
            .into_owned();
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if target.exists() {
            if !target.is_dir() {
                bail!("{} exists and is not a folder", target.display());
            }
            let mut entries = std::fs::read_dir(target)
                .with_context(|| format!("reading {}", target.display()))?;
            if entries.next().is_some() && !target.join("report.json").exists() {
                bail!(
                    "{} exists and is not a dynrec report folder (no report.json): choose \
                     another output folder, or empty it",
                    target.display()
                );
            }
        }
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        remove_leftovers(&parent, &name)?;
        let temporary = tempfile::Builder::new()
            .prefix(&format!(".{name}{TEMPORARY}"))
            .tempdir_in(&parent)
            .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
        std::fs::write(temporary.path().join(OWNER), std::process::id().to_string())
            .with_context(|| format!("writing into {}", temporary.path().display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Reports are for everyone to read (a temporary folder would be rwx------).
            std::fs::set_permissions(temporary.path(), std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("permissions of {}", temporary.path().display()))?;
        }
        Ok(Self {
            target: target.to_path_buf(),
            temporary: Some(temporary),
        })
    }

    /// Where the files are written until [`ReportFolder::commit`].
    pub fn path(&self) -> &Path {
        self.temporary
            .as_ref()
            .map_or(self.target.as_path(), |t| t.path())
    }

    /// The folder the report will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the finished folder in place of the old one (if any) and returns its path.
    pub fn commit(mut self) -> Result<PathBuf> {
        let Some(temporary) = self.temporary.take() else {
            return Ok(self.target.clone());
        };
        let written = temporary.keep();
        std::fs::remove_file(written.join(OWNER))
            .with_context(|| format!("finishing {}", written.display()))?;
        let old = if self.target.exists() {
            let old = sibling(&self.target, REPLACED);
            std::fs::rename(&self.target, &old)
                .with_context(|| format!("moving the old {} aside", self.target.display()))?;
            Some(old)
        } else {
            None
        };
        std::fs::rename(&written, &self.target)
            .with_context(|| format!("moving the new report into {}", self.target.display()))?;
        if let Some(old) = old {
            std::fs::remove_dir_all(&old)
                .with_context(|| format!("removing the replaced {}", old.display()))?;
        }
        Ok(self.target.clone())
    }
}

/// `.<name><marker><pid>` beside `target`.
fn sibling(target: &Path, marker: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}{marker}{}", std::process::id()))
}

/// Removes the temporary and replaced folders of `name` that killed runs left in `parent`
/// (a temporary folder whose writer is still running is left alone).
fn remove_leftovers(parent: &Path, name: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&format!(".{name}")) else {
            continue;
        };
        let path = entry.path();
        let stale = if rest.starts_with(REPLACED) {
            true
        } else if rest.starts_with(TEMPORARY) {
            !writer_alive(&path)
        } else {
            false
        };
        if stale && path.is_dir() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing the leftover {}", path.display()))?;
        }
    }
    Ok(())
}

/// Whether the process that is writing the temporary folder `path` still runs (Linux: its
/// `/proc` entry exists; elsewhere, or without an owner file, it is taken as gone).
fn writer_alive(path: &Path) -> bool {
    let Ok(pid) = std::fs::read_to_string(path.join(OWNER)) else {
        return false;
    };
    let Ok(pid) = pid.trim().parse::<u32>() else {
        return false;
    };
    pid != std::process::id() && dynrec_core::io::process_running(pid).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(folder: &ReportFolder, file: &str, text: &str) {
        std::fs::write(folder.path().join(file), text).expect("write");
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Until it is committed nothing appears at the target; after, exactly the new files are
    /// there (a file of the old report that the new one does not write is gone), and nothing
    /// temporary is left beside it.
    #[test]
    fn replaces_the_folder_as_a_whole() {
        let root = tempfile::tempdir().expect("root");
        let target = root.path().join("run");
        let first = ReportFolder::create(&target).expect("create");
        write(&first, "report.json", "{}");
        write(&first, "old_plot.png", "x");
        assert!(!target.exists());
        first.commit().expect("commit");
        assert_eq!(listing(&target), ["old_plot.png", "report.json"]);

        let second = ReportFolder::create(&target).expect("create again");
        write(&second, "report.json", "{\"new\": true}");
        assert_eq!(
            listing(&target),
            ["old_plot.png", "report.json"],
            "old one intact"
        );
        second.commit().expect("commit again");
        assert_eq!(listing(&target), ["report.json"]);
        assert_eq!(listing(root.path()), ["run"]);
    }

    /// A run that stops before committing (dropped, as when it fails) leaves the old report
    /// untouched and no temporary folder; one that was killed (its temporary folder kept, its
    /// process gone) is cleaned up by the next run into the same place.
    #[test]
    fn failed_and_killed_runs_leave_nothing() {
        let root = tempfile::tempdir().expect("root");
        let target = root.path().join("run");
        let first = ReportFolder::create(&target).expect("create");
        write(&first, "report.json", "{}");
        first.commit().expect("commit");

        let failed = ReportFolder::create(&target).expect("create");
        write(&failed, "half.png", "x");
        drop(failed);
        assert_eq!(listing(root.path()), ["run"]);

        // A killed writer: its folder remains, owned by a process that no longer exists.
        let killed = root.path().join(format!(".run{TEMPORARY}killed"));
        std::fs::create_dir(&killed).expect("mkdir");
        std::fs::write(killed.join(OWNER), u32::MAX.to_string()).expect("owner");
        let replaced = root.path().join(format!(".run{REPLACED}1"));
        std::fs::create_dir(&replaced).expect("mkdir");
        let next = ReportFolder::create(&target).expect("create after a kill");
        assert!(!killed.exists() && !replaced.exists());
        drop(next);
        assert_eq!(listing(&target), ["report.json"]);
    }

    /// A folder that is not a report (it has files but no report.json) is never replaced.
    #[test]
    fn refuses_to_replace_a_foreign_folder() {
        let root = tempfile::tempdir().expect("root");
        let target = root.path().join("thesis");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("chapter1.tex"), "x").expect("write");
        let e = ReportFolder::create(&target).expect_err("refused");
        assert!(e.to_string().contains("not a dynrec report folder"), "{e}");
        assert_eq!(listing(&target), ["chapter1.tex"]);
    }
}
