//! A batch on its way into the journal and back out of it: the types both backends share.

use std::io::{self, Read};

use sha2::{Digest, Sha256};
use suanpan_ledger::{Account, AccountStatus, AccountingDate, Ledger, ResultCode, Stamped};

use crate::record::{chain_hash, encode_results};
use crate::rows::{pending_rows, PendingRow};
use crate::JournalError;

/// A post or void transfer as it actually happened: the pending transfer's accounts, and the
/// amount posted or released (the command may leave them zero).
#[derive(Clone, Copy, Debug)]
pub struct Resolved {
    pub command: u32,
    pub debit_account_id: u128,
    pub credit_account_id: u128,
    pub amount: u64,
}

/// One batch as the engine applied it.
pub struct AppliedBatch {
    pub seq: u64,
    /// How the commands were cut for `Ledger::apply` (see [`crate::encode_batch`]).
    pub segments: Vec<u32>,
    /// The accounting date in force when the batch began (a cutover inside it moves it on).
    pub accounting_date: AccountingDate,
    pub commands: Vec<Stamped>,
    pub results: Vec<ResultCode>,
    /// When present: every account changed since the last batch that carried accounts, as it
    /// stands after this batch.
    pub accounts: Option<AccountChanges>,
    pub resolved: Vec<Resolved>,
}

/// Accounts changed since the accounts table was last written, by index in ascending order.
#[derive(Default)]
pub struct AccountChanges {
    /// Accounts opened since: their whole row.
    pub opened: Vec<(u32, Account)>,
    /// Accounts already in the table: only what can change.
    pub changed: Vec<AccountBalances>,
}

impl AccountChanges {
    /// Every account as a whole row: rewrites the accounts table when a writer that stopped
    /// uncleanly left it behind the journal.
    pub fn all(ledger: &Ledger) -> AccountChanges {
        AccountChanges {
            opened: ledger
                .accounts()
                .iter()
                .enumerate()
                .map(|(i, a)| (i as u32, *a))
                .collect(),
            changed: Vec::new(),
        }
    }
}

/// The part of an account row that changes after it is opened.
pub struct AccountBalances {
    pub index: u32,
    pub status: AccountStatus,
    pub debits_posted: u128,
    pub credits_posted: u128,
    pub debits_pending: u128,
    pub credits_pending: u128,
}

impl AccountBalances {
    pub fn of(index: u32, a: &Account) -> AccountBalances {
        AccountBalances {
            index,
            status: a.status,
            debits_posted: a.debits_posted,
            credits_posted: a.credits_posted,
            debits_pending: a.debits_pending,
            credits_pending: a.credits_pending,
        }
    }
}

/// An applied batch ready for the journal: encoded and chained where the batch is made (the
/// engine's writer), so the thread that writes to disk only writes.
pub struct CommitBatch {
    applied: AppliedBatch,
    pub(crate) prev_hash: [u8; 32],
    pub(crate) hash: [u8; 32],
    pub(crate) body: Vec<u8>,
    pub(crate) result_bytes: Vec<u8>,
    pub(crate) pending_rows: Vec<PendingRow>,
}

impl std::ops::Deref for CommitBatch {
    type Target = AppliedBatch;

    fn deref(&self) -> &AppliedBatch {
        &self.applied
    }
}

impl CommitBatch {
    /// Encodes the batch and chains it to `prev_hash` (the hash of batch `seq - 1`).
    pub fn seal(applied: AppliedBatch, prev_hash: &[u8; 32]) -> CommitBatch {
        let a = &applied;
        assert_eq!(a.commands.len(), a.results.len());
        let mut body = Vec::new();
        crate::layout::encode(&a.segments, &a.commands, &a.results, &a.resolved, &mut body);
        let result_bytes = encode_results(&a.results);
        let hash = chain_hash(prev_hash, a.seq, a.accounting_date, &body, &result_bytes);
        let pending_rows = pending_rows(&a.commands, &a.results);
        CommitBatch {
            applied,
            prev_hash: *prev_hash,
            hash,
            body,
            result_bytes,
            pending_rows,
        }
    }

    pub fn into_applied(self) -> AppliedBatch {
        self.applied
    }

    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

/// What recovery rebuilt.
pub struct Recovered {
    pub ledger: Ledger,
    /// The last committed batch (0 if none) and its hash.
    pub seq: u64,
    pub hash: [u8; 32],
    pub last_timestamp: u64,
    pub snapshot_seq: u64,
    pub replayed_batches: u64,
    pub replayed_commands: u64,
}

impl Recovered {
    /// Replays every batch after the snapshot (`ledger` as of batch `snapshot_seq`, whose hash
    /// is `snapshot_hash`) through the same `Ledger::apply`, checking that each gives the
    /// results the journal recorded. `for_each_after(seq, f)` reads the batches after `seq` in
    /// order from whichever backend holds them.
    pub(crate) fn replay(
        mut ledger: Ledger,
        snapshot_seq: u64,
        snapshot_timestamp: u64,
        snapshot_hash: [u8; 32],
        mut history: Option<crate::recall::History<'_>>,
        for_each_after: impl FnOnce(
            u64,
            &mut dyn FnMut(StoredBatch) -> Result<(), JournalError>,
        ) -> Result<(), JournalError>,
    ) -> Result<Recovered, JournalError> {
        ledger.restore_clock(snapshot_timestamp);
        let (mut seq, mut hash) = (snapshot_seq, snapshot_hash);
        let (mut replayed_batches, mut replayed_commands) = (0, 0);
        let mut results = Vec::new();
        for_each_after(snapshot_seq, &mut |batch| {
            results.clear();
            crate::record::apply_batch(
                &mut ledger,
                &batch.segments,
                &batch.commands,
                &mut results,
                history.as_mut(),
            )?;
            if results != batch.results {
                return Err(replay_mismatch(batch.seq, &results, &batch.results));
            }
            (seq, hash) = (batch.seq, batch.hash);
            replayed_batches += 1;
            replayed_commands += batch.commands.len() as u64;
            Ok(())
        })?;
        // The ledger's own clock: a batch of lookups alone records no timestamps.
        let last_timestamp = snapshot_timestamp.max(ledger.last_timestamp());
        Ok(Recovered {
            ledger,
            seq,
            hash,
            last_timestamp,
            snapshot_seq,
            replayed_batches,
            replayed_commands,
        })
    }
}

pub struct SnapshotInfo {
    pub seq: u64,
    pub last_timestamp: u64,
    pub state_hash: [u8; 32],
    pub bytes: u64,
    pub chunks: u32,
}

/// A batch as read back from the journal, its hash checked.
pub struct StoredBatch {
    pub seq: u64,
    pub segments: Vec<u32>,
    pub accounting_date: AccountingDate,
    pub commands: Vec<Stamped>,
    pub results: Vec<ResultCode>,
    /// Its place in the hash chain (checked when it was read).
    pub hash: [u8; 32],
    /// The hash of the batch before.
    pub(crate) prev_hash: [u8; 32],
    /// Its body is in the second form (layout.rs): the transfers are in it, not in
    /// `transfers_by_batch`.
    pub(crate) second_form: bool,
}

pub(crate) fn replay_mismatch(
    seq: u64,
    replayed: &[ResultCode],
    recorded: &[ResultCode],
) -> JournalError {
    let at = replayed
        .iter()
        .zip(recorded)
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    JournalError::Corrupt(format!(
        "batch {seq} command {at}: replay gives {} but the journal recorded {}",
        replayed.get(at).map_or("nothing", |r| r.as_str()),
        recorded.get(at).map_or("nothing", |r| r.as_str()),
    ))
}

/// Streams a snapshot's chunks, hashing them on the way: `next(n)` fetches chunk n from
/// whichever backend holds it (`None` past the last).
pub(crate) struct SnapshotChunks<F> {
    next: F,
    chunk: u32,
    buf: Vec<u8>,
    at: usize,
    pub hasher: Sha256,
    pub error: Option<JournalError>,
}

impl<F: FnMut(u32) -> Result<Option<Vec<u8>>, JournalError>> SnapshotChunks<F> {
    pub fn new(next: F) -> SnapshotChunks<F> {
        SnapshotChunks {
            next,
            chunk: 0,
            buf: Vec::new(),
            at: 0,
            hasher: Sha256::new(),
            error: None,
        }
    }

    /// Decodes the ledger of the snapshot after batch `seq`, checking its bytes against
    /// `expected` (the recorded SHA-256). `None`: the snapshot is of an older format, which
    /// recovery does without (it replays from the start).
    pub fn decode(mut self, seq: u64, expected: &[u8]) -> Result<Option<Ledger>, JournalError> {
        let ledger = Ledger::decode_snapshot(&mut io::BufReader::with_capacity(1 << 20, &mut self));
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let ledger = match ledger {
            Ok(ledger) => ledger,
            Err(suanpan_ledger::SnapshotError::Outdated) => return Ok(None),
            Err(e) => {
                return Err(JournalError::Corrupt(format!(
                    "snapshot after batch {seq}: {e}"
                )))
            }
        };
        if self.hasher.finalize().as_slice() != expected {
            return Err(JournalError::Corrupt(format!(
                "snapshot after batch {seq} does not match its hash"
            )));
        }
        Ok(Some(ledger))
    }

    /// The SHA-256 of all the chunks.
    pub fn digest(mut self) -> Result<Vec<u8>, JournalError> {
        io::copy(&mut self, &mut io::sink()).map_err(|e| JournalError::Io(e.to_string()))?;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(self.hasher.finalize().to_vec())
    }
}

impl<F: FnMut(u32) -> Result<Option<Vec<u8>>, JournalError>> Read for SnapshotChunks<F> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            match (self.next)(self.chunk) {
                Ok(Some(data)) => {
                    self.hasher.update(&data);
                    self.buf = data;
                    self.at = 0;
                    self.chunk += 1;
                }
                Ok(None) => return Ok(0),
                Err(e) => {
                    self.error = Some(e);
                    return Err(io::Error::other("snapshot chunk could not be read"));
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A `batches` row as both backends store it.
pub(crate) struct BatchRow<'r> {
    pub seq: u64,
    pub accounting_date: &'r str,
    pub body: &'r [u8],
    pub results: &'r [u8],
    pub hash: &'r [u8],
}

impl BatchRow<'_> {
    /// Decodes the row, checking its place in the sequence (`expected_seq`) and in the hash
    /// chain (`prev` is the hash of the batch before).
    pub fn decode(&self, expected_seq: u64, prev: &[u8; 32]) -> Result<StoredBatch, JournalError> {
        self.decode_or(expected_seq, prev, |batch| batch.altered())
    }

    /// What a broken chain at this batch says when nothing can say more.
    pub fn altered(&self) -> JournalError {
        JournalError::Corrupt(format!(
            "batch {}: hash does not match its contents or the batch before (history altered)",
            self.seq
        ))
    }

    /// As [`BatchRow::decode`], with `altered` saying what changed when the chain breaks here
    /// (an archived period can name the transfer: period.rs).
    pub fn decode_or(
        &self,
        expected_seq: u64,
        prev: &[u8; 32],
        altered: impl FnOnce(&BatchRow) -> JournalError,
    ) -> Result<StoredBatch, JournalError> {
        let seq = self.seq;
        if seq != expected_seq {
            return Err(JournalError::Corrupt(format!(
                "batch {expected_seq} is missing (next is {seq})"
            )));
        }
        let date = AccountingDate::parse(self.accounting_date).ok_or_else(|| {
            JournalError::Corrupt(format!(
                "batch {seq}: bad accounting date {:?}",
                self.accounting_date
            ))
        })?;
        let hash: [u8; 32] = self
            .hash
            .try_into()
            .map_err(|_| JournalError::Corrupt("a stored hash is not 32 bytes".into()))?;
        if chain_hash(prev, seq, date, self.body, self.results) != hash {
            return Err(altered(self));
        }
        let (segments, commands) = crate::record::decode_batch(self.body)
            .map_err(|e| JournalError::Corrupt(format!("batch {seq}: {e}")))?;
        let results = crate::record::decode_results(self.results)
            .map_err(|e| JournalError::Corrupt(format!("batch {seq}: {e}")))?;
        if commands.len() != results.len() {
            return Err(JournalError::Corrupt(format!(
                "batch {seq}: {} commands but {} results",
                commands.len(),
                results.len()
            )));
        }
        Ok(StoredBatch {
            seq,
            segments,
            accounting_date: date,
            commands,
            results,
            hash,
            prev_hash: *prev,
            second_form: crate::layout::is_second_form(self.body),
        })
    }
}
