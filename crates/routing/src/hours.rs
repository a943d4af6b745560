//! When a channel takes payments, and which date a payment taken at an instant books to.
//!
//! HVPS is the case that shapes this: since 2018-05 a working day's session opens at 20:30 on
//! the calendar day before it and closes at the 17:15 business cut-off, so a payment at 21:00
//! on a Sunday before a working Monday is taken and books to Monday, not to Sunday.

use crate::calendar::Calendar;
use crate::date::CivilDate;
use crate::time::{LocalDateTime, TimeOfDay};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Hours {
    /// 7×24: open at every instant, booking to the instant's date.
    Always,
    /// One session per working day, from `opens` (on the day before it, if
    /// `opens_previous_day`) up to but not including `cut_off` on the working day.
    WorkingDays {
        opens: TimeOfDay,
        opens_previous_day: bool,
        cut_off: TimeOfDay,
    },
}

/// Why a channel with working-day hours is closed at an instant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Closed {
    /// The instant falls in no working day's session and its own date is not a working day.
    NonWorkingDay,
    /// The instant's date is a working day but the instant is outside the sessions.
    OutsideHours,
    /// A date that decides it is in a year the calendar does not cover.
    CalendarNotCovered,
}

impl Hours {
    /// HVPS since 2018-05: 20:30 the evening before a working day until 17:15 on it.
    pub const HVPS: Hours = Hours::WorkingDays {
        opens: hm(20, 30),
        opens_previous_day: true,
        cut_off: hm(17, 15),
    };

    /// The date a payment taken at `at` books to (the working day whose session it is in), or
    /// why the channel is closed then.
    pub fn session(&self, at: LocalDateTime, calendar: &Calendar) -> Result<CivilDate, Closed> {
        let Hours::WorkingDays {
            opens,
            opens_previous_day,
            cut_off,
        } = *self
        else {
            return Ok(at.date);
        };
        let today = calendar.working_day(at.date);
        if opens_previous_day && at.time >= opens {
            // The evening session belongs to tomorrow, if tomorrow is a working day.
            let tomorrow = at.date.next();
            match tomorrow.map(|d| (d, calendar.working_day(d))) {
                Some((date, Some(true))) => return Ok(date),
                Some((_, None)) | None => return Err(Closed::CalendarNotCovered),
                Some((_, Some(false))) => {}
            }
        }
        let in_today_session = at.time < cut_off && (opens_previous_day || at.time >= opens);
        match today {
            None => Err(Closed::CalendarNotCovered),
            Some(true) if in_today_session => Ok(at.date),
            Some(true) => Err(Closed::OutsideHours),
            Some(false) => Err(Closed::NonWorkingDay),
        }
    }
}

/// A time of day known at compile time to exist.
const fn hm(hour: u32, minute: u32) -> TimeOfDay {
    match TimeOfDay::from_hms(hour, minute, 0) {
        Some(time) => time,
        None => panic!("not a time of day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> LocalDateTime {
        LocalDateTime::parse(text)
            .unwrap_or(LocalDateTime::new(CivilDate::MIN, TimeOfDay::MIDNIGHT))
    }

    fn date(text: &str) -> CivilDate {
        CivilDate::parse(text).unwrap_or(CivilDate::MIN)
    }

    #[test]
    fn hvps_session_edges_on_an_ordinary_week() {
        let china = Calendar::china();
        let cases = [
            ("2026-12-08 08:00", Ok(date("2026-12-08"))),
            ("2026-12-08 17:14:59", Ok(date("2026-12-08"))),
            ("2026-12-08 17:15", Err(Closed::OutsideHours)),
            ("2026-12-08 20:29:59", Err(Closed::OutsideHours)),
            ("2026-12-08 20:30", Ok(date("2026-12-09"))),
            ("2026-12-09 00:30", Ok(date("2026-12-09"))),
            ("2026-12-11 20:30", Err(Closed::OutsideHours)),
            ("2026-12-12 10:00", Err(Closed::NonWorkingDay)),
            ("2026-12-13 20:29", Err(Closed::NonWorkingDay)),
            ("2026-12-13 20:30", Ok(date("2026-12-14"))),
            ("2026-12-31 20:30", Err(Closed::CalendarNotCovered)),
            ("2027-01-04 10:00", Err(Closed::CalendarNotCovered)),
        ];
        for (instant, expected) in cases {
            assert_eq!(
                Hours::HVPS.session(at(instant), &china),
                expected,
                "{instant}"
            );
        }
    }

    #[test]
    fn same_day_hours_open_at_their_opening_time() {
        // HVPS before 2018: 08:30-17:00 on the working day itself.
        let old = Hours::WorkingDays {
            opens: hm(8, 30),
            opens_previous_day: false,
            cut_off: hm(17, 0),
        };
        let china = Calendar::china();
        assert_eq!(
            old.session(at("2026-12-08 08:29"), &china),
            Err(Closed::OutsideHours)
        );
        assert_eq!(
            old.session(at("2026-12-08 08:30"), &china),
            Ok(date("2026-12-08"))
        );
        assert_eq!(
            old.session(at("2026-12-07 21:00"), &china),
            Err(Closed::OutsideHours)
        );
        assert_eq!(
            Hours::Always.session(at("2031-01-01 03:00"), &china),
            Ok(date("2031-01-01"))
        );
    }
}
