//! Booking a payout through the engine. Accepting it holds the amount on the customer's
//! account (a pending transfer to payouts in transit, 3001); settlement posts the hold and
//! moves the money from in transit to the channel's settlement account at the reserve bank
//! (1002); a rejection voids the hold; a return pays the customer back from the channel's
//! account.
//!
//! Every id is derived from the payout id, never drawn: booking again after a crash or a
//! repeated answer is the same transfer, which the engine answers `exists` and applies once.

use std::sync::{Arc, Mutex};

use hashbrown::HashSet;
use suanpan_engine::{Engine, EngineError};
use suanpan_ledger::{
    AccountFlags, Command, Currency, NewAccount, Reference, ResultCode, SubjectCode, Tier,
    Transfer, TransferFlags,
};
use suanpan_routing::Channel;

use crate::error::PayoutError;

/// "PYOT" in the top 32 bits of every id the payouts room derives.
pub const ROOM_TAG: u128 = 0x5059_4f54 << 96;
const IN_TRANSIT: u128 = 0x01 << 88;
const CHANNEL_SETTLEMENT: u128 = 0x02 << 88;
const HOLD: u128 = 0x11 << 88;
const POST: u128 = 0x12 << 88;
const VOID: u128 = 0x13 << 88;
const SETTLE: u128 = 0x14 << 88;
const RETURN: u128 = 0x15 << 88;
const QR: u128 = 0x16 << 88;

/// Transfer codes (accounting's posting rules key on them).
pub const CODE_PAYOUT: u16 = 6201;
pub const CODE_PAYOUT_SETTLEMENT: u16 = 6202;
pub const CODE_PAYOUT_RETURN: u16 = 6203;
pub const CODE_QR_PAYMENT: u16 = 6204;

const SUBJECT_IN_TRANSIT: &str = "3001";
const SUBJECT_CHANNEL_SETTLEMENT: &str = "1002";

fn currency_bits(c: Currency) -> u128 {
    let b = c.as_bytes();
    (u128::from(b[0]) << 16) | (u128::from(b[1]) << 8) | u128::from(b[2])
}

/// Payout ids are the participant's own, so the room's transfer ids keep 88 bits of them:
/// two payouts whose ids agree in their low 88 bits are refused (`payout_id_too_large`).
pub const PAYOUT_ID_MAX: u128 = (1 << 88) - 1;

pub fn in_transit_account(currency: Currency) -> u128 {
    ROOM_TAG | IN_TRANSIT | currency_bits(currency)
}

pub fn channel_account(channel: Channel, currency: Currency) -> u128 {
    ROOM_TAG | CHANNEL_SETTLEMENT | ((channel.index() as u128 + 1) << 32) | currency_bits(currency)
}

pub fn hold_id(payout: u128) -> u128 {
    ROOM_TAG | HOLD | payout
}

fn post_id(payout: u128) -> u128 {
    ROOM_TAG | POST | payout
}

fn void_id(payout: u128) -> u128 {
    ROOM_TAG | VOID | payout
}

pub fn settle_id(payout: u128) -> u128 {
    ROOM_TAG | SETTLE | payout
}

pub fn return_id(payout: u128) -> u128 {
    ROOM_TAG | RETURN | payout
}

pub fn qr_transfer_id(payment: u128) -> u128 {
    ROOM_TAG | QR | payment
}

fn engine_error(e: EngineError) -> PayoutError {
    match e {
        EngineError::Overloaded => PayoutError::Overloaded,
        other => PayoutError::System(other.to_string()),
    }
}

pub struct Booker {
    engine: Arc<Engine>,
    opened: Mutex<HashSet<u128>>,
}

impl Booker {
    pub fn new(engine: Arc<Engine>) -> Booker {
        Booker {
            engine,
            opened: Mutex::new(HashSet::new()),
        }
    }

    pub async fn execute(&self, commands: Vec<Command>) -> Result<Vec<ResultCode>, PayoutError> {
        let ticket = self.engine.submit(commands).map_err(engine_error)?;
        match ticket.await {
            Some(result) => result.map_err(engine_error),
            None => Err(engine_error(self.engine.stopped_error())),
        }
    }

    /// Opens the room's accounts of a currency once per process (again: `exists`).
    async fn open(&self, accounts: &[(u128, &str)], currency: Currency) -> Result<(), PayoutError> {
        let missing: Vec<Command> = {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            accounts
                .iter()
                .filter(|(id, _)| !opened.contains(id))
                .filter_map(|&(id, subject)| {
                    // The subjects are this file's constants: they parse.
                    Some(Command::CreateAccount(NewAccount {
                        id,
                        currency,
                        subject: SubjectCode::parse(subject)?,
                        owner: 0,
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
                return Err(PayoutError::System(format!(
                    "opening a payouts account: {}",
                    result.as_str()
                )));
            }
            if let Command::CreateAccount(a) = command {
                opened.insert(a.id);
            }
        }
        Ok(())
    }

    /// Holds the amount on the customer's account. A refusal of the ledger (not enough
    /// money, a frozen account, a tier limit) is the payout's refusal.
    pub async fn hold(
        &self,
        payout: u128,
        debit: u128,
        amount_fen: u64,
        currency: Currency,
    ) -> Result<(), PayoutError> {
        self.open(
            &[(in_transit_account(currency), SUBJECT_IN_TRANSIT)],
            currency,
        )
        .await?;
        let mut t = Transfer::new(
            hold_id(payout),
            debit,
            in_transit_account(currency),
            amount_fen,
            currency,
        );
        t.code = CODE_PAYOUT;
        t.flags = TransferFlags(TransferFlags::PENDING);
        t.reference = reference(payout);
        match self.execute(vec![Command::CreateTransfer(t)]).await?[..] {
            [r] if r.is_success() => Ok(()),
            [r] => Err(PayoutError::Refused(r.as_str())),
            _ => Err(PayoutError::System("the engine answered no result".into())),
        }
    }

    /// Posts the hold and pays the channel's settlement account, linked: both or neither.
    pub async fn settle(
        &self,
        payout: u128,
        channel: Channel,
        amount_fen: u64,
        currency: Currency,
    ) -> Result<(), PayoutError> {
        let account = channel_account(channel, currency);
        self.open(&[(account, SUBJECT_CHANNEL_SETTLEMENT)], currency)
            .await?;
        let mut post = Transfer::new(post_id(payout), 0, 0, 0, currency);
        post.flags = TransferFlags(TransferFlags::POST_PENDING | TransferFlags::LINKED);
        post.pending_id = hold_id(payout);
        post.code = CODE_PAYOUT;
        let mut out = Transfer::new(
            settle_id(payout),
            in_transit_account(currency),
            account,
            amount_fen,
            currency,
        );
        out.code = CODE_PAYOUT_SETTLEMENT;
        out.reference = reference(payout);
        let results = self
            .execute(vec![
                Command::CreateTransfer(post),
                Command::CreateTransfer(out),
            ])
            .await?;
        check(&results, "settling a payout")
    }

    /// Releases the hold: nothing moved.
    pub async fn release(&self, payout: u128, currency: Currency) -> Result<(), PayoutError> {
        let mut void = Transfer::new(void_id(payout), 0, 0, 0, currency);
        void.flags = TransferFlags(TransferFlags::VOID_PENDING);
        void.pending_id = hold_id(payout);
        void.code = CODE_PAYOUT;
        let results = self.execute(vec![Command::CreateTransfer(void)]).await?;
        check(&results, "releasing a payout's hold")
    }

    /// Pays a returned payout back to the customer from the channel's account.
    pub async fn reverse(
        &self,
        payout: u128,
        channel: Channel,
        debit: u128,
        amount_fen: u64,
        currency: Currency,
    ) -> Result<(), PayoutError> {
        let mut back = Transfer::new(
            return_id(payout),
            channel_account(channel, currency),
            debit,
            amount_fen,
            currency,
        );
        back.code = CODE_PAYOUT_RETURN;
        back.reference = reference(payout);
        let results = self.execute(vec![Command::CreateTransfer(back)]).await?;
        check(&results, "reversing a returned payout")
    }
}

fn reference(payout: u128) -> Reference {
    Reference::new(payout.to_string().as_bytes()).unwrap_or(Reference::EMPTY)
}

fn check(results: &[ResultCode], what: &str) -> Result<(), PayoutError> {
    match results.iter().find(|r| !r.is_success()) {
        None if !results.is_empty() => Ok(()),
        None => Err(PayoutError::System(format!("{what}: no result"))),
        Some(r) => Err(PayoutError::System(format!("{what}: {}", r.as_str()))),
    }
}
