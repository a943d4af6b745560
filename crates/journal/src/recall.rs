//! Reading past transfers back from the journal for the ledger, and applying batches with
//! them: the prefetch that lets the ledger keep only its window in memory and stay pure.
//!
//! Before a segment of commands is applied, [`apply_segment`] lets the ledger drop what fell
//! out of its window (the entries go to the [`PastIndex`]), asks it which ids it may need from
//! the past, reads those transfers back from the journal as they stood just before the
//! segment, and hands them over. The engine, recovery and a standby all apply through it, so
//! they decide alike.

use suanpan_ledger::{Command, Ledger, PastTransfer, PendingStatus, ResultCode, Stamped};

use crate::past::PastIndex;
use crate::JournalError;

/// A stored batch as a recall reads it. A body of the second form (layout.rs) is kept as
/// it was read and searched in place: its transfer records are fixed-width and in command
/// order, so finding one old transfer reads one record, not the whole batch. A body of the
/// first form is decoded whole.
pub enum BatchCommands {
    Records {
        seq: u64,
        body: Vec<u8>,
        results: Vec<u8>,
        first: u64,
        commands: usize,
    },
    Decoded {
        commands: Vec<Stamped>,
        results: Vec<ResultCode>,
    },
}

impl BatchCommands {
    /// The timestamps of the first and last commands (a batch's commands are stamped one
    /// nanosecond apart).
    fn span(&self) -> Option<(u64, u64)> {
        match self {
            BatchCommands::Records {
                first, commands, ..
            } => (*commands > 0).then(|| (*first, first + *commands as u64 - 1)),
            BatchCommands::Decoded { commands, .. } => {
                Some((commands.first()?.timestamp, commands.last()?.timestamp))
            }
        }
    }

    /// The command stamped `timestamp` and its result, if the batch holds it.
    fn at(&self, timestamp: u64) -> Result<Option<(Command, ResultCode)>, JournalError> {
        let Some((first, last)) = self.span() else {
            return Ok(None);
        };
        if timestamp < first || timestamp > last {
            return Ok(None);
        }
        let i = (timestamp - first) as usize;
        match self {
            BatchCommands::Records {
                seq, body, results, ..
            } => {
                let bad = |e: String| JournalError::Corrupt(format!("batch {seq}: {e}"));
                let result = results
                    .get(i)
                    .and_then(|&r| ResultCode::from_u8(r))
                    .ok_or_else(|| bad(format!("no result for command {i}")))?;
                match crate::layout::transfer_at(body, i).map_err(bad)? {
                    Some(t) => Ok(Some((Command::CreateTransfer(t), result))),
                    // Not a transfer (a recall asks for transfers; this is the rare rest).
                    None => {
                        let (_, commands) = crate::record::decode_batch(body).map_err(bad)?;
                        Ok(commands.get(i).map(|c| (c.command, result)))
                    }
                }
            }
            BatchCommands::Decoded { commands, results } => Ok(commands
                .get(i)
                .filter(|c| c.timestamp == timestamp)
                .and_then(|c| Some((c.command, *results.get(i)?)))),
        }
    }
}

/// Where committed batches are read back from, by sequence number.
pub trait BatchSource {
    /// The last committed batch (0: none).
    fn last_seq(&self) -> Result<u64, JournalError>;
    /// The timestamp of batch `seq`'s first command.
    fn first_timestamp(&self, seq: u64) -> Result<Option<u64>, JournalError>;
    /// Batch `seq`'s commands and results.
    fn read_batch(&self, seq: u64) -> Result<Option<BatchCommands>, JournalError>;
}

/// How much of history the ledger keeps in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Most transfers kept in memory between batches.
    pub window: usize,
    /// Bytes of the filter of past ids (fixed for the ledger's life once made).
    pub filter_bytes: usize,
}

impl Retention {
    /// Everything in memory, as a ledger made with `Ledger::new`: for reading a whole
    /// journal (verify), where nothing may depend on an index of past transfers.
    pub const ALL: Retention = Retention {
        window: suanpan_ledger::WINDOW_MAX,
        filter_bytes: 0,
    };

    pub fn new_ledger(&self, limits: suanpan_ledger::TierLimits) -> Ledger {
        Ledger::with_window(limits, self.window, self.filter_bytes)
    }

    /// Where recovery starts: the snapshot's ledger (after batch `.1`, at time `.2`) with
    /// this window, or a new ledger before the first batch.
    pub(crate) fn starting_point(
        &self,
        snapshot: Option<(Ledger, u64, u64)>,
        limits: suanpan_ledger::TierLimits,
    ) -> (Ledger, u64, u64) {
        let (mut ledger, seq, timestamp) =
            snapshot.unwrap_or_else(|| (self.new_ledger(limits), 0, 0));
        ledger.set_window(self.window);
        (ledger, seq, timestamp)
    }
}

/// The index of past transfers and the journal it points into.
pub struct History<'a> {
    pub index: &'a mut PastIndex,
    pub source: &'a dyn BatchSource,
    pub recaller: &'a mut Recaller,
}

/// Applies one segment (what the engine applied with one `Ledger::apply`) of the batch whose
/// first command is stamped `batch_start`, with the past transfers it names read back first.
pub fn apply_segment(
    ledger: &mut Ledger,
    commands: &[Stamped],
    batch_start: u64,
    results: &mut Vec<ResultCode>,
    history: Option<&mut History<'_>>,
) -> Result<(), JournalError> {
    let wanted = ledger.history_wanted(commands, batch_start);
    let left = ledger.take_left();
    match history {
        Some(h) => {
            h.index.add(&left)?;
            if !wanted.is_empty() {
                let before = commands.first().map_or(u64::MAX, |c| c.timestamp);
                let past = h.recaller.recall(h.index, &wanted, before, h.source)?;
                ledger.provide_history(past);
            }
        }
        None if wanted.is_empty() && left.is_empty() => {}
        None => {
            return Err(JournalError::Corrupt(
                "transfers left the ledger's memory but there is no index of past transfers to find them in".into(),
            ))
        }
    }
    ledger.apply(commands, results);
    Ok(())
}

/// Reads past transfers from the journal, remembering the last few batches it read (a
/// resubmitted request names transfers of a few old batches, one after another: with one
/// batch remembered, a quarter of the look-ups of an interleaved resubmission read again).
#[derive(Default)]
pub struct Recaller {
    /// Newest last; at most [`BATCHES_CACHED`].
    cached: Vec<BatchCommands>,
    /// Batches read from the journal: for tests and `/metrics`.
    pub batches_read: u64,
}

/// Batches a [`Recaller`] remembers: a few MiB of bodies, or some 10 MiB of decoded commands,
/// at most.
const BATCHES_CACHED: usize = 16;

/// Longest a recall waits for the batch of a transfer that left memory to be committed (the
/// engine applies a batch while the one before is being written).
const UNCOMMITTED_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);

impl Recaller {
    /// The transfers among `ids` committed before engine time `before`.
    pub fn recall(
        &mut self,
        index: &PastIndex,
        ids: &[u128],
        before: u64,
        source: &dyn BatchSource,
    ) -> Result<Vec<PastTransfer>, JournalError> {
        let mut out = Vec::new();
        for &id in ids {
            let slot = index.find(id)?.before(before);
            if slot.transfer == 0 {
                continue;
            }
            let mut transfer = self.transfer_at(slot.transfer, id, source)?;
            if transfer.flags.resolves_pending() {
                // What a post or void moved is its pending transfer's accounts, and its
                // amount unless it named a smaller one.
                let pending_slot = index.find(transfer.pending_id)?.before(before);
                if pending_slot.transfer == 0 {
                    return Err(JournalError::Corrupt(format!(
                        "transfer {id} resolved {}, which the index of past transfers does not hold",
                        transfer.pending_id
                    )));
                }
                let pending =
                    self.transfer_at(pending_slot.transfer, transfer.pending_id, source)?;
                transfer.debit_account_id = pending.debit_account_id;
                transfer.credit_account_id = pending.credit_account_id;
                if transfer.amount == 0 {
                    transfer.amount = pending.amount;
                }
            }
            let status = if slot.resolution != 0 {
                let by = self.command_at(slot.resolution, source)?;
                match by {
                    (Command::CreateTransfer(r), ResultCode::Ok) if r.flags.post_pending() => {
                        PendingStatus::Posted
                    }
                    (Command::CreateTransfer(r), ResultCode::Ok) if r.flags.void_pending() => {
                        PendingStatus::Voided
                    }
                    _ => {
                        return Err(JournalError::Corrupt(format!(
                            "the index of past transfers says {id} was resolved at {}, where the journal has no post or void",
                            slot.resolution
                        )))
                    }
                }
            } else {
                PendingStatus::Expired
            };
            out.push(PastTransfer { transfer, status });
        }
        Ok(out)
    }

    fn transfer_at(
        &mut self,
        timestamp: u64,
        id: u128,
        source: &dyn BatchSource,
    ) -> Result<suanpan_ledger::Transfer, JournalError> {
        match self.command_at(timestamp, source)? {
            (Command::CreateTransfer(t), ResultCode::Ok) if t.id == id => Ok(t),
            _ => Err(JournalError::Corrupt(format!(
                "the index of past transfers puts {id} at {timestamp}, where the journal has another command"
            ))),
        }
    }

    /// The command stamped `timestamp`, and its result.
    fn command_at(
        &mut self,
        timestamp: u64,
        source: &dyn BatchSource,
    ) -> Result<(Command, ResultCode), JournalError> {
        if let Some(found) = self.cached_at(timestamp)? {
            return Ok(found);
        }
        let waited = std::time::Instant::now();
        let (seq, read) = loop {
            match batch_holding(timestamp, source)? {
                Some(found) => break found,
                None if waited.elapsed() < UNCOMMITTED_WAIT_MAX => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                None => {
                    return Err(JournalError::Corrupt(format!(
                        "no committed batch holds the command at {timestamp}"
                    )))
                }
            }
        };
        let read = match read {
            Some(read) => Some(read),
            None => source.read_batch(seq)?,
        };
        let Some(batch) = read else {
            return Err(JournalError::Corrupt(format!("batch {seq} cannot be read")));
        };
        self.batches_read += 1;
        let found = batch.at(timestamp)?;
        if self.cached.len() >= BATCHES_CACHED {
            self.cached.remove(0);
        }
        self.cached.push(batch);
        found.ok_or_else(|| {
            JournalError::Corrupt(format!("batch {seq} has no command at {timestamp}"))
        })
    }

    fn cached_at(&self, timestamp: u64) -> Result<Option<(Command, ResultCode)>, JournalError> {
        for batch in self.cached.iter().rev() {
            if let Some(found) = batch.at(timestamp)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// The batch whose commands include `timestamp`, if it is committed: the last batch whose
/// first command is not after it (timestamps increase with the sequence), found by bisection;
/// with its commands when they had to be read to tell.
fn batch_holding(
    timestamp: u64,
    source: &dyn BatchSource,
) -> Result<Option<(u64, Option<BatchCommands>)>, JournalError> {
    let last = source.last_seq()?;
    let (mut lo, mut hi) = (1u64, last);
    let mut found = None;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match source.first_timestamp(mid)? {
            Some(first) if first <= timestamp => {
                found = Some(mid);
                lo = mid + 1;
            }
            Some(_) => hi = mid - 1,
            None => return Err(JournalError::Corrupt(format!("batch {mid} is missing"))),
        }
    }
    let Some(seq) = found else {
        return Ok(None);
    };
    if seq == last {
        // The newest batch: the command may belong to one still being committed after it.
        let Some(batch) = source.read_batch(seq)? else {
            return Ok(None);
        };
        if batch.span().is_none_or(|(_, last)| last < timestamp) {
            return Ok(None);
        }
        return Ok(Some((seq, Some(batch))));
    }
    Ok(Some((seq, None)))
}

/// A stored batch as a recall reads it (the chain is verify's to check): a second-form body
/// as it is, a first-form one decoded.
pub(crate) fn decode_stored(
    seq: u64,
    body: Vec<u8>,
    results: Vec<u8>,
) -> Result<BatchCommands, JournalError> {
    let bad = |e: String| JournalError::Corrupt(format!("batch {seq}: {e}"));
    if crate::layout::is_second_form(&body) {
        let (first, commands) = crate::layout::span(&body).map_err(bad)?;
        if results.len() != commands {
            return Err(bad(format!(
                "{commands} commands but {} results",
                results.len()
            )));
        }
        return Ok(BatchCommands::Records {
            seq,
            body,
            results,
            first,
            commands,
        });
    }
    let (_, commands) = crate::record::decode_batch(&body).map_err(bad)?;
    let results = crate::record::decode_results(&results).map_err(bad)?;
    Ok(BatchCommands::Decoded { commands, results })
}
