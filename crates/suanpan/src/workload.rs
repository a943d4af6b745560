//! The benchmark workload, the same as the peers': accounts funded with 1,000,000 minor units
//! each, transfers between uniform random distinct pairs, amounts 1..=100, a debit that would
//! take an account below zero rejected.

use suanpan_ledger::{AccountFlags, Command, Currency, NewAccount, SubjectCode, Tier, Transfer};

pub const FUNDING_FEN: u64 = 1_000_000;
/// The account the workload's accounts are funded from (it may go negative: the bank's side).
pub const FUNDING_ACCOUNT: u128 = u64::MAX as u128;

/// xorshift64*: fast, deterministic, good enough to pick account pairs.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

fn subject(code: &str) -> SubjectCode {
    // The codes below are constants that parse; a failure here is a bug in this file.
    SubjectCode::parse(code).unwrap_or_else(|| panic!("bad built-in subject code {code}"))
}

/// Commands that open `accounts` accounts (ids 1..=accounts) and the funding account.
pub fn open_accounts(accounts: u64) -> Vec<Command> {
    let mut commands = vec![Command::CreateAccount(NewAccount {
        id: FUNDING_ACCOUNT,
        currency: Currency::CNY,
        subject: subject("1002"),
        owner: 0,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(0),
    })];
    commands.extend((1..=accounts).map(|id| {
        Command::CreateAccount(NewAccount {
            id: u128::from(id),
            currency: Currency::CNY,
            subject: subject("2241.01"),
            owner: id,
            tier: Tier::None,
            bound_account: 0,
            flags: AccountFlags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        })
    }));
    commands
}

/// Commands that fund every account with [`FUNDING_FEN`], with ids in their own range.
pub fn fund_accounts(accounts: u64) -> Vec<Command> {
    (1..=accounts)
        .map(|id| {
            Command::CreateTransfer(transfer(
                u128::from(id) << 96,
                FUNDING_ACCOUNT,
                u128::from(id),
                FUNDING_FEN,
            ))
        })
        .collect()
}

pub fn transfer(id: u128, debit: u128, credit: u128, amount: u64) -> Transfer {
    Transfer {
        code: 1,
        ..Transfer::new(id, debit, credit, amount, Currency::CNY)
    }
}

/// One random transfer of the workload.
pub fn random_transfer(rng: &mut Rng, id: u128, accounts: u64) -> Command {
    let debit = 1 + rng.below(accounts);
    let credit = 1 + (debit + rng.below(accounts - 1)) % accounts;
    let amount = 1 + rng.below(100);
    Command::CreateTransfer(transfer(id, u128::from(debit), u128::from(credit), amount))
}
