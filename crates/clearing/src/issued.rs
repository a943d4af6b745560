//! Statements as the server issues them to participants: written as files into the data
//! directory, and each recorded in the room's store (batch, participant, lines, SHA-256). The
//! record is the truth; the files are a cache. A node that has no file for a recorded statement
//! (the node that took the writer's lease over, a directory restored from a backup) writes the
//! batch's statements again from the journal and hands one out only if it is the statement
//! recorded, byte for byte.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use suanpan_journal::JournalLocation;

use crate::store::{self, Store};
use crate::{
    clear_batch_at, read_statement, write_statements, ClearingError, FeeSchedule, Registry,
    StatementTrailer,
};

/// Where the server keeps statement files, under the data directory.
pub const STATEMENTS_DIR: &str = "clearing/statements";

pub fn statements_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(STATEMENTS_DIR)
}

/// (batch, participant) of a statement file name, `statement-BBBBBBBB-PPPP.csv`.
pub fn parse_statement_file_name(name: &str) -> Option<(u64, u16)> {
    let rest = name.strip_prefix("statement-")?.strip_suffix(".csv")?;
    let (batch, participant) = rest.split_once('-')?;
    Some((batch.parse().ok()?, participant.parse().ok()?))
}

/// Writes every participant's statement of closed batch `batch` and records each. Writing a
/// batch again gives the same statements (a different one is refused as corrupt).
pub fn issue_statements(
    store: &Store,
    journal: &JournalLocation,
    data_dir: &Path,
    batch: u64,
) -> Result<Vec<StatementTrailer>, ClearingError> {
    let trailers = write_batch(store, journal, data_dir, batch)?;
    let recorded = trailers
        .iter()
        .map(|t| Ok((t.clone(), store::file_bytes(t)?)))
        .collect::<Result<Vec<_>, ClearingError>>()?;
    store.write_blocking(move |c| {
        for (t, bytes) in &recorded {
            store::record_statement(c, batch, t, *bytes)?;
        }
        Ok::<_, ClearingError>(())
    })?;
    Ok(trailers)
}

fn write_batch(
    store: &Store,
    journal: &JournalLocation,
    data_dir: &Path,
    batch: u64,
) -> Result<Vec<StatementTrailer>, ClearingError> {
    let registry = Registry::load(store)?;
    let cleared = clear_batch_at(journal, data_dir, batch, FeeSchedule::default())?;
    write_statements(&statements_dir(data_dir), &cleared, &registry, &|_, _| {})
}

/// The statement issued to `participant` for `batch`, checked against its record. `writing`
/// is held while a missing file is written again, so that two readers do not both write it.
pub fn issued_statement(
    store: &Store,
    journal: &JournalLocation,
    data_dir: &Path,
    batch: u64,
    participant: u16,
    writing: &Mutex<()>,
) -> Result<Vec<u8>, ClearingError> {
    let Some(record) = store.read(|c| store::statement(c, batch, participant))? else {
        return Err(ClearingError::StatementNotFound { batch, participant });
    };
    let dir = statements_dir(data_dir);
    let cached = |dir: &Path| match read_statement(dir, batch, participant) {
        Ok((bytes, trailer)) if trailer.sha256_hex == record.sha256_hex => Some(bytes),
        _ => None,
    };
    if let Some(bytes) = cached(&dir) {
        return Ok(bytes);
    }
    let _one_writer = crate::statement::lock(writing);
    if let Some(bytes) = cached(&dir) {
        return Ok(bytes);
    }
    write_batch(store, journal, data_dir, batch)?;
    cached(&dir).ok_or_else(|| {
        ClearingError::Corrupt(format!(
            "participant {participant}'s statement of batch {batch}, written again from the journal, is not the one issued (SHA-256 {})",
            record.sha256_hex
        ))
    })
}
