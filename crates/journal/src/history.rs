//! The history index (`history.db`): every committed transfer by id, and every account's
//! transfers in order with its posted totals after each, for reads that the journal's
//! per-batch rows cannot answer quickly (a transfer by id, an account's statement, a balance
//! at a past instant).
//!
//! It is a projection of the journal, built behind it by one indexer thread from the
//! `transfers_by_batch` rows, never in the commit path: a transfer costs the committer
//! nothing more. `meta.indexed_seq` moves in the same transaction as the rows, so after a
//! crash indexing resumes where it stopped; the file can be deleted at any time and is
//! rebuilt from the journal. Hence `synchronous=OFF`: the index never fsyncs, so it never
//! makes the journal's fsyncs wait behind its own (that alone tripled the p99 of a commit).
//! A process crash loses nothing SQLite has written; an operating-system crash or power loss
//! may damage the file, so after any unclean stop it is checked, and rebuilt if damaged.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hashbrown::HashMap;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Deserialize;
use suanpan_ledger::TransferFlags;

use crate::{read_connection, JournalError};

pub const HISTORY_FILE: &str = "history.db";
const READERS_MAX: usize = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value ANY  NOT NULL
) STRICT;
-- Ids and totals are 16-byte big-endian blobs (they are 128-bit, and sort as numbers);
-- amounts are the u64's bits as an integer.
CREATE TABLE IF NOT EXISTS transfers (
    id              BLOB    PRIMARY KEY,
    timestamp       INTEGER NOT NULL,
    batch           INTEGER NOT NULL,
    debit_account   BLOB    NOT NULL,
    credit_account  BLOB    NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    code            INTEGER NOT NULL,
    flags           INTEGER NOT NULL,
    pending_id      BLOB,
    timeout_ms      INTEGER NOT NULL,
    reference       TEXT,
    accounting_date TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
-- One row per account per transfer touching it, with the account's posted totals after it.
CREATE TABLE IF NOT EXISTS postings (
    account       BLOB    NOT NULL,
    timestamp     INTEGER NOT NULL,
    transfer      BLOB    NOT NULL,
    debits_after  BLOB    NOT NULL,
    credits_after BLOB    NOT NULL,
    PRIMARY KEY (account, timestamp)
) STRICT, WITHOUT ROWID;
";

/// A committed transfer as the index holds it (post and void with their resolved accounts
/// and amount).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRow {
    pub id: u128,
    pub timestamp: u64,
    pub batch: u64,
    pub debit_account_id: u128,
    pub credit_account_id: u128,
    pub amount: u64,
    pub currency: String,
    pub code: u16,
    pub flags: u16,
    pub pending_id: u128,
    pub timeout_ms: u64,
    pub reference: String,
    pub accounting_date: String,
}

/// An account's posted totals just after a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostedAt {
    pub transfer_id: u128,
    pub timestamp: u64,
    pub debits_posted: u128,
    pub credits_posted: u128,
}

fn history_path(dir: &Path) -> PathBuf {
    dir.join(HISTORY_FILE)
}

fn blob(v: u128) -> [u8; 16] {
    v.to_be_bytes()
}

fn from_blob(b: &[u8]) -> u128 {
    let mut a = [0u8; 16];
    if b.len() == 16 {
        a.copy_from_slice(b);
    }
    u128::from_be_bytes(a)
}

/// The writing side, owned by the indexer thread.
pub struct HistoryWriter {
    conn: Connection,
    journal: RowsSource,
    indexed_seq: u64,
    /// Posted totals of the accounts seen so far (a miss reads the account's last posting).
    totals: HashMap<u128, (u128, u128)>,
}

/// Where the indexer reads the journal's transfer rows.
enum RowsSource {
    /// The journal's file, and its data directory (where archived periods' files are).
    Sqlite(Connection, std::path::PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(std::sync::Arc<crate::PgDb>),
}

impl RowsSource {
    /// The committed transfers of batches in (after, through], at most `max` batches.
    fn rows(
        &self,
        after: u64,
        through: u64,
        max: u32,
    ) -> Result<Vec<(u64, Vec<TransferRow>)>, JournalError> {
        match self {
            RowsSource::Sqlite(main, dir) => {
                // Batches of an archived period are read from its file, a period at a time.
                let period = crate::period::period_holding(dir, main, after + 1)?;
                let journal = period.as_ref().unwrap_or(main);
                let mut stmt = journal.prepare_cached(
                    "SELECT seq, accounting_date, body, results FROM batches
                     WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                )?;
                let mut json = journal
                    .prepare_cached("SELECT rows FROM transfers_by_batch WHERE batch = ?1")?;
                let mut out = Vec::new();
                let mut rows = stmt.query(params![after as i64, through as i64, max])?;
                while let Some(r) = rows.next()? {
                    let batch = r.get::<_, i64>(0)? as u64;
                    let date = r.get_ref(1)?.as_str()?;
                    let body = r.get_ref(2)?.as_blob()?;
                    let results = r.get_ref(3)?.as_blob()?;
                    let transfers = match rows_of_body(batch, date, body, results)? {
                        Some(transfers) => transfers,
                        None => {
                            let text: Option<String> =
                                json.query_row([batch as i64], |r| r.get(0)).optional()?;
                            rows_of_json(batch, text.as_deref().unwrap_or("[]"))?
                        }
                    };
                    out.push((batch, transfers));
                }
                Ok(out)
            }
            #[cfg(feature = "postgres")]
            RowsSource::Postgres(db) => crate::postgres::transfer_rows(db, after, through, max),
        }
    }
}

/// The committed transfers of a second-form batch body (see layout.rs), as the `transfers`
/// view shows them; `None` for a first-form body, whose transfers are in `transfers_by_batch`.
pub(crate) fn rows_of_body(
    batch: u64,
    date: &str,
    body: &[u8],
    results: &[u8],
) -> Result<Option<Vec<TransferRow>>, JournalError> {
    if !crate::layout::is_second_form(body) {
        return Ok(None);
    }
    let decoded = crate::layout::decode(body).map_err(|e| corrupt(batch, &e))?;
    let mut rows = Vec::with_capacity(decoded.records.len());
    for r in decoded.records {
        if results.get(r.command as usize) != Some(&0) {
            continue;
        }
        let t = r.transfer;
        let (debit, credit, amount) =
            r.resolved
                .unwrap_or((t.debit_account_id, t.credit_account_id, t.amount));
        let accounting_date = match r.date {
            0 => date.to_string(),
            k => decoded.dates[usize::from(k) - 1].to_string(),
        };
        rows.push(TransferRow {
            id: t.id,
            timestamp: r.timestamp,
            batch,
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            currency: t.currency.as_str().to_string(),
            code: t.code,
            flags: t.flags.0,
            pending_id: t.pending_id,
            timeout_ms: t.timeout_ms,
            reference: reference_text(t.reference.as_bytes()),
            accounting_date,
        });
    }
    Ok(Some(rows))
}

/// A reference as the books show it: its text, or `hex:` and its bytes if it is not UTF-8.
pub(crate) fn reference_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => {
            let mut out = String::from("hex:");
            for b in bytes {
                out.push_str(&format!("{b:02x}"));
            }
            out
        }
    }
}

/// The transfers of a first-form batch's `transfers_by_batch` row.
pub(crate) fn rows_of_json(batch: u64, json: &str) -> Result<Vec<TransferRow>, JournalError> {
    let transfers: Vec<JsonTransfer> =
        serde_json::from_str(json).map_err(|e| corrupt(batch, &e.to_string()))?;
    let mut rows = Vec::with_capacity(transfers.len());
    for t in transfers {
        rows.push(TransferRow {
            id: id_of(batch, &t.1)?,
            timestamp: t.0,
            batch,
            debit_account_id: id_of(batch, &t.2)?,
            credit_account_id: id_of(batch, &t.3)?,
            amount: match t.4 {
                JsonAmount::Number(n) => n,
                JsonAmount::Text(s) => s.parse().map_err(|_| corrupt(batch, "an amount"))?,
            },
            currency: t.5,
            code: t.6,
            flags: t.7,
            pending_id: match t.8 {
                Some(p) => id_of(batch, &p)?,
                None => 0,
            },
            timeout_ms: t.9,
            reference: t.10.unwrap_or_default(),
            accounting_date: t.11,
        });
    }
    Ok(rows)
}

/// One element of a `transfers_by_batch` row (see rows.rs).
#[derive(Deserialize)]
struct JsonTransfer(
    u64,
    String,
    String,
    String,
    JsonAmount,
    String,
    u16,
    u16,
    Option<String>,
    u64,
    Option<String>,
    String,
);

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonAmount {
    Number(u64),
    Text(String),
}

fn corrupt(batch: u64, what: &str) -> JournalError {
    JournalError::Corrupt(format!("transfers row of batch {batch}: {what}"))
}

fn id_of(batch: u64, text: &str) -> Result<u128, JournalError> {
    text.parse()
        .map_err(|_| corrupt(batch, "an id is not decimal"))
}

impl HistoryWriter {
    /// Opens (or creates) the index. `check`: the last stop was unclean, so verify the file
    /// first and start it afresh if it is damaged.
    pub fn open(dir: &Path, check: bool) -> Result<HistoryWriter, JournalError> {
        HistoryWriter::open_at(
            dir,
            check,
            &crate::JournalLocation::Sqlite(dir.to_path_buf()),
        )
    }

    /// Opens (or creates) the index in `dir` for the journal at `journal`.
    pub fn open_at(
        dir: &Path,
        check: bool,
        journal: &crate::JournalLocation,
    ) -> Result<HistoryWriter, JournalError> {
        let path = history_path(dir);
        if check && path.exists() && !intact(&path) {
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                if file.exists() {
                    std::fs::remove_file(&file).map_err(|e| {
                        JournalError::Io(format!("cannot remove {}: {e}", file.display()))
                    })?;
                }
            }
        }
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        conn.execute_batch(SCHEMA)?;
        let indexed_seq: i64 = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'indexed_seq'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let journal = match journal {
            crate::JournalLocation::Sqlite(journal_dir) => {
                let journal = read_connection(journal_dir)?;
                journal.busy_timeout(Duration::from_secs(5))?;
                RowsSource::Sqlite(journal, journal_dir.clone())
            }
            #[cfg(feature = "postgres")]
            crate::JournalLocation::Postgres(db) => RowsSource::Postgres(db.clone()),
        };
        Ok(HistoryWriter {
            conn,
            journal,
            indexed_seq: indexed_seq as u64,
            totals: HashMap::new(),
        })
    }

    pub fn indexed_seq(&self) -> u64 {
        self.indexed_seq
    }

    /// Indexes the committed batches after `indexed_seq` up to `through` (a batch the caller
    /// knows is committed), at most `batches_max` batches' worth of rows per transaction.
    /// Returns the new `indexed_seq`.
    pub fn index_through(&mut self, through: u64, batches_max: u32) -> Result<u64, JournalError> {
        if through <= self.indexed_seq {
            return Ok(self.indexed_seq);
        }
        let rows = self.journal.rows(self.indexed_seq, through, batches_max)?;
        // With a full page, stop at its last batch; otherwise everything up to `through` is in.
        let done_through = match rows.last() {
            Some((batch, _)) if rows.len() as u32 == batches_max => *batch,
            _ => through,
        };
        let tx = self.conn.transaction()?;
        {
            let mut insert_transfer = tx.prepare_cached(
                "INSERT OR IGNORE INTO transfers (id, timestamp, batch, debit_account,
                 credit_account, amount, currency, code, flags, pending_id, timeout_ms,
                 reference, accounting_date)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let mut insert_posting = tx.prepare_cached(
                "INSERT OR IGNORE INTO postings (account, timestamp, transfer, debits_after,
                 credits_after) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut last_posting = tx.prepare_cached(
                "SELECT debits_after, credits_after FROM postings WHERE account = ?1
                 ORDER BY timestamp DESC LIMIT 1",
            )?;
            for (batch, transfers) in rows {
                for row in transfers {
                    insert_transfer.execute(params![
                        &blob(row.id)[..],
                        row.timestamp as i64,
                        batch as i64,
                        &blob(row.debit_account_id)[..],
                        &blob(row.credit_account_id)[..],
                        row.amount as i64,
                        row.currency,
                        row.code,
                        row.flags,
                        (row.pending_id != 0).then(|| blob(row.pending_id).to_vec()),
                        row.timeout_ms as i64,
                        (!row.reference.is_empty()).then_some(&row.reference),
                        row.accounting_date,
                    ])?;
                    let flags = TransferFlags(row.flags);
                    let posted = if flags.pending() || flags.void_pending() {
                        0
                    } else {
                        u128::from(row.amount)
                    };
                    for (account, is_debit) in
                        [(row.debit_account_id, true), (row.credit_account_id, false)]
                    {
                        let totals = match self.totals.get_mut(&account) {
                            Some(t) => t,
                            None => {
                                let found = last_posting
                                    .query_row([&blob(account)[..]], |r| {
                                        Ok((
                                            from_blob(&r.get::<_, Vec<u8>>(0)?),
                                            from_blob(&r.get::<_, Vec<u8>>(1)?),
                                        ))
                                    })
                                    .optional()?
                                    .unwrap_or((0, 0));
                                self.totals.entry(account).or_insert(found)
                            }
                        };
                        if is_debit {
                            totals.0 += posted;
                        } else {
                            totals.1 += posted;
                        }
                        insert_posting.execute(params![
                            &blob(account)[..],
                            row.timestamp as i64,
                            &blob(row.id)[..],
                            &blob(totals.0)[..],
                            &blob(totals.1)[..],
                        ])?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('indexed_seq', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [done_through as i64],
            )?;
        }
        tx.commit()?;
        self.indexed_seq = done_through;
        Ok(done_through)
    }
}

/// Whether SQLite finds the file sound (any error opening or checking it counts as damage).
fn intact(path: &Path) -> bool {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .and_then(|c| c.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)))
        .is_ok_and(|verdict| verdict == "ok")
}

/// The reading side: a small pool of read-only connections, shared by request handlers.
pub struct HistoryReader {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

fn transfer_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TransferRow> {
    Ok(TransferRow {
        id: from_blob(&r.get::<_, Vec<u8>>(0)?),
        timestamp: r.get::<_, i64>(1)? as u64,
        batch: r.get::<_, i64>(2)? as u64,
        debit_account_id: from_blob(&r.get::<_, Vec<u8>>(3)?),
        credit_account_id: from_blob(&r.get::<_, Vec<u8>>(4)?),
        amount: r.get::<_, i64>(5)? as u64,
        currency: r.get(6)?,
        code: r.get(7)?,
        flags: r.get(8)?,
        pending_id: r
            .get::<_, Option<Vec<u8>>>(9)?
            .map(|b| from_blob(&b))
            .unwrap_or(0),
        timeout_ms: r.get::<_, i64>(10)? as u64,
        reference: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
        accounting_date: r.get(12)?,
    })
}

const TRANSFER_COLUMNS: &str = "t.id, t.timestamp, t.batch, t.debit_account, t.credit_account,
    t.amount, t.currency, t.code, t.flags, t.pending_id, t.timeout_ms, t.reference,
    t.accounting_date";

impl HistoryReader {
    /// The index must have been created (by [`HistoryWriter::open`]) first.
    pub fn open(dir: &Path) -> HistoryReader {
        HistoryReader {
            path: history_path(dir),
            pool: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(Duration::from_secs(5))?;
                c
            }
        };
        let result = f(&conn);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READERS_MAX {
            pool.push(conn);
        }
        Ok(result?)
    }

    pub fn indexed_seq(&self) -> Result<u64, JournalError> {
        self.with(|c| {
            c.query_row(
                "SELECT value FROM meta WHERE key = 'indexed_seq'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
        })
    }

    pub fn transfer(&self, id: u128) -> Result<Option<TransferRow>, JournalError> {
        self.with(|c| {
            c.prepare_cached(&format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers t WHERE t.id = ?1"
            ))?
            .query_row([&blob(id)[..]], transfer_row)
            .optional()
        })
    }

    /// An account's transfers with `after < timestamp`, `from <= timestamp < to`, oldest
    /// first, at most `limit`.
    pub fn account_transfers(
        &self,
        account: u128,
        after: u64,
        from: u64,
        to: u64,
        limit: u32,
    ) -> Result<Vec<TransferRow>, JournalError> {
        let low = after.saturating_add(1).max(from);
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TRANSFER_COLUMNS} FROM postings p JOIN transfers t ON t.id = p.transfer
                 WHERE p.account = ?1 AND p.timestamp >= ?2 AND p.timestamp < ?3
                 ORDER BY p.timestamp LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![
                    &blob(account)[..],
                    low as i64,
                    to.min(i64::MAX as u64) as i64,
                    limit
                ],
                transfer_row,
            )?;
            rows.collect()
        })
    }

    /// The account's posted totals at `at` (after every transfer stamped at or before it);
    /// `None` if no transfer had touched it by then.
    pub fn posted_at(&self, account: u128, at: u64) -> Result<Option<PostedAt>, JournalError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT transfer, timestamp, debits_after, credits_after FROM postings
                 WHERE account = ?1 AND timestamp <= ?2 ORDER BY timestamp DESC LIMIT 1",
            )?
            .query_row(
                params![&blob(account)[..], at.min(i64::MAX as u64) as i64],
                |r| {
                    Ok(PostedAt {
                        transfer_id: from_blob(&r.get::<_, Vec<u8>>(0)?),
                        timestamp: r.get::<_, i64>(1)? as u64,
                        debits_posted: from_blob(&r.get::<_, Vec<u8>>(2)?),
                        credits_posted: from_blob(&r.get::<_, Vec<u8>>(3)?),
                    })
                },
            )
            .optional()
        })
    }
}
