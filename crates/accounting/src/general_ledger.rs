//! The general ledger (总账) per subject and currency, and the trial balance (试算平衡).
//! It is built from vouchers alone: opening (the previous date's closing) plus the day's debit
//! and credit movements gives the closing. Balances are debit-side figures (debits − credits):
//! an asset stands positive, a liability negative, and the whole chart sums to zero.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use suanpan_ledger::{AccountingDate, Currency};
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::chart::Chart;
use crate::projection::LedgerAccount;
use crate::store::{date_text, get_currency, money};
use crate::voucher::{for_each_transfer_voucher, manual_vouchers};
use crate::AccountingError;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GlRow {
    pub subject_code: String,
    pub currency: Currency,
    pub opening: i128,
    pub debits: u128,
    pub credits: u128,
    pub closing: i128,
}

/// One date's movements, gathered in one pass over its vouchers: per subject for the general
/// ledger, per account for the daily balances (the sub-ledger side of the check).
pub struct DayTotals {
    pub subjects: HashMap<(u32, Currency), (u128, u128)>,
    /// Per account index: (debits, credits).
    pub accounts: Vec<(u128, u128)>,
    pub vouchers: u64,
}

/// Reads every voucher of `date` once. `progress` gets (vouchers read, vouchers to read).
pub fn day_totals(
    conn: &dyn Sql,
    date: AccountingDate,
    accounts: &[LedgerAccount],
    vouchers_expected: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<DayTotals, AccountingError> {
    let mut totals = DayTotals {
        subjects: HashMap::new(),
        accounts: vec![(0, 0); accounts.len()],
        vouchers: 0,
    };
    let mut overflow = false;
    for_each_transfer_voucher(conn, date, |_, v| {
        let amount = u128::from(v.amount);
        let currency = accounts
            .get(v.debit_account as usize)
            .map_or(Currency::CNY, |a| a.currency);
        let debit = totals
            .subjects
            .entry((v.debit_subject, currency))
            .or_default();
        debit.0 += amount;
        let credit = totals
            .subjects
            .entry((v.credit_subject, currency))
            .or_default();
        credit.1 += amount;
        match totals.accounts.get_mut(v.debit_account as usize) {
            Some(d) => d.0 += amount,
            None => overflow = true,
        }
        match totals.accounts.get_mut(v.credit_account as usize) {
            Some(c) => c.1 += amount,
            None => overflow = true,
        }
        totals.vouchers += 1;
        if totals.vouchers.is_multiple_of(1_048_576) {
            progress(totals.vouchers, vouchers_expected);
        }
    })?;
    if overflow {
        return Err(AccountingError::Invariant(format!(
            "{date}: a voucher names an account accounting does not know"
        )));
    }
    // Split lines name no account: they move their (GL-only) subjects only.
    for (_, line) in crate::voucher::extra_lines(conn, date)? {
        let entry = totals
            .subjects
            .entry((line.subject, line.currency))
            .or_default();
        match line.side {
            crate::Side::Debit => entry.0 += u128::from(line.amount),
            crate::Side::Credit => entry.1 += u128::from(line.amount),
        }
    }
    for m in manual_vouchers(conn, date)? {
        let debit = totals
            .subjects
            .entry((m.debit_subject, m.currency))
            .or_default();
        debit.0 += m.amount;
        let credit = totals
            .subjects
            .entry((m.credit_subject, m.currency))
            .or_default();
        credit.1 += m.amount;
        for (idx, debit_side) in [(m.debit_account, true), (m.credit_account, false)] {
            if let Some(a) = idx.and_then(|i| totals.accounts.get_mut(i as usize)) {
                if debit_side {
                    a.0 += m.amount;
                } else {
                    a.1 += m.amount;
                }
            }
        }
        totals.vouchers += 1;
    }
    progress(totals.vouchers, vouchers_expected);
    Ok(totals)
}

/// The general ledger of `date`: the previous date's closing carried forward, plus the day's
/// movements. Every subject that ever had a balance gets a row every day.
pub fn build(
    conn: &dyn Sql,
    date: AccountingDate,
    chart: &Chart,
    totals: &DayTotals,
) -> Result<Vec<GlRow>, AccountingError> {
    let mut rows: BTreeMap<(String, Currency), GlRow> = BTreeMap::new();
    for prev in previous(conn, date)? {
        rows.insert(
            (prev.subject_code.clone(), prev.currency),
            GlRow {
                opening: prev.closing,
                debits: 0,
                credits: 0,
                closing: prev.closing,
                ..prev
            },
        );
    }
    for (&(subject_id, currency), &(debits, credits)) in &totals.subjects {
        let code = chart
            .by_id(subject_id)
            .ok_or_else(|| AccountingError::Invariant(format!("voucher subject #{subject_id}")))?
            .code
            .clone();
        let row = rows
            .entry((code.clone(), currency))
            .or_insert_with(|| GlRow {
                subject_code: code,
                currency,
                opening: 0,
                debits: 0,
                credits: 0,
                closing: 0,
            });
        row.debits += debits;
        row.credits += credits;
    }
    let mut out: Vec<GlRow> = rows.into_values().collect();
    for row in &mut out {
        row.closing = closing(row)?;
    }
    Ok(out)
}

/// closing = opening + debits − credits, refusing to wrap.
pub fn closing(row: &GlRow) -> Result<i128, AccountingError> {
    let debits = i128::try_from(row.debits);
    let credits = i128::try_from(row.credits);
    match (debits, credits) {
        (Ok(d), Ok(c)) => row
            .opening
            .checked_add(d)
            .and_then(|v| v.checked_sub(c))
            .ok_or_else(|| AccountingError::Invariant("a balance overflows 127 bits".into())),
        _ => Err(AccountingError::Invariant(
            "movements overflow 127 bits".into(),
        )),
    }
}

pub fn write(conn: &dyn Sql, date: AccountingDate, rows: &[GlRow]) -> Result<(), AccountingError> {
    let day = date_text(date);
    conn.execute(
        "DELETE FROM accounting_general_ledger WHERE accounting_date = ?1",
        args![&day],
    )?;
    for r in rows {
        conn.execute(
            "INSERT INTO accounting_general_ledger (accounting_date, subject_code, currency, opening, debits, credits, closing) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                (&day).into(),
                (&r.subject_code).into(),
                r.currency.as_str().into(),
                money(r.opening),
                money(r.debits as i128),
                money(r.credits as i128),
                money(r.closing),
            ],
        )?;
    }
    Ok(())
}

pub fn read(conn: &dyn Sql, date: AccountingDate) -> Result<Vec<GlRow>, AccountingError> {
    let mut out = Vec::new();
    for row in conn.query(
        "SELECT subject_code, currency, opening, debits, credits, closing FROM accounting_general_ledger
         WHERE accounting_date = ?1 ORDER BY subject_code, currency",
        args![&date_text(date)],
    )? {
        out.push(GlRow {
            subject_code: row.str(0)?,
            currency: get_currency(&row, 1)?,
            opening: row.money(2)?,
            debits: row.money(3)? as u128,
            credits: row.money(4)? as u128,
            closing: row.money(5)?,
        });
    }
    Ok(out)
}

/// The general ledger of the latest date before `date` that has one.
fn previous(conn: &dyn Sql, date: AccountingDate) -> Result<Vec<GlRow>, AccountingError> {
    let prev = conn
        .query_one(
            "SELECT MAX(accounting_date) FROM accounting_general_ledger WHERE accounting_date < ?1",
            args![&date_text(date)],
        )?
        .opt_str(0)?;
    match prev {
        Some(text) => read(conn, crate::store::parse_date(&text)?),
        None => Ok(Vec::new()),
    }
}

/// The trial balance of one currency.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrialBalance {
    pub currency: Currency,
    pub debits: u128,
    pub credits: u128,
    /// Σ opening and Σ closing of the whole chart: zero when it balances.
    pub opening_sum: i128,
    pub closing_sum: i128,
}

impl TrialBalance {
    pub fn balanced(&self) -> bool {
        self.debits == self.credits && self.opening_sum == 0 && self.closing_sum == 0
    }
}

/// Σ debit movements = Σ credit movements, and the balance equation of the whole chart, per
/// currency (currencies are never added together).
pub fn trial_balance(rows: &[GlRow]) -> Vec<TrialBalance> {
    let mut by_currency: BTreeMap<Currency, TrialBalance> = BTreeMap::new();
    for r in rows {
        let t = by_currency.entry(r.currency).or_insert(TrialBalance {
            currency: r.currency,
            debits: 0,
            credits: 0,
            opening_sum: 0,
            closing_sum: 0,
        });
        t.debits += r.debits;
        t.credits += r.credits;
        t.opening_sum += r.opening;
        t.closing_sum += r.closing;
    }
    by_currency.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, opening: i128, debits: u128, credits: u128) -> GlRow {
        let mut r = GlRow {
            subject_code: code.into(),
            currency: Currency::CNY,
            opening,
            debits,
            credits,
            closing: 0,
        };
        r.closing = closing(&r).unwrap_or(i128::MIN);
        r
    }

    #[test]
    fn closing_is_opening_plus_debits_minus_credits() {
        assert_eq!(row("1002", 100, 30, 50).closing, 80);
        assert_eq!(row("2241.01", -100, 50, 30).closing, -80);
    }

    #[test]
    fn a_chart_whose_movements_pair_off_balances() {
        let rows = [row("1002", 100, 30, 0), row("2241.01", -100, 0, 30)];
        let tb = trial_balance(&rows);
        assert_eq!(tb.len(), 1);
        assert!(tb[0].balanced());
    }

    #[test]
    fn a_one_sided_movement_breaks_the_trial_balance() {
        let rows = [row("1002", 100, 30, 0), row("2241.01", -100, 0, 0)];
        assert!(!trial_balance(&rows)[0].balanced());
    }
}
