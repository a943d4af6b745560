//! Copying the WAL back into the database file (the checkpoint) on a thread of its own.
//!
//! SQLite's automatic checkpoint runs inside a commit, on the thread that acknowledges
//! transfers. Here a separate connection does the routine copying, so commits only append to
//! the WAL. The journal keeps SQLite's automatic checkpoint as a safety valve at a large WAL
//! size, so the WAL stays bounded even if this thread falls behind.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::sqlite::db_path;
use crate::JournalError;

const INTERVAL: Duration = Duration::from_millis(20);

pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(dir: &Path) -> Result<Checkpointer, JournalError> {
        let conn = Connection::open(db_path(dir))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("suanpan-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    std::thread::sleep(INTERVAL);
                    // PASSIVE never blocks the committer; a failure here only leaves the WAL
                    // longer, and the safety valve bounds it.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| JournalError::Io(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
