//! The ledger's rules, one statement about money per test.

mod support;

use suanpan_ledger::*;
use support::*;

#[test]
fn transfer_moves_money_and_keeps_debits_equal_to_credits() {
    let mut books = Books::new();
    books.open_funded(10, 1_000);
    books.open_funded(11, 0);
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(100, 10, 11, 400))),
        ResultCode::Ok
    );
    assert_eq!((books.balance(10), books.balance(11)), (600, 400));
    let totals = books.ledger.totals();
    assert_eq!(totals.debits_posted, totals.credits_posted);
}

#[test]
fn rejected_transfer_leaves_books_unchanged() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    let before = books.ledger.state_hash();
    let cases = [
        (transfer(100, 10, 11, 101), ResultCode::ExceedsCredits),
        (transfer(100, 10, 11, 0), ResultCode::AmountMustNotBeZero),
        (
            transfer(100, 10, 10, 1),
            ResultCode::AccountsMustBeDifferent,
        ),
        (transfer(100, 99, 11, 1), ResultCode::DebitAccountNotFound),
        (transfer(100, 10, 99, 1), ResultCode::CreditAccountNotFound),
        (transfer(0, 10, 11, 1), ResultCode::IdMustNotBeZero),
        (
            transfer(u128::MAX, 10, 11, 1),
            ResultCode::IdMustNotBeIntMax,
        ),
        (
            Transfer {
                currency: Currency::parse("USD").unwrap_or(Currency::CNY),
                ..transfer(100, 10, 11, 1)
            },
            ResultCode::CurrencyMismatch,
        ),
        (
            Transfer {
                timeout_ms: 5,
                ..transfer(100, 10, 11, 1)
            },
            ResultCode::TimeoutReservedForPendingTransfer,
        ),
        (
            Transfer {
                pending_id: 5,
                ..transfer(100, 10, 11, 1)
            },
            ResultCode::PendingIdMustBeZero,
        ),
        (
            Transfer {
                flags: TransferFlags(TransferFlags::PENDING | TransferFlags::POST_PENDING),
                ..transfer(100, 10, 11, 1)
            },
            ResultCode::FlagsAreMutuallyExclusive,
        ),
        (
            Transfer {
                flags: TransferFlags(1 << 9),
                ..transfer(100, 10, 11, 1)
            },
            ResultCode::FlagsUnknown,
        ),
    ];
    for (t, expected) in cases {
        assert_eq!(books.one(Command::CreateTransfer(t)), expected, "{t:?}");
        assert_eq!(
            books.ledger.state_hash(),
            before,
            "{expected} changed the books"
        );
    }
}

#[test]
fn resubmitted_transfer_answers_exists_or_names_the_field_that_differs() {
    let mut books = Books::new();
    books.open_funded(10, 1_000);
    books.open_funded(11, 0);
    let t = Transfer {
        reference: Reference::new(b"order-1").unwrap_or(Reference::EMPTY),
        ..transfer(100, 10, 11, 5)
    };
    assert_eq!(books.one(Command::CreateTransfer(t)), ResultCode::Ok);
    let before = books.ledger.state_hash();
    let cases = [
        (t, ResultCode::Exists),
        (
            Transfer { amount: 6, ..t },
            ResultCode::ExistsWithDifferentAmount,
        ),
        (
            Transfer {
                debit_account_id: 1,
                ..t
            },
            ResultCode::ExistsWithDifferentDebitAccount,
        ),
        (
            Transfer {
                credit_account_id: 1,
                ..t
            },
            ResultCode::ExistsWithDifferentCreditAccount,
        ),
        (
            Transfer { code: 2, ..t },
            ResultCode::ExistsWithDifferentCode,
        ),
        (
            Transfer {
                reference: Reference::EMPTY,
                ..t
            },
            ResultCode::ExistsWithDifferentReference,
        ),
        (
            Transfer {
                flags: TransferFlags(TransferFlags::PENDING),
                ..t
            },
            ResultCode::ExistsWithDifferentFlags,
        ),
        (
            Transfer {
                currency: Currency::parse("USD").unwrap_or(Currency::CNY),
                ..t
            },
            ResultCode::ExistsWithDifferentCurrency,
        ),
    ];
    for (resubmitted, expected) in cases {
        assert_eq!(books.one(Command::CreateTransfer(resubmitted)), expected);
    }
    assert_eq!(books.ledger.state_hash(), before);
    assert_eq!(books.balance(11), 5);
}

#[test]
fn linked_chain_is_all_or_nothing() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    books.open_funded(12, 0);
    let before = books.ledger.state_hash();
    let linked = TransferFlags(TransferFlags::LINKED);
    let results = books.run(&[
        Command::CreateTransfer(Transfer {
            flags: linked,
            ..transfer(100, 10, 11, 60)
        }),
        Command::CreateTransfer(Transfer {
            flags: linked,
            ..transfer(101, 11, 12, 60)
        }),
        Command::CreateTransfer(transfer(102, 10, 12, 60)),
    ]);
    assert_eq!(
        results,
        [
            ResultCode::LinkedEventFailed,
            ResultCode::LinkedEventFailed,
            ResultCode::ExceedsCredits
        ]
    );
    assert_eq!(books.ledger.state_hash(), before);

    let results = books.run(&[
        Command::CreateTransfer(Transfer {
            flags: linked,
            ..transfer(100, 10, 11, 60)
        }),
        Command::CreateTransfer(transfer(101, 11, 12, 60)),
    ]);
    assert_eq!(results, [ResultCode::Ok, ResultCode::Ok]);
    assert_eq!(
        (books.balance(10), books.balance(11), books.balance(12)),
        (40, 0, 60)
    );
}

#[test]
fn open_chain_at_the_end_of_a_batch_is_rejected_whole() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    let linked = TransferFlags(TransferFlags::LINKED);
    let results = books.run(&[
        Command::CreateTransfer(Transfer {
            flags: linked,
            ..transfer(100, 10, 11, 1)
        }),
        Command::CreateTransfer(Transfer {
            flags: linked,
            ..transfer(101, 10, 11, 1)
        }),
    ]);
    assert_eq!(
        results,
        [
            ResultCode::LinkedEventChainOpen,
            ResultCode::LinkedEventChainOpen
        ]
    );
    assert_eq!(books.balance(11), 0);
}

#[test]
fn pending_transfer_holds_then_posts_part_and_releases_the_rest() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    let pending = Transfer {
        flags: TransferFlags(TransferFlags::PENDING),
        ..transfer(100, 10, 11, 80)
    };
    assert_eq!(books.one(Command::CreateTransfer(pending)), ResultCode::Ok);
    // The hold counts against the balance.
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(101, 10, 11, 30))),
        ResultCode::ExceedsCredits
    );
    let post = Transfer {
        flags: TransferFlags(TransferFlags::POST_PENDING),
        pending_id: 100,
        debit_account_id: 0,
        credit_account_id: 0,
        ..transfer(102, 0, 0, 50)
    };
    assert_eq!(books.one(Command::CreateTransfer(post)), ResultCode::Ok);
    let a = books.ledger.account_by_id(10).copied();
    assert_eq!(
        a.map(|a| (a.debits_posted, a.debits_pending)),
        Some((50, 0))
    );
    assert_eq!(books.one(Command::CreateTransfer(post)), ResultCode::Exists);
    let again = Transfer { id: 103, ..post };
    assert_eq!(
        books.one(Command::CreateTransfer(again)),
        ResultCode::PendingTransferAlreadyPosted
    );
    assert_eq!(
        books.ledger.pending_status(100),
        Some(PendingStatus::Posted)
    );
}

#[test]
fn void_releases_and_post_beyond_the_hold_is_refused() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    let pending = Transfer {
        flags: TransferFlags(TransferFlags::PENDING),
        ..transfer(100, 10, 11, 80)
    };
    books.one(Command::CreateTransfer(pending));
    let post = Transfer {
        flags: TransferFlags(TransferFlags::POST_PENDING),
        pending_id: 100,
        ..transfer(102, 10, 11, 81)
    };
    assert_eq!(
        books.one(Command::CreateTransfer(post)),
        ResultCode::ExceedsPendingTransferAmount
    );
    let wrong = Transfer {
        flags: TransferFlags(TransferFlags::VOID_PENDING),
        pending_id: 100,
        ..transfer(103, 11, 10, 0)
    };
    assert_eq!(
        books.one(Command::CreateTransfer(wrong)),
        ResultCode::PendingTransferHasDifferentDebitAccount
    );
    let void = Transfer {
        flags: TransferFlags(TransferFlags::VOID_PENDING),
        pending_id: 100,
        ..transfer(103, 0, 0, 0)
    };
    assert_eq!(books.one(Command::CreateTransfer(void)), ResultCode::Ok);
    assert_eq!(books.balance(10), 100);
    assert_eq!(
        books.ledger.account_by_id(10).map(|a| a.debits_pending),
        Some(0)
    );
    assert_eq!(
        books.ledger.pending_status(100),
        Some(PendingStatus::Voided)
    );
}

#[test]
fn pending_transfer_expires_by_engine_time_only_through_a_command() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    let pending = Transfer {
        flags: TransferFlags(TransferFlags::PENDING),
        timeout_ms: 1,
        ..transfer(100, 10, 11, 80)
    };
    books.one(Command::CreateTransfer(pending));
    let deadline = books.ledger.next_expiry().map(|(at, _)| at);
    assert!(deadline.is_some());
    assert_eq!(
        books.one(Command::ExpirePending { pending_id: 100 }),
        ResultCode::PendingTransferNotExpired
    );
    books.now += 2_000_000;
    assert_eq!(books.ledger.expired_by(books.now + 1, 10), vec![100]);
    let post = Transfer {
        flags: TransferFlags(TransferFlags::POST_PENDING),
        pending_id: 100,
        ..transfer(102, 0, 0, 0)
    };
    assert_eq!(
        books.one(Command::CreateTransfer(post)),
        ResultCode::PendingTransferExpired
    );
    assert_eq!(
        books.one(Command::ExpirePending { pending_id: 100 }),
        ResultCode::Ok
    );
    assert_eq!(
        books.ledger.pending_status(100),
        Some(PendingStatus::Expired)
    );
    assert_eq!(
        books.ledger.account_by_id(10).map(|a| a.debits_pending),
        Some(0)
    );
    assert_eq!(books.ledger.next_expiry(), None);
}

#[test]
fn frozen_account_moves_nothing_and_closed_account_is_final() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    assert_eq!(books.one(Command::FreezeAccount { id: 10 }), ResultCode::Ok);
    assert_eq!(
        books.one(Command::FreezeAccount { id: 10 }),
        ResultCode::AccountFrozen
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(100, 10, 11, 1))),
        ResultCode::DebitAccountFrozen
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(100, 11, 10, 1))),
        ResultCode::CreditAccountFrozen
    );
    assert_eq!(
        books.one(Command::UnfreezeAccount { id: 10 }),
        ResultCode::Ok
    );
    assert_eq!(
        books.one(Command::UnfreezeAccount { id: 10 }),
        ResultCode::AccountNotFrozen
    );
    assert_eq!(
        books.one(Command::CloseAccount { id: 10 }),
        ResultCode::AccountHasBalance
    );
    assert_eq!(books.one(Command::CloseAccount { id: 11 }), ResultCode::Ok);
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(100, 10, 11, 1))),
        ResultCode::CreditAccountClosed
    );
    assert_eq!(
        books.one(Command::UnfreezeAccount { id: 11 }),
        ResultCode::AccountClosed
    );
    assert_eq!(
        books.one(Command::CloseAccount { id: 99 }),
        ResultCode::AccountNotFound
    );
}

#[test]
fn account_ids_are_idempotent_too() {
    let mut books = Books::new();
    books.open_funded(10, 0);
    assert_eq!(
        books.one(Command::CreateAccount(account(10))),
        ResultCode::Exists
    );
    let other = NewAccount {
        owner: 77,
        ..account(10)
    };
    assert_eq!(
        books.one(Command::CreateAccount(other)),
        ResultCode::ExistsWithDifferentOwner
    );
    let both = NewAccount {
        id: 12,
        flags: AccountFlags(3),
        ..account(12)
    };
    assert_eq!(
        books.one(Command::CreateAccount(both)),
        ResultCode::FlagsAreMutuallyExclusive
    );
}

#[test]
fn cutover_only_moves_forward() {
    let mut books = Books::new();
    let today = books.ledger.accounting_date();
    assert_eq!(
        books.one(Command::Cutover { date: today }),
        ResultCode::AccountingDateMustAdvance
    );
    assert_eq!(
        books.one(Command::Cutover { date: today.next() }),
        ResultCode::Ok
    );
    assert_eq!(books.ledger.accounting_date(), today.next());
}

#[test]
fn snapshot_round_trips_to_the_same_state_hash() {
    let mut books = Books::new();
    books.open_funded(10, 100);
    books.open_funded(11, 0);
    let pending = Transfer {
        flags: TransferFlags(TransferFlags::PENDING),
        timeout_ms: 10,
        ..transfer(100, 10, 11, 30)
    };
    books.one(Command::CreateTransfer(pending));
    books.one(Command::CreateTransfer(transfer(101, 10, 11, 5)));
    let mut bytes = Vec::new();
    assert!(books.ledger.encode_snapshot(&mut bytes).is_ok());
    let loaded = Ledger::decode_snapshot(&mut bytes.as_slice());
    assert!(loaded.is_ok());
    let loaded = loaded.unwrap_or_else(|_| Ledger::new(TierLimits::default()));
    assert_eq!(loaded.state_hash(), books.ledger.state_hash());
    assert_eq!(loaded.next_expiry(), books.ledger.next_expiry());
    assert_eq!(loaded.transfer_by_id(101), books.ledger.transfer_by_id(101));
    // A damaged snapshot is refused, not loaded.
    let mut damaged = bytes.clone();
    damaged.truncate(bytes.len() - 3);
    assert!(Ledger::decode_snapshot(&mut damaged.as_slice()).is_err());
}
