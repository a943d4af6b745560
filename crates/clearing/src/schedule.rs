//! When clearing batches close by themselves: at fixed times of day in the books' zone, several
//! times a day. The server runs [`run_close_schedule`] on a thread of its own; each close is
//! the same cut in the sequence as a close on command.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use suanpan_engine::Engine;

use crate::{close_batch, ClearingError};

const DAY_S: u64 = 86_400;
/// Most closes a day: one every quarter of an hour.
pub const CLOSES_PER_DAY_MAX: usize = 96;
/// How long the runner sleeps at a time, so that a stop request is seen promptly.
const SLEEP_STEP_MS: u64 = 500;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CloseSchedule {
    /// Seconds after midnight in the books' zone, ascending, distinct.
    times_of_day_s: Vec<u32>,
}

impl CloseSchedule {
    /// Parses `HH:MM` (or `HH:MM:SS`) times separated by commas, e.g. `00:00,06:00,12:00,18:00`.
    pub fn parse(text: &str) -> Result<CloseSchedule, ClearingError> {
        let bad = |why: String| ClearingError::ScheduleInvalid(why);
        let mut times = Vec::new();
        for item in text.split(',') {
            let text = item.trim();
            let parts: Vec<&str> = text.split(':').collect();
            let numbers: Option<Vec<u32>> = parts
                .iter()
                .map(|p| (p.len() == 2).then(|| p.parse::<u32>().ok()).flatten())
                .collect();
            let (h, m, s) = match numbers.as_deref() {
                Some(&[h, m]) => (h, m, 0),
                Some(&[h, m, s]) => (h, m, s),
                _ => return Err(bad(format!("{item:?} is not HH:MM or HH:MM:SS"))),
            };
            if h > 23 || m > 59 || s > 59 {
                return Err(bad(format!("{item:?} is not a time of day HH:MM[:SS]")));
            }
            times.push(h * 3_600 + m * 60 + s);
        }
        times.sort_unstable();
        times.dedup();
        if times.len() > CLOSES_PER_DAY_MAX {
            return Err(bad(format!(
                "{} closes a day is more than {CLOSES_PER_DAY_MAX}",
                times.len()
            )));
        }
        Ok(CloseSchedule {
            times_of_day_s: times,
        })
    }

    /// The first scheduled close strictly after `now_ns` (Unix time), in the zone `utc_offset_s`.
    pub fn next_after(&self, now_ns: u64, utc_offset_s: i32) -> u64 {
        let now_s = now_ns / 1_000_000_000;
        let local_s = now_s.saturating_add_signed(i64::from(utc_offset_s));
        let midnight_local_s = local_s - local_s % DAY_S;
        let into_day_s = local_s % DAY_S;
        let next_local_s = match self
            .times_of_day_s
            .iter()
            .find(|&&t| u64::from(t) > into_day_s)
        {
            Some(&t) => midnight_local_s + u64::from(t),
            None => midnight_local_s + DAY_S + u64::from(self.times_of_day_s[0]),
        };
        next_local_s.saturating_add_signed(-i64::from(utc_offset_s)) * 1_000_000_000
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Closes a batch at every scheduled time until `stop` is set. Returns the error of a close
/// that failed (the engine stopped): the caller decides whether to go on.
pub fn run_close_schedule(
    engine: &Engine,
    schedule: &CloseSchedule,
    utc_offset_s: i32,
    stop: &AtomicBool,
) -> Result<(), ClearingError> {
    while !stop.load(Ordering::Acquire) {
        let due_ns = schedule.next_after(now_ns(), utc_offset_s);
        while !stop.load(Ordering::Acquire) && now_ns() < due_ns {
            let left_ms = (due_ns - now_ns()) / 1_000_000;
            std::thread::sleep(Duration::from_millis(left_ms.clamp(1, SLEEP_STEP_MS)));
        }
        if !stop.load(Ordering::Acquire) {
            close_batch(engine)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHANGHAI_S: i32 = 8 * 3_600;

    proptest! {
        #[test]
        fn the_next_close_is_a_scheduled_time_within_a_day(
            now_s in 0u64..4_000_000_000,
            times in prop::collection::btree_set(0u32..1_440, 1..10),
        ) {
            let text: Vec<String> = times.iter().map(|m| format!("{:02}:{:02}", m / 60, m % 60)).collect();
            let schedule = CloseSchedule::parse(&text.join(",")).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let now_ns = now_s * 1_000_000_000 + 123;
            let next_ns = schedule.next_after(now_ns, SHANGHAI_S);
            prop_assert!(next_ns > now_ns && next_ns <= now_ns + DAY_S * 1_000_000_000);
            let local_minute = ((next_ns / 1_000_000_000 + SHANGHAI_S as u64) % DAY_S) / 60;
            prop_assert!(times.contains(&(local_minute as u32)));
        }
    }

    #[test]
    fn closes_at_six_hour_marks_in_the_books_zone() {
        let schedule = CloseSchedule::parse("18:00,00:00,06:00,12:00");
        let schedule = schedule.unwrap_or_else(|e| panic!("{e}"));
        // 2026-11-25 16:30 UTC is 2026-11-26 00:30 in Shanghai: next is 06:00 there, 22:00 UTC.
        let now_ns = 1_795_624_200_000_000_000;
        assert_eq!(
            schedule.next_after(now_ns, SHANGHAI_S),
            now_ns + 5 * 3_600 * 1_000_000_000 + 1_800 * 1_000_000_000
        );
        assert!(CloseSchedule::parse("12:00:30").is_ok());
        for bad in ["24:00", "6:00", "12:60", "noon", "", "12:00:60", "12:00:5"] {
            assert!(CloseSchedule::parse(bad).is_err(), "{bad}");
        }
    }
}
