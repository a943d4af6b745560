//! `suanpan verify`: proves that no committed history was altered and that the books are what
//! the history says. Checks the hash chain, replays the whole journal from the beginning
//! through the ledger, compares the replay with the newest snapshot and with the query tables.

use std::path::Path;

use rusqlite::types::ValueRef;
use suanpan_ledger::{hex, Command, Ledger, ResultCode};

use crate::sqlite::{
    accounts_seq, open_read_only, pending_status_name, replay_mismatch, SnapshotReader,
};
use crate::JournalError;

pub struct VerifyReport {
    pub batches: u64,
    pub commands: u64,
    pub transfers: u64,
    pub accounts: u64,
    pub snapshot_seq: u64,
    pub state_hash: String,
}

pub fn verify(dir: &Path) -> Result<VerifyReport, JournalError> {
    let journal = open_read_only(dir)?;
    let conn = journal.connection();
    // One read transaction, so a server writing meanwhile cannot show us half a commit.
    conn.execute_batch("BEGIN")?;
    let snapshot: Option<(u64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, state_hash FROM snapshots WHERE complete = 1 ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    if let Some((seq, expected)) = &snapshot {
        let mut reader = SnapshotReader::new(conn, *seq);
        std::io::copy(&mut reader, &mut std::io::sink())
            .map_err(|e| JournalError::Io(e.to_string()))?;
        if reader.hasher.clone().finalize_hash() != expected.as_slice() {
            return Err(corrupt(format!(
                "snapshot after batch {seq}: its bytes do not match its recorded hash"
            )));
        }
    }

    let mut ledger = Ledger::new(journal.limits());
    let mut report = VerifyReport {
        batches: 0,
        commands: 0,
        transfers: 0,
        accounts: 0,
        snapshot_seq: 0,
        state_hash: String::new(),
    };
    // Batches holding transfers, in order, and a statement that unpacks one of them.
    let mut batch_rows =
        conn.prepare("SELECT batch, rows FROM transfers_by_batch ORDER BY batch")?;
    let mut rows = batch_rows.query([])?;
    let mut unpack = conn.prepare(
        "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?1) ORDER BY key",
    )?;
    let mut results = Vec::new();
    // The accounts table is current to `accounts_seq`: compare it when the replay gets there.
    let accounts_at = accounts_seq(&journal)?;
    if accounts_at == 0 {
        check_accounts(conn, &ledger)?;
    }
    journal.for_each_batch_after(0, |batch| {
        results.clear();
        crate::apply_batch(&mut ledger, &batch.segments, &batch.commands, &mut results);
        if results != batch.results {
            return Err(replay_mismatch(batch.seq, &results, &batch.results));
        }
        let mut expected = Vec::new();
        for (stamped, result) in batch.commands.iter().zip(&results) {
            let Command::CreateTransfer(t) = &stamped.command else { continue };
            if *result != ResultCode::Ok {
                continue;
            }
            let Some(r) = ledger.transfer_by_id(t.id) else {
                return Err(corrupt(format!("transfer {} committed in batch {} is not in the replayed ledger", t.id, batch.seq)));
            };
            let accounts = ledger.accounts();
            let (debit, credit) = (accounts[r.debit_index as usize].id, accounts[r.credit_index as usize].id);
            expected.push((stamped.timestamp as i64, t.id.to_string(), debit.to_string(), credit.to_string(), u128::from(r.amount)));
        }
        if !expected.is_empty() {
            let found = match rows.next()? {
                Some(row) if row.get::<_, u64>(0)? == batch.seq => {
                    let json: String = row.get(1)?;
                    let mut found = Vec::with_capacity(expected.len());
                    let mut unpacked = unpack.query([json])?;
                    while let Some(t) = unpacked.next()? {
                        found.push((t.get(0)?, t.get(1)?, t.get(2)?, t.get(3)?, read_amount(t.get_ref(4)?)?));
                    }
                    found
                }
                _ => return Err(corrupt(format!("the transfers of batch {} are missing from the transfers table", batch.seq))),
            };
            if let Some(k) = (0..expected.len().max(found.len())).find(|&k| expected.get(k) != found.get(k)) {
                let id = expected.get(k).map_or("(none)", |e| e.1.as_str());
                return Err(corrupt(format!(
                    "transfers table differs from the journal at batch {}, transfer {id}: found {:?}",
                    batch.seq,
                    found.get(k)
                )));
            }
            report.transfers += expected.len() as u64;
        }
        report.batches += 1;
        report.commands += batch.commands.len() as u64;
        if batch.seq == accounts_at {
            check_accounts(conn, &ledger)?;
        }
        if let Some((seq, expected)) = &snapshot {
            if *seq == batch.seq && ledger.state_hash().as_slice() != expected.as_slice() {
                return Err(corrupt(format!("snapshot after batch {seq} differs from the replay of the journal")));
            }
        }
        Ok(())
    })?;
    if let Some(row) = rows.next()? {
        let id: String = row.get(1)?;
        return Err(corrupt(format!(
            "transfers table has transfer {id}, which the journal never committed"
        )));
    }
    drop(rows);
    if accounts_at > report.batches {
        return Err(corrupt(format!(
            "the accounts table claims batch {accounts_at}, the journal ends at {}",
            report.batches
        )));
    }
    check_pending(conn, &ledger)?;
    conn.execute_batch("COMMIT")?;
    report.accounts = ledger.accounts().len() as u64;
    report.snapshot_seq = snapshot.map_or(0, |(seq, _)| seq);
    report.state_hash = hex(&ledger.state_hash());
    Ok(report)
}

fn check_accounts(conn: &rusqlite::Connection, ledger: &Ledger) -> Result<(), JournalError> {
    let mut stmt = conn.prepare(
        "SELECT seq, id, status, debits_posted, credits_posted, debits_pending, credits_pending FROM accounts ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let accounts = ledger.accounts();
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let id: String = row.get(1)?;
        let Some(account) = usize::try_from(seq - 1).ok().and_then(|i| accounts.get(i)) else {
            return Err(corrupt(format!(
                "accounts table has account {id}, which the journal never opened"
            )));
        };
        let found = (
            id,
            row.get::<_, String>(2)?,
            read_amount(row.get_ref(3)?)?,
            read_amount(row.get_ref(4)?)?,
            read_amount(row.get_ref(5)?)?,
            read_amount(row.get_ref(6)?)?,
        );
        let expected = (
            account.id.to_string(),
            account.status.as_str().to_owned(),
            account.debits_posted,
            account.credits_posted,
            account.debits_pending,
            account.credits_pending,
        );
        if found != expected {
            return Err(corrupt(format!("accounts table row for account {} differs from the replay: {found:?}, expected {expected:?}", account.id)));
        }
        count += 1;
    }
    if count != accounts.len() {
        return Err(corrupt(format!(
            "accounts table has {count} accounts, the journal opened {}",
            accounts.len()
        )));
    }
    Ok(())
}

fn check_pending(conn: &rusqlite::Connection, ledger: &Ledger) -> Result<(), JournalError> {
    let mut stmt = conn.prepare("SELECT id, status FROM pending_transfers")?;
    let mut rows = stmt.query([])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let status: String = row.get(1)?;
        let expected = id
            .parse::<u128>()
            .ok()
            .and_then(|id| ledger.pending_status(id))
            .map(pending_status_name);
        if expected != Some(status.as_str()) {
            return Err(corrupt(format!(
                "pending_transfers says {id} is {status}, the replay says {}",
                expected.unwrap_or("not pending")
            )));
        }
        count += 1;
    }
    if count != ledger.pending_count() {
        return Err(corrupt(format!(
            "pending_transfers has {count} rows, the journal has {} pending transfers",
            ledger.pending_count()
        )));
    }
    Ok(())
}

fn read_amount(value: ValueRef<'_>) -> Result<u128, JournalError> {
    match value {
        ValueRef::Integer(v) => {
            u128::try_from(v).map_err(|_| corrupt(format!("negative amount {v} in a query table")))
        }
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| corrupt("unreadable amount in a query table".to_string())),
        _ => Err(corrupt(
            "an amount in a query table is neither integer nor text".to_string(),
        )),
    }
}

fn corrupt(message: String) -> JournalError {
    JournalError::Corrupt(message)
}

trait FinalizeHash {
    fn finalize_hash(self) -> Vec<u8>;
}

impl FinalizeHash for sha2::Sha256 {
    fn finalize_hash(self) -> Vec<u8> {
        use sha2::Digest;
        self.finalize().to_vec()
    }
}
