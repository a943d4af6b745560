//! The instant a payout is routed at, as the books' zone (Asia/Shanghai, UTC+8) sees it. The
//! room never reads a clock: the caller converts its timestamp and passes this in.

use std::fmt;

use crate::date::{digits, CivilDate};

/// A time of day to the second, 00:00:00..=23:59:59 (no leap seconds: channel hours never name
/// one).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u32);

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);

    pub const fn from_hms(hour: u32, minute: u32, second: u32) -> Option<TimeOfDay> {
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        Some(TimeOfDay(hour * 3_600 + minute * 60 + second))
    }

    /// Seconds since midnight, if fewer than a day.
    pub const fn from_seconds(seconds: u32) -> Option<TimeOfDay> {
        if seconds >= 86_400 {
            return None;
        }
        Some(TimeOfDay(seconds))
    }

    pub const fn seconds_since_midnight(self) -> u32 {
        self.0
    }

    pub const fn hour(self) -> u32 {
        self.0 / 3_600
    }

    pub const fn minute(self) -> u32 {
        self.0 / 60 % 60
    }

    pub const fn second(self) -> u32 {
        self.0 % 60
    }

    /// Parses `HH:MM` or `HH:MM:SS`.
    pub fn parse(text: &str) -> Option<TimeOfDay> {
        let bytes = text.as_bytes();
        let second = match bytes.len() {
            5 => 0,
            8 if bytes[5] == b':' => digits(&bytes[6..8])?,
            _ => return None,
        };
        if bytes[2] != b':' {
            return None;
        }
        TimeOfDay::from_hms(digits(&bytes[0..2])?, digits(&bytes[3..5])?, second)
    }
}

impl fmt::Display for TimeOfDay {
    /// `HH:MM`, with `:SS` only when the seconds are not zero, as channel hours are written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())?;
        if self.second() != 0 {
            write!(f, ":{:02}", self.second())?;
        }
        Ok(())
    }
}

impl fmt::Debug for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A civil date and time of day in the books' zone: the instant a payout is routed at.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LocalDateTime {
    pub date: CivilDate,
    pub time: TimeOfDay,
}

impl LocalDateTime {
    pub const fn new(date: CivilDate, time: TimeOfDay) -> LocalDateTime {
        LocalDateTime { date, time }
    }

    /// Parses `YYYY-MM-DD HH:MM[:SS]` (a `T` may stand for the space).
    pub fn parse(text: &str) -> Option<LocalDateTime> {
        let date = CivilDate::parse(text.get(..10)?)?;
        let rest = text.get(10..)?;
        let time = rest.strip_prefix([' ', 'T'])?;
        Some(LocalDateTime::new(date, TimeOfDay::parse(time)?))
    }
}

/// Seconds Beijing time is ahead of UTC: the interbank systems keep it (no daylight saving).
const BEIJING_OFFSET_S: i64 = 8 * 3600;

impl LocalDateTime {
    /// The Beijing local time of an instant (nanoseconds since the Unix epoch): the caller
    /// reads its clock, this only converts.
    pub fn beijing(unix_ns: u64) -> Option<LocalDateTime> {
        let s = (unix_ns / 1_000_000_000) as i64 + BEIJING_OFFSET_S;
        let date = CivilDate::from_days_since_epoch(i32::try_from(s.div_euclid(86_400)).ok()?)?;
        let time = TimeOfDay::from_seconds(s.rem_euclid(86_400) as u32)?;
        Some(LocalDateTime::new(date, time))
    }
}

impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.date, self.time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_print_as_channel_hours_are_written() {
        let cut_off = TimeOfDay::parse("17:15");
        assert_eq!(cut_off, TimeOfDay::from_hms(17, 15, 0));
        assert_eq!(cut_off.map(|t| t.to_string()).as_deref(), Some("17:15"));
        let late = TimeOfDay::parse("23:59:59");
        assert_eq!(late.map(|t| t.to_string()).as_deref(), Some("23:59:59"));
        assert_eq!(TimeOfDay::parse("24:00"), None);
        assert_eq!(TimeOfDay::parse("7:15"), None);
        assert_eq!(TimeOfDay::parse("17-15"), None);
        assert_eq!(TimeOfDay::from_seconds(86_400), None);
    }

    #[test]
    fn an_instant_in_beijing_time() {
        // 2026-12-07T12:00:00Z
        let at = LocalDateTime::beijing(1_796_644_800 * 1_000_000_000).map(|t| t.to_string());
        assert_eq!(at.as_deref(), Some("2026-12-07 20:00"));
    }

    #[test]
    fn instants_parse_with_a_space_or_a_t() {
        let a = LocalDateTime::parse("2026-12-08 20:00");
        let b = LocalDateTime::parse("2026-12-08T20:00:00");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_eq!(LocalDateTime::parse("2026-12-08"), None);
        assert_eq!(LocalDateTime::parse("2026-12-08 20"), None);
        assert_eq!(LocalDateTime::parse("2026-12-0８ 20:00"), None);
    }
}
