//! Days as the customer lives them: Asia/Shanghai (UTC+8, no daylight saving), so "four
//! unattended reads a day" and "valid until" turn over at Beijing midnight whatever the
//! server's zone.

use std::fmt;

/// Seconds Asia/Shanghai is ahead of UTC.
const SHANGHAI_OFFSET_S: i64 = 8 * 3600;
const NS_PER_S: i64 = 1_000_000_000;

/// A calendar day in Asia/Shanghai, as days since 1970-01-01.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Day(pub i32);

impl Day {
    /// The Shanghai day holding the instant `ns` (nanoseconds since the Unix epoch).
    pub fn of_ns(ns: u64) -> Day {
        let s = (ns / NS_PER_S as u64) as i64 + SHANGHAI_OFFSET_S;
        Day(s.div_euclid(86_400) as i32)
    }

    /// The first instant of the next day (ns since the epoch): where this day ends.
    pub fn end_ns(self) -> u64 {
        let s = (i64::from(self.0) + 1) * 86_400 - SHANGHAI_OFFSET_S;
        (s.max(0) as u64).saturating_mul(NS_PER_S as u64)
    }

    pub fn plus(self, days: i32) -> Day {
        Day(self.0.saturating_add(days))
    }

    /// `YYYY-MM-DD`, a real date from 1970 to 9999.
    pub fn parse(text: &str) -> Option<Day> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |s: &str| -> Option<u32> {
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())
                .flatten()
        };
        let (y, m, d) = (num(&text[..4])?, num(&text[5..7])?, num(&text[8..])?);
        if y < 1970 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Day(days_from_civil(y as i64, m, d) as i32))
    }

    pub fn civil(self) -> (i64, u32, u32) {
        civil_from_days(i64::from(self.0))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.civil();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_midnight_turns_the_day() {
        // 2026-12-06T15:59:59Z is 23:59:59 in Shanghai; a second later it is the 7th.
        let before = 1_796_572_799u64 * 1_000_000_000;
        assert_eq!(Day::of_ns(before).to_string(), "2026-12-06");
        assert_eq!(Day::of_ns(before + 1_000_000_000).to_string(), "2026-12-07");
        assert_eq!(Day::of_ns(before).end_ns(), before + 1_000_000_000);
    }

    #[test]
    fn dates_parse_and_print_back() {
        for text in ["1970-01-01", "2024-02-29", "2026-12-31", "9999-12-31"] {
            assert_eq!(
                Day::parse(text).map(|d| d.to_string()).as_deref(),
                Some(text)
            );
        }
        for bad in [
            "2026-02-29",
            "0000-00-00",
            "2026-13-01",
            "2026-1-01",
            "20261201",
            "",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }
}
