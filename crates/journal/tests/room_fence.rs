//! The rooms' writes on PostgreSQL are fenced by the journal's writer lease: a room's store
//! opened for the leader at epoch E commits while the lease is at E, and once another node
//! has taken the lease (a higher epoch) it commits nothing more; reads go on. Against the
//! PostgreSQL at 127.0.0.1:5432 (or `SUANPAN_TEST_POSTGRES`), in a schema of the test's own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use suanpan_journal::postgres::{acquire, run_sql};
use suanpan_store::args;
use suanpan_store::postgres::Fence;
use suanpan_store::room::{Home, RoomSchema, RoomStore};
use suanpan_store::sql::Sql;
use suanpan_store::{Schema, StoreError};

const ROOM: RoomSchema = RoomSchema {
    room: "fencetest",
    sqlite: Schema {
        file: "fencetest.db",
        version: 1,
        ddl: "CREATE TABLE IF NOT EXISTS fencetest_rows (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        migrations: &[],
        readers: 1,
    },
    postgres: &[(
        1,
        "rows",
        "CREATE TABLE fencetest_rows (k bigint PRIMARY KEY, v text NOT NULL);",
    )],
};

struct TestSchema(String);

impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = run_sql(
            &suanpan_journal::postgres::test_database_url(),
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0),
        );
    }
}

fn insert(store: &RoomStore, k: i64) -> Result<(), StoreError> {
    store.write_blocking(move |c: &dyn Sql| {
        c.execute(
            "INSERT INTO fencetest_rows (k, v) VALUES (?1, ?2)",
            args![k, "row"],
        )?;
        Ok(())
    })
}

fn count(store: &RoomStore) -> i64 {
    store
        .read(|c: &dyn Sql| {
            c.query_one("SELECT COUNT(*) FROM fencetest_rows", args![])?
                .i64(0)
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_room_commits_only_while_its_node_holds_the_lease_at_its_epoch() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let schema = TestSchema(format!("t_room_fence_{}_{nanos}", std::process::id()));
    let url = suanpan_journal::postgres::test_schema_url(&schema.0);
    let db = suanpan_journal::postgres::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    let ttl = Duration::from_secs(60);
    let epoch = acquire(&db, "a", ttl, 0)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the lease was not free"));
    // What the node believes it holds; 0 is none.
    let held = Arc::new(AtomicU64::new(epoch));
    let source = {
        let held = held.clone();
        Arc::new(move || Some(held.load(Ordering::Acquire)).filter(|&e| e != 0))
    };
    let leader = RoomStore::open(
        &Home::Postgres {
            db: db.clone(),
            fence: Fence::Lease {
                epoch: source,
                hold: Duration::from_secs(5),
            },
        },
        &ROOM,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    insert(&leader, 1).unwrap_or_else(|e| panic!("the leader's write: {e}"));
    assert_eq!(count(&leader), 1);

    // A node that holds no lease writes nothing.
    held.store(0, Ordering::Release);
    match insert(&leader, 2) {
        Err(StoreError::Fenced(why)) => assert!(why.contains("lease"), "{why}"),
        other => panic!("a node without the lease wrote: {other:?}"),
    }

    // Another node takes the lease over (its epoch grows); this one still believes it holds
    // its old epoch, as a paused leader does when it wakes: refused by the database itself.
    held.store(epoch, Ordering::Release);
    run_sql(
        &url,
        "UPDATE lease SET holder = 'b', epoch = epoch + 1, expires_at = now() + interval '60 seconds'",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match insert(&leader, 3) {
        Err(StoreError::Fenced(why)) => assert!(why.contains("taken"), "{why}"),
        other => panic!("a deposed leader wrote: {other:?}"),
    }
    // The group that was refused left nothing; reads go on.
    assert_eq!(count(&leader), 1);

    // The new leader, at the new epoch, writes; an operator's command is not fenced.
    let new_leader = RoomStore::open(
        &Home::Postgres {
            db: db.clone(),
            fence: Fence::Lease {
                epoch: Arc::new(move || Some(epoch + 1)),
                hold: Duration::from_secs(5),
            },
        },
        &ROOM,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    insert(&new_leader, 4).unwrap_or_else(|e| panic!("the new leader's write: {e}"));
    let operator = RoomStore::open(
        &Home::Postgres {
            db,
            fence: Fence::Operator,
        },
        &ROOM,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    insert(&operator, 5).unwrap_or_else(|e| panic!("the operator's write: {e}"));
    assert_eq!(count(&operator), 3);
}

const MONEY: &[(i64, &str, &str)] = &[(
    1,
    "figures",
    "CREATE TABLE fencetest_figures (k bigint PRIMARY KEY, v numeric(39, 0) NOT NULL);",
)];

/// A store held by one owner (the accounting room's) is fenced per transaction like a
/// room's group, and money beyond 64 bits survives PostgreSQL's `numeric` both ways.
#[test]
fn an_exclusive_store_is_fenced_and_keeps_128_bit_money() {
    use suanpan_store::exclusive::ExclusiveStore;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let schema = TestSchema(format!("t_room_exclusive_{}_{nanos}", std::process::id()));
    let url = suanpan_journal::postgres::test_schema_url(&schema.0);
    let db = suanpan_journal::postgres::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    let epoch = acquire(&db, "a", Duration::from_secs(60), 0)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the lease was not free"));
    let fence = Fence::Lease {
        epoch: Arc::new(move || Some(epoch)),
        hold: Duration::from_secs(5),
    };
    let mut store = ExclusiveStore::postgres(db.clone(), "fencetest", MONEY, fence)
        .unwrap_or_else(|e| panic!("{e}"));
    let values: Vec<i128> = vec![
        0,
        1,
        -1,
        9_999,
        10_000,
        -10_001,
        100_000_000,
        i128::from(i64::MAX) + 1,
        -(i128::from(u64::MAX) * 3),
        i128::MAX,
        i128::MIN + 1,
    ];
    let written = values.clone();
    store
        .transaction(|c: &dyn Sql| {
            for (k, v) in written.iter().enumerate() {
                c.execute(
                    "INSERT INTO fencetest_figures (k, v) VALUES (?1, ?2)",
                    &[
                        suanpan_store::sql::Param::Int(k as i64),
                        suanpan_store::sql::Param::Money(*v),
                    ],
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let back: Vec<i128> = store
        .read(|c: &dyn Sql| {
            c.query("SELECT v FROM fencetest_figures ORDER BY k", args![])?
                .iter()
                .map(|r| r.money(0))
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, values);
    // PostgreSQL's own reading of what was written agrees with the decimal text.
    let text = suanpan_journal::postgres::query_text(
        &url,
        "SELECT v::text FROM fencetest_figures ORDER BY k",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let texts: Vec<String> = text.into_iter().flatten().collect();
    let expected: Vec<String> = values.iter().map(i128::to_string).collect();
    assert_eq!(texts, expected);

    // Deposed: the next transaction is refused and leaves nothing.
    run_sql(
        &url,
        "UPDATE lease SET holder = 'b', epoch = epoch + 1, expires_at = now() + interval '60 seconds'",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let refused = store.transaction(|c: &dyn Sql| {
        c.execute(
            "INSERT INTO fencetest_figures (k, v) VALUES (?1, ?2)",
            args![99i64, "1"],
        )
    });
    assert!(matches!(refused, Err(StoreError::Fenced(_))), "{refused:?}");
    let rows = store
        .read(|c: &dyn Sql| {
            c.query_one("SELECT COUNT(*) FROM fencetest_figures", args![])?
                .i64(0)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows, values.len() as i64);
}
