//! The history index is a projection: after an unclean stop a damaged file is found and
//! started afresh (then rebuilt from the journal), never read as if it were sound.

use suanpan_journal::{HistoryWriter, Journal, HISTORY_FILE};
use suanpan_ledger::TierLimits;

#[test]
fn a_damaged_index_is_started_afresh_after_an_unclean_stop() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("suanpan-history-{}-{nanos}", std::process::id()));
    drop(Journal::open(&dir, TierLimits::default()).unwrap_or_else(|e| panic!("{e}")));
    drop(HistoryWriter::open(&dir, false).unwrap_or_else(|e| panic!("{e}")));
    // What a power loss could leave: a header that is not SQLite's.
    let path = dir.join(HISTORY_FILE);
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    bytes[..16].copy_from_slice(b"not a database!!");
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));

    let reopened = HistoryWriter::open(&dir, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        reopened.indexed_seq(),
        0,
        "rebuilt from the start of the journal"
    );
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}
