//! The sub-ledger side of the GL check is the ledger's own: the journal's accounts table,
//! moved to the cutover. It must give the same balances whichever batch the table is current
//! to, and a damaged table (a bad balance file) must show up as a difference in suspense.

mod support;

use std::collections::HashMap;

use rusqlite::{params, Connection};
use suanpan_accounting::Accounting;
use suanpan_ledger::{AccountingDate, Command};
use support::*;

const ACCOUNTS: [(u128, &str); 4] = [(1, "1002"), (2, "2241.01"), (3, "2241.01"), (4, "2241.02")];

/// Two business dates of transfers; returns the books, stopped, and the two dates.
fn two_days() -> (Books, AccountingDate, AccountingDate) {
    let mut books = Books::open("ledger-check", &ACCOUNTS);
    let first = books.date;
    for (i, (debit, credit, amount)) in [(1, 2, 700), (2, 3, 200), (1, 4, 50)]
        .into_iter()
        .enumerate()
    {
        books.execute(vec![Command::CreateTransfer(transfer(
            100 + i as u128,
            debit,
            credit,
            amount,
            1,
        ))]);
    }
    books.cut_over();
    for (i, (debit, credit, amount)) in [(3, 4, 120), (1, 3, 9), (4, 2, 30)].into_iter().enumerate()
    {
        books.execute(vec![Command::CreateTransfer(transfer(
            200 + i as u128,
            debit,
            credit,
            amount,
            1,
        ))]);
    }
    books.cut_over();
    (books, first, first.next())
}

/// Rewrites the journal's accounts table as `balances` current to batch `seq`.
fn set_accounts_table(books: &Books, seq: u64, balances: &HashMap<u128, i128>) {
    let journal =
        Connection::open(suanpan_journal::db_path(books.path())).unwrap_or_else(|e| panic!("{e}"));
    for (&id, &balance) in balances {
        journal
            .execute(
                "UPDATE accounts SET debits_posted = ?2, credits_posted = ?3 WHERE id = ?1",
                params![
                    id.to_string(),
                    balance.max(0) as i64,
                    (-balance).max(0) as i64
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    journal
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'accounts_seq'",
            [seq as i64],
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

fn gl_check_summary(accounting: &Accounting, date: AccountingDate) -> String {
    accounting
        .status(Some(date))
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
        .steps
        .into_iter()
        .find(|(s, _)| s.as_str() == "gl_check")
        .map(|(_, summary)| summary)
        .unwrap_or_default()
}

#[test]
fn an_accounts_table_behind_the_cutover_is_moved_forward_to_it() {
    let (books, first, second) = two_days();
    books.engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    let mut accounting = Accounting::open(books.path()).unwrap_or_else(|e| panic!("{e}"));
    accounting
        .catch_up(&mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    // The table as it stood right after the cutover into the second date, before its business.
    let status = accounting
        .status(Some(second))
        .unwrap_or_else(|e| panic!("{e}"));
    set_accounts_table(&books, status[0].first_batch, &books.at_cutover[&first]);
    for date in [first, second] {
        let report = day_end(&mut accounting, date).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            report.differences.is_empty(),
            "{date}: {:?}",
            report.differences
        );
        assert!(
            gl_check_summary(&accounting, date)
                .contains("; 0 accounts whose daily balance differs"),
            "{}",
            gl_check_summary(&accounting, date)
        );
    }
}

#[test]
fn a_damaged_balance_in_the_ledger_table_lands_in_suspense() {
    let (books, first, _) = two_days();
    books.engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    let journal =
        Connection::open(suanpan_journal::db_path(books.path())).unwrap_or_else(|e| panic!("{e}"));
    // A bad balance file: customer 3's credits short by 100 fen.
    journal
        .execute(
            "UPDATE accounts SET credits_posted = credits_posted - 100 WHERE id = '3'",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    drop(journal);
    let mut accounting = Accounting::open(books.path()).unwrap_or_else(|e| panic!("{e}"));
    let report = day_end(&mut accounting, first).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.complete);
    // The table is wrong for every date before the damage too: the first date checked finds
    // it, books it to suspense, and the dates after carry the adjusted balance.
    let items = accounting
        .suspense_items(true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].subject_code.as_str(), items[0].amount),
        ("2241.01", -100)
    );
    assert!(
        items[0].origin.contains("difference 100"),
        "{}",
        items[0].origin
    );
    for status in accounting.status(None).unwrap_or_else(|e| panic!("{e}")) {
        if status.complete() {
            let summary = gl_check_summary(&accounting, status.accounting_date);
            assert!(
                summary.contains("; 1 accounts whose daily balance differs"),
                "{summary}"
            );
        }
    }
    assert!(
        report.differences.is_empty(),
        "already in suspense: {:?}",
        report.differences
    );
}
