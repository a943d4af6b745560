//! Real books for the tests: an engine writing a real SQLite journal in a temporary directory,
//! accounting reading it, and the ledger's own balances taken just before each cutover.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use suanpan_accounting::{Accounting, DayEndOptions, Step};
use suanpan_engine::{Engine, EngineConfig};
use suanpan_ledger::{
    AccountFlags, AccountingDate, Command, Currency, NewAccount, ResultCode, SubjectCode, Tier,
    Transfer,
};

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "suanpan-accounting-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first business date of every test: the end of a quarter is near, so roll-ups run.
pub fn first_date() -> AccountingDate {
    AccountingDate::parse("2090-03-30").unwrap_or_else(|| panic!("date"))
}

pub struct Books {
    pub dir: TempDir,
    pub engine: Engine,
    pub date: AccountingDate,
    /// Each account's debit-side balance as the ledger had it at each date's cutover.
    pub at_cutover: BTreeMap<AccountingDate, HashMap<u128, i128>>,
    pub accounts: Vec<(u128, &'static str)>,
}

pub fn new_account(id: u128, subject: &str) -> NewAccount {
    NewAccount {
        id,
        currency: Currency::CNY,
        subject: SubjectCode::parse(subject).unwrap_or_else(|| panic!("subject {subject}")),
        owner: id as u64,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(0),
    }
}

pub fn transfer(id: u128, debit: u128, credit: u128, amount: u64, code: u16) -> Transfer {
    Transfer {
        code,
        ..Transfer::new(id, debit, credit, amount, Currency::CNY)
    }
}

impl Books {
    /// Opens `accounts` (id, subject) on the first business date.
    pub fn open(name: &str, accounts: &[(u128, &'static str)]) -> Books {
        let dir = TempDir::new(name);
        let config = EngineConfig {
            auto_cutover: false,
            ..EngineConfig::new(&dir.0)
        };
        let engine = Engine::start(config).unwrap_or_else(|e| panic!("engine: {e}"));
        let books = Books {
            dir,
            engine,
            date: first_date(),
            at_cutover: BTreeMap::new(),
            accounts: accounts.to_vec(),
        };
        // The engine opens on today's date; the books then move to the fixed first date.
        books.execute(vec![Command::Cutover { date: first_date() }]);
        let opened = books.execute(
            accounts
                .iter()
                .map(|&(id, subject)| Command::CreateAccount(new_account(id, subject)))
                .collect(),
        );
        assert!(opened.iter().all(|r| *r == ResultCode::Ok), "{opened:?}");
        books
    }

    pub fn path(&self) -> &Path {
        &self.dir.0
    }

    pub fn execute(&self, commands: Vec<Command>) -> Vec<ResultCode> {
        self.engine
            .execute(commands)
            .unwrap_or_else(|e| panic!("engine: {e}"))
    }

    /// Takes the ledger's balances, then cuts over to the next date.
    pub fn cut_over(&mut self) {
        let ids: Vec<u128> = self.accounts.iter().map(|a| a.0).collect();
        let found = self
            .engine
            .lookup_accounts(ids)
            .unwrap_or_else(|e| panic!("lookup: {e}"));
        let balances = found
            .into_iter()
            .flatten()
            .map(|a| (a.id, a.debits_posted as i128 - a.credits_posted as i128))
            .collect();
        self.at_cutover.insert(self.date, balances);
        self.date = self.date.next();
        let results = self.execute(vec![Command::Cutover { date: self.date }]);
        assert_eq!(results, [ResultCode::Ok]);
    }

    /// Runs the day-end of every closed date, in order.
    pub fn close_all(&self, accounting: &mut Accounting) {
        accounting
            .catch_up(&mut |_, _| {})
            .unwrap_or_else(|e| panic!("catch up: {e}"));
        let dates: Vec<AccountingDate> = accounting
            .status(None)
            .unwrap_or_else(|e| panic!("status: {e}"))
            .into_iter()
            .filter(|s| s.closed)
            .map(|s| s.accounting_date)
            .collect();
        for date in dates {
            let report = accounting
                .day_end(date, DayEndOptions::default(), &mut |_| {})
                .unwrap_or_else(|e| panic!("day-end of {date}: {e} ({})", e.code()));
            assert!(report.complete);
            assert_eq!(report.steps.len(), Step::ALL.len());
        }
    }
}

/// The day-end of `date`, after those of the dates before it (the engine's own first date).
pub fn day_end(
    accounting: &mut Accounting,
    date: AccountingDate,
) -> Result<suanpan_accounting::DayEndReport, suanpan_accounting::AccountingError> {
    accounting.catch_up(&mut |_, _| {})?;
    for status in accounting.status(None)? {
        if status.accounting_date < date && !status.complete() {
            accounting.day_end(
                status.accounting_date,
                DayEndOptions::default(),
                &mut |_| {},
            )?;
        }
    }
    accounting.day_end(date, DayEndOptions::default(), &mut |_| {})
}
