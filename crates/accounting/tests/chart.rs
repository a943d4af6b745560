//! The chart of accounts is editable, but a subject that carries postings, accounts or rules
//! cannot be deleted, and every change is audited.

mod support;

use suanpan_accounting::{Accounting, AccountingError, Category};
use suanpan_ledger::Command;
use support::*;

#[test]
fn a_subject_with_postings_cannot_be_deleted_and_an_unused_one_can() {
    let mut books = Books::open("chart", &[(1, "1002"), (2, "2241.01")]);
    books.execute(vec![Command::CreateTransfer(transfer(9, 1, 2, 500, 1))]);
    books.cut_over();
    let mut accounting = Accounting::open(books.path()).unwrap_or_else(|e| panic!("{e}"));
    day_end(
        &mut accounting,
        suanpan_ledger::AccountingDate(books.date.0 - 1),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    accounting
        .add_subject(
            "2241.03",
            "payables to partners",
            Category::Liability,
            false,
            "op",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        accounting.add_subject("2241.03", "again", Category::Liability, false, "op"),
        Err(AccountingError::SubjectExists(_))
    ));
    assert!(matches!(
        accounting.add_subject("7777.01", "orphan", Category::Expense, false, "op"),
        Err(AccountingError::SubjectInvalid(_))
    ));
    for used in ["2241.01", "1002", "3099", "2241"] {
        let result = accounting.delete_subject(used, "op");
        assert!(
            matches!(result, Err(AccountingError::SubjectHasPostings(_))),
            "{used}: {result:?}"
        );
    }
    accounting
        .delete_subject("2241.03", "op")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(accounting.chart().by_code("2241.03").is_none());
    assert!(matches!(
        accounting.set_rule(8, "bad", "2241", "debit_account", "op"),
        Err(AccountingError::SubjectInvalid(_))
    ));
    assert!(matches!(
        accounting.set_rule(8, "bad", "5555", "debit_account", "op"),
        Err(AccountingError::SubjectUnknown(_))
    ));
}
