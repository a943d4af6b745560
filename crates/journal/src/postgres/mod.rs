//! The journal on PostgreSQL (and the databases that speak its protocol).
//!
//! Same records as the SQLite file: batches chained by SHA-256, chunked snapshots, and the query
//! tables. A group of batches goes in as one transaction sent in one round trip: `BEGIN`, the
//! fence, one set-based statement per table (arrays through `unnest`), `COMMIT`, pipelined on
//! one connection. The database's own durability (`synchronous_commit`, replication) decides
//! when a commit is safe; Suanpan answers its callers only after `COMMIT` returns.
//!
//! The database itself (the pool, TLS, the process's one runtime for it) is the storage home's
//! (`suanpan_store::postgres`); the journal keeps its own tables and migrations there.

mod lease;
mod migrations;
mod verify;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use suanpan_ledger::{Account, TierLimits};
use suanpan_store::postgres::{Object, PgError};
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use crate::anchor::{Anchor, Head};
use crate::batch::{
    AccountChanges, BatchRow, CommitBatch, Recovered, SnapshotChunks, SnapshotInfo, StoredBatch,
};
use crate::record::GENESIS_HASH;
use crate::rows::PendingRow;
use crate::JournalError;

pub use lease::{
    acquire, read as read_lease, read_anchor, release, renew, write_anchor, LeaseState,
};
pub use migrations::PG_SCHEMA_VERSION;
pub use suanpan_store::postgres::{
    query_text, run_sql, test_database_url, test_schema_url, PgDb, TEST_DATABASE_VAR,
};
pub(crate) use verify::verify_postgres;

/// Batches read per query when replaying or following.
const READ_PAGE: u32 = 256;

/// Connects to the database at `url` (the storage home's pool), then creates or migrates the
/// journal's tables, refusing ones from a newer Suanpan.
pub fn connect(url: &str) -> Result<Arc<PgDb>, JournalError> {
    let db = PgDb::open(url)?;
    db.run(async {
        let mut client = db.client().await?;
        migrations::migrate(&mut client).await
    })?;
    Ok(db)
}

impl From<PgError> for JournalError {
    fn from(e: PgError) -> JournalError {
        match e {
            PgError::Io(e) => JournalError::Io(e),
            PgError::Postgres(e) => JournalError::Postgres(e),
            PgError::NewerSchema(v) => JournalError::NewerSchema(v),
        }
    }
}

/// The committed transfers of batches in (after, through], at most `max` batches: for the
/// history index.
pub fn transfer_rows(
    db: &Arc<PgDb>,
    after: u64,
    through: u64,
    max: u32,
) -> Result<Vec<(u64, Vec<crate::TransferRow>)>, JournalError> {
    db.run(async {
        let client = db.client().await?;
        let rows = client
            .query(
                "SELECT b.seq, b.accounting_date, b.body, b.results, t.rows
                 FROM batches b LEFT JOIN transfers_by_batch t ON t.batch = b.seq
                 WHERE b.seq > $1 AND b.seq <= $2 ORDER BY b.seq LIMIT $3",
                &[&(after as i64), &(through as i64), &i64::from(max)],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let batch = r.get::<_, i64>(0) as u64;
            let date: &str = r.get(1);
            let transfers = match crate::history::rows_of_body(batch, date, r.get(2), r.get(3))? {
                Some(transfers) => transfers,
                None => crate::history::rows_of_json(
                    batch,
                    r.get::<_, Option<&str>>(4).unwrap_or("[]"),
                )?,
            };
            out.push((batch, transfers));
        }
        Ok(out)
    })
}

/// The last committed batch (0: none).
pub fn last_seq(db: &Arc<PgDb>) -> Result<u64, JournalError> {
    db.run(async {
        let client = db.client().await?;
        let row = client
            .query_one("SELECT COALESCE(max(seq), 0) FROM batches", &[])
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    })
}

/// Up to `max` committed batches after `after`, the hash chain checked from batch `after`:
/// for the rooms that follow the journal at their own pace (accounting).
pub fn batches_page(
    db: &Arc<PgDb>,
    after: u64,
    max: u32,
) -> Result<Vec<StoredBatch>, JournalError> {
    batches_after(db, after, hash_of(db, after)?, max)
}

/// The batch the accounts table is current to, and each account's (id, debits, credits).
pub type AccountTotals = (u64, Vec<(u128, u128, u128)>);

/// The accounts table's posted totals and the batch it is current to, read in one
/// transaction so they agree.
pub fn account_totals(db: &Arc<PgDb>) -> Result<AccountTotals, JournalError> {
    db.run(async {
        let mut client = db.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let seq = tx
            .query_opt("SELECT value FROM meta WHERE key = 'accounts_seq'", &[])
            .await?
            .map_or(Ok(0), |r| {
                r.get::<_, String>(0)
                    .parse::<u64>()
                    .map_err(|_| JournalError::Corrupt("meta.accounts_seq is not a number".into()))
            })?;
        let rows = tx
            .query(
                "SELECT id, debits_posted::text, credits_posted::text FROM accounts",
                &[],
            )
            .await?;
        tx.commit().await?;
        let number = |text: &str| -> Result<u128, JournalError> {
            text.parse().map_err(|_| {
                JournalError::Corrupt(format!("{text:?} in the accounts table is not a number"))
            })
        };
        let totals = rows
            .iter()
            .map(|r| Ok((number(r.get(0))?, number(r.get(1))?, number(r.get(2))?)))
            .collect::<Result<Vec<_>, JournalError>>()?;
        Ok((seq, totals))
    })
}

/// Fetches chunk `chunk` of the snapshot after batch `seq` (for [`SnapshotChunks`]).
fn snapshot_chunk(db: &PgDb, seq: u64, chunk: u32) -> Result<Option<Vec<u8>>, JournalError> {
    db.run(async {
        let client = db.client().await?;
        let row = client
            .query_opt(
                "SELECT data FROM snapshot_chunks WHERE seq = $1 AND chunk = $2",
                &[&(seq as i64), &(chunk as i32)],
            )
            .await?;
        Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
    })
}

/// Bytes the journal's tables take in the database (with their indexes and TOAST).
pub fn journal_bytes(db: &Arc<PgDb>) -> Result<u64, JournalError> {
    db.run(async {
        let client = db.client().await?;
        let row = client
            .query_one(
                "SELECT (pg_total_relation_size('batches') + pg_total_relation_size('transfers_by_batch')
                        + pg_total_relation_size('accounts') + pg_total_relation_size('snapshot_chunks')
                        + pg_total_relation_size('pending_transfers'))::bigint",
                &[],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    })
}

pub struct PgJournal {
    db: Arc<PgDb>,
    /// The writer's own connection, taken at the first write.
    writer: Option<Object>,
    limits: TierLimits,
    seq: u64,
    hash: [u8; 32],
    accounts_seq: u64,
    accounts_write_took: Duration,
    /// The lease epoch every write is fenced by; none: this handle may not write.
    epoch: Option<u64>,
    /// How long the server lets the writer's transaction wait on this node (see
    /// [`PgJournal::limit_write_hold`]).
    hold_max_ms: Option<u64>,
}

impl PgJournal {
    pub fn open(db: Arc<PgDb>, limits: TierLimits) -> Result<PgJournal, JournalError> {
        db.run(async {
            let client = db.client().await?;
            client
                .execute(
                    "INSERT INTO meta VALUES ('tier_limits', $1) ON CONFLICT (key) DO NOTHING",
                    &[&crate::sqlite::limits_to_text(&limits)],
                )
                .await?;
            Ok::<_, JournalError>(())
        })?;
        PgJournal::open_read_only(db)
    }

    pub fn open_read_only(db: Arc<PgDb>) -> Result<PgJournal, JournalError> {
        let (limits, seq, hash, accounts_seq) = db.run(async {
            let client = db.client().await?;
            let limits: Option<String> = client
                .query_opt("SELECT value FROM meta WHERE key = 'tier_limits'", &[])
                .await?
                .map(|r| r.get(0));
            let limits = limits.ok_or_else(|| {
                JournalError::Io(format!("no journal in the database at {}", db.shown()))
            })?;
            let last = client
                .query_opt(
                    "SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await?;
            let (seq, hash) = match last {
                Some(r) => (r.get::<_, i64>(0) as u64, to_hash(r.get(1))?),
                None => (0, GENESIS_HASH),
            };
            let accounts_seq: Option<String> = client
                .query_opt("SELECT value FROM meta WHERE key = 'accounts_seq'", &[])
                .await?
                .map(|r| r.get(0));
            let accounts_seq = accounts_seq.map_or(Ok(0), |s| {
                s.parse::<u64>()
                    .map_err(|_| JournalError::Corrupt("meta.accounts_seq is not a number".into()))
            })?;
            Ok::<_, JournalError>((limits, seq, hash, accounts_seq))
        })?;
        Ok(PgJournal {
            limits: crate::sqlite::limits_from_text(&limits)?,
            db,
            writer: None,
            seq,
            hash,
            accounts_seq,
            accounts_write_took: Duration::ZERO,
            epoch: None,
            hold_max_ms: None,
        })
    }

    pub fn db(&self) -> &Arc<PgDb> {
        &self.db
    }

    pub fn limits(&self) -> TierLimits {
        self.limits
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn accounts_write_took(&self) -> Duration {
        self.accounts_write_took
    }

    /// A write transaction holds the lease row's share lock from its fence to its `COMMIT`.
    /// If this node stops in the middle (paused, or its request half sent), the server would
    /// keep that lock, and a standby's takeover would wait for it for ever: so the server is
    /// told to end a transaction of the writer's that waits on this node longer than `hold`
    /// (`idle_in_transaction_session_timeout`), which rolls it back.
    pub fn limit_write_hold(&mut self, hold: Duration) {
        self.hold_max_ms = Some(hold.as_millis().max(1) as u64);
        discard(&mut self.writer);
    }

    pub fn fence(&mut self, epoch: u64, seq: u64, hash: [u8; 32]) {
        self.epoch = Some(epoch);
        self.seq = seq;
        self.hash = hash;
    }

    pub fn recover(
        &mut self,
        retention: crate::Retention,
        index: Option<&mut crate::PastIndex>,
    ) -> Result<Recovered, JournalError> {
        let snapshot = self.db.run(async {
            let client = self.db.client().await?;
            let row = client
                .query_opt(
                    "SELECT seq, last_timestamp, state_hash FROM snapshots
                     WHERE complete ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await?;
            Ok::<_, JournalError>(row.map(|r| {
                (
                    r.get::<_, i64>(0) as u64,
                    r.get::<_, i64>(1) as u64,
                    r.get::<_, Vec<u8>>(2),
                )
            }))
        })?;
        let from_snapshot = match snapshot {
            Some((seq, last_timestamp, expected)) => {
                let db = &self.db;
                SnapshotChunks::new(|n| snapshot_chunk(db, seq, n))
                    .decode(seq, &expected)?
                    .map(|ledger| (ledger, seq, last_timestamp))
            }
            None => None,
        };
        let (ledger, snapshot_seq, snapshot_timestamp) =
            retention.starting_point(from_snapshot, self.limits);
        let snapshot_hash = self.hash_of(snapshot_seq)?;
        let this: &PgJournal = self;
        let mut recaller = crate::Recaller::default();
        let history = index.map(|index| crate::History {
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
        // The head may have moved on since open (a leader writing while this node follows).
        self.seq = recovered.seq;
        self.hash = recovered.hash;
        Ok(recovered)
    }

    /// True when a crash left the accounts table behind the journal (recovery's caller
    /// rewrites it once it holds the lease).
    pub fn accounts_behind(&self) -> bool {
        self.accounts_seq != self.seq
    }

    pub fn hash_of(&self, seq: u64) -> Result<[u8; 32], JournalError> {
        hash_of(&self.db, seq)
    }

    /// The lease row's anchor, if one was recorded.
    pub fn anchor(&self) -> Result<Option<Anchor>, JournalError> {
        Ok(lease::read_anchor(&self.db)?.map(|head| Anchor {
            head,
            source: format!("the lease row of {}", self.db.shown()),
        }))
    }

    /// Moves the lease row's anchor to this journal's last batch; only a fenced writer may.
    pub fn write_anchor(&self) -> Result<(), JournalError> {
        let epoch = self.epoch()? as u64;
        lease::write_anchor(
            &self.db,
            epoch,
            &Head {
                seq: self.seq,
                hash: self.hash,
            },
        )
    }

    pub fn for_each_batch_after(
        &self,
        after: u64,
        mut f: impl FnMut(StoredBatch) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let mut prev = self.hash_of(after)?;
        let mut after = after;
        loop {
            let page = self.batches_after(after, prev, READ_PAGE)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            (after, prev) = (last.seq, last.hash);
            for batch in page {
                f(batch)?;
            }
        }
    }

    /// Up to `max` batches after `after`, chained to `prev_hash`.
    pub fn batches_after(
        &self,
        after: u64,
        prev_hash: [u8; 32],
        max: u32,
    ) -> Result<Vec<StoredBatch>, JournalError> {
        batches_after(&self.db, after, prev_hash, max)
    }

    fn epoch(&self) -> Result<i64, JournalError> {
        self.epoch.map(|e| e as i64).ok_or_else(|| {
            JournalError::Fenced("this node does not hold the writer's lease".into())
        })
    }

    /// Writes `batches` and their query-table rows in one fenced transaction, one round trip.
    pub fn commit(&mut self, batches: &[CommitBatch]) -> Result<(), JournalError> {
        let epoch = self.epoch()?;
        let mut seq = self.seq;
        let mut hash = self.hash;
        let mut rows = GroupRows::default();
        let mut accounts = MergedAccounts::default();
        let mut accounts_seq = None;
        for batch in batches {
            assert_eq!(batch.seq, seq + 1, "batches must be committed in sequence");
            assert_eq!(
                batch.prev_hash, hash,
                "batch {} is not chained to its predecessor",
                batch.seq
            );
            seq = batch.seq;
            hash = batch.hash;
            rows.add(batch);
            if let Some(changes) = &batch.accounts {
                accounts.add(changes);
                accounts_seq = Some(seq);
            }
        }
        let started = Instant::now();
        let db = self.db.clone();
        let (writer, hold) = (&mut self.writer, self.hold_max_ms);
        db.run(async {
            let client = writer_client(&db, writer, hold).await?;
            rows.write(client, epoch, &accounts, accounts_seq).await
        })
        .inspect_err(|_| discard(&mut self.writer))?;
        self.seq = seq;
        self.hash = hash;
        if let Some(seq) = accounts_seq {
            self.accounts_seq = seq;
            self.accounts_write_took = started.elapsed();
        }
        Ok(())
    }

    pub fn write_accounts(&mut self, changes: &AccountChanges) -> Result<(), JournalError> {
        if self.accounts_seq == self.seq && changes.opened.is_empty() && changes.changed.is_empty()
        {
            return Ok(());
        }
        let epoch = self.epoch()?;
        let mut accounts = MergedAccounts::default();
        accounts.add(changes);
        let seq = self.seq;
        let db = self.db.clone();
        let (writer, hold) = (&mut self.writer, self.hold_max_ms);
        db.run(async {
            let client = writer_client(&db, writer, hold).await?;
            GroupRows::default()
                .write(client, epoch, &accounts, Some(seq))
                .await
        })
        .inspect_err(|_| discard(&mut self.writer))?;
        self.accounts_seq = seq;
        Ok(())
    }

    pub fn write_snapshot_chunk(
        &mut self,
        seq: u64,
        chunk: u32,
        data: &[u8],
    ) -> Result<(), JournalError> {
        let epoch = self.epoch()?;
        let db = self.db.clone();
        let (writer, hold) = (&mut self.writer, self.hold_max_ms);
        db.run(async {
            let client = writer_client(&db, writer, hold).await?;
            let (seq, chunk) = (seq as i64, chunk as i32);
            let mut steps = Vec::new();
            if chunk == 0 {
                steps.push(
                    step(
                        client,
                        "DELETE FROM snapshot_chunks WHERE seq = $1",
                        vec![&seq as &(dyn ToSql + Sync)],
                    )
                    .await?,
                );
            }
            steps.push(
                step(
                    client,
                    "INSERT INTO snapshot_chunks VALUES ($1, $2, $3)",
                    vec![&seq as &(dyn ToSql + Sync), &chunk, &data],
                )
                .await?,
            );
            fenced(client, epoch, &steps).await
        })
        .inspect_err(|_| discard(&mut self.writer))?;
        Ok(())
    }

    pub fn finish_snapshot(&mut self, info: &SnapshotInfo) -> Result<(), JournalError> {
        let epoch = self.epoch()?;
        let db = self.db.clone();
        let (writer, hold) = (&mut self.writer, self.hold_max_ms);
        let (seq, last, bytes, chunks) = (
            info.seq as i64,
            info.last_timestamp as i64,
            info.bytes as i64,
            info.chunks as i32,
        );
        let state_hash = info.state_hash.as_slice();
        db.run(async {
            let client = writer_client(&db, writer, hold).await?;
            let steps = [
                step(
                    client,
                    "INSERT INTO snapshots VALUES ($1, $2, $3, $4, $5, true)
                     ON CONFLICT (seq) DO UPDATE SET complete = true",
                    vec![
                        &seq as &(dyn ToSql + Sync),
                        &last,
                        &state_hash,
                        &bytes,
                        &chunks,
                    ],
                )
                .await?,
                // Keep this snapshot and the one before it.
                step(
                    client,
                    "DELETE FROM snapshot_chunks WHERE seq < (SELECT seq FROM snapshots
                     WHERE complete ORDER BY seq DESC LIMIT 1 OFFSET 1)",
                    Vec::new(),
                )
                .await?,
                step(
                    client,
                    "DELETE FROM snapshots WHERE seq < (SELECT seq FROM snapshots
                     WHERE complete ORDER BY seq DESC LIMIT 1 OFFSET 1)",
                    Vec::new(),
                )
                .await?,
            ];
            fenced(client, epoch, &steps).await
        })
        .inspect_err(|_| discard(&mut self.writer))?;
        Ok(())
    }
}

async fn writer_client<'w>(
    db: &PgDb,
    writer: &'w mut Option<Object>,
    hold_max_ms: Option<u64>,
) -> Result<&'w Object, JournalError> {
    if writer.is_none() {
        let client = db.client().await?;
        if let Some(ms) = hold_max_ms {
            client
                .batch_execute(&format!("SET idle_in_transaction_session_timeout = {ms}"))
                .await?;
        }
        *writer = Some(client);
    }
    writer
        .as_ref()
        .ok_or_else(|| JournalError::Io("no writer connection".into()))
}

/// Closes the writer's connection rather than return it to the pool: after a failed write its
/// state is unknown, and its session settings are the writer's alone.
fn discard(writer: &mut Option<Object>) {
    if let Some(client) = writer.take() {
        drop(Object::take(client));
    }
}

/// One statement of a fenced transaction, prepared, with its parameters.
type Step<'a> = (Statement, Vec<&'a (dyn ToSql + Sync)>);

async fn step<'a>(
    client: &Object,
    sql: &str,
    params: Vec<&'a (dyn ToSql + Sync)>,
) -> Result<Step<'a>, JournalError> {
    Ok((client.prepare_cached(sql).await?, params))
}

/// Runs `steps` in one transaction fenced by `epoch`, all sent before any answer is awaited
/// (one round trip: the statements are prepared beforehand, once per connection). If the
/// fence fails, PostgreSQL aborts the transaction, refuses the statements after it, and turns
/// the `COMMIT` into a rollback: nothing is written. Returns each step's row count.
async fn fenced(client: &Object, epoch: i64, steps: &[Step<'_>]) -> Result<Vec<u64>, JournalError> {
    let begin = client.prepare_cached("BEGIN").await?;
    let fence = client.prepare_cached("SELECT suanpan_fence($1)").await?;
    let commit = client.prepare_cached("COMMIT").await?;
    let c: &tokio_postgres::Client = client;
    let none: [&(dyn ToSql + Sync); 0] = [];
    let fence_params = [&epoch as &(dyn ToSql + Sync)];
    type Sent<'f> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + 'f>>;
    let mut all: Vec<Sent<'_>> = Vec::with_capacity(steps.len() + 3);
    all.push(Box::pin(c.execute_raw(&begin, none.iter().copied())));
    all.push(Box::pin(
        c.execute_raw(&fence, fence_params.iter().copied()),
    ));
    for (statement, params) in steps {
        all.push(Box::pin(c.execute_raw(statement, params.iter().copied())));
    }
    all.push(Box::pin(c.execute_raw(&commit, none.iter().copied())));
    // join_all polls in order, and a request goes out at its future's first poll: the server
    // receives BEGIN, the fence, the steps and COMMIT in this order.
    let results = join_all(all).await;
    let mut counts = Vec::with_capacity(steps.len());
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(count) if i >= 2 && i < 2 + steps.len() => counts.push(count),
            Ok(_) => {}
            Err(e) if e.code().map(|c| c.code()) == Some("SP001") => {
                return Err(JournalError::Fenced(format!(
                    "the writer's lease has been taken over (this node's epoch was {epoch}); nothing was written"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(counts)
}

/// A group's rows for the query tables, as columns for `unnest`.
#[derive(Default)]
struct GroupRows<'b> {
    seqs: Vec<i64>,
    dates: Vec<String>,
    firsts: Vec<i64>,
    lasts: Vec<i64>,
    counts: Vec<i32>,
    bodies: Vec<&'b [u8]>,
    results: Vec<&'b [u8]>,
    hashes: Vec<&'b [u8]>,
    pending_ids: Vec<String>,
    pending_expiry: Vec<Option<i64>>,
    resolved_ids: Vec<String>,
    resolved_status: Vec<&'static str>,
    resolved_by: Vec<String>,
    expired_ids: Vec<String>,
}

impl<'b> GroupRows<'b> {
    fn add(&mut self, batch: &'b CommitBatch) {
        self.seqs.push(batch.seq as i64);
        self.dates.push(batch.accounting_date.to_string());
        self.firsts
            .push(batch.commands.first().map_or(0, |c| c.timestamp) as i64);
        self.lasts
            .push(batch.commands.last().map_or(0, |c| c.timestamp) as i64);
        self.counts.push(batch.commands.len() as i32);
        self.bodies.push(&batch.body);
        self.results.push(&batch.result_bytes);
        self.hashes.push(batch.hash.as_slice());
        for row in &batch.pending_rows {
            match row {
                PendingRow::Opened { id, expires_at_ns } => {
                    self.pending_ids.push(id.to_string());
                    self.pending_expiry.push(expires_at_ns.map(|t| t as i64));
                }
                PendingRow::Resolved { id, status, by } => {
                    self.resolved_ids.push(id.to_string());
                    self.resolved_status.push(status.as_str());
                    self.resolved_by.push(by.to_string());
                }
                PendingRow::Expired { id } => self.expired_ids.push(id.to_string()),
            }
        }
    }

    async fn write(
        &self,
        client: &Object,
        epoch: i64,
        accounts: &MergedAccounts,
        accounts_seq: Option<u64>,
    ) -> Result<(), JournalError> {
        let a = accounts.columns();
        let accounts_seq = accounts_seq.map(|s| s.to_string());
        let changed = a.changed_seqs.len() as u64;
        let mut changed_at = None;
        let mut s = Vec::new();
        if !self.seqs.is_empty() {
            s.push(
                step(
                    client,
                    "INSERT INTO batches SELECT * FROM unnest($1::bigint[], $2::text[],
                        $3::bigint[], $4::bigint[], $5::int4[], $6::bytea[], $7::bytea[],
                        $8::bytea[])",
                    vec![
                        &self.seqs as &(dyn ToSql + Sync),
                        &self.dates,
                        &self.firsts,
                        &self.lasts,
                        &self.counts,
                        &self.bodies,
                        &self.results,
                        &self.hashes,
                    ],
                )
                .await?,
            );
        }
        if !self.pending_ids.is_empty() {
            s.push(
                step(
                    client,
                    "INSERT INTO pending_transfers (id, status, expires_at, resolved_by)
                     SELECT u.id, 'pending', u.expires_at, NULL
                     FROM unnest($1::text[], $2::bigint[]) AS u(id, expires_at)",
                    vec![
                        &self.pending_ids as &(dyn ToSql + Sync),
                        &self.pending_expiry,
                    ],
                )
                .await?,
            );
        }
        if !self.resolved_ids.is_empty() {
            s.push(
                step(
                    client,
                    "UPDATE pending_transfers p SET status = u.status, resolved_by = u.by
                     FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, status, by)
                     WHERE p.id = u.id",
                    vec![
                        &self.resolved_ids as &(dyn ToSql + Sync),
                        &self.resolved_status,
                        &self.resolved_by,
                    ],
                )
                .await?,
            );
        }
        if !self.expired_ids.is_empty() {
            s.push(
                step(
                    client,
                    "UPDATE pending_transfers SET status = 'expired'
                     WHERE id = ANY($1::text[])",
                    vec![&self.expired_ids as &(dyn ToSql + Sync)],
                )
                .await?,
            );
        }
        if !a.changed_seqs.is_empty() {
            changed_at = Some(s.len());
            s.push(
                step(
                    client,
                    "UPDATE accounts a SET status = u.status,
                     debits_posted = u.dp::numeric, credits_posted = u.cp::numeric,
                     debits_pending = u.dq::numeric, credits_pending = u.cq::numeric
                     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                        $6::text[]) AS u(seq, status, dp, cp, dq, cq)
                     WHERE a.seq = u.seq",
                    vec![
                        &a.changed_seqs as &(dyn ToSql + Sync),
                        &a.changed_status,
                        &a.changed_amounts[0],
                        &a.changed_amounts[1],
                        &a.changed_amounts[2],
                        &a.changed_amounts[3],
                    ],
                )
                .await?,
            );
        }
        if !a.opened_seqs.is_empty() {
            s.push(
                step(
                    client,
                    "INSERT INTO accounts
                     SELECT u.seq, u.id, u.currency, u.subject, u.owner, u.tier, u.bound,
                        u.flags, u.status, u.dp::numeric, u.cp::numeric, u.dq::numeric,
                        u.cq::numeric, u.ts
                     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],
                        $5::bigint[], $6::text[], $7::text[], $8::int4[], $9::text[],
                        $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[])
                     AS u(seq, id, currency, subject, owner, tier, bound, flags, status,
                         dp, cp, dq, cq, ts)
                     ON CONFLICT (seq) DO UPDATE SET status = excluded.status,
                     debits_posted = excluded.debits_posted,
                     credits_posted = excluded.credits_posted,
                     debits_pending = excluded.debits_pending,
                     credits_pending = excluded.credits_pending",
                    vec![
                        &a.opened_seqs as &(dyn ToSql + Sync),
                        &a.ids,
                        &a.currencies,
                        &a.subjects,
                        &a.owners,
                        &a.tiers,
                        &a.bounds,
                        &a.flags,
                        &a.statuses,
                        &a.amounts[0],
                        &a.amounts[1],
                        &a.amounts[2],
                        &a.amounts[3],
                        &a.timestamps,
                    ],
                )
                .await?,
            );
        }
        if let Some(seq) = &accounts_seq {
            s.push(
                step(
                    client,
                    "INSERT INTO meta VALUES ('accounts_seq', $1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    vec![seq as &(dyn ToSql + Sync)],
                )
                .await?,
            );
        }
        let counts = fenced(client, epoch, &s).await?;
        // The writer sends balances only for accounts whose row exists; a missing row would be
        // a bug, and the journal is the truth, so it is reported rather than papered over.
        if let Some(at) = changed_at {
            if counts.get(at) != Some(&changed) {
                return Err(JournalError::Corrupt(
                    "the accounts table lacks a row the engine updated".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Account changes of a group of batches, merged so that each account appears once (a
/// set-based statement may not touch a row twice), the latest state winning.
#[derive(Default)]
struct MergedAccounts {
    opened: BTreeMap<u32, Account>,
    changed: BTreeMap<u32, crate::batch::AccountBalances>,
}

impl MergedAccounts {
    fn add(&mut self, changes: &AccountChanges) {
        for (index, account) in &changes.opened {
            self.changed.remove(index);
            self.opened.insert(*index, *account);
        }
        for b in &changes.changed {
            let copy = crate::batch::AccountBalances {
                index: b.index,
                status: b.status,
                debits_posted: b.debits_posted,
                credits_posted: b.credits_posted,
                debits_pending: b.debits_pending,
                credits_pending: b.credits_pending,
            };
            match self.opened.get_mut(&b.index) {
                Some(a) => {
                    a.status = b.status;
                    a.debits_posted = b.debits_posted;
                    a.credits_posted = b.credits_posted;
                    a.debits_pending = b.debits_pending;
                    a.credits_pending = b.credits_pending;
                }
                None => {
                    self.changed.insert(b.index, copy);
                }
            }
        }
    }

    fn columns(&self) -> AccountColumns {
        let mut c = AccountColumns::default();
        for b in self.changed.values() {
            c.changed_seqs.push(i64::from(b.index) + 1);
            c.changed_status.push(b.status.as_str());
            for (i, v) in [
                b.debits_posted,
                b.credits_posted,
                b.debits_pending,
                b.credits_pending,
            ]
            .into_iter()
            .enumerate()
            {
                c.changed_amounts[i].push(v.to_string());
            }
        }
        for (index, a) in &self.opened {
            c.opened_seqs.push(i64::from(*index) + 1);
            c.ids.push(a.id.to_string());
            c.currencies.push(a.currency.as_str().to_string());
            c.subjects.push(a.subject.as_str().to_string());
            c.owners.push(a.owner as i64);
            c.tiers.push(a.tier.as_str());
            c.bounds
                .push((a.bound_account != 0).then(|| a.bound_account.to_string()));
            c.flags.push(i32::from(a.flags.0));
            c.statuses.push(a.status.as_str());
            for (i, v) in [
                a.debits_posted,
                a.credits_posted,
                a.debits_pending,
                a.credits_pending,
            ]
            .into_iter()
            .enumerate()
            {
                c.amounts[i].push(v.to_string());
            }
            c.timestamps.push(a.timestamp as i64);
        }
        c
    }
}

#[derive(Default)]
struct AccountColumns {
    changed_seqs: Vec<i64>,
    changed_status: Vec<&'static str>,
    changed_amounts: [Vec<String>; 4],
    opened_seqs: Vec<i64>,
    ids: Vec<String>,
    currencies: Vec<String>,
    subjects: Vec<String>,
    owners: Vec<i64>,
    tiers: Vec<&'static str>,
    bounds: Vec<Option<String>>,
    flags: Vec<i32>,
    statuses: Vec<&'static str>,
    amounts: [Vec<String>; 4],
    timestamps: Vec<i64>,
}

/// The hash of batch `seq` (the genesis hash for 0).
fn hash_of(db: &PgDb, seq: u64) -> Result<[u8; 32], JournalError> {
    if seq == 0 {
        return Ok(GENESIS_HASH);
    }
    db.run(async {
        let client = db.client().await?;
        let row = client
            .query_opt("SELECT hash FROM batches WHERE seq = $1", &[&(seq as i64)])
            .await?
            .ok_or_else(|| JournalError::Corrupt(format!("batch {seq} is missing")))?;
        to_hash(row.get(0))
    })
}

/// Up to `max` batches after `after`, chained to `prev_hash` (the hash of batch `after`).
fn batches_after(
    db: &PgDb,
    after: u64,
    prev_hash: [u8; 32],
    max: u32,
) -> Result<Vec<StoredBatch>, JournalError> {
    let rows = db.run(async {
        let client = db.client().await?;
        let rows = client
            .query(
                "SELECT seq, accounting_date, body, results, hash FROM batches
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&(after as i64), &i64::from(max)],
            )
            .await?;
        Ok::<_, JournalError>(rows)
    })?;
    let mut prev = prev_hash;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let batch = stored_batch(row, after + 1 + i as u64, &prev)?;
        prev = batch.hash;
        out.push(batch);
    }
    Ok(out)
}

/// A `batches` row (seq, accounting_date, body, results, hash) decoded, its place in the
/// sequence and the hash chain checked.
pub(crate) fn stored_batch(
    row: &tokio_postgres::Row,
    expected_seq: u64,
    prev: &[u8; 32],
) -> Result<StoredBatch, JournalError> {
    BatchRow {
        seq: row.try_get::<_, i64>(0)? as u64,
        accounting_date: row.try_get(1)?,
        body: row.try_get(2)?,
        results: row.try_get(3)?,
        hash: row.try_get(4)?,
    }
    .decode(expected_seq, prev)
}

pub(crate) fn to_hash(bytes: &[u8]) -> Result<[u8; 32], JournalError> {
    bytes
        .try_into()
        .map_err(|_| JournalError::Corrupt("a stored hash is not 32 bytes".into()))
}

impl crate::recall::BatchSource for PgJournal {
    fn last_seq(&self) -> Result<u64, JournalError> {
        last_seq(&self.db)
    }

    fn first_timestamp(&self, seq: u64) -> Result<Option<u64>, JournalError> {
        self.db.run(async {
            let client = self.db.client().await?;
            let row = client
                .query_opt(
                    "SELECT first_timestamp FROM batches WHERE seq = $1",
                    &[&(seq as i64)],
                )
                .await?;
            Ok(row.map(|r| r.get::<_, i64>(0) as u64))
        })
    }

    fn read_batch(&self, seq: u64) -> Result<Option<crate::recall::BatchCommands>, JournalError> {
        let row = self.db.run(async {
            let client = self.db.client().await?;
            let row = client
                .query_opt(
                    "SELECT body, results FROM batches WHERE seq = $1",
                    &[&(seq as i64)],
                )
                .await?;
            Ok::<_, JournalError>(row)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (body, results): (Vec<u8>, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
        crate::recall::decode_stored(seq, body, results).map(Some)
    }
}
