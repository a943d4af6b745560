//! The SQLite file's tables. The journal tables (`batches`, `snapshots`, `snapshot_chunks`) are
//! the truth; the query tables (`accounts`, `transfers`, `pending_transfers`) are kept in the
//! same transaction so that a user can read the books with the `sqlite3` tool, and `verify`
//! checks them against a replay of the journal.

/// Bumped whenever a table changes shape; a file written by a newer Suanpan is refused.
/// Version 2: batch bodies in the second form, read by the new `transfers` view.
/// Version 3: the `periods` table; the batches it names live in files of their own.
pub const SCHEMA_VERSION: i64 = 3;

/// The tables a batch lives in, the same in the journal's file and in an archived period's
/// (period.rs), so that the `transfers` view reads either.
pub const BATCH_TABLES: &str = "
-- One row per committed batch: its commands and results, chained by hash.
CREATE TABLE IF NOT EXISTS batches (
    seq             INTEGER PRIMARY KEY,
    accounting_date TEXT    NOT NULL,
    first_timestamp INTEGER NOT NULL,
    last_timestamp  INTEGER NOT NULL,
    commands        INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    results         BLOB    NOT NULL,
    hash            BLOB    NOT NULL
) STRICT;

-- Transfers of batches written before the second form of the batch body (layout.rs), one
-- row per batch holding them as a JSON array. Newer batches hold their transfers in their
-- body; the `transfers` view (view.rs, made at open) reads both.
CREATE TABLE IF NOT EXISTS transfers_by_batch (
    batch INTEGER PRIMARY KEY,
    rows  TEXT    NOT NULL
) STRICT;
";

pub const CREATE: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value ANY NOT NULL
) STRICT;

-- Accounting periods moved out of this file, whole, into files of their own under
-- `periods/` (period.rs). The head hash here is what proves such a file unchanged.
CREATE TABLE IF NOT EXISTS periods (
    period    TEXT    PRIMARY KEY,  -- YYYY-MM
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    prev_hash BLOB    NOT NULL,     -- the hash of the batch before first_seq
    head_hash BLOB    NOT NULL,     -- the hash of batch last_seq
    transfers INTEGER NOT NULL,
    bytes     INTEGER NOT NULL
) STRICT;

-- The ledger's state after batch `seq`, in chunks; `complete` is set once every chunk is in.
CREATE TABLE IF NOT EXISTS snapshots (
    seq            INTEGER PRIMARY KEY,
    last_timestamp INTEGER NOT NULL,
    state_hash     BLOB    NOT NULL,
    bytes          INTEGER NOT NULL,
    chunks         INTEGER NOT NULL,
    complete       INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS snapshot_chunks (
    seq   INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    data  BLOB    NOT NULL,
    PRIMARY KEY (seq, chunk)
) STRICT;

-- Query tables. Ids are decimal text (they are 128-bit); amounts are integers of minor units
-- (a total beyond 2^63-1 would be stored as decimal text).
CREATE TABLE IF NOT EXISTS accounts (
    seq             INTEGER PRIMARY KEY,  -- creation order, from 1
    id              TEXT    NOT NULL UNIQUE,
    currency        TEXT    NOT NULL,
    subject_code    TEXT    NOT NULL,
    owner           INTEGER NOT NULL,
    tier            TEXT    NOT NULL,
    bound_account   TEXT,
    flags           INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    debits_posted   ANY     NOT NULL,
    credits_posted  ANY     NOT NULL,
    debits_pending  ANY     NOT NULL,
    credits_pending ANY     NOT NULL,
    timestamp       INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS pending_transfers (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL,  -- pending, posted, voided, expired
    expires_at  INTEGER,        -- engine time in ns; NULL: never
    resolved_by TEXT            -- the post or void transfer
) STRICT;
-- The open ones, for the console's list (a partial index: it holds only what is open).
CREATE INDEX IF NOT EXISTS pending_open ON pending_transfers (id) WHERE status = 'pending';

CREATE VIEW IF NOT EXISTS account_balances AS
    SELECT id, currency, subject_code, status,
           credits_posted - debits_posted AS credit_balance,
           debits_posted - credits_posted AS debit_balance,
           debits_pending, credits_pending
    FROM accounts;
";
