//! The clearing room's state through the storage home: the participant registry (what the
//! ledger does not hold: code, name, kind, status, the cap and its revision) and the index of
//! the statements written (batch, participant, lines, SHA-256 of the body). On the embedded
//! default it is `clearing.db`; with the journal on PostgreSQL, the `clearing_*` tables of
//! that database, so the node that takes the writer's lease over knows every participant and
//! every statement the old leader wrote. Every statement is written once for both
//! (`suanpan_store::sql`).
//!
//! The statement files themselves are a cache: a statement is a function of the journal and
//! the registry, so a node that lacks a file writes the batch's statements again and checks
//! each against the SHA-256 recorded here before handing it out. The cut index
//! (`clearing/cuts.csv`) is a cache too and stays in each node's directory.

use std::path::Path;

use suanpan_engine::EngineError;
use suanpan_store::args;
use suanpan_store::room::{Home, RoomSchema, RoomStore};
use suanpan_store::sql::{Row, Sql};
use suanpan_store::{Schema, StoreError};

use crate::participant::{parse_line, Participant, ParticipantKind, ParticipantStatus};
use crate::statement::{read_statement_trailer, StatementTrailer};
use crate::{ClearingError, PARTICIPANTS_FILE};

pub const SCHEMA: RoomSchema = RoomSchema {
    room: "clearing",
    sqlite: Schema {
        file: "clearing.db",
        version: 1,
        ddl: "
CREATE TABLE IF NOT EXISTS clearing_participants (
    number             INTEGER PRIMARY KEY CHECK (number BETWEEN 1 AND 65535),
    code               TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    net_debit_cap_fen  INTEGER NOT NULL CHECK (net_debit_cap_fen >= 0),
    cap_revision       INTEGER NOT NULL CHECK (cap_revision >= 0)
) STRICT;
CREATE TABLE IF NOT EXISTS clearing_statements (
    batch        INTEGER NOT NULL,
    participant  INTEGER NOT NULL,
    lines        INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    PRIMARY KEY (batch, participant)
) STRICT;
",
        migrations: &[],
        readers: 2,
    },
    postgres: &[(
        1,
        "participants and the index of statements written",
        "
CREATE TABLE clearing_participants (
    number             bigint  PRIMARY KEY CHECK (number BETWEEN 1 AND 65535),
    code               text    NOT NULL UNIQUE,
    name               text    NOT NULL,
    kind               text    NOT NULL,
    status             text    NOT NULL,
    net_debit_cap_fen  bigint  NOT NULL CHECK (net_debit_cap_fen >= 0),
    cap_revision       bigint  NOT NULL CHECK (cap_revision >= 0)
);
CREATE TABLE clearing_statements (
    batch        bigint  NOT NULL,
    participant  bigint  NOT NULL,
    lines        bigint  NOT NULL,
    bytes        bigint  NOT NULL,
    sha256       text    NOT NULL,
    PRIMARY KEY (batch, participant)
);
",
    )],
};

/// The room's store, in whichever home the node keeps its rooms.
pub type Store = RoomStore;

impl From<StoreError> for ClearingError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Overloaded => ClearingError::Engine(EngineError::Overloaded),
            // Another node holds the writer's lease: this one is no longer the leader.
            StoreError::Fenced(_) => ClearingError::Engine(EngineError::Standby),
            StoreError::Failed(why) => ClearingError::Io(why),
        }
    }
}

/// Opens the room's store in `home`. On the embedded default, a data directory written by an
/// older Suanpan (the registry in `clearing/participants.csv`, statements only as files) is
/// taken in once: the file's participants and the files' trailers become rows, and the CSV is
/// renamed `participants.csv.imported` so that nothing reads it again.
pub fn open(home: &Home, data_dir: &Path) -> Result<Store, ClearingError> {
    let store = RoomStore::open(home, &SCHEMA)?;
    if matches!(home, Home::Sqlite(_)) {
        import_files(&store, data_dir)?;
    }
    Ok(store)
}

fn import_files(store: &Store, data_dir: &Path) -> Result<(), ClearingError> {
    let csv = data_dir.join(PARTICIPANTS_FILE);
    if csv.is_file() {
        let text = std::fs::read_to_string(&csv)
            .map_err(|e| ClearingError::Io(format!("cannot read {}: {e}", csv.display())))?;
        let mut participants = Vec::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            let p = parse_line(line).ok_or_else(|| {
                ClearingError::ParticipantInvalid(format!(
                    "{} line {}: not a participant: {line:?}",
                    csv.display(),
                    i + 1
                ))
            })?;
            p.validate()?;
            participants.push(p);
        }
        store.write_blocking(move |c| {
            for p in &participants {
                save_participant(c, p)?;
            }
            Ok::<_, ClearingError>(())
        })?;
        let done = csv.with_extension("csv.imported");
        std::fs::rename(&csv, &done)
            .map_err(|e| ClearingError::Io(format!("cannot rename {}: {e}", csv.display())))?;
    }
    let dir = data_dir.join(crate::STATEMENTS_DIR);
    let indexed = store.read(|c| {
        c.query_one("SELECT COUNT(*) FROM clearing_statements", args![])?
            .u64(0)
            .map_err(ClearingError::from)
    })?;
    if indexed > 0 || !dir.is_dir() {
        return Ok(());
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| ClearingError::Io(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((batch, _)) = name.to_str().and_then(crate::parse_statement_file_name) else {
            continue;
        };
        let trailer = read_statement_trailer(&entry.path())?;
        found.push((batch, file_bytes(&trailer)?, trailer));
    }
    store.write_blocking(move |c| {
        for (batch, bytes, trailer) in &found {
            record_statement(c, *batch, trailer, *bytes)?;
        }
        Ok::<_, ClearingError>(())
    })
}

/// The size of a statement's file, as the listing shows it.
pub(crate) fn file_bytes(t: &StatementTrailer) -> Result<u64, ClearingError> {
    std::fs::metadata(&t.path)
        .map(|m| m.len())
        .map_err(|e| ClearingError::Io(format!("cannot read {}: {e}", t.path.display())))
}

fn int(value: u64, what: &str) -> Result<i64, ClearingError> {
    i64::try_from(value)
        .map_err(|_| ClearingError::ParticipantInvalid(format!("{what} {value} is too large")))
}

/// Writes a participant's row as it is now (one row per participant, rewritten on a change).
pub(crate) fn save_participant(c: &dyn Sql, p: &Participant) -> Result<(), ClearingError> {
    let cap = int(p.net_debit_cap_fen, "the net debit cap")?;
    c.execute(
        "INSERT INTO clearing_participants
             (number, code, name, kind, status, net_debit_cap_fen, cap_revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (number) DO UPDATE SET status = excluded.status,
             net_debit_cap_fen = excluded.net_debit_cap_fen,
             cap_revision = excluded.cap_revision",
        args![
            p.number,
            &p.code,
            &p.name,
            p.kind.as_str(),
            p.status.as_str(),
            cap,
            p.cap_revision
        ],
    )?;
    Ok(())
}

pub(crate) fn load_participants(c: &dyn Sql) -> Result<Vec<Participant>, ClearingError> {
    let rows = c.query(
        "SELECT number, code, name, kind, status, net_debit_cap_fen, cap_revision
         FROM clearing_participants ORDER BY number",
        args![],
    )?;
    rows.iter().map(participant_of).collect()
}

fn participant_of(row: &Row) -> Result<Participant, ClearingError> {
    let bad = |what: &str| ClearingError::Corrupt(format!("a stored participant's {what}"));
    let kind = row.str(3)?;
    let status = row.str(4)?;
    let p = Participant {
        number: u16::try_from(row.u64(0)?).map_err(|_| bad("number"))?,
        code: row.str(1)?,
        name: row.str(2)?,
        kind: ParticipantKind::parse(&kind).ok_or_else(|| bad("kind"))?,
        status: ParticipantStatus::parse(&status).ok_or_else(|| bad("status"))?,
        net_debit_cap_fen: row.u64(5)?,
        cap_revision: u32::try_from(row.u64(6)?).map_err(|_| bad("cap revision"))?,
    };
    p.validate()?;
    Ok(p)
}

/// Records a statement written: a statement of the same batch and participant written again
/// must be the same (the journal and the registry decide it), and a different one is refused.
pub fn record_statement(
    c: &dyn Sql,
    batch: u64,
    t: &StatementTrailer,
    bytes: u64,
) -> Result<(), ClearingError> {
    let (b, lines) = (int(batch, "the batch")?, int(t.lines, "the line count")?);
    let bytes = int(bytes, "the file's size")?;
    let known = c.query_row(
        "SELECT sha256 FROM clearing_statements WHERE batch = ?1 AND participant = ?2",
        args![b, t.participant],
    )?;
    match known {
        Some(row) if row.str(0)? == t.sha256_hex => Ok(()),
        Some(row) => Err(ClearingError::Corrupt(format!(
            "participant {}'s statement of batch {batch} was written before with SHA-256 {} and is now {}",
            t.participant,
            row.str(0)?,
            t.sha256_hex
        ))),
        None => {
            c.execute(
                "INSERT INTO clearing_statements (batch, participant, lines, bytes, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                args![b, t.participant, lines, bytes, &t.sha256_hex],
            )?;
            Ok(())
        }
    }
}

/// A statement as the index knows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StatementRecord {
    pub batch: u64,
    pub participant: u16,
    pub lines: u64,
    /// The file's size.
    pub bytes: u64,
    pub sha256_hex: String,
}

fn record_of(row: &Row) -> Result<StatementRecord, ClearingError> {
    Ok(StatementRecord {
        batch: row.u64(0)?,
        participant: u16::try_from(row.u64(1)?)
            .map_err(|_| ClearingError::Corrupt("a stored statement's participant".into()))?,
        lines: row.u64(2)?,
        bytes: row.u64(3)?,
        sha256_hex: row.str(4)?,
    })
}

/// The statements written, newest batch first, of one participant or of all; at most `max`.
pub fn statements(
    c: &dyn Sql,
    participant: Option<u16>,
    max: usize,
) -> Result<Vec<StatementRecord>, ClearingError> {
    let max = int(max as u64, "the listing's size")?;
    let rows = match participant {
        Some(p) => c.query(
            "SELECT batch, participant, lines, bytes, sha256 FROM clearing_statements
             WHERE participant = ?1 ORDER BY batch DESC LIMIT ?2",
            args![p, max],
        )?,
        None => c.query(
            "SELECT batch, participant, lines, bytes, sha256 FROM clearing_statements
             ORDER BY batch DESC, participant LIMIT ?1",
            args![max],
        )?,
    };
    rows.iter().map(record_of).collect()
}

/// The statement of `participant` for `batch`, if one was written.
pub fn statement(
    c: &dyn Sql,
    batch: u64,
    participant: u16,
) -> Result<Option<StatementRecord>, ClearingError> {
    c.query_row(
        "SELECT batch, participant, lines, bytes, sha256 FROM clearing_statements
         WHERE batch = ?1 AND participant = ?2",
        args![int(batch, "the batch")?, participant],
    )?
    .as_ref()
    .map(record_of)
    .transpose()
}
