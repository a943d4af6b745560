//! Test-only crash points of reconciliation, built only with the `fault-injection` feature
//! (the `suanpan` package's tests enable it; a release binary has none of this). The SIGKILL
//! test kills the process between a posting the engine acknowledged and the difference's
//! record of it, and checks that a rerun posts nothing twice.

use std::sync::atomic::{AtomicU64, Ordering};

/// `SUANPAN_RECON_KILL_AFTER_POSTINGS=<n>` kills the process with SIGKILL right after the
/// engine acknowledged its n-th posting, before the difference records it.
pub const KILL_AFTER_ENV: &str = "SUANPAN_RECON_KILL_AFTER_POSTINGS";

static POSTED: AtomicU64 = AtomicU64::new(0);

pub fn posted() {
    let n = POSTED.fetch_add(1, Ordering::SeqCst) + 1;
    let limit = std::env::var(KILL_AFTER_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    if limit == Some(n) {
        // SAFETY: kill(2) on our own pid has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
