//! An injected GL-vs-sub-ledger difference: a posting rule with the wrong side. The day-end
//! still completes, the difference lands in suspense with its origin, and a write-off closes
//! it, after which the books agree again.

mod support;

use suanpan_accounting::{Accounting, AccountingError, DayEndOptions};
use suanpan_ledger::{Command, ResultCode};
use support::*;

const RESERVE: u128 = 1;
const CUSTOMER: u128 = 2;

fn books_with_wrong_side_rule() -> (Books, Accounting) {
    let books = Books::open("suspense", &[(RESERVE, "1002"), (CUSTOMER, "2241.01")]);
    let mut accounting = Accounting::open(books.path()).unwrap_or_else(|e| panic!("open: {e}"));
    // A deposit is Dr reserve funds / Cr customer balance; this rule books it the other way.
    accounting
        .set_rule(
            7,
            "deposit (wrong side)",
            "credit_account",
            "debit_account",
            "test",
        )
        .unwrap_or_else(|e| panic!("rule: {e}"));
    let results = books.execute(vec![
        Command::CreateTransfer(transfer(10, RESERVE, CUSTOMER, 50_000, 7)),
        Command::CreateTransfer(transfer(11, RESERVE, CUSTOMER, 20_000, 1)),
    ]);
    assert_eq!(results, [ResultCode::Ok, ResultCode::Ok]);
    (books, accounting)
}

#[test]
fn a_wrong_side_rule_lands_in_suspense_with_its_origin_and_a_write_off_closes_it() {
    let (mut books, mut accounting) = books_with_wrong_side_rule();
    let date = books.date;
    books.cut_over();
    let report = day_end(&mut accounting, date).unwrap_or_else(|e| panic!("day-end: {e}"));
    assert!(
        report.complete,
        "the day-end completes despite the difference"
    );

    // The check found the reserve funds 100,000 short on the debit side, the customer
    // balances 100,000 short on the credit side: twice the wrongly booked 50,000.
    let differences: Vec<(String, i128)> = report
        .differences
        .iter()
        .map(|d| (d.subject_code.clone(), d.difference()))
        .collect();
    assert_eq!(
        differences,
        [
            ("1002".to_string(), 100_000),
            ("2241.01".to_string(), -100_000)
        ]
    );
    let items = accounting
        .suspense_items(true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(items.len(), 2);
    for item in &items {
        assert_eq!(item.accounting_date, date);
        assert!(item.origin.contains("gl_check"), "{}", item.origin);
        assert!(
            item.origin.contains("code 7 (1 vouchers)"),
            "{}",
            item.origin
        );
    }
    assert_eq!(items.iter().map(|i| i.amount).sum::<i128>(), 0);

    // After suspense, the GL agrees with the ledger and the trial balance still holds.
    let gl = accounting
        .general_ledger(date)
        .unwrap_or_else(|e| panic!("{e}"));
    let closing = |code: &str| {
        gl.iter()
            .find(|r| r.subject_code == code)
            .map(|r| r.closing)
    };
    assert_eq!(closing("1002"), Some(70_000));
    assert_eq!(closing("2241.01"), Some(-70_000));
    assert_eq!(closing("3099"), Some(0));
    assert!(accounting
        .trial_balance(date)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .all(|t| t.balanced()));

    // The two items offset each other: one write-off closes both, on the open date.
    let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
    assert!(matches!(
        accounting.write_off(&[], None, "operator-1", "nothing"),
        Err(AccountingError::WriteOffItemCount(0))
    ));
    assert!(matches!(
        accounting.write_off(&ids[..1], None, "operator-1", "wrong-side rule 7"),
        Err(AccountingError::WriteOffNeedsCounterSubject(_))
    ));
    let done = accounting
        .write_off(
            &ids,
            None,
            "operator-1",
            "rule 7 had its sides swapped; fixed",
        )
        .unwrap_or_else(|e| panic!("write-off: {e}"));
    assert_eq!(done.accounting_date, date.next());
    assert!(accounting
        .suspense_items(true)
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty());
    assert!(matches!(
        accounting.write_off(&ids, None, "operator-1", "again"),
        Err(AccountingError::SuspenseItemClosed(_))
    ));
    let closed = accounting
        .suspense_items(false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(closed
        .iter()
        .all(|i| !i.open && i.written_off_by.as_deref() == Some("operator-1")));

    // The rule fixed, the next day closes clean.
    accounting
        .set_rule(
            7,
            "deposit",
            "debit_account",
            "credit_account",
            "operator-1",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    books.execute(vec![Command::CreateTransfer(transfer(
        12, RESERVE, CUSTOMER, 5, 7,
    ))]);
    books.cut_over();
    let next = accounting
        .day_end(date.next(), DayEndOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("day-end: {e}"));
    assert!(next.complete && next.differences.is_empty());
    let gl = accounting
        .general_ledger(date.next())
        .unwrap_or_else(|e| panic!("{e}"));
    let suspense = gl.iter().find(|r| r.subject_code == "3099");
    assert_eq!(
        suspense.map(|r| (r.debits, r.credits, r.closing)),
        Some((100_000, 100_000, 0))
    );
}

#[test]
fn a_one_sided_difference_is_written_off_against_a_gl_only_subject() {
    let (mut books, mut accounting) = books_with_wrong_side_rule();
    let date = books.date;
    books.cut_over();
    day_end(&mut accounting, date).unwrap_or_else(|e| panic!("day-end: {e}"));
    let items = accounting
        .suspense_items(true)
        .unwrap_or_else(|e| panic!("{e}"));
    let first = [items[0].id];
    assert!(matches!(
        accounting.write_off(&first, Some("2241.01"), "operator-2", "x"),
        Err(AccountingError::SubjectInvalid(_))
    ));
    let done = accounting
        .write_off(&first, Some("6711"), "operator-2", "explained as a loss")
        .unwrap_or_else(|e| panic!("write-off: {e}"));
    assert_eq!(done.voucher_numbers.len(), 1);
    assert_eq!(
        accounting
            .suspense_items(true)
            .unwrap_or_else(|e| panic!("{e}"))
            .len(),
        1
    );
}

#[test]
fn the_day_end_waits_for_the_cutover() {
    let (books, mut accounting) = books_with_wrong_side_rule();
    let result = day_end(&mut accounting, books.date);
    assert!(matches!(result, Err(AccountingError::DateNotClosed(_))));
    let unknown = accounting.day_end(
        books.date.next().next(),
        DayEndOptions::default(),
        &mut |_| {},
    );
    assert!(matches!(unknown, Err(AccountingError::DateUnknown(_))));
}
