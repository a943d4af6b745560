//! Who may call: participants with API keys, operators with role-bearing tokens, and the
//! append-only audit log of operator actions. Kept in `access.db` in the data directory, apart
//! from the journal, so that the journal's file keeps exactly one writer; or, with the journal
//! on PostgreSQL, in the same database (`postgres.rs`), so that every node honours the same
//! credentials.
//!
//! Secrets are never stored. An API secret is 128 hex characters, so as an HMAC-SHA256 key it
//! is longer than SHA-256's 64-byte block, and HMAC itself first replaces such a key by its
//! SHA-256: HMAC(secret, m) = HMAC(SHA-256(secret), m). The server keeps only SHA-256(secret)
//! and verifies standard HMAC-SHA256 signatures with it. That digest can sign requests, so
//! `access.db` is protected like a key store; what it cannot do is give back the secret.
//! Operator tokens are stored as their SHA-256 and compared by it.

mod postgres;

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashbrown::HashMap;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use suanpan_store::postgres::PgDb;

pub const ACCESS_FILE: &str = "access.db";
/// How long a looked-up key or token is trusted before it is read again (so a revocation
/// made with the `suanpan credentials` command takes effect within this time).
const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_ENTRIES_MAX: usize = 100_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS participants (
    code       TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    owner      INTEGER NOT NULL UNIQUE,  -- the ledger's owner number of its accounts
    created_at INTEGER NOT NULL,
    role       TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'third_party'))
) STRICT;
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT    PRIMARY KEY,
    participant TEXT    NOT NULL REFERENCES participants(code),
    key_hash    BLOB    NOT NULL,        -- SHA-256 of the secret
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS operator_tokens (
    token_hash BLOB    PRIMARY KEY,      -- SHA-256 of the token
    name       TEXT    NOT NULL UNIQUE,
    role       TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    time     INTEGER NOT NULL,           -- ns since the epoch
    operator TEXT    NOT NULL,
    role     TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    outcome  TEXT    NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// What a participant is to Suanpan.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParticipantRole {
    /// A bank or payment institution: keeps accounts, moves money.
    Member,
    /// A third party (a securities firm, an accounting app): reads customers' accounts at
    /// other participants only under the customers' consents.
    ThirdParty,
}

impl ParticipantRole {
    pub fn parse(text: &str) -> Option<ParticipantRole> {
        match text {
            "member" => Some(ParticipantRole::Member),
            "third_party" => Some(ParticipantRole::ThirdParty),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantRole::Member => "member",
            ParticipantRole::ThirdParty => "third_party",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Participant {
    pub code: String,
    pub name: String,
    pub owner: u64,
    pub role: ParticipantRole,
}

#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub participant: Participant,
    pub key_hash: [u8; 32],
}

#[derive(Clone, Debug)]
pub struct OperatorRecord {
    pub name: String,
    pub role: Role,
}

pub struct NewKey {
    pub key_id: String,
    pub secret: String,
}

pub struct AuditRow {
    pub seq: u64,
    pub time_ns: u64,
    pub operator: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

pub struct Access {
    backend: Backend,
    keys: Mutex<HashMap<String, Cached<KeyRecord>>>,
    operators: Mutex<HashMap<[u8; 32], Cached<OperatorRecord>>>,
}

enum Backend {
    Sqlite(Mutex<Connection>),
    Postgres(Arc<PgDb>),
}

/// A lookup (found or not) and when it was made.
type Cached<T> = (Option<T>, Instant);

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness from the system: {e}"))?;
    Ok(suanpan_ledger::hex(&buf))
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

fn db_error(e: rusqlite::Error) -> String {
    format!("access database: {e}")
}

/// `access.db` signs like a key store (it holds the digests HMAC keys are made of): it is
/// created readable by its owner alone, and one made before that is made so. SQLite gives its
/// `-wal` and `-shm` files the same mode.
fn owner_only(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot make {} owner-only: {e}", path.display()))
}

/// `access.db` files made before participants had roles get the column, every participant
/// a member (what they all were).
fn add_role_column(conn: &Connection) -> Result<(), String> {
    let has_role: bool = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('participants') WHERE name = 'role'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(db_error)?
        > 0;
    if !has_role {
        conn.execute_batch(
            "ALTER TABLE participants ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
                 CHECK (role IN ('member', 'third_party'))",
        )
        .map_err(db_error)?;
    }
    Ok(())
}

fn role_of(text: &str) -> ParticipantRole {
    // The CHECK constraint admits nothing else; an unknown text reads as the least trusted.
    ParticipantRole::parse(text).unwrap_or(ParticipantRole::ThirdParty)
}

impl Access {
    pub fn open(dir: &Path) -> Result<Access, String> {
        if dir.exists() && !dir.is_dir() {
            return Err(format!("{} is a file, not a data directory", dir.display()));
        }
        if !dir.exists() {
            // The directory itself, not its parents: a mistyped path is said, not made.
            std::fs::create_dir(dir).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "cannot create the data directory {}: its parent does not exist",
                    dir.display()
                ),
                _ => format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let path = dir.join(ACCESS_FILE);
        owner_only(&path)?;
        let conn =
            Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_error)?;
        conn.execute_batch(SCHEMA).map_err(db_error)?;
        add_role_column(&conn)?;
        Ok(Access::with(Backend::Sqlite(Mutex::new(conn))))
    }

    /// The access room in the PostgreSQL database the journal is in: its tables are created
    /// or migrated first.
    pub fn open_postgres(db: Arc<PgDb>) -> Result<Access, String> {
        postgres::open(&db)?;
        Ok(Access::with(Backend::Postgres(db)))
    }

    fn with(backend: Backend) -> Access {
        Access {
            backend,
            keys: Mutex::new(HashMap::new()),
            operators: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every cached lookup: a node that takes the writer's lease over reads each key
    /// and token afresh, so what was revoked through the old leader is refused at once.
    pub fn forget_cached(&self) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.operators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Registers a participant; its accounts get `owner` (default: the next free number).
    pub fn add_participant(
        &self,
        code: &str,
        name: &str,
        owner: Option<u64>,
        role: ParticipantRole,
    ) -> Result<Participant, String> {
        let valid = !code.is_empty()
            && code.len() <= 32
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!(
                "participant code {code:?} must be 1 to 32 letters, digits, '-' or '_'"
            ));
        }
        if name.is_empty() || name.len() > 200 {
            return Err("a participant's name must be 1 to 200 bytes".into());
        }
        if owner == Some(0) {
            return Err("owner 0 is not an owner number".into());
        }
        let exists = |owner: u64| format!("participant {code:?} or owner {owner} exists already");
        let conn = match &self.backend {
            Backend::Postgres(db) => {
                let owner = match owner {
                    Some(owner) => owner,
                    None => postgres::next_owner(db)?,
                };
                let owner_sql =
                    i64::try_from(owner).map_err(|_| format!("owner {owner} is too large"))?;
                if !postgres::add_participant(db, code, name, owner_sql, role, now_ns() as i64)? {
                    return Err(exists(owner));
                }
                return Ok(Participant {
                    code: code.into(),
                    name: name.into(),
                    owner,
                    role,
                });
            }
            Backend::Sqlite(conn) => lock(conn),
        };
        let owner = match owner {
            Some(owner) => owner,
            None => conn
                .query_row(
                    "SELECT coalesce(max(owner), 0) + 1 FROM participants",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(db_error)? as u64,
        };
        let owner_sql = i64::try_from(owner).map_err(|_| format!("owner {owner} is too large"))?;
        conn.execute(
            "INSERT INTO participants (code, name, owner, created_at, role)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![code, name, owner_sql, now_ns() as i64, role.as_str()],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                exists(owner)
            }
            e => db_error(e),
        })?;
        Ok(Participant {
            code: code.into(),
            name: name.into(),
            owner,
            role,
        })
    }

    /// A participant by its code.
    pub fn participant(&self, code: &str) -> Result<Option<Participant>, String> {
        let conn = match &self.backend {
            Backend::Postgres(db) => {
                return Ok(
                    postgres::participant(db, code)?.map(|(code, name, owner, role)| Participant {
                        code,
                        name,
                        owner: owner as u64,
                        role: role_of(&role),
                    }),
                )
            }
            Backend::Sqlite(conn) => lock(conn),
        };
        conn.query_row(
            "SELECT code, name, owner, role FROM participants WHERE code = ?1",
            [code],
            |r| {
                Ok(Participant {
                    code: r.get(0)?,
                    name: r.get(1)?,
                    owner: r.get::<_, i64>(2)? as u64,
                    role: role_of(&r.get::<_, String>(3)?),
                })
            },
        )
        .optional()
        .map_err(db_error)
    }

    /// A new API key for a participant. The secret is returned once and never stored.
    pub fn create_key(&self, participant: &str) -> Result<NewKey, String> {
        let key_id = format!("pk_{}", random_hex(12)?);
        let secret = format!("sk_{}", random_hex(64)?);
        let conn = match &self.backend {
            Backend::Postgres(db) => {
                let hash = sha256(secret.as_bytes());
                if postgres::create_key(db, &key_id, &hash, now_ns() as i64, participant)? == 0 {
                    return Err(format!("no participant {participant:?}"));
                }
                return Ok(NewKey { key_id, secret });
            }
            Backend::Sqlite(conn) => lock(conn),
        };
        let inserted = conn
            .execute(
                "INSERT INTO api_keys (key_id, participant, key_hash, created_at)
                 SELECT ?1, code, ?2, ?3 FROM participants WHERE code = ?4",
                params![
                    key_id,
                    &sha256(secret.as_bytes())[..],
                    now_ns() as i64,
                    participant
                ],
            )
            .map_err(db_error)?;
        if inserted == 0 {
            return Err(format!("no participant {participant:?}"));
        }
        Ok(NewKey { key_id, secret })
    }

    pub fn revoke_key(&self, key_id: &str) -> Result<(), String> {
        let n = match &self.backend {
            Backend::Postgres(db) => postgres::revoke_key(db, key_id, now_ns() as i64)?,
            Backend::Sqlite(conn) => lock(conn)
                .execute(
                    "UPDATE api_keys SET revoked_at = ?1 WHERE key_id = ?2 AND revoked_at IS NULL",
                    params![now_ns() as i64, key_id],
                )
                .map_err(db_error)? as u64,
        };
        if n == 0 {
            return Err(format!("no active key {key_id:?}"));
        }
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key_id);
        Ok(())
    }

    /// How many operators were ever made (revoked ones too).
    pub fn operators_made(&self) -> Result<u64, String> {
        let conn = match &self.backend {
            Backend::Postgres(db) => return postgres::operators_made(db),
            Backend::Sqlite(conn) => lock(conn),
        };
        conn.query_row("SELECT count(*) FROM operator_tokens", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(db_error)
    }

    /// Revokes an operator's token (taking effect within the lookup cache's 5 seconds).
    pub fn revoke_operator(&self, name: &str) -> Result<(), String> {
        let n = match &self.backend {
            Backend::Postgres(db) => postgres::revoke_operator(db, name, now_ns() as i64)?,
            Backend::Sqlite(conn) => lock(conn)
                .execute(
                    "UPDATE operator_tokens SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
                    params![now_ns() as i64, name],
                )
                .map_err(db_error)? as u64,
        };
        if n == 0 {
            return Err(format!("no active operator {name:?}"));
        }
        self.operators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(())
    }

    /// A new operator token. Returned once, stored as its SHA-256.
    pub fn create_operator(&self, name: &str, role: Role) -> Result<String, String> {
        if name.is_empty() || name.len() > 64 {
            return Err("an operator's name must be 1 to 64 bytes".into());
        }
        let token = format!("ot_{}", random_hex(32)?);
        let conn = match &self.backend {
            Backend::Postgres(db) => {
                let hash = sha256(token.as_bytes());
                if !postgres::create_operator(db, &hash, name, role.as_str(), now_ns() as i64)? {
                    return Err(format!("operator {name:?} exists already"));
                }
                return Ok(token);
            }
            Backend::Sqlite(conn) => lock(conn),
        };
        conn.execute(
            "INSERT INTO operator_tokens (token_hash, name, role, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            params![
                &sha256(token.as_bytes())[..],
                name,
                role.as_str(),
                now_ns() as i64
            ],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                format!("operator {name:?} exists already")
            }
            e => db_error(e),
        })?;
        Ok(token)
    }

    /// The participant behind an active key, cached for a few seconds.
    pub fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, String> {
        if let Some((record, at)) = self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key_id)
        {
            if at.elapsed() < CACHE_TTL {
                return Ok(record.clone());
            }
        }
        let found = match &self.backend {
            Backend::Postgres(db) => postgres::key(db, key_id)?,
            Backend::Sqlite(conn) => lock(conn)
                .query_row(
                    "SELECT p.code, p.name, p.owner, k.key_hash, p.role FROM api_keys k
                     JOIN participants p ON p.code = k.participant
                     WHERE k.key_id = ?1 AND k.revoked_at IS NULL",
                    [key_id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, Vec<u8>>(3)?,
                            r.get::<_, String>(4)?,
                        ))
                    },
                )
                .optional()
                .map_err(db_error)?,
        };
        let record = found.and_then(|(code, name, owner, hash, role)| {
            Some(KeyRecord {
                participant: Participant {
                    code,
                    name,
                    owner: owner as u64,
                    role: role_of(&role),
                },
                key_hash: hash.try_into().ok()?,
            })
        });
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= CACHE_ENTRIES_MAX {
            keys.clear();
        }
        keys.insert(key_id.to_string(), (record.clone(), Instant::now()));
        Ok(record)
    }

    /// The operator holding `token`, cached for a few seconds.
    pub fn operator(&self, token: &str) -> Result<Option<OperatorRecord>, String> {
        let hash = sha256(token.as_bytes());
        if let Some((record, at)) = self
            .operators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
        {
            if at.elapsed() < CACHE_TTL {
                return Ok(record.clone());
            }
        }
        let found = match &self.backend {
            Backend::Postgres(db) => postgres::operator(db, &hash)?,
            Backend::Sqlite(conn) => lock(conn)
                .query_row(
                    "SELECT name, role FROM operator_tokens
                     WHERE token_hash = ?1 AND revoked_at IS NULL",
                    [&hash[..]],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(db_error)?,
        };
        let record = found.and_then(|(name, role)| {
            Some(OperatorRecord {
                name,
                role: Role::parse(&role)?,
            })
        });
        let mut operators = self.operators.lock().unwrap_or_else(|p| p.into_inner());
        if operators.len() >= CACHE_ENTRIES_MAX {
            operators.clear();
        }
        operators.insert(hash, (record.clone(), Instant::now()));
        Ok(record)
    }

    /// Appends to the audit log (fsynced before it returns); the entry's sequence number.
    pub fn audit(
        &self,
        operator: &OperatorRecord,
        action: &str,
        target: &str,
        outcome: &str,
    ) -> Result<u64, String> {
        let conn = match &self.backend {
            Backend::Postgres(db) => {
                let entry = [
                    operator.name.as_str(),
                    operator.role.as_str(),
                    action,
                    target,
                    outcome,
                ];
                return postgres::audit(db, entry, now_ns() as i64);
            }
            Backend::Sqlite(conn) => lock(conn),
        };
        conn.execute(
            "INSERT INTO audit_log (time, operator, role, action, target, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                now_ns() as i64,
                operator.name,
                operator.role.as_str(),
                action,
                target,
                outcome
            ],
        )
        .map_err(db_error)?;
        Ok(conn.last_insert_rowid() as u64)
    }

    /// The newest audit entries, newest first, at most `limit`.
    pub fn audit_log_newest(&self, limit: u32) -> Result<Vec<AuditRow>, String> {
        let conn = match &self.backend {
            Backend::Postgres(db) => return postgres::audit_log(db, None, limit),
            Backend::Sqlite(conn) => lock(conn),
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, time, operator, role, action, target, outcome FROM audit_log
                 ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![limit], |r| {
                Ok(AuditRow {
                    seq: r.get::<_, i64>(0)? as u64,
                    time_ns: r.get::<_, i64>(1)? as u64,
                    operator: r.get(2)?,
                    role: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    outcome: r.get(6)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
    }

    /// Audit entries after `after`, oldest first.
    pub fn audit_log(&self, after: u64, limit: u32) -> Result<Vec<AuditRow>, String> {
        let conn = match &self.backend {
            Backend::Postgres(db) => return postgres::audit_log(db, Some(after), limit),
            Backend::Sqlite(conn) => lock(conn),
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, time, operator, role, action, target, outcome FROM audit_log
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![after as i64, limit], |r| {
                Ok(AuditRow {
                    seq: r.get::<_, i64>(0)? as u64,
                    time_ns: r.get::<_, i64>(1)? as u64,
                    operator: r.get(2)?,
                    role: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    outcome: r.get(6)?,
                })
            })
            .map_err(db_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};

    #[test]
    fn hmac_with_the_stored_digest_equals_hmac_with_the_secret() {
        let secret = format!("sk_{}", "ab".repeat(64));
        assert!(
            secret.len() > 64,
            "longer than SHA-256's block, so HMAC hashes it"
        );
        let sign = |key: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
            mac.update(b"POST\n/v1/transfers\n1\nn\nbody");
            mac.finalize().into_bytes()
        };
        assert_eq!(sign(secret.as_bytes()), sign(&sha256(secret.as_bytes())));
    }

    #[test]
    fn the_audit_log_refuses_updates_and_deletes() {
        let dir = std::env::temp_dir().join(format!("suanpan-access-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let access = Access::open(&dir).expect("opens");
        let op = OperatorRecord {
            name: "ops-1".into(),
            role: Role::Admin,
        };
        access
            .audit(&op, "freeze_account", "42", "requested")
            .expect("appends");
        let Backend::Sqlite(conn) = &access.backend else {
            panic!("opened on a file")
        };
        let conn = lock(conn);
        assert!(conn
            .execute("UPDATE audit_log SET outcome = 'x'", [])
            .is_err());
        assert!(conn.execute("DELETE FROM audit_log", []).is_err());
        drop(conn);
        assert_eq!(access.audit_log(0, 10).expect("reads").len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
