//! The PostgreSQL schema, as versioned migrations applied at start.
//!
//! Same records as the SQLite file (batches, snapshots, query tables), plus the lease that
//! admits one writer. Each migration runs in its own transaction under an advisory lock, so
//! two nodes starting together cannot both apply it; a database migrated by a newer Suanpan is
//! refused before anything is read or written.

use suanpan_store::postgres::Object;

use crate::JournalError;

/// (version, what it does, SQL). Append only: a released migration never changes.
const MIGRATIONS: suanpan_store::postgres::Migrations = &[(
    1,
    "journal, snapshots, query tables, lease",
    r#"
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per committed batch: its commands and results, chained by hash.
CREATE TABLE batches (
    seq             bigint  PRIMARY KEY,
    accounting_date text    NOT NULL,
    first_timestamp bigint  NOT NULL,
    last_timestamp  bigint  NOT NULL,
    commands        integer NOT NULL,
    body            bytea   NOT NULL,
    results         bytea   NOT NULL,
    hash            bytea   NOT NULL
);

CREATE TABLE snapshots (
    seq            bigint  PRIMARY KEY,
    last_timestamp bigint  NOT NULL,
    state_hash     bytea   NOT NULL,
    bytes          bigint  NOT NULL,
    chunks         integer NOT NULL,
    complete       boolean NOT NULL
);

CREATE TABLE snapshot_chunks (
    seq   bigint  NOT NULL,
    chunk integer NOT NULL,
    data  bytea   NOT NULL,
    PRIMARY KEY (seq, chunk)
);

-- Query tables. Ids are decimal text (they are 128-bit); amounts are exact numerics of minor
-- units.
CREATE TABLE accounts (
    seq             bigint  PRIMARY KEY,  -- creation order, from 1
    id              text    NOT NULL UNIQUE,
    currency        text    NOT NULL,
    subject_code    text    NOT NULL,
    owner           bigint  NOT NULL,
    tier            text    NOT NULL,
    bound_account   text,
    flags           integer NOT NULL,
    status          text    NOT NULL,
    debits_posted   numeric(39, 0) NOT NULL,
    credits_posted  numeric(39, 0) NOT NULL,
    debits_pending  numeric(39, 0) NOT NULL,
    credits_pending numeric(39, 0) NOT NULL,
    "timestamp"     bigint  NOT NULL
);

-- Committed transfers, one row per batch holding them as a JSON array (as in the SQLite
-- file); read them through the `transfers` view.
CREATE TABLE transfers_by_batch (
    batch bigint PRIMARY KEY,
    rows  text   NOT NULL
);

CREATE VIEW transfers AS
    SELECT (t.value ->> 0)::bigint AS "timestamp",
           t.value ->> 1  AS id,
           t.value ->> 2  AS debit_account_id,
           t.value ->> 3  AS credit_account_id,
           (t.value ->> 4)::numeric AS amount,
           t.value ->> 5  AS currency,
           (t.value ->> 6)::integer AS code,
           (t.value ->> 7)::integer AS flags,
           t.value ->> 8  AS pending_id,
           (t.value ->> 9)::bigint AS timeout_ms,
           t.value ->> 10 AS reference,
           t.value ->> 11 AS accounting_date,
           b.batch        AS batch
    FROM transfers_by_batch AS b, jsonb_array_elements(b.rows::jsonb) AS t(value);

CREATE TABLE pending_transfers (
    id          text PRIMARY KEY,
    status      text NOT NULL,  -- pending, posted, voided, expired
    expires_at  bigint,         -- engine time in ns; NULL: never
    resolved_by text            -- the post or void transfer
);

CREATE VIEW account_balances AS
    SELECT id, currency, subject_code, status,
           credits_posted - debits_posted AS credit_balance,
           debits_posted - credits_posted AS debit_balance,
           debits_pending, credits_pending
    FROM accounts;

-- The journal's large values compress with lz4 where the server has it: PostgreSQL's default
-- (pglz) took two thirds of the backend's time writing a group of batches.
DO $$
BEGIN
    ALTER TABLE batches ALTER COLUMN body SET COMPRESSION lz4,
                        ALTER COLUMN results SET COMPRESSION lz4;
    ALTER TABLE transfers_by_batch ALTER COLUMN rows SET COMPRESSION lz4;
    ALTER TABLE snapshot_chunks ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN others THEN
    RAISE NOTICE 'lz4 compression is not available; keeping the default';
END
$$;

-- The writer's lease. `epoch` grows by one at every takeover; every journal write checks it
-- in its own transaction (suanpan_fence), so a node that lost the lease cannot write again.
CREATE TABLE lease (
    id         integer     PRIMARY KEY CHECK (id = 1),
    holder     text        NOT NULL,
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO lease VALUES (1, '', 0, 'epoch');

-- Raises SQLSTATE SP001 unless the lease is still at epoch `e`. The share lock makes a takeover
-- (an UPDATE of the row) wait for a write in flight, and that write fail once it has happened.
CREATE FUNCTION suanpan_fence(e bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM lease WHERE id = 1 AND epoch = e FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'fenced: the lease has moved past epoch %', e USING ERRCODE = 'SP001';
    END IF;
END
$$;
"#,
), (
    2,
    "the open pending transfers' index",
    "CREATE INDEX IF NOT EXISTS pending_open ON pending_transfers (id) WHERE status = 'pending';",
), (
    3,
    "the journal's head anchored in the lease row",
    // Moved forward by the leader's lease renewals (never back, unless a user accepts a
    // journal behind it), so deleting the last batches leaves the row naming them.
    "ALTER TABLE lease ADD COLUMN head_seq bigint NOT NULL DEFAULT 0,
                      ADD COLUMN head_hash bytea;",
), (
    4,
    "transfers read from the batch bodies of the second form",
    crate::view::POSTGRES_TRANSFERS,
)];

/// The newest schema this Suanpan knows.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Applies the migrations the database lacks; refuses a database from a newer Suanpan. The
/// journal's are recorded in `schema_migrations` (the rooms' in tables of their own).
pub(crate) async fn migrate(client: &mut Object) -> Result<(), JournalError> {
    suanpan_store::postgres::migrate(client, "schema_migrations", MIGRATIONS)
        .await
        .map_err(JournalError::from)
}
