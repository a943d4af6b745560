//! Property tests over random streams of transfers, pending transfers and cutovers, through
//! the real engine and journal: after the day-end of every date the trial balance holds, the
//! general ledger equals the sum of the sub-ledgers for every subject (and the ledger's own
//! balances at the cutover), daily balances chain, and voucher numbers have no gaps.

mod support;

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use suanpan_accounting::Accounting;
use suanpan_ledger::{AccountingDate, Command, TransferFlags};
use support::*;

/// Two reserve-fund accounts, three customers, a merchant, and one account whose subject the
/// chart lacks (it books under suspense and is reported, not checked).
const ACCOUNTS: [(u128, &str); 7] = [
    (1, "1002"),
    (2, "1002"),
    (3, "2241.01"),
    (4, "2241.01"),
    (5, "2241.01"),
    (6, "2241.02"),
    (7, "8888"),
];

/// Transfers of this code book a fee accrued with them: the main pair, plus 0.6 % of the amount
/// debited to a fee receivable and credited to two income subjects (GL-only, split 35 / 25).
const SPLIT_CODE: u16 = 7;
const SPLIT_BP: [(&str, &str, u16); 3] = [
    ("debit", "1221", 60),
    ("credit", "6051", 35),
    ("credit", "6301", 25),
];

#[derive(Clone, Debug)]
enum Op {
    /// Code 99 has no rule: the transfer waits for the supplement step.
    Transfer {
        debit: usize,
        credit: usize,
        amount: u64,
        code: u16,
    },
    /// `expires`: a one-millisecond timeout, so the engine may expire it before a post.
    Pending {
        debit: usize,
        credit: usize,
        amount: u64,
        expires: bool,
    },
    /// Two linked legs; the chain fails whole when the second leg's accounts are the same.
    Linked {
        first: (usize, usize),
        second: (usize, usize),
        amount: u64,
    },
    Post {
        pending: usize,
        amount: u64,
    },
    Void {
        pending: usize,
    },
    Cutover,
}

fn op() -> impl Strategy<Value = Op> {
    let account = 0..ACCOUNTS.len();
    prop_oneof![
        5 => (account.clone(), account.clone(), 1..10_000u64, prop_oneof![Just(0u16), Just(1), Just(5), Just(SPLIT_CODE), Just(99)])
            .prop_map(|(debit, credit, amount, code)| Op::Transfer { debit, credit, amount, code }),
        2 => (account.clone(), account, 1..10_000u64)
            .prop_map(|(debit, credit, amount)| Op::Pending { debit, credit, amount, expires: amount % 4 == 0 }),
        1 => ((0..ACCOUNTS.len(), 0..ACCOUNTS.len()), (0..ACCOUNTS.len(), 0..ACCOUNTS.len()), 1..5_000u64)
            .prop_map(|(first, second, amount)| Op::Linked { first, second, amount }),
        1 => (0..8usize, 0..10_000u64).prop_map(|(pending, amount)| Op::Post { pending, amount }),
        1 => (0..8usize).prop_map(|pending| Op::Void { pending }),
        1 => Just(Op::Cutover),
    ]
}

fn run(ops: &[Op]) -> (Books, Accounting) {
    let mut books = Books::open("properties", &ACCOUNTS);
    let mut pendings: Vec<u128> = Vec::new();
    for (id, op) in (1_001u128..).zip(ops) {
        let command = match *op {
            Op::Transfer {
                debit,
                credit,
                amount,
                code,
            } => transfer(id, ACCOUNTS[debit].0, ACCOUNTS[credit].0, amount, code),
            Op::Pending {
                debit,
                credit,
                amount,
                expires,
            } => {
                pendings.push(id);
                let mut t = transfer(id, ACCOUNTS[debit].0, ACCOUNTS[credit].0, amount, 1);
                t.flags = TransferFlags(TransferFlags::PENDING);
                t.timeout_ms = u64::from(expires);
                t
            }
            Op::Linked {
                first,
                second,
                amount,
            } => {
                let mut leg = transfer(id, ACCOUNTS[first.0].0, ACCOUNTS[first.1].0, amount, 5);
                leg.flags = TransferFlags(TransferFlags::LINKED);
                let other = transfer(
                    id + 1_000_000,
                    ACCOUNTS[second.0].0,
                    ACCOUNTS[second.1].0,
                    amount,
                    1,
                );
                books.execute(vec![
                    Command::CreateTransfer(leg),
                    Command::CreateTransfer(other),
                ]);
                continue;
            }
            Op::Post { .. } | Op::Void { .. } if pendings.is_empty() => continue,
            Op::Post { pending, amount } => {
                let mut t = transfer(id, 0, 0, amount % 3 * 1_000, 0);
                t.pending_id = pendings[pending % pendings.len()];
                t.flags = TransferFlags(TransferFlags::POST_PENDING);
                t
            }
            Op::Void { pending } => {
                let mut t = transfer(id, 0, 0, 0, 0);
                t.pending_id = pendings[pending % pendings.len()];
                t.flags = TransferFlags(TransferFlags::VOID_PENDING);
                t
            }
            Op::Cutover => {
                books.cut_over();
                continue;
            }
        };
        books.execute(vec![Command::CreateTransfer(command)]);
    }
    books.cut_over();
    let mut accounting = Accounting::open(books.path()).unwrap_or_else(|e| panic!("open: {e}"));
    set_split_rule(&mut accounting);
    books.close_all(&mut accounting);
    (books, accounting)
}

/// The split rule of [`SPLIT_CODE`], with the GL-only subjects it books on.
fn set_split_rule(accounting: &mut Accounting) {
    use suanpan_accounting::{Category, Side};
    for (code, name, category) in [
        ("1221", "fee receivable", Category::Asset),
        ("6051", "fee income accrued", Category::Income),
    ] {
        accounting
            .add_subject(code, name, category, true, "test")
            .unwrap_or_else(|e| panic!("{code}: {e}"));
    }
    let mut lines = vec![
        (Side::Debit, "debit_account".to_string(), None),
        (Side::Credit, "credit_account".to_string(), None),
    ];
    for (side, subject, bp) in SPLIT_BP {
        let side = if side == "debit" {
            Side::Debit
        } else {
            Side::Credit
        };
        lines.push((side, subject.to_string(), Some(bp)));
    }
    accounting
        .set_rule_lines(SPLIT_CODE, "payment with a fee accrued", &lines, "test")
        .unwrap_or_else(|e| panic!("split rule: {e}"));
}

fn subject_of(id: u128) -> &'static str {
    ACCOUNTS.iter().find(|a| a.0 == id).map_or("", |a| a.1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn books_close_every_day(ops in prop::collection::vec(op(), 1..60)) {
        let (books, accounting) = run(&ops);
        let mut last_closing: HashMap<u128, i128> = HashMap::new();
        for (&date, ledger) in &books.at_cutover {
            check_date(&accounting, date, ledger, &mut last_closing)?;
        }
        prop_assert!(accounting.suspense_items(false).map_err(|e| TestCaseError::fail(e.to_string()))?.is_empty());
    }
}

fn check_date(
    accounting: &Accounting,
    date: AccountingDate,
    ledger: &HashMap<u128, i128>,
    last_closing: &mut HashMap<u128, i128>,
) -> Result<(), TestCaseError> {
    let fail = |e: suanpan_accounting::AccountingError| TestCaseError::fail(format!("{date}: {e}"));
    // The trial balance holds.
    for t in accounting.trial_balance(date).map_err(fail)? {
        prop_assert!(t.balanced(), "{date}: {t:?}");
    }
    // GL = Σ sub-ledgers for every subject, by the check and against the ledger itself.
    for row in accounting.gl_check(date).map_err(fail)? {
        prop_assert_eq!(row.difference(), 0, "{}: {:?}", date, row);
    }
    let mut ledger_by_subject: BTreeMap<&str, i128> = BTreeMap::new();
    for (&id, &balance) in ledger {
        *ledger_by_subject.entry(subject_of(id)).or_default() += balance;
    }
    let gl = accounting.general_ledger(date).map_err(fail)?;
    for (subject, balance) in ledger_by_subject {
        let mapped = if subject == "8888" { "3099" } else { subject };
        let gl_balance: i128 = gl
            .iter()
            .filter(|r| r.subject_code == mapped)
            .map(|r| r.closing)
            .sum();
        if subject != "8888" {
            prop_assert_eq!(gl_balance, balance, "{} subject {}", date, subject);
        }
    }
    // Daily balances: each row closes at the ledger's balance and opens at the last closing.
    for (id, row) in accounting.daily_balances(date).map_err(fail)? {
        prop_assert_eq!(
            row.opening,
            last_closing.get(&id).copied().unwrap_or(0),
            "{} account {}",
            date,
            id
        );
        prop_assert_eq!(
            row.closing,
            row.opening + row.debits as i128 - row.credits as i128
        );
        prop_assert_eq!(
            Some(&row.closing),
            ledger.get(&id),
            "{} account {}",
            date,
            id
        );
        last_closing.insert(id, row.closing);
    }
    for (&id, &balance) in ledger {
        prop_assert_eq!(
            last_closing.get(&id).copied().unwrap_or(0),
            balance,
            "{} account {} kept",
            date,
            id
        );
    }
    // Voucher numbers: 1..=n in each series, no gaps.
    let vouchers = accounting
        .vouchers(date, 1, suanpan_accounting::VOUCHERS_LIST_MAX)
        .map_err(fail)?;
    for series in ['T', 'M'] {
        let numbers: Vec<u64> = vouchers
            .iter()
            .filter(|v| v.series == series)
            .map(|v| v.number)
            .collect();
        let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
        prop_assert_eq!(numbers, expected, "{} series {}", date, series);
    }
    for v in vouchers.iter().filter(|v| v.code == Some(SPLIT_CODE)) {
        prop_assert_eq!(v.lines.len(), 5, "{}: {:?}", date, v);
        let amount = v.lines[0].amount;
        prop_assert_eq!(v.lines[2].subject_code.as_str(), "1221");
        prop_assert_eq!(v.lines[2].amount, amount * 60 / 10_000, "the fee is 0.6 %");
        prop_assert_eq!(v.lines[3].amount + v.lines[4].amount, v.lines[2].amount);
        prop_assert!(v.lines[2..].iter().all(|l| l.account_id.is_none()));
    }
    for v in &vouchers {
        let debits: u128 = v
            .lines
            .iter()
            .filter(|l| l.side == suanpan_accounting::Side::Debit)
            .map(|l| l.amount)
            .sum();
        let credits: u128 = v
            .lines
            .iter()
            .filter(|l| l.side == suanpan_accounting::Side::Credit)
            .map(|l| l.amount)
            .sum();
        prop_assert_eq!(debits, credits);
    }
    Ok(())
}
