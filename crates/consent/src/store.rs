//! The consent room's state through the storage home: the consents (one row each, rewritten
//! on every change) and the access record (append-only: triggers refuse UPDATE and DELETE).
//! On the embedded default it is `consent.db`; with the journal on PostgreSQL, the
//! `consent_*` tables of that database, so consents granted or revoked through the old leader
//! hold on the new one. Every statement is written once for both (`suanpan_store::sql`).

use suanpan_store::args;
use suanpan_store::room::{RoomSchema, RoomStore};
use suanpan_store::sql::{Row, Sql};
use suanpan_store::Schema;

use crate::code::OneTimeCode;
use crate::consent::{Access, Consent, ConsentRequest, ConsentState, Party};
use crate::day::Day;
use crate::error::ConsentError;
use crate::record::Record;

pub use suanpan_store::room::Home;

/// The room's store, in whichever home the node keeps its rooms.
pub type Store = RoomStore;

/// SQLite: 2, the tables are named `consent_*`, as on PostgreSQL (the append-only triggers
/// made again on the renamed record).
pub const SCHEMA: RoomSchema = RoomSchema {
    room: "consent",
    sqlite: Schema {
        file: "consent.db",
        version: 2,
        ddl: "
CREATE TABLE IF NOT EXISTS consent_consents (
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
CREATE INDEX IF NOT EXISTS consents_customer ON consent_consents (bank_owner, customer);
CREATE TABLE IF NOT EXISTS consent_access_record (
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
CREATE INDEX IF NOT EXISTS access_record_consent ON consent_access_record (consent, seq);
CREATE INDEX IF NOT EXISTS access_record_customer ON consent_access_record (bank_owner, customer, seq);
CREATE INDEX IF NOT EXISTS access_record_counted ON consent_access_record (day) WHERE counted = 1;
CREATE TRIGGER IF NOT EXISTS access_record_no_update BEFORE UPDATE ON consent_access_record
    BEGIN SELECT RAISE(ABORT, 'the access record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_record_no_delete BEFORE DELETE ON consent_access_record
    BEGIN SELECT RAISE(ABORT, 'the access record is append-only'); END;
",
        migrations: &[(
            2,
            "DROP TRIGGER access_record_no_update;
             DROP TRIGGER access_record_no_delete;
             ALTER TABLE consents RENAME TO consent_consents;
             ALTER TABLE access_record RENAME TO consent_access_record;",
        )],
        readers: 2,
    },
    postgres: &[(
        1,
        "consents and the append-only access record",
        r#"
CREATE TABLE consent_consents (
    id                  text    PRIMARY KEY,
    request_id          text    NOT NULL,
    third_party         text    NOT NULL,
    third_party_owner   bigint  NOT NULL,
    bank                text    NOT NULL,
    bank_owner          bigint  NOT NULL,
    customer            text    NOT NULL,
    accounts            text    NOT NULL,  -- decimal ids, comma-separated
    balances            boolean NOT NULL,
    transactions_from   bigint,            -- Shanghai days since 1970-01-01
    transactions_to     bigint,
    valid_until         bigint  NOT NULL,
    frequency_per_day   bigint  NOT NULL CHECK (frequency_per_day BETWEEN 1 AND 4),
    recurring           boolean NOT NULL,
    state               text    NOT NULL,
    created_ns          bigint  NOT NULL,
    changed_ns          bigint  NOT NULL,
    authorised_day      bigint,
    code_hash           bytea,
    code_expires_ns     bigint,
    code_attempts_left  bigint,
    UNIQUE (third_party_owner, request_id)
);
CREATE INDEX consent_consents_customer ON consent_consents (bank_owner, customer);
CREATE TABLE consent_access_record (
    seq                 bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time_ns             bigint  NOT NULL,
    day                 bigint  NOT NULL,
    consent             text    NOT NULL,
    third_party_owner   bigint  NOT NULL,
    bank_owner          bigint  NOT NULL,
    customer            text    NOT NULL,
    actor               text    NOT NULL,
    action              text    NOT NULL,
    accounts            text    NOT NULL,
    data                text    NOT NULL,
    customer_present    boolean NOT NULL,
    counted             boolean NOT NULL,
    outcome             text    NOT NULL
);
CREATE INDEX consent_access_record_consent ON consent_access_record (consent, seq);
CREATE INDEX consent_access_record_customer ON consent_access_record (bank_owner, customer, seq);
CREATE INDEX consent_access_record_counted ON consent_access_record (day) WHERE counted;
CREATE FUNCTION consent_access_record_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access record is append-only';
END
$$;
CREATE TRIGGER consent_access_record_no_change BEFORE UPDATE OR DELETE ON consent_access_record
    FOR EACH ROW EXECUTE FUNCTION consent_access_record_append_only();
CREATE TRIGGER consent_access_record_no_truncate BEFORE TRUNCATE ON consent_access_record
    FOR EACH STATEMENT EXECUTE FUNCTION consent_access_record_append_only();
"#,
    )],
};

/// Opens the room's store in `home`.
pub fn open(home: &Home) -> Result<Store, ConsentError> {
    RoomStore::open(home, &SCHEMA).map_err(ConsentError::from)
}

/// Nanoseconds and owners as the database's signed integers (far below 2^63).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

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

pub fn save_consent(c: &dyn Sql, consent: &Consent) -> Result<(), ConsentError> {
    let r = &consent.request;
    let (from, to) = match r.access.transactions {
        Some((from, to)) => (Some(i64::from(from.0)), Some(i64::from(to.0))),
        None => (None, None),
    };
    let code = consent.code.as_ref();
    let accounts = accounts_text(&r.accounts);
    c.execute(
        "INSERT INTO consent_consents (id, request_id, third_party, third_party_owner, bank,
             bank_owner, customer, accounts, balances, transactions_from, transactions_to,
             valid_until, frequency_per_day, recurring, state, created_ns, changed_ns,
             authorised_day, code_hash, code_expires_ns, code_attempts_left)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20, ?21)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, changed_ns = excluded.changed_ns,
             authorised_day = excluded.authorised_day, code_hash = excluded.code_hash,
             code_expires_ns = excluded.code_expires_ns,
             code_attempts_left = excluded.code_attempts_left",
        args![
            &consent.id,
            &r.request_id,
            &r.third_party.code,
            int(r.third_party.owner),
            &r.bank.code,
            int(r.bank.owner),
            &r.customer,
            &accounts,
            r.access.balances,
            from,
            to,
            i64::from(r.valid_until.0),
            i64::from(r.frequency_per_day),
            r.recurring,
            consent.state.as_str(),
            int(consent.created_ns),
            int(consent.changed_ns),
            consent.authorised_day.map(|d| i64::from(d.0)),
            code.map(|k| k.hash.as_slice()),
            code.map(|k| int(k.expires_ns)),
            code.map(|k| i64::from(k.attempts_left)),
        ],
    )?;
    Ok(())
}

fn day(v: i64) -> Result<Day, ConsentError> {
    i32::try_from(v)
        .map(Day)
        .map_err(|_| ConsentError::Store(format!("a day out of range: {v}")))
}

fn consent_row(r: &Row) -> Result<Option<Consent>, ConsentError> {
    let code = match (r.opt_bytes(18)?, r.opt_u64(19)?, r.opt_u64(20)?) {
        (Some(hash), Some(expires_ns), Some(left)) => Some(OneTimeCode {
            hash: hash.try_into().unwrap_or([0; 32]),
            expires_ns,
            attempts_left: u8::try_from(left).unwrap_or(0),
        }),
        _ => None,
    };
    let Some(state) = ConsentState::parse(&r.str(14)?) else {
        return Ok(None);
    };
    let transactions = match (r.opt_i64(9)?, r.opt_i64(10)?) {
        (Some(f), Some(t)) => Some((day(f)?, day(t)?)),
        _ => None,
    };
    Ok(Some(Consent {
        id: r.str(0)?,
        request: ConsentRequest {
            request_id: r.str(1)?,
            third_party: Party {
                code: r.str(2)?,
                owner: r.u64(3)?,
            },
            bank: Party {
                code: r.str(4)?,
                owner: r.u64(5)?,
            },
            customer: r.str(6)?,
            accounts: parse_accounts(&r.str(7)?),
            access: Access {
                balances: r.bool(8)?,
                transactions,
            },
            valid_until: day(r.i64(11)?)?,
            frequency_per_day: u8::try_from(r.u64(12)?).unwrap_or(1),
            recurring: r.bool(13)?,
        },
        state,
        created_ns: r.u64(15)?,
        changed_ns: r.u64(16)?,
        authorised_day: r.opt_i64(17)?.map(day).transpose()?,
        code,
    }))
}

/// Every consent, to hold in memory. A row whose state this version does not know is refused
/// rather than skipped: a consent must never silently vanish.
pub fn load_consents(c: &dyn Sql) -> Result<Vec<Consent>, ConsentError> {
    let rows = c.query(
        "SELECT id, request_id, third_party, third_party_owner, bank, bank_owner, customer,
                accounts, balances, transactions_from, transactions_to, valid_until,
                frequency_per_day, recurring, state, created_ns, changed_ns, authorised_day,
                code_hash, code_expires_ns, code_attempts_left
         FROM consent_consents",
        args![],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        match consent_row(row)? {
            Some(consent) => out.push(consent),
            None => {
                return Err(ConsentError::Store(
                    "the consent store holds a consent state this version does not know".into(),
                ))
            }
        }
    }
    Ok(out)
}

pub fn append_record(c: &dyn Sql, rec: &Record) -> Result<(), ConsentError> {
    c.execute(
        "INSERT INTO consent_access_record (time_ns, day, consent, third_party_owner, bank_owner,
             customer, actor, action, accounts, data, customer_present, counted, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        args![
            int(rec.time_ns),
            i64::from(Day::of_ns(rec.time_ns).0),
            &rec.consent_id,
            int(rec.third_party_owner),
            int(rec.bank_owner),
            &rec.customer,
            &rec.actor,
            &rec.action,
            &accounts_text(&rec.accounts),
            &rec.data,
            rec.customer_present,
            rec.counted,
            &rec.outcome,
        ],
    )?;
    Ok(())
}

/// Whose records to list.
pub enum RecordFilter<'a> {
    Consent(&'a str),
    Customer { bank_owner: u64, customer: &'a str },
}

pub fn records(
    c: &dyn Sql,
    filter: RecordFilter,
    after: u64,
    limit: u32,
) -> Result<Vec<Record>, ConsentError> {
    const COLUMNS: &str = "seq, time_ns, consent, third_party_owner, bank_owner, customer,
        actor, action, accounts, data, customer_present, counted, outcome";
    let rows = match filter {
        RecordFilter::Consent(id) => c.query(
            &format!(
                "SELECT {COLUMNS} FROM consent_access_record WHERE consent = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3"
            ),
            args![id, int(after), limit],
        )?,
        RecordFilter::Customer {
            bank_owner,
            customer,
        } => c.query(
            &format!(
                "SELECT {COLUMNS} FROM consent_access_record
                 WHERE bank_owner = ?1 AND customer = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
            ),
            args![int(bank_owner), customer, int(after), limit],
        )?,
    };
    rows.iter()
        .map(|r| {
            Ok(Record {
                seq: r.u64(0)?,
                time_ns: r.u64(1)?,
                consent_id: r.str(2)?,
                third_party_owner: r.u64(3)?,
                bank_owner: r.u64(4)?,
                customer: r.str(5)?,
                actor: r.str(6)?,
                action: r.str(7)?,
                accounts: parse_accounts(&r.str(8)?),
                data: r.str(9)?,
                customer_present: r.bool(10)?,
                counted: r.bool(11)?,
                outcome: r.str(12)?,
            })
        })
        .collect()
}

/// The unattended reads answered on `day`: (third party, accounts) each, to count again.
pub fn counted_reads(c: &dyn Sql, day: Day) -> Result<Vec<(u64, Vec<u128>)>, ConsentError> {
    c.query(
        "SELECT third_party_owner, accounts FROM consent_access_record
         WHERE day = ?1 AND counted = ?2 AND outcome = 'ok'",
        args![i64::from(day.0), true],
    )?
    .iter()
    .map(|r| Ok((r.u64(0)?, parse_accounts(&r.str(1)?))))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_file_keeps_its_record_append_only_under_the_new_names() {
        // Version 1's tables: today's DDL with the old names.
        let old = SCHEMA
            .sqlite
            .ddl
            .replace("consent_consents", "consents")
            .replace("consent_access_record", "access_record");
        let (dir, conn) =
            suanpan_store::old_version_file("consent-v1", "consent.db", 1, &old).expect("made");
        {
            conn.execute_batch(
                "INSERT INTO access_record (time_ns, day, consent, third_party_owner, bank_owner,
                     customer, actor, action, accounts, data, customer_present, counted, outcome)
                 VALUES (1, 20000, 'cs_1', 3, 2, 'c-1', 'participant:tpp', 'read_balances', '5', 'balances', 0, 1, 'ok');",
            )
            .expect("an old entry");
        }
        drop(conn);
        let store = open(&Home::sqlite(&dir)).expect("migrates");
        let reads = store.read(|c| counted_reads(c, Day(20000))).expect("reads");
        assert_eq!(reads, vec![(3, vec![5])]);
        let changed: Result<(), ConsentError> = store.write_blocking(|c| {
            c.execute("DELETE FROM consent_access_record", args![])?;
            Ok(())
        });
        assert!(changed.is_err(), "the renamed record is still append-only");
        let kept = store
            .read(|c| records(c, RecordFilter::Consent("cs_1"), 0, 10))
            .expect("reads");
        assert_eq!(kept.len(), 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
