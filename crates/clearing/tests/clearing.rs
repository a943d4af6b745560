//! Clearing against the real engine and SQLite journal in a temporary directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use proptest::prelude::*;
use suanpan_clearing::*;
use suanpan_engine::{Engine, EngineConfig};
use suanpan_ledger::{Command, Reference, ResultCode};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        TempDir(std::env::temp_dir().join(format!(
            "suanpan-clearing-{name}-{}-{nanos}",
            std::process::id()
        )))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(dir: &Path) -> Engine {
    let mut config = EngineConfig::new(dir);
    config.auto_cutover = false;
    Engine::start(config).unwrap_or_else(|e| panic!("engine: {e}"))
}

fn open_store(dir: &Path) -> store::Store {
    store::open(&suanpan_store::room::Home::sqlite(dir), dir)
        .unwrap_or_else(|e| panic!("clearing store: {e}"))
}

fn register(
    engine: &Engine,
    dir: &Path,
    participants: u16,
    cap_fen: u64,
) -> (store::Store, Registry) {
    let store = open_store(dir);
    let mut registry = Registry::load(&store).unwrap_or_else(|e| panic!("registry: {e}"));
    for n in 1..=participants {
        registry
            .register(
                &store,
                engine,
                n,
                &format!("B{n:03}"),
                &format!("Bank {n}"),
                ParticipantKind::Bank,
                cap_fen,
            )
            .unwrap_or_else(|e| panic!("register {n}: {e}"));
    }
    (store, registry)
}

fn payment(id: u128, payer: u16, payee: u16, amount_fen: u64) -> Payment {
    Payment {
        id,
        payer,
        payee,
        amount_fen,
        kind: TransactionKind::AgreementPayment,
        reference: Reference::new(format!("order-{id}").as_bytes()).unwrap_or(Reference::EMPTY),
    }
}

fn position_credit_balance(engine: &Engine, participant: u16) -> i128 {
    engine
        .lookup_accounts(vec![position_account_id(participant)])
        .unwrap_or_default()[0]
        .map_or(i128::MIN, |a| a.credit_balance())
}

#[test]
fn a_payment_beyond_the_net_debit_cap_is_refused_and_receipts_restore_headroom() {
    let dir = TempDir::new("cap");
    let engine = start(&dir.0);
    register(&engine, &dir.0, 2, 1_000);
    assert_eq!(
        pay(&engine, &payment(1, 1, 2, 1_000)).ok(),
        Some(ResultCode::Ok)
    );
    let refused = pay(&engine, &payment(2, 1, 2, 1)).err().map(|e| e.code());
    assert_eq!(refused, Some("net_debit_cap_exceeded"));
    assert_eq!(
        pay(&engine, &payment(3, 2, 1, 400)).ok(),
        Some(ResultCode::Ok)
    );
    assert_eq!(
        pay(&engine, &payment(4, 1, 2, 400)).ok(),
        Some(ResultCode::Ok)
    );
    assert_eq!(position_credit_balance(&engine, 1), 0);
    assert_eq!(position_credit_balance(&engine, 2), 2_000);
    // Resubmitting a payment is answered `exists` and moves nothing.
    assert_eq!(
        pay(&engine, &payment(4, 1, 2, 400)).ok(),
        Some(ResultCode::Exists)
    );
    assert_eq!(position_credit_balance(&engine, 2), 2_000);
}

#[test]
fn a_suspended_participant_neither_pays_nor_receives_until_reactivated() {
    let dir = TempDir::new("suspend");
    let engine = start(&dir.0);
    let (store, mut registry) = register(&engine, &dir.0, 2, 1_000);
    registry
        .set_status(&store, &engine, 2, ParticipantStatus::Suspended)
        .unwrap_or_else(|e| panic!("{e}"));
    let code = |r: Result<ResultCode, ClearingError>| r.err().map(|e| e.code());
    assert_eq!(
        code(pay(&engine, &payment(1, 1, 2, 10))),
        Some("participant_suspended")
    );
    assert_eq!(
        code(pay(&engine, &payment(2, 2, 1, 10))),
        Some("participant_suspended")
    );
    registry
        .set_status(&store, &engine, 2, ParticipantStatus::Active)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pay(&engine, &payment(1, 1, 2, 10)).ok(),
        Some(ResultCode::Ok)
    );
    drop(store);
    let reloaded = Registry::load(&open_store(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        reloaded.get(2).map(|p| p.status),
        Some(ParticipantStatus::Active)
    );
}

#[test]
fn lowering_a_cap_below_what_is_owed_is_refused_and_raising_it_gives_headroom() {
    let dir = TempDir::new("setcap");
    let engine = start(&dir.0);
    let (store, mut registry) = register(&engine, &dir.0, 2, 1_000);
    assert!(pay(&engine, &payment(1, 1, 2, 800)).is_ok());
    let lowered = registry
        .set_cap(&store, &engine, 1, 500)
        .err()
        .map(|e| e.code());
    assert_eq!(lowered, Some("net_debit_cap_exceeded"));
    registry
        .set_cap(&store, &engine, 1, 5_000)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pay(&engine, &payment(2, 1, 2, 4_200)).is_ok());
    assert_eq!(position_credit_balance(&engine, 1), 0);
    assert_eq!(
        Registry::load(&store)
            .ok()
            .and_then(|r| r.get(1).map(|p| p.net_debit_cap_fen)),
        Some(5_000)
    );
}

#[test]
fn refunds_go_back_to_the_payer_and_never_exceed_what_is_left() {
    let dir = TempDir::new("refund");
    let engine = start(&dir.0);
    register(&engine, &dir.0, 2, 10_000);
    assert!(pay(&engine, &payment(7, 1, 2, 1_000)).is_ok());
    let r = |number, amount_fen| {
        refund(
            &engine,
            &Refund {
                original: 7,
                number,
                amount_fen,
            },
        )
    };
    assert_eq!(r(0, 600).ok().map(|(_, c)| c), Some(ResultCode::Ok));
    assert_eq!(r(0, 600).ok().map(|(_, c)| c), Some(ResultCode::Exists));
    assert_eq!(
        r(0, 300).err().map(|e| e.code()),
        Some("refund_number_taken")
    );
    assert_eq!(
        r(2, 100).err().map(|e| e.code()),
        Some("refund_number_out_of_order")
    );
    assert_eq!(
        r(1, 401).err().map(|e| e.code()),
        Some("refund_exceeds_original")
    );
    assert_eq!(r(1, 400).ok().map(|(_, c)| c), Some(ResultCode::Ok));
    assert_eq!(
        r(2, 1).err().map(|e| e.code()),
        Some("refund_exceeds_original")
    );
    assert_eq!(position_credit_balance(&engine, 1), 10_000);
    assert_eq!(position_credit_balance(&engine, 2), 10_000);
    let refund_of_refund = refund(
        &engine,
        &Refund {
            original: refund_id(7, 0),
            number: 0,
            amount_fen: 1,
        },
    );
    assert_eq!(
        refund_of_refund.err().map(|e| e.code()),
        Some("original_not_refundable")
    );
}

#[test]
fn two_concurrent_refunds_cannot_both_spend_the_original() {
    let dir = TempDir::new("refund-race");
    let engine = start(&dir.0);
    register(&engine, &dir.0, 2, 1_000_000);
    for original in 1..=40u128 {
        assert!(pay(&engine, &payment(original, 1, 2, 1_000)).is_ok());
        // Each thread refunds 700 of the 1,000, racing for refund number 0 then number 1.
        let outcomes: Vec<u64> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        (0..2u8)
                            .filter_map(|number| {
                                refund(
                                    &engine,
                                    &Refund {
                                        original,
                                        number,
                                        amount_fen: 700,
                                    },
                                )
                                .ok()
                            })
                            .filter(|(_, code)| *code == ResultCode::Ok)
                            .count() as u64
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| {
                    r.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        assert_eq!(outcomes.iter().sum::<u64>(), 1, "original {original}");
    }
    assert_eq!(position_credit_balance(&engine, 2), 1_000_000 + 40 * 300);
}

#[test]
fn closing_batches_while_transactions_arrive_loses_nothing_and_counts_nothing_twice() {
    let dir = TempDir::new("close-race");
    let engine = start(&dir.0);
    register(&engine, &dir.0, 8, u64::MAX / 16);
    let submitting = AtomicBool::new(true);
    let (acknowledged, batches) = std::thread::scope(|s| {
        let submitters: Vec<_> = (0..4u128)
            .map(|thread| {
                let engine = &engine;
                s.spawn(move || {
                    let mut ok = Vec::new();
                    for request in 0..60u128 {
                        let commands: Vec<Command> = (0..50u128)
                            .filter_map(|i| {
                                let id = (thread << 64) | (request << 16) | (i + 1);
                                let payer = (id % 8) as u16 + 1;
                                let payee = ((id / 8) % 7) as u16 + 1;
                                let payee = if payee >= payer { payee + 1 } else { payee };
                                payment_transfer(&payment(id, payer, payee, 1 + (id % 97) as u64))
                                    .ok()
                            })
                            .map(Command::CreateTransfer)
                            .collect();
                        let ids: Vec<u128> = commands
                            .iter()
                            .map(|c| match c {
                                Command::CreateTransfer(t) => t.id,
                                _ => 0,
                            })
                            .collect();
                        let results = engine.execute(commands).unwrap_or_default();
                        ok.extend(
                            ids.iter()
                                .zip(&results)
                                .filter(|(_, r)| r.is_ok())
                                .map(|(id, _)| *id),
                        );
                        // Submitters close batches too, at once with the closer and each other.
                        if request % 10 == 9 {
                            close_batch(engine).unwrap_or_else(|e| panic!("close: {e}"));
                        }
                    }
                    ok
                })
            })
            .collect();
        let closer = s.spawn(|| {
            let mut closed = 0;
            while submitting.load(Ordering::Acquire) {
                closed = close_batch(&engine).unwrap_or_else(|e| panic!("close: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
            closed
        });
        let acknowledged: Vec<u128> = submitters
            .into_iter()
            // A submitter that panicked fails the test: counting it as "nothing acknowledged"
            // would hide the failure behind a weaker check.
            .flat_map(|t| {
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        submitting.store(false, Ordering::Release);
        closer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let last = close_batch(&engine).unwrap_or_else(|e| panic!("close: {e}"));
        (acknowledged, last)
    });
    // Each submitter's six closes come one after the other, so at least six batches.
    assert!(
        batches >= 6,
        "only {batches} batches closed while submitting"
    );
    assert_eq!(last_closed_batch(&engine).ok(), Some(batches));
    let mut seen = HashSet::new();
    let mut cleared_amount = 0u128;
    for batch in 1..=batches {
        let cleared = clear_batch(&dir.0, batch, FeeSchedule::default())
            .unwrap_or_else(|e| panic!("batch {batch}: {e}"));
        for line in &cleared.lines {
            assert!(
                seen.insert(line.id),
                "transaction {} in two batches",
                line.id
            );
        }
        cleared_amount += cleared.netting.amount_fen();
    }
    // Batches read again through a wrong cut index give the same transactions.
    let index = dir.0.join(CUTS_FILE);
    let wrong: String = (1..=batches)
        .map(|b| format!("{b},{}\n", 1 + b * 1_000))
        .collect();
    std::fs::write(&index, wrong).unwrap_or_else(|e| panic!("{e}"));
    let again = (2..=batches).flat_map(|batch| {
        clear_batch(&dir.0, batch, FeeSchedule::default())
            .unwrap_or_else(|e| panic!("batch {batch} again: {e}"))
            .lines
            .into_iter()
            .map(|line| line.id)
    });
    let first_batch = clear_batch(&dir.0, 1, FeeSchedule::default())
        .map(|c| c.lines.len())
        .unwrap_or(0);
    assert_eq!(again.count() + first_batch, seen.len());
    let acknowledged: HashSet<u128> = acknowledged.into_iter().collect();
    assert_eq!(acknowledged.len(), 4 * 60 * 50);
    assert_eq!(seen, acknowledged);
    let expected: u128 = acknowledged
        .iter()
        .map(|id| 1 + u128::from((id % 97) as u64))
        .sum();
    assert_eq!(cleared_amount, expected);
    let open = read_batch(&dir.0, batches + 1, FeeSchedule::default())
        .err()
        .map(|e| e.code());
    assert_eq!(open, Some("batch_not_closed"));
}

#[test]
fn settlement_brings_every_position_back_to_its_cap_once() {
    let dir = TempDir::new("settle");
    let engine = start(&dir.0);
    register(&engine, &dir.0, 3, 10_000);
    for (id, payer, payee, amount) in [(1, 1, 2, 700), (2, 2, 3, 200), (3, 3, 1, 50), (4, 1, 3, 25)]
    {
        assert!(pay(&engine, &payment(id, payer, payee, amount)).is_ok());
    }
    let batch = close_batch(&engine).unwrap_or_else(|e| panic!("{e}"));
    // Business after the cut belongs to the next batch and stays on the positions.
    assert!(pay(&engine, &payment(5, 2, 1, 5)).is_ok());
    let cleared =
        clear_batch(&dir.0, batch, FeeSchedule::default()).unwrap_or_else(|e| panic!("{e}"));
    let instructions = settlement_instructions(&cleared.netting);
    let nets: Vec<(u16, i128)> = instructions
        .iter()
        .map(|s| (s.participant, s.net_fen))
        .collect();
    assert_eq!(nets, vec![(1, -675), (2, 500), (3, 175)]);
    assert_eq!(settle_batch(&engine, &cleared).ok(), Some(3));
    assert_eq!(settle_batch(&engine, &cleared).ok(), Some(3));
    let balances: Vec<i128> = (1..=3)
        .map(|p| position_credit_balance(&engine, p))
        .collect();
    assert_eq!(balances, vec![10_005, 9_995, 10_000]);
}

fn statement_ids(path: &Path) -> Vec<(u128, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("D,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap_or(0), f[4].to_string())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn statements_add_up_to_the_batch_and_hold_each_transaction_once_per_side(
        raw in prop::collection::vec((1u16..=5, 1u16..=4, 1u64..1_000_000), 1..150),
        fee_bp in 0u16..50,
    ) {
        let dir = TempDir::new("statements");
        let engine = start(&dir.0);
        let (_store, registry) = register(&engine, &dir.0, 6, u64::MAX / 8);
        let mut ids = HashSet::new();
        for (i, (payer, step, amount)) in raw.iter().enumerate() {
            let payee = (payer + step - 1) % 6 + 1;
            let id = i as u128 + 1;
            prop_assert!(pay(&engine, &payment(id, *payer, payee, *amount)).is_ok());
            ids.insert(id);
        }
        let batch = close_batch(&engine).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let fees = FeeSchedule { basis_points: [fee_bp; 4] };
        let cleared = clear_batch(&dir.0, batch, fees).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = dir.0.join("statements");
        let trailers = write_statements(&out, &cleared, &registry, &|_, _| {})
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(trailers.len(), 6);
        let (mut paid, mut received, mut fee, mut net) = (0u128, 0u128, 0u128, 0i128);
        let (mut paid_ids, mut received_ids) = (Vec::new(), Vec::new());
        for t in &trailers {
            let read = read_statement_trailer(&t.path).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&read, t);
            let position = cleared.netting.position(t.participant).copied().unwrap_or_default();
            prop_assert_eq!((t.paid_fen, t.received_fen), (position.paid_fen, position.received_fen));
            paid += t.paid_fen;
            received += t.received_fen;
            fee += t.fee_fen;
            net += t.net_fen;
            for (id, direction) in statement_ids(&t.path) {
                if direction == "paid" { paid_ids.push(id) } else { received_ids.push(id) }
            }
        }
        prop_assert_eq!(paid, cleared.netting.amount_fen());
        prop_assert_eq!(received, cleared.netting.amount_fen());
        prop_assert_eq!(fee, cleared.netting.fee_fen());
        prop_assert_eq!(net, 0);
        for side in [&mut paid_ids, &mut received_ids] {
            side.sort_unstable();
            let mut expected: Vec<u128> = ids.iter().copied().collect();
            expected.sort_unstable();
            prop_assert_eq!(&*side, &expected);
        }
        let (bytes, trailer) = read_statement(&out, batch, 3).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Some(&trailer), trailers.iter().find(|t| t.participant == 3));
        prop_assert!(bytes.starts_with(b"H,suanpan-statement,1,"));
        let missing = read_statement(&out, batch, 7).err().map(|e| e.code());
        prop_assert_eq!(missing, Some("statement_not_found"));
        let leftovers = std::fs::read_dir(&out).map(|d| d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).count()).unwrap_or(1);
        prop_assert_eq!(leftovers, 0);
    }
}

#[test]
fn an_older_registry_file_is_taken_into_the_store_once() {
    let dir = TempDir::new("import");
    let csv = dir.0.join(PARTICIPANTS_FILE);
    std::fs::create_dir_all(csv.parent().unwrap_or(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &csv,
        "number,code,name,kind,status,net_debit_cap_fen,cap_revision\n\
         1,B001,Bank 1,bank,active,1000,1\n\
         2,P002,Pay 2,payment_institution,suspended,0,0\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::load(&open_store(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    let seen: Vec<_> = registry
        .all()
        .map(|p| (p.number, p.code.clone(), p.status, p.net_debit_cap_fen))
        .collect();
    let expected = vec![
        (1, "B001".to_string(), ParticipantStatus::Active, 1_000),
        (2, "P002".to_string(), ParticipantStatus::Suspended, 0),
    ];
    assert_eq!(seen, expected);
    assert!(!csv.exists(), "the older file is set aside");
    assert!(csv.with_extension("csv.imported").is_file());
    // Opened again, the rows are there and nothing is taken twice.
    let again = Registry::load(&open_store(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.all().count(), 2);
}

#[test]
fn an_issued_statement_missing_from_the_directory_is_written_again_and_checked() {
    let dir = TempDir::new("issued");
    let engine = start(&dir.0);
    let (store, _) = register(&engine, &dir.0, 3, 10_000);
    assert!(pay(&engine, &payment(1, 1, 2, 700)).is_ok());
    assert!(pay(&engine, &payment(2, 3, 1, 300)).is_ok());
    let batch = close_batch(&engine).unwrap_or_else(|e| panic!("{e}"));
    let journal = suanpan_journal::JournalLocation::Sqlite(dir.0.clone());
    let trailers =
        issue_statements(&store, &journal, &dir.0, batch).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trailers.len(), 3);
    let writing = std::sync::Mutex::new(());
    let read =
        |participant| issued_statement(&store, &journal, &dir.0, batch, participant, &writing);
    let first = read(1).unwrap_or_else(|e| panic!("{e}"));
    // The files are a cache: gone, the statement is written again, the same to the byte.
    std::fs::remove_dir_all(statements_dir(&dir.0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read(1).ok(), Some(first));
    assert_eq!(read(4).err().map(|e| e.code()), Some("statement_not_found"));
    // Issuing the batch again is the same statements; a record that disagrees with what the
    // journal gives is refused, never handed out.
    assert!(issue_statements(&store, &journal, &dir.0, batch).is_ok());
    store
        .write_blocking(|c| {
            c.execute(
                "UPDATE clearing_statements SET sha256 = 'ab' WHERE participant = 2",
                &[],
            )
        })
        .unwrap_or_else(|e: suanpan_store::StoreError| panic!("{e}"));
    assert_eq!(read(2).err().map(|e| e.code()), Some("books_inconsistent"));
    assert_eq!(
        issue_statements(&store, &journal, &dir.0, batch)
            .err()
            .map(|e| e.code()),
        Some("books_inconsistent")
    );
}
