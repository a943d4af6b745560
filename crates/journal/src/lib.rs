//! The journal: the durable, ordered, hash-chained log of committed batches, the snapshots of
//! the ledger's state, and the query tables a user reads the books from.
//!
//! The journal never decides anything about money: it stores what the engine applied and,
//! on recovery, feeds it back through the same [`suanpan_ledger::Ledger::apply`].

mod checkpoint;
mod history;
mod record;
mod rows;
mod schema;
mod sqlite;
mod verify;

use std::fmt;

pub use checkpoint::Checkpointer;
pub use history::{HistoryReader, HistoryWriter, PostedAt, TransferRow, HISTORY_FILE};
pub use record::{apply_batch, chain_hash, decode_batch, encode_batch, GENESIS_HASH};
pub use rows::{resolutions, transfers_json};
pub use schema::SCHEMA_VERSION;
pub use sqlite::{
    db_path, open_read_only, read_connection, AccountBalances, AccountChanges, AppliedBatch,
    CommitBatch, Journal, Recovered, Resolved, SnapshotInfo, StoredBatch, DB_FILE,
};
pub use verify::{verify, VerifyReport};

#[derive(Debug)]
pub enum JournalError {
    Sqlite(rusqlite::Error),
    Io(String),
    /// The file was written by a newer Suanpan; running on it could misread the books.
    NewerSchema(i64),
    /// The stored history or a query table disagrees with itself: one precise sentence.
    Corrupt(String),
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
        }
    }
}

impl std::error::Error for JournalError {}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> JournalError {
        JournalError::Sqlite(e)
    }
}

impl From<rusqlite::types::FromSqlError> for JournalError {
    fn from(e: rusqlite::types::FromSqlError) -> JournalError {
        JournalError::Corrupt(format!("a stored value has the wrong type: {e}"))
    }
}
