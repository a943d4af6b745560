//! `suanpan verify`: proves that no committed history was altered and that the books are what
//! the history says. Checks the hash chain, replays the whole journal from the beginning
//! through the ledger, compares the replay with the newest snapshot and with the query tables.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::OptionalExtension;
use suanpan_ledger::{hex, Command, Ledger, PendingStatus, ResultCode};

use crate::anchor::{Anchor, Head};
use crate::batch::SnapshotChunks;
use crate::batch::{replay_mismatch, StoredBatch};
use crate::rows::{resolutions, transfers_json};
use crate::sqlite::{accounts_seq, open_read_only, snapshot_chunk};
use crate::JournalError;

pub struct VerifyReport {
    pub batches: u64,
    pub commands: u64,
    pub transfers: u64,
    pub accounts: u64,
    pub snapshot_seq: u64,
    pub state_hash: String,
    /// Where the anchors the journal was checked against came from (see `anchor.rs`).
    pub anchors: Vec<String>,
    /// The last batch verified, as `SEQ:HASH`: an anchor a user can keep for a later
    /// `verify --anchor`.
    pub head: String,
    /// The archived periods whose files the chain ran through (period.rs), oldest first.
    pub periods: Vec<String>,
}

/// Verifies the journal wherever it lives, against its own anchor and `anchors` (heads a user
/// kept, from day-end reports).
pub fn verify_at(
    location: &crate::JournalLocation,
    anchors: &[Anchor],
) -> Result<VerifyReport, JournalError> {
    match location {
        crate::JournalLocation::Sqlite(dir) => verify(dir, anchors),
        #[cfg(feature = "postgres")]
        crate::JournalLocation::Postgres(db) => crate::postgres::verify_postgres(db, anchors),
    }
}

pub fn verify(dir: &Path, anchors: &[Anchor]) -> Result<VerifyReport, JournalError> {
    let journal = open_read_only(dir)?;
    let anchors: Vec<Anchor> = journal
        .anchor()?
        .into_iter()
        .chain(anchors.iter().cloned())
        .collect();
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
        let digest = SnapshotChunks::new(|n| snapshot_chunk(conn, *seq, n)).digest()?;
        check_snapshot_bytes(*seq, &digest, expected)?;
    }
    let retention = match &snapshot {
        Some((seq, _)) => {
            snapshot_chunk(conn, *seq, 0)?.and_then(|bytes| Ledger::snapshot_retention(&bytes))
        }
        None => None,
    };
    let mut checker = Checker::new(journal.limits(), snapshot, accounts_seq(&journal)?, anchors);
    checker.snapshot_retention = retention;
    // Batches holding transfers, in order.
    let mut batch_rows =
        conn.prepare("SELECT batch, rows FROM transfers_by_batch ORDER BY batch")?;
    let mut rows = batch_rows.query([])?;
    if checker.accounts_due(0) {
        checker.check_accounts(&sqlite_accounts(conn)?)?;
    }
    journal.for_each_batch_after(0, |batch| {
        if let Some(expected) = checker.batch(&batch)? {
            let stored = match rows.next()? {
                Some(row) => Some((row.get::<_, u64>(0)?, row.get::<_, String>(1)?)),
                None => None,
            };
            checker.transfers(batch.seq, stored, &expected)?;
        }
        if checker.accounts_due(batch.seq) {
            checker.check_accounts(&sqlite_accounts(conn)?)?;
        }
        Ok(())
    })?;
    let extra = match rows.next()? {
        Some(row) => Some(row.get::<_, u64>(0)?),
        None => None,
    };
    drop(rows);
    checker.no_more_transfers(extra)?;
    let pending = sqlite_pending(conn)?;
    let mut report = checker.finish(&pending)?;
    conn.execute_batch("COMMIT")?;
    report.periods = journal.periods().iter().map(|p| p.name.clone()).collect();
    Ok(report)
}

pub(crate) fn check_snapshot_bytes(
    seq: u64,
    digest: &[u8],
    expected: &[u8],
) -> Result<(), JournalError> {
    if digest != expected {
        return Err(corrupt(format!(
            "snapshot after batch {seq}: its bytes do not match its recorded hash"
        )));
    }
    Ok(())
}

/// An accounts-table row as both backends read it: (seq, identity, attributes, amounts).
pub(crate) type AccountRow = (
    i64,
    (String, String, String, i64, String),
    (Option<String>, i64, String, i64),
    (u128, u128, u128, u128),
);

/// A pending_transfers row: id, status, expires_at, resolved_by.
pub(crate) type PendingRow = (String, String, Option<i64>, Option<String>);

/// The replay and every comparison, fed by a backend's reader in journal order.
pub(crate) struct Checker {
    ledger: Ledger,
    results: Vec<ResultCode>,
    anchors: Vec<Anchor>,
    /// The replayed hash of each anchor's batch, once the replay passes it.
    anchored: HashMap<u64, [u8; 32]>,
    /// Post or void transfer of each pending transfer, as the replay commits them.
    resolved_by: HashMap<u128, u128>,
    snapshot: Option<(u64, Vec<u8>)>,
    /// The window and filter size the snapshot was taken with (its first bytes say).
    pub(crate) snapshot_retention: Option<(usize, usize)>,
    /// The accounts table is current to this batch: compared when the replay gets there.
    accounts_at: u64,
    report: VerifyReport,
}

impl Checker {
    pub(crate) fn new(
        limits: suanpan_ledger::TierLimits,
        snapshot: Option<(u64, Vec<u8>)>,
        accounts_at: u64,
        anchors: Vec<Anchor>,
    ) -> Checker {
        Checker {
            ledger: Ledger::new(limits),
            results: Vec::new(),
            anchored: HashMap::new(),
            resolved_by: HashMap::new(),
            snapshot,
            snapshot_retention: None,
            accounts_at,
            report: VerifyReport {
                batches: 0,
                commands: 0,
                transfers: 0,
                accounts: 0,
                snapshot_seq: 0,
                state_hash: String::new(),
                anchors: anchors.iter().map(|a| a.source.clone()).collect(),
                head: Head {
                    seq: 0,
                    hash: crate::GENESIS_HASH,
                }
                .to_text(),
                periods: Vec::new(),
            },
            anchors,
        }
    }

    pub(crate) fn accounts_due(&self, seq: u64) -> bool {
        self.accounts_at == seq
    }

    /// Replays one batch; returns the transfers row it must have stored, if any.
    pub(crate) fn batch(&mut self, batch: &StoredBatch) -> Result<Option<String>, JournalError> {
        let ledger = &mut self.ledger;
        if batch.accounting_date != ledger.accounting_date() {
            return Err(corrupt(format!(
                "batch {} records accounting date {}, the replay is at {}",
                batch.seq,
                batch.accounting_date,
                ledger.accounting_date()
            )));
        }
        self.results.clear();
        // The whole history stays in memory (`Ledger::new`): verify depends on nothing but
        // the journal itself.
        crate::apply_batch(
            ledger,
            &batch.segments,
            &batch.commands,
            &mut self.results,
            None,
        )?;
        if self.results != batch.results {
            return Err(replay_mismatch(batch.seq, &self.results, &batch.results));
        }
        let resolved = resolutions(ledger, &batch.commands, &self.results);
        for (stamped, result) in batch.commands.iter().zip(&self.results) {
            if let (Command::CreateTransfer(t), ResultCode::Ok) = (&stamped.command, result) {
                if t.flags.resolves_pending() {
                    self.resolved_by.insert(t.pending_id, t.id);
                }
            }
        }
        self.report.batches += 1;
        self.report.commands += batch.commands.len() as u64;
        self.report.head = Head {
            seq: batch.seq,
            hash: batch.hash,
        }
        .to_text();
        if self.anchors.iter().any(|a| a.head.seq == batch.seq) {
            self.anchored.insert(batch.seq, batch.hash);
        }
        if let Some((seq, expected)) = self.snapshot.as_ref().filter(|(seq, _)| *seq == batch.seq) {
            // The replay keeps every transfer in memory; the snapshot only its window: compare
            // it with the replay seen through that window.
            let replayed = match self.snapshot_retention {
                Some((window, filter_bytes)) => ledger.state_hash_as(window, filter_bytes),
                None => Some(ledger.state_hash()),
            };
            if replayed.is_none_or(|h| h.as_slice() != expected.as_slice()) {
                return Err(corrupt(format!(
                    "snapshot after batch {seq} differs from the replay of the journal"
                )));
            }
        }
        if batch.second_form {
            // The transfers are in the body the hash covers, with what the view shows beside
            // them (dates, resolved posts and voids): encoding the replay must give the same
            // bytes, hence the same hash.
            let mut body = Vec::new();
            crate::layout::encode(
                &batch.segments,
                &batch.commands,
                &self.results,
                &resolved,
                &mut body,
            );
            let results = crate::record::encode_results(&self.results);
            let hash = crate::record::chain_hash(
                &batch.prev_hash,
                batch.seq,
                batch.accounting_date,
                &body,
                &results,
            );
            if hash != batch.hash {
                return Err(corrupt(format!(
                    "batch {}: its transfer records differ from the replay of its commands",
                    batch.seq
                )));
            }
            self.report.transfers += batch
                .commands
                .iter()
                .zip(&self.results)
                .filter(|(c, r)| {
                    matches!(c.command, Command::CreateTransfer(_)) && **r == ResultCode::Ok
                })
                .count() as u64;
            return Ok(None);
        }
        let expected = transfers_json(
            batch.accounting_date,
            &batch.commands,
            &self.results,
            &resolved,
        );
        Ok((!expected.is_empty()).then_some(expected))
    }

    /// The transfers row of a batch must be exactly what the replay produces: every column of
    /// every transfer.
    pub(crate) fn transfers(
        &mut self,
        seq: u64,
        stored: Option<(u64, String)>,
        expected: &str,
    ) -> Result<(), JournalError> {
        let stored = match stored {
            Some((batch, rows)) if batch == seq => rows,
            _ => {
                return Err(corrupt(format!(
                    "the transfers of batch {seq} are missing from the transfers table"
                )))
            }
        };
        if stored != expected {
            return Err(corrupt(first_difference(seq, &stored, expected)?));
        }
        self.report.transfers += elements(expected)?.len() as u64;
        Ok(())
    }

    pub(crate) fn no_more_transfers(&self, extra: Option<u64>) -> Result<(), JournalError> {
        if let Some(batch) = extra {
            return Err(corrupt(format!(
                "transfers table has transfers of batch {batch}, which the journal never committed"
            )));
        }
        Ok(())
    }

    pub(crate) fn finish(mut self, pending: &[PendingRow]) -> Result<VerifyReport, JournalError> {
        for anchor in &self.anchors {
            crate::anchor::check(anchor, self.report.batches, |seq| {
                self.anchored
                    .get(&seq)
                    .copied()
                    .ok_or_else(|| corrupt(format!("batch {seq} was not seen by the replay")))
            })?;
        }
        if let Some((seq, _)) = &self.snapshot {
            if *seq > self.report.batches {
                return Err(corrupt(format!(
                    "the newest snapshot is after batch {seq}, the journal ends at {}",
                    self.report.batches
                )));
            }
        }
        if self.accounts_at > self.report.batches {
            return Err(corrupt(format!(
                "the accounts table claims batch {}, the journal ends at {}",
                self.accounts_at, self.report.batches
            )));
        }
        check_pending(pending, &self.ledger, &self.resolved_by)?;
        self.report.accounts = self.ledger.accounts().len() as u64;
        self.report.snapshot_seq = self.snapshot.as_ref().map_or(0, |(seq, _)| *seq);
        self.report.state_hash = hex(&self.ledger.state_hash());
        Ok(self.report)
    }

    pub(crate) fn check_accounts(&self, rows: &[AccountRow]) -> Result<(), JournalError> {
        let accounts = self.ledger.accounts();
        for (seq, identity, attributes, amounts) in rows {
            let Some(a) = usize::try_from(seq - 1).ok().and_then(|i| accounts.get(i)) else {
                return Err(corrupt(format!(
                    "accounts table has account {}, which the journal never opened",
                    identity.0
                )));
            };
            let found = (identity.clone(), attributes.clone(), *amounts);
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
        }
        if rows.len() != accounts.len() {
            return Err(corrupt(format!(
                "accounts table has {} accounts, the journal opened {}",
                rows.len(),
                accounts.len()
            )));
        }
        Ok(())
    }
}

/// A transfers row's elements: (id, the element's JSON).
fn elements(json: &str) -> Result<Vec<(String, String)>, JournalError> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| corrupt(format!("a transfers row is not JSON: {e}")))?;
    let serde_json::Value::Array(items) = value else {
        return Err(corrupt("a transfers row is not a JSON array".into()));
    };
    Ok(items
        .iter()
        .map(|item| {
            let id = item
                .get(1)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default();
            (id, item.to_string())
        })
        .collect())
}

/// Names the first transfer whose stored row differs from the replay's.
fn first_difference(seq: u64, stored: &str, expected: &str) -> Result<String, JournalError> {
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

fn sqlite_accounts(conn: &rusqlite::Connection) -> Result<Vec<AccountRow>, JournalError> {
    let mut stmt = conn.prepare(
        "SELECT seq, id, currency, subject_code, owner, tier, bound_account, flags, status,
                debits_posted, credits_posted, debits_pending, credits_pending, timestamp
         FROM accounts ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push((
            row.get::<_, i64>(0)?,
            (
                row.get::<_, String>(1)?,
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
        ));
    }
    Ok(out)
}

fn sqlite_pending(conn: &rusqlite::Connection) -> Result<Vec<PendingRow>, JournalError> {
    let mut stmt =
        conn.prepare("SELECT id, status, expires_at, resolved_by FROM pending_transfers")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn check_pending(
    rows: &[PendingRow],
    ledger: &Ledger,
    resolved_by: &HashMap<u128, u128>,
) -> Result<(), JournalError> {
    for (id_text, status, expires_at, resolved) in rows {
        let Some(id) = id_text
            .parse::<u128>()
            .ok()
            .filter(|&id| ledger.pending_status(id).is_some())
        else {
            return Err(corrupt(format!(
                "pending_transfers has {id_text}, which the journal never made pending"
            )));
        };
        let found = (status.clone(), *expires_at, resolved.clone());
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
    }
    if rows.len() != ledger.pending_count() {
        return Err(corrupt(format!(
            "pending_transfers has {} rows, the journal has {} pending transfers",
            rows.len(),
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

pub(crate) fn corrupt(message: String) -> JournalError {
    JournalError::Corrupt(message)
}
