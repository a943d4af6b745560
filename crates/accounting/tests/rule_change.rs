//! A posting rule's change takes effect at a point of the journal's sequence, not when the
//! projection happens to read: transfers committed before the change keep the old rule even
//! when accounting lags behind the journal, those after get the new one, and projecting the
//! same journal again from its start gives the same vouchers.

mod support;

use suanpan_accounting::{Accounting, Voucher, VOUCHERS_LIST_MAX};
use suanpan_ledger::{AccountingDate, Command, ResultCode};
use support::*;

const RESERVE: u128 = 1;
const CUSTOMER: u128 = 2;
const MERCHANT: u128 = 3;
/// Payments (code 1) ship booked under each account's own subject.
const PAYMENT: u16 = 1;

fn pay(books: &Books, id: u128, amount: u64) {
    let results = books.execute(vec![Command::CreateTransfer(transfer(
        id, CUSTOMER, MERCHANT, amount, PAYMENT,
    ))]);
    assert_eq!(results, [ResultCode::Ok]);
}

fn vouchers(accounting: &Accounting, date: AccountingDate) -> Vec<Voucher> {
    accounting
        .vouchers(date, 1, VOUCHERS_LIST_MAX)
        .unwrap_or_else(|e| panic!("vouchers of {date}: {e}"))
}

/// (transfer id, credit subject) of each transfer voucher.
fn credit_subjects(vouchers: &[Voucher]) -> Vec<(u128, String)> {
    vouchers
        .iter()
        .filter(|v| v.series == 'T')
        .map(|v| {
            let credit = v
                .lines
                .iter()
                .find(|l| l.side == suanpan_accounting::Side::Credit);
            (
                v.transfer_id.unwrap_or(0),
                credit.map_or_else(String::new, |l| l.subject_code.clone()),
            )
        })
        .collect()
}

#[test]
fn a_rule_change_applies_after_its_point_in_the_journal_whatever_the_projection_lag() {
    let mut books = Books::open(
        "rule-change",
        &[
            (RESERVE, "1002"),
            (CUSTOMER, "2241.01"),
            (MERCHANT, "2241.02"),
        ],
    );
    let mut accounting = Accounting::open(books.path()).unwrap_or_else(|e| panic!("open: {e}"));
    accounting
        .catch_up(&mut |_, _| {})
        .unwrap_or_else(|e| panic!("catch up: {e}"));
    let projected_before = accounting.journal_batch();

    // Committed under the shipped rule; accounting has not read them when the rule changes.
    pay(&books, 10, 1_000);
    pay(&books, 11, 2_000);
    let change = accounting
        .set_rule(
            PAYMENT,
            "payment to fee income",
            "debit_account",
            "6021",
            "test",
        )
        .unwrap_or_else(|e| panic!("rule: {e}"));
    assert_eq!(
        accounting.journal_batch(),
        projected_before,
        "the projection lags"
    );
    assert_eq!(change.version, 2, "the shipped rule is version 1");
    assert!(change.effective_after >= projected_before + 2, "{change:?}");

    // Committed after the change: the new rule.
    pay(&books, 12, 3_000);
    let first = books.date;
    books.cut_over();
    pay(&books, 13, 4_000);
    accounting
        .catch_up(&mut |_, _| {})
        .unwrap_or_else(|e| panic!("catch up: {e}"));
    let day_one = vouchers(&accounting, first);
    assert_eq!(
        credit_subjects(&day_one),
        [
            (10, "2241.02".to_string()),
            (11, "2241.02".to_string()),
            (12, "6021".to_string())
        ]
    );
    let day_two = vouchers(&accounting, books.date);
    assert_eq!(credit_subjects(&day_two), [(13, "6021".to_string())]);

    // The same journal and the same rule history, projected again from the journal's start.
    books
        .engine
        .shutdown()
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
    drop(accounting);
    let again = TempDir::new("rule-change-again");
    std::fs::copy(
        suanpan_journal::db_path(books.path()),
        suanpan_journal::db_path(&again.0),
    )
    .unwrap_or_else(|e| panic!("copy: {e}"));
    drop(Accounting::open(&again.0).unwrap_or_else(|e| panic!("open: {e}")));
    copy_rule_history(books.path(), &again.0);
    let mut replayed = Accounting::open(&again.0).unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(replayed.journal_batch(), 0, "nothing projected yet");
    replayed
        .catch_up(&mut |_, _| {})
        .unwrap_or_else(|e| panic!("catch up: {e}"));
    assert_eq!(vouchers(&replayed, first), day_one);
    assert_eq!(vouchers(&replayed, books.date), day_two);
}

/// Puts the rule versions of `from`'s accounting.db in place of `to`'s (both closed).
fn copy_rule_history(from: &std::path::Path, to: &std::path::Path) {
    let conn = rusqlite::Connection::open(suanpan_accounting::accounting_db_path(to))
        .unwrap_or_else(|e| panic!("open: {e}"));
    conn.execute(
        "ATTACH DATABASE ?1 AS source",
        [suanpan_accounting::accounting_db_path(from)
            .to_string_lossy()
            .to_string()],
    )
    .unwrap_or_else(|e| panic!("attach: {e}"));
    conn.execute_batch(
        "DELETE FROM accounting_rule_version_lines;
         DELETE FROM accounting_rule_versions;
         INSERT INTO accounting_rule_versions SELECT * FROM source.accounting_rule_versions;
         INSERT INTO accounting_rule_version_lines SELECT * FROM source.accounting_rule_version_lines;",
    )
    .unwrap_or_else(|e| panic!("copy rules: {e}"));
}
