//! accounting.db: the accounting room's own SQLite file in the data directory. The journal
//! keeps exactly one writer (the engine); everything accounting derives or is told (chart,
//! rules, vouchers, ledgers, day-end step records, suspense, audit) lives here.

use std::path::{Path, PathBuf};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection, OpenFlags};
use suanpan_ledger::{AccountingDate, Currency};

use crate::chart::Side;
use crate::chart::{Category, Chart, Subject, DEFAULT_CHART};
use crate::rule::{parse_source, ExtraLine, PostingRule, RuleVersion, Rules, DEFAULT_RULES};
use crate::AccountingError;

pub const ACCOUNTING_DB_FILE: &str = "accounting.db";
/// 2: posting rules kept as versions, each in force after a journal batch.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value ANY NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS subjects (
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
CREATE TABLE IF NOT EXISTS rule_versions (
    code            INTEGER NOT NULL,
    version         INTEGER NOT NULL,  -- 1, 2, 3, … per code
    effective_after INTEGER NOT NULL,  -- the last journal batch it does not apply to
    name            TEXT    NOT NULL,
    debit           TEXT    NOT NULL,
    credit          TEXT    NOT NULL,
    PRIMARY KEY (code, version)
) STRICT;

-- Lines of a split rule version beyond its main pair: a share of the amount on a GL-only subject.
CREATE TABLE IF NOT EXISTS rule_version_lines (
    code     INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    ordinal  INTEGER NOT NULL,
    side     TEXT    NOT NULL,  -- debit, credit
    subject  TEXT    NOT NULL,
    share_bp INTEGER NOT NULL,
    PRIMARY KEY (code, version, ordinal)
) STRICT;

-- The newest version of each code's rule: what transfers committed from now on get.
CREATE VIEW IF NOT EXISTS rules AS
    SELECT code, version, effective_after, name, debit, credit FROM rule_versions AS v
    WHERE version = (SELECT MAX(version) FROM rule_versions WHERE code = v.code);

-- The split lines of transfer vouchers made by such a rule (the main pair is packed in
-- voucher_batches): written with the voucher, so a later change of the rule changes nothing.
CREATE TABLE IF NOT EXISTS voucher_extra_lines (
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
CREATE TABLE IF NOT EXISTS ledger_accounts (
    idx          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    currency     TEXT    NOT NULL,
    subject_code TEXT    NOT NULL,  -- as opened in the ledger
    subject_id   INTEGER NOT NULL   -- the leaf it books under (suspense if the chart lacks it)
) STRICT;

-- Pending transfers still holding money: a hold is not a movement, so it has no voucher.
CREATE TABLE IF NOT EXISTS holds (
    pending_id TEXT PRIMARY KEY,
    debit_idx  INTEGER NOT NULL,
    credit_idx INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    code       INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS dates (
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
CREATE TABLE IF NOT EXISTS voucher_batches (
    accounting_date TEXT    NOT NULL,
    batch           INTEGER NOT NULL,
    first_number    INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    PRIMARY KEY (accounting_date, batch)
) STRICT;

CREATE TABLE IF NOT EXISTS unmatched_transfers (
    accounting_date TEXT    NOT NULL,
    transfer_id     TEXT    NOT NULL,
    batch           INTEGER NOT NULL,
    code            INTEGER NOT NULL,
    debit_idx       INTEGER NOT NULL,
    credit_idx      INTEGER NOT NULL,
    amount          INTEGER NOT NULL,
    PRIMARY KEY (accounting_date, transfer_id)
) STRICT;

-- Vouchers not made from a transfer by rule: kind 'supplement', 'suspense', 'write_off'.
CREATE TABLE IF NOT EXISTS manual_vouchers (
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
CREATE TABLE IF NOT EXISTS general_ledger (
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
CREATE TABLE IF NOT EXISTS daily_balances (
    accounting_date TEXT    NOT NULL,
    account_idx     INTEGER NOT NULL,
    opening         ANY     NOT NULL,
    debits          ANY     NOT NULL,
    credits         ANY     NOT NULL,
    closing         ANY     NOT NULL,
    PRIMARY KEY (accounting_date, account_idx)
) STRICT;

-- Every account's balance at the last completed day-end.
CREATE TABLE IF NOT EXISTS account_balances (
    account_idx     INTEGER PRIMARY KEY,
    accounting_date TEXT NOT NULL,
    balance         ANY  NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS gl_checks (
    accounting_date    TEXT NOT NULL,
    subject_code       TEXT NOT NULL,
    currency           TEXT NOT NULL,
    gl_balance         ANY  NOT NULL,
    sub_ledger_balance ANY  NOT NULL,
    difference         ANY  NOT NULL,  -- sub-ledger minus general ledger
    PRIMARY KEY (accounting_date, subject_code, currency)
) STRICT;

CREATE TABLE IF NOT EXISTS suspense_items (
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

CREATE TABLE IF NOT EXISTS period_totals (
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

CREATE TABLE IF NOT EXISTS day_end_steps (
    accounting_date TEXT    NOT NULL,
    step            TEXT    NOT NULL,
    ordinal         INTEGER NOT NULL,
    summary         TEXT    NOT NULL,
    PRIMARY KEY (accounting_date, step)
) STRICT;

-- How long each completed step took (a table of its own, so files made before it need no
-- migration: a step completed by an older Suanpan has no row).
CREATE TABLE IF NOT EXISTS day_end_step_times (
    accounting_date TEXT    NOT NULL,
    step            TEXT    NOT NULL,
    elapsed_ms      INTEGER NOT NULL,
    PRIMARY KEY (accounting_date, step)
) STRICT;

CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY,
    at_unix_ms INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL
) STRICT;

CREATE VIEW IF NOT EXISTS daily_account_balances AS
    SELECT d.accounting_date, a.id AS account_id, a.subject_code, a.currency,
           d.opening, d.debits, d.credits, d.closing
    FROM daily_balances AS d JOIN ledger_accounts AS a ON a.idx = d.account_idx;
";

pub fn accounting_db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ACCOUNTING_DB_FILE)
}

/// Opens (or creates) accounting.db, holding it exclusively: one accounting writer per data
/// directory, as the journal has one writer.
pub fn open(data_dir: &Path) -> Result<Connection, AccountingError> {
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
    conn.execute_batch("BEGIN IMMEDIATE").map_err(busy)?;
    conn.execute_batch(SCHEMA)?;
    let version: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .ok();
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            conn.execute_batch("ROLLBACK")?;
            return Err(AccountingError::NewerSchema(v));
        }
        Some(1) => rules_as_versions(&conn)?,
        Some(_) => {}
        None => seed(&conn)?,
    }
    conn.execute_batch("COMMIT")?;
    Ok(conn)
}

/// Schema 1 → 2: each code's one rule becomes its version 1, in force from the journal's
/// start (its earlier forms were overwritten before history was kept).
fn rules_as_versions(conn: &Connection) -> Result<(), AccountingError> {
    conn.execute_batch(
        "INSERT INTO rule_versions (code, version, effective_after, name, debit, credit)
             SELECT code, 1, 0, name, debit, credit FROM rules;
         INSERT INTO rule_version_lines (code, version, ordinal, side, subject, share_bp)
             SELECT code, 1, ordinal, side, subject, share_bp FROM rule_lines;
         DROP TABLE rules;
         DROP TABLE rule_lines;",
    )?;
    // The `rules` view could not be made while schema 1's table had its name.
    conn.execute_batch(SCHEMA)?;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [SCHEMA_VERSION],
    )?;
    Ok(())
}

/// A new file gets the default chart and rules.
fn seed(conn: &Connection) -> Result<(), AccountingError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('journal_batch', 0)",
        [SCHEMA_VERSION],
    )?;
    for (code, name, category, gl_only) in DEFAULT_CHART {
        conn.execute(
            "INSERT INTO subjects (code, name, category, gl_only) VALUES (?1, ?2, ?3, ?4)",
            params![code, name, category.as_str(), gl_only],
        )?;
    }
    for (code, name) in DEFAULT_RULES {
        conn.execute(
            "INSERT INTO rule_versions (code, version, effective_after, name, debit, credit) VALUES (?1, 1, 0, ?2, 'debit_account', 'credit_account')",
            params![code, name],
        )?;
    }
    Ok(())
}

pub fn load_chart(conn: &Connection) -> Result<Chart, AccountingError> {
    let mut stmt = conn.prepare("SELECT id, code, name, category, gl_only FROM subjects")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
        ))
    })?;
    let mut subjects = Vec::new();
    for row in rows {
        let (id, code, name, category, gl_only) = row?;
        let category = Category::parse(&category).ok_or_else(|| {
            AccountingError::Invariant(format!("subject {code} has unknown category {category:?}"))
        })?;
        subjects.push(Subject {
            id,
            code,
            name,
            category,
            gl_only,
        });
    }
    Ok(Chart::new(subjects))
}

/// Every version of every rule.
pub fn load_rules(conn: &Connection, chart: &Chart) -> Result<Rules, AccountingError> {
    let mut stmt = conn.prepare(
        "SELECT code, version, effective_after, name, debit, credit FROM rule_versions ORDER BY code, version",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, u16>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, u64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut versions = Vec::new();
    for row in rows {
        let (code, version, effective_after, name, debit, credit) = row?;
        versions.push(RuleVersion {
            version,
            effective_after,
            rule: PostingRule {
                code,
                name,
                debit: parse_source(&debit, chart)?,
                credit: parse_source(&credit, chart)?,
                extra: Vec::new(),
            },
        });
    }
    let mut stmt = conn.prepare(
        "SELECT code, version, side, subject, share_bp FROM rule_version_lines ORDER BY code, version, ordinal",
    )?;
    let lines = stmt.query_map([], |r| {
        Ok((
            r.get::<_, u16>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, u16>(4)?,
        ))
    })?;
    for line in lines {
        let (code, version, side, subject, share_bp) = line?;
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
            share_bp,
        });
    }
    Ok(Rules::new(versions))
}

/// Adds a version of a rule (its main pair and split lines, sources as text), in force after
/// journal batch `effective_after`. Returns its version number.
pub fn insert_rule_version(
    tx: &Connection,
    code: u16,
    effective_after: u64,
    name: &str,
    (debit, credit): (&str, &str),
    extra: &[(Side, String, u16)],
) -> Result<u32, AccountingError> {
    let version: u32 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM rule_versions WHERE code = ?1",
        [code],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO rule_versions (code, version, effective_after, name, debit, credit) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![code, version, effective_after, name, debit, credit],
    )?;
    for (ordinal, (side, subject, share_bp)) in extra.iter().enumerate() {
        tx.execute(
            "INSERT INTO rule_version_lines (code, version, ordinal, side, subject, share_bp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![code, version, ordinal as i64, side.as_str(), subject, share_bp],
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

/// A money figure for an `ANY` column: an integer while it fits 64 bits, decimal text beyond.
pub fn money(value: i128) -> Value {
    match i64::try_from(value) {
        Ok(v) => Value::Integer(v),
        Err(_) => Value::Text(value.to_string()),
    }
}

/// Reads what [`money`] wrote.
pub fn get_money(row: &rusqlite::Row, index: usize) -> rusqlite::Result<i128> {
    match row.get_ref(index)? {
        ValueRef::Integer(v) => Ok(i128::from(v)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(rusqlite::Error::InvalidColumnType(
                index,
                "money".into(),
                rusqlite::types::Type::Text,
            )),
        other => Err(rusqlite::Error::InvalidColumnType(
            index,
            "money".into(),
            other.data_type(),
        )),
    }
}

/// Reads a currency column.
pub fn get_currency(row: &rusqlite::Row, index: usize) -> Result<Currency, AccountingError> {
    let text: String = row.get(index)?;
    Currency::parse(&text)
        .ok_or_else(|| AccountingError::Invariant(format!("stored currency {text:?}")))
}

/// One audit record: who did what, in the same transaction as the deed.
pub fn audit(
    conn: &Connection,
    actor: &str,
    action: &str,
    detail: &str,
) -> Result<(), AccountingError> {
    let at_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    conn.execute(
        "INSERT INTO audit (at_unix_ms, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
        params![at_unix_ms, actor, action, detail],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_1_file_keeps_its_rules_as_their_first_versions() -> Result<(), AccountingError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "suanpan-accounting-schema-1-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| AccountingError::Io(e.to_string()))?;
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
        let conn = open(&dir)?;
        let rows: Vec<(u16, u32, u64, String)> = conn
            .prepare("SELECT code, version, effective_after, credit FROM rules ORDER BY code")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let lines: i64 = conn.query_row(
            "SELECT COUNT(*) FROM rule_version_lines WHERE code = 7 AND version = 1",
            [],
            |r| r.get(0),
        )?;
        let version: i64 = conn.query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )?;
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            rows,
            [
                (1, 1, 0, "credit_account".to_string()),
                (7, 1, 0, "6021".to_string())
            ]
        );
        assert_eq!((lines, version), (1, SCHEMA_VERSION));
        Ok(())
    }

    #[test]
    fn money_beyond_64_bits_survives_the_column() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE t (v ANY NOT NULL) STRICT")?;
        let values = [0i128, -5, i128::from(i64::MAX) + 1, -(u64::MAX as i128) * 3];
        for v in values {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [money(v)])?;
        }
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY rowid")?;
        let back: Vec<i128> = stmt
            .query_map([], |r| get_money(r, 0))?
            .collect::<rusqlite::Result<_>>()?;
        assert_eq!(back, values);
        Ok(())
    }
}
