//! Settlement (结算) of a cleared batch: who pays the settlement account how much, and, once
//! the settlement is confirmed, the postings that bring each position account back by its net.

use suanpan_engine::Engine;
use suanpan_ledger::{Command, ResultCode, Transfer, TransferFlags};

use crate::accounts::{
    position_account_id, settlement_account_id, settlement_transfer_id, CODE_SETTLEMENT,
};
use crate::{ClearedBatch, ClearingError, Netting, CLEARING_CURRENCY};

/// One participant's settlement for a batch: a net debtor pays, a net creditor receives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SettlementInstruction {
    pub participant: u16,
    /// Positive: the participant receives this much; negative: it pays.
    pub net_fen: i128,
}

/// Every participant whose net position is not zero, by number. They sum to zero.
pub fn settlement_instructions(netting: &Netting) -> Vec<SettlementInstruction> {
    netting
        .active_positions()
        .filter(|p| p.net_fen() != 0)
        .map(|p| SettlementInstruction {
            participant: p.participant,
            net_fen: p.net_fen(),
        })
        .collect()
}

/// Posts the settlement of `batch` once it is confirmed: a net debtor's settlement account pays
/// its position account back up by what it owed, a net creditor's position pays out what it is
/// owed. One linked chain, so all of it posts or none; ids are fixed per batch and participant,
/// so posting again answers `exists`. Returns the number of postings.
pub fn settle_batch(engine: &Engine, cleared: &ClearedBatch) -> Result<usize, ClearingError> {
    let batch = cleared.bounds.batch;
    let instructions = settlement_instructions(&cleared.netting);
    let mut commands = Vec::with_capacity(instructions.len());
    for (i, s) in instructions.iter().enumerate() {
        let amount = u64::try_from(s.net_fen.unsigned_abs()).map_err(|_| {
            ClearingError::Corrupt(format!(
                "participant {}'s net in batch {batch} exceeds one transfer",
                s.participant
            ))
        })?;
        let (position, settlement) = (
            position_account_id(s.participant),
            settlement_account_id(s.participant),
        );
        let (debit, credit) = if s.net_fen < 0 {
            (settlement, position)
        } else {
            (position, settlement)
        };
        let last = i + 1 == instructions.len();
        commands.push(Command::CreateTransfer(Transfer {
            code: CODE_SETTLEMENT,
            flags: TransferFlags(if last { 0 } else { TransferFlags::LINKED }),
            ..Transfer::new(
                settlement_transfer_id(batch, s.participant),
                debit,
                credit,
                amount,
                CLEARING_CURRENCY,
            )
        }));
    }
    if commands.is_empty() {
        return Ok(0);
    }
    let results = engine.execute(commands)?;
    match results
        .iter()
        .find(|r| !r.is_success() && **r != ResultCode::LinkedEventFailed)
    {
        None if results.iter().all(|r| r.is_success()) => Ok(results.len()),
        Some(&result) => Err(ClearingError::SettlementRefused { batch, result }),
        None => Err(ClearingError::SettlementRefused {
            batch,
            result: ResultCode::LinkedEventFailed,
        }),
    }
}
