//! History by period: an accounting month of batches moved, whole, out of the journal's file
//! into a file of its own, `periods/YYYY-MM.db`, so that a closed month can be archived and
//! backed up as one file and the journal's own file holds only what is still recent.
//!
//! A period file is a SQLite file with the same `batches` table (and the same `transfers`
//! view) as the journal's, so `sqlite3 periods/2026-01.db 'SELECT * FROM transfers'` reads
//! that month's transfers with no Suanpan binary. The journal's file keeps one row per period
//! in its `periods` table: the batches it holds, the hash of the batch before it and of its
//! last batch. That row is what proves the file unchanged: the hash chain runs from the first
//! batch of the first period through every period file into the journal's own batches, and
//! `verify` walks it whole; `verify --period FILE` proves one file on its own against the head
//! hash the journal recorded for it.
//!
//! A period file also keeps, per batch, an 8-byte digest of each transfer record. They prove
//! nothing (whoever can rewrite a record can rewrite its digest); they are there so that, when
//! the chain breaks at an archived batch, verify can name the transfer that was changed rather
//! than only the batch.
//!
//! Archiving is done with the server stopped (it takes the data directory's lock), one month
//! at a time, oldest first, and only for a month that is over (a later accounting date is in
//! force) and whose batches recovery no longer replays (the newest snapshot is after them).
//! Every reader of batches (recovery, the recall of old transfers, verify, the rooms that
//! follow the journal) finds a batch in whichever file holds it.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};
use suanpan_ledger::{hex, AccountingDate};

use crate::batch::StoredBatch;
use crate::layout::TransferRecord;
use crate::record::chain_hash;
use crate::schema::BATCH_TABLES;
use crate::JournalError;

/// The folder, inside the data directory, of the period files.
pub const PERIODS_DIR: &str = "periods";

/// Bumped whenever a period file's tables change shape.
const PERIOD_FILE_VERSION: i64 = 1;

const PERIOD_TABLES: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value ANY NOT NULL
) STRICT;
-- Per batch: an 8-byte digest of each of its transfer records, in record order. Not proof
-- (the chain is); a locator for verify when the chain breaks here.
CREATE TABLE transfer_digests (
    seq     INTEGER PRIMARY KEY,
    digests BLOB    NOT NULL
) STRICT;
";

/// One archived period, as the journal's `periods` table records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// `YYYY-MM`.
    pub name: String,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The hash of batch `first_seq - 1` (the genesis hash for the first period).
    pub prev_hash: [u8; 32],
    /// The hash of batch `last_seq`.
    pub head_hash: [u8; 32],
    pub transfers: u64,
    /// The period file's size.
    pub bytes: u64,
}

impl Period {
    /// The period's file in data directory `dir`.
    pub fn file(&self, dir: &Path) -> PathBuf {
        period_file(dir, &self.name)
    }
}

pub fn period_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(PERIODS_DIR).join(format!("{name}.db"))
}

/// `YYYY-MM`: the first day of that month and of the next, as the journal writes dates.
fn month_bounds(name: &str) -> Result<(String, String), JournalError> {
    let bad = || JournalError::Io(format!("period {name:?} is not a month written YYYY-MM"));
    let (year, month) = name.split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u32 = month.parse().map_err(|_| bad())?;
    let first = AccountingDate::from_ymd(year, month, 1).ok_or_else(bad)?;
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let next = AccountingDate::from_ymd(next_year, next_month, 1).ok_or_else(bad)?;
    Ok((first.to_string(), next.to_string()))
}

fn to_hash(bytes: &[u8]) -> Result<[u8; 32], JournalError> {
    bytes
        .try_into()
        .map_err(|_| JournalError::Corrupt("a stored hash is not 32 bytes".into()))
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, JournalError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

/// The periods the journal's file records, oldest first (none in a file from before them).
pub fn recorded_periods(conn: &Connection) -> Result<Vec<Period>, JournalError> {
    if !table_exists(conn, "periods")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT period, first_seq, last_seq, prev_hash, head_hash, transfers, bytes
         FROM periods ORDER BY first_seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<Period> = Vec::new();
    while let Some(r) = rows.next()? {
        let period = Period {
            name: r.get(0)?,
            first_seq: r.get::<_, i64>(1)? as u64,
            last_seq: r.get::<_, i64>(2)? as u64,
            prev_hash: to_hash(r.get_ref(3)?.as_blob()?)?,
            head_hash: to_hash(r.get_ref(4)?.as_blob()?)?,
            transfers: r.get::<_, i64>(5)? as u64,
            bytes: r.get::<_, i64>(6)? as u64,
        };
        let expected_first = out.last().map_or(1, |p| p.last_seq + 1);
        if period.first_seq != expected_first || period.last_seq < period.first_seq {
            return Err(JournalError::Corrupt(format!(
                "archived period {} holds batches {}..={}, expected to start at {expected_first}",
                period.name, period.first_seq, period.last_seq
            )));
        }
        out.push(period);
    }
    Ok(out)
}

/// Opens a period file for reading, checking it is one this Suanpan can read.
fn open_file(path: &Path) -> Result<Connection, JournalError> {
    if !path.exists() {
        return Err(JournalError::Io(format!(
            "the archived period file {} is missing (restore it from its backup)",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let version: Option<i64> = if table_exists(&conn, "meta")? {
        conn.query_row(
            "SELECT value FROM meta WHERE key = 'period_file_version'",
            [],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    match version {
        Some(v) if v <= PERIOD_FILE_VERSION => Ok(conn),
        Some(v) => Err(JournalError::Io(format!(
            "{} is a period file of version {v}, newer than this Suanpan's {PERIOD_FILE_VERSION}; upgrade Suanpan",
            path.display()
        ))),
        None => Err(JournalError::Corrupt(format!(
            "{} is not an archived period file",
            path.display()
        ))),
    }
}

/// The archived periods of one journal, with the file last read kept open.
pub(crate) struct Periods {
    dir: PathBuf,
    list: Vec<Period>,
    open: RefCell<Option<(usize, Connection)>>,
}

impl Periods {
    pub(crate) fn load(dir: &Path, conn: &Connection) -> Result<Periods, JournalError> {
        Ok(Periods {
            dir: dir.to_path_buf(),
            list: recorded_periods(conn)?,
            open: RefCell::new(None),
        })
    }

    pub(crate) fn list(&self) -> &[Period] {
        &self.list
    }

    /// The last archived batch (0: none).
    pub(crate) fn last_seq(&self) -> u64 {
        self.list.last().map_or(0, |p| p.last_seq)
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let i = self.list.partition_point(|p| p.last_seq < seq);
        (i < self.list.len() && self.list[i].first_seq <= seq).then_some(i)
    }

    /// Runs `f` on the file of the period holding batch `seq`; `None` when no period does.
    pub(crate) fn with_file<T>(
        &self,
        seq: u64,
        f: impl FnOnce(&Connection) -> Result<T, JournalError>,
    ) -> Result<Option<T>, JournalError> {
        let Some(i) = self.index_of(seq) else {
            return Ok(None);
        };
        let mut open = self.open.borrow_mut();
        if open.as_ref().is_none_or(|(at, _)| *at != i) {
            *open = Some((i, open_file(&self.list[i].file(&self.dir))?));
        }
        match open.as_ref() {
            Some((_, conn)) => f(conn).map(Some),
            None => Ok(None),
        }
    }

    /// The hash of batch `seq` if a period holds it.
    pub(crate) fn hash_of(&self, seq: u64) -> Result<Option<[u8; 32]>, JournalError> {
        if let Some(i) = self.index_of(seq) {
            if self.list[i].last_seq == seq {
                return Ok(Some(self.list[i].head_hash));
            }
        }
        self.with_file(seq, |conn| {
            let hash: Option<Vec<u8>> = conn
                .query_row("SELECT hash FROM batches WHERE seq = ?1", [seq], |r| {
                    r.get(0)
                })
                .optional()?;
            match hash {
                Some(hash) => to_hash(&hash),
                None => Err(JournalError::Corrupt(format!("batch {seq} is missing"))),
            }
        })
    }

    /// Reads the archived batches after `after` in order, the chain checked from `prev` (the
    /// hash of batch `after`); returns the hash of the last batch read (`prev` if none).
    pub(crate) fn for_each_batch_after(
        &self,
        after: u64,
        mut prev: [u8; 32],
        f: &mut dyn FnMut(StoredBatch) -> Result<(), JournalError>,
    ) -> Result<[u8; 32], JournalError> {
        for period in self.list.iter().filter(|p| p.last_seq > after) {
            let path = period.file(&self.dir);
            let conn = open_file(&path)?;
            let from = after.max(period.first_seq - 1);
            prev = read_period(&conn, period, &path, from, prev, f)?;
        }
        Ok(prev)
    }
}

/// Reads the batches of `period` after `after` from its file, checking the chain from `prev`
/// and that the period ends where the journal recorded.
fn read_period(
    conn: &Connection,
    period: &Period,
    path: &Path,
    after: u64,
    prev: [u8; 32],
    f: &mut dyn FnMut(StoredBatch) -> Result<(), JournalError>,
) -> Result<[u8; 32], JournalError> {
    let (last, prev) = crate::sqlite::read_batches(
        conn,
        after,
        prev,
        &|batch| altered(conn, period, path, batch.seq, batch.body),
        f,
    )?;
    if last != period.last_seq || prev != period.head_hash {
        return Err(JournalError::Corrupt(format!(
            "archived period {} ({}) ends at batch {} with hash {}; the journal recorded batch {} with hash {} (the file was changed or replaced)",
            period.name,
            path.display(),
            last,
            hex(&prev),
            period.last_seq,
            hex(&period.head_hash),
        )));
    }
    Ok(prev)
}

/// What changed in archived batch `seq`, whose chain broke: the transfer whose record no
/// longer matches its digest, when the digests name one.
fn altered(conn: &Connection, period: &Period, path: &Path, seq: u64, body: &[u8]) -> JournalError {
    let place = format!(
        "batch {seq} in archived period {} ({})",
        period.name,
        path.display()
    );
    let digests: Option<Vec<u8>> = conn
        .query_row(
            "SELECT digests FROM transfer_digests WHERE seq = ?1",
            [seq as i64],
            |r| r.get(0),
        )
        .optional()
        .ok()
        .flatten();
    let what = match (crate::layout::decode(body), digests) {
        (Err(e), _) => format!("its body no longer reads ({e})"),
        (Ok(_), None) => "its contents or the batch before changed".to_string(),
        (Ok(decoded), Some(digests)) => name_changed(&decoded.records, &digests),
    };
    JournalError::Corrupt(format!("{place}: {what} (history altered)"))
}

/// Compares transfer records with the digests taken when they were archived.
fn name_changed(records: &[TransferRecord], digests: &[u8]) -> String {
    if digests.len() != records.len() * DIGEST_BYTES {
        return format!(
            "it holds {} transfer records, {} when it was archived",
            records.len(),
            digests.len() / DIGEST_BYTES
        );
    }
    for (record, digest) in records.iter().zip(digests.chunks_exact(DIGEST_BYTES)) {
        if record_digest(record) != digest {
            return format!(
                "transfer {} (command {}) was altered after it was archived",
                record.transfer.id, record.command
            );
        }
    }
    "its transfers are as archived; an account command, a result or the batch's framing changed"
        .to_string()
}

const DIGEST_BYTES: usize = 8;

/// The first 8 bytes of SHA-256 over every field of a transfer record, in a fixed order.
fn record_digest(r: &TransferRecord) -> [u8; DIGEST_BYTES] {
    let t = &r.transfer;
    let mut h = Sha256::new();
    h.update(r.command.to_be_bytes());
    h.update(r.timestamp.to_be_bytes());
    h.update(t.id.to_be_bytes());
    h.update(t.debit_account_id.to_be_bytes());
    h.update(t.credit_account_id.to_be_bytes());
    h.update(t.amount.to_be_bytes());
    h.update(t.currency.as_bytes());
    h.update(t.code.to_be_bytes());
    h.update(t.flags.0.to_be_bytes());
    h.update(t.pending_id.to_be_bytes());
    h.update(t.timeout_ms.to_be_bytes());
    let reference = t.reference.as_bytes();
    h.update((reference.len() as u32).to_be_bytes());
    h.update(reference);
    h.update(r.date.to_be_bytes());
    let (rd, rc, ra) = r.resolved.unwrap_or((0, 0, 0));
    h.update(rd.to_be_bytes());
    h.update(rc.to_be_bytes());
    h.update(ra.to_be_bytes());
    let full: [u8; 32] = h.finalize().into();
    let mut out = [0u8; DIGEST_BYTES];
    out.copy_from_slice(&full[..DIGEST_BYTES]);
    out
}

fn digests_of(seq: u64, body: &[u8]) -> Result<(Vec<u8>, u64), JournalError> {
    let decoded = crate::layout::decode(body)
        .map_err(|e| JournalError::Corrupt(format!("batch {seq}: {e}")))?;
    let mut out = Vec::with_capacity(decoded.records.len() * DIGEST_BYTES);
    for record in &decoded.records {
        out.extend_from_slice(&record_digest(record));
    }
    Ok((out, decoded.records.len() as u64))
}

/// Moves the batches of accounting month `name` (`YYYY-MM`) out of the journal in `dir` into
/// `periods/YYYY-MM.db`. Takes the data directory's lock: the server must be stopped.
///
/// The file is written under another name, synced and renamed before the journal's file, in
/// one transaction, records the period and drops its batches: a crash at any point leaves
/// either the batches in the journal's file (and at most a stray file, overwritten by the next
/// attempt) or the period recorded and its file complete.
pub fn archive(dir: &Path, name: &str) -> Result<Period, JournalError> {
    let (first_day, next_day) = month_bounds(name)?;
    let main = crate::sqlite::db_path(dir);
    if !main.exists() {
        return Err(JournalError::Io(format!(
            "no journal at {}",
            main.display()
        )));
    }
    let journal = crate::sqlite::SqliteJournal::open(dir, suanpan_ledger::TierLimits::default())?;
    let conn = journal.connection();
    let recorded = recorded_periods(conn)?;
    if recorded.iter().any(|p| p.name == name) {
        return Err(JournalError::Io(format!(
            "period {name} is already archived ({})",
            period_file(dir, name).display()
        )));
    }
    let (first_seq, last_seq, count): (Option<i64>, Option<i64>, i64) = conn.query_row(
        "SELECT min(seq), max(seq), count(*) FROM batches WHERE accounting_date >= ?1 AND accounting_date < ?2",
        params![first_day, next_day],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let (Some(first_seq), Some(last_seq)) = (first_seq, last_seq) else {
        return Err(JournalError::Io(format!(
            "the journal holds no batch of period {name}"
        )));
    };
    let (first_seq, last_seq) = (first_seq as u64, last_seq as u64);
    if last_seq >= journal.seq() {
        return Err(JournalError::Io(format!(
            "period {name} is still open: its last batch is the journal's newest; it can be archived once a later accounting date is in force"
        )));
    }
    let earlier: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, accounting_date FROM batches WHERE accounting_date < ?1 ORDER BY seq LIMIT 1",
            [&first_day],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((seq, date)) = earlier {
        return Err(JournalError::Io(format!(
            "archive the periods before {name} first (batch {seq} is dated {date})"
        )));
    }
    if first_seq != recorded.last().map_or(1, |p| p.last_seq + 1)
        || count as u64 != last_seq - first_seq + 1
    {
        return Err(JournalError::Corrupt(format!(
            "the batches of period {name} ({first_seq}..={last_seq}) do not follow the archived ones"
        )));
    }
    let snapshot: Option<i64> = conn
        .query_row(
            "SELECT max(seq) FROM snapshots WHERE complete = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    if snapshot.is_none_or(|s| (s as u64) < last_seq) {
        return Err(JournalError::Io(format!(
            "batch {last_seq}, the last of period {name}, is after the newest snapshot ({}): recovery still replays it; run the server until it takes a snapshot",
            snapshot.unwrap_or(0)
        )));
    }
    let first_form: i64 = conn.query_row(
        "SELECT count(*) FROM transfers_by_batch WHERE batch BETWEEN ?1 AND ?2",
        params![first_seq as i64, last_seq as i64],
        |r| r.get(0),
    )?;
    if first_form > 0 {
        return Err(JournalError::Io(format!(
            "period {name} holds batches written before the second form of the batch body (schema 1); they stay in the journal's file"
        )));
    }
    let prev_hash = journal.hash_of(first_seq - 1)?;

    let folder = dir.join(PERIODS_DIR);
    std::fs::create_dir_all(&folder)
        .map_err(|e| JournalError::Io(format!("cannot create {}: {e}", folder.display())))?;
    let path = period_file(dir, name);
    let partial = folder.join(format!("{name}.db.partial"));
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(JournalError::Io(format!(
                "cannot remove {}: {e}",
                partial.display()
            )))
        }
    }
    let mut head_hash = prev_hash;
    let mut transfers = 0u64;
    {
        let mut out = Connection::open(&partial)?;
        out.pragma_update(None, "page_size", 16_384)?;
        out.pragma_update(None, "journal_mode", "DELETE")?;
        out.pragma_update(None, "synchronous", "FULL")?;
        let tx = out.transaction()?;
        tx.execute_batch(BATCH_TABLES)?;
        tx.execute_batch(PERIOD_TABLES)?;
        tx.execute_batch(&crate::view::sqlite_transfers())?;
        {
            let mut read = conn.prepare(
                "SELECT seq, accounting_date, first_timestamp, last_timestamp, commands, body, results, hash
                 FROM batches WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
            )?;
            let mut insert =
                tx.prepare("INSERT INTO batches VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
            let mut insert_digests = tx.prepare("INSERT INTO transfer_digests VALUES (?1, ?2)")?;
            let mut rows = read.query(params![first_seq as i64, last_seq as i64])?;
            while let Some(r) = rows.next()? {
                let seq = r.get::<_, i64>(0)? as u64;
                let date_text: String = r.get(1)?;
                let body = r.get_ref(5)?.as_blob()?;
                let results = r.get_ref(6)?.as_blob()?;
                let hash = to_hash(r.get_ref(7)?.as_blob()?)?;
                // Only history that is intact is archived: the chain is checked on the way.
                let date = AccountingDate::parse(&date_text).ok_or_else(|| {
                    JournalError::Corrupt(format!("batch {seq}: bad accounting date {date_text:?}"))
                })?;
                if chain_hash(&head_hash, seq, date, body, results) != hash {
                    return Err(JournalError::Corrupt(format!(
                        "batch {seq}: hash does not match its contents or the batch before (history altered); nothing was archived"
                    )));
                }
                head_hash = hash;
                insert.execute(params![
                    seq as i64,
                    date_text,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    body,
                    results,
                    hash.as_slice()
                ])?;
                if crate::layout::is_second_form(body) {
                    let (digests, n) = digests_of(seq, body)?;
                    transfers += n;
                    insert_digests.execute(params![seq as i64, digests])?;
                }
            }
            let mut meta = tx.prepare("INSERT INTO meta VALUES (?1, ?2)")?;
            meta.execute(params!["period_file_version", PERIOD_FILE_VERSION])?;
            meta.execute(params!["period", name])?;
            meta.execute(params!["first_seq", first_seq as i64])?;
            meta.execute(params!["last_seq", last_seq as i64])?;
            meta.execute(params!["prev_hash", hex(&prev_hash)])?;
            meta.execute(params!["head_hash", hex(&head_hash)])?;
            meta.execute(params![
                "tier_limits",
                crate::sqlite::limits_to_text(&journal.limits())
            ])?;
        }
        tx.commit()?;
    }
    sync(&partial)?;
    std::fs::rename(&partial, &path).map_err(|e| {
        JournalError::Io(format!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        ))
    })?;
    sync(&folder)?;
    let bytes = std::fs::metadata(&path)
        .map_err(|e| JournalError::Io(format!("cannot read {}: {e}", path.display())))?
        .len();
    let period = Period {
        name: name.to_string(),
        first_seq,
        last_seq,
        prev_hash,
        head_hash,
        transfers,
        bytes,
    };
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO periods VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            name,
            first_seq as i64,
            last_seq as i64,
            prev_hash.as_slice(),
            head_hash.as_slice(),
            transfers as i64,
            bytes as i64
        ],
    )?;
    tx.execute(
        "DELETE FROM batches WHERE seq BETWEEN ?1 AND ?2",
        params![first_seq as i64, last_seq as i64],
    )?;
    tx.commit()?;
    Ok(period)
}

fn sync(path: &Path) -> Result<(), JournalError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| JournalError::Io(format!("cannot sync {}: {e}", path.display())))
}

/// What `verify --period` found.
pub struct PeriodReport {
    pub period: Period,
    pub batches: u64,
    /// Where the head hash the file was checked against came from.
    pub against: String,
}

/// Proves one period file on its own: its chain from the hash before it to its head hash,
/// and every transfer record against its digest. The head hash is the one `recorded` (the
/// journal's `periods` row, when the journal is at hand), else the one the file itself keeps.
pub fn verify_period(path: &Path, recorded: Option<&Period>) -> Result<PeriodReport, JournalError> {
    let conn = open_file(path)?;
    let meta = |key: &str| -> Result<String, JournalError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .optional()?
        .map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            _ => String::new(),
        })
        .ok_or_else(|| {
            JournalError::Corrupt(format!("{} has no {key} in its meta table", path.display()))
        })
    };
    let number = |key: &str| -> Result<u64, JournalError> {
        meta(key)?.parse().map_err(|_| {
            JournalError::Corrupt(format!("{}: its {key} is not a number", path.display()))
        })
    };
    let hash = |key: &str| -> Result<[u8; 32], JournalError> {
        suanpan_ledger::hash_from_hex(&meta(key)?).ok_or_else(|| {
            JournalError::Corrupt(format!("{}: its {key} is not a hash", path.display()))
        })
    };
    let own = Period {
        name: meta("period")?,
        first_seq: number("first_seq")?,
        last_seq: number("last_seq")?,
        prev_hash: hash("prev_hash")?,
        head_hash: hash("head_hash")?,
        transfers: 0,
        bytes: 0,
    };
    let (period, against) = match recorded {
        Some(recorded) => {
            if (own.first_seq, own.last_seq, own.prev_hash, own.head_hash)
                != (
                    recorded.first_seq,
                    recorded.last_seq,
                    recorded.prev_hash,
                    recorded.head_hash,
                )
            {
                return Err(JournalError::Corrupt(format!(
                    "{} says it holds batches {}..={} ending in {}; the journal recorded period {} as {}..={} ending in {} (history altered)",
                    path.display(),
                    own.first_seq,
                    own.last_seq,
                    hex(&own.head_hash),
                    recorded.name,
                    recorded.first_seq,
                    recorded.last_seq,
                    hex(&recorded.head_hash)
                )));
            }
            (
                recorded.clone(),
                "the head hash the journal recorded".to_string(),
            )
        }
        None => (own, "the head hash the file keeps".to_string()),
    };
    let mut batches = 0u64;
    let mut transfers = 0u64;
    let mut digests = conn.prepare("SELECT digests FROM transfer_digests WHERE seq = ?1")?;
    read_period(
        &conn,
        &period,
        path,
        period.first_seq - 1,
        period.prev_hash,
        &mut |batch| {
            batches += 1;
            if batch.second_form {
                let body: Vec<u8> = conn.query_row(
                    "SELECT body FROM batches WHERE seq = ?1",
                    [batch.seq as i64],
                    |r| r.get(0),
                )?;
                let (expected, n) = digests_of(batch.seq, &body)?;
                transfers += n;
                let stored: Option<Vec<u8>> = digests
                    .query_row([batch.seq as i64], |r| r.get(0))
                    .optional()?;
                if stored.as_deref() != Some(&expected[..]) {
                    return Err(JournalError::Corrupt(format!(
                        "batch {} in archived period {} ({}): its transfer digests do not match its transfers",
                        batch.seq,
                        period.name,
                        path.display()
                    )));
                }
            }
            Ok(())
        },
    )?;
    Ok(PeriodReport {
        period: Period {
            transfers,
            bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
            ..period
        },
        batches,
        against,
    })
}

/// For the rooms that read batches from the journal's file themselves: the file of the
/// archived period holding batch `seq`, opened for reading; `None` when the journal's own
/// file holds it (or nothing does yet).
pub fn period_holding(
    dir: &Path,
    journal: &Connection,
    seq: u64,
) -> Result<Option<Connection>, JournalError> {
    if !table_exists(journal, "periods")? {
        return Ok(None);
    }
    let name: Option<String> = journal
        .prepare_cached("SELECT period FROM periods WHERE first_seq <= ?1 AND last_seq >= ?1")?
        .query_row([seq as i64], |r| r.get(0))
        .optional()?;
    name.map(|name| open_file(&period_file(dir, &name)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_a_month_written_yyyy_mm() {
        assert_eq!(
            month_bounds("2026-12").ok(),
            Some(("2026-12-01".to_string(), "2027-01-01".to_string()))
        );
        assert_eq!(
            month_bounds("2026-02").ok(),
            Some(("2026-02-01".to_string(), "2026-03-01".to_string()))
        );
        for bad in [
            "2026-13", "2026-1", "26-01", "2026/01", "", "2026-00", "abcd-ef",
        ] {
            assert!(month_bounds(bad).is_err(), "{bad:?}");
        }
    }
}
