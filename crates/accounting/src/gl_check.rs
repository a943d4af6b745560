//! The GL-vs-sub-ledger check (总分核对): for every subject with ledger accounts, the general
//! ledger's balance (built from vouchers by rule) against the sum of its accounts' balances at
//! the cutover as the ledger itself computed them (`ledger_balance.rs`). Two independent
//! figures: a posting rule with the wrong side, or a voucher that moved one side only, shows up
//! as a difference.

use std::collections::BTreeMap;

use suanpan_ledger::{AccountingDate, Currency};
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::chart::Chart;
use crate::general_ledger::GlRow;
use crate::projection::LedgerAccount;
use crate::store::{date_text, get_currency, money};
use crate::AccountingError;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GlCheckRow {
    pub subject_code: String,
    pub currency: Currency,
    pub gl_balance: i128,
    pub sub_ledger_balance: i128,
}

impl GlCheckRow {
    /// Sub-ledger minus general ledger: what the GL lacks on its debit side.
    pub fn difference(&self) -> i128 {
        self.sub_ledger_balance - self.gl_balance
    }
}

/// Compares every subject that is not GL-only and has a GL row or a non-zero sub-ledger sum.
pub fn check(
    chart: &Chart,
    gl: &[GlRow],
    accounts: &[LedgerAccount],
    balances: &[i128],
) -> Result<Vec<GlCheckRow>, AccountingError> {
    let mut sub_ledger: BTreeMap<(u32, Currency), i128> = BTreeMap::new();
    for (account, &balance) in accounts.iter().zip(balances) {
        *sub_ledger
            .entry((account.subject_id, account.currency))
            .or_default() += balance;
    }
    let mut rows: BTreeMap<(String, Currency), GlCheckRow> = BTreeMap::new();
    for ((subject_id, currency), balance) in sub_ledger {
        let subject = chart
            .by_id(subject_id)
            .ok_or_else(|| AccountingError::Invariant(format!("account subject #{subject_id}")))?;
        // A zero sum with no GL row says nothing, and leaving it out keeps the check the same
        // however far past the date the journal has been read (accounts opened later are zero).
        if subject.gl_only || balance == 0 {
            continue;
        }
        rows.insert(
            (subject.code.clone(), currency),
            GlCheckRow {
                subject_code: subject.code.clone(),
                currency,
                gl_balance: 0,
                sub_ledger_balance: balance,
            },
        );
    }
    for r in gl {
        if chart.by_code(&r.subject_code).is_some_and(|s| s.gl_only) {
            continue;
        }
        rows.entry((r.subject_code.clone(), r.currency))
            .or_insert_with(|| GlCheckRow {
                subject_code: r.subject_code.clone(),
                currency: r.currency,
                gl_balance: 0,
                sub_ledger_balance: 0,
            })
            .gl_balance = r.closing;
    }
    Ok(rows.into_values().collect())
}

pub fn write(
    conn: &dyn Sql,
    date: AccountingDate,
    rows: &[GlCheckRow],
) -> Result<(), AccountingError> {
    let day = date_text(date);
    for r in rows {
        conn.execute(
            "INSERT INTO accounting_gl_checks (accounting_date, subject_code, currency, gl_balance, sub_ledger_balance, difference) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (accounting_date, subject_code, currency) DO UPDATE SET
                 gl_balance = excluded.gl_balance, sub_ledger_balance = excluded.sub_ledger_balance,
                 difference = excluded.difference",
            &[
                (&day).into(),
                (&r.subject_code).into(),
                r.currency.as_str().into(),
                money(r.gl_balance),
                money(r.sub_ledger_balance),
                money(r.difference()),
            ],
        )?;
    }
    Ok(())
}

pub fn read(conn: &dyn Sql, date: AccountingDate) -> Result<Vec<GlCheckRow>, AccountingError> {
    let mut out = Vec::new();
    for row in conn.query(
        "SELECT subject_code, currency, gl_balance, sub_ledger_balance FROM accounting_gl_checks WHERE accounting_date = ?1 ORDER BY subject_code, currency",
        args![&date_text(date)],
    )? {
        out.push(GlCheckRow {
            subject_code: row.str(0)?,
            currency: get_currency(&row, 1)?,
            gl_balance: row.money(2)?,
            sub_ledger_balance: row.money(3)?,
        });
    }
    Ok(out)
}
