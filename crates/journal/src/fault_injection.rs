//! Test-only storage faults, built only with the `fault-injection` feature (the `suanpan`
//! package's tests enable it; a release binary has none of this).
//!
//! `SUANPAN_JOURNAL_FAIL_SYNC_AFTER=<n>`: after `n` commits, every commit of the SQLite journal
//! is written and synced but reported failed, as an `fsync` that returned an error after the
//! data reached the disk would be. It is the case a journal must not guess about: the engine
//! cannot know whether the batch is durable, so it must stop, acknowledge nothing of it, and
//! find the truth in the file at the next start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::JournalError;

pub const FAIL_SYNC_AFTER_ENV: &str = "SUANPAN_JOURNAL_FAIL_SYNC_AFTER";

static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Called once a commit has been written: the injected failure, when it is due.
pub fn after_commit() -> Result<(), JournalError> {
    static AFTER: OnceLock<Option<u64>> = OnceLock::new();
    let after = AFTER.get_or_init(|| {
        std::env::var(FAIL_SYNC_AFTER_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let Some(after) = *after else {
        return Ok(());
    };
    if COMMITS.fetch_add(1, Ordering::Relaxed) >= after {
        return Err(JournalError::Io(format!(
            "fsync of the journal failed (injected by {FAIL_SYNC_AFTER_ENV})"
        )));
    }
    Ok(())
}
