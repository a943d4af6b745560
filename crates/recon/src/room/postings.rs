//! What reconciliation books through the engine, with ids derived from the difference (never
//! drawn): a rerun after a crash makes the same transfer, which the engine answers `exists`
//! and applies once.
//!
//! - 挂账: a difference's amount between the channel's clearing account (the gateway's,
//!   1122.02) and the channel's reconciliation suspense account (under the suspense subject,
//!   3099). The channel has more than the books: debit the channel, credit suspense; less:
//!   the other way. The day-end's suspense step opens an item for it, which the accounting
//!   room's write-off closes (核销).
//! - A suspense posting taken back (a republished bill no longer shows the difference).
//! - To channel cost (6421) from the channel's account: a fee or amount the operator says
//!   the channel is right about.
//! - A 短款 the channel confirms it never had, reversed (调账): the merchant's payable pays
//!   the channel's account back the payment, and fee income pays the merchant back its fee,
//!   linked, so the books no longer hold money that never came.

use suanpan_gateway::booking::{channel_account_id, channel_number, currency_bits};
use suanpan_ledger::{
    AccountFlags, Command, Currency, NewAccount, Reference, SubjectCode, Tier, Transfer,
};

/// "RCON" in the top 32 bits of every id reconciliation derives.
pub const ROOM_TAG: u128 = 0x5243_4F4E << 96;
const SUSPENSE_POSTING: u128 = 0x01 << 88;
const REVERSAL: u128 = 0x02 << 88;
const CHANNEL_COST: u128 = 0x03 << 88;
const REVERSE_PAYMENT: u128 = 0x04 << 88;
const REVERSE_FEE: u128 = 0x05 << 88;
const SUSPENSE_ACCOUNT: u128 = 0x10 << 88;
const COST_ACCOUNT: u128 = 0x11 << 88;

/// Transfer codes (accounting's posting rules key on them).
pub const CODE_SUSPENSE: u16 = 7101;
pub const CODE_REVERSAL: u16 = 7102;
pub const CODE_CHANNEL_COST: u16 = 7103;
pub const CODE_REVERSAL_OF_PAYMENT: u16 = 7104;

const SUBJECT_SUSPENSE: &str = "3099";
const SUBJECT_CHANNEL_COST: &str = "6421";

pub fn suspense_account_id(channel: &str, currency: Currency) -> u128 {
    ROOM_TAG | SUSPENSE_ACCOUNT | (channel_number(channel) << 32) | currency_bits(currency)
}

pub fn cost_account_id(currency: Currency) -> u128 {
    ROOM_TAG | COST_ACCOUNT | currency_bits(currency)
}

/// The id of the `n`-th transfer made for difference `id` of kind `kind`.
fn transfer_id(kind: u128, n: u32, difference: i64) -> u128 {
    ROOM_TAG | kind | (u128::from(n & 0xffff) << 64) | u128::from(difference as u64)
}

/// What a posting does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Posting {
    /// Into suspense, signed: positive when the channel has more than the books.
    Suspense(i64),
    /// Out of suspense again, taking back a signed amount posted before.
    Reversal(i64),
    /// To channel cost, signed as a difference (negative: the channel kept more).
    ChannelCost(i64),
}

impl Posting {
    fn kind(self) -> (u128, u16) {
        match self {
            Posting::Suspense(_) => (SUSPENSE_POSTING, CODE_SUSPENSE),
            Posting::Reversal(_) => (REVERSAL, CODE_REVERSAL),
            Posting::ChannelCost(_) => (CHANNEL_COST, CODE_CHANNEL_COST),
        }
    }

    /// The signed amount it moves into suspense.
    pub fn into_suspense(self) -> i64 {
        match self {
            Posting::Suspense(fen) => fen,
            Posting::Reversal(fen) => -fen,
            Posting::ChannelCost(_) => 0,
        }
    }
}

fn open(id: u128, subject: &str, currency: Currency) -> Option<Command> {
    Some(Command::CreateAccount(NewAccount {
        id,
        currency,
        subject: SubjectCode::parse(subject)?,
        owner: 0,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(0),
    }))
}

/// The accounts a channel's postings use (opening one that exists is answered `exists`).
pub fn accounts(channel: &str, currency: Currency) -> Vec<Command> {
    [
        open(
            channel_account_id(channel, currency),
            suanpan_gateway::booking::SUBJECT_CHANNEL_CLEARING,
            currency,
        ),
        open(
            suspense_account_id(channel, currency),
            SUBJECT_SUSPENSE,
            currency,
        ),
        open(cost_account_id(currency), SUBJECT_CHANNEL_COST, currency),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The transfer for the `n`-th posting of difference `difference`; `None` for no amount.
pub fn transfer(
    channel: &str,
    currency: Currency,
    difference: i64,
    n: u32,
    posting: Posting,
    reference: &str,
) -> Option<Transfer> {
    let channel_account = channel_account_id(channel, currency);
    let (kind, code) = posting.kind();
    let (other, signed) = match posting {
        Posting::Suspense(fen) => (suspense_account_id(channel, currency), fen),
        Posting::Reversal(fen) => (suspense_account_id(channel, currency), -fen),
        Posting::ChannelCost(fen) => (cost_account_id(currency), fen),
    };
    if signed == 0 {
        return None;
    }
    let amount = signed.unsigned_abs();
    // The channel has more: it owes the platform that much more (debit its account).
    let (debit, credit) = if signed > 0 {
        (channel_account, other)
    } else {
        (other, channel_account)
    };
    let mut t = Transfer::new(
        transfer_id(kind, n, difference),
        debit,
        credit,
        amount,
        currency,
    );
    t.code = code;
    t.reference = Reference::new(reference.as_bytes()).unwrap_or(Reference::EMPTY);
    Some(t)
}

/// The transfers that reverse a payment the channel never had (merchant `merchant`'s, for
/// difference `difference`, its posting number `n`): the payment back to the channel's account and the fee back to
/// the merchant, linked.
pub fn reversal_of_payment(
    channel: &str,
    currency: Currency,
    merchant: u64,
    difference: i64,
    n: u32,
    amount: u64,
    fee: u64,
) -> Vec<Command> {
    let merchant_account = suanpan_gateway::booking::merchant_account_id(merchant, currency);
    let fee_account = suanpan_gateway::booking::fee_account_id(currency);
    let reference =
        Reference::new(format!("recon {difference}").as_bytes()).unwrap_or(Reference::EMPTY);
    let mut payment = Transfer::new(
        transfer_id(REVERSE_PAYMENT, n, difference),
        merchant_account,
        channel_account_id(channel, currency),
        amount,
        currency,
    );
    payment.code = CODE_REVERSAL_OF_PAYMENT;
    payment.reference = reference;
    if fee == 0 {
        return vec![Command::CreateTransfer(payment)];
    }
    payment.flags = suanpan_ledger::TransferFlags(suanpan_ledger::TransferFlags::LINKED);
    let mut back = Transfer::new(
        transfer_id(REVERSE_FEE, n, difference),
        fee_account,
        merchant_account,
        fee,
        currency,
    );
    back.code = CODE_REVERSAL_OF_PAYMENT;
    back.reference = reference;
    vec![
        Command::CreateTransfer(payment),
        Command::CreateTransfer(back),
    ]
}

/// The id of a difference's suspense posting number `n` (the accounting room's item names
/// it).
pub fn suspense_transfer_id(difference: i64, n: u32) -> u128 {
    transfer_id(SUSPENSE_POSTING, n, difference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_per_difference_and_posting() {
        let a = transfer("wechat", Currency::CNY, 7, 0, Posting::Suspense(100), "r");
        let b = transfer("wechat", Currency::CNY, 7, 0, Posting::Suspense(100), "r");
        assert_eq!(a.map(|t| t.id), b.map(|t| t.id));
        let c = transfer("wechat", Currency::CNY, 7, 1, Posting::Reversal(100), "r");
        assert_ne!(a.map(|t| t.id), c.map(|t| t.id));
        assert_eq!(a.map(|t| t.id), Some(suspense_transfer_id(7, 0)));
        assert_eq!(suspense_transfer_id(7, 0) >> 96, ROOM_TAG >> 96);
    }

    #[test]
    fn the_side_follows_the_sign_and_a_reversal_takes_it_back() {
        let ch = channel_account_id("alipay", Currency::CNY);
        let long = transfer("alipay", Currency::CNY, 1, 0, Posting::Suspense(250), "");
        assert!(matches!(long, Some(t) if t.debit_account_id == ch && t.amount == 250));
        let back = transfer("alipay", Currency::CNY, 1, 1, Posting::Reversal(250), "");
        assert!(matches!(back, Some(t) if t.credit_account_id == ch && t.amount == 250));
        let short = transfer("alipay", Currency::CNY, 2, 0, Posting::Suspense(-90), "");
        assert!(matches!(short, Some(t) if t.credit_account_id == ch));
        assert!(transfer("alipay", Currency::CNY, 3, 0, Posting::Suspense(0), "").is_none());
    }
}
