//! The PostgreSQL journal against the PostgreSQL at 127.0.0.1:5432 (or `SUANPAN_TEST_POSTGRES`; database `test`, a schema
//! per test): migrations, the refusal of a newer schema, and the fence.

use std::sync::Arc;
use std::time::Duration;

use suanpan_journal::postgres::{acquire, query_text, read_lease, run_sql};
use suanpan_journal::{
    AppliedBatch, CommitBatch, Journal, JournalError, JournalLocation, PgDb, GENESIS_HASH,
};
use suanpan_ledger::{AccountingDate, Command, ResultCode, Stamped, TierLimits};

struct Schema(String);

impl Schema {
    fn new(name: &str) -> Schema {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Schema(format!("t_{name}_{}_{nanos}", std::process::id()))
    }

    fn url(&self) -> String {
        suanpan_journal::postgres::test_schema_url(&self.0)
    }

    fn count(&self, sql: &str) -> u64 {
        let rows = query_text(&self.url(), sql).unwrap_or_else(|e| panic!("{e}"));
        rows.first()
            .and_then(|r| r.first())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sql} gave {rows:?}"))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = run_sql(
            &suanpan_journal::postgres::test_database_url(),
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0),
        );
    }
}

fn connect(schema: &Schema) -> Arc<PgDb> {
    suanpan_journal::postgres::connect(&schema.url()).unwrap_or_else(|e| panic!("{e}"))
}

/// Batch `seq` holding one cutover, chained to `prev`.
fn batch(seq: u64, prev: &[u8; 32]) -> CommitBatch {
    let date = AccountingDate::parse("2026-11-26").unwrap_or_else(|| panic!("date"));
    CommitBatch::seal(
        AppliedBatch {
            seq,
            segments: vec![1],
            accounting_date: date,
            commands: vec![Stamped {
                timestamp: seq,
                command: Command::Cutover { date: date.next() },
            }],
            results: vec![ResultCode::Ok],
            accounts: None,
            resolved: Vec::new(),
        },
        prev,
    )
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused_untouched() {
    let schema = Schema::new("migrate");
    drop(connect(&schema));
    drop(connect(&schema));
    // Each migration once, however often the journal is opened.
    assert_eq!(
        schema.count("SELECT count(*) FROM schema_migrations"),
        suanpan_journal::postgres::PG_SCHEMA_VERSION as u64
    );
    run_sql(
        &schema.url(),
        "INSERT INTO schema_migrations VALUES (99, 'from the future', now()); DROP VIEW transfers",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let refused = suanpan_journal::postgres::connect(&schema.url());
    assert!(
        matches!(refused, Err(JournalError::NewerSchema(99))),
        "{:?}",
        refused.err().map(|e| e.to_string())
    );
    assert_eq!(
        schema.count("SELECT count(*) FROM pg_views WHERE viewname = 'transfers' AND schemaname = current_schema()"),
        0,
        "a newer schema must not be written to"
    );
}

#[test]
fn a_writer_whose_lease_was_taken_over_writes_nothing() {
    let schema = Schema::new("fence");
    let db = connect(&schema);
    let location = JournalLocation::Postgres(db.clone());
    let ttl = Duration::from_millis(200);

    // Without a lease, nothing is written.
    let mut old =
        Journal::open_at(&location, TierLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    let first = batch(1, &GENESIS_HASH);
    assert!(matches!(
        old.commit(std::slice::from_ref(&first)),
        Err(JournalError::Fenced(_))
    ));

    let lease = read_lease(&db).unwrap_or_else(|e| panic!("{e}"));
    let epoch = acquire(&db, "old", ttl, lease.epoch)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a fresh lease is free"));
    old.fence(epoch, 0, GENESIS_HASH);
    old.commit(std::slice::from_ref(&first))
        .unwrap_or_else(|e| panic!("{e}"));

    // The old writer stops renewing; once its lease expires a new one takes it.
    assert_eq!(
        acquire(&db, "new", ttl, epoch).unwrap_or_else(|e| panic!("{e}")),
        None,
        "not yet expired"
    );
    std::thread::sleep(ttl + Duration::from_millis(100));
    let new_epoch = acquire(&db, "new", ttl, epoch)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("an expired lease is free"));
    assert_eq!(new_epoch, epoch + 1);

    // The old writer wakes up believing it leads: its next batch is refused whole.
    let second = batch(2, &first.hash());
    let refused = old.commit(std::slice::from_ref(&second));
    assert!(
        matches!(refused, Err(JournalError::Fenced(_))),
        "{:?}",
        refused.err().map(|e| e.to_string())
    );
    assert_eq!(schema.count("SELECT count(*) FROM batches"), 1);

    // The new writer continues the chain.
    let mut new =
        Journal::open_at(&location, TierLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    let recovered = new
        .recover(suanpan_journal::Retention::ALL, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recovered.seq, 1);
    new.fence(new_epoch, recovered.seq, recovered.hash);
    new.commit(std::slice::from_ref(&batch(2, &recovered.hash)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(schema.count("SELECT count(*) FROM batches"), 2);
}

#[test]
fn a_writer_stopped_inside_its_transaction_cannot_block_a_takeover() {
    let schema = Schema::new("stuck");
    let db = connect(&schema);
    let ttl = Duration::from_millis(200);
    let hold = Duration::from_millis(300);
    let lease = read_lease(&db).unwrap_or_else(|e| panic!("{e}"));
    let epoch = acquire(&db, "old", ttl, lease.epoch)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a fresh lease is free"));
    // What the old writer's session looks like when its process stops between the fence and
    // COMMIT (paused, or its pipelined request half sent): a transaction holding the share lock
    // on the lease row, waiting on the client, with the limit the journal sets on its writer.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let url = schema.url();
    let stuck = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "SET idle_in_transaction_session_timeout = {}; BEGIN; SELECT suanpan_fence({epoch})",
                hold.as_millis()
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (client, driver)
    });
    std::thread::sleep(ttl + Duration::from_millis(50));
    // The lease has expired; the takeover waits for the stuck transaction only until the
    // server ends it.
    let (tx, rx) = std::sync::mpsc::channel();
    let taker = db.clone();
    std::thread::spawn(move || {
        let _ = tx.send(acquire(&taker, "new", ttl, epoch));
    });
    let new_epoch = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("the takeover stayed blocked behind the stuck transaction"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("an expired lease is free"));
    assert_eq!(new_epoch, epoch + 1);
    // The stuck session was ended: whatever it would have written is gone with it.
    let ended = runtime.block_on(async { stuck.0.batch_execute("COMMIT").await });
    assert!(ended.is_err(), "the stuck transaction must have been ended");
}
