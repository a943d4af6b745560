//! Class II and III personal accounts keep the limits of PBOC yinfa 2018-16.

mod support;

use suanpan_ledger::*;
use support::*;

const CNY: u64 = 100;
const PERSON: u64 = 7;

fn personal(id: u128, tier: Tier, bound: u128) -> NewAccount {
    NewAccount {
        owner: PERSON,
        tier,
        bound_account: bound,
        ..account(id)
    }
}

/// Class I 20 (funded), Class II 21 and Class III 22 bound to it, a merchant 30 (funded).
fn books() -> Books {
    let mut books = Books::new();
    assert_eq!(
        books.one(Command::CreateAccount(personal(20, Tier::I, 0))),
        ResultCode::Ok
    );
    assert_eq!(
        books.one(Command::CreateAccount(personal(21, Tier::II, 20))),
        ResultCode::Ok
    );
    assert_eq!(
        books.one(Command::CreateAccount(personal(22, Tier::III, 20))),
        ResultCode::Ok
    );
    books.open_funded(30, 10_000_000 * CNY);
    books.one(Command::CreateTransfer(transfer(
        1_000,
        FUND,
        20,
        1_000_000 * CNY,
    )));
    books
}

#[test]
fn class_ii_and_iii_need_their_own_class_i_account() {
    let mut books = books();
    assert_eq!(
        books.one(Command::CreateAccount(personal(40, Tier::II, 0))),
        ResultCode::BoundAccountRequired
    );
    assert_eq!(
        books.one(Command::CreateAccount(personal(40, Tier::II, 99))),
        ResultCode::BoundAccountNotFound
    );
    assert_eq!(
        books.one(Command::CreateAccount(personal(40, Tier::II, 21))),
        ResultCode::BoundAccountNotClassI
    );
    let stranger = NewAccount {
        owner: 8,
        ..personal(40, Tier::III, 20)
    };
    assert_eq!(
        books.one(Command::CreateAccount(stranger)),
        ResultCode::BoundAccountOwnerMismatch
    );
    assert_eq!(
        books.one(Command::CreateAccount(personal(40, Tier::I, 20))),
        ResultCode::BoundAccountNotAllowed
    );
}

#[test]
fn class_ii_daily_outflow_to_others_is_capped_but_the_bound_account_is_exempt() {
    let mut books = books();
    books.one(Command::CreateTransfer(transfer(1, 20, 21, 50_000 * CNY)));
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(2, 21, 30, 10_000 * CNY))),
        ResultCode::Ok
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(3, 21, 30, 1))),
        ResultCode::TierDailyOutflowExceeded
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(4, 21, 20, 5_000 * CNY))),
        ResultCode::Ok
    );
    // The next accounting date starts a new day.
    let next = books.ledger.accounting_date().next();
    books.one(Command::Cutover { date: next });
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(3, 21, 30, 1))),
        ResultCode::Ok
    );
}

#[test]
fn class_ii_inflow_from_others_is_capped_daily() {
    let mut books = books();
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(1, 30, 21, 10_000 * CNY))),
        ResultCode::Ok
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(2, 30, 21, 1))),
        ResultCode::TierDailyInflowExceeded
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(3, 20, 21, 100_000 * CNY))),
        ResultCode::Ok
    );
}

#[test]
fn class_ii_yearly_outflow_resets_with_the_year() {
    let mut books = books();
    books.one(Command::CreateTransfer(transfer(1, 20, 21, 300_000 * CNY)));
    let mut id = 100;
    for _ in 0..20 {
        let next = books.ledger.accounting_date().next();
        books.one(Command::Cutover { date: next });
        id += 1;
        assert_eq!(
            books.one(Command::CreateTransfer(transfer(id, 21, 30, 10_000 * CNY))),
            ResultCode::Ok
        );
    }
    let next = books.ledger.accounting_date().next();
    books.one(Command::Cutover { date: next });
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(999, 21, 30, 1))),
        ResultCode::TierYearlyOutflowExceeded
    );
    let new_year = AccountingDate::parse("2027-01-01").unwrap_or_default();
    assert!(new_year > books.ledger.accounting_date());
    books.one(Command::Cutover { date: new_year });
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(999, 21, 30, 1))),
        ResultCode::Ok
    );
}

#[test]
fn class_iii_balance_never_passes_2000_cny() {
    let mut books = books();
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(1, 20, 22, 2_000 * CNY))),
        ResultCode::Ok
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(2, 20, 22, 1))),
        ResultCode::TierBalanceCapExceeded
    );
    // A hold counts too.
    books.one(Command::CreateTransfer(transfer(3, 22, 20, 100 * CNY)));
    let hold = Transfer {
        flags: TransferFlags(TransferFlags::PENDING),
        ..transfer(4, 20, 22, 100 * CNY)
    };
    assert_eq!(books.one(Command::CreateTransfer(hold)), ResultCode::Ok);
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(5, 20, 22, 1))),
        ResultCode::TierBalanceCapExceeded
    );
}

#[test]
fn class_iii_takes_money_from_others_only_with_consent_and_pays_out_2000_a_day() {
    let mut books = books();
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(1, 30, 22, 100))),
        ResultCode::TierInflowRequiresConsent
    );
    let consenting = NewAccount {
        flags: AccountFlags(
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::NON_BOUND_INFLOW_CONSENT,
        ),
        ..personal(23, Tier::III, 20)
    };
    assert_eq!(
        books.one(Command::CreateAccount(consenting)),
        ResultCode::Ok
    );
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(2, 30, 23, 1_500 * CNY))),
        ResultCode::Ok
    );
    books.one(Command::CreateTransfer(transfer(3, 20, 22, 2_000 * CNY)));
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(4, 22, 30, 1_500 * CNY))),
        ResultCode::Ok
    );
    books.one(Command::CreateTransfer(transfer(5, 20, 22, 1_500 * CNY)));
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(6, 22, 30, 501 * CNY))),
        ResultCode::TierDailyOutflowExceeded
    );
}

#[test]
fn voided_hold_gives_the_day_its_limit_back() {
    let mut books = books();
    books.one(Command::CreateTransfer(transfer(1, 20, 21, 50_000 * CNY)));
    let hold = Transfer {
        flags: TransferFlags(TransferFlags::PENDING),
        ..transfer(2, 21, 30, 10_000 * CNY)
    };
    assert_eq!(books.one(Command::CreateTransfer(hold)), ResultCode::Ok);
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(3, 21, 30, 1))),
        ResultCode::TierDailyOutflowExceeded
    );
    let void = Transfer {
        flags: TransferFlags(TransferFlags::VOID_PENDING),
        pending_id: 2,
        ..transfer(4, 0, 0, 0)
    };
    assert_eq!(books.one(Command::CreateTransfer(void)), ResultCode::Ok);
    assert_eq!(
        books.one(Command::CreateTransfer(transfer(3, 21, 30, 1))),
        ResultCode::Ok
    );
}
