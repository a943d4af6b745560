//! The history indexer: one thread keeping `history.db` behind the journal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use suanpan_api::log::{self, Level};
use suanpan_api::Wake;
use suanpan_engine::Engine;
use suanpan_journal::HistoryWriter;

/// Batches of transfer rows the indexer takes per transaction.
const INDEX_BATCHES_PER_STEP: u32 = 1024;
/// How often the indexer catches up when no reader is waiting for it. Each catch-up is one
/// SQLite transaction, so fewer and larger is cheaper; a reader wakes it at once.
const INDEX_INTERVAL: Duration = Duration::from_millis(100);

/// Keeps the history index behind the journal until `wake` is stopped. Runs only on CPU
/// time nothing else wants (SCHED_IDLE): indexing costs about 14 µs a transfer, and
/// competing for the two cores with the engine and the HTTP workers it added milliseconds to
/// the tail of every request. Under full load it falls behind and catches up when load
/// eases; reads wait for it (bounded) rather than the books waiting.
pub fn run(mut writer: HistoryWriter, engine: &Engine, seq: &AtomicU64, wake: &Wake) {
    // SAFETY: sched_setscheduler(0, ...) and setpriority on this thread's own id change its
    // scheduling only; the parameter outlives the calls.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
    while !wake.stopped() {
        let target = engine.metrics().committed_seq.load(Ordering::Acquire);
        if target <= writer.indexed_seq() {
            wake.wait(INDEX_INTERVAL);
            continue;
        }
        match writer.index_through(target, INDEX_BATCHES_PER_STEP) {
            Ok(done) => {
                seq.store(done, Ordering::Release);
                if done >= target {
                    wake.wait(INDEX_INTERVAL);
                }
            }
            Err(e) => {
                log::log(
                    Level::Error,
                    "history index failed; retrying",
                    &[("error", &e)],
                );
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}
