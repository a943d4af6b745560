use std::fmt;

/// The accounting date (会计日期): the logical date of the books, as days since 1970-01-01.
///
/// It is not the calendar date: it changes only when a cutover command is applied, so every
/// transfer belongs to exactly one accounting date and replay reproduces it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AccountingDate(pub i32);

impl AccountingDate {
    /// The last date the books accept: 9999-12-31, so that every date has four year digits.
    pub const MAX: AccountingDate = AccountingDate(2_932_896);

    /// The date of `year-month-day` in the proleptic Gregorian calendar, if it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<AccountingDate> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Days-from-civil (H. Hinnant's algorithm): eras of 400 years, March-based years.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = month as i32;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(AccountingDate(era * 146_097 + doe - 719_468))
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<AccountingDate> {
        let mut parts = text.splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        AccountingDate::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// The date a Unix timestamp in nanoseconds falls on, at a fixed UTC offset in seconds.
    pub fn from_unix_nanos(timestamp_ns: u64, utc_offset_s: i32) -> AccountingDate {
        let seconds = (timestamp_ns / 1_000_000_000) as i64 + i64::from(utc_offset_s);
        AccountingDate(seconds.div_euclid(86_400) as i32)
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i32::from(month <= 2);
        (year, month, day)
    }

    pub fn year(self) -> i32 {
        self.ymd().0
    }

    pub fn next(self) -> AccountingDate {
        AccountingDate(self.0 + 1)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for AccountingDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for AccountingDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_days() {
        for days in -800_000..800_000 {
            let date = AccountingDate(days);
            let (y, m, d) = date.ymd();
            assert_eq!(AccountingDate::from_ymd(y, m, d), Some(date));
        }
    }

    #[test]
    fn max_is_the_last_day_of_9999() {
        assert_eq!(AccountingDate::MAX.to_string(), "9999-12-31");
        assert_eq!(
            AccountingDate::parse("9999-12-31"),
            Some(AccountingDate::MAX)
        );
    }

    #[test]
    fn known_dates() {
        assert_eq!(AccountingDate::parse("1970-01-01"), Some(AccountingDate(0)));
        assert_eq!(
            AccountingDate::parse("2026-11-25")
                .map(|d| d.to_string())
                .as_deref(),
            Some("2026-11-25")
        );
        assert_eq!(AccountingDate::parse("2024-02-30"), None);
        assert_eq!(AccountingDate::parse("2024-2-3"), None);
        // 2026-11-25 16:30 UTC is 2026-11-26 00:30 in Shanghai.
        let ns = 1_795_624_200_000_000_000;
        assert_eq!(
            AccountingDate::from_unix_nanos(ns, 8 * 3600).to_string(),
            "2026-11-26"
        );
    }
}
