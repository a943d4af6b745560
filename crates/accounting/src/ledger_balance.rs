//! The ledger's own balances at a date's cutover: the sub-ledger figure of the GL check. The
//! journal's accounts table holds every account's posted totals as the engine had them after
//! one batch (`meta.accounts_seq`); moving those to the cutover takes only the movements
//! between that batch and the cutover. So the check compares the general ledger, built from
//! vouchers by rule, with balances the ledger itself computed.

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use suanpan_ledger::AccountingDate;
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::projection::Projection;
use crate::store::date_text;
use crate::voucher::TransferVoucher;
use crate::AccountingError;

/// The journal's accounts table: (account id, debit-side balance), current to batch `seq`.
pub struct LedgerTable {
    pub seq: u64,
    pub balances: Vec<(u128, i128)>,
}

/// The same from a journal on PostgreSQL.
#[cfg(feature = "postgres")]
pub fn read_table_postgres(
    db: &std::sync::Arc<suanpan_journal::PgDb>,
) -> Result<LedgerTable, AccountingError> {
    let (seq, totals) = suanpan_journal::postgres::account_totals(db)?;
    let balances = totals
        .into_iter()
        .map(|(id, debits, credits)| {
            let (d, c) = (i128::try_from(debits), i128::try_from(credits));
            match (d, c) {
                (Ok(d), Ok(c)) => Ok((id, d - c)),
                _ => Err(AccountingError::Journal(format!(
                    "account {id}'s totals exceed 2^127"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LedgerTable { seq, balances })
}

/// Reads the table and its batch in one read transaction, so they agree.
pub fn read_table(journal: &Connection) -> Result<LedgerTable, AccountingError> {
    let tx = journal.unchecked_transaction()?;
    // No row yet: the table has never been written (no account changed).
    let seq = match tx.query_row(
        "SELECT value FROM meta WHERE key = 'accounts_seq'",
        [],
        |r| r.get::<_, u64>(0),
    ) {
        Ok(seq) => seq,
        Err(rusqlite::Error::QueryReturnedNoRows) => 0,
        Err(e) => return Err(e.into()),
    };
    let mut balances = Vec::new();
    {
        let mut stmt = tx.prepare("SELECT id, debits_posted, credits_posted FROM accounts")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let id: u128 = id.parse().map_err(|_| {
                AccountingError::Journal(format!("account id {id:?} does not parse"))
            })?;
            let balance = total(row.get_ref(1)?)? - total(row.get_ref(2)?)?;
            balances.push((id, balance));
        }
    }
    tx.commit()?;
    Ok(LedgerTable { seq, balances })
}

/// The journal stores a total as an integer, or as decimal text beyond 64 bits.
fn total(value: ValueRef) -> Result<i128, AccountingError> {
    match value {
        ValueRef::Integer(v) => Ok(i128::from(v)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| AccountingError::Journal("an account total does not parse".into())),
        _ => Err(AccountingError::Journal(
            "an account total is neither integer nor text".into(),
        )),
    }
}

/// Each account's balance (by accounting's index) at the cutover that closed `date`: the
/// table, plus the date's movements after its batch, minus later dates' movements before it.
pub fn at_cutover(
    conn: &dyn Sql,
    table: &LedgerTable,
    date: AccountingDate,
    projection: &Projection,
) -> Result<Vec<i128>, AccountingError> {
    if projection.cursor < table.seq {
        return Err(AccountingError::Invariant(format!(
            "accounting has read the journal to batch {}, the accounts table is at {}",
            projection.cursor, table.seq
        )));
    }
    let mut balances = vec![0i128; projection.accounts.len()];
    for &(id, balance) in &table.balances {
        let idx = projection.index_of(id).ok_or_else(|| {
            AccountingError::Invariant(format!("ledger account {id} is unknown to accounting"))
        })?;
        balances[idx as usize] = balance;
    }
    let day = date_text(date);
    let mut moves: Vec<(i128, u32, u32, u64)> = Vec::new();
    for row in conn.query(
        "SELECT accounting_date <= ?1, body FROM accounting_voucher_batches
         WHERE (accounting_date <= ?1 AND batch > ?2) OR (accounting_date > ?1 AND batch <= ?2)",
        args![&day, table.seq],
    )? {
        let sign = if row.bool(0)? { 1 } else { -1 };
        TransferVoucher::decode_each(&row.bytes(1)?, |v| {
            moves.push((sign, v.debit_account, v.credit_account, v.amount));
        })?;
    }
    for row in conn.query(
        "SELECT accounting_date <= ?1, debit_idx, credit_idx, amount FROM accounting_unmatched_transfers
         WHERE (accounting_date <= ?1 AND batch > ?2) OR (accounting_date > ?1 AND batch <= ?2)",
        args![&day, table.seq],
    )? {
        let sign = if row.bool(0)? { 1 } else { -1 };
        moves.push((sign, row.u32(1)?, row.u32(2)?, row.i64(3)? as u64));
    }
    for (sign, debit, credit, amount) in moves {
        let amount = sign * i128::from(amount);
        let (d, c) = (debit as usize, credit as usize);
        if d >= balances.len() || c >= balances.len() {
            return Err(AccountingError::Invariant(format!(
                "a movement names account {} unknown to accounting",
                d.max(c)
            )));
        }
        balances[d] += amount;
        balances[c] -= amount;
    }
    Ok(balances)
}
