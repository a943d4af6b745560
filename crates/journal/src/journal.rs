//! [`Journal`]: the one interface the engine writes and reads the journal through, on either
//! backend. SQLite is the embedded default (one file in the data directory); PostgreSQL is for
//! users who outgrow one machine and want a standby node (see `postgres/`).

use std::path::Path;
#[cfg(feature = "postgres")]
use std::sync::Arc;
use std::time::Duration;

use suanpan_ledger::TierLimits;

use crate::anchor::{self, Anchor};
use crate::batch::{AccountChanges, CommitBatch, Recovered, SnapshotInfo, StoredBatch};
#[cfg(feature = "postgres")]
use crate::postgres::{PgDb, PgJournal};
use crate::sqlite::SqliteJournal;
use crate::JournalError;

/// Where the journal lives.
#[derive(Clone)]
pub enum JournalLocation {
    /// The SQLite file in this data directory.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database (its schema given by the URL's `search_path`, if any).
    #[cfg(feature = "postgres")]
    Postgres(Arc<PgDb>),
}

pub struct Journal {
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteJournal),
    #[cfg(feature = "postgres")]
    Postgres(PgJournal),
}

macro_rules! each {
    ($self:expr, $j:ident => $body:expr) => {
        match &$self.backend {
            Backend::Sqlite($j) => $body,
            #[cfg(feature = "postgres")]
            Backend::Postgres($j) => $body,
        }
    };
    (mut $self:expr, $j:ident => $body:expr) => {
        match &mut $self.backend {
            Backend::Sqlite($j) => $body,
            #[cfg(feature = "postgres")]
            Backend::Postgres($j) => $body,
        }
    };
}

impl Journal {
    /// Opens (or creates) the SQLite journal in `dir`, taking the directory's lock. A new
    /// journal records `limits` as the tier limits it will apply for ever; an existing one keeps
    /// its own.
    pub fn open(dir: &Path, limits: TierLimits) -> Result<Journal, JournalError> {
        Ok(Journal {
            backend: Backend::Sqlite(SqliteJournal::open(dir, limits)?),
        })
    }

    /// Opens (or creates) the journal at `location`. On PostgreSQL the schema is created or
    /// migrated first; the journal may read, and it writes only once [`Journal::fence`] has
    /// given it the epoch of a lease it holds.
    pub fn open_at(
        location: &JournalLocation,
        limits: TierLimits,
    ) -> Result<Journal, JournalError> {
        match location {
            JournalLocation::Sqlite(dir) => Journal::open(dir, limits),
            #[cfg(feature = "postgres")]
            JournalLocation::Postgres(db) => Ok(Journal {
                backend: Backend::Postgres(PgJournal::open(db.clone(), limits)?),
            }),
        }
    }

    /// Opens a journal for reading only (verify, reports, the rooms that follow it), while a
    /// server may be writing it.
    pub fn open_read_only(location: &JournalLocation) -> Result<Journal, JournalError> {
        match location {
            JournalLocation::Sqlite(dir) => Ok(Journal {
                backend: Backend::Sqlite(crate::sqlite::open_read_only(dir)?),
            }),
            #[cfg(feature = "postgres")]
            JournalLocation::Postgres(db) => Ok(Journal {
                backend: Backend::Postgres(PgJournal::open_read_only(db.clone())?),
            }),
        }
    }

    pub fn limits(&self) -> TierLimits {
        each!(self, j => j.limits())
    }

    /// The last committed batch, as this handle knows it.
    pub fn seq(&self) -> u64 {
        each!(self, j => j.seq())
    }

    /// Rebuilds the ledger: the newest complete snapshot, then every batch after it through
    /// the same `Ledger::apply`, checking that each gives the results the journal recorded.
    ///
    /// The ledger keeps what `retention` says in memory; `index` is the index of past
    /// transfers that replay reads transfers gone from memory back through (`None` only with
    /// [`crate::Retention::ALL`]).
    pub fn recover(
        &mut self,
        retention: crate::Retention,
        index: Option<&mut crate::PastIndex>,
    ) -> Result<Recovered, JournalError> {
        each!(mut self, j => j.recover(retention, index))
    }

    /// Reads the batches after `after` in order, checking the hash chain on the way.
    pub fn for_each_batch_after(
        &self,
        after: u64,
        f: impl FnMut(StoredBatch) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        each!(self, j => j.for_each_batch_after(after, f))
    }

    /// Up to `max` batches after `after` (whose hash is `prev_hash`), the chain checked: for a
    /// standby following the journal.
    #[cfg(feature = "postgres")]
    pub fn batches_after(
        &self,
        after: u64,
        prev_hash: [u8; 32],
        max: u32,
    ) -> Result<Vec<StoredBatch>, JournalError> {
        match &self.backend {
            Backend::Postgres(j) => j.batches_after(after, prev_hash, max),
            // One process owns a SQLite file (its lock says so): there is no one to follow.
            Backend::Sqlite(_) => Err(JournalError::Io(
                "only a journal on PostgreSQL can be followed by a standby".into(),
            )),
        }
    }

    /// Writes `batches` and their query-table rows in one transaction, durably.
    pub fn commit(&mut self, batches: &[CommitBatch]) -> Result<(), JournalError> {
        each!(mut self, j => j.commit(batches))
    }

    /// How long the last write of changed accounts took (the engine spaces them by it).
    pub fn accounts_write_took(&self) -> Duration {
        each!(self, j => j.accounts_write_took())
    }

    pub fn write_accounts(&mut self, accounts: &AccountChanges) -> Result<(), JournalError> {
        each!(mut self, j => j.write_accounts(accounts))
    }

    pub fn write_snapshot_chunk(
        &mut self,
        seq: u64,
        chunk: u32,
        data: &[u8],
    ) -> Result<(), JournalError> {
        each!(mut self, j => j.write_snapshot_chunk(seq, chunk, data))
    }

    pub fn finish_snapshot(&mut self, info: &SnapshotInfo) -> Result<(), JournalError> {
        each!(mut self, j => j.finish_snapshot(info))
    }

    /// From now on every write checks, in its own transaction, that the lease is still at
    /// `epoch`; and the journal continues after batch `seq` with hash `hash` (a standby that
    /// took over has replayed up to there). SQLite needs no fence: the data directory's lock
    /// already admits one writer.
    pub fn fence(&mut self, epoch: u64, seq: u64, hash: [u8; 32]) {
        #[cfg(feature = "postgres")]
        if let Backend::Postgres(j) = &mut self.backend {
            j.fence(epoch, seq, hash);
        }
        #[cfg(not(feature = "postgres"))]
        let _ = (epoch, seq, hash);
    }

    /// On PostgreSQL: the longest the server lets a write transaction of this node wait on it
    /// (see `PgJournal::limit_write_hold`); SQLite needs nothing of the kind.
    pub fn limit_write_hold(&mut self, hold: Duration) {
        #[cfg(feature = "postgres")]
        if let Backend::Postgres(j) = &mut self.backend {
            j.limit_write_hold(hold);
        }
        #[cfg(not(feature = "postgres"))]
        let _ = hold;
    }

    /// On PostgreSQL: a node that stopped uncleanly left the accounts table behind the
    /// journal, and the new writer must rewrite it (SQLite's recovery does so itself).
    pub fn accounts_behind(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            Backend::Postgres(j) => j.accounts_behind(),
        }
    }

    /// The anchor this journal is kept against: the head file beside it on SQLite, the lease
    /// row on PostgreSQL; `None` before one was recorded.
    pub fn anchor(&self) -> Result<Option<Anchor>, JournalError> {
        each!(self, j => j.anchor())
    }

    /// Checks the journal against `anchor` (its own or one a user kept): refused when the
    /// journal ends before the anchor's batch or has another hash there.
    pub fn check_anchor(&self, anchor: &Anchor) -> Result<(), JournalError> {
        each!(self, j => anchor::check(anchor, j.seq(), |seq| j.hash_of(seq)))
    }

    /// The hash of batch `seq` (the genesis hash for 0).
    pub fn hash_of(&self, seq: u64) -> Result<[u8; 32], JournalError> {
        each!(self, j => j.hash_of(seq))
    }

    /// Moves the anchor to this journal's last batch. On PostgreSQL only the fenced writer may.
    pub fn write_anchor(&self) -> Result<(), JournalError> {
        each!(self, j => j.write_anchor())
    }

    pub fn is_postgres(&self) -> bool {
        !matches!(self.backend, Backend::Sqlite(_))
    }
}

impl crate::recall::BatchSource for Journal {
    fn last_seq(&self) -> Result<u64, JournalError> {
        each!(self, j => j.last_seq())
    }

    fn first_timestamp(&self, seq: u64) -> Result<Option<u64>, JournalError> {
        each!(self, j => j.first_timestamp(seq))
    }

    fn read_batch(&self, seq: u64) -> Result<Option<crate::recall::BatchCommands>, JournalError> {
        each!(self, j => j.read_batch(seq))
    }
}
