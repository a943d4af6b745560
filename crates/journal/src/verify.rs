//! `suanpan verify`: proves that no committed history was altered and that the books are what
//! the history says. Checks the hash chain, replays the whole journal from the beginning
//! through the ledger, compares the replay with the newest snapshot and with the query tables.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::OptionalExtension;
use suanpan_ledger::{hex, Command, Ledger, PendingStatus, ResultCode};

use crate::rows::{resolutions, transfers_json};
use crate::sqlite::{accounts_seq, open_read_only, replay_mismatch, SnapshotReader};
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
        .optional()?;
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
    let mut unpack = conn.prepare("SELECT value ->> 1, value FROM json_each(?1) ORDER BY key")?;
    let mut results = Vec::new();
    // Post or void transfer of each pending transfer, as the replay commits them.
    let mut resolved_by: HashMap<u128, u128> = HashMap::new();
    // The accounts table is current to `accounts_seq`: compare it when the replay gets there.
    let accounts_at = accounts_seq(&journal)?;
    if accounts_at == 0 {
        check_accounts(conn, &ledger)?;
    }
    journal.for_each_batch_after(0, |batch| {
        if batch.accounting_date != ledger.accounting_date() {
            return Err(corrupt(format!(
                "batch {} records accounting date {}, the replay is at {}",
                batch.seq,
                batch.accounting_date,
                ledger.accounting_date()
            )));
        }
        results.clear();
        crate::apply_batch(&mut ledger, &batch.segments, &batch.commands, &mut results);
        if results != batch.results {
            return Err(replay_mismatch(batch.seq, &results, &batch.results));
        }
        // The transfers row of the batch must be exactly what the replay produces: every
        // column of every transfer.
        let resolved = resolutions(&ledger, &batch.commands, &results);
        for (stamped, result) in batch.commands.iter().zip(&results) {
            if let (Command::CreateTransfer(t), ResultCode::Ok) = (&stamped.command, result) {
                if t.flags.resolves_pending() {
                    resolved_by.insert(t.pending_id, t.id);
                }
            }
        }
        let expected = transfers_json(batch.accounting_date, &batch.commands, &results, &resolved);
        if !expected.is_empty() {
            let stored: String = match rows.next()? {
                Some(row) if row.get::<_, u64>(0)? == batch.seq => row.get(1)?,
                _ => {
                    return Err(corrupt(format!(
                        "the transfers of batch {} are missing from the transfers table",
                        batch.seq
                    )))
                }
            };
            if stored != expected {
                return Err(corrupt(first_difference(
                    &mut unpack,
                    batch.seq,
                    &stored,
                    &expected,
                )?));
            }
            report.transfers += unpack.query([&expected])?.mapped(|_| Ok(())).count() as u64;
        }
        report.batches += 1;
        report.commands += batch.commands.len() as u64;
        if batch.seq == accounts_at {
            check_accounts(conn, &ledger)?;
        }
        if let Some((seq, expected)) = &snapshot {
            if *seq == batch.seq && ledger.state_hash().as_slice() != expected.as_slice() {
                return Err(corrupt(format!(
                    "snapshot after batch {seq} differs from the replay of the journal"
                )));
            }
        }
        Ok(())
    })?;
    if let Some(row) = rows.next()? {
        let batch: u64 = row.get(0)?;
        return Err(corrupt(format!(
            "transfers table has transfers of batch {batch}, which the journal never committed"
        )));
    }
    drop(rows);
    if let Some((seq, _)) = &snapshot {
        if *seq > report.batches {
            return Err(corrupt(format!(
                "the newest snapshot is after batch {seq}, the journal ends at {}",
                report.batches
            )));
        }
    }
    if accounts_at > report.batches {
        return Err(corrupt(format!(
            "the accounts table claims batch {accounts_at}, the journal ends at {}",
            report.batches
        )));
    }
    check_pending(conn, &ledger, &resolved_by)?;
    conn.execute_batch("COMMIT")?;
    report.accounts = ledger.accounts().len() as u64;
    report.snapshot_seq = snapshot.map_or(0, |(seq, _)| seq);
    report.state_hash = hex(&ledger.state_hash());
    Ok(report)
}

/// Names the first transfer whose stored row differs from the replay's.
fn first_difference(
    unpack: &mut rusqlite::Statement<'_>,
    seq: u64,
    stored: &str,
    expected: &str,
) -> Result<String, JournalError> {
    let mut elements = |json: &str| -> Result<Vec<(String, String)>, JournalError> {
        let rows = unpack.query_map([json], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let (stored, expected) = (elements(stored).unwrap_or_default(), elements(expected)?);
    let k = (0..stored.len().max(expected.len()))
        .find(|&k| stored.get(k) != expected.get(k))
        .unwrap_or(0);
    Ok(match (stored.get(k), expected.get(k)) {
        (Some(found), Some(wanted)) => format!(
            "transfers table, batch {seq}: transfer {} is {} but the journal says {}",
            wanted.0, found.1, wanted.1
        ),
        (None, Some(wanted)) => format!(
            "transfers table, batch {seq}: transfer {} is missing",
            wanted.0
        ),
        (Some(found), None) => format!(
            "transfers table, batch {seq}: transfer {} was never committed",
            found.0
        ),
        (None, None) => {
            format!("transfers table, batch {seq}: the row is not the JSON the journal gives")
        }
    })
}

fn check_accounts(conn: &rusqlite::Connection, ledger: &Ledger) -> Result<(), JournalError> {
    let mut stmt = conn.prepare(
        "SELECT seq, id, currency, subject_code, owner, tier, bound_account, flags, status,
                debits_posted, credits_posted, debits_pending, credits_pending, timestamp
         FROM accounts ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let accounts = ledger.accounts();
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let id: String = row.get(1)?;
        let Some(a) = usize::try_from(seq - 1).ok().and_then(|i| accounts.get(i)) else {
            return Err(corrupt(format!(
                "accounts table has account {id}, which the journal never opened"
            )));
        };
        let found = (
            (
                id,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
            ),
            (
                row.get::<_, Option<String>>(6)?,
                row.get::<_, i64>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, i64>(13)?,
            ),
            (
                read_amount(row.get_ref(9)?)?,
                read_amount(row.get_ref(10)?)?,
                read_amount(row.get_ref(11)?)?,
                read_amount(row.get_ref(12)?)?,
            ),
        );
        let expected = (
            (
                a.id.to_string(),
                a.currency.as_str().to_owned(),
                a.subject.as_str().to_owned(),
                a.owner as i64,
                a.tier.as_str().to_owned(),
            ),
            (
                (a.bound_account != 0).then(|| a.bound_account.to_string()),
                i64::from(a.flags.0),
                a.status.as_str().to_owned(),
                a.timestamp as i64,
            ),
            (
                a.debits_posted,
                a.credits_posted,
                a.debits_pending,
                a.credits_pending,
            ),
        );
        if found != expected {
            return Err(corrupt(format!(
                "accounts table row for account {} differs from the replay: {found:?}, expected {expected:?}",
                a.id
            )));
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

fn check_pending(
    conn: &rusqlite::Connection,
    ledger: &Ledger,
    resolved_by: &HashMap<u128, u128>,
) -> Result<(), JournalError> {
    let mut stmt =
        conn.prepare("SELECT id, status, expires_at, resolved_by FROM pending_transfers")?;
    let mut rows = stmt.query([])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let id_text: String = row.get(0)?;
        let Some(id) = id_text
            .parse::<u128>()
            .ok()
            .filter(|&id| ledger.pending_status(id).is_some())
        else {
            return Err(corrupt(format!(
                "pending_transfers has {id_text}, which the journal never made pending"
            )));
        };
        let found = (
            row.get::<_, String>(1)?,
            row.get::<_, Option<i64>>(2)?,
            row.get::<_, Option<String>>(3)?,
        );
        let expected = (
            ledger
                .pending_status(id)
                .map_or("", PendingStatus::as_str)
                .to_owned(),
            ledger.pending_expires_at(id).map(|at| at as i64),
            resolved_by.get(&id).map(|r| r.to_string()),
        );
        if found != expected {
            return Err(corrupt(format!(
                "pending_transfers row for {id} differs from the replay: {found:?}, expected {expected:?}"
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
