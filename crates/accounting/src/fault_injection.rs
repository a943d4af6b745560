//! Test-only crash points of the day-end, built only with the `fault-injection` feature (the
//! `suanpan` package's tests enable it; a release binary has none of this). The restartability
//! test kills the process at an exact boundary and checks that a rerun gives the books of an
//! uninterrupted run.

use crate::day_end::{DayEndEvent, Step};

/// `SUANPAN_DAY_END_KILL_AFTER=<step>` kills the process with SIGKILL right after that step
/// commits; `catch_up_transaction` kills it after the catch-up's first transaction, inside
/// the step.
pub const KILL_AFTER_ENV: &str = "SUANPAN_DAY_END_KILL_AFTER";

/// The boundary the environment names, read once per day-end.
pub fn kill_after() -> Option<String> {
    std::env::var(KILL_AFTER_ENV).ok()
}

/// Kills this process with SIGKILL when `event` is the boundary `kill_after` names.
pub fn kill_at_boundary(event: &DayEndEvent, kill_after: Option<&str>) {
    let boundary = match event {
        DayEndEvent::Finished {
            step,
            skipped: false,
            ..
        } => Some(step.as_str()),
        DayEndEvent::Progress {
            step: Step::CatchUp,
            done,
            ..
        } if *done > 0 => Some("catch_up_transaction"),
        _ => None,
    };
    if boundary.is_some() && boundary == kill_after {
        // SAFETY: kill(2) on our own pid has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
