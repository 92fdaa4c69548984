//! Files only the owner may read, replaced atomically: the guard's state (it names the clients
//! the founder stopped) and the incremental ledger's sums (clients' spend).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A private file that could not be written or put in place; the old file, if any, is intact.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {what} {}: {source}", path.display())]
pub struct WriteError {
    /// `write` (the temporary file) or `replace` (the rename over the old file).
    step: &'static str,
    /// What the file is ("guard state file").
    what: String,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Writes `bytes` to `path` atomically (a reader sees the old file or the new one, never half),
/// mode 0600, synced before the rename and the directory after it. `what` names the file in
/// the error ("guard state file").
pub fn write(path: &Path, bytes: &[u8], what: &str) -> Result<(), WriteError> {
    let fail = |step: &'static str, source: std::io::Error| WriteError {
        step,
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "launchguard-state".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        // A leftover from a crash may carry other permissions: start from a new file.
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("write", e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail("replace", e)
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
