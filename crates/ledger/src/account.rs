use std::fmt;

use crate::{AccountingDate, Currency, TierUsage};

/// A subject code (科目) such as `2241.01`: what the accounting system books this account under.
/// Digits in dot-separated groups, at most 16 bytes, stored inline so accounts stay flat.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubjectCode {
    bytes: [u8; SubjectCode::LEN_MAX],
    len: u8,
}

impl SubjectCode {
    pub const LEN_MAX: usize = 16;

    pub fn parse(code: &str) -> Option<SubjectCode> {
        let valid = !code.is_empty()
            && code.len() <= SubjectCode::LEN_MAX
            && code
                .split('.')
                .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            return None;
        }
        let mut bytes = [0; SubjectCode::LEN_MAX];
        bytes[..code.len()].copy_from_slice(code.as_bytes());
        Some(SubjectCode {
            bytes,
            len: code.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for SubjectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SubjectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Personal account class (I / II / III 类账户). `None` for every account that is not a personal
/// bank account: merchants, institutions, internal accounts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum Tier {
    None = 0,
    I = 1,
    II = 2,
    III = 3,
}

impl Tier {
    pub fn from_u8(value: u8) -> Option<Tier> {
        match value {
            0 => Some(Tier::None),
            1 => Some(Tier::I),
            2 => Some(Tier::II),
            3 => Some(Tier::III),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::None => "none",
            Tier::I => "class_i",
            Tier::II => "class_ii",
            Tier::III => "class_iii",
        }
    }

    pub fn has_bound_account(self) -> bool {
        matches!(self, Tier::II | Tier::III)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct AccountFlags(pub u16);

impl AccountFlags {
    /// The balance may never go debit-side: a customer's deposit, a merchant's payable.
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: u16 = 1 << 0;
    /// The balance may never go credit-side: a receivable, a reserve-funds asset.
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: u16 = 1 << 1;
    /// A Class III holder's consent to receive money from accounts other than the bound one.
    pub const NON_BOUND_INFLOW_CONSENT: u16 = 1 << 2;
    const KNOWN: u16 = 0b111;

    pub fn contains(self, flag: u16) -> bool {
        self.0 & flag == flag
    }

    pub fn is_known(self) -> bool {
        self.0 & !AccountFlags::KNOWN == 0
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum AccountStatus {
    Active = 0,
    /// No money moves in or out (voids and expiries of pending transfers still release holds).
    Frozen = 1,
    /// Final: a closed account never moves money again.
    Closed = 2,
}

impl AccountStatus {
    pub fn from_u8(value: u8) -> Option<AccountStatus> {
        match value {
            0 => Some(AccountStatus::Active),
            1 => Some(AccountStatus::Frozen),
            2 => Some(AccountStatus::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Frozen => "frozen",
            AccountStatus::Closed => "closed",
        }
    }
}

/// What a client supplies to open an account (分户账).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NewAccount {
    pub id: u128,
    pub currency: Currency,
    pub subject: SubjectCode,
    /// The customer, merchant or institution the account belongs to.
    pub owner: u64,
    pub tier: Tier,
    /// For Class II and III: the holder's own Class I account. Zero otherwise.
    pub bound_account: u128,
    pub flags: AccountFlags,
}

/// A sub-ledger account and its running totals. Balances are never stored twice: they are the
/// difference of the posted (and pending) totals.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Account {
    pub id: u128,
    pub currency: Currency,
    pub subject: SubjectCode,
    pub owner: u64,
    pub tier: Tier,
    pub bound_account: u128,
    pub flags: AccountFlags,
    pub status: AccountStatus,
    pub debits_posted: u128,
    pub credits_posted: u128,
    pub debits_pending: u128,
    pub credits_pending: u128,
    /// Engine timestamp of the command that opened the account.
    pub timestamp: u64,
    pub tier_usage: TierUsage,
}

impl Account {
    pub(crate) fn open(new: &NewAccount, timestamp: u64, today: AccountingDate) -> Account {
        Account {
            id: new.id,
            currency: new.currency,
            subject: new.subject,
            owner: new.owner,
            tier: new.tier,
            bound_account: new.bound_account,
            flags: new.flags,
            status: AccountStatus::Active,
            debits_posted: 0,
            credits_posted: 0,
            debits_pending: 0,
            credits_pending: 0,
            timestamp,
            tier_usage: TierUsage {
                date: today,
                ..TierUsage::default()
            },
        }
    }

    /// Credit-side balance (credits − debits, posted only), as a signed figure.
    pub fn credit_balance(&self) -> i128 {
        self.credits_posted as i128 - self.debits_posted as i128
    }

    pub fn has_pending(&self) -> bool {
        self.debits_pending != 0 || self.credits_pending != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_codes_are_dotted_digits() {
        assert_eq!(
            SubjectCode::parse("2241.01")
                .map(|s| s.to_string())
                .as_deref(),
            Some("2241.01")
        );
        for bad in ["", "22a1", "2241.", ".01", "2241..01", "12345678901234567"] {
            assert_eq!(SubjectCode::parse(bad), None, "{bad}");
        }
    }
}
