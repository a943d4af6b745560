//! Files that are either complete or absent: written to a temporary name, synced, renamed
//! over the final name, and the directory synced so the rename itself survives power loss.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary name beside `path`; a crash leaves at most this, never a partial `path`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically, syncing the directory afterwards.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = temp_path(path);
    let mut file = File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes the renames done in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
