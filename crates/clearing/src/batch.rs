//! Closing a clearing batch: a marker transfer in the engine's sequence.
//!
//! The batch boundary is fixed by the sequence itself, with no new kind of ledger command: the
//! cut of batch N is a 1-fen transfer between the room's two mark accounts with the fixed id
//! [`cut_transfer_id`]`(N)`. A transaction committed before it in the sequence belongs to batch
//! N, one after it to batch N + 1, and replay reproduces the same split. Two operators closing
//! at once both submit the cut of the same N: the ledger applies it once and answers the other
//! `exists`.

use suanpan_engine::Engine;
use suanpan_ledger::{Command, ResultCode, Transfer};

use crate::accounts::{
    cut_sink_account_id, cut_source_account_id, cut_transfer_id, open_room_accounts, CODE_CUT,
};
use crate::{ClearingError, CLEARING_CURRENCY};

/// Batches are numbered from 1; this many at most (one a second for 136 years).
pub const BATCHES_MAX: u64 = u32::MAX as u64;

/// The number of the last closed batch (0 if none): cuts are committed in order, so it is
/// found by doubling then bisecting over the ledger's transfer ids (about 2·log₂ N look-ups).
pub fn last_closed_batch(engine: &Engine) -> Result<u64, ClearingError> {
    let exists = |batch: u64| -> Result<bool, ClearingError> {
        Ok(engine.lookup_transfers(vec![cut_transfer_id(batch)])?[0].is_some())
    };
    let (mut closed, mut open) = (0u64, 1u64);
    while open <= BATCHES_MAX && exists(open)? {
        closed = open;
        open = open.saturating_mul(2);
    }
    // Invariant: `closed` is cut (or 0), `open` is not.
    while open - closed > 1 {
        let middle = closed + (open - closed) / 2;
        if exists(middle)? {
            closed = middle;
        } else {
            open = middle;
        }
    }
    Ok(closed)
}

/// The cut of `batch`: 1 fen from one mark account to the other, with the batch's fixed id.
pub(crate) fn cut_transfer(batch: u64) -> Command {
    Command::CreateTransfer(Transfer {
        code: CODE_CUT,
        ..Transfer::new(
            cut_transfer_id(batch),
            cut_source_account_id(),
            cut_sink_account_id(),
            1,
            CLEARING_CURRENCY,
        )
    })
}

/// Closes the open batch and returns its number.
pub fn close_batch(engine: &Engine) -> Result<u64, ClearingError> {
    let batch = last_closed_batch(engine)? + 1;
    if batch > BATCHES_MAX {
        return Err(ClearingError::BatchTooLarge {
            batch,
            max: BATCHES_MAX as usize,
        });
    }
    let cut = cut_transfer(batch);
    let mut result = engine.execute(vec![cut])?[0];
    if result == ResultCode::DebitAccountNotFound {
        // The first close on a fresh ledger: open the mark accounts with the cut.
        let mut commands = open_room_accounts();
        commands.push(cut);
        result = *engine.execute(commands)?.last().unwrap_or(&ResultCode::Ok);
    }
    match result {
        ResultCode::Ok | ResultCode::Exists => Ok(batch),
        other => Err(ClearingError::Ledger(other)),
    }
}
