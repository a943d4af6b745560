//! Copying the WAL back into the database file (the checkpoint) on a thread of its own, which
//! also keeps the journal's head file (its anchor) following the journal.
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

use crate::anchor::{read_head_file, write_head_file};
use crate::sqlite::{db_path, last_batch};
use crate::JournalError;

const INTERVAL: Duration = Duration::from_millis(20);
/// How often the journal's head file follows the journal (see `anchor.rs`): an fsync of its
/// own, kept well away from the committer's.
const ANCHOR_INTERVAL: Duration = Duration::from_millis(200);

pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(dir: &Path) -> Result<Checkpointer, JournalError> {
        let conn = Connection::open(db_path(dir))?;
        // A read that meets a lock waits rather than fails: at a clean stop a failed read of
        // the head would leave the anchor a batch or more behind the journal it guards.
        conn.busy_timeout(Duration::from_secs(5))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("suanpan-checkpoint".into())
            .spawn(move || {
                let mut anchored = last_batch(&conn).ok();
                let mut since_anchor = Duration::ZERO;
                loop {
                    let stopping = flag.load(Ordering::Acquire);
                    if !stopping {
                        std::thread::sleep(INTERVAL);
                        // PASSIVE never blocks the committer; a failure here only leaves the
                        // WAL longer, and the safety valve bounds it.
                        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                        since_anchor += INTERVAL;
                    }
                    if stopping || since_anchor >= ANCHOR_INTERVAL {
                        since_anchor = Duration::ZERO;
                        // What this connection sees is committed, hence already synced: the
                        // anchor never names a batch a crash could lose. A failed write leaves
                        // the old anchor, which is behind but still true. Never behind the
                        // file: the committer moves it at a clean stop, and a late look here
                        // must not take it back.
                        if let Ok(head) = last_batch(&conn) {
                            let behind_file = || {
                                read_head_file(&dir)
                                    .ok()
                                    .flatten()
                                    .is_some_and(|a| a.head.seq >= head.seq)
                            };
                            if anchored != Some(head)
                                && !behind_file()
                                && write_head_file(&dir, &head).is_ok()
                            {
                                anchored = Some(head);
                            }
                        }
                    }
                    if stopping {
                        return;
                    }
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
