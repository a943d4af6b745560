//! The engine against a real SQLite journal in a temporary directory.

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use suanpan_engine::{Engine, EngineConfig, EngineError};
use suanpan_journal::{verify, Journal};
use suanpan_ledger::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "suanpan-test-{name}-{}-{nanos}",
            std::process::id()
        ));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &TempDir) -> EngineConfig {
    let mut config = EngineConfig::new(&dir.0);
    config.snapshot_commands_min = 40;
    config.snapshot_growth_factor = 1;
    config.snapshot_chunk_bytes = 512;
    config
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
fn recovered_hash(dir: &TempDir) -> [u8; 32] {
    let mut journal =
        Journal::open(&dir.0, TierLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    journal
        .recover()
        .unwrap_or_else(|e| panic!("{e}"))
        .ledger
        .state_hash()
}

#[test]
fn acknowledged_commands_survive_restart_and_replay_to_the_same_state() {
    let dir = TempDir::new("restart");
    let engine = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("{e}"));
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
    assert!(
        engine
            .metrics()
            .snapshots
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    let accounts = engine
        .lookup_accounts(vec![2, 3, 99])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accounts[2], None);
    let before = accounts[1].map(|a| a.credits_posted);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(engine);

    let report = verify(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report.snapshot_seq > 0,
        "recovery should start from a snapshot"
    );
    assert_eq!(report.state_hash, hex(&recovered_hash(&dir)));

    // A restarted engine knows every transfer: resubmitting answers `exists`.
    let engine = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("{e}"));
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

#[test]
fn full_queue_answers_overloaded_at_once_and_applies_nothing_of_it() {
    let dir = TempDir::new("overload");
    let mut config = config(&dir);
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

#[test]
fn pending_transfer_expires_by_itself_and_the_expiry_is_journaled() {
    let dir = TempDir::new("expiry");
    let engine = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("{e}"));
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
    let mut journal =
        Journal::open(&dir.0, TierLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    let ledger = journal.recover().unwrap_or_else(|e| panic!("{e}")).ledger;
    assert_eq!(ledger.pending_status(10), Some(PendingStatus::Expired));
    assert!(verify(&dir.0).is_ok());
}

#[test]
fn a_linked_chain_never_runs_into_the_next_request() {
    let dir = TempDir::new("chain");
    let engine = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("{e}"));
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

#[test]
fn subscribers_see_every_committed_batch_in_order() {
    let dir = TempDir::new("subscribe");
    let engine = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("{e}"));
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

#[test]
fn requests_beyond_a_batch_are_refused_whole() {
    let dir = TempDir::new("too-many");
    let engine = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("{e}"));
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn journal_replay_gives_the_state_the_engine_had(requests in prop::collection::vec(prop::collection::vec(arb_command(), 1..20), 1..20)) {
        let dir = TempDir::new("replay");
        let engine = Engine::start(config(&dir)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        run(&engine, vec![account(1, 0), account(2, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS), account(3, 0), account(4, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)]);
        let tickets: Vec<_> = requests.into_iter().filter_map(|r| engine.submit(r).ok()).collect();
        for ticket in tickets {
            prop_assert!(matches!(ticket.wait(), Some(Ok(_))));
        }
        engine.shutdown().map_err(|e| TestCaseError::fail(e.to_string()))?;
        drop(engine);
        let report = verify(&dir.0).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(report.state_hash, hex(&recovered_hash(&dir)));
    }
}

#[test]
fn a_second_engine_on_the_same_data_directory_is_refused() {
    let dir = TempDir::new("second-writer");
    let first = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("{e}"));
    let second = Engine::start(config(&dir));
    let refused = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("in use by another Suanpan process"),
        "{refused}"
    );
    first.shutdown().unwrap_or_else(|e| panic!("{e}"));
    drop(first);
    // Once the first has stopped, the directory is free again.
    assert!(Engine::start(config(&dir)).is_ok());
}

#[test]
fn a_read_sees_what_was_queued_before_it_and_adds_nothing_to_the_journal() {
    let dir = TempDir::new("reads");
    let engine = Engine::start(config(&dir)).expect("starts");
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

#[test]
fn a_transfer_lookup_shows_what_moved_and_nothing_for_a_rejected_transfer() {
    let dir = TempDir::new("lookup-transfers");
    let engine = Engine::start(config(&dir)).unwrap_or_else(|e| panic!("start: {e}"));
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
