//! Accounting fed from the engine's committed-batch subscription makes the same vouchers, with
//! the same numbers, as accounting caught up from the journal afterwards.

mod support;

use suanpan_accounting::{Accounting, VOUCHERS_LIST_MAX};
use suanpan_engine::{Engine, EngineConfig};
use suanpan_ledger::{Command, ResultCode};
use support::*;

fn engine(dir: &std::path::Path) -> Engine {
    Engine::start(EngineConfig {
        auto_cutover: false,
        ..EngineConfig::new(dir)
    })
    .unwrap_or_else(|e| panic!("engine: {e}"))
}

fn ok(engine: &Engine, commands: Vec<Command>) {
    let results = engine.execute(commands).unwrap_or_else(|e| panic!("{e}"));
    assert!(results.iter().all(|r| *r == ResultCode::Ok), "{results:?}");
}

#[test]
fn vouchers_from_the_subscription_equal_vouchers_from_the_journal() {
    let books = TempDir::new("follow");
    let live_dir = TempDir::new("follow-live");
    // The engine's first batch is committed as it starts; a stopped engine's journal copy
    // gives the live side that batch, and everything after comes from the subscription.
    let first = engine(&books.0);
    ok(&first, vec![Command::Cutover { date: first_date() }]);
    first.shutdown().unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        suanpan_journal::db_path(&books.0),
        suanpan_journal::db_path(&live_dir.0),
    )
    .unwrap_or_else(|e| panic!("copy: {e}"));

    let engine = engine(&books.0);
    let batches = engine.subscribe();
    ok(
        &engine,
        [(1, "1002"), (2, "2241.01"), (3, "2241.02")]
            .into_iter()
            .map(|(id, subject)| Command::CreateAccount(new_account(id, subject)))
            .collect(),
    );
    let mut date = first_date();
    for i in 0..50u128 {
        let (debit, credit) = [(1, 2), (2, 3), (3, 1)][(i % 3) as usize];
        let t = transfer(
            100 + i,
            debit,
            credit,
            10 + i as u64,
            [1, 99][(i % 2) as usize],
        );
        ok(&engine, vec![Command::CreateTransfer(t)]);
        if i % 20 == 19 {
            date = date.next();
            ok(&engine, vec![Command::Cutover { date }]);
        }
    }
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));

    let mut live = Accounting::open(&live_dir.0).unwrap_or_else(|e| panic!("{e}"));
    let mut live_batches = 0;
    while let Ok(batch) = batches.try_recv() {
        // The first one finds the journal copy's batches missing and catches up on them.
        live.follow(&batch)
            .unwrap_or_else(|e| panic!("follow: {e}"));
        live_batches += 1;
    }
    assert!(live_batches >= 50, "{live_batches} batches came live");
    let mut replayed = Accounting::open(&books.0).unwrap_or_else(|e| panic!("{e}"));
    replayed
        .catch_up(&mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(live.journal_batch(), replayed.journal_batch());
    let statuses = replayed.status(None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        live.status(None).unwrap_or_else(|e| panic!("{e}")),
        statuses
    );
    for status in statuses {
        let date = status.accounting_date;
        let a = live
            .vouchers(date, 1, VOUCHERS_LIST_MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        let b = replayed
            .vouchers(date, 1, VOUCHERS_LIST_MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b, "{date}");
    }
}
