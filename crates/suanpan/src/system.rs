//! What the operating system says about this process.

/// The resident set now (VmRSS), in MiB, or 0 where /proc is not available.
pub fn rss_mib() -> u64 {
    status_kib("VmRSS:") / 1024
}

/// Peak resident set size in MiB (VmHWM), or 0 where /proc is not available.
pub fn max_rss_mib() -> u64 {
    status_kib("VmHWM:") / 1024
}

/// A fresh directory under the system's temporary directory.
pub fn fresh_temp_dir(prefix: &str) -> Result<std::path::PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Where a benchmark writes its journal: the directory given (which must hold no journal
/// yet), or a fresh temporary one, removed when this is dropped.
pub struct BenchDir {
    path: std::path::PathBuf,
    temporary: bool,
}

impl BenchDir {
    pub fn new(given: Option<&std::path::Path>, prefix: &str) -> Result<BenchDir, String> {
        match given {
            Some(dir) if suanpan_journal::db_path(dir).exists() => Err(format!(
                "{} already holds a journal; give an empty directory",
                dir.display()
            )),
            Some(dir) => Ok(BenchDir {
                path: dir.to_path_buf(),
                temporary: false,
            }),
            None => Ok(BenchDir {
                path: fresh_temp_dir(prefix)?,
                temporary: true,
            }),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A `/proc/self/status` figure given in kB (0 if it cannot be read).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
}
