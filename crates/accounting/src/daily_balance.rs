//! Daily balances (分户余额): every account's balance at the cutover, kept per date as
//! opening, the day's debits and credits, and closing (balance of the day = previous balance ±
//! the day's movements). A row is written for each account that moved; an account without a
//! row on a date kept its balance. Built from the accounts' movements on the vouchers, and
//! compared account by account with the ledger's own balances in the GL check.

use suanpan_ledger::AccountingDate;
use suanpan_store::args;
use suanpan_store::sql::{Param, Sql};

use crate::store::{date_text, money};
use crate::AccountingError;

/// Every account's balance (debit-side) at the last completed day-end.
pub fn load(conn: &dyn Sql, accounts: usize) -> Result<Vec<i128>, AccountingError> {
    let mut balances = vec![0i128; accounts];
    for row in conn.query(
        "SELECT account_idx, balance FROM accounting_account_balances",
        args![],
    )? {
        let idx = row.u64(0)?;
        let slot = usize::try_from(idx)
            .ok()
            .and_then(|i| balances.get_mut(i))
            .ok_or_else(|| {
                AccountingError::Invariant(format!("a balance of unknown account {idx}"))
            })?;
        *slot = row.money(1)?;
    }
    Ok(balances)
}

/// Applies the day's movements to `balances` and writes the rows of the accounts that moved.
/// Returns how many moved.
/// Rows of each table written per statement preparation.
const WRITE_CHUNK_ROWS: usize = 4_096;

fn write_rows(
    conn: &dyn Sql,
    daily: &[Param<'_>],
    current: &[Param<'_>],
) -> Result<(), AccountingError> {
    conn.execute_many(
        "INSERT INTO accounting_daily_balances (accounting_date, account_idx, opening, debits, credits, closing) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (accounting_date, account_idx) DO UPDATE SET opening = excluded.opening,
             debits = excluded.debits, credits = excluded.credits, closing = excluded.closing",
        6,
        daily,
    )?;
    conn.execute_many(
        "INSERT INTO accounting_account_balances (account_idx, accounting_date, balance) VALUES (?1, ?2, ?3)
         ON CONFLICT (account_idx) DO UPDATE SET accounting_date = excluded.accounting_date,
             balance = excluded.balance",
        3,
        current,
    )?;
    Ok(())
}

pub fn write(
    conn: &dyn Sql,
    date: AccountingDate,
    balances: &mut [i128],
    movements: &[(u128, u128)],
) -> Result<u64, AccountingError> {
    let day = date_text(date);
    let mut moved = 0;
    // Written a chunk of rows at a time, each statement prepared once per chunk.
    let (mut daily, mut current) = (Vec::new(), Vec::new());
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
        daily.extend([
            Param::from(day.as_str()),
            Param::Int(idx as i64),
            money(opening),
            money(debits as i128),
            money(credits as i128),
            money(closing),
        ]);
        current.extend([
            Param::Int(idx as i64),
            Param::from(day.as_str()),
            money(closing),
        ]);
        moved += 1;
        if daily.len() >= WRITE_CHUNK_ROWS * 6 {
            write_rows(conn, &daily, &current)?;
            daily.clear();
            current.clear();
        }
    }
    write_rows(conn, &daily, &current)?;
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

pub fn read(conn: &dyn Sql, date: AccountingDate) -> Result<Vec<DailyBalance>, AccountingError> {
    let mut out = Vec::new();
    for row in conn.query(
        "SELECT account_idx, opening, debits, credits, closing FROM accounting_daily_balances WHERE accounting_date = ?1 ORDER BY account_idx",
        args![&date_text(date)],
    )? {
        out.push(DailyBalance {
            account_idx: row.u32(0)?,
            opening: row.money(1)?,
            debits: row.money(2)? as u128,
            credits: row.money(3)? as u128,
            closing: row.money(4)?,
        });
    }
    Ok(out)
}
