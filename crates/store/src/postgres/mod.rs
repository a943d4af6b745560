//! The storage home on PostgreSQL: one database (its schema named by the URL's `search_path`)
//! holding the journal and every room's tables, each room in tables of its own with its own
//! migrations.
//!
//! The driver is tokio-postgres with a deadpool pool, on one small runtime for the whole process
//! (`runtime()`, made on first use): the engine's and the rooms' threads are plain threads and
//! block on it ([`PgDb::run`]), and every database handle and one-off query shares it.

pub mod room;
mod test_database;
mod tls;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use deadpool_postgres::Object;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
pub use room::{EpochSource, Fence};
pub use test_database::{test_database_url, test_schema_url, TEST_DATABASE_VAR};
pub use tokio_postgres;

/// Connections a node opens at most. Held for as long as the node runs: the journal's writer
/// and each room's writer (gateway, payouts, consents, reconciliation); taken for a moment: the
/// lease keeper, the follower, the history indexer and every read of a room or the journal.
const POOL_SIZE: usize = 16;

/// Why the database could not be reached or refused a statement.
#[derive(Debug)]
pub enum PgError {
    /// The URL, the TLS setup or the pool: one sentence.
    Io(String),
    Postgres(tokio_postgres::Error),
    /// The database was migrated by a newer Suanpan (its newest version): running on it could
    /// misread it.
    NewerSchema(i64),
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Io(e) => f.write_str(e),
            PgError::NewerSchema(v) => write!(
                f,
                "the database has schema version {v}, newer than this Suanpan knows; upgrade Suanpan"
            ),
            PgError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "PostgreSQL error: {} ({})", db.message(), db.code().code()),
                // The driver's own text is generic ("error performing TLS handshake"); the
                // cause says which certificate or socket failed.
                None => match std::error::Error::source(e) {
                    Some(cause) => write!(f, "PostgreSQL error: {e}: {cause}"),
                    None => write!(f, "PostgreSQL error: {e}"),
                },
            },
        }
    }
}

impl std::error::Error for PgError {}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> PgError {
        PgError::Postgres(e)
    }
}

/// The process's one runtime for PostgreSQL connections, made on first use and kept until
/// the process ends. One worker thread drives every connection's I/O; the callers' own
/// threads run their queries' futures (`block_on`), so it never needs more.
fn runtime() -> Result<&'static tokio::runtime::Runtime, PgError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("suanpan-pg")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the PostgreSQL runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| PgError::Io(e.clone()))
}

/// A PostgreSQL database: the pool, driven by the process's runtime.
pub struct PgDb {
    runtime: &'static tokio::runtime::Runtime,
    pool: Pool,
    /// The URL without its password, for messages.
    shown: String,
}

impl PgDb {
    /// Connects, making the schema the URL's `search_path` names if it is missing (so that one
    /// database can hold several books, and each test its own). Each user of the database
    /// then applies its own migrations ([`migrate`]).
    pub fn open(url: &str) -> Result<Arc<PgDb>, PgError> {
        let tls::PgUrl { mut config, tls } = tls::parse_url(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let shown = shown_url(&config);
        let runtime = runtime()?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| PgError::Io(format!("cannot make the PostgreSQL pool: {e}")))?;
        let db = Arc::new(PgDb {
            runtime,
            pool,
            shown,
        });
        db.run(async {
            let client = db.client().await?;
            let schema: Option<String> = client
                .query_one("SELECT current_schema()", &[])
                .await?
                .get(0);
            if schema.is_none() {
                let wanted: String = client
                    .query_one("SELECT current_setting('search_path')", &[])
                    .await?
                    .get(0);
                let first = wanted
                    .split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"');
                if first.is_empty() || first.starts_with('$') {
                    return Err(PgError::Io("the search_path names no schema".into()));
                }
                client
                    .batch_execute(&format!(
                        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                        first.replace('"', "")
                    ))
                    .await?;
            }
            Ok(())
        })?;
        Ok(db)
    }

    /// Opens `connections` now, left idle in the pool, so that the first requests a server
    /// answers do not each wait for a connection to be made.
    pub fn warm(&self, connections: usize) -> Result<(), PgError> {
        self.run(async {
            let mut held = Vec::with_capacity(connections);
            for _ in 0..connections.min(POOL_SIZE) {
                held.push(self.client().await?);
            }
            Ok(())
        })
    }

    /// Where it is, without the password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Runs `f` to completion on the database's runtime, blocking the calling thread. From a
    /// worker of another multi-threaded runtime (a room's lookup inside an HTTP handler) the
    /// worker first hands its other tasks on (`block_in_place`), since a runtime may not block
    /// inside another's context.
    pub fn run<T>(&self, f: impl Future<Output = T>) -> T {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.runtime.block_on(f))
            }
            _ => self.runtime.block_on(f),
        }
    }

    /// A connection from the pool.
    pub async fn client(&self) -> Result<Object, PgError> {
        self.pool
            .get()
            .await
            .map_err(|e| PgError::Io(format!("cannot reach PostgreSQL at {}: {e}", self.shown)))
    }
}

/// One user's migrations: (version, what it does, SQL). Append only: a released migration
/// never changes.
pub type Migrations = &'static [(i64, &'static str, &'static str)];

/// Applies the migrations of one user of the database (the journal, a room) that it lacks,
/// recorded in that user's own `table`; refuses a database from a newer Suanpan.
pub async fn migrate(
    client: &mut Object,
    table: &str,
    migrations: Migrations,
) -> Result<(), PgError> {
    let newest_known = migrations.last().map_or(0, |m| m.0);
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                version     bigint PRIMARY KEY,
                description text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )"
        ))
        .await
        .or_else(ignore_concurrent_create)?;
    for &(version, description, sql) in migrations {
        let tx = client.transaction().await?;
        // One node migrates at a time (per schema and user); the others wait, then see it done.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || $1::text))",
            &[&table],
        )
        .await?;
        let newest: Option<i64> = tx
            .query_one(&format!("SELECT max(version) FROM {table}"), &[])
            .await?
            .get(0);
        if let Some(v) = newest.filter(|&v| v > newest_known) {
            return Err(PgError::NewerSchema(v));
        }
        if newest.is_some_and(|v| v >= version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            &format!("INSERT INTO {table} (version, description) VALUES ($1, $2)"),
            &[&version, &description],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Two nodes creating the bookkeeping table at once: one wins, the other's error is harmless.
fn ignore_concurrent_create(e: tokio_postgres::Error) -> Result<(), PgError> {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_TABLE => Ok(()),
        _ => Err(e.into()),
    }
}

/// Runs one query on a fresh connection to `url` and returns its rows as text (NULL as
/// empty): for tools and tests that read the tables.
pub fn query_text(url: &str, sql: &str) -> Result<Vec<Vec<String>>, PgError> {
    let tls::PgUrl { config, tls } = tls::parse_url(url)?;
    runtime()?.block_on(async {
        let (client, connection) = config.connect(tls).await?;
        let driver = tokio::spawn(connection);
        let messages = client.simple_query(sql).await;
        drop(client);
        let _ = driver.await;
        let mut rows = Vec::new();
        for message in messages? {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).unwrap_or("").to_string())
                        .collect(),
                );
            }
        }
        Ok(rows)
    })
}

/// Runs `sql` once on a fresh connection to `url`, outside any pool: for tools and tests that
/// make or drop the schema the books live in.
pub fn run_sql(url: &str, sql: &str) -> Result<(), PgError> {
    let tls::PgUrl { config, tls } = tls::parse_url(url)?;
    runtime()?.block_on(async {
        let (client, connection) = config.connect(tls).await?;
        let driver = tokio::spawn(connection);
        let done = client.batch_execute(sql).await;
        drop(client);
        let _ = driver.await;
        done.map_err(PgError::from)
    })
}

fn shown_url(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}
