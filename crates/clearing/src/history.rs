//! Reading a clearing batch back from the journal: the transactions committed between the cut
//! of the batch before and the batch's own cut, decoded from the journal's binary batches (the
//! hash chain checked on the way). The journal is the truth, so a batch can be cleared again
//! at any time and gives the same figures.

use std::path::Path;
use std::sync::mpsc;

use suanpan_journal::{Journal, JournalError, JournalLocation, StoredBatch};
use suanpan_ledger::{Command, Reference, ResultCode, Stamped};

use crate::accounts::{cut_transfer_id, is_room_id, participant_of_position, CODE_CUT};
use crate::cuts::CutIndex;
use crate::{ClearingError, FeeSchedule, Netting, TransactionKind, TransactionLine};

/// Most transactions one batch may hold (about 50 bytes each in memory while it is cleared).
pub const BATCH_TRANSACTIONS_MAX: usize = 50_000_000;

/// Where a batch lies in the engine's sequence.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BatchBounds {
    pub batch: u64,
    /// The journal batch holding the cut of the batch before (0 for the first batch).
    pub first_seq: u64,
    /// The journal batch holding this batch's cut.
    pub last_seq: u64,
    /// Engine time of the cut before (0 for the first batch) and of this batch's cut.
    pub opened_at_ns: u64,
    pub closed_at_ns: u64,
}

/// A closed batch, read and netted.
pub struct ClearedBatch {
    pub bounds: BatchBounds,
    /// In sequence order.
    pub lines: Vec<TransactionLine>,
    /// `references[line.reference]`; index 0 is the empty reference.
    pub references: Vec<Reference>,
    pub netting: Netting,
}

/// Follows the sequence and picks out batch `batch`'s transactions. Pure: fed commands in
/// sequence order, it decides membership by the cut transfers alone.
pub(crate) struct BatchScan {
    pub bounds: BatchBounds,
    inside: bool,
    pub closed: bool,
    fees: FeeSchedule,
}

impl BatchScan {
    pub fn new(batch: u64, fees: FeeSchedule) -> BatchScan {
        BatchScan {
            bounds: BatchBounds {
                batch,
                ..BatchBounds::default()
            },
            inside: batch == 1,
            closed: false,
            fees,
        }
    }

    /// Looks at one committed command; returns the transaction line if it is one of the batch.
    pub fn feed(
        &mut self,
        seq: u64,
        stamped: &Stamped,
        result: ResultCode,
    ) -> Result<Option<(TransactionLine, Reference)>, ClearingError> {
        let Command::CreateTransfer(t) = &stamped.command else {
            return Ok(None);
        };
        if result != ResultCode::Ok || self.closed {
            return Ok(None);
        }
        if t.code == CODE_CUT && is_room_id(t.id) {
            let batch = self.bounds.batch;
            if t.id == cut_transfer_id(batch) {
                if !self.inside {
                    return Err(ClearingError::Corrupt(format!(
                        "the cut of batch {batch} comes before the cut of batch {}",
                        batch - 1
                    )));
                }
                self.closed = true;
                self.bounds.last_seq = seq;
                self.bounds.closed_at_ns = stamped.timestamp;
            } else if batch > 1 && t.id == cut_transfer_id(batch - 1) {
                self.inside = true;
                self.bounds.first_seq = seq;
                self.bounds.opened_at_ns = stamped.timestamp;
            }
            return Ok(None);
        }
        if !self.inside || t.flags.0 & !suanpan_ledger::TransferFlags::LINKED != 0 {
            return Ok(None);
        }
        let (Some(kind), Some(payer), Some(payee)) = (
            TransactionKind::from_code(t.code),
            participant_of_position(t.debit_account_id),
            participant_of_position(t.credit_account_id),
        ) else {
            return Ok(None);
        };
        let line = TransactionLine {
            id: t.id,
            timestamp_ns: stamped.timestamp,
            amount_fen: t.amount,
            fee_fen: self.fees.fee_fen(kind, t.amount),
            payer,
            payee,
            kind,
            reference: 0,
        };
        Ok(Some((line, t.reference)))
    }
}

/// Journal batches decoded ahead of the scan: the reader thread decodes while the caller's
/// thread scans and nets, so both cores work.
const READ_AHEAD_BATCHES: usize = 8;

/// Reads closed batch `batch` from the journal in `data_dir` and nets it.
pub fn read_batch(
    data_dir: &Path,
    batch: u64,
    fees: FeeSchedule,
) -> Result<ClearedBatch, ClearingError> {
    read_batch_at(
        &JournalLocation::Sqlite(data_dir.to_path_buf()),
        data_dir,
        batch,
        fees,
    )
}

/// Reads closed batch `batch` from the journal at `journal` (the cut index lives in
/// `data_dir`) and nets it.
pub fn read_batch_at(
    journal: &JournalLocation,
    data_dir: &Path,
    batch: u64,
    fees: FeeSchedule,
) -> Result<ClearedBatch, ClearingError> {
    if batch == 0 {
        return Err(ClearingError::BatchNotFound { batch });
    }
    let mut cuts = CutIndex::load(data_dir);
    let after = cuts.read_after(batch);
    let cleared = match read_batch_after(journal, batch, fees, after) {
        // A stale index (pointing past the cut before, or past the journal): from the start.
        Err(e) if after > 0 && !matches!(e, ClearingError::BatchNotClosed { .. }) => {
            read_batch_after(journal, batch, fees, 0)?
        }
        other => other?,
    };
    if batch > 1 {
        cuts.record(batch - 1, cleared.bounds.first_seq);
    }
    cuts.record(batch, cleared.bounds.last_seq);
    // The index only saves time: a data directory that cannot take it still clears.
    let _ = cuts.save();
    Ok(cleared)
}

fn read_batch_after(
    journal: &JournalLocation,
    batch: u64,
    fees: FeeSchedule,
    after: u64,
) -> Result<ClearedBatch, ClearingError> {
    let journal = Journal::open_read_only(journal)?;
    let mut scan = BatchScan::new(batch, fees);
    let mut cleared = ClearedBatch {
        bounds: BatchBounds::default(),
        lines: Vec::new(),
        references: vec![Reference::EMPTY],
        netting: Netting::new(),
    };
    let (decoded, to_scan) = mpsc::sync_channel::<StoredBatch>(READ_AHEAD_BATCHES);
    let read = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            journal.for_each_batch_after(after, |stored| {
                // A closed channel: the scan has found the batch's cut and needs no more.
                decoded
                    .send(stored)
                    .map_err(|_| JournalError::Io(String::new()))
            })
        });
        let scanned = scan_batches(&to_scan, &mut scan, &mut cleared);
        drop(to_scan);
        let read = reader.join().unwrap_or_else(|_| {
            Err(JournalError::Io(
                "the journal reader thread panicked".into(),
            ))
        });
        scanned.map(|()| read)
    })?;
    match read {
        Ok(()) => {}
        Err(JournalError::Io(stop)) if stop.is_empty() && scan.closed => {}
        Err(e) => return Err(e.into()),
    }
    if !scan.closed {
        return Err(if scan.inside {
            ClearingError::BatchNotClosed { batch }
        } else {
            ClearingError::BatchNotFound { batch }
        });
    }
    cleared.bounds = scan.bounds;
    Ok(cleared)
}

/// Feeds the journal's batches to the scan until the batch's cut, gathering its lines.
fn scan_batches(
    batches: &mpsc::Receiver<StoredBatch>,
    scan: &mut BatchScan,
    cleared: &mut ClearedBatch,
) -> Result<(), ClearingError> {
    for stored in batches {
        for (stamped, &result) in stored.commands.iter().zip(&stored.results) {
            let Some((mut line, reference)) = scan.feed(stored.seq, stamped, result)? else {
                if scan.closed {
                    return Ok(());
                }
                continue;
            };
            if cleared.lines.len() == BATCH_TRANSACTIONS_MAX {
                return Err(ClearingError::BatchTooLarge {
                    batch: scan.bounds.batch,
                    max: BATCH_TRANSACTIONS_MAX,
                });
            }
            if !reference.as_bytes().is_empty() {
                line.reference = cleared.references.len() as u32;
                cleared.references.push(reference);
            }
            cleared.netting.add(&line);
            cleared.lines.push(line);
        }
    }
    Ok(())
}

/// Reads batch `batch` and checks its netting: net positions sum to zero, counts agree.
pub fn clear_batch(
    data_dir: &Path,
    batch: u64,
    fees: FeeSchedule,
) -> Result<ClearedBatch, ClearingError> {
    clear_batch_at(
        &JournalLocation::Sqlite(data_dir.to_path_buf()),
        data_dir,
        batch,
        fees,
    )
}

/// [`clear_batch`] for the journal at `journal`.
pub fn clear_batch_at(
    journal: &JournalLocation,
    data_dir: &Path,
    batch: u64,
    fees: FeeSchedule,
) -> Result<ClearedBatch, ClearingError> {
    let cleared = read_batch_at(journal, data_dir, batch, fees)?;
    cleared
        .netting
        .check()
        .map_err(|e| ClearingError::Corrupt(format!("batch {batch}: {e}")))?;
    Ok(cleared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::position_account_id;
    use crate::CLEARING_CURRENCY;
    use proptest::prelude::*;
    use suanpan_ledger::Transfer;

    fn cut(batch: u64) -> Command {
        crate::batch::cut_transfer(batch)
    }

    fn payment(id: u128, payer: u16, payee: u16) -> Command {
        Command::CreateTransfer(Transfer {
            code: TransactionKind::Payout.code(),
            ..Transfer::new(
                id,
                position_account_id(payer),
                position_account_id(payee),
                100,
                CLEARING_CURRENCY,
            )
        })
    }

    /// A sequence of payments with `cuts` cuts spread through it; some payments rejected.
    fn sequence() -> impl Strategy<Value = (Vec<(Stamped, ResultCode)>, u64)> {
        prop::collection::vec((0u8..10, 1u16..5, 1u16..5, any::<bool>()), 1..200).prop_map(|raw| {
            let mut cuts = 0;
            let mut stream = Vec::new();
            for (i, (roll, a, b, rejected)) in raw.into_iter().enumerate() {
                let command = if roll == 0 {
                    cuts += 1;
                    cut(cuts)
                } else {
                    payment(i as u128 + 1, a, if a == b { a % 4 + 1 } else { b })
                };
                let result = if rejected && roll != 0 {
                    ResultCode::ExceedsCredits
                } else {
                    ResultCode::Ok
                };
                stream.push((
                    Stamped {
                        timestamp: i as u64 + 1,
                        command,
                    },
                    result,
                ));
            }
            (stream, cuts)
        })
    }

    fn scan(stream: &[(Stamped, ResultCode)], batch: u64) -> (Vec<u128>, bool) {
        let mut scan = BatchScan::new(batch, FeeSchedule::default());
        let ids = stream
            .iter()
            .filter_map(|(s, r)| scan.feed(1, s, *r).ok().flatten())
            .map(|(line, _)| line.id)
            .collect();
        (ids, scan.closed)
    }

    proptest! {
        #[test]
        fn every_committed_transaction_is_in_exactly_one_batch((stream, cuts) in sequence()) {
            let mut seen = Vec::new();
            for batch in 1..=cuts {
                let (ids, closed) = scan(&stream, batch);
                prop_assert!(closed);
                seen.extend(ids);
            }
            let (open, closed) = scan(&stream, cuts + 1);
            prop_assert!(!closed);
            seen.extend(open);
            let mut committed: Vec<u128> = stream.iter()
                .filter(|(s, r)| *r == ResultCode::Ok
                    && matches!(s.command, Command::CreateTransfer(t) if t.code != CODE_CUT))
                .map(|(s, _)| match s.command { Command::CreateTransfer(t) => t.id, _ => 0 })
                .collect();
            seen.sort_unstable();
            committed.sort_unstable();
            prop_assert_eq!(seen, committed);
        }
    }

    #[test]
    fn a_cut_out_of_order_is_refused() {
        let mut scan = BatchScan::new(3, FeeSchedule::default());
        let early = Stamped {
            timestamp: 1,
            command: cut(3),
        };
        assert!(scan.feed(1, &early, ResultCode::Ok).is_err());
    }
}
