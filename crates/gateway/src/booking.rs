//! Booking through the engine. A payment is two linked transfers: the channel's clearing
//! account (1122.02, receivable from the payment channel) pays the merchant's payable account (2241.02)
//! the whole amount, and the merchant's account pays the fee to fee income (6021). A refund
//! is the merchant's account paying the channel's account back.
//!
//! Every id is derived from the order (or refund), never drawn: booking the same order again,
//! after a crash or a duplicate callback, is the same transfer, which the engine answers
//! `exists` and applies once. That is what makes "book, then record" safe to redo.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use suanpan_engine::{Engine, EngineError};
use suanpan_ledger::{
    AccountFlags, Command, Currency, NewAccount, Reference, ResultCode, SubjectCode, Tier,
    Transfer, TransferFlags,
};

use crate::error::GatewayError;
use crate::order::{Order, Refund};

/// "GTWY" in the top 32 bits of every id the gateway derives.
pub const ROOM_TAG: u128 = 0x4754_5759 << 96;
const CHANNEL_CLEARING: u128 = 0x01 << 88;
const MERCHANT_PAYABLE: u128 = 0x02 << 88;
const FEE_INCOME: u128 = 0x03 << 88;
const PAYMENT: u128 = 0x11 << 88;
const FEE: u128 = 0x12 << 88;
const REFUND: u128 = 0x13 << 88;
const REFUND_FEE: u128 = 0x14 << 88;

/// Transfer codes (accounting's posting rules key on them).
pub const CODE_PAYMENT: u16 = 7001;
pub const CODE_FEE: u16 = 7002;
pub const CODE_REFUND: u16 = 7003;
/// The fee given back to the merchant on a refund.
pub const CODE_REFUND_FEE: u16 = 7004;

/// A leaf of 1122 (receivables from channels), so the account books under it and the
/// GL-vs-sub-ledger check sees it (an account under a subject with children books to
/// suspense).
pub const SUBJECT_CHANNEL_CLEARING: &str = "1122.02";
const SUBJECT_MERCHANT_PAYABLE: &str = "2241.02";
const SUBJECT_FEE_INCOME: &str = "6021";

/// A currency's three letters as the low 24 bits of an id.
pub fn currency_bits(c: Currency) -> u128 {
    let b = c.as_bytes();
    (u128::from(b[0]) << 16) | (u128::from(b[1]) << 8) | u128::from(b[2])
}

/// The channel's number in account ids.
pub fn channel_number(channel: &str) -> u128 {
    match channel {
        "alipay" => 1,
        "wechat" => 2,
        _ => 0xff,
    }
}

pub fn channel_account_id(channel: &str, currency: Currency) -> u128 {
    ROOM_TAG | CHANNEL_CLEARING | (channel_number(channel) << 32) | currency_bits(currency)
}

pub fn merchant_account_id(owner: u64, currency: Currency) -> u128 {
    ROOM_TAG | MERCHANT_PAYABLE | (u128::from(owner) << 24) | currency_bits(currency)
}

pub fn fee_account_id(currency: Currency) -> u128 {
    ROOM_TAG | FEE_INCOME | currency_bits(currency)
}

pub fn payment_transfer_id(order_id: u64) -> u128 {
    ROOM_TAG | PAYMENT | u128::from(order_id)
}

pub fn fee_transfer_id(order_id: u64) -> u128 {
    ROOM_TAG | FEE | u128::from(order_id)
}

pub fn refund_transfer_id(refund_id: u64) -> u128 {
    ROOM_TAG | REFUND | u128::from(refund_id)
}

pub fn refund_fee_transfer_id(refund_id: u64) -> u128 {
    ROOM_TAG | REFUND_FEE | u128::from(refund_id)
}

/// The fee on an amount at `fee_bp` basis points, rounded down (integers only).
pub fn fee_minor(amount_minor: u64, fee_bp: u32) -> u64 {
    (u128::from(amount_minor) * u128::from(fee_bp) / 10_000) as u64
}

pub struct Booker {
    engine: Arc<Engine>,
    fee_bp: u32,
    refund_returns_fee: bool,
    /// Accounts known to be open, so each is opened once per process.
    opened: Mutex<HashSet<u128>>,
}

fn engine_error(e: EngineError) -> GatewayError {
    match e {
        EngineError::Overloaded => GatewayError::Overloaded,
        other => GatewayError::Booking(other.to_string()),
    }
}

impl Booker {
    pub fn new(engine: Arc<Engine>, fee_bp: u32, refund_returns_fee: bool) -> Booker {
        Booker {
            engine,
            fee_bp,
            refund_returns_fee,
            opened: Mutex::new(HashSet::new()),
        }
    }

    async fn execute(&self, commands: Vec<Command>) -> Result<Vec<ResultCode>, GatewayError> {
        let ticket = self.engine.submit(commands).map_err(engine_error)?;
        match ticket.await {
            Some(result) => result.map_err(engine_error),
            None => Err(engine_error(self.engine.stopped_error())),
        }
    }

    async fn open_accounts(
        &self,
        accounts: &[(u128, &str, u64, Currency)],
    ) -> Result<(), GatewayError> {
        let missing: Vec<Command> = {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            accounts
                .iter()
                .filter(|a| !opened.contains(&a.0))
                .filter_map(|&(id, subject, owner, currency)| {
                    // The subjects are this file's constants: they parse.
                    Some(Command::CreateAccount(NewAccount {
                        id,
                        currency,
                        subject: SubjectCode::parse(subject)?,
                        owner,
                        tier: Tier::None,
                        bound_account: 0,
                        flags: AccountFlags(0),
                    }))
                })
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let results = self.execute(missing.clone()).await?;
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        for (command, result) in missing.iter().zip(results) {
            if !result.is_success() {
                return Err(GatewayError::Booking(format!(
                    "opening a gateway account: {}",
                    result.as_str()
                )));
            }
            if let Command::CreateAccount(a) = command {
                opened.insert(a.id);
            }
        }
        Ok(())
    }

    fn currency(text: &str) -> Result<Currency, GatewayError> {
        Currency::parse(text)
            .ok_or_else(|| GatewayError::Booking(format!("currency {text:?} is not valid")))
    }

    async fn accounts_for(&self, order: &Order) -> Result<Currency, GatewayError> {
        let currency = Booker::currency(&order.currency)?;
        self.open_accounts(&[
            (
                channel_account_id(&order.channel, currency),
                SUBJECT_CHANNEL_CLEARING,
                0,
                currency,
            ),
            (
                merchant_account_id(order.owner, currency),
                SUBJECT_MERCHANT_PAYABLE,
                order.owner,
                currency,
            ),
            (fee_account_id(currency), SUBJECT_FEE_INCOME, 0, currency),
        ])
        .await?;
        Ok(currency)
    }

    fn check(results: &[ResultCode], what: &str) -> Result<(), GatewayError> {
        match results.iter().find(|r| !r.is_success()) {
            None => Ok(()),
            Some(r) => Err(GatewayError::Booking(format!("{what}: {}", r.as_str()))),
        }
    }

    /// Books a paid order: the payment and its fee, linked. Again: `exists`, nothing twice.
    pub async fn book_payment(&self, order: &Order) -> Result<(), GatewayError> {
        let currency = self.accounts_for(order).await?;
        let merchant = merchant_account_id(order.owner, currency);
        let reference = Reference::new(order.id.to_string().as_bytes()).unwrap_or(Reference::EMPTY);
        let fee = fee_minor(order.amount_minor, self.fee_bp);
        let mut payment = Transfer::new(
            payment_transfer_id(order.id),
            channel_account_id(&order.channel, currency),
            merchant,
            order.amount_minor,
            currency,
        );
        payment.code = CODE_PAYMENT;
        payment.reference = reference;
        let mut commands = vec![];
        if fee > 0 {
            payment.flags = TransferFlags(TransferFlags::LINKED);
            let mut charge = Transfer::new(
                fee_transfer_id(order.id),
                merchant,
                fee_account_id(currency),
                fee,
                currency,
            );
            charge.code = CODE_FEE;
            charge.reference = reference;
            commands.push(Command::CreateTransfer(payment));
            commands.push(Command::CreateTransfer(charge));
        } else {
            commands.push(Command::CreateTransfer(payment));
        }
        let results = self.execute(commands).await?;
        Booker::check(&results, "booking the payment")
    }

    /// Books a refund the channel has made: back from the merchant to the channel's account,
    /// and, where refunds return the fee, the fee on it back to the merchant, linked.
    pub async fn book_refund(&self, order: &Order, refund: &Refund) -> Result<(), GatewayError> {
        let currency = self.accounts_for(order).await?;
        let merchant = merchant_account_id(order.owner, currency);
        let reference = Reference::new(order.id.to_string().as_bytes()).unwrap_or(Reference::EMPTY);
        let mut transfer = Transfer::new(
            refund_transfer_id(refund.id),
            merchant,
            channel_account_id(&order.channel, currency),
            refund.amount_minor,
            currency,
        );
        transfer.code = CODE_REFUND;
        transfer.reference = reference;
        let fee = if self.refund_returns_fee {
            fee_minor(refund.amount_minor, self.fee_bp)
        } else {
            0
        };
        let mut commands = Vec::new();
        if fee > 0 {
            transfer.flags = TransferFlags(TransferFlags::LINKED);
            let mut back = Transfer::new(
                refund_fee_transfer_id(refund.id),
                fee_account_id(currency),
                merchant,
                fee,
                currency,
            );
            back.code = CODE_REFUND_FEE;
            back.reference = reference;
            commands.push(Command::CreateTransfer(transfer));
            commands.push(Command::CreateTransfer(back));
        } else {
            commands.push(Command::CreateTransfer(transfer));
        }
        let results = self.execute(commands).await?;
        Booker::check(&results, "booking the refund")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_per_order_and_apart_per_kind() {
        assert_eq!(payment_transfer_id(7), payment_transfer_id(7));
        assert_ne!(payment_transfer_id(7), fee_transfer_id(7));
        assert_ne!(payment_transfer_id(7), refund_transfer_id(7));
        assert_eq!(payment_transfer_id(7) >> 96, ROOM_TAG >> 96);
        assert_ne!(
            merchant_account_id(u64::MAX, Currency::CNY),
            channel_account_id("alipay", Currency::CNY)
        );
    }

    #[test]
    fn fees_round_down_in_integers() {
        assert_eq!(fee_minor(10_000, 60), 60);
        assert_eq!(fee_minor(99, 60), 0);
        assert_eq!(fee_minor(u64::MAX, 10_000), u64::MAX);
    }
}
