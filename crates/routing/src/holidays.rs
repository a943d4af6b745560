//! China's public holidays and make-up working days as the State Council's General Office
//! published them, built into the room so that a fresh install routes correctly.
//!
//! Included, each checked day by day against the published notice:
//! - 2025: 国务院办公厅关于2025年部分节假日安排的通知, 2024-11-12 (国办发明电〔2024〕12号);
//! - 2026: 国务院办公厅关于2026年部分节假日安排的通知, 2025-11-04.
//!
//! Nothing later: the schedule of a year is published only in the November before it. A date in
//! a year not listed here is "not covered", and routing says so rather than treating it as a
//! plain weekday. Operators add later years with a calendar file (see [`crate::Calendar::parse`]).
//!
//! Every day of a holiday run is listed as a holiday, including the Saturdays and Sundays inside
//! it, so that an explanation can name the holiday.

use crate::calendar::DayKind;
use crate::date::CivilDate;

/// The years whose complete schedule is below.
pub const CHINA_YEARS: [i32; 2] = [2025, 2026];

/// A run of consecutive days of one kind, first and last included.
pub(crate) struct Span {
    pub first: CivilDate,
    pub last: CivilDate,
    pub kind: DayKind,
    pub name: &'static str,
}

/// Evaluated at compile time only (the table below is a constant), so a mistyped date stops
/// the build instead of reaching a payout.
const fn day(year: i32, month: u32, day: u32) -> CivilDate {
    match CivilDate::from_ymd(year, month, day) {
        Some(date) => date,
        None => panic!("the built-in calendar names a date that does not exist"),
    }
}

const fn off(first: CivilDate, last: CivilDate, name: &'static str) -> Span {
    Span {
        first,
        last,
        kind: DayKind::Holiday,
        name,
    }
}

const fn work(date: CivilDate, name: &'static str) -> Span {
    Span {
        first: date,
        last: date,
        kind: DayKind::MakeUpWorkingDay,
        name,
    }
}

pub(crate) const CHINA: &[Span] = &[
    // 2025
    off(day(2025, 1, 1), day(2025, 1, 1), "New Year's Day"),
    work(day(2025, 1, 26), "Spring Festival make-up working day"),
    off(day(2025, 1, 28), day(2025, 2, 4), "Spring Festival"),
    work(day(2025, 2, 8), "Spring Festival make-up working day"),
    off(day(2025, 4, 4), day(2025, 4, 6), "Qingming Festival"),
    work(day(2025, 4, 27), "Labour Day make-up working day"),
    off(day(2025, 5, 1), day(2025, 5, 5), "Labour Day"),
    off(day(2025, 5, 31), day(2025, 6, 2), "Dragon Boat Festival"),
    work(day(2025, 9, 28), "National Day make-up working day"),
    off(
        day(2025, 10, 1),
        day(2025, 10, 8),
        "National Day and Mid-Autumn Festival",
    ),
    work(day(2025, 10, 11), "National Day make-up working day"),
    // 2026
    off(day(2026, 1, 1), day(2026, 1, 3), "New Year's Day"),
    work(day(2026, 1, 4), "New Year's Day make-up working day"),
    work(day(2026, 2, 14), "Spring Festival make-up working day"),
    off(day(2026, 2, 15), day(2026, 2, 23), "Spring Festival"),
    work(day(2026, 2, 28), "Spring Festival make-up working day"),
    off(day(2026, 4, 4), day(2026, 4, 6), "Qingming Festival"),
    off(day(2026, 5, 1), day(2026, 5, 5), "Labour Day"),
    work(day(2026, 5, 9), "Labour Day make-up working day"),
    off(day(2026, 6, 19), day(2026, 6, 21), "Dragon Boat Festival"),
    work(day(2026, 9, 20), "National Day make-up working day"),
    off(day(2026, 9, 25), day(2026, 9, 27), "Mid-Autumn Festival"),
    off(day(2026, 10, 1), day(2026, 10, 7), "National Day"),
    work(day(2026, 10, 10), "National Day make-up working day"),
];

#[cfg(test)]
mod tests {
    use crate::{Calendar, CivilDate, Weekday};

    fn working(calendar: &Calendar, y: i32, m: u32, d: u32) -> Option<bool> {
        CivilDate::from_ymd(y, m, d).and_then(|date| calendar.working_day(date))
    }

    #[test]
    fn make_up_days_are_weekends_and_holidays_total_as_published() {
        let china = Calendar::china();
        // Days off per run, as each notice states them ("共N天").
        let holidays = china
            .entries()
            .iter()
            .filter(|e| e.kind == crate::DayKind::Holiday);
        assert_eq!(
            holidays.clone().filter(|e| e.date.year() == 2025).count(),
            1 + 8 + 3 + 5 + 3 + 8
        );
        assert_eq!(
            holidays.filter(|e| e.date.year() == 2026).count(),
            3 + 9 + 3 + 5 + 3 + 3 + 7
        );
        for entry in china.entries() {
            if entry.kind == crate::DayKind::MakeUpWorkingDay {
                assert!(entry.date.weekday().is_weekend(), "{entry:?}");
            }
        }
    }

    #[test]
    fn the_notices_weekdays_match_ours() {
        // The notices give the weekday of each run's first day; check a few of them.
        let cases = [
            ((2025, 1, 28), Weekday::Tuesday),
            ((2025, 2, 8), Weekday::Saturday),
            ((2025, 10, 11), Weekday::Saturday),
            ((2026, 1, 4), Weekday::Sunday),
            ((2026, 2, 15), Weekday::Sunday),
            ((2026, 5, 9), Weekday::Saturday),
            ((2026, 9, 20), Weekday::Sunday),
            ((2026, 10, 1), Weekday::Thursday),
        ];
        for ((y, m, d), weekday) in cases {
            assert_eq!(
                CivilDate::from_ymd(y, m, d).map(CivilDate::weekday),
                Some(weekday)
            );
        }
        let china = Calendar::china();
        assert_eq!(working(&china, 2026, 10, 10), Some(true));
        assert_eq!(working(&china, 2026, 10, 8), Some(true));
        assert_eq!(working(&china, 2026, 2, 23), Some(false));
        assert_eq!(working(&china, 2024, 12, 31), None);
        assert_eq!(working(&china, 2027, 1, 4), None);
    }
}
