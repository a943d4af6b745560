//! The engine against a real journal: the SQLite file in a temporary directory, and the
//! PostgreSQL on 127.0.0.1:5432 (or `SUANPAN_TEST_POSTGRES`; database `test`, a schema per test). Every test runs on both.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use suanpan_engine::{Engine, EngineConfig, EngineError, PostgresConfig};
use suanpan_journal::postgres::{query_text, run_sql};
use suanpan_journal::{verify_at, Journal, JournalError, JournalLocation, VerifyReport};
use suanpan_ledger::*;

/// A place for one test's books: a temporary data directory, and on PostgreSQL a schema of
/// its own in the `test` database (dropped afterwards), so tests run in parallel.
struct Books {
    dir: PathBuf,
    postgres: Option<(String, String)>,
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Books {
    fn new(name: &str, backend: Backend) -> Books {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let unique = format!("{name}-{}-{nanos}", std::process::id());
        let dir = std::env::temp_dir().join(format!("suanpan-test-{unique}"));
        let postgres = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let schema = format!("t_{}", unique.replace('-', "_"));
                let url = suanpan_journal::postgres::test_schema_url(&schema);
                Some((url, schema))
            }
        };
        Books { dir, postgres }
    }

    fn location(&self) -> JournalLocation {
        match &self.postgres {
            None => JournalLocation::Sqlite(self.dir.clone()),
            Some((url, _)) => JournalLocation::Postgres(
                suanpan_journal::postgres::connect(url)
                    .unwrap_or_else(|e| panic!("PostgreSQL: {e}")),
            ),
        }
    }

    fn config(&self) -> EngineConfig {
        self.config_as("test", false)
    }

    /// On PostgreSQL: a node of this name, leader or standby.
    fn config_as(&self, node: &str, standby: bool) -> EngineConfig {
        let mut config = EngineConfig::new(&self.dir);
        config.snapshot_commands_min = 40;
        config.snapshot_growth_factor = 1;
        config.snapshot_chunk_bytes = 512;
        if let JournalLocation::Postgres(db) = self.location() {
            config.postgres = Some(PostgresConfig {
                db,
                node: node.into(),
                standby,
                lease_ttl: Duration::from_millis(600),
            });
        }
        config
    }

    fn verify(&self) -> Result<VerifyReport, JournalError> {
        verify_at(&self.location(), &[])
    }

    fn journal(&self) -> Journal {
        Journal::open_at(&self.location(), TierLimits::default()).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Books {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((_, schema)) = &self.postgres {
            let _ = run_sql(
                &suanpan_journal::postgres::test_database_url(),
                &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            );
        }
    }
}

/// Runs a test on both backends.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Backend::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(super::Backend::Postgres) })*
        }
    };
}

fn account(id: u128, flags: u16) -> Command {
    Command::CreateAccount(NewAccount {
        id,
        currency: Currency::CNY,
        subject: SubjectCode::parse("2241.01").unwrap_or_else(|| panic!("subject")),
        owner: 1,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(flags),
    })
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u64, flags: u16) -> Transfer {
    Transfer {
        code: 7,
        reference: Reference::new(b"ref").unwrap_or(Reference::EMPTY),
        flags: TransferFlags(flags),
        ..Transfer::new(id, debit, credit, amount, Currency::CNY)
    }
}

fn run(engine: &Engine, commands: Vec<Command>) -> Vec<ResultCode> {
    engine
        .execute(commands)
        .unwrap_or_else(|e| panic!("engine: {e}"))
}

/// The state recovery rebuilds (newest snapshot plus the tail of the journal).
fn recovered_hash(dir: &Books) -> [u8; 32] {
    let mut journal = dir.journal();
    journal
        .recover(suanpan_journal::Retention::ALL, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .ledger
        .state_hash_as(suanpan_ledger::WINDOW_MAX, 0)
        .unwrap_or_else(|| panic!("the recovered ledger let transfers go"))
}

fn acknowledged_commands_survive_restart_and_replay_to_the_same_state(backend: Backend) {
    let dir = Books::new("restart", backend);
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    let setup = vec![
        account(1, 0),
        account(2, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        account(3, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
    ];
    assert!(run(&engine, setup).iter().all(|r| r.is_ok()));
    let mut id = 100;
    for round in 0..30u64 {
        let mut commands = Vec::new();
        for _ in 0..5 {
            id += 1;
            commands.push(Command::CreateTransfer(transfer(id, 1, 2, 10 + round, 0)));
        }
        id += 1;
        commands.push(Command::CreateTransfer(transfer(
            id,
            2,
            3,
            7,
            TransferFlags::PENDING,
        )));
        let pending = id;
        id += 1;
        let post = Transfer {
            pending_id: pending,
            ..transfer(id, 0, 0, 5, TransferFlags::POST_PENDING)
        };
        commands.push(Command::CreateTransfer(post));
        id += 1;
        commands.push(Command::CreateTransfer(transfer(id, 3, 2, 1_000_000, 0)));
        let results = run(&engine, commands);
        assert_eq!(
            results[..7].iter().filter(|r| r.is_ok()).count(),
            7,
            "{results:?}"
        );
        assert_eq!(results[7], ResultCode::ExceedsCredits);
    }
    // Snapshots are written beside the batches, by a thread of their own.
    eventually("a snapshot is written", || {
        engine
            .metrics()
            .snapshots
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    });
    let accounts = engine
        .lookup_accounts(vec![2, 3, 99])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accounts[2], None);
    let before = accounts[1].map(|a| a.credits_posted);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);

    let report = dir.verify().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report.snapshot_seq > 0,
        "recovery should start from a snapshot"
    );
    assert_eq!(report.state_hash, hex(&recovered_hash(&dir)));

    // A restarted engine knows every transfer: resubmitting answers `exists`.
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    assert!(engine.recovery().snapshot_seq > 0);
    let results = run(
        &engine,
        vec![Command::CreateTransfer(transfer(101, 1, 2, 10, 0))],
    );
    assert_eq!(results, [ResultCode::Exists]);
    let after = engine
        .lookup_accounts(vec![3])
        .unwrap_or_else(|e| panic!("{e}"))[0]
        .map(|a| a.credits_posted);
    assert_eq!(before, after);
}

fn full_queue_answers_overloaded_at_once_and_applies_nothing_of_it(backend: Backend) {
    let dir = Books::new("overload", backend);
    let mut config = dir.config();
    config.queue_requests_max = 1;
    let engine = Engine::start(config).unwrap_or_else(|e| panic!("{e}"));
    run(&engine, vec![account(1, 0), account(2, 0)]);
    let mut tickets = Vec::new();
    let mut refused = None;
    for id in 1_000..200_000u128 {
        match engine.submit(vec![Command::CreateTransfer(transfer(id, 1, 2, 1, 0))]) {
            Ok(ticket) => tickets.push(ticket),
            Err(EngineError::Overloaded) => {
                refused = Some(id);
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("a queue of one never filled"));
    for ticket in tickets {
        assert!(matches!(ticket.wait(), Some(Ok(_))));
    }
    // Resubmitted, the refused transfer is new: it was never applied.
    let results = run(
        &engine,
        vec![Command::CreateTransfer(transfer(refused, 1, 2, 1, 0))],
    );
    assert_eq!(results, [ResultCode::Ok]);
    assert!(
        engine
            .metrics()
            .overloaded
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

fn pending_transfer_expires_by_itself_and_the_expiry_is_journaled(backend: Backend) {
    let dir = Books::new("expiry", backend);
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    run(&engine, vec![account(1, 0), account(2, 0)]);
    let hold = Transfer {
        timeout_ms: 30,
        ..transfer(10, 1, 2, 500, TransferFlags::PENDING)
    };
    assert_eq!(
        run(&engine, vec![Command::CreateTransfer(hold)]),
        [ResultCode::Ok]
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let account = engine
            .lookup_accounts(vec![1])
            .unwrap_or_else(|e| panic!("{e}"))[0];
        if account.map(|a| a.debits_pending) == Some(0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hold never expired"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let post = Transfer {
        pending_id: 10,
        ..transfer(11, 0, 0, 0, TransferFlags::POST_PENDING)
    };
    assert_eq!(
        run(&engine, vec![Command::CreateTransfer(post)]),
        [ResultCode::PendingTransferExpired]
    );
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);
    let mut journal = dir.journal();
    let ledger = journal
        .recover(suanpan_journal::Retention::ALL, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .ledger;
    assert_eq!(ledger.pending_status(10), Some(PendingStatus::Expired));
    assert!(dir.verify().is_ok());
}

fn a_linked_chain_never_runs_into_the_next_request(backend: Backend) {
    let dir = Books::new("chain", backend);
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    run(&engine, vec![account(1, 0), account(2, 0)]);
    let open = engine.submit(vec![Command::CreateTransfer(transfer(
        10,
        1,
        2,
        1,
        TransferFlags::LINKED,
    ))]);
    let next = engine.submit(vec![Command::CreateTransfer(transfer(11, 1, 2, 1, 0))]);
    let open = open.ok().and_then(|t| t.wait()).and_then(Result::ok);
    let next = next.ok().and_then(|t| t.wait()).and_then(Result::ok);
    assert_eq!(open, Some(vec![ResultCode::LinkedEventChainOpen]));
    assert_eq!(next, Some(vec![ResultCode::Ok]));
}

fn subscribers_see_every_committed_batch_in_order(backend: Backend) {
    let dir = Books::new("subscribe", backend);
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    let batches = engine.subscribe();
    run(&engine, vec![account(1, 0), account(2, 0)]);
    for id in 10..40 {
        run(
            &engine,
            vec![Command::CreateTransfer(transfer(id, 1, 2, 1, 0))],
        );
    }
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    let seen: Vec<_> = batches.try_iter().collect();
    assert!(seen.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let transfers = seen
        .iter()
        .flat_map(|b| &b.commands)
        .filter(|c| matches!(c.command, Command::CreateTransfer(_)))
        .count();
    assert_eq!(transfers, 30);
}

fn requests_beyond_a_batch_are_refused_whole(backend: Backend) {
    let dir = Books::new("too-many", backend);
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    let commands = vec![Command::FreezeAccount { id: 1 }; BATCH_COMMANDS_MAX + 1];
    assert!(matches!(
        engine.submit(commands),
        Err(EngineError::TooManyCommands {
            count: 8_191,
            max: 8_190
        })
    ));
}

fn arb_command() -> impl Strategy<Value = Command> {
    let id = 1u128..5;
    prop_oneof![
        6 => (1u128..200, id.clone(), id.clone(), 1u64..50, prop_oneof![Just(0u16), Just(TransferFlags::PENDING), Just(TransferFlags::LINKED)], 0u64..3)
            .prop_map(|(t, d, c, a, f, timeout)| Command::CreateTransfer(Transfer { timeout_ms: if f == TransferFlags::PENDING { timeout } else { 0 }, ..transfer(t, d, c, a, f) })),
        2 => (1u128..200, 1u128..200).prop_map(|(t, p)| Command::CreateTransfer(Transfer { pending_id: p, ..transfer(t, 0, 0, 0, TransferFlags::POST_PENDING) })),
        1 => id.clone().prop_map(|id| Command::FreezeAccount { id }),
        1 => id.prop_map(|id| Command::UnfreezeAccount { id }),
    ]
}

/// A window of a few transfers and a tiny filter of past ids: transfers leave memory within
/// a few requests, and most new ids are checked against the index of past transfers.
const SMALL_WINDOW: usize = 8;
const SMALL_FILTER_BYTES: usize = 64;

impl Books {
    fn small_window_config(&self) -> EngineConfig {
        let mut config = self.config();
        config.window = SMALL_WINDOW;
        config.past_filter_bytes = SMALL_FILTER_BYTES;
        config
    }

    /// The ledger recovery rebuilds with the small window, reading past transfers back
    /// through the index the engine left.
    fn recover_small_window(&self) -> suanpan_ledger::Ledger {
        let mut journal = self.journal();
        let first =
            (journal.seq() > 0).then(|| journal.hash_of(1).unwrap_or_else(|e| panic!("{e}")));
        let mut past = suanpan_journal::PastIndex::open(&self.dir, first, 16)
            .unwrap_or_else(|e| panic!("{e}"));
        let retention = suanpan_journal::Retention {
            window: SMALL_WINDOW,
            filter_bytes: SMALL_FILTER_BYTES,
        };
        journal
            .recover(retention, Some(&mut past))
            .unwrap_or_else(|e| panic!("{e}"))
            .ledger
    }
}

fn post(id: u128, pending_id: u128, flags: u16) -> Command {
    Command::CreateTransfer(Transfer {
        pending_id,
        ..transfer(id, 0, 0, 0, flags)
    })
}

/// Every transfer made, resubmitted oldest first, answers `exists`; changed, it answers what
/// differs; and pending transfers long gone from memory answer how they ended.
fn check_old_transfers(engine: &Engine, made: &[Command]) {
    for chunk in made.chunks(50) {
        let results = run(engine, chunk.to_vec());
        assert!(
            results.iter().all(|&r| r == ResultCode::Exists),
            "{results:?}"
        );
    }
    let changed = Command::CreateTransfer(transfer(1_000, 1, 2, 6, TransferFlags::PENDING));
    assert_eq!(
        run(engine, vec![changed]),
        [ResultCode::ExistsWithDifferentAmount]
    );
    assert_eq!(
        run(
            engine,
            vec![
                post(9_000, 1_000, TransferFlags::POST_PENDING),
                post(9_001, 1_020, TransferFlags::VOID_PENDING),
                post(9_002, 1_020, TransferFlags::POST_PENDING),
                post(9_003, 1_100, TransferFlags::POST_PENDING),
                post(9_004, 123_456, TransferFlags::POST_PENDING),
            ]
        ),
        [
            ResultCode::PendingTransferAlreadyPosted,
            ResultCode::PendingTransferAlreadyVoided,
            ResultCode::PendingTransferAlreadyVoided,
            ResultCode::PendingTransferNotPending,
            ResultCode::PendingTransferNotFound,
        ]
    );
}

/// Two accounts, 400 transfers (the first 40 pending), then posts and voids of 30 of the
/// pending ones long after they left a small window, and enough more that the posts and
/// voids leave too. Returns every transfer made, as sent.
fn make_history(engine: &Engine) -> Vec<Command> {
    run(engine, vec![account(1, 0), account(2, 0)]);
    let mut made = Vec::new();
    for r in 0..40u128 {
        let commands: Vec<Command> = (0..10)
            .map(|i| {
                let id = 1_000 + r * 10 + i;
                let flags = if id < 1_040 {
                    TransferFlags::PENDING
                } else {
                    0
                };
                Command::CreateTransfer(transfer(id, 1, 2, 5, flags))
            })
            .collect();
        assert!(run(engine, commands.clone()).iter().all(|r| r.is_ok()));
        made.extend(commands);
    }
    let mut resolutions: Vec<Command> = (0..20)
        .map(|i| post(5_000 + i, 1_000 + i, TransferFlags::POST_PENDING))
        .collect();
    resolutions.extend((20..30).map(|i| post(5_000 + i, 1_000 + i, TransferFlags::VOID_PENDING)));
    assert!(run(engine, resolutions.clone()).iter().all(|r| r.is_ok()));
    for r in 0..5u128 {
        let commands: Vec<Command> = (0..10)
            .map(|i| Command::CreateTransfer(transfer(6_000 + r * 10 + i, 1, 2, 1, 0)))
            .collect();
        assert!(run(engine, commands.clone()).iter().all(|r| r.is_ok()));
        made.extend(commands);
    }
    made.extend(resolutions);
    made
}

fn transfers_that_left_memory_are_answered_exactly_across_a_restart(backend: Backend) {
    let dir = Books::new("window", backend);
    let engine = Engine::start(dir.small_window_config()).unwrap_or_else(|e| panic!("{e}"));
    let made = make_history(&engine);
    check_old_transfers(&engine, &made);
    let read = engine
        .metrics()
        .past_batches_read
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(read > 0, "nothing was read back from the journal");
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);

    // Recovery starts from a snapshot of the window and reads the rest back the same way.
    let engine = Engine::start(dir.small_window_config()).unwrap_or_else(|e| panic!("{e}"));
    assert!(engine.recovery().snapshot_seq > 0, "no snapshot was taken");
    check_old_transfers(&engine, &made);
    // Pending and out of memory for hundreds of transfers: still posts.
    assert_eq!(
        run(
            &engine,
            vec![post(9_100, 1_035, TransferFlags::POST_PENDING)]
        ),
        [ResultCode::Ok]
    );
    let in_memory = engine
        .read(|ledger| ledger.transfers_in_memory())
        .unwrap_or_else(|e| panic!("{e}"))
        .wait();
    assert!(
        in_memory.is_some_and(|n| n <= SMALL_WINDOW + 60),
        "{in_memory:?}"
    );
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);
    dir.verify().unwrap_or_else(|e| panic!("{e}"));
    // Without its index of past transfers the engine would take old retries for new
    // transfers: it refuses to start (replay finds it out, or the count of entries does).
    std::fs::remove_dir_all(dir.dir.join(suanpan_journal::PAST_DIR))
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = Engine::start(dir.small_window_config()).map(|_| ());
    assert!(
        matches!(&refused, Err(JournalError::Corrupt(_))),
        "{refused:?}"
    );
}

fn replay_case(backend: Backend, requests: Vec<Vec<Command>>) -> Result<(), TestCaseError> {
    let dir = Books::new("replay", backend);
    let engine =
        Engine::start(dir.small_window_config()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    run(
        &engine,
        vec![
            account(1, 0),
            account(2, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(3, 0),
            account(4, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ],
    );
    let tickets: Vec<_> = requests
        .into_iter()
        .filter_map(|r| engine.submit(r).ok())
        .collect();
    for ticket in tickets {
        prop_assert!(matches!(ticket.wait(), Some(Ok(_))));
    }
    // Pending transfers time out within milliseconds: once the engine has expired them all,
    // nothing more happens to the books by itself.
    let started = std::time::Instant::now();
    while engine
        .read(|ledger| ledger.next_expiry().is_some())
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .wait()
        != Some(false)
    {
        prop_assert!(
            started.elapsed() < Duration::from_secs(10),
            "expiries never came"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let had = engine
        .read(|ledger| (ledger.state_hash(), ledger.transfers_total()))
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .wait();
    engine
        .shutdown()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    drop(engine);
    // Verify replays everything in memory and checks the snapshot (the window only) against
    // that replay seen through the window.
    dir.verify()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let recovered = dir.recover_small_window();
    prop_assert_eq!(
        Some((recovered.state_hash(), recovered.transfers_total())),
        had
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn journal_replay_gives_the_state_the_engine_had_on_sqlite(requests in prop::collection::vec(prop::collection::vec(arb_command(), 1..20), 1..20)) {
        replay_case(Backend::Sqlite, requests)?;
    }

    #[test]
    fn journal_replay_gives_the_state_the_engine_had_on_postgres(requests in prop::collection::vec(prop::collection::vec(arb_command(), 1..20), 1..20)) {
        replay_case(Backend::Postgres, requests)?;
    }
}

fn a_second_engine_on_the_same_data_directory_is_refused(backend: Backend) {
    let dir = Books::new("second-writer", backend);
    let first = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    let second = Engine::start(dir.config());
    let refused = second.err().map(|e| e.to_string()).unwrap_or_default();
    // SQLite: the data directory's lock; PostgreSQL: the writer's lease, renewed by the first.
    let expected = match backend {
        Backend::Sqlite => "in use by another Suanpan process",
        Backend::Postgres => "lease is held by",
    };
    assert!(refused.contains(expected), "{refused}");
    first.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(first);
    // Once the first has stopped, the directory is free again.
    assert!(Engine::start(dir.config()).is_ok());
}

fn a_read_sees_what_was_queued_before_it_and_adds_nothing_to_the_journal(backend: Backend) {
    let dir = Books::new("reads", backend);
    let engine = Engine::start(dir.config()).expect("starts");
    assert_eq!(
        run(&engine, vec![account(1, 0), account(2, 0)]),
        vec![ResultCode::Ok; 2]
    );
    let ticket = engine
        .submit(vec![Command::CreateTransfer(transfer(10, 1, 2, 7, 0))])
        .expect("queued");
    let read = engine
        .read(|l| l.account_by_id(2).map(|a| a.credits_posted))
        .expect("queued");
    assert_eq!(
        read.wait(),
        Some(Some(7)),
        "the read comes after the transfer before it"
    );
    assert_eq!(ticket.wait(), Some(Ok(vec![ResultCode::Ok])));
    let seq = engine
        .metrics()
        .committed_seq
        .load(std::sync::atomic::Ordering::Acquire);
    for _ in 0..10 {
        let balance = engine.read(|l| l.account_by_id(1).map(|a| a.debits_posted));
        assert_eq!(balance.expect("queued").wait(), Some(Some(7)));
    }
    assert_eq!(
        engine
            .metrics()
            .committed_seq
            .load(std::sync::atomic::Ordering::Acquire),
        seq,
        "reads alone write no batch"
    );
    engine.shutdown().expect("clean shutdown");
}

fn a_transfer_lookup_shows_what_moved_and_nothing_for_a_rejected_transfer(backend: Backend) {
    let dir = Books::new("lookup-transfers", backend);
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("start: {e}"));
    run(
        &engine,
        vec![
            account(1, 0),
            account(2, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        ],
    );
    let results = run(
        &engine,
        vec![
            Command::CreateTransfer(transfer(10, 1, 2, 500, 0)),
            Command::CreateTransfer(transfer(11, 2, 1, 501, 0)),
        ],
    );
    assert_eq!(results, vec![ResultCode::Ok, ResultCode::ExceedsCredits]);
    let found = engine
        .lookup_transfers(vec![10, 11, 12])
        .unwrap_or_else(|e| panic!("lookup: {e}"));
    let moved = found[0].map(|t| {
        (
            t.id,
            t.debit_account_id,
            t.credit_account_id,
            t.amount,
            t.code,
        )
    });
    assert_eq!(moved, Some((10, 1, 2, 500, 7)));
    assert_eq!((found[1], found[2]), (None, None));
}

/// Changes stored history behind the engine's back (what `verify` must catch).
fn tamper(dir: &Books, sqlite: &str, postgres: &str) {
    match &dir.postgres {
        Some((url, _)) => run_sql(url, postgres).unwrap_or_else(|e| panic!("{e}")),
        None => {
            let conn = rusqlite::Connection::open(dir.dir.join(suanpan_journal::DB_FILE))
                .unwrap_or_else(|e| panic!("{e}"));
            conn.execute_batch(sqlite).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

fn verify_names_a_stray_transfer_row_and_an_altered_batch(backend: Backend) {
    let dir = Books::new("tamper", backend);
    let engine = Engine::start(dir.config()).unwrap_or_else(|e| panic!("{e}"));
    run(&engine, vec![account(1, 0), account(2, 0)]);
    run(
        &engine,
        vec![Command::CreateTransfer(transfer(5, 1, 2, 777, 0))],
    );
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);
    assert!(dir.verify().is_ok());

    // A transfer slipped into the table of first-form transfer rows, beside a batch that
    // holds its transfers in its body: the books would show it twice.
    let row = "INSERT INTO transfers_by_batch VALUES (3, '[[1,\"5\",\"1\",\"2\",778,\"CNY\",0,0,null,0,null,\"2026-01-01\"]]')";
    tamper(&dir, row, row);
    let found = dir
        .verify()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        found.contains("batch 3") && found.contains("never committed"),
        "verify must name the batch of the slipped-in row: {found:?}"
    );
    let undo = "DELETE FROM transfers_by_batch";
    tamper(&dir, undo, undo);
    assert!(dir.verify().is_ok());

    // A byte of a batch's body changed (where its transfers are): the hash chain breaks there.
    tamper(
        &dir,
        "UPDATE batches SET body = CAST(X'00' || substr(body, 2) AS BLOB) WHERE seq = 3",
        "UPDATE batches SET body = overlay(body placing '\\x00'::bytea from 1 for 1) WHERE seq = 3",
    );
    let found = dir
        .verify()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        found.contains("batch 3") && found.contains("history altered"),
        "verify must name the altered batch: {found:?}"
    );
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_leader_whose_journal_fails_gives_up_the_lease_and_the_standby_takes_over() {
    let dir = Books::new("give-up", Backend::Postgres);
    let url = dir
        .postgres
        .as_ref()
        .map(|(u, _)| u.clone())
        .unwrap_or_default();
    let leader = Engine::start(dir.config_as("a", false)).unwrap_or_else(|e| panic!("{e}"));
    run(&leader, vec![account(1, 0), account(2, 0)]);
    let standby = Engine::start(dir.config_as("b", true)).unwrap_or_else(|e| panic!("{e}"));
    assert!(!standby.is_leader());
    assert_eq!(
        standby.execute(vec![Command::CreateTransfer(transfer(9, 1, 2, 1, 0))]),
        Err(EngineError::Standby)
    );
    // The database refuses the leader's next batch (as a full disk or a broken replica would).
    let last = query_text(&url, "SELECT max(seq) FROM batches").unwrap_or_else(|e| panic!("{e}"));
    let last = &last[0][0];
    run_sql(
        &url,
        &format!("ALTER TABLE batches ADD CONSTRAINT refuse_more CHECK (seq <= {last})"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let refused = leader.execute(vec![Command::CreateTransfer(transfer(10, 1, 2, 5, 0))]);
    assert!(
        matches!(refused, Err(EngineError::Stopped(_))),
        "{refused:?}"
    );
    // A writer that cannot write gives the lease up rather than keep it renewed.
    eventually("the failed leader gives up the lease", || {
        leader.deposed().is_some()
    });
    run_sql(&url, "ALTER TABLE batches DROP CONSTRAINT refuse_more")
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("the standby takes over", || standby.is_leader());
    let results = run(
        &standby,
        vec![Command::CreateTransfer(transfer(10, 1, 2, 5, 0))],
    );
    assert_eq!(
        results,
        vec![ResultCode::Ok],
        "nothing of the refused batch was committed"
    );
    let _ = leader.shutdown();
    drop(leader);
    standby.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(standby);
    dir.verify().unwrap_or_else(|e| panic!("{e}"));
}

/// A standby keeps its own window and index of past transfers as it follows the leader: after
/// taking over, and after a restart of its own, it answers old transfers exactly.
#[test]
fn a_standby_answers_transfers_that_left_memory_after_taking_over() {
    let dir = Books::new("standby-window", Backend::Postgres);
    let leader = Engine::start(dir.small_window_config()).unwrap_or_else(|e| panic!("{e}"));
    let standby_config = || {
        let mut config = dir.config_as("b", true);
        config.data_dir = dir.dir.join("standby");
        config.window = SMALL_WINDOW;
        config.past_filter_bytes = SMALL_FILTER_BYTES;
        config
    };
    let standby = Engine::start(standby_config()).unwrap_or_else(|e| panic!("{e}"));
    let made = make_history(&leader);
    leader.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(leader);
    eventually("the standby takes over", || standby.is_leader());
    check_old_transfers(&standby, &made);
    standby.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(standby);
    // Started again on its own directory, as the leader now: its index is its journal's.
    let mut config = standby_config();
    config.postgres = dir.config_as("b", false).postgres;
    let again = Engine::start(config).unwrap_or_else(|e| panic!("{e}"));
    check_old_transfers(&again, &made);
    again.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(again);
    dir.verify().unwrap_or_else(|e| panic!("{e}"));
}

/// Some requests of plain transfers, each its own batch at least.
fn pay_rounds(engine: &Engine, first_id: u128, rounds: u128) {
    for round in 0..rounds {
        let id = first_id + round;
        let results = run(
            engine,
            vec![Command::CreateTransfer(transfer(id, 1, 2, 5, 0))],
        );
        assert_eq!(results, vec![ResultCode::Ok]);
    }
}

/// Deletes every batch after `seq`, with what hangs off it: the journal an old backup or a
/// copy taken mid-write would leave.
fn cut_journal_after(books: &Books, seq: u64) {
    let sql = format!(
        "DELETE FROM batches WHERE seq > {seq};
         DELETE FROM transfers_by_batch WHERE batch > {seq};
         DELETE FROM snapshot_chunks WHERE seq > {seq};
         DELETE FROM snapshots WHERE seq > {seq};"
    );
    match &books.postgres {
        Some((url, _)) => run_sql(url, &sql).unwrap_or_else(|e| panic!("{e}")),
        None => rusqlite::Connection::open(books.dir.join(suanpan_journal::DB_FILE))
            .and_then(|c| c.execute_batch(&sql))
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

fn a_journal_cut_short_is_refused_at_start_and_by_verify_until_accepted(backend: Backend) {
    let books = Books::new("anchor", backend);
    let engine = Engine::start(books.config()).unwrap_or_else(|e| panic!("{e}"));
    assert!(run(&engine, vec![account(1, 0), account(2, 0)])
        .iter()
        .all(|r| r.is_ok()));
    pay_rounds(&engine, 100, 4);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);
    let kept = books.journal().seq();
    let engine = Engine::start(books.config()).unwrap_or_else(|e| panic!("{e}"));
    pay_rounds(&engine, 200, 5);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);
    let whole = books.verify().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        whole.anchors.len(),
        1,
        "the journal's own anchor is checked"
    );
    let head = suanpan_journal::Head::parse(&whole.head).unwrap_or_else(|e| panic!("{e}"));
    assert!(head.seq >= kept + 5, "{} after {kept}", head.seq);

    cut_journal_after(&books, kept);
    let refused = Engine::start(books.config()).err().map(|e| e.to_string());
    let refused = refused.unwrap_or_else(|| panic!("a journal cut short was started on"));
    let source = match backend {
        Backend::Sqlite => "journal.head",
        Backend::Postgres => "the lease row",
    };
    for part in [
        &format!("ends at batch {kept}"),
        &format!("records batch {} as committed", head.seq),
        source,
        "--accept-journal-behind-anchor",
    ] {
        assert!(refused.contains(part), "{part:?} not in: {refused}");
    }
    let verify = books
        .verify()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        verify.contains(&format!("ends at batch {kept}")),
        "{verify}"
    );
    assert!(verify.contains(source), "{verify}");

    let mut accepting = books.config();
    accepting.accept_journal_behind_anchor = true;
    let engine = Engine::start(accepting).unwrap_or_else(|e| panic!("{e}"));
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);
    let report = books.verify().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.batches, kept);
    // The anchor moved back to the journal; one kept from before still names the cut.
    let kept_elsewhere = suanpan_journal::Anchor {
        head,
        source: "a day-end's record".into(),
    };
    let verify = verify_at(&books.location(), &[kept_elsewhere])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(verify.contains("a day-end's record"), "{verify}");
    let engine = Engine::start(books.config()).unwrap_or_else(|e| panic!("{e}"));
    pay_rounds(&engine, 300, 1);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
}

on_both!(
    transfers_that_left_memory_are_answered_exactly_across_a_restart,
    a_journal_cut_short_is_refused_at_start_and_by_verify_until_accepted,
    verify_names_a_stray_transfer_row_and_an_altered_batch,
    acknowledged_commands_survive_restart_and_replay_to_the_same_state,
    full_queue_answers_overloaded_at_once_and_applies_nothing_of_it,
    pending_transfer_expires_by_itself_and_the_expiry_is_journaled,
    a_linked_chain_never_runs_into_the_next_request,
    subscribers_see_every_committed_batch_in_order,
    requests_beyond_a_batch_are_refused_whole,
    a_second_engine_on_the_same_data_directory_is_refused,
    a_read_sees_what_was_queued_before_it_and_adds_nothing_to_the_journal,
    a_transfer_lookup_shows_what_moved_and_nothing_for_a_rejected_transfer,
);

/// The first day of the month `months` after the one `date` is in.
fn month_start(date: AccountingDate, months: u32) -> AccountingDate {
    let (year, month, _) = date.ymd();
    let index = (year * 12 + month as i32 - 1) + months as i32;
    AccountingDate::from_ymd(index / 12, (index % 12) as u32 + 1, 1)
        .unwrap_or_else(|| panic!("a date"))
}

fn month_name(date: AccountingDate) -> String {
    date.to_string()[..7].to_string()
}

/// The messages `suanpan_journal::archive` refuses with, or panics if it archived.
fn archive_refused(books: &Books, period: &str) -> String {
    match suanpan_journal::archive(&books.dir, period) {
        Ok(p) => panic!("period {period} was archived: {p:?}"),
        Err(e) => e.to_string(),
    }
}

/// History by period (SQLite): closed months move into files of their own; the chain, the
/// recall of old transfers and the replay run through them; a transfer changed in an archived
/// file is named by `verify` and by `verify --period`.
#[test]
fn archived_periods_stay_in_the_chain_and_a_changed_transfer_there_is_named() {
    let books = Books::new("periods", Backend::Sqlite);
    let engine = Engine::start(books.small_window_config()).unwrap_or_else(|e| panic!("{e}"));
    let made = make_history(&engine);
    let first_month = engine
        .read(|ledger| ledger.accounting_date())
        .unwrap_or_else(|e| panic!("{e}"))
        .wait()
        .unwrap_or_else(|| panic!("no date"));
    let cutover = |months| Command::Cutover {
        date: month_start(first_month, months),
    };
    assert_eq!(run(&engine, vec![cutover(1)]), [ResultCode::Ok]);
    pay_rounds(&engine, 20_000, 6);
    assert_eq!(run(&engine, vec![cutover(2)]), [ResultCode::Ok]);
    // Snapshots are written beside the batches, one at a time: the second to finish from now
    // began after the cutover, so it is past the months to archive.
    let snapshots = || {
        engine
            .metrics()
            .snapshots
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = snapshots();
    let mut next = 30_000;
    while snapshots() < before + 2 {
        assert!(next < 40_000, "no snapshot was written");
        pay_rounds(&engine, next, 10);
        next += 10;
    }
    let m2 = month_name(month_start(first_month, 2));
    let busy = archive_refused(&books, &m2);
    assert!(busy.contains("in use"), "{busy}");
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);

    // The months the journal holds, oldest first (the first batches carry the ledger's
    // starting date, before the engine moved it to the clock's).
    let months: Vec<String> = rusqlite::Connection::open(books.dir.join(suanpan_journal::DB_FILE))
        .and_then(|c| {
            c.prepare("SELECT DISTINCT substr(accounting_date, 1, 7) FROM batches ORDER BY seq")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        months.len() >= 3 && months.last() == Some(&m2),
        "{months:?}"
    );
    for (period, refusal) in [
        (months[1].as_str(), "archive the periods before"),
        (m2.as_str(), "still open"),
        ("2026-13", "YYYY-MM"),
        ("1969-01", "no batch"),
    ] {
        let found = archive_refused(&books, period);
        assert!(found.contains(refusal), "{period}: {found}");
    }
    let mut periods = Vec::new();
    for month in &months[..months.len() - 1] {
        let period = suanpan_journal::archive(&books.dir, month).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            period.first_seq,
            periods
                .last()
                .map_or(1, |p: &suanpan_journal::Period| p.last_seq + 1)
        );
        periods.push(period);
    }
    let again = archive_refused(&books, &months[0]);
    assert!(again.contains("already archived"), "{again}");
    // The period holding the 400 transfers of `make_history`.
    let p0 = periods
        .iter()
        .max_by_key(|p| p.transfers)
        .cloned()
        .unwrap_or_else(|| panic!("no period"));
    assert!(p0.transfers >= 400, "{p0:?}");
    let m0 = p0.name.clone();
    let last = periods
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no period"));
    // The period's file reads with the sqlite3 tool alone: the same `transfers` view.
    let file = p0.file(&books.dir);
    let archived = rusqlite::Connection::open(&file).unwrap_or_else(|e| panic!("{e}"));
    let rows: i64 = archived
        .query_row("SELECT count(*) FROM transfers", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows as u64, p0.transfers);
    let left: i64 = rusqlite::Connection::open(books.dir.join(suanpan_journal::DB_FILE))
        .and_then(|c| c.query_row("SELECT min(seq) FROM batches", [], |r| r.get(0)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        left as u64,
        last.last_seq + 1,
        "archived batches left the journal's file"
    );

    let report = books.verify().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.periods, months[..months.len() - 1]);
    let alone = suanpan_journal::verify_period(&file, Some(&p0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (alone.batches, alone.period.transfers),
        (p0.last_seq - p0.first_seq + 1, p0.transfers)
    );

    // Recovery and the recall of transfers long gone from memory read the archived files.
    let engine = Engine::start(books.small_window_config()).unwrap_or_else(|e| panic!("{e}"));
    check_old_transfers(&engine, &made);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);
    books.verify().unwrap_or_else(|e| panic!("{e}"));

    // One byte of a transfer's reference changed in the archived file: the transfer is named.
    let (seq, mut body): (i64, Vec<u8>) = archived
        .query_row(
            "SELECT seq, body FROM batches WHERE seq = (SELECT min(batch) FROM transfers)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<String> = archived
        .prepare("SELECT id FROM transfers WHERE batch = ?1")
        .and_then(|mut s| {
            s.query_map([seq], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let at = body
        .windows(3)
        .position(|w| w == b"ref")
        .unwrap_or_else(|| panic!("no reference in batch {seq}"));
    body[at] = b'R';
    archived
        .execute(
            "UPDATE batches SET body = ?2 WHERE seq = ?1",
            rusqlite::params![seq, body],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let whole = books
        .verify()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let alone = suanpan_journal::verify_period(&file, Some(&p0))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for found in [&whole, &alone] {
        assert!(
            found.contains(&format!("batch {seq} in archived period {m0}"))
                && found.contains("was altered after it was archived")
                && ids
                    .iter()
                    .any(|id| found.contains(&format!("transfer {id} "))),
            "verify must name the changed transfer of {ids:?}: {found}"
        );
    }
    body[at] = b'r';
    archived
        .execute(
            "UPDATE batches SET body = ?2 WHERE seq = ?1",
            rusqlite::params![seq, body],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    books.verify().unwrap_or_else(|e| panic!("{e}"));

    // A period's file swapped for another: its recorded head no longer matches.
    let other = suanpan_journal::verify_period(&periods[0].file(&books.dir), Some(&last))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(other.contains("the journal recorded period"), "{other}");
    // A period's file gone: the engine says which, and starts on nothing.
    drop(archived);
    std::fs::rename(&file, books.dir.join("elsewhere.db")).unwrap_or_else(|e| panic!("{e}"));
    let missing = Engine::start(books.small_window_config())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(missing.contains("is missing"), "{missing}");
}
