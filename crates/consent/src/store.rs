//! `consent.db`: the consents (one row each, rewritten on every change) and the access
//! record (append-only: triggers refuse UPDATE and DELETE), through the storage home.

use suanpan_store::rusqlite::{params, Connection, Row};
use suanpan_store::Schema;

use crate::code::OneTimeCode;
use crate::consent::{Access, Consent, ConsentRequest, ConsentState, Party};
use crate::day::Day;
use crate::error::ConsentError;
use crate::record::Record;

pub const SCHEMA: Schema = Schema {
    file: "consent.db",
    version: 1,
    ddl: "
CREATE TABLE IF NOT EXISTS consents (
    id                  TEXT    PRIMARY KEY,
    request_id          TEXT    NOT NULL,
    third_party         TEXT    NOT NULL,
    third_party_owner   INTEGER NOT NULL,
    bank                TEXT    NOT NULL,
    bank_owner          INTEGER NOT NULL,
    customer            TEXT    NOT NULL,
    accounts            TEXT    NOT NULL,  -- decimal ids, comma-separated
    balances            INTEGER NOT NULL,
    transactions_from   INTEGER,           -- Shanghai days since 1970-01-01
    transactions_to     INTEGER,
    valid_until         INTEGER NOT NULL,
    frequency_per_day   INTEGER NOT NULL CHECK (frequency_per_day BETWEEN 1 AND 4),
    recurring           INTEGER NOT NULL,
    state               TEXT    NOT NULL,
    created_ns          INTEGER NOT NULL,
    changed_ns          INTEGER NOT NULL,
    authorised_day      INTEGER,
    code_hash           BLOB,
    code_expires_ns     INTEGER,
    code_attempts_left  INTEGER,
    UNIQUE (third_party_owner, request_id)
) STRICT;
CREATE INDEX IF NOT EXISTS consents_customer ON consents (bank_owner, customer);
CREATE TABLE IF NOT EXISTS access_record (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns             INTEGER NOT NULL,
    day                 INTEGER NOT NULL,
    consent             TEXT    NOT NULL,
    third_party_owner   INTEGER NOT NULL,
    bank_owner          INTEGER NOT NULL,
    customer            TEXT    NOT NULL,
    actor               TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    accounts            TEXT    NOT NULL,
    data                TEXT    NOT NULL,
    customer_present    INTEGER NOT NULL,
    counted             INTEGER NOT NULL,
    outcome             TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS access_record_consent ON access_record (consent, seq);
CREATE INDEX IF NOT EXISTS access_record_customer ON access_record (bank_owner, customer, seq);
CREATE INDEX IF NOT EXISTS access_record_counted ON access_record (day) WHERE counted = 1;
CREATE TRIGGER IF NOT EXISTS access_record_no_update BEFORE UPDATE ON access_record
    BEGIN SELECT RAISE(ABORT, 'the access record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_record_no_delete BEFORE DELETE ON access_record
    BEGIN SELECT RAISE(ABORT, 'the access record is append-only'); END;
",
    migrations: &[],
    readers: 1,
};

pub fn accounts_text(accounts: &[u128]) -> String {
    accounts
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn parse_accounts(text: &str) -> Vec<u128> {
    text.split(',').filter_map(|a| a.parse().ok()).collect()
}

pub fn save_consent(conn: &Connection, c: &Consent) -> Result<(), ConsentError> {
    let r = &c.request;
    let (from, to) = match r.access.transactions {
        Some((from, to)) => (Some(from.0), Some(to.0)),
        None => (None, None),
    };
    let code = c.code.as_ref();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO consents (id, request_id, third_party, third_party_owner, bank,
             bank_owner, customer, accounts, balances, transactions_from, transactions_to,
             valid_until, frequency_per_day, recurring, state, created_ns, changed_ns,
             authorised_day, code_hash, code_expires_ns, code_attempts_left)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20, ?21)",
    )?
    .execute(params![
        c.id,
        r.request_id,
        r.third_party.code,
        r.third_party.owner as i64,
        r.bank.code,
        r.bank.owner as i64,
        r.customer,
        accounts_text(&r.accounts),
        r.access.balances,
        from,
        to,
        r.valid_until.0,
        r.frequency_per_day,
        r.recurring,
        c.state.as_str(),
        c.created_ns as i64,
        c.changed_ns as i64,
        c.authorised_day.map(|d| d.0),
        code.map(|k| k.hash.to_vec()),
        code.map(|k| k.expires_ns as i64),
        code.map(|k| k.attempts_left),
    ])?;
    Ok(())
}

fn consent_row(r: &Row) -> suanpan_store::rusqlite::Result<Option<Consent>> {
    let from: Option<i32> = r.get(9)?;
    let to: Option<i32> = r.get(10)?;
    let hash: Option<Vec<u8>> = r.get(18)?;
    let code = match (
        hash,
        r.get::<_, Option<i64>>(19)?,
        r.get::<_, Option<u8>>(20)?,
    ) {
        (Some(hash), Some(expires), Some(left)) => Some(OneTimeCode {
            hash: hash.try_into().unwrap_or([0; 32]),
            expires_ns: expires as u64,
            attempts_left: left,
        }),
        _ => None,
    };
    let Some(state) = ConsentState::parse(&r.get::<_, String>(14)?) else {
        return Ok(None);
    };
    Ok(Some(Consent {
        id: r.get(0)?,
        request: ConsentRequest {
            request_id: r.get(1)?,
            third_party: Party {
                code: r.get(2)?,
                owner: r.get::<_, i64>(3)? as u64,
            },
            bank: Party {
                code: r.get(4)?,
                owner: r.get::<_, i64>(5)? as u64,
            },
            customer: r.get(6)?,
            accounts: parse_accounts(&r.get::<_, String>(7)?),
            access: Access {
                balances: r.get(8)?,
                transactions: from.zip(to).map(|(f, t)| (Day(f), Day(t))),
            },
            valid_until: Day(r.get(11)?),
            frequency_per_day: r.get(12)?,
            recurring: r.get(13)?,
        },
        state,
        created_ns: r.get::<_, i64>(15)? as u64,
        changed_ns: r.get::<_, i64>(16)? as u64,
        authorised_day: r.get::<_, Option<i32>>(17)?.map(Day),
        code,
    }))
}

/// Every consent, to hold in memory at start. A row whose state this version does not know
/// is refused rather than skipped: a consent must never silently vanish.
pub fn load_consents(conn: &Connection) -> Result<Vec<Consent>, ConsentError> {
    let mut stmt = conn.prepare(
        "SELECT id, request_id, third_party, third_party_owner, bank, bank_owner, customer,
                accounts, balances, transactions_from, transactions_to, valid_until,
                frequency_per_day, recurring, state, created_ns, changed_ns, authorised_day,
                code_hash, code_expires_ns, code_attempts_left
         FROM consents",
    )?;
    let rows = stmt.query_map([], consent_row)?;
    let mut out = Vec::new();
    for row in rows {
        match row? {
            Some(c) => out.push(c),
            None => {
                return Err(ConsentError::Store(
                    "consent.db holds a consent state this version does not know".into(),
                ))
            }
        }
    }
    Ok(out)
}

pub fn append_record(conn: &Connection, rec: &Record) -> Result<(), ConsentError> {
    conn.prepare_cached(
        "INSERT INTO access_record (time_ns, day, consent, third_party_owner, bank_owner,
             customer, actor, action, accounts, data, customer_present, counted, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        rec.time_ns as i64,
        Day::of_ns(rec.time_ns).0,
        rec.consent_id,
        rec.third_party_owner as i64,
        rec.bank_owner as i64,
        rec.customer,
        rec.actor,
        rec.action,
        accounts_text(&rec.accounts),
        rec.data,
        rec.customer_present,
        rec.counted,
        rec.outcome,
    ])?;
    Ok(())
}

/// Whose records to list.
pub enum RecordFilter<'a> {
    Consent(&'a str),
    Customer { bank_owner: u64, customer: &'a str },
}

pub fn records(
    conn: &Connection,
    filter: RecordFilter,
    after: u64,
    limit: u32,
) -> Result<Vec<Record>, ConsentError> {
    const COLUMNS: &str = "seq, time_ns, consent, third_party_owner, bank_owner, customer,
        actor, action, accounts, data, customer_present, counted, outcome";
    let row = |r: &Row| {
        Ok(Record {
            seq: r.get::<_, i64>(0)? as u64,
            time_ns: r.get::<_, i64>(1)? as u64,
            consent_id: r.get(2)?,
            third_party_owner: r.get::<_, i64>(3)? as u64,
            bank_owner: r.get::<_, i64>(4)? as u64,
            customer: r.get(5)?,
            actor: r.get(6)?,
            action: r.get(7)?,
            accounts: parse_accounts(&r.get::<_, String>(8)?),
            data: r.get(9)?,
            customer_present: r.get(10)?,
            counted: r.get(11)?,
            outcome: r.get(12)?,
        })
    };
    let rows = match filter {
        RecordFilter::Consent(id) => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM access_record WHERE consent = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3"
            ))?
            .query_map(params![id, after as i64, limit], row)?
            .collect::<Result<Vec<_>, _>>()?,
        RecordFilter::Customer {
            bank_owner,
            customer,
        } => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM access_record
                 WHERE bank_owner = ?1 AND customer = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
            ))?
            .query_map(
                params![bank_owner as i64, customer, after as i64, limit],
                row,
            )?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

/// The unattended reads answered on `day`: (third party, accounts) each, to count again.
pub fn counted_reads(conn: &Connection, day: Day) -> Result<Vec<(u64, Vec<u128>)>, ConsentError> {
    let mut stmt = conn.prepare(
        "SELECT third_party_owner, accounts FROM access_record
         WHERE day = ?1 AND counted = 1 AND outcome = 'ok'",
    )?;
    let rows = stmt
        .query_map([day.0], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                parse_accounts(&r.get::<_, String>(1)?),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
