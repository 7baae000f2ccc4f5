//! Writing generated files: only files whose contents changed are touched, and check mode writes nothing.

use std::io;
use std::path::Path;

/// Whether [`sync`] writes stale files or only reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Write every file whose contents differ.
    Write,
    /// Write nothing; report stale files.
    Check,
}

/// What [`sync`] found for one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileStatus {
    /// The file already had the generated contents.
    UpToDate,
    /// The file differed or was missing and was written.
    Updated,
    /// The file differs or is missing (check mode).
    Stale,
}

/// The outcome of [`sync`]: each generated path with its status, in render order.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    /// `(path relative to the root, status)`.
    pub files: Vec<(String, FileStatus)>,
}

impl SyncReport {
    /// Paths with the given status.
    pub fn with_status(&self, status: FileStatus) -> Vec<&str> {
        self.files
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(p, _)| p.as_str())
            .collect()
    }
}

/// Compares each `(relative path, contents)` with the file under `root`, writing it in [`SyncMode::Write`] when it differs.
pub fn sync(root: &Path, files: &[(String, String)], mode: SyncMode) -> io::Result<SyncReport> {
    let mut report = SyncReport::default();
    for (relative, contents) in files {
        let path = root.join(relative);
        let current = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("{}: {error}", path.display()),
                ));
            }
        };
        let status = if current.as_deref() == Some(contents.as_bytes()) {
            FileStatus::UpToDate
        } else if mode == SyncMode::Check {
            FileStatus::Stale
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, contents).map_err(|error| {
                io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            })?;
            FileStatus::Updated
        };
        report.files.push((relative.clone(), status));
    }
    Ok(report)
}
