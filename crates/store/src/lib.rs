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

#[cfg(feature = "postgres")]
pub mod postgres;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Duration;

pub use rusqlite;
use rusqlite::{Connection, OptionalExtension};

/// Jobs that may wait for the writer; one more is refused as overload (bounded memory).
const QUEUE_JOBS_MAX: usize = 65_536;
/// Jobs committed in one transaction at most.
const GROUP_JOBS_MAX: usize = 4_096;

/// Why the store could not do what it was asked, apart from a job's own refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The writer's queue is full: back-pressure, try again shortly.
    Overloaded,
    /// The file could not be opened, read or written, or a group failed to commit.
    Failed(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Overloaded => f.write_str("the store's queue is full"),
            StoreError::Failed(why) => f.write_str(why),
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
}

type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A job runs on the writer's connection inside the group's transaction; it returns its
/// answer and whether it failed after writing (which spoils the group). Given no connection
/// (the group's transaction could not begin), it does not run and only makes its answer.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (Answer, bool) + Send>;

pub struct Store {
    path: PathBuf,
    jobs: SyncSender<Job>,
    reader: Mutex<Connection>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
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
        conn.execute_batch(schema.ddl)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [schema.version.to_string()],
                )?;
            }
            Some(Ok(v)) if v == schema.version => {}
            Some(_) => {
                return Err(StoreError::Failed(format!(
                    "{} has a schema this version of Suanpan does not know",
                    path.display()
                )))
            }
        }
        let reader = open_connection(&path)?;
        let (jobs, rx) = mpsc::sync_channel(QUEUE_JOBS_MAX);
        let name = format!("suanpan-{}", schema.file.trim_end_matches(".db"));
        let writer = std::thread::Builder::new()
            .name(name)
            .spawn(move || run_writer(conn, rx))
            .map_err(|e| StoreError::Failed(format!("cannot start the store thread: {e}")))?;
        Ok(Store {
            path,
            jobs,
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn enqueue<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
        done: impl FnOnce(Result<R, E>) + Send + 'static,
    ) -> Result<(), E> {
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let Some(conn) = conn else {
                let answer: Answer = Box::new(move |why: Result<(), StoreError>| {
                    let why = why.err().unwrap_or_else(|| {
                        StoreError::Failed("the group's transaction did not begin".into())
                    });
                    done(Err(E::from(why)));
                });
                return (answer, false);
            };
            // Every job checks before it writes, so a refusal leaves nothing behind and the
            // group goes on. Only a failure after a write (the disk, a bug) spoils the group.
            // No savepoint per job: SQLite would copy every page a job touches.
            let changes = conn.total_changes();
            let result = f(conn);
            let spoiled = result.is_err() && conn.total_changes() != changes;
            let answer: Answer = Box::new(move |committed: Result<(), StoreError>| {
                done(committed.map_err(E::from).and(result));
            });
            (answer, spoiled)
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Overloaded.into()),
            Err(TrySendError::Disconnected(_)) => {
                Err(StoreError::Failed("the store has stopped".into()).into())
            }
        }
    }

    /// Runs `f` in the next group transaction; answers once it is committed and fsynced.
    pub async fn write<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| {
            E::from(StoreError::Failed(
                "the store stopped before answering".into(),
            ))
        })?
    }

    /// [`Store::write`] for callers outside the async runtime.
    pub fn write_blocking<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let (tx, rx) = mpsc::channel();
        self.enqueue(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv().map_err(|_| {
            E::from(StoreError::Failed(
                "the store stopped before answering".into(),
            ))
        })?
    }

    /// Reads on the reading connection (WAL: it sees every committed write, never a
    /// half-done one). Keep it short: it is one connection.
    pub fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, E>,
    ) -> Result<R, E> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing the queue ends the writer after it has committed what it holds.
        let (dead, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.jobs, dead));
        if let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

fn run_writer(conn: Connection, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_JOBS_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
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
                let (answer, failed) = job(Some(&conn));
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

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        file: "test.db",
        version: 1,
        ddl: "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;",
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
        let written: Result<(), StoreError> = store.write_blocking(|c| {
            c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", [])?;
            Ok(())
        });
        assert_eq!(written, Ok(()));
        let refused: Result<(), StoreError> =
            store.write_blocking(|_| Err(StoreError::Failed("no".into())));
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
        let failed: Result<(), StoreError> = store.write_blocking(|c| {
            c.execute("INSERT INTO t (k, v) VALUES (1, 'a')", [])?;
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
    fn a_newer_schema_is_refused_and_the_file_is_owner_only() {
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
            ..SCHEMA
        };
        let err = Store::open(&dir, &newer).err().expect("refused");
        assert!(err.to_string().contains("does not know"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
