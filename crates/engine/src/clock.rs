//! The engine's clock for money: wall time made strictly increasing.

use std::time::{SystemTime, UNIX_EPOCH};

use suanpan_ledger::AccountingDate;

/// Offset of Asia/Shanghai from UTC: the default zone of the books (no daylight saving).
pub const SHANGHAI_UTC_OFFSET_S: i32 = 8 * 3600;

pub(crate) fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Hands out timestamps that strictly increase even if the wall clock steps back.
pub(crate) struct Clock {
    last: u64,
}

impl Clock {
    pub(crate) fn after(last: u64) -> Clock {
        Clock { last }
    }

    /// The next timestamp, and reserves `count - 1` after it for the rest of a batch.
    pub(crate) fn stamp(&mut self, count: u64) -> u64 {
        let first = wall_ns().max(self.last + 1);
        self.last = first + count.saturating_sub(1);
        first
    }

    pub(crate) fn now(&self) -> u64 {
        wall_ns().max(self.last)
    }
}

pub fn today(utc_offset_s: i32) -> AccountingDate {
    AccountingDate::from_unix_nanos(wall_ns(), utc_offset_s)
}
