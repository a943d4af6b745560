//! The journal on one SQLite file in the data directory (the embedded default).
//!
//! One SQLite transaction per group of batches, WAL with `synchronous=FULL`: when
//! [`SqliteJournal::commit`] returns, the batches are on disk and survive `kill -9` and power loss.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use suanpan_ledger::{Account, TierLimits};

use crate::anchor::{read_head_file, write_head_file, Anchor, Head};
use crate::batch::{
    AccountChanges, BatchRow, CommitBatch, Recovered, SnapshotChunks, SnapshotInfo, StoredBatch,
};
use crate::past::PastIndex;
use crate::period::Periods;
use crate::recall::{History, Recaller, Retention};
use crate::record::GENESIS_HASH;
use crate::rows::PendingRow;
use crate::schema::{BATCH_TABLES, CREATE, SCHEMA_VERSION};
use crate::JournalError;

pub const DB_FILE: &str = "suanpan.db";

pub struct SqliteJournal {
    /// Held while the journal is open for writing: one writer per data directory, ever.
    _lock: Option<std::fs::File>,
    dir: PathBuf,
    conn: Connection,
    limits: TierLimits,
    seq: u64,
    hash: [u8; 32],
    /// The batch the accounts table is current to (see [`SqliteJournal::commit`]).
    accounts_seq: u64,
    /// How long the last write of the accounts table took.
    accounts_write_took: Duration,
    /// The accounting periods moved out into files of their own.
    periods: Periods,
}

pub const LOCK_FILE: &str = "suanpan.lock";

/// Takes the data directory's lock, so that a second process cannot become a second writer.
/// The operating system releases it when the process ends, however it ends.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, JournalError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| JournalError::Io(format!("cannot open {}: {e}", path.display())))?;
    file.try_lock().map_err(|_| {
        JournalError::Io(format!(
            "{} is in use by another Suanpan process (it holds {LOCK_FILE})",
            dir.display()
        ))
    })?;
    Ok(file)
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

impl SqliteJournal {
    /// Opens the journal in `dir`, creating the directory and the file if needed. A new journal
    /// records `limits` as the tier limits it will apply for ever; an existing one keeps its own.
    pub fn open(dir: &Path, limits: TierLimits) -> Result<SqliteJournal, JournalError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| JournalError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let lock = lock_data_dir(dir)?;
        let path = db_path(dir);
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "page_size", 16_384)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // The checkpoint thread does the routine work; this is the safety valve (1 GiB).
        conn.pragma_update(None, "wal_autocheckpoint", 65_536)?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        // The version first: a file from a newer Suanpan is refused before anything is written.
        let has_meta: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
            [],
            |r| r.get(0),
        )?;
        let version: Option<i64> = if has_meta {
            conn.query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?
        } else {
            None
        };
        if let Some(v) = version.filter(|&v| v > SCHEMA_VERSION) {
            return Err(JournalError::NewerSchema(v));
        }
        conn.execute_batch(BATCH_TABLES)?;
        conn.execute_batch(CREATE)?;
        match version {
            None => {
                // One transaction: a crash in between must not leave a file that never opens.
                conn.execute_batch("BEGIN")?;
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )?;
                conn.execute(
                    "INSERT INTO meta VALUES ('tier_limits', ?1)",
                    [limits_to_text(&limits)],
                )?;
                conn.execute_batch(&crate::view::sqlite_transfers())?;
                conn.execute_batch("COMMIT")?;
            }
            Some(v) if v > SCHEMA_VERSION => return Err(JournalError::NewerSchema(v)),
            Some(v) if v < SCHEMA_VERSION => {
                // Version 1 read transfers from JSON rows only; its batches keep them there.
                // Version 2 had no `periods` table: CREATE above made it, empty.
                conn.execute_batch("BEGIN; DROP VIEW IF EXISTS transfers;")?;
                conn.execute_batch(&crate::view::sqlite_transfers())?;
                conn.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    [SCHEMA_VERSION],
                )?;
                conn.execute_batch("COMMIT")?;
            }
            Some(_) => {}
        }
        let limits = read_limits(&conn)?;
        let Head { seq, hash } = last_batch(&conn)?;
        let accounts_seq = read_accounts_seq(&conn)?;
        let periods = Periods::load(dir, &conn)?;
        Ok(SqliteJournal {
            _lock: Some(lock),
            dir: dir.to_path_buf(),
            conn,
            limits,
            seq,
            hash,
            accounts_seq,
            accounts_write_took: Duration::ZERO,
            periods,
        })
    }

    pub fn limits(&self) -> TierLimits {
        self.limits
    }

    /// The last committed batch.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Rebuilds the ledger: the newest complete snapshot, then every batch after it through
    /// the same `Ledger::apply`, checking that each gives the results the journal recorded.
    pub fn recover(
        &mut self,
        retention: Retention,
        index: Option<&mut PastIndex>,
    ) -> Result<Recovered, JournalError> {
        let snapshot: Option<(u64, u64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT seq, last_timestamp, state_hash FROM snapshots WHERE complete = 1 ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let from_snapshot = match snapshot {
            Some((seq, last_timestamp, expected)) => {
                let conn = &self.conn;
                SnapshotChunks::new(|n| snapshot_chunk(conn, seq, n))
                    .decode(seq, &expected)?
                    .map(|ledger| (ledger, seq, last_timestamp))
            }
            None => None,
        };
        let (ledger, snapshot_seq, snapshot_timestamp) =
            retention.starting_point(from_snapshot, self.limits);
        let snapshot_hash = self.hash_of(snapshot_seq)?;
        let this: &SqliteJournal = self;
        let mut recaller = Recaller::default();
        let history = index.map(|index| History {
            index,
            source: this,
            recaller: &mut recaller,
        });
        let recovered = Recovered::replay(
            ledger,
            snapshot_seq,
            snapshot_timestamp,
            snapshot_hash,
            history,
            |after, f| this.for_each_batch_after(after, f),
        )?;
        if recovered.seq != self.seq {
            return Err(JournalError::Corrupt(format!(
                "batches end at {}, expected {}",
                recovered.seq, self.seq
            )));
        }
        if self.accounts_seq != self.seq {
            // A crash left the accounts table behind the journal: rewrite it whole, so that
            // from here on the engine may send balances of any account it knows.
            self.write_accounts(&AccountChanges::all(&recovered.ledger))?;
        }
        Ok(recovered)
    }

    /// Reads the batches after `after` in order, checking the hash chain on the way: those of
    /// archived periods from their files, then this file's.
    pub fn for_each_batch_after(
        &self,
        after: u64,
        mut f: impl FnMut(StoredBatch) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let mut prev = self.hash_of(after)?;
        prev = self.periods.for_each_batch_after(after, prev, &mut f)?;
        let after = after.max(self.periods.last_seq());
        read_batches(&self.conn, after, prev, &|batch| batch.altered(), &mut f)?;
        Ok(())
    }

    /// Writes `batches` and their query-table rows in one transaction, then syncs it to disk.
    ///
    /// The transfers and pending-transfers rows go in with their batch. Accounts go in with the
    /// batches that carry them ([`AppliedBatch::accounts`]): the engine gathers changed
    /// accounts and hands them over at most every so often under load. `meta.accounts_seq`
    /// names the batch the accounts table is current to, and recovery rewrites it after a crash.
    pub fn commit(&mut self, batches: &[CommitBatch]) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        let mut seq = self.seq;
        let mut hash = self.hash;
        let mut accounts_seq = None;
        {
            let mut insert_batch =
                tx.prepare_cached("INSERT INTO batches VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
            let mut rows = QueryRows::new(&tx)?;
            for batch in batches {
                assert_eq!(batch.seq, seq + 1, "batches must be committed in sequence");
                assert_eq!(
                    batch.prev_hash, hash,
                    "batch {} is not chained to its predecessor",
                    batch.seq
                );
                seq = batch.seq;
                hash = batch.hash;
                let first = batch.commands.first().map_or(0, |c| c.timestamp);
                let last = batch.commands.last().map_or(0, |c| c.timestamp);
                insert_batch.execute(params![
                    seq,
                    batch.accounting_date.to_string(),
                    first as i64,
                    last as i64,
                    batch.commands.len() as i64,
                    batch.body,
                    batch.result_bytes,
                    hash.as_slice()
                ])?;
                rows.write(batch)?;
                if let Some(accounts) = &batch.accounts {
                    let started = Instant::now();
                    rows.write_accounts(accounts, seq)?;
                    accounts_seq = Some((seq, started.elapsed()));
                }
            }
        }
        tx.commit()?;
        #[cfg(feature = "fault-injection")]
        crate::fault_injection::after_commit()?;
        self.seq = seq;
        self.hash = hash;
        if let Some((seq, took)) = accounts_seq {
            self.accounts_seq = seq;
            self.accounts_write_took = took;
        }
        Ok(())
    }

    /// How long the last write of changed accounts took (the engine spaces them by it).
    pub fn accounts_write_took(&self) -> Duration {
        self.accounts_write_took
    }

    /// Writes `accounts` (the ones changed since the last write), making the accounts table
    /// current to the last committed batch.
    pub fn write_accounts(&mut self, accounts: &AccountChanges) -> Result<(), JournalError> {
        if self.accounts_seq == self.seq
            && accounts.opened.is_empty()
            && accounts.changed.is_empty()
        {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        QueryRows::new(&tx)?.write_accounts(accounts, self.seq)?;
        tx.commit()?;
        self.accounts_seq = self.seq;
        Ok(())
    }

    /// Stores one chunk of the snapshot taken after batch `seq`.
    pub fn write_snapshot_chunk(
        &mut self,
        seq: u64,
        chunk: u32,
        data: &[u8],
    ) -> Result<(), JournalError> {
        // Without a sync of its own: the chunks of a snapshot are written while batches are
        // committed between them, and a sync per chunk would hold each of those batches up
        // behind megabytes. The WAL is one file written in order, so the sync of the next
        // batch's commit, or at the latest of `finish_snapshot`'s, makes the chunk durable;
        // until `finish_snapshot` marks it complete nobody reads it.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let written = (|| {
            if chunk == 0 {
                self.conn
                    .execute("DELETE FROM snapshot_chunks WHERE seq = ?1", [seq])?;
            }
            self.conn.execute(
                "INSERT INTO snapshot_chunks VALUES (?1, ?2, ?3)",
                params![seq, chunk, data],
            )
        })();
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        written?;
        Ok(())
    }

    /// Marks the snapshot after batch `seq` complete and drops all but the one before it.
    pub fn finish_snapshot(&mut self, info: &SnapshotInfo) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            params![
                info.seq,
                info.last_timestamp as i64,
                info.state_hash.as_slice(),
                info.bytes as i64,
                info.chunks
            ],
        )?;
        let keep_from: Option<u64> = tx
            .query_row(
                "SELECT seq FROM snapshots WHERE complete = 1 ORDER BY seq DESC LIMIT 1 OFFSET 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(keep_from) = keep_from {
            tx.execute("DELETE FROM snapshot_chunks WHERE seq < ?1", [keep_from])?;
            tx.execute("DELETE FROM snapshots WHERE seq < ?1", [keep_from])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The head file beside the journal, if there is one.
    pub fn anchor(&self) -> Result<Option<Anchor>, JournalError> {
        read_head_file(&self.dir)
    }

    /// Moves the head file to this journal's last batch.
    pub fn write_anchor(&self) -> Result<(), JournalError> {
        write_head_file(
            &self.dir,
            &Head {
                seq: self.seq,
                hash: self.hash,
            },
        )
    }

    /// The hash of batch `seq` (the genesis hash for 0).
    pub fn hash_of(&self, seq: u64) -> Result<[u8; 32], JournalError> {
        if seq == 0 {
            return Ok(GENESIS_HASH);
        }
        if seq <= self.periods.last_seq() {
            if let Some(hash) = self.periods.hash_of(seq)? {
                return Ok(hash);
            }
        }
        let hash: Vec<u8> = self
            .conn
            .query_row("SELECT hash FROM batches WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| JournalError::Corrupt(format!("batch {seq} is missing")))?;
        to_hash(&hash)
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The accounting periods moved out into files of their own, oldest first.
    pub fn periods(&self) -> &[crate::Period] {
        self.periods.list()
    }
}

/// A read-only connection to the journal's file, while a server may be writing it; refused
/// for a file written by a newer Suanpan. For the rooms that read the journal's tables
/// themselves (history index, accounting).
pub fn read_connection(dir: &Path) -> Result<Connection, JournalError> {
    let path = db_path(dir);
    if !path.exists() {
        return Err(JournalError::Io(format!(
            "no journal at {}",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let version: i64 = conn.query_row(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )?;
    if version > SCHEMA_VERSION {
        return Err(JournalError::NewerSchema(version));
    }
    Ok(conn)
}

/// Opens a journal for reading only (verify, reports), while a server may be writing it.
pub(crate) fn open_read_only(dir: &Path) -> Result<SqliteJournal, JournalError> {
    let conn = read_connection(dir)?;
    let limits = read_limits(&conn)?;
    let periods = Periods::load(dir, &conn)?;
    Ok(SqliteJournal {
        _lock: None,
        dir: dir.to_path_buf(),
        conn,
        limits,
        seq: 0,
        hash: GENESIS_HASH,
        accounts_seq: 0,
        accounts_write_took: Duration::ZERO,
        periods,
    })
}

/// Fetches chunk `chunk` of the snapshot after batch `seq` (for [`SnapshotChunks`]).
pub(crate) fn snapshot_chunk(
    conn: &Connection,
    seq: u64,
    chunk: u32,
) -> Result<Option<Vec<u8>>, JournalError> {
    Ok(conn
        .query_row(
            "SELECT data FROM snapshot_chunks WHERE seq = ?1 AND chunk = ?2",
            params![seq, chunk],
            |r| r.get(0),
        )
        .optional()?)
}

/// Prepared statements for the query tables.
struct QueryRows<'t> {
    pending: rusqlite::CachedStatement<'t>,
    resolve: rusqlite::CachedStatement<'t>,
    expire: rusqlite::CachedStatement<'t>,
    account: rusqlite::CachedStatement<'t>,
    balances: rusqlite::CachedStatement<'t>,
    accounts_seq: rusqlite::CachedStatement<'t>,
}

impl<'t> QueryRows<'t> {
    fn new(tx: &'t rusqlite::Transaction<'t>) -> Result<QueryRows<'t>, rusqlite::Error> {
        Ok(QueryRows {
            pending: tx.prepare_cached("INSERT INTO pending_transfers (id, status, expires_at, resolved_by) VALUES (?1, 'pending', ?2, NULL)")?,
            resolve: tx.prepare_cached("UPDATE pending_transfers SET status = ?2, resolved_by = ?3 WHERE id = ?1")?,
            expire: tx.prepare_cached("UPDATE pending_transfers SET status = 'expired' WHERE id = ?1")?,
            account: tx.prepare_cached(
                "INSERT INTO accounts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (seq) DO UPDATE SET status = excluded.status,
                    debits_posted = excluded.debits_posted, credits_posted = excluded.credits_posted,
                    debits_pending = excluded.debits_pending, credits_pending = excluded.credits_pending",
            )?,
            balances: tx.prepare_cached(
                "UPDATE accounts SET status = ?2, debits_posted = ?3, credits_posted = ?4,
                    debits_pending = ?5, credits_pending = ?6 WHERE seq = ?1",
            )?,
            accounts_seq: tx.prepare_cached("INSERT OR REPLACE INTO meta VALUES ('accounts_seq', ?1)")?,
        })
    }

    /// The batch's transfers (one row) and its changes to pending transfers.
    fn write(&mut self, batch: &CommitBatch) -> Result<(), rusqlite::Error> {
        for row in &batch.pending_rows {
            match row {
                PendingRow::Opened { id, expires_at_ns } => {
                    let expires_at = expires_at_ns.map(|t| t as i64);
                    self.pending.execute(params![id.to_string(), expires_at])?;
                }
                PendingRow::Resolved { id, status, by } => {
                    self.resolve.execute(params![
                        id.to_string(),
                        status.as_str(),
                        by.to_string()
                    ])?;
                }
                PendingRow::Expired { id } => {
                    self.expire.execute([id.to_string()])?;
                }
            }
        }
        Ok(())
    }

    fn write_accounts(
        &mut self,
        accounts: &AccountChanges,
        seq: u64,
    ) -> Result<(), rusqlite::Error> {
        for b in &accounts.changed {
            let updated = self.balances.execute(params![
                i64::from(b.index) + 1,
                b.status.as_str(),
                amount_value(b.debits_posted),
                amount_value(b.credits_posted),
                amount_value(b.debits_pending),
                amount_value(b.credits_pending),
            ])?;
            // The writer sends balances only for accounts whose row exists (recovery rewrites
            // the table after a crash); a missing row would be a bug, and the journal is the
            // truth, so it is reported rather than papered over.
            if updated != 1 {
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
        }
        for (index, account) in &accounts.opened {
            self.upsert_account(*index, account)?;
        }
        self.accounts_seq.execute([seq as i64])?;
        Ok(())
    }

    fn upsert_account(&mut self, index: u32, a: &Account) -> Result<(), rusqlite::Error> {
        self.account.execute(params![
            i64::from(index) + 1,
            a.id.to_string(),
            a.currency.as_str(),
            a.subject.as_str(),
            a.owner as i64,
            a.tier.as_str(),
            (a.bound_account != 0).then(|| a.bound_account.to_string()),
            a.flags.0,
            a.status.as_str(),
            amount_value(a.debits_posted),
            amount_value(a.credits_posted),
            amount_value(a.debits_pending),
            amount_value(a.credits_pending),
            a.timestamp as i64,
        ])?;
        Ok(())
    }
}

/// An amount as SQLite stores it: an integer while it fits, decimal text beyond.
pub(crate) fn amount_value(amount: u128) -> Value {
    match i64::try_from(amount) {
        Ok(v) => Value::Integer(v),
        Err(_) => Value::Text(amount.to_string()),
    }
}

/// The last committed batch in the file (genesis when there is none).
pub(crate) fn last_batch(conn: &Connection) -> Result<Head, JournalError> {
    let last: Option<(u64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match last {
        Some((seq, hash)) => Head {
            seq,
            hash: to_hash(&hash)?,
        },
        None => Head {
            seq: 0,
            hash: GENESIS_HASH,
        },
    })
}

fn read_accounts_seq(conn: &Connection) -> Result<u64, JournalError> {
    let seq: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'accounts_seq'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq.map_or(0, |s| s as u64))
}

pub(crate) fn accounts_seq(journal: &SqliteJournal) -> Result<u64, JournalError> {
    read_accounts_seq(&journal.conn)
}

fn to_hash(bytes: &[u8]) -> Result<[u8; 32], JournalError> {
    bytes
        .try_into()
        .map_err(|_| JournalError::Corrupt("a stored hash is not 32 bytes".into()))
}

pub(crate) fn limits_to_text(limits: &TierLimits) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        limits.class_ii_outflow_daily_fen,
        limits.class_ii_outflow_yearly_fen,
        limits.class_ii_inflow_daily_fen,
        limits.class_ii_inflow_yearly_fen,
        limits.class_iii_balance_max_fen,
        limits.class_iii_outflow_daily_fen,
        limits.class_iii_outflow_yearly_fen
    )
}

fn read_limits(conn: &Connection) -> Result<TierLimits, JournalError> {
    let text: String = conn.query_row(
        "SELECT value FROM meta WHERE key = 'tier_limits'",
        [],
        |r| r.get(0),
    )?;
    limits_from_text(&text)
}

pub(crate) fn limits_from_text(text: &str) -> Result<TierLimits, JournalError> {
    let values: Vec<u64> = text.split(' ').filter_map(|v| v.parse().ok()).collect();
    let [a, b, c, d, e, f, g] = values[..] else {
        return Err(JournalError::Corrupt(format!(
            "tier limits {text:?} are unreadable"
        )));
    };
    Ok(TierLimits {
        class_ii_outflow_daily_fen: a,
        class_ii_outflow_yearly_fen: b,
        class_ii_inflow_daily_fen: c,
        class_ii_inflow_yearly_fen: d,
        class_iii_balance_max_fen: e,
        class_iii_outflow_daily_fen: f,
        class_iii_outflow_yearly_fen: g,
    })
}

impl crate::recall::BatchSource for SqliteJournal {
    fn last_seq(&self) -> Result<u64, JournalError> {
        // Not `self.seq`: a read-only handle follows a journal another handle writes.
        Ok(self
            .conn
            .query_row("SELECT max(seq) FROM batches", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .map_or(self.periods.last_seq(), |s| s as u64))
    }

    fn first_timestamp(&self, seq: u64) -> Result<Option<u64>, JournalError> {
        self.in_file_of(seq, |conn| first_timestamp(conn, seq))
    }

    fn read_batch(&self, seq: u64) -> Result<Option<crate::recall::BatchCommands>, JournalError> {
        self.in_file_of(seq, |conn| read_batch(conn, seq))
    }
}

impl SqliteJournal {
    /// Runs `f` on the file that holds batch `seq`: an archived period's, or this one.
    fn in_file_of<T>(
        &self,
        seq: u64,
        f: impl FnOnce(&Connection) -> Result<Option<T>, JournalError>,
    ) -> Result<Option<T>, JournalError> {
        if seq <= self.periods.last_seq() {
            return Ok(self.periods.with_file(seq, f)?.flatten());
        }
        f(&self.conn)
    }
}

/// Reads the batches of a file's `batches` table (the journal's or an archived period's) after
/// `after` in order, checking each one's place in the sequence and in the hash chain from
/// `prev` (the hash of batch `after`); `altered` says what changed where the chain breaks.
/// Returns the last batch read and its hash (`after` and `prev` if none).
pub(crate) fn read_batches(
    conn: &Connection,
    after: u64,
    mut prev: [u8; 32],
    altered: &dyn Fn(&BatchRow) -> JournalError,
    f: &mut dyn FnMut(StoredBatch) -> Result<(), JournalError>,
) -> Result<(u64, [u8; 32]), JournalError> {
    let mut stmt = conn.prepare(
        "SELECT seq, accounting_date, body, results, hash FROM batches WHERE seq > ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([after as i64])?;
    let mut last = after;
    while let Some(row) = rows.next()? {
        let date_text: String = row.get(1)?;
        let batch = BatchRow {
            seq: row.get(0)?,
            accounting_date: &date_text,
            body: row.get_ref(2)?.as_blob()?,
            results: row.get_ref(3)?.as_blob()?,
            hash: row.get_ref(4)?.as_blob()?,
        }
        .decode_or(last + 1, &prev, altered)?;
        last = batch.seq;
        prev = batch.hash;
        f(batch)?;
    }
    Ok((last, prev))
}

/// When one batch of a file's `batches` table began.
fn first_timestamp(conn: &Connection, seq: u64) -> Result<Option<u64>, JournalError> {
    Ok(conn
        .prepare_cached("SELECT first_timestamp FROM batches WHERE seq = ?1")?
        .query_row([seq as i64], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|t| t as u64))
}

/// One batch of a file's `batches` table (the journal's or an archived period's), to recall.
fn read_batch(
    conn: &Connection,
    seq: u64,
) -> Result<Option<crate::recall::BatchCommands>, JournalError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .prepare_cached("SELECT body, results FROM batches WHERE seq = ?1")?
        .query_row([seq as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((body, results)) = row else {
        return Ok(None);
    };
    crate::recall::decode_stored(seq, body, results).map(Some)
}
