//! The access room on PostgreSQL: its tables in the journal's database (the storage home's
//! `PgDb`), so every node of a leader and its standbys honours the same credentials, and a key
//! or token revoked through one node is refused by all (within the lookup cache's seconds, and
//! at once by a node that takes the writer's lease over, which empties its cache).
//!
//! The same rows as `access.db`, in tables named `access_*` (the clearing room has participants
//! of its own). Writes are not fenced by the writer's lease: credentials are an operator's
//! changes made with the `credentials` command against the database, not commands of the
//! leader, and an audit entry of a deposed node records what was refused there.

use std::sync::Arc;

use suanpan_store::postgres::{migrate, Migrations, PgDb, PgError};

use crate::{AuditRow, ParticipantRole};

const MIGRATIONS: Migrations = &[(
    1,
    "participants, API keys, operator tokens, the append-only audit log",
    r#"
CREATE TABLE access_participants (
    code       text   PRIMARY KEY,
    name       text   NOT NULL,
    owner      bigint NOT NULL UNIQUE,  -- the ledger's owner number of its accounts
    created_at bigint NOT NULL,
    role       text   NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'third_party'))
);
CREATE TABLE access_api_keys (
    key_id      text   PRIMARY KEY,
    participant text   NOT NULL REFERENCES access_participants(code),
    key_hash    bytea  NOT NULL,        -- SHA-256 of the secret
    created_at  bigint NOT NULL,
    revoked_at  bigint
);
CREATE TABLE access_operator_tokens (
    token_hash bytea  PRIMARY KEY,      -- SHA-256 of the token
    name       text   NOT NULL UNIQUE,
    role       text   NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at bigint NOT NULL,
    revoked_at bigint
);
CREATE TABLE access_audit_log (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time     bigint NOT NULL,           -- ns since the epoch
    operator text   NOT NULL,
    role     text   NOT NULL,
    action   text   NOT NULL,
    target   text   NOT NULL,
    outcome  text   NOT NULL
);
CREATE FUNCTION access_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER access_audit_log_no_change BEFORE UPDATE OR DELETE ON access_audit_log
    FOR EACH ROW EXECUTE FUNCTION access_audit_log_append_only();
CREATE TRIGGER access_audit_log_no_truncate BEFORE TRUNCATE ON access_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_audit_log_append_only();
"#,
)];

fn db_error(e: impl std::fmt::Display) -> String {
    format!("access database: {e}")
}

fn unique_violation(e: &PgError) -> bool {
    matches!(e, PgError::Postgres(e)
        if e.code() == Some(&suanpan_store::postgres::tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
}

/// Runs one statement on a pooled connection, on the database's runtime.
macro_rules! on {
    ($db:expr, |$client:ident| $body:expr) => {
        $db.run(async {
            let $client = $db.client().await?;
            let out: Result<_, PgError> = async { Ok($body) }.await;
            out
        })
    };
}

pub(crate) fn open(db: &Arc<PgDb>) -> Result<(), String> {
    db.run(async {
        let mut client = db.client().await?;
        migrate(&mut client, "access_migrations", MIGRATIONS).await
    })
    .map_err(db_error)
}

pub(crate) fn next_owner(db: &PgDb) -> Result<u64, String> {
    let row = on!(db, |c| c
        .query_one(
            "SELECT coalesce(max(owner), 0) + 1 FROM access_participants",
            &[]
        )
        .await?)
    .map_err(db_error)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// `Ok(false)`: the code or the owner exists already.
pub(crate) fn add_participant(
    db: &PgDb,
    code: &str,
    name: &str,
    owner: i64,
    role: ParticipantRole,
    now: i64,
) -> Result<bool, String> {
    let inserted = on!(db, |c| c
        .execute(
            "INSERT INTO access_participants (code, name, owner, created_at, role)
             VALUES ($1, $2, $3, $4, $5)",
            &[&code, &name, &owner, &now, &role.as_str()],
        )
        .await?);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if unique_violation(&e) => Ok(false),
        Err(e) => Err(db_error(e)),
    }
}

/// (code, name, owner, role) of a participant.
pub(crate) fn participant(
    db: &PgDb,
    code: &str,
) -> Result<Option<(String, String, i64, String)>, String> {
    let row = on!(db, |c| c
        .query_opt(
            "SELECT code, name, owner, role FROM access_participants WHERE code = $1",
            &[&code],
        )
        .await?)
    .map_err(db_error)?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
}

/// How many keys were made (0: no such participant).
pub(crate) fn create_key(
    db: &PgDb,
    key_id: &str,
    key_hash: &[u8],
    now: i64,
    participant: &str,
) -> Result<u64, String> {
    on!(db, |c| c
        .execute(
            "INSERT INTO access_api_keys (key_id, participant, key_hash, created_at)
             SELECT $1, code, $2, $3 FROM access_participants WHERE code = $4",
            &[&key_id, &key_hash, &now, &participant],
        )
        .await?)
    .map_err(db_error)
}

pub(crate) fn revoke_key(db: &PgDb, key_id: &str, now: i64) -> Result<u64, String> {
    on!(db, |c| c
        .execute(
            "UPDATE access_api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL",
            &[&now, &key_id],
        )
        .await?)
    .map_err(db_error)
}

pub(crate) fn operators_made(db: &PgDb) -> Result<u64, String> {
    let row = on!(db, |c| c
        .query_one("SELECT count(*) FROM access_operator_tokens", &[])
        .await?)
    .map_err(db_error)?;
    Ok(row.get::<_, i64>(0) as u64)
}

pub(crate) fn revoke_operator(db: &PgDb, name: &str, now: i64) -> Result<u64, String> {
    on!(db, |c| c
        .execute(
            "UPDATE access_operator_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
            &[&now, &name],
        )
        .await?)
    .map_err(db_error)
}

/// `Ok(false)`: an operator of that name exists already.
pub(crate) fn create_operator(
    db: &PgDb,
    token_hash: &[u8],
    name: &str,
    role: &str,
    now: i64,
) -> Result<bool, String> {
    let inserted = on!(db, |c| c
        .execute(
            "INSERT INTO access_operator_tokens (token_hash, name, role, created_at)
             VALUES ($1, $2, $3, $4)",
            &[&token_hash, &name, &role, &now],
        )
        .await?);
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if unique_violation(&e) => Ok(false),
        Err(e) => Err(db_error(e)),
    }
}

/// (code, name, owner, key hash, role) of the participant behind an active key.
pub(crate) type KeyRow = (String, String, i64, Vec<u8>, String);

pub(crate) fn key(db: &PgDb, key_id: &str) -> Result<Option<KeyRow>, String> {
    let row = on!(db, |c| c
        .query_opt(
            "SELECT p.code, p.name, p.owner, k.key_hash, p.role FROM access_api_keys k
             JOIN access_participants p ON p.code = k.participant
             WHERE k.key_id = $1 AND k.revoked_at IS NULL",
            &[&key_id],
        )
        .await?)
    .map_err(db_error)?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))))
}

/// (name, role) of the operator holding an active token.
pub(crate) fn operator(db: &PgDb, token_hash: &[u8]) -> Result<Option<(String, String)>, String> {
    let row = on!(db, |c| c
        .query_opt(
            "SELECT name, role FROM access_operator_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL",
            &[&token_hash],
        )
        .await?)
    .map_err(db_error)?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

pub(crate) fn audit(db: &PgDb, entry: [&str; 5], now: i64) -> Result<u64, String> {
    let [operator, role, action, target, outcome] = entry;
    let row = on!(db, |c| c
        .query_one(
            "INSERT INTO access_audit_log (time, operator, role, action, target, outcome)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
            &[&now, &operator, &role, &action, &target, &outcome],
        )
        .await?)
    .map_err(db_error)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Audit entries after `after` oldest first, or (`after` = None) the newest, newest first.
pub(crate) fn audit_log(
    db: &PgDb,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<AuditRow>, String> {
    let limit = i64::from(limit);
    let rows = match after {
        Some(after) => {
            let after = after as i64;
            on!(db, |c| c
                .query(
                    "SELECT seq, time, operator, role, action, target, outcome
                     FROM access_audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&after, &limit],
                )
                .await?)
        }
        None => on!(db, |c| c
            .query(
                "SELECT seq, time, operator, role, action, target, outcome
                 FROM access_audit_log ORDER BY seq DESC LIMIT $1",
                &[&limit],
            )
            .await?),
    }
    .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|r| AuditRow {
            seq: r.get::<_, i64>(0) as u64,
            time_ns: r.get::<_, i64>(1) as u64,
            operator: r.get(2),
            role: r.get(3),
            action: r.get(4),
            target: r.get(5),
            outcome: r.get(6),
        })
        .collect())
}
