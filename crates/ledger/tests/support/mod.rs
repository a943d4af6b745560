//! Builders shared by the ledger's tests.
#![allow(dead_code)]

use suanpan_ledger::*;

pub const FUND: u128 = 1;

pub fn account(id: u128) -> NewAccount {
    NewAccount {
        id,
        currency: Currency::CNY,
        subject: SubjectCode::parse("2241.01").unwrap_or_else(|| panic!("subject")),
        owner: id as u64,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
    }
}

pub fn transfer(id: u128, debit: u128, credit: u128, amount: u64) -> Transfer {
    Transfer {
        code: 1,
        ..Transfer::new(id, debit, credit, amount, Currency::CNY)
    }
}

/// A ledger with a funding account (no balance constraint) and a clock.
pub struct Books {
    pub ledger: Ledger,
    pub now: u64,
}

impl Books {
    pub fn new() -> Books {
        Books::on(Ledger::new(TierLimits::default()))
    }

    /// Books on a ledger made some other way (a window, say).
    pub fn on(ledger: Ledger) -> Books {
        let mut books = Books { ledger, now: 1_000 };
        books.one(Command::Cutover {
            date: AccountingDate::parse("2026-11-25").unwrap_or_default(),
        });
        books.one(Command::CreateAccount(NewAccount {
            flags: AccountFlags(0),
            ..account(FUND)
        }));
        books
    }

    pub fn run(&mut self, commands: &[Command]) -> Vec<ResultCode> {
        let batch: Vec<Stamped> = commands
            .iter()
            .map(|&command| {
                self.now += 1_000;
                Stamped {
                    timestamp: self.now,
                    command,
                }
            })
            .collect();
        let mut results = Vec::new();
        self.ledger.apply(&batch, &mut results);
        results
    }

    pub fn one(&mut self, command: Command) -> ResultCode {
        self.run(&[command])[0]
    }

    pub fn open_funded(&mut self, id: u128, amount: u64) {
        assert_eq!(
            self.one(Command::CreateAccount(account(id))),
            ResultCode::Ok
        );
        if amount > 0 {
            let t = transfer(id << 32 | 0xF0F0, FUND, id, amount);
            assert_eq!(self.one(Command::CreateTransfer(t)), ResultCode::Ok);
        }
    }

    pub fn balance(&self, id: u128) -> i128 {
        self.ledger
            .account_by_id(id)
            .map_or(0, |a| a.credit_balance())
    }
}
