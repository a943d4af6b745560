//! Limits of Class II and III personal accounts (PBOC yinfa 2016-302, 2018-16).
//!
//! Limits count money moving to or from accounts other than the holder's own bound Class I
//! account. Daily usage restarts when the accounting date changes, yearly usage when its year
//! does: the counters carry the date they belong to and are read as zero once it has passed,
//! so no sweep over millions of accounts is ever needed at cutover.

use crate::AccountingDate;

/// The limits, in fen. The defaults are the 2018 rules; a deployment may configure others, and
/// the journal records the ones in force so that replay applies the same.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TierLimits {
    pub class_ii_outflow_daily_fen: u64,
    pub class_ii_outflow_yearly_fen: u64,
    pub class_ii_inflow_daily_fen: u64,
    pub class_ii_inflow_yearly_fen: u64,
    pub class_iii_balance_max_fen: u64,
    pub class_iii_outflow_daily_fen: u64,
    pub class_iii_outflow_yearly_fen: u64,
}

const CNY: u64 = 100;

impl Default for TierLimits {
    fn default() -> TierLimits {
        TierLimits {
            class_ii_outflow_daily_fen: 10_000 * CNY,
            class_ii_outflow_yearly_fen: 200_000 * CNY,
            class_ii_inflow_daily_fen: 10_000 * CNY,
            class_ii_inflow_yearly_fen: 200_000 * CNY,
            class_iii_balance_max_fen: 2_000 * CNY,
            class_iii_outflow_daily_fen: 2_000 * CNY,
            class_iii_outflow_yearly_fen: 50_000 * CNY,
        }
    }
}

impl TierLimits {
    pub(crate) fn to_array(self) -> [u64; 7] {
        [
            self.class_ii_outflow_daily_fen,
            self.class_ii_outflow_yearly_fen,
            self.class_ii_inflow_daily_fen,
            self.class_ii_inflow_yearly_fen,
            self.class_iii_balance_max_fen,
            self.class_iii_outflow_daily_fen,
            self.class_iii_outflow_yearly_fen,
        ]
    }

    pub(crate) fn from_array(a: [u64; 7]) -> TierLimits {
        TierLimits {
            class_ii_outflow_daily_fen: a[0],
            class_ii_outflow_yearly_fen: a[1],
            class_ii_inflow_daily_fen: a[2],
            class_ii_inflow_yearly_fen: a[3],
            class_iii_balance_max_fen: a[4],
            class_iii_outflow_daily_fen: a[5],
            class_iii_outflow_yearly_fen: a[6],
        }
    }
}

/// An account's use of its limits: amounts to and from non-bound accounts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TierUsage {
    /// The accounting date the daily figures belong to (the yearly ones belong to its year).
    pub date: AccountingDate,
    pub outflow_day_fen: u64,
    pub inflow_day_fen: u64,
    pub outflow_year_fen: u64,
    pub inflow_year_fen: u64,
}

impl TierUsage {
    /// The usage as seen on `today`: figures of an earlier day or year read as zero.
    pub fn on(&self, today: AccountingDate) -> TierUsage {
        let same_year = self.date.year() == today.year();
        let same_day = self.date == today;
        TierUsage {
            date: today,
            outflow_day_fen: if same_day { self.outflow_day_fen } else { 0 },
            inflow_day_fen: if same_day { self.inflow_day_fen } else { 0 },
            outflow_year_fen: if same_year { self.outflow_year_fen } else { 0 },
            inflow_year_fen: if same_year { self.inflow_year_fen } else { 0 },
        }
    }

    /// Gives back usage charged on `charged_on` (a voided, expired or partly posted pending
    /// transfer). Usage of a day or year already past stays as it was: that period is closed.
    pub(crate) fn release(&mut self, charged_on: AccountingDate, outflow: u64, inflow: u64) {
        if charged_on.year() == self.date.year() {
            self.outflow_year_fen = self.outflow_year_fen.saturating_sub(outflow);
            self.inflow_year_fen = self.inflow_year_fen.saturating_sub(inflow);
            if charged_on == self.date {
                self.outflow_day_fen = self.outflow_day_fen.saturating_sub(outflow);
                self.inflow_day_fen = self.inflow_day_fen.saturating_sub(inflow);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_resets_with_the_day_and_the_year() {
        let d = AccountingDate::parse("2026-12-31").unwrap_or_default();
        let usage = TierUsage {
            date: d,
            outflow_day_fen: 5,
            inflow_day_fen: 6,
            outflow_year_fen: 50,
            inflow_year_fen: 60,
        };
        assert_eq!(usage.on(d), usage);
        let next_year = usage.on(d.next());
        assert_eq!(next_year.outflow_day_fen + next_year.outflow_year_fen, 0);
        let earlier = AccountingDate::parse("2026-12-30").unwrap_or_default();
        let same_year = TierUsage {
            date: earlier,
            ..usage
        }
        .on(d);
        assert_eq!(
            (same_year.outflow_day_fen, same_year.outflow_year_fen),
            (0, 50)
        );
    }
}
