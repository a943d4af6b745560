//! The queue in front of a room's writer thread, the same for both homes: jobs wait in a
//! bounded queue (one more is refused as overload), the thread takes those waiting as one
//! group and runs them in one transaction, and each caller is answered only once the group's
//! commit is known. What a group's transaction is (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's
//! fenced transaction) is the home's own `run` loop.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

use crate::sql::Sql;
use crate::StoreError;

/// Jobs that may wait for the writer; one more is refused as overload (bounded memory).
const QUEUE_JOBS_MAX: usize = 65_536;
/// Jobs committed in one transaction at most.
const GROUP_JOBS_MAX: usize = 4_096;

pub(crate) type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A job runs on the writer's connection inside the group's transaction; it returns its
/// answer and whether it failed after writing (which spoils the group). Given no connection
/// (the group's transaction could not begin, or was refused), it does not run and only makes
/// its answer.
pub(crate) type Job = Box<dyn FnOnce(Option<&dyn Sql>) -> (Answer, bool) + Send>;

pub(crate) struct Writer {
    jobs: SyncSender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    /// Starts the thread `name`, which runs `run` over the queue until it is closed.
    pub(crate) fn start(
        name: String,
        run: impl FnOnce(Receiver<Job>) + Send + 'static,
    ) -> Result<Writer, StoreError> {
        let (jobs, rx) = mpsc::sync_channel(QUEUE_JOBS_MAX);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(rx))
            .map_err(|e| StoreError::Failed(format!("cannot start the store thread: {e}")))?;
        Ok(Writer {
            jobs,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `f`; `done` hears its result once the group's commit is known. Every job checks
    /// before it writes, so a refusal (nothing changed) leaves the group to go on; only a
    /// failure after a write spoils it. No savepoint per job: SQLite would copy every page a
    /// job touches.
    pub(crate) fn enqueue<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E> + Send + 'static,
        done: impl FnOnce(Result<R, E>) + Send + 'static,
    ) -> Result<(), E> {
        let job: Job = Box::new(move |sql: Option<&dyn Sql>| {
            let Some(sql) = sql else {
                let answer: Answer = Box::new(move |why: Result<(), StoreError>| {
                    done(Err(E::from(why.err().unwrap_or_else(|| {
                        StoreError::Failed("the group's transaction did not begin".into())
                    }))));
                });
                return (answer, false);
            };
            let before = sql.changes();
            let result = f(sql);
            let spoiled = result.is_err() && sql.changes() != before;
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

    /// Runs `f` in the next group transaction; answers once it is committed.
    pub(crate) async fn write<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| stopped())?
    }

    /// [`Writer::write`] for callers outside the async runtime.
    pub(crate) fn write_blocking<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let (tx, rx) = mpsc::channel();
        self.enqueue(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv().map_err(|_| stopped())?
    }
}

fn stopped<E: From<StoreError>>() -> E {
    E::from(StoreError::Failed(
        "the store stopped before answering".into(),
    ))
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread after it has committed what it holds.
        let (dead, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.jobs, dead));
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

/// The next group: `first` and those waiting behind it, up to a group's most.
pub(crate) fn group(first: Job, jobs: &Receiver<Job>) -> Vec<Job> {
    let mut group = vec![first];
    while group.len() < GROUP_JOBS_MAX {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    group
}
