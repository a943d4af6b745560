//! A room's durable state on the embedded default: one SQLite file in the data directory
//! (WAL, `synchronous=FULL`), its schema versioned, written by one thread in groups.
//!
//! The writer thread owns the writing connection and commits in groups: it takes the jobs
//! waiting, runs them in one transaction (a job refuses before it writes; one that fails
//! after writing rolls the group back), commits (one fsync) and only then answers each. So a
//! caller is never told of a change that could still be lost, and thousands of changes a
//! second share a few fsyncs. Reads go to a second connection and never wait for the writer.
//!
//! This is the first piece of the storage home (ARCHITECTURE.md): rooms keep their state
//! through it, not through SQLite files they set up themselves.

pub mod exclusive;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod room;
pub mod sql;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Mutex;
use std::time::Duration;

pub use rusqlite;
use rusqlite::{Connection, OptionalExtension};

/// Why the store could not do what it was asked, apart from a job's own refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The writer's queue is full: back-pressure, try again shortly.
    Overloaded,
    /// The file could not be opened, read or written, or a group failed to commit.
    Failed(String),
    /// This node does not hold the writer's lease (a standby, or a leader deposed or paused
    /// past its lease): it changes nothing in the shared database.
    Fenced(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Overloaded => f.write_str("the store's queue is full"),
            StoreError::Failed(why) | StoreError::Fenced(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Failed(e.to_string())
    }
}

/// A room's schema: its file name, its version and the statements that create it.
pub struct Schema {
    pub file: &'static str,
    pub version: i64,
    /// Idempotent DDL (`CREATE ... IF NOT EXISTS`); run at every open.
    pub ddl: &'static str,
    /// What each version after the first adds to a file made by an older one, in order: run
    /// once, in one transaction with the new version number.
    pub migrations: &'static [(i64, &'static str)],
    /// Reading connections: a read takes one that is free, so reads never queue behind each
    /// other on one connection.
    pub readers: usize,
}

use sql::Sql;
use writer::{Answer, Job, Writer};

pub struct Store {
    path: PathBuf,
    writer: Writer,
    readers: std::sync::Arc<Vec<Mutex<Connection>>>,
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Failed(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Creates `path` owner-only (0600) if it is missing: a room's file may hold secrets' digests.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(|_| ())
        .map_err(|e| StoreError::Failed(format!("cannot create {}: {e}", path.display())))
}

impl Store {
    /// Opens (creating if missing) `dir/<schema.file>`, refusing a schema version it does not
    /// know, and starts the writer thread.
    pub fn open(dir: &Path, schema: &Schema) -> Result<Store, StoreError> {
        let path = dir.join(schema.file);
        create_private(&path)?;
        let conn = open_connection(&path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;",
        )?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute_batch(schema.ddl)?;
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [schema.version.to_string()],
                )?;
            }
            Some(Ok(v)) if v == schema.version => conn.execute_batch(schema.ddl)?,
            Some(Ok(from)) if (1..schema.version).contains(&from) => {
                // An older file: what the later versions add, and the version, together, on
                // the tables as the old version left them; the DDL (idempotent) then adds
                // what they did not make.
                let mut sql = String::from("BEGIN IMMEDIATE;");
                for (_, step) in schema.migrations.iter().filter(|(v, _)| *v > from) {
                    sql.push_str(step);
                }
                sql.push_str(&format!(
                    "UPDATE meta SET value = '{}' WHERE key = 'schema_version'; COMMIT;",
                    schema.version
                ));
                conn.execute_batch(&sql)?;
                conn.execute_batch(schema.ddl)?;
            }
            Some(_) => {
                return Err(StoreError::Failed(format!(
                    "{} has a schema this version of Suanpan does not know",
                    path.display()
                )))
            }
        }
        let readers = (0..schema.readers.max(1))
            .map(|_| open_connection(&path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let name = format!("suanpan-{}", schema.file.trim_end_matches(".db"));
        let writer = Writer::start(name, move |jobs| run_writer(conn, jobs))?;
        Ok(Store {
            path,
            writer,
            readers: std::sync::Arc::new(readers),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.writer
    }

    /// A point read on a free reading connection (WAL: it sees every committed write, never
    /// a half-done one). Short enough to run where it is asked; what scans goes through
    /// [`Store::read_async`].
    pub fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E>,
    ) -> Result<R, E> {
        read_on(&self.readers, f)
    }

    /// A read that scans, on the runtime's blocking threads, so it never holds up an async
    /// worker.
    pub async fn read_async<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || read_on(&readers, f))
            .await
            .map_err(|e| E::from(StoreError::Failed(format!("a store read failed: {e}"))))?
    }
}

/// Runs `f` on the first free reading connection; if none is free, waits for one (which
/// one by the thread, so waiters spread).
fn read_on<R, E>(
    readers: &[Mutex<Connection>],
    f: impl FnOnce(&Connection) -> Result<R, E>,
) -> Result<R, E> {
    for reader in readers {
        if let Ok(conn) = reader.try_lock() {
            return f(&conn);
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&std::thread::current().id(), &mut hasher);
    // A store opens at least one reader, so the index is in range.
    let at = (std::hash::Hasher::finish(&hasher) as usize) % readers.len();
    let conn = readers[at].lock().unwrap_or_else(|p| p.into_inner());
    f(&conn)
}

fn run_writer(conn: Connection, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let group = writer::group(first, &jobs);
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // No job runs outside a transaction (each statement would commit on its own, and
            // a caller told of a failure could find its write kept): every caller hears why.
            let why = StoreError::Failed(format!("cannot begin a transaction: {e}"));
            for job in group {
                let (answer, _) = job(None);
                answer(Err(why.clone()));
            }
            continue;
        }
        let mut spoiled = false;
        let answers: Vec<Answer> = group
            .into_iter()
            .map(|job| {
                let (answer, failed) = job(Some(&conn as &dyn Sql));
                spoiled |= failed;
                answer
            })
            .collect();
        let committed = if spoiled {
            Err(StoreError::Failed(
                "a write failed part-way; its group was rolled back".into(),
            ))
        } else {
            conn.execute_batch("COMMIT")
                .map_err(|e| StoreError::Failed(format!("commit failed: {e}")))
        };
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for answer in answers {
            answer(committed.clone());
        }
    }
}

/// Makes `dir/<file>` as a Suanpan whose schema was `version` made it, with `ddl`, in a fresh
/// directory of that name under the system's temporary one: the start of a room's migration
/// test. Returns the directory and a connection to the file, to fill with old rows.
pub fn old_version_file(
    name: &str,
    file: &str,
    version: i64,
    ddl: &str,
) -> Result<(PathBuf, Connection), StoreError> {
    let dir = std::env::temp_dir().join(format!("suanpan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| StoreError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    let conn = Connection::open(dir.join(file))?;
    conn.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;")?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
        [version.to_string()],
    )?;
    conn.execute_batch(ddl)?;
    Ok((dir, conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        file: "test.db",
        version: 1,
        ddl: "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;",
        migrations: &[],
        readers: 1,
    };

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("suanpan-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_refused_job_leaves_its_group_committed() {
        let dir = temp_dir("refused");
        let store = Store::open(&dir, &SCHEMA).expect("opens");
        let written: Result<(), StoreError> = store.writer().write_blocking(|c| {
            c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", args![])?;
            Ok(())
        });
        assert_eq!(written, Ok(()));
        let refused: Result<(), StoreError> = store
            .writer()
            .write_blocking(|_| Err(StoreError::Failed("no".into())));
        assert!(refused.is_err());
        let n: i64 = store
            .read(|c| Ok::<_, StoreError>(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .expect("reads");
        assert_eq!(n, 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_job_failing_after_its_write_rolls_the_write_back() {
        let dir = temp_dir("spoiled");
        let store = Store::open(&dir, &SCHEMA).expect("opens");
        let failed: Result<(), StoreError> = store.writer().write_blocking(|c| {
            c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", args![])?;
            Err(StoreError::Failed("after the write".into()))
        });
        assert!(failed.is_err());
        let n: i64 = store
            .read(|c| Ok::<_, StoreError>(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .expect("reads");
        assert_eq!(n, 0);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_newer_schema_is_refused_an_older_one_migrated_and_the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("newer");
        drop(Store::open(&dir, &SCHEMA).expect("opens"));
        let mode = std::fs::metadata(dir.join(SCHEMA.file))
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let newer = Schema {
            version: 2,
            migrations: &[(2, "ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 5;")],
            ..SCHEMA
        };
        let store = Store::open(&dir, &newer).expect("an older file is migrated");
        let w: i64 = store
            .writer()
            .write_blocking(|c| {
                c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", args![])?;
                c.query_one("SELECT w FROM t", args![])?.i64(0)
            })
            .expect("the new column is there");
        assert_eq!(w, 5);
        drop(store);
        let err = Store::open(&dir, &SCHEMA).err().expect("refused");
        assert!(err.to_string().contains("does not know"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
