//! Period roll-ups (会计分期): when a date closes a month, the month's totals per subject; a
//! quarter, half-year and year likewise. Built from the daily general ledger rows.

use std::collections::BTreeMap;

use suanpan_ledger::{AccountingDate, Currency};
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::general_ledger::{self, GlRow};
use crate::store::{date_text, money, parse_date};
use crate::AccountingError;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Period {
    Month,
    Quarter,
    HalfYear,
    Year,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::HalfYear => "half_year",
            Period::Year => "year",
        }
    }

    fn months(self) -> u32 {
        match self {
            Period::Month => 1,
            Period::Quarter => 3,
            Period::HalfYear => 6,
            Period::Year => 12,
        }
    }
}

/// The periods `date` is the last day of, each with its first day.
pub fn closed_by(date: AccountingDate) -> Vec<(Period, AccountingDate)> {
    let (year, month, _) = date.ymd();
    if date.next().ymd().1 == month {
        return Vec::new();
    }
    [
        Period::Month,
        Period::Quarter,
        Period::HalfYear,
        Period::Year,
    ]
    .into_iter()
    .filter(|p| month % p.months() == 0)
    .filter_map(|p| {
        AccountingDate::from_ymd(year, month + 1 - p.months(), 1).map(|start| (p, start))
    })
    .collect()
}

/// Writes the totals of every period `date` closes; returns how many periods.
pub fn roll_up(conn: &dyn Sql, date: AccountingDate) -> Result<usize, AccountingError> {
    let periods = closed_by(date);
    for &(period, start) in &periods {
        let mut dates = Vec::new();
        for row in conn.query(
            "SELECT DISTINCT accounting_date FROM accounting_general_ledger WHERE accounting_date BETWEEN ?1 AND ?2 ORDER BY accounting_date",
            args![&date_text(start), &date_text(date)],
        )? {
            dates.push(parse_date(&row.str(0)?)?);
        }
        let mut totals: BTreeMap<(String, Currency), GlRow> = BTreeMap::new();
        for day in dates {
            for row in general_ledger::read(conn, day)? {
                let t = totals
                    .entry((row.subject_code.clone(), row.currency))
                    .or_insert(GlRow {
                        debits: 0,
                        credits: 0,
                        ..row.clone()
                    });
                t.debits += row.debits;
                t.credits += row.credits;
                t.closing = row.closing;
            }
        }
        for t in totals.values() {
            conn.execute(
                "INSERT INTO accounting_period_totals (period, period_start, period_end, subject_code, currency, opening, debits, credits, closing)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (period, period_start, subject_code, currency) DO UPDATE SET
                     period_end = excluded.period_end, opening = excluded.opening,
                     debits = excluded.debits, credits = excluded.credits, closing = excluded.closing",
                &[
                    period.as_str().into(),
                    (&date_text(start)).into(),
                    (&date_text(date)).into(),
                    (&t.subject_code).into(),
                    t.currency.as_str().into(),
                    money(t.opening),
                    money(t.debits as i128),
                    money(t.credits as i128),
                    money(t.closing),
                ],
            )?;
        }
    }
    Ok(periods.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> AccountingDate {
        AccountingDate::parse(text).unwrap_or_default()
    }

    #[test]
    fn the_last_day_of_a_year_closes_every_period() {
        let closed: Vec<&str> = closed_by(date("2026-12-31"))
            .iter()
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(closed, ["month", "quarter", "half_year", "year"]);
        assert_eq!(closed_by(date("2026-12-31"))[3].1, date("2026-01-01"));
    }

    #[test]
    fn month_ends_close_their_month_and_quarter_ends_their_quarter() {
        assert_eq!(closed_by(date("2026-11-30")).len(), 1);
        assert_eq!(closed_by(date("2026-09-30")).len(), 2);
        assert_eq!(closed_by(date("2026-09-30"))[1].1, date("2026-07-01"));
        assert_eq!(closed_by(date("2024-02-29")).len(), 1);
        assert!(closed_by(date("2024-02-28")).is_empty());
        assert!(closed_by(date("2026-11-25")).is_empty());
    }
}
