//! Daily balances (分户余额): every account's balance at the cutover, kept per date as
//! opening, the day's debits and credits, and closing (balance of the day = previous balance ±
//! the day's movements). A row is written for each account that moved; an account without a
//! row on a date kept its balance. Built from the accounts' movements on the vouchers, and
//! compared account by account with the ledger's own balances in the GL check.

use rusqlite::{params, Connection};
use suanpan_ledger::AccountingDate;

use crate::store::{date_text, get_money, money};
use crate::AccountingError;

/// Every account's balance (debit-side) at the last completed day-end.
pub fn load(conn: &Connection, accounts: usize) -> Result<Vec<i128>, AccountingError> {
    let mut balances = vec![0i128; accounts];
    let mut stmt = conn.prepare("SELECT account_idx, balance FROM account_balances")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let idx: usize = row.get(0)?;
        let slot = balances.get_mut(idx).ok_or_else(|| {
            AccountingError::Invariant(format!("a balance of unknown account {idx}"))
        })?;
        *slot = get_money(row, 1)?;
    }
    Ok(balances)
}

/// Applies the day's movements to `balances` and writes the rows of the accounts that moved.
/// Returns how many moved.
pub fn write(
    conn: &Connection,
    date: AccountingDate,
    balances: &mut [i128],
    movements: &[(u128, u128)],
) -> Result<u64, AccountingError> {
    let day = date_text(date);
    let mut daily = conn.prepare_cached(
        "INSERT OR REPLACE INTO daily_balances (accounting_date, account_idx, opening, debits, credits, closing) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut current = conn.prepare_cached(
        "INSERT OR REPLACE INTO account_balances (account_idx, accounting_date, balance) VALUES (?1, ?2, ?3)",
    )?;
    let mut moved = 0;
    for (idx, (&(debits, credits), balance)) in
        movements.iter().zip(balances.iter_mut()).enumerate()
    {
        if debits == 0 && credits == 0 {
            continue;
        }
        let opening = *balance;
        let closing = i128::try_from(debits)
            .ok()
            .zip(i128::try_from(credits).ok())
            .and_then(|(d, c)| opening.checked_add(d)?.checked_sub(c))
            .ok_or_else(|| {
                AccountingError::Invariant(format!("account {idx}: balance overflows"))
            })?;
        *balance = closing;
        daily.execute(params![
            day,
            idx as i64,
            money(opening),
            money(debits as i128),
            money(credits as i128),
            money(closing)
        ])?;
        current.execute(params![idx as i64, day, money(closing)])?;
        moved += 1;
    }
    Ok(moved)
}

/// One account's row of a date, as a reader sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DailyBalance {
    pub account_idx: u32,
    pub opening: i128,
    pub debits: u128,
    pub credits: u128,
    pub closing: i128,
}

pub fn read(conn: &Connection, date: AccountingDate) -> Result<Vec<DailyBalance>, AccountingError> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_idx, opening, debits, credits, closing FROM daily_balances WHERE accounting_date = ?1 ORDER BY account_idx",
    )?;
    let mut rows = stmt.query([date_text(date)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(DailyBalance {
            account_idx: row.get(0)?,
            opening: get_money(row, 1)?,
            debits: get_money(row, 2)? as u128,
            credits: get_money(row, 3)? as u128,
            closing: get_money(row, 4)?,
        });
    }
    Ok(out)
}
