//! The journal: the durable, ordered, hash-chained log of committed batches, the snapshots of
//! the ledger's state, and the query tables a user reads the books from.
//!
//! The journal never decides anything about money: it stores what the engine applied and,
//! on recovery, feeds it back through the same [`suanpan_ledger::Ledger::apply`].

mod anchor;
mod batch;
mod checkpoint;
#[cfg(feature = "fault-injection")]
mod fault_injection;
mod history;
mod journal;
mod layout;
mod past;
mod pending;
mod period;
#[cfg(feature = "postgres")]
pub mod postgres;
mod recall;
mod record;
mod rows;
mod schema;
mod sqlite;
mod verify;
mod view;

use std::fmt;

pub use anchor::{
    check as check_against_anchor, read_head_file, write_head_file, Anchor, Head, HEAD_FILE,
};
pub use batch::{
    AccountBalances, AccountChanges, AppliedBatch, CommitBatch, Recovered, Resolved, SnapshotInfo,
    StoredBatch,
};
pub use checkpoint::Checkpointer;
pub use history::{HistoryReader, HistoryWriter, PostedAt, TransferRow, HISTORY_FILE};
pub use journal::{Journal, JournalLocation};
pub use past::{PastIndex, PastIndexSize, PastSlot, PAST_DIR};
pub use pending::{open_pending, OpenPending, OPEN_PENDING_PAGE_MAX};
pub use period::{
    archive, period_file, period_holding, recorded_periods, verify_period, Period, PeriodReport,
    PERIODS_DIR,
};
#[cfg(feature = "postgres")]
pub use postgres::PgDb;
pub use recall::{apply_segment, BatchSource, History, Recaller, Retention};
pub use record::{
    apply_batch, chain_hash, decode_batch, decode_results, encode_batch, GENESIS_HASH,
};
pub use rows::{resolutions, transfers_json};
pub use schema::SCHEMA_VERSION;
pub use sqlite::{db_path, read_connection, DB_FILE};
pub use verify::{verify, verify_at, VerifyReport};

#[derive(Debug)]
pub enum JournalError {
    Sqlite(rusqlite::Error),
    Io(String),
    /// The file was written by a newer Suanpan; running on it could misread the books.
    NewerSchema(i64),
    /// The stored history or a query table disagrees with itself: one precise sentence.
    Corrupt(String),
    #[cfg(feature = "postgres")]
    Postgres(tokio_postgres::Error),
    /// This node may not write: it does not hold the writer's lease, or lost it.
    Fenced(String),
    /// The journal ends before its anchor, or its batch there has another hash: its last
    /// batches were cut off (see `anchor.rs`).
    BehindAnchor(String),
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Sqlite(e) => write!(f, "journal database error: {e}"),
            JournalError::Io(e) => f.write_str(e),
            JournalError::NewerSchema(v) => write!(
                f,
                "the journal has schema version {v}, newer than this Suanpan's {SCHEMA_VERSION}; upgrade Suanpan"
            ),
            JournalError::Corrupt(e) => write!(f, "journal check failed: {e}"),
            #[cfg(feature = "postgres")]
            JournalError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "PostgreSQL error: {} ({})", db.message(), db.code().code()),
                // The driver's own text is generic ("error performing TLS handshake"); the
                // cause says which certificate or socket failed.
                None => match std::error::Error::source(e) {
                    Some(cause) => write!(f, "PostgreSQL error: {e}: {cause}"),
                    None => write!(f, "PostgreSQL error: {e}"),
                },
            },
            JournalError::Fenced(e) => write!(f, "not the writer: {e}"),
            JournalError::BehindAnchor(e) => write!(f, "journal behind its anchor: {e}"),
        }
    }
}

impl std::error::Error for JournalError {}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> JournalError {
        JournalError::Sqlite(e)
    }
}

#[cfg(feature = "postgres")]
impl From<tokio_postgres::Error> for JournalError {
    fn from(e: tokio_postgres::Error) -> JournalError {
        JournalError::Postgres(e)
    }
}

impl From<rusqlite::types::FromSqlError> for JournalError {
    fn from(e: rusqlite::types::FromSqlError) -> JournalError {
        JournalError::Corrupt(format!("a stored value has the wrong type: {e}"))
    }
}
