//! Which dates are working days (工作日): Monday to Friday, unless the State Council makes one a
//! holiday (节假日), plus the Saturdays and Sundays it makes working days in exchange (调休).
//!
//! A calendar also says which years it covers. Outside them it does not guess: a routing
//! decision that needs to know whether such a date is a working day says so instead.
//!
//! The text format, one fact a line, `#` starts a comment:
//!
//! ```text
//! year 2026                          # this file has the complete schedule of 2026
//! 2026-10-01 holiday National Day
//! 2026-10-10 workday National Day make-up
//! ```

use std::fmt;

use crate::date::{CivilDate, Weekday};
use crate::holidays;

/// Most dated entries one calendar holds: about 40 a year are needed, so this is decades.
pub const CALENDAR_ENTRIES_MAX: usize = 8_192;
/// Most years one calendar may declare.
pub const CALENDAR_YEARS_MAX: usize = 200;

/// What a listed date is; an unlisted date of a covered year is a working day unless it is a
/// Saturday or Sunday.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DayKind {
    /// A public holiday, or a weekday given off in a holiday's run (放假调休).
    Holiday,
    /// A Saturday or Sunday worked in exchange for a holiday (调休上班).
    MakeUpWorkingDay,
}

impl DayKind {
    /// The word the text format uses.
    pub const fn keyword(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::MakeUpWorkingDay => "workday",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CalendarEntry {
    pub date: CivilDate,
    pub kind: DayKind,
    /// What the schedule calls it, e.g. `National Day`; may be empty.
    pub name: String,
}

/// Holidays and make-up working days of the years it covers. Build it with [`Calendar::parse`]
/// or take the built-in [`Calendar::china`]; `Calendar::default()` covers no year at all.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Calendar {
    /// Sorted, without repeats.
    years: Vec<i32>,
    /// Sorted by date, one entry a date, each in a covered year.
    entries: Vec<CalendarEntry>,
}

impl Calendar {
    /// China's schedule as the State Council published it, for the years listed in
    /// [`crate::holidays`]: 2025 and 2026.
    pub fn china() -> Calendar {
        let mut entries = Vec::new();
        for span in holidays::CHINA {
            let mut day = span.first;
            while day <= span.last {
                entries.push(CalendarEntry {
                    date: day,
                    kind: span.kind,
                    name: span.name.to_string(),
                });
                let Some(next) = day.next() else { break };
                day = next;
            }
        }
        entries.sort_by_key(|e| e.date);
        Calendar {
            years: holidays::CHINA_YEARS.to_vec(),
            entries,
        }
    }

    /// Reads the text format described at the top of this module; an error names the line.
    pub fn parse(text: &str) -> Result<Calendar, CalendarError> {
        let mut years: Vec<(i32, usize)> = Vec::new();
        let mut entries: Vec<(CalendarEntry, usize)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let fail = |problem| CalendarError { line, problem };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let (first, rest) = split_word(content);
            if first == "year" {
                years.push((
                    parse_year(rest)
                        .ok_or_else(|| fail(CalendarProblem::NotAYear(rest.to_string())))?,
                    line,
                ));
                if years.len() > CALENDAR_YEARS_MAX {
                    return Err(fail(CalendarProblem::TooManyYears));
                }
                continue;
            }
            let date = CivilDate::parse(first)
                .ok_or_else(|| fail(CalendarProblem::NotADate(first.to_string())))?;
            let (keyword, name) = split_word(rest);
            let kind = match keyword {
                "holiday" => DayKind::Holiday,
                "workday" => DayKind::MakeUpWorkingDay,
                "" => return Err(fail(CalendarProblem::MissingKind)),
                other => return Err(fail(CalendarProblem::UnknownKind(other.to_string()))),
            };
            if kind == DayKind::MakeUpWorkingDay && !date.weekday().is_weekend() {
                return Err(fail(CalendarProblem::MakeUpOnWeekday {
                    date,
                    weekday: date.weekday(),
                }));
            }
            if entries.len() == CALENDAR_ENTRIES_MAX {
                return Err(fail(CalendarProblem::TooManyEntries));
            }
            let name = name.to_string();
            entries.push((CalendarEntry { date, kind, name }, line));
        }
        Calendar::from_lines(years, entries)
    }

    /// Checks what needs the whole file: every entry's year declared, no date listed twice.
    fn from_lines(
        years: Vec<(i32, usize)>,
        mut entries: Vec<(CalendarEntry, usize)>,
    ) -> Result<Calendar, CalendarError> {
        let mut years: Vec<i32> = years.into_iter().map(|(year, _)| year).collect();
        years.sort_unstable();
        years.dedup();
        // A stable sort keeps the file's order among equal dates, so the later line is blamed.
        entries.sort_by_key(|(entry, _)| entry.date);
        for pair in entries.windows(2) {
            if pair[0].0.date == pair[1].0.date {
                let problem = CalendarProblem::Duplicate {
                    date: pair[1].0.date,
                    first_line: pair[0].1,
                };
                return Err(CalendarError {
                    line: pair[1].1,
                    problem,
                });
            }
        }
        for (entry, line) in &entries {
            let year = entry.date.year();
            if years.binary_search(&year).is_err() {
                let problem = CalendarProblem::YearNotDeclared {
                    date: entry.date,
                    year,
                };
                return Err(CalendarError {
                    line: *line,
                    problem,
                });
            }
        }
        let entries = entries.into_iter().map(|(entry, _)| entry).collect();
        Ok(Calendar { years, entries })
    }

    /// The calendar in its text format; `Calendar::parse` reads it back to an equal calendar.
    pub fn to_text(&self) -> String {
        let mut text =
            String::from("# Suanpan calendar: `year` lines say which years are complete\n");
        for year in &self.years {
            text.push_str(&format!("year {year}\n"));
        }
        for entry in &self.entries {
            let line = format!("{} {} {}", entry.date, entry.kind.keyword(), entry.name);
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }

    pub fn covered_years(&self) -> &[i32] {
        &self.years
    }

    pub fn covers(&self, date: CivilDate) -> bool {
        self.years.binary_search(&date.year()).is_ok()
    }

    pub fn entries(&self) -> &[CalendarEntry] {
        &self.entries
    }

    /// The listed holiday or make-up working day on `date`, if any.
    pub fn entry(&self, date: CivilDate) -> Option<&CalendarEntry> {
        let index = self.entries.binary_search_by_key(&date, |e| e.date).ok()?;
        self.entries.get(index)
    }

    /// Whether `date` is a working day; `None` when the calendar does not cover its year.
    pub fn working_day(&self, date: CivilDate) -> Option<bool> {
        if !self.covers(date) {
            return None;
        }
        Some(match self.entry(date).map(|e| e.kind) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::MakeUpWorkingDay) => true,
            None => !date.weekday().is_weekend(),
        })
    }
}

/// The first word of `text` and what follows it, trimmed.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

fn parse_year(text: &str) -> Option<i32> {
    let year = crate::date::digits(text.as_bytes()).filter(|_| text.len() == 4)?;
    (year >= 1).then_some(year as i32)
}

/// A calendar text that could not be read: the line (1-based) and what is wrong with it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CalendarError {
    pub line: usize,
    pub problem: CalendarProblem,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CalendarProblem {
    NotADate(String),
    NotAYear(String),
    MissingKind,
    UnknownKind(String),
    MakeUpOnWeekday { date: CivilDate, weekday: Weekday },
    Duplicate { date: CivilDate, first_line: usize },
    YearNotDeclared { date: CivilDate, year: i32 },
    TooManyEntries,
    TooManyYears,
}

impl fmt::Display for CalendarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "calendar line {}: ", self.line)?;
        match &self.problem {
            CalendarProblem::NotADate(text) => write!(f, "`{text}` is not a date; write YYYY-MM-DD or `year YYYY`"),
            CalendarProblem::NotAYear(text) => write!(f, "`{text}` is not a year; write `year YYYY`"),
            CalendarProblem::MissingKind => f.write_str("the date needs `holiday` or `workday` after it"),
            CalendarProblem::UnknownKind(text) => write!(f, "`{text}` is neither `holiday` nor `workday`"),
            CalendarProblem::MakeUpOnWeekday { date, weekday } => write!(
                f,
                "{date} is a {weekday}, a working day anyway; a make-up working day is a Saturday or Sunday"
            ),
            CalendarProblem::Duplicate { date, first_line } => {
                write!(f, "{date} is already listed on line {first_line}")
            }
            CalendarProblem::YearNotDeclared { date, year } => write!(
                f,
                "{date} is in {year}, but no `year {year}` line says the file has that year's complete schedule"
            ),
            CalendarProblem::TooManyEntries => write!(f, "more than {CALENDAR_ENTRIES_MAX} dated lines"),
            CalendarProblem::TooManyYears => write!(f, "more than {CALENDAR_YEARS_MAX} `year` lines"),
        }
    }
}

impl std::error::Error for CalendarError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> CivilDate {
        CivilDate::parse(text).unwrap_or(CivilDate::MIN)
    }

    #[test]
    fn parsed_calendar_knows_holidays_make_up_days_and_weekends() {
        let text = "# test\nyear 2026\n2026-10-01 holiday National Day  # Thursday\n\n2026-10-10 workday make-up\n";
        let calendar = Calendar::parse(text);
        assert!(calendar.is_ok(), "{calendar:?}");
        let calendar = calendar.unwrap_or_default();
        assert_eq!(calendar.working_day(date("2026-10-01")), Some(false));
        assert_eq!(calendar.working_day(date("2026-10-10")), Some(true));
        assert_eq!(calendar.working_day(date("2026-10-11")), Some(false));
        assert_eq!(calendar.working_day(date("2026-10-12")), Some(true));
        assert_eq!(calendar.working_day(date("2027-10-12")), None);
        assert_eq!(
            calendar.entry(date("2026-10-01")).map(|e| e.name.as_str()),
            Some("National Day")
        );
    }

    #[test]
    fn errors_name_the_line_and_the_fault() {
        let cases = [
            (
                "year 2026\n2026-13-01 holiday x",
                2,
                "`2026-13-01` is not a date",
            ),
            ("year 26", 1, "`26` is not a year"),
            ("year 2026\n\n2026-10-01", 3, "needs `holiday` or `workday`"),
            ("year 2026\n2026-10-01 vacation", 2, "`vacation` is neither"),
            ("year 2026\n2026-10-12 workday", 2, "2026-10-12 is a Monday"),
            (
                "year 2026\n2026-10-01 holiday\n2026-10-01 holiday",
                3,
                "already listed on line 2",
            ),
            (
                "year 2026\n2027-01-01 holiday New Year",
                2,
                "no `year 2027` line",
            ),
        ];
        for (text, line, message) in cases {
            let error = Calendar::parse(text).err();
            assert_eq!(error.as_ref().map(|e| e.line), Some(line), "{text}");
            let shown = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                shown.starts_with(&format!("calendar line {line}: ")),
                "{shown}"
            );
            assert!(shown.contains(message), "{shown}");
        }
    }

    #[test]
    fn built_in_calendar_reads_back_from_its_own_text() {
        let china = Calendar::china();
        assert_eq!(Calendar::parse(&china.to_text()), Ok(china));
    }
}
