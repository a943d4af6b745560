//! The journal refuses a file written by a newer Suanpan, and writes nothing to it.

use suanpan_journal::{db_path, Journal, JournalError};
use suanpan_ledger::TierLimits;

#[test]
fn a_journal_from_a_newer_suanpan_is_refused_untouched() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("suanpan-schema-{}-{nanos}", std::process::id()));
    drop(Journal::open(&dir, TierLimits::default()).unwrap_or_else(|e| panic!("{e}")));
    let conn = rusqlite::Connection::open(db_path(&dir)).unwrap_or_else(|e| panic!("{e}"));
    conn.execute(
        "UPDATE meta SET value = 99 WHERE key = 'schema_version'",
        [],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    conn.execute("DROP VIEW transfers", [])
        .unwrap_or_else(|e| panic!("{e}"));
    drop(conn);

    let refused = Journal::open(&dir, TierLimits::default());
    assert!(matches!(refused, Err(JournalError::NewerSchema(99))));
    let conn = rusqlite::Connection::open(db_path(&dir)).unwrap_or_else(|e| panic!("{e}"));
    let views: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'transfers'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(views, 0, "opening a newer journal must not write to it");
    let _ = std::fs::remove_dir_all(&dir);
}
