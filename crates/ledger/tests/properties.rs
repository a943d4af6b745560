//! Property tests over random command streams: the invariants of the ledger hold after every
//! command, whatever the stream.

mod support;

use proptest::prelude::*;
use suanpan_ledger::*;
use support::*;

const ACCOUNTS: u128 = 8;
const CNY: u64 = 100;

/// Accounts 10..18: 10 and 11 are Class I of person 1, 12 is Class II bound to 10, 13 Class III
/// bound to 10 (with consent), 14 may go negative, the rest must not.
fn setup() -> Books {
    let mut books = Books::new();
    for id in 10..10 + ACCOUNTS {
        let mut new = account(id);
        new.owner = 1;
        match id {
            10 | 11 => new.tier = Tier::I,
            12 => (new.tier, new.bound_account) = (Tier::II, 10),
            13 => {
                (new.tier, new.bound_account) = (Tier::III, 10);
                new.flags = AccountFlags(new.flags.0 | AccountFlags::NON_BOUND_INFLOW_CONSENT);
            }
            14 => new.flags = AccountFlags(0),
            17 => new.flags = AccountFlags(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
            _ => {}
        }
        assert_eq!(books.one(Command::CreateAccount(new)), ResultCode::Ok);
    }
    for id in [10, 11, 15, 16] {
        books.one(Command::CreateTransfer(transfer(
            id << 40,
            FUND,
            id,
            30_000 * CNY,
        )));
    }
    books
}

fn arb_command() -> impl Strategy<Value = Command> {
    let account = (0..ACCOUNTS + 1).prop_map(|i| if i == ACCOUNTS { FUND } else { 10 + i });
    let amount = prop_oneof![1u64..200, 1u64..20_000 * CNY, Just(0u64)];
    let transfer = (
        1u128..60,
        account.clone(),
        account.clone(),
        amount,
        0u16..16,
        0u128..60,
        prop_oneof![Just(0u64), 1u64..5_000],
    )
        .prop_map(|(id, dr, cr, amount, flags, pending_id, timeout_ms)| {
            let flags = TransferFlags(flags);
            Command::CreateTransfer(Transfer {
                flags,
                pending_id: if flags.resolves_pending() {
                    pending_id
                } else {
                    0
                },
                timeout_ms: if flags.pending() { timeout_ms } else { 0 },
                debit_account_id: if flags.resolves_pending() && dr % 2 == 0 {
                    0
                } else {
                    dr
                },
                credit_account_id: if flags.resolves_pending() && cr % 2 == 0 {
                    0
                } else {
                    cr
                },
                ..support::transfer(id, dr, cr, amount)
            })
        });
    prop_oneof![
        8 => transfer,
        1 => account.clone().prop_map(|id| Command::FreezeAccount { id }),
        1 => account.clone().prop_map(|id| Command::UnfreezeAccount { id }),
        1 => (1u128..60).prop_map(|pending_id| Command::ExpirePending { pending_id }),
        1 => (1i32..3).prop_map(|days| Command::Cutover { date: AccountingDate(20_417 + days) }),
    ]
}

fn check_invariants(ledger: &Ledger) {
    let limits = ledger.limits();
    let today = ledger.accounting_date();
    let mut sums = LedgerTotals::default();
    for a in ledger.accounts() {
        sums.debits_posted += a.debits_posted;
        sums.credits_posted += a.credits_posted;
        sums.debits_pending += a.debits_pending;
        sums.credits_pending += a.credits_pending;
        if a.flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        {
            assert!(
                a.debits_posted + a.debits_pending <= a.credits_posted,
                "{a:?}"
            );
        }
        if a.flags
            .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            assert!(
                a.credits_posted + a.credits_pending <= a.debits_posted,
                "{a:?}"
            );
        }
        let usage = a.tier_usage.on(today);
        match a.tier {
            Tier::II => {
                assert!(usage.outflow_day_fen <= limits.class_ii_outflow_daily_fen);
                assert!(usage.inflow_day_fen <= limits.class_ii_inflow_daily_fen);
                assert!(usage.outflow_year_fen <= limits.class_ii_outflow_yearly_fen);
                assert!(usage.inflow_year_fen <= limits.class_ii_inflow_yearly_fen);
            }
            Tier::III => {
                let held = (a.credits_posted + a.credits_pending).saturating_sub(a.debits_posted);
                assert!(
                    held <= u128::from(limits.class_iii_balance_max_fen),
                    "{a:?}"
                );
                assert!(usage.outflow_day_fen <= limits.class_iii_outflow_daily_fen);
                assert!(usage.outflow_year_fen <= limits.class_iii_outflow_yearly_fen);
            }
            _ => {}
        }
    }
    assert_eq!(sums.debits_posted, sums.credits_posted);
    assert_eq!(sums.debits_pending, sums.credits_pending);
    assert_eq!(sums, ledger.totals());
}

/// Batches of commands, with linked flags making chains inside them.
fn arb_batches() -> impl Strategy<Value = Vec<Vec<Command>>> {
    prop::collection::vec(prop::collection::vec(arb_command(), 1..12), 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_after_every_batch(batches in arb_batches()) {
        let mut books = setup();
        for batch in &batches {
            books.now += 1_000_000;
            let results = books.run(batch);
            prop_assert_eq!(results.len(), batch.len());
            check_invariants(&books.ledger);
        }
    }

    #[test]
    fn rejected_command_leaves_the_state_byte_identical(batches in arb_batches()) {
        let mut books = setup();
        for command in batches.iter().flatten() {
            // One at a time, so that a linked flag becomes an open chain and is rejected whole.
            books.now += 400_000;
            let before = books.ledger.state_hash();
            let result = books.one(*command);
            if !result.is_ok() {
                prop_assert_eq!(books.ledger.state_hash(), before, "{} changed the state", result);
            }
        }
    }

    #[test]
    fn failed_chain_leaves_the_state_byte_identical(batches in arb_batches()) {
        let mut books = setup();
        for batch in &batches {
            let chain: Vec<Command> = batch
                .iter()
                .enumerate()
                .map(|(i, c)| match *c {
                    Command::CreateTransfer(t) => {
                        let mut flags = t.flags.0 & !TransferFlags::LINKED;
                        if i + 1 < batch.len() { flags |= TransferFlags::LINKED; }
                        Command::CreateTransfer(Transfer { flags: TransferFlags(flags), ..t })
                    }
                    other => other,
                })
                .filter(|c| matches!(c, Command::CreateTransfer(_)))
                .collect();
            let before = books.ledger.state_hash();
            let results = books.run(&chain);
            if results.iter().any(|r| !r.is_success()) {
                prop_assert_eq!(books.ledger.state_hash(), before);
            }
            check_invariants(&books.ledger);
        }
    }

    #[test]
    fn replay_gives_the_same_state_hash(batches in arb_batches()) {
        let mut books = setup();
        let mut stamped_batches = Vec::new();
        for batch in &batches {
            books.now += 1_000_000;
            let stamped: Vec<Stamped> = batch
                .iter()
                .map(|&command| {
                    books.now += 1_000;
                    Stamped { timestamp: books.now, command }
                })
                .collect();
            let mut results = Vec::new();
            books.ledger.apply(&stamped, &mut results);
            stamped_batches.push(stamped);
        }
        // The journal replays the same batches; here through a snapshot half way.
        let mut replay = setup();
        let half = stamped_batches.len() / 2;
        let mut results = Vec::new();
        for batch in &stamped_batches[..half] {
            replay.ledger.apply(batch, &mut results);
        }
        let mut bytes = Vec::new();
        prop_assert!(replay.ledger.encode_snapshot(&mut bytes).is_ok());
        let mut loaded = Ledger::decode_snapshot(&mut bytes.as_slice()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(loaded.state_hash(), replay.ledger.state_hash());
        loaded.restore_clock(replay.ledger.last_timestamp());
        for batch in &stamped_batches[half..] {
            loaded.apply(batch, &mut results);
        }
        prop_assert_eq!(loaded.state_hash(), books.ledger.state_hash());
        check_invariants(&loaded);
    }
}
