//! Interbank transactions: a payment moves money from the payer participant's position account
//! to the payee's, online, under the payer's net debit cap; a refund moves (part of) it back.
//!
//! A refund never exceeds what is left of its original, even when two arrive at once: refunds
//! of one original are numbered 0, 1, 2..., and refund k has the fixed id [`refund_id`]`(original,
//! k)`. Refund k is checked against refunds 0..k, which must all be committed already, and the
//! ledger lets only one transfer take id k; a second refund with the same number is answered
//! `exists` if it is the same refund (a retry) and refused otherwise.

use sha2::{Digest, Sha256};
use suanpan_engine::{Engine, FoundTransfer};
use suanpan_ledger::{Command, Reference, ResultCode, Transfer, TransferFlags};

use crate::accounts::{is_room_id, participant_of_position, position_account_id, REFUND, ROOM_TAG};
use crate::{ClearingError, TransactionKind, CLEARING_CURRENCY, PARTICIPANTS_MAX};

/// Most refunds one original may have.
pub const REFUNDS_PER_ORIGINAL_MAX: u8 = 16;

/// A payment between two participants, as a participant submits it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Payment {
    pub id: u128,
    pub payer: u16,
    pub payee: u16,
    pub amount_fen: u64,
    /// Any kind but `Refund` (refunds go through [`refund`]).
    pub kind: TransactionKind,
    pub reference: Reference,
}

/// Refund number `number` of `original`, of `amount_fen`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Refund {
    pub original: u128,
    pub number: u8,
    pub amount_fen: u64,
}

fn check_participant(number: u16) -> Result<(), ClearingError> {
    if number == 0 || number > PARTICIPANTS_MAX {
        return Err(ClearingError::ParticipantNotFound {
            participant: number,
        });
    }
    Ok(())
}

/// The ledger transfer of a payment, after the checks the ledger cannot make itself.
pub fn payment_transfer(payment: &Payment) -> Result<Transfer, ClearingError> {
    check_participant(payment.payer)?;
    check_participant(payment.payee)?;
    if payment.payer == payment.payee {
        return Err(ClearingError::SameParticipant {
            participant: payment.payer,
        });
    }
    if payment.amount_fen == 0 {
        return Err(ClearingError::AmountMustNotBeZero);
    }
    if is_room_id(payment.id) {
        return Err(ClearingError::TransactionIdReserved { id: payment.id });
    }
    if payment.kind == TransactionKind::Refund {
        return Err(ClearingError::OriginalNotRefundable { id: payment.id });
    }
    Ok(Transfer {
        code: payment.kind.code(),
        reference: payment.reference,
        ..Transfer::new(
            payment.id,
            position_account_id(payment.payer),
            position_account_id(payment.payee),
            payment.amount_fen,
            CLEARING_CURRENCY,
        )
    })
}

/// The ledger's answer in clearing's words: `Ok` or `Exists` (a retry) are success.
fn outcome(result: ResultCode, payer: u16, payee: u16) -> Result<ResultCode, ClearingError> {
    match result {
        ResultCode::Ok | ResultCode::Exists => Ok(result),
        ResultCode::ExceedsCredits => {
            Err(ClearingError::NetDebitCapExceeded { participant: payer })
        }
        ResultCode::DebitAccountNotFound => {
            Err(ClearingError::ParticipantNotFound { participant: payer })
        }
        ResultCode::CreditAccountNotFound => {
            Err(ClearingError::ParticipantNotFound { participant: payee })
        }
        ResultCode::DebitAccountFrozen => {
            Err(ClearingError::ParticipantSuspended { participant: payer })
        }
        ResultCode::CreditAccountFrozen => {
            Err(ClearingError::ParticipantSuspended { participant: payee })
        }
        other => Err(ClearingError::Ledger(other)),
    }
}

/// Posts a payment and waits until it is durable.
pub fn pay(engine: &Engine, payment: &Payment) -> Result<ResultCode, ClearingError> {
    let transfer = payment_transfer(payment)?;
    let result = engine.execute(vec![Command::CreateTransfer(transfer)])?[0];
    outcome(result, payment.payer, payment.payee)
}

/// The fixed id of refund `number` of `original`.
pub fn refund_id(original: u128, number: u8) -> u128 {
    let mut hasher = Sha256::new();
    hasher.update(b"suanpan clearing refund");
    hasher.update(original.to_le_bytes());
    hasher.update([number]);
    let digest: [u8; 32] = hasher.finalize().into();
    let mut low = [0u8; 16];
    low[..11].copy_from_slice(&digest[..11]);
    ROOM_TAG | REFUND | u128::from_le_bytes(low)
}

/// What a refund of `original` is allowed to be: its parties, and what is left of it.
struct Refundable {
    payer: u16,
    payee: u16,
    left_fen: u64,
    /// Refund `number` if it is already committed.
    taken: Option<FoundTransfer>,
}

fn refundable(engine: &Engine, r: &Refund) -> Result<Refundable, ClearingError> {
    let mut ids = vec![r.original];
    ids.extend((0..=r.number).map(|k| refund_id(r.original, k)));
    let found = engine.lookup_transfers(ids)?;
    let original = found[0].ok_or(ClearingError::OriginalNotFound { id: r.original })?;
    let kind = TransactionKind::from_code(original.code);
    let parties = (
        participant_of_position(original.debit_account_id),
        participant_of_position(original.credit_account_id),
    );
    let (Some(payer), Some(payee)) = parties else {
        return Err(ClearingError::OriginalNotRefundable { id: r.original });
    };
    if kind.is_none() || kind == Some(TransactionKind::Refund) || original.flags.0 != 0 {
        return Err(ClearingError::OriginalNotRefundable { id: r.original });
    }
    let mut left_fen = original.amount;
    for (k, earlier) in found[1..=usize::from(r.number)].iter().enumerate() {
        let Some(earlier) = earlier else {
            return Err(ClearingError::RefundNumberOutOfOrder {
                original: r.original,
                number: r.number,
                next: k as u8,
            });
        };
        left_fen = left_fen.checked_sub(earlier.amount).ok_or_else(|| {
            ClearingError::Corrupt(format!("refunds of {} exceed it", r.original))
        })?;
    }
    Ok(Refundable {
        payer,
        payee,
        left_fen,
        taken: found[usize::from(r.number) + 1],
    })
}

/// Refunds (part of) a payment to its original payer. Returns the refund's id and `ok`, or
/// `exists` when this very refund was already made.
pub fn refund(engine: &Engine, r: &Refund) -> Result<(u128, ResultCode), ClearingError> {
    if r.amount_fen == 0 {
        return Err(ClearingError::AmountMustNotBeZero);
    }
    if r.number >= REFUNDS_PER_ORIGINAL_MAX {
        return Err(ClearingError::RefundNumberOutOfOrder {
            original: r.original,
            number: r.number,
            next: REFUNDS_PER_ORIGINAL_MAX,
        });
    }
    let id = refund_id(r.original, r.number);
    let refundable = refundable(engine, r)?;
    if let Some(taken) = refundable.taken {
        return if taken.amount == r.amount_fen {
            Ok((id, ResultCode::Exists))
        } else {
            Err(ClearingError::RefundNumberTaken {
                original: r.original,
                number: r.number,
            })
        };
    }
    if r.amount_fen > refundable.left_fen {
        return Err(ClearingError::RefundExceedsOriginal {
            original: r.original,
            left_fen: refundable.left_fen,
        });
    }
    let original_text = r.original.to_string();
    let transfer = Transfer {
        code: TransactionKind::Refund.code(),
        // The original's id, so statements and the transfers view show what was refunded.
        reference: Reference::new(original_text.as_bytes()).unwrap_or(Reference::EMPTY),
        flags: TransferFlags(0),
        ..Transfer::new(
            id,
            position_account_id(refundable.payee),
            position_account_id(refundable.payer),
            r.amount_fen,
            CLEARING_CURRENCY,
        )
    };
    let result = engine.execute(vec![Command::CreateTransfer(transfer)])?[0];
    match result {
        // Another refund took this number between the look-up and now.
        ResultCode::ExistsWithDifferentAmount => Err(ClearingError::RefundNumberTaken {
            original: r.original,
            number: r.number,
        }),
        other => outcome(other, refundable.payee, refundable.payer).map(|code| (id, code)),
    }
}
