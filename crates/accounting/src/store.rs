//! The accounting room's books through the storage home: `accounting.db` in the data directory
//! on the embedded default, or the `accounting_*` tables beside the journal on PostgreSQL, so
//! the node that takes the writer's lease over continues the books, and a day-end, where the
//! old leader left them. The journal keeps exactly one writer (the engine); everything
//! accounting derives or is told (chart, rules, vouchers, ledgers, day-end step records,
//! suspense, audit) lives here. Every statement is written once for both
//! (`suanpan_store::sql`); money columns are `ANY` on SQLite (an integer, or decimal text
//! beyond 64 bits) and `numeric` on PostgreSQL.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use suanpan_ledger::{AccountingDate, Currency};
use suanpan_store::args;
use suanpan_store::exclusive::ExclusiveStore;
use suanpan_store::room::Home;
use suanpan_store::sql::{Param, Row, Sql};

use crate::chart::Side;
use crate::chart::{Category, Chart, Subject, DEFAULT_CHART};
use crate::rule::{parse_source, ExtraLine, PostingRule, RuleVersion, Rules, DEFAULT_RULES};
use crate::AccountingError;

pub const ACCOUNTING_DB_FILE: &str = "accounting.db";
/// 2: posting rules kept as versions, each in force after a journal batch. 3: the tables
/// named `accounting_*`, as on PostgreSQL, so one statement serves both; unmatched transfers
/// numbered per date.
pub const SCHEMA_VERSION: i64 = 3;

const SQLITE_DDL: &str = "
CREATE TABLE IF NOT EXISTS accounting_meta (
    key   TEXT PRIMARY KEY,
    value ANY NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_subjects (
    id       INTEGER PRIMARY KEY,
    code     TEXT    NOT NULL UNIQUE,
    name     TEXT    NOT NULL,
    category TEXT    NOT NULL,
    gl_only  INTEGER NOT NULL
) STRICT;

-- Every version of every posting rule, none overwritten. A version is in force for the journal
-- batches after effective_after (the journal's head when it was set) until a later version of
-- its code, so the same journal always gives the same vouchers, however late they are made.
-- debit / credit: 'debit_account', 'credit_account' or a subject code.
CREATE TABLE IF NOT EXISTS accounting_rule_versions (
    code            INTEGER NOT NULL,
    version         INTEGER NOT NULL,  -- 1, 2, 3, … per code
    effective_after INTEGER NOT NULL,  -- the last journal batch it does not apply to
    name            TEXT    NOT NULL,
    debit           TEXT    NOT NULL,
    credit          TEXT    NOT NULL,
    PRIMARY KEY (code, version)
) STRICT;

-- Lines of a split rule version beyond its main pair: a share of the amount on a GL-only subject.
CREATE TABLE IF NOT EXISTS accounting_rule_version_lines (
    code     INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    ordinal  INTEGER NOT NULL,
    side     TEXT    NOT NULL,  -- debit, credit
    subject  TEXT    NOT NULL,
    share_bp INTEGER NOT NULL,
    PRIMARY KEY (code, version, ordinal)
) STRICT;

-- The newest version of each code's rule: what transfers committed from now on get.
CREATE VIEW IF NOT EXISTS accounting_rules AS
    SELECT code, version, effective_after, name, debit, credit FROM accounting_rule_versions AS v
    WHERE version = (SELECT MAX(version) FROM accounting_rule_versions WHERE code = v.code);

-- The split lines of transfer vouchers made by such a rule (the main pair is packed in
-- accounting_voucher_batches): written with the voucher, so a later change of the rule changes nothing.
CREATE TABLE IF NOT EXISTS accounting_voucher_extra_lines (
    accounting_date TEXT    NOT NULL,
    number          INTEGER NOT NULL,
    ordinal         INTEGER NOT NULL,
    side            TEXT    NOT NULL,
    subject_id      INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    amount          INTEGER NOT NULL,
    PRIMARY KEY (accounting_date, number, ordinal)
) STRICT;

-- Ledger accounts in the order the journal opened them; idx is what vouchers refer to.
CREATE TABLE IF NOT EXISTS accounting_ledger_accounts (
    idx          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    currency     TEXT    NOT NULL,
    subject_code TEXT    NOT NULL,  -- as opened in the ledger
    subject_id   INTEGER NOT NULL   -- the leaf it books under (suspense if the chart lacks it)
) STRICT;

-- Pending transfers still holding money: a hold is not a movement, so it has no voucher.
CREATE TABLE IF NOT EXISTS accounting_holds (
    pending_id TEXT PRIMARY KEY,
    debit_idx  INTEGER NOT NULL,
    credit_idx INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    code       INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_dates (
    accounting_date TEXT PRIMARY KEY,
    first_batch     INTEGER NOT NULL,
    last_batch      INTEGER NOT NULL,
    transfers       INTEGER NOT NULL,
    vouchers        INTEGER NOT NULL,  -- transfer vouchers, numbered 1..=vouchers
    unmatched       INTEGER NOT NULL,
    manual_vouchers INTEGER NOT NULL   -- supplement, suspense and write-off vouchers
) STRICT;

-- Transfer vouchers of one journal batch and date, packed (voucher.rs): numbers
-- first_number .. first_number + count - 1.
CREATE TABLE IF NOT EXISTS accounting_voucher_batches (
    accounting_date TEXT    NOT NULL,
    batch           INTEGER NOT NULL,
    first_number    INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    PRIMARY KEY (accounting_date, batch)
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_unmatched_transfers (
    accounting_date TEXT    NOT NULL,
    transfer_id     TEXT    NOT NULL,
    batch           INTEGER NOT NULL,
    code            INTEGER NOT NULL,
    debit_idx       INTEGER NOT NULL,
    credit_idx      INTEGER NOT NULL,
    amount          INTEGER NOT NULL,
    ordinal         INTEGER NOT NULL,  -- 1, 2, 3, … per date, in journal order
    PRIMARY KEY (accounting_date, transfer_id)
) STRICT;

-- Vouchers not made from a transfer by rule: kind 'supplement', 'suspense', 'write_off'.
CREATE TABLE IF NOT EXISTS accounting_manual_vouchers (
    accounting_date TEXT    NOT NULL,
    number          INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    transfer_id     TEXT,
    debit_subject   INTEGER NOT NULL,
    credit_subject  INTEGER NOT NULL,
    debit_idx       INTEGER,
    credit_idx      INTEGER,
    currency        TEXT    NOT NULL,
    amount          ANY     NOT NULL,
    origin          TEXT    NOT NULL,
    PRIMARY KEY (accounting_date, number)
) STRICT;

-- Balances are debit-side (debits - credits): negative stands on the credit side.
CREATE TABLE IF NOT EXISTS accounting_general_ledger (
    accounting_date TEXT NOT NULL,
    subject_code    TEXT NOT NULL,
    currency        TEXT NOT NULL,
    opening         ANY  NOT NULL,
    debits          ANY  NOT NULL,
    credits         ANY  NOT NULL,
    closing         ANY  NOT NULL,
    PRIMARY KEY (accounting_date, subject_code, currency)
) STRICT;

-- One row per account that moved on the date; an account without a row kept its balance.
CREATE TABLE IF NOT EXISTS accounting_daily_balances (
    accounting_date TEXT    NOT NULL,
    account_idx     INTEGER NOT NULL,
    opening         ANY     NOT NULL,
    debits          ANY     NOT NULL,
    credits         ANY     NOT NULL,
    closing         ANY     NOT NULL,
    PRIMARY KEY (accounting_date, account_idx)
) STRICT;

-- Every account's balance at the last completed day-end.
CREATE TABLE IF NOT EXISTS accounting_account_balances (
    account_idx     INTEGER PRIMARY KEY,
    accounting_date TEXT NOT NULL,
    balance         ANY  NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_gl_checks (
    accounting_date    TEXT NOT NULL,
    subject_code       TEXT NOT NULL,
    currency           TEXT NOT NULL,
    gl_balance         ANY  NOT NULL,
    sub_ledger_balance ANY  NOT NULL,
    difference         ANY  NOT NULL,  -- sub-ledger minus general ledger
    PRIMARY KEY (accounting_date, subject_code, currency)
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_suspense_items (
    id               INTEGER PRIMARY KEY,
    accounting_date  TEXT    NOT NULL,
    subject_code     TEXT    NOT NULL,
    currency         TEXT    NOT NULL,
    amount           ANY     NOT NULL,  -- debit-side effect on the suspense subject
    origin           TEXT    NOT NULL,
    voucher_number   INTEGER NOT NULL,
    status           TEXT    NOT NULL,  -- open, written_off
    write_off_date   TEXT,
    write_off_number INTEGER,
    written_off_by   TEXT,
    note             TEXT
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_period_totals (
    period          TEXT NOT NULL,  -- month, quarter, half_year, year
    period_start    TEXT NOT NULL,
    period_end      TEXT NOT NULL,
    subject_code    TEXT NOT NULL,
    currency        TEXT NOT NULL,
    opening         ANY  NOT NULL,
    debits          ANY  NOT NULL,
    credits         ANY  NOT NULL,
    closing         ANY  NOT NULL,
    PRIMARY KEY (period, period_start, subject_code, currency)
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_day_end_steps (
    accounting_date TEXT    NOT NULL,
    step            TEXT    NOT NULL,
    ordinal         INTEGER NOT NULL,
    summary         TEXT    NOT NULL,
    PRIMARY KEY (accounting_date, step)
) STRICT;

-- How long each completed step took (a table of its own, so files made before it need no
-- migration: a step completed by an older Suanpan has no row).
CREATE TABLE IF NOT EXISTS accounting_day_end_step_times (
    accounting_date TEXT    NOT NULL,
    step            TEXT    NOT NULL,
    elapsed_ms      INTEGER NOT NULL,
    PRIMARY KEY (accounting_date, step)
) STRICT;

CREATE TABLE IF NOT EXISTS accounting_audit (
    id         INTEGER PRIMARY KEY,
    at_unix_ms INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL
) STRICT;

CREATE VIEW IF NOT EXISTS accounting_daily_account_balances AS
    SELECT d.accounting_date, a.id AS account_id, a.subject_code, a.currency,
           d.opening, d.debits, d.credits, d.closing
    FROM accounting_daily_balances AS d JOIN accounting_ledger_accounts AS a ON a.idx = d.account_idx;
";

#[cfg(feature = "postgres")]
const POSTGRES_DDL: &str = "
CREATE TABLE accounting_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE accounting_subjects (
    id       bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    code     text    NOT NULL UNIQUE,
    name     text    NOT NULL,
    category text    NOT NULL,
    gl_only  bigint  NOT NULL
);

-- Every version of every posting rule, none overwritten. A version is in force for the journal
-- batches after effective_after (the journal's head when it was set) until a later version of
-- its code, so the same journal always gives the same vouchers, however late they are made.
-- debit / credit: 'debit_account', 'credit_account' or a subject code.
CREATE TABLE accounting_rule_versions (
    code            bigint  NOT NULL,
    version         bigint  NOT NULL,  -- 1, 2, 3, … per code
    effective_after bigint  NOT NULL,  -- the last journal batch it does not apply to
    name            text    NOT NULL,
    debit           text    NOT NULL,
    credit          text    NOT NULL,
    PRIMARY KEY (code, version)
);

-- Lines of a split rule version beyond its main pair: a share of the amount on a GL-only subject.
CREATE TABLE accounting_rule_version_lines (
    code     bigint  NOT NULL,
    version  bigint  NOT NULL,
    ordinal  bigint  NOT NULL,
    side     text    NOT NULL,  -- debit, credit
    subject  text    NOT NULL,
    share_bp bigint  NOT NULL,
    PRIMARY KEY (code, version, ordinal)
);

-- The newest version of each code's rule: what transfers committed from now on get.
CREATE VIEW accounting_rules AS
    SELECT code, version, effective_after, name, debit, credit FROM accounting_rule_versions AS v
    WHERE version = (SELECT MAX(version) FROM accounting_rule_versions WHERE code = v.code);

-- The split lines of transfer vouchers made by such a rule (the main pair is packed in
-- accounting_voucher_batches): written with the voucher, so a later change of the rule changes nothing.
CREATE TABLE accounting_voucher_extra_lines (
    accounting_date text    NOT NULL,
    number          bigint  NOT NULL,
    ordinal         bigint  NOT NULL,
    side            text    NOT NULL,
    subject_id      bigint  NOT NULL,
    currency        text    NOT NULL,
    amount          bigint  NOT NULL,
    PRIMARY KEY (accounting_date, number, ordinal)
);

-- Ledger accounts in the order the journal opened them; idx is what vouchers refer to.
CREATE TABLE accounting_ledger_accounts (
    idx          bigint  PRIMARY KEY,
    id           text    NOT NULL UNIQUE,
    currency     text    NOT NULL,
    subject_code text    NOT NULL,  -- as opened in the ledger
    subject_id   bigint  NOT NULL   -- the leaf it books under (suspense if the chart lacks it)
);

-- Pending transfers still holding money: a hold is not a movement, so it has no voucher.
CREATE TABLE accounting_holds (
    pending_id text PRIMARY KEY,
    debit_idx  bigint  NOT NULL,
    credit_idx bigint  NOT NULL,
    amount     bigint  NOT NULL,
    code       bigint  NOT NULL
);

CREATE TABLE accounting_dates (
    accounting_date text PRIMARY KEY,
    first_batch     bigint  NOT NULL,
    last_batch      bigint  NOT NULL,
    transfers       bigint  NOT NULL,
    vouchers        bigint  NOT NULL,  -- transfer vouchers, numbered 1..=vouchers
    unmatched       bigint  NOT NULL,
    manual_vouchers bigint  NOT NULL   -- supplement, suspense and write-off vouchers
);

-- Transfer vouchers of one journal batch and date, packed (voucher.rs): numbers
-- first_number .. first_number + count - 1.
CREATE TABLE accounting_voucher_batches (
    accounting_date text    NOT NULL,
    batch           bigint  NOT NULL,
    first_number    bigint  NOT NULL,
    count           bigint  NOT NULL,
    body            bytea    NOT NULL,
    PRIMARY KEY (accounting_date, batch)
);

CREATE TABLE accounting_unmatched_transfers (
    accounting_date text    NOT NULL,
    transfer_id     text    NOT NULL,
    batch           bigint  NOT NULL,
    code            bigint  NOT NULL,
    debit_idx       bigint  NOT NULL,
    credit_idx      bigint  NOT NULL,
    amount          bigint  NOT NULL,
    ordinal         bigint  NOT NULL,  -- 1, 2, 3, … per date, in journal order
    PRIMARY KEY (accounting_date, transfer_id)
);

-- Vouchers not made from a transfer by rule: kind 'supplement', 'suspense', 'write_off'.
CREATE TABLE accounting_manual_vouchers (
    accounting_date text    NOT NULL,
    number          bigint  NOT NULL,
    kind            text    NOT NULL,
    transfer_id     text,
    debit_subject   bigint  NOT NULL,
    credit_subject  bigint  NOT NULL,
    debit_idx       bigint ,
    credit_idx      bigint ,
    currency        text    NOT NULL,
    amount          numeric(39, 0)     NOT NULL,
    origin          text    NOT NULL,
    PRIMARY KEY (accounting_date, number)
);

-- Balances are debit-side (debits - credits): negative stands on the credit side.
CREATE TABLE accounting_general_ledger (
    accounting_date text NOT NULL,
    subject_code    text NOT NULL,
    currency        text NOT NULL,
    opening         numeric(39, 0)  NOT NULL,
    debits          numeric(39, 0)  NOT NULL,
    credits         numeric(39, 0)  NOT NULL,
    closing         numeric(39, 0)  NOT NULL,
    PRIMARY KEY (accounting_date, subject_code, currency)
);

-- One row per account that moved on the date; an account without a row kept its balance.
CREATE TABLE accounting_daily_balances (
    accounting_date text    NOT NULL,
    account_idx     bigint  NOT NULL,
    opening         numeric(39, 0)     NOT NULL,
    debits          numeric(39, 0)     NOT NULL,
    credits         numeric(39, 0)     NOT NULL,
    closing         numeric(39, 0)     NOT NULL,
    PRIMARY KEY (accounting_date, account_idx)
);

-- Every account's balance at the last completed day-end.
CREATE TABLE accounting_account_balances (
    account_idx     bigint  PRIMARY KEY,
    accounting_date text NOT NULL,
    balance         numeric(39, 0)  NOT NULL
);

CREATE TABLE accounting_gl_checks (
    accounting_date    text NOT NULL,
    subject_code       text NOT NULL,
    currency           text NOT NULL,
    gl_balance         numeric(39, 0)  NOT NULL,
    sub_ledger_balance numeric(39, 0)  NOT NULL,
    difference         numeric(39, 0)  NOT NULL,  -- sub-ledger minus general ledger
    PRIMARY KEY (accounting_date, subject_code, currency)
);

CREATE TABLE accounting_suspense_items (
    id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    accounting_date  text    NOT NULL,
    subject_code     text    NOT NULL,
    currency         text    NOT NULL,
    amount           numeric(39, 0)     NOT NULL,  -- debit-side effect on the suspense subject
    origin           text    NOT NULL,
    voucher_number   bigint  NOT NULL,
    status           text    NOT NULL,  -- open, written_off
    write_off_date   text,
    write_off_number bigint ,
    written_off_by   text,
    note             text
);

CREATE TABLE accounting_period_totals (
    period          text NOT NULL,  -- month, quarter, half_year, year
    period_start    text NOT NULL,
    period_end      text NOT NULL,
    subject_code    text NOT NULL,
    currency        text NOT NULL,
    opening         numeric(39, 0)  NOT NULL,
    debits          numeric(39, 0)  NOT NULL,
    credits         numeric(39, 0)  NOT NULL,
    closing         numeric(39, 0)  NOT NULL,
    PRIMARY KEY (period, period_start, subject_code, currency)
);

CREATE TABLE accounting_day_end_steps (
    accounting_date text    NOT NULL,
    step            text    NOT NULL,
    ordinal         bigint  NOT NULL,
    summary         text    NOT NULL,
    PRIMARY KEY (accounting_date, step)
);

-- How long each completed step took (a table of its own, so files made before it need no
-- migration: a step completed by an older Suanpan has no row).
CREATE TABLE accounting_day_end_step_times (
    accounting_date text    NOT NULL,
    step            text    NOT NULL,
    elapsed_ms      bigint  NOT NULL,
    PRIMARY KEY (accounting_date, step)
);

CREATE TABLE accounting_audit (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at_unix_ms bigint  NOT NULL,
    actor      text    NOT NULL,
    action     text    NOT NULL,
    detail     text    NOT NULL
);

CREATE VIEW accounting_daily_account_balances AS
    SELECT d.accounting_date, a.id AS account_id, a.subject_code, a.currency,
           d.opening, d.debits, d.credits, d.closing
    FROM accounting_daily_balances AS d JOIN accounting_ledger_accounts AS a ON a.idx = d.account_idx;
";

pub fn accounting_db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ACCOUNTING_DB_FILE)
}

/// Opens (or creates) the books in `home`: on SQLite `accounting.db` in `data_dir`, held
/// exclusively (one accounting writer per data directory, as the journal has one writer); on
/// PostgreSQL the room's tables, each transaction fenced by the writer's lease (or, for an
/// operator's command, held against a second operator's by an advisory lock).
pub fn open(home: &Home) -> Result<ExclusiveStore, AccountingError> {
    let mut store = match home {
        Home::Sqlite(data_dir) => ExclusiveStore::sqlite(open_sqlite(data_dir)?),
        #[cfg(feature = "postgres")]
        Home::Postgres { db, fence } => {
            let store = ExclusiveStore::postgres(
                db.clone(),
                "accounting",
                POSTGRES_MIGRATIONS,
                fence.clone(),
            )?;
            if matches!(fence, suanpan_store::postgres::Fence::Operator) {
                let held = store.read(|c| {
                    c.query_one("SELECT pg_try_advisory_lock(?1)", args![OPERATOR_LOCK])?
                        .bool(0)
                        .map_err(AccountingError::from)
                })?;
                if !held {
                    return Err(AccountingError::Io(
                        "another Suanpan process (a command) is working on the accounting books"
                            .into(),
                    ));
                }
                // A server that leads changes the books as it goes: its own day-end is the
                // one to run (its writes are fenced by the lease, a command's are not).
                let leader = store.read(|c| {
                    c.query_row(
                        "SELECT holder FROM lease WHERE expires_at > now() AND holder <> ''",
                        args![],
                    )?
                    .map(|r| r.str(0))
                    .transpose()
                    .map_err(AccountingError::from)
                })?;
                if let Some(node) = leader {
                    return Err(AccountingError::Io(format!(
                        "another Suanpan process (the server {node:?}, which holds the writer's lease) is working on the accounting books; run the day-end through its API"
                    )));
                }
            }
            store
        }
    };
    let seeded = store.read(|c| {
        Ok::<_, AccountingError>(
            c.query_row(
                "SELECT value FROM accounting_meta WHERE key = 'journal_batch'",
                args![],
            )?
            .is_some(),
        )
    })?;
    if !seeded {
        store.transaction(seed)?;
    }
    Ok(store)
}

/// The advisory lock an operator's command holds on the books on PostgreSQL.
#[cfg(feature = "postgres")]
const OPERATOR_LOCK: i64 = 0x5355_414e_4143_4354; // "SUANACCT"

#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[(1, "the accounting books", POSTGRES_DDL)];

fn open_sqlite(data_dir: &Path) -> Result<Connection, AccountingError> {
    let path = accounting_db_path(data_dir);
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Another process holding the file exclusively shows as "busy" at the first statement
    // that touches it, whichever that is: say so in one line.
    let busy = |e: rusqlite::Error| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
            AccountingError::Io(format!(
                "another Suanpan process is working on {}",
                path.display()
            ))
        }
        e => e.into(),
    };
    conn.pragma_update(None, "page_size", 16_384)
        .map_err(busy)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(busy)?;
    // Write-offs are told, not derived: they must survive power loss like the journal.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(busy)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(busy)?;
    conn.pragma_update(None, "cache_size", -65_536)
        .map_err(busy)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(busy)?;
    let version: Option<i64> = if table_exists(&conn, "accounting_meta")? {
        conn.query_row(
            "SELECT CAST(value AS INTEGER) FROM accounting_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .ok()
    } else if table_exists(&conn, "meta")? {
        // A file made before the tables were named for the room.
        conn.query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .ok()
    } else {
        None
    };
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            conn.execute_batch("ROLLBACK")?;
            return Err(AccountingError::NewerSchema(v));
        }
        Some(1) => {
            rules_as_versions(&conn)?;
            named_for_the_room(&conn)?;
        }
        Some(2) => named_for_the_room(&conn)?,
        _ => {}
    }
    conn.execute_batch(SQLITE_DDL)?;
    conn.execute(
        "INSERT INTO accounting_meta (key, value) VALUES ('schema_version', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [SCHEMA_VERSION],
    )?;
    conn.execute_batch("COMMIT")?;
    Ok(conn)
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, AccountingError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )? > 0)
}

/// Schema 1 → 2: each code's one rule becomes its version 1, in force from the journal's
/// start (its earlier forms were overwritten before history was kept).
fn rules_as_versions(conn: &Connection) -> Result<(), AccountingError> {
    conn.execute_batch(
        "CREATE TABLE rule_versions (
             code INTEGER NOT NULL, version INTEGER NOT NULL, effective_after INTEGER NOT NULL,
             name TEXT NOT NULL, debit TEXT NOT NULL, credit TEXT NOT NULL,
             PRIMARY KEY (code, version)) STRICT;
         CREATE TABLE rule_version_lines (
             code INTEGER NOT NULL, version INTEGER NOT NULL, ordinal INTEGER NOT NULL,
             side TEXT NOT NULL, subject TEXT NOT NULL, share_bp INTEGER NOT NULL,
             PRIMARY KEY (code, version, ordinal)) STRICT;
         INSERT INTO rule_versions (code, version, effective_after, name, debit, credit)
             SELECT code, 1, 0, name, debit, credit FROM rules;
         INSERT INTO rule_version_lines (code, version, ordinal, side, subject, share_bp)
             SELECT code, 1, ordinal, side, subject, share_bp FROM rule_lines;
         DROP TABLE rules;
         DROP TABLE rule_lines;",
    )?;
    Ok(())
}

/// Schema 2 → 3: every table named for the room (as on PostgreSQL), the views made again
/// over the new names by the DDL, and each date's unmatched transfers numbered in the order
/// they were written.
fn named_for_the_room(conn: &Connection) -> Result<(), AccountingError> {
    conn.execute_batch("DROP VIEW IF EXISTS rules; DROP VIEW IF EXISTS daily_account_balances;")?;
    for table in [
        "meta",
        "subjects",
        "rule_versions",
        "rule_version_lines",
        "voucher_extra_lines",
        "ledger_accounts",
        "holds",
        "dates",
        "voucher_batches",
        "unmatched_transfers",
        "manual_vouchers",
        "general_ledger",
        "daily_balances",
        "account_balances",
        "gl_checks",
        "suspense_items",
        "period_totals",
        "day_end_steps",
        "day_end_step_times",
        "audit",
    ] {
        // Tables an older file never made are made by the DDL.
        if !table_exists(conn, table)? {
            continue;
        }
        conn.execute_batch(&format!("ALTER TABLE {table} RENAME TO accounting_{table}"))?;
        if table == "unmatched_transfers" {
            conn.execute_batch(
                "ALTER TABLE accounting_unmatched_transfers ADD COLUMN ordinal INTEGER NOT NULL DEFAULT 0;
                 UPDATE accounting_unmatched_transfers AS u SET ordinal = (
                     SELECT COUNT(*) FROM accounting_unmatched_transfers AS o
                     WHERE o.accounting_date = u.accounting_date AND o.rowid <= u.rowid);",
            )?;
        }
    }
    Ok(())
}

/// New books get the default chart and rules.
fn seed(conn: &dyn Sql) -> Result<(), AccountingError> {
    conn.execute(
        "INSERT INTO accounting_meta (key, value) VALUES ('schema_version', ?1), ('journal_batch', '0')
         ON CONFLICT (key) DO NOTHING",
        args![SCHEMA_VERSION.to_string().as_str()],
    )?;
    for (code, name, category, gl_only) in DEFAULT_CHART {
        conn.execute(
            "INSERT INTO accounting_subjects (code, name, category, gl_only) VALUES (?1, ?2, ?3, ?4)",
            args![*code, *name, category.as_str(), *gl_only],
        )?;
    }
    for (code, name) in DEFAULT_RULES {
        conn.execute(
            "INSERT INTO accounting_rule_versions (code, version, effective_after, name, debit, credit) VALUES (?1, 1, 0, ?2, 'debit_account', 'credit_account')",
            args![*code, *name],
        )?;
    }
    Ok(())
}

pub fn load_chart(conn: &dyn Sql) -> Result<Chart, AccountingError> {
    let mut subjects = Vec::new();
    for r in conn.query(
        "SELECT id, code, name, category, gl_only FROM accounting_subjects",
        args![],
    )? {
        let (code, category) = (r.str(1)?, r.str(3)?);
        let category = Category::parse(&category).ok_or_else(|| {
            AccountingError::Invariant(format!("subject {code} has unknown category {category:?}"))
        })?;
        subjects.push(Subject {
            id: r.u32(0)?,
            code,
            name: r.str(2)?,
            category,
            gl_only: r.bool(4)?,
        });
    }
    Ok(Chart::new(subjects))
}

/// Every version of every rule.
pub fn load_rules(conn: &dyn Sql, chart: &Chart) -> Result<Rules, AccountingError> {
    let mut versions = Vec::new();
    for r in conn.query(
        "SELECT code, version, effective_after, name, debit, credit FROM accounting_rule_versions ORDER BY code, version",
        args![],
    )? {
        versions.push(RuleVersion {
            version: r.u32(1)?,
            effective_after: r.u64(2)?,
            rule: PostingRule {
                code: r.u16(0)?,
                name: r.str(3)?,
                debit: parse_source(&r.str(4)?, chart)?,
                credit: parse_source(&r.str(5)?, chart)?,
                extra: Vec::new(),
            },
        });
    }
    for r in conn.query(
        "SELECT code, version, side, subject, share_bp FROM accounting_rule_version_lines ORDER BY code, version, ordinal",
        args![],
    )? {
        let (code, version, side, subject) = (r.u16(0)?, r.u32(1)?, r.str(2)?, r.str(3)?);
        let side = match side.as_str() {
            "debit" => Side::Debit,
            "credit" => Side::Credit,
            other => {
                return Err(AccountingError::Invariant(format!(
                    "rule {code} version {version} has a line on side {other:?}"
                )))
            }
        };
        let subject = chart
            .by_code(&subject)
            .ok_or(AccountingError::SubjectUnknown(subject))?
            .id;
        let owner = versions
            .iter_mut()
            .find(|v| v.rule.code == code && v.version == version)
            .ok_or_else(|| {
                AccountingError::Invariant(format!(
                    "a split line of rule {code} names version {version}, which is absent"
                ))
            })?;
        owner.rule.extra.push(ExtraLine {
            side,
            subject,
            share_bp: r.u16(4)?,
        });
    }
    Ok(Rules::new(versions))
}

/// Adds a version of a rule (its main pair and split lines, sources as text), in force after
/// journal batch `effective_after`. Returns its version number.
pub fn insert_rule_version(
    tx: &dyn Sql,
    code: u16,
    effective_after: u64,
    name: &str,
    (debit, credit): (&str, &str),
    extra: &[(Side, String, u16)],
) -> Result<u32, AccountingError> {
    let version = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM accounting_rule_versions WHERE code = ?1",
            args![code],
        )?
        .u32(0)?;
    tx.execute(
        "INSERT INTO accounting_rule_versions (code, version, effective_after, name, debit, credit) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![code, version, effective_after, name, debit, credit],
    )?;
    for (ordinal, (side, subject, share_bp)) in extra.iter().enumerate() {
        tx.execute(
            "INSERT INTO accounting_rule_version_lines (code, version, ordinal, side, subject, share_bp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![code, version, ordinal as i64, side.as_str(), subject, *share_bp],
        )?;
    }
    Ok(version)
}

pub fn date_text(date: AccountingDate) -> String {
    date.to_string()
}

pub fn parse_date(text: &str) -> Result<AccountingDate, AccountingError> {
    AccountingDate::parse(text)
        .ok_or_else(|| AccountingError::Invariant(format!("stored date {text:?} does not parse")))
}

/// A money figure for a money column.
pub fn money(value: i128) -> Param<'static> {
    Param::Money(value)
}

/// Reads a currency column.
pub fn get_currency(row: &Row, index: usize) -> Result<Currency, AccountingError> {
    let text = row.str(index)?;
    Currency::parse(&text)
        .ok_or_else(|| AccountingError::Invariant(format!("stored currency {text:?}")))
}

/// One audit record: who did what, in the same transaction as the deed.
pub fn audit(
    conn: &dyn Sql,
    actor: &str,
    action: &str,
    detail: &str,
) -> Result<(), AccountingError> {
    let at_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    conn.execute(
        "INSERT INTO accounting_audit (at_unix_ms, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
        args![at_unix_ms, actor, action, detail],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> Result<PathBuf, AccountingError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "suanpan-accounting-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| AccountingError::Io(e.to_string()))?;
        Ok(dir)
    }

    #[test]
    fn a_schema_1_file_keeps_its_rules_as_their_first_versions() -> Result<(), AccountingError> {
        let dir = temp_dir("schema-1")?;
        {
            let old = Connection::open(accounting_db_path(&dir))?;
            old.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
                 INSERT INTO meta VALUES ('schema_version', 1), ('journal_batch', 0);
                 CREATE TABLE rules (code INTEGER PRIMARY KEY, name TEXT NOT NULL,
                     debit TEXT NOT NULL, credit TEXT NOT NULL) STRICT;
                 CREATE TABLE rule_lines (code INTEGER NOT NULL, ordinal INTEGER NOT NULL,
                     side TEXT NOT NULL, subject TEXT NOT NULL, share_bp INTEGER NOT NULL,
                     PRIMARY KEY (code, ordinal)) STRICT;
                 INSERT INTO rules VALUES (1, 'payment', 'debit_account', 'credit_account');
                 INSERT INTO rules VALUES (7, 'fee', 'debit_account', '6021');
                 INSERT INTO rule_lines VALUES (7, 0, 'debit', '3099', 60);",
            )?;
        }
        let store = open(&Home::sqlite(&dir))?;
        let (rows, lines, version) = store.read(|c| {
            let rows: Vec<(u16, u32, u64, String)> = c
                .query(
                    "SELECT code, version, effective_after, credit FROM accounting_rules ORDER BY code",
                    args![],
                )?
                .iter()
                .map(|r| Ok((r.u16(0)?, r.u32(1)?, r.u64(2)?, r.str(3)?)))
                .collect::<Result<_, AccountingError>>()?;
            let lines = c
                .query_one(
                    "SELECT COUNT(*) FROM accounting_rule_version_lines WHERE code = 7 AND version = 1",
                    args![],
                )?
                .i64(0)?;
            let version = c
                .query_one(
                    "SELECT value FROM accounting_meta WHERE key = 'schema_version'",
                    args![],
                )?
                .u64_or_text(0)?;
            Ok::<_, AccountingError>((rows, lines, version))
        })?;
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            rows,
            [
                (1, 1, 0, "credit_account".to_string()),
                (7, 1, 0, "6021".to_string())
            ]
        );
        assert_eq!((lines, version), (1, SCHEMA_VERSION as u64));
        Ok(())
    }

    #[test]
    fn a_schema_2_file_is_renamed_for_the_room_and_numbers_its_unmatched_transfers(
    ) -> Result<(), AccountingError> {
        let dir = temp_dir("schema-2")?;
        {
            let old = Connection::open(accounting_db_path(&dir))?;
            old.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
                 INSERT INTO meta VALUES ('schema_version', 2), ('journal_batch', 7);
                 CREATE TABLE unmatched_transfers (accounting_date TEXT NOT NULL,
                     transfer_id TEXT NOT NULL, batch INTEGER NOT NULL, code INTEGER NOT NULL,
                     debit_idx INTEGER NOT NULL, credit_idx INTEGER NOT NULL,
                     amount INTEGER NOT NULL, PRIMARY KEY (accounting_date, transfer_id)) STRICT;
                 INSERT INTO unmatched_transfers VALUES ('2026-01-01', '9', 3, 5, 0, 1, 10);
                 INSERT INTO unmatched_transfers VALUES ('2026-01-01', '2', 4, 5, 0, 1, 20);
                 INSERT INTO unmatched_transfers VALUES ('2026-01-02', '5', 6, 5, 0, 1, 30);",
            )?;
        }
        let store = open(&Home::sqlite(&dir))?;
        let (numbered, cursor) = store.read(|c| {
            let numbered: Vec<(String, u64)> = c
                .query(
                    "SELECT transfer_id, ordinal FROM accounting_unmatched_transfers ORDER BY accounting_date, ordinal",
                    args![],
                )?
                .iter()
                .map(|r| Ok((r.str(0)?, r.u64(1)?)))
                .collect::<Result<_, AccountingError>>()?;
            let cursor = c
                .query_one(
                    "SELECT value FROM accounting_meta WHERE key = 'journal_batch'",
                    args![],
                )?
                .u64_or_text(0)?;
            Ok::<_, AccountingError>((numbered, cursor))
        })?;
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            numbered,
            [
                ("9".to_string(), 1),
                ("2".to_string(), 2),
                ("5".to_string(), 1)
            ]
        );
        assert_eq!(cursor, 7);
        Ok(())
    }

    #[test]
    fn money_beyond_64_bits_survives_the_column() -> Result<(), AccountingError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE t (v ANY NOT NULL) STRICT")?;
        let values = [0i128, -5, i128::from(i64::MAX) + 1, -(u64::MAX as i128) * 3];
        for v in values {
            Sql::execute(&conn, "INSERT INTO t (v) VALUES (?1)", &[money(v)])?;
        }
        let back: Vec<i128> = Sql::query(&conn, "SELECT v FROM t ORDER BY rowid", args![])?
            .iter()
            .map(|r| r.money(0))
            .collect::<Result<_, _>>()?;
        assert_eq!(back, values);
        Ok(())
    }
}
