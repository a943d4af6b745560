//! The civil date of the books' zone (Asia/Shanghai, UTC+8), written here rather than borrowed
//! because the routing room depends on nothing: the caller converts its clock to this.

use std::fmt;

/// A date in the proleptic Gregorian calendar, as days since 1970-01-01.
///
/// Only years 1..=9999 are constructible, so every date prints with four year digits and the
/// day arithmetic below never overflows.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate(i32);

/// A day of the week; Monday first, as Chinese working weeks are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub fn name(self) -> &'static str {
        match self {
            Weekday::Monday => "Monday",
            Weekday::Tuesday => "Tuesday",
            Weekday::Wednesday => "Wednesday",
            Weekday::Thursday => "Thursday",
            Weekday::Friday => "Friday",
            Weekday::Saturday => "Saturday",
            Weekday::Sunday => "Sunday",
        }
    }

    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Saturday | Weekday::Sunday)
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl CivilDate {
    /// 0001-01-01 and 9999-12-31: the bounds every constructor keeps to.
    pub const MIN: CivilDate = CivilDate(-719_162);
    pub const MAX: CivilDate = CivilDate(2_932_896);

    /// The date `year-month-day`, if it exists and its year is within 1..=9999.
    pub const fn from_ymd(year: i32, month: u32, day: u32) -> Option<CivilDate> {
        if year < 1 || year > 9999 || month < 1 || month > 12 {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Days-from-civil (H. Hinnant): 400-year eras of years that start in March, so the
        // leap day is the last day of its year and needs no special case.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = month as i32;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(CivilDate(era * 146_097 + doe - 719_468))
    }

    /// The date `days` after 1970-01-01, if it is within the bounds.
    pub const fn from_days_since_epoch(days: i32) -> Option<CivilDate> {
        if days < CivilDate::MIN.0 || days > CivilDate::MAX.0 {
            return None;
        }
        Some(CivilDate(days))
    }

    pub const fn days_since_epoch(self) -> i32 {
        self.0
    }

    /// Year, month (1..=12) and day (1..=31): civil-from-days, the inverse of `from_ymd`.
    pub const fn ymd(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
        (year, month, day)
    }

    pub const fn year(self) -> i32 {
        self.ymd().0
    }

    pub const fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday: index 3 counting from Monday.
        match (self.0 + 3).rem_euclid(7) {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    /// The next day, or `None` after 9999-12-31.
    pub const fn next(self) -> Option<CivilDate> {
        CivilDate::from_days_since_epoch(self.0 + 1)
    }

    /// The previous day, or `None` before 0001-01-01.
    pub const fn previous(self) -> Option<CivilDate> {
        CivilDate::from_days_since_epoch(self.0 - 1)
    }

    /// Parses `YYYY-MM-DD` (exactly that shape: four, two and two digits).
    pub fn parse(text: &str) -> Option<CivilDate> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year = digits(&bytes[0..4])?;
        let month = digits(&bytes[5..7])?;
        let day = digits(&bytes[8..10])?;
        CivilDate::from_ymd(year as i32, month, day)
    }
}

/// The value of a run of ASCII digits (at most 9, so it fits), or `None` if any is not one.
pub(crate) fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 {
        return None;
    }
    bytes.iter().try_fold(0u32, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
    })
}

const fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

const fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl fmt::Debug for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_a_thursday_and_day_zero() {
        let epoch = CivilDate::from_ymd(1970, 1, 1);
        assert_eq!(epoch.map(CivilDate::days_since_epoch), Some(0));
        assert_eq!(epoch.map(CivilDate::weekday), Some(Weekday::Thursday));
    }

    #[test]
    fn known_weekdays_of_the_books() {
        let cases = [
            ((2026, 12, 8), Weekday::Tuesday),
            ((2026, 10, 1), Weekday::Thursday),
            ((2025, 1, 26), Weekday::Sunday),
            ((2024, 2, 29), Weekday::Thursday),
            ((2000, 1, 1), Weekday::Saturday),
            ((1, 1, 1), Weekday::Monday),
            ((9999, 12, 31), Weekday::Friday),
        ];
        for ((y, m, d), weekday) in cases {
            assert_eq!(
                CivilDate::from_ymd(y, m, d).map(CivilDate::weekday),
                Some(weekday)
            );
        }
    }

    #[test]
    fn every_day_round_trips_through_ymd() {
        let mut day = CivilDate::from_ymd(1999, 1, 1);
        while let Some(date) = day {
            if date.year() > 2101 {
                break;
            }
            let (y, m, d) = date.ymd();
            assert_eq!(CivilDate::from_ymd(y, m, d), Some(date));
            assert_eq!(CivilDate::parse(&date.to_string()), Some(date));
            day = date.next();
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert_eq!(CivilDate::from_ymd(2025, 2, 29), None);
        assert_eq!(CivilDate::from_ymd(2026, 4, 31), None);
        assert_eq!(CivilDate::from_ymd(2026, 13, 1), None);
        assert_eq!(CivilDate::from_ymd(0, 1, 1), None);
        assert_eq!(CivilDate::parse("2026-1-01"), None);
        assert_eq!(CivilDate::parse("2026/01/01"), None);
        assert_eq!(CivilDate::parse("２026-01-01"), None);
        assert_eq!(CivilDate::MAX.next(), None);
        assert_eq!(CivilDate::MIN.previous(), None);
    }
}
