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
    setup_on(Books::new())
}

fn setup_on(mut books: Books) -> Books {
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

/// Transfers that mostly succeed (from the funding account, which has no limit), pending
/// ones among them, and posts and voids of them: a long history, with ids used again.
fn arb_likely() -> impl Strategy<Value = Command> {
    (
        60u128..200,
        14u128..17,
        1u64..100,
        0u16..6,
        60u128..200,
        0u64..3,
    )
        .prop_map(|(id, credit, amount, kind, pending_id, timeout_ms)| {
            let mut t = transfer(id, FUND, credit, amount);
            match kind {
                0 | 1 => {}
                2 | 3 => {
                    t.flags = TransferFlags(TransferFlags::PENDING);
                    t.timeout_ms = timeout_ms;
                }
                4 => {
                    t.flags = TransferFlags(TransferFlags::POST_PENDING);
                    t.pending_id = pending_id;
                    (t.debit_account_id, t.credit_account_id, t.amount) = (0, 0, 0);
                }
                _ => {
                    t.flags = TransferFlags(TransferFlags::VOID_PENDING);
                    t.pending_id = pending_id;
                    t.amount = 0;
                }
            }
            Command::CreateTransfer(t)
        })
}

fn arb_long_batches() -> impl Strategy<Value = Vec<Vec<Command>>> {
    let command = prop_oneof![1 => arb_command(), 3 => arb_likely()];
    prop::collection::vec(prop::collection::vec(command, 1..12), 1..40)
}

/// A windowed ledger with a model of the journal behind it: every command and its result,
/// from which past transfers are read back the way the engine's recall does.
struct Windowed {
    books: Books,
    journal: Vec<(Stamped, ResultCode)>,
    left: u64,
    recalled: u64,
}

impl Windowed {
    fn apply(&mut self, batch: &[Stamped]) -> Vec<ResultCode> {
        let start = batch.first().map_or(u64::MAX, |s| s.timestamp);
        let wanted = self.books.ledger.history_wanted(batch, start);
        self.left += self.books.ledger.take_left().len() as u64;
        let before = batch.first().map_or(u64::MAX, |s| s.timestamp);
        let past: Vec<PastTransfer> = wanted
            .iter()
            .filter_map(|&id| self.recall(id, before))
            .collect();
        self.recalled += past.len() as u64;
        self.books.ledger.provide_history(past);
        let mut results = Vec::new();
        self.books.ledger.apply(batch, &mut results);
        self.journal
            .extend(batch.iter().copied().zip(results.iter().copied()));
        results
    }

    fn committed(&self, id: u128, before: u64) -> Option<Transfer> {
        self.journal.iter().find_map(|(s, r)| match s.command {
            Command::CreateTransfer(t)
                if t.id == id && *r == ResultCode::Ok && s.timestamp < before =>
            {
                Some(t)
            }
            _ => None,
        })
    }

    fn recall(&self, id: u128, before: u64) -> Option<PastTransfer> {
        let mut transfer = self.committed(id, before)?;
        if transfer.flags.resolves_pending() {
            let pending = self.committed(transfer.pending_id, before)?;
            transfer.debit_account_id = pending.debit_account_id;
            transfer.credit_account_id = pending.credit_account_id;
            if transfer.amount == 0 {
                transfer.amount = pending.amount;
            }
        }
        let resolved_by = self.journal.iter().find_map(|(s, r)| match s.command {
            Command::CreateTransfer(r2)
                if r2.flags.resolves_pending()
                    && r2.pending_id == id
                    && *r == ResultCode::Ok
                    && s.timestamp < before =>
            {
                Some(r2)
            }
            _ => None,
        });
        let status = match resolved_by {
            Some(r) if r.flags.post_pending() => PendingStatus::Posted,
            Some(_) => PendingStatus::Voided,
            None => PendingStatus::Expired,
        };
        Some(PastTransfer { transfer, status })
    }
}

fn stamp(books: &mut Books, batch: &[Command]) -> Vec<Stamped> {
    books.now += 1_000_000;
    batch
        .iter()
        .map(|&command| {
            books.now += 1_000;
            Stamped {
                timestamp: books.now,
                command,
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However small the window and however poor the filter of past ids, the ledger answers
    /// every command as one that kept everything in memory, given the past it asks for; and
    /// a snapshot of it half way (the window alone) goes on the same.
    #[test]
    fn a_window_answers_as_if_everything_stayed_in_memory(
        batches in arb_long_batches(),
        window in 1usize..8,
        filter_bytes in prop_oneof![Just(0usize), Just(64), Just(4096)],
    ) {
        let mut all = setup();
        let mut windowed = Windowed {
            books: setup_on(Books::on(Ledger::with_window(TierLimits::default(), window, filter_bytes))),
            journal: Vec::new(),
            left: 0,
            recalled: 0,
        };
        let half = batches.len() / 2;
        for (i, batch) in batches.iter().enumerate() {
            if i == half {
                // A snapshot holds the window exactly; `verify`, keeping everything, must
                // see the same state through it.
                windowed.books.ledger.trim_window();
                windowed.left += windowed.books.ledger.take_left().len() as u64;
                prop_assert_eq!(
                    all.ledger.state_hash_as(window, filter_bytes),
                    Some(windowed.books.ledger.state_hash())
                );
                let mut bytes = Vec::new();
                prop_assert!(windowed.books.ledger.encode_snapshot(&mut bytes).is_ok());
                let mut loaded = Ledger::decode_snapshot(&mut bytes.as_slice())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(loaded.state_hash(), windowed.books.ledger.state_hash());
                loaded.restore_clock(windowed.books.ledger.last_timestamp());
                windowed.books.ledger = loaded;
            }
            let stamped = stamp(&mut all, batch);
            windowed.books.now = all.now;
            let mut expected = Vec::new();
            all.ledger.apply(&stamped, &mut expected);
            let got = windowed.apply(&stamped);
            prop_assert_eq!(&got, &expected, "batch {}", i);
            let ledger = &windowed.books.ledger;
            prop_assert!(ledger.transfers_in_memory() <= window + batch.len() + 4);
            // Pending transfers no longer pending stay only while they or their post or void
            // are in the window.
            prop_assert!(ledger.pending_count() <= ledger.open_pending_count() + 2 * (window + batch.len() + 4));
        }
        prop_assert_eq!(windowed.books.ledger.accounts(), all.ledger.accounts());
        prop_assert_eq!(windowed.books.ledger.totals(), all.ledger.totals());
        // Every transfer ever made, resubmitted as it was: the same answers, oldest first.
        let resubmitted: Vec<Command> = windowed
            .journal
            .iter()
            .filter(|(_, r)| *r == ResultCode::Ok)
            .filter_map(|(s, _)| matches!(s.command, Command::CreateTransfer(_)).then_some(s.command))
            .collect();
        for chunk in resubmitted.chunks(5) {
            let stamped = stamp(&mut all, chunk);
            let mut expected = Vec::new();
            all.ledger.apply(&stamped, &mut expected);
            prop_assert_eq!(windowed.apply(&stamped), expected);
        }
        check_invariants(&windowed.books.ledger);
        windowed.books.ledger.trim_window();
        windowed.left += windowed.books.ledger.take_left().len() as u64;
        prop_assert_eq!(
            all.ledger.state_hash_as(window, filter_bytes),
            Some(windowed.books.ledger.state_hash())
        );
        // Setup alone makes four transfers: with a window of at most seven and the
        // resubmissions, some always left.
        prop_assert!(windowed.left > 0 || windowed.books.ledger.transfers_total() <= window as u64);
        if std::env::var_os("SUANPAN_WINDOW_STATS").is_some() {
            eprintln!("left {} recalled {}", windowed.left, windowed.recalled);
        }
    }

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
