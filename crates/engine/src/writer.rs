//! The writer thread: the only code that mutates the ledger.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use suanpan_journal::{
    apply_batch, apply_segment, resolutions, AccountBalances, AccountChanges, AppliedBatch,
    CommitBatch, History, Journal, PastIndex, Recaller, Recovered, SnapshotInfo, StoredBatch,
};
use suanpan_ledger::{Command, Ledger, ResultCode, Stamped};

use crate::clock::{today, Clock};
use crate::committer::{ToCommitter, Waiter};
use crate::engine::{CommittedBatch, PastReader, Request, Shared};
use crate::EngineConfig;

/// Longest the writer sleeps with nothing to do, so a deadline is never missed by more.
const IDLE_WAIT_MAX: Duration = Duration::from_millis(100);
/// Changed accounts gather and go to the accounts table at most every 250 ms (with the next
/// batch, or alone when the engine is idle), and never more often than ten times the last such
/// write took (with millions of accounts a write takes seconds). Writing them with every
/// batch would rewrite a page of the table per touched account per commit: at a few thousand
/// requests a second that is most of the bytes each fsync waits for.
const ACCOUNTS_WRITE_INTERVAL: Duration = Duration::from_millis(250);
const ACCOUNTS_WRITE_SPACING: u32 = 10;
/// The furthest the engine cuts over by itself when the calendar runs ahead of the books.
const AUTO_CUTOVER_DAYS_MAX: i32 = 31;

pub(crate) struct Writer {
    ledger: Ledger,
    seq: u64,
    /// Hash of batch `seq`, which the next batch chains to.
    hash: [u8; 32],
    clock: Clock,
    to_committer: SyncSender<ToCommitter>,
    shared: Arc<Shared>,
    batch_commands_max: usize,
    snapshot_commands_min: u64,
    snapshot_growth_factor: u64,
    snapshot_chunk_bytes: usize,
    snapshot_bytes_per_sec: u64,
    commands_since_snapshot: u64,
    /// Accounts and transfers in the ledger at the last snapshot (or at start).
    size_at_snapshot: u64,
    accounts_written_at: Instant,
    /// Accounts the accounts table holds a row for (indexes below this).
    accounts_in_table: usize,
    utc_offset_s: i32,
    auto_cutover: bool,
    /// Set once the refusal to cut over far ahead has been reported.
    cutover_refused: bool,
    /// Following the leader: no commands, no cutovers, expiries or snapshots of its own.
    standby: bool,
    /// Where transfers that left the ledger's memory are found again.
    past: PastIndex,
    /// The thread writing the last snapshot, while it runs.
    snapshotting: Option<std::thread::JoinHandle<()>>,
    recaller: Recaller,
    reader: Journal,
}

/// The ledger's tables' fill, for `/metrics` (a few stores a batch).
fn record_sizes(metrics: &crate::metrics::Metrics, ledger: &Ledger) {
    let store = |gauge: &AtomicU64, n: u64| gauge.store(n, Ordering::Relaxed);
    store(&metrics.ledger_accounts, ledger.accounts().len() as u64);
    store(
        &metrics.ledger_transfers,
        ledger.transfers_in_memory() as u64,
    );
    store(&metrics.ledger_window, ledger.window() as u64);
    store(&metrics.ledger_transfers_total, ledger.transfers_total());
    store(&metrics.ledger_pendings, ledger.pending_count() as u64);
    let (filter_bytes, filter_ids) = ledger.past_filter();
    store(&metrics.past_filter_bytes, filter_bytes as u64);
    store(&metrics.past_filter_ids, filter_ids);
}

/// The index of past transfers' size, for `/metrics`.
fn record_past(metrics: &crate::metrics::Metrics, past: &PastIndex, recaller: &Recaller) {
    let size = past.size();
    let store = |gauge: &AtomicU64, n: u64| gauge.store(n, Ordering::Relaxed);
    store(
        &metrics.past_index_entries,
        size.entries_on_disk + size.entries_in_memory,
    );
    store(&metrics.past_index_bytes, size.bytes_on_disk);
    store(&metrics.past_index_runs, size.runs);
    store(&metrics.past_batches_read, recaller.batches_read);
}

impl Writer {
    pub(crate) fn new(
        recovered: Recovered,
        config: &EngineConfig,
        to_committer: SyncSender<ToCommitter>,
        shared: Arc<Shared>,
        standby: bool,
        (past, reader): (PastIndex, Journal),
    ) -> Writer {
        let mut recovered = recovered;
        // Replay marks the accounts it touched as changed, but the accounts table is already
        // current (recovery rewrites it if a crash left it behind): nothing to send again.
        recovered.ledger.drain_touched(|_, _| {});
        record_sizes(&shared.metrics, &recovered.ledger);
        let recaller = Recaller::default();
        record_past(&shared.metrics, &past, &recaller);
        let size_at_snapshot = state_size(&recovered.ledger);
        Writer {
            size_at_snapshot,
            accounts_written_at: Instant::now(),
            // Recovery leaves the accounts table current.
            accounts_in_table: recovered.ledger.accounts().len(),
            ledger: recovered.ledger,
            seq: recovered.seq,
            hash: recovered.hash,
            clock: Clock::after(recovered.last_timestamp),
            to_committer,
            shared,
            batch_commands_max: config.batch_commands_max,
            snapshot_commands_min: config.snapshot_commands_min,
            snapshot_growth_factor: config.snapshot_growth_factor,
            snapshot_chunk_bytes: config.snapshot_chunk_bytes,
            snapshot_bytes_per_sec: config.snapshot_bytes_per_sec,
            // The replayed tail counts: a process that keeps restarting still snapshots.
            commands_since_snapshot: recovered.replayed_commands,
            utc_offset_s: config.utc_offset_s,
            auto_cutover: config.auto_cutover,
            cutover_refused: false,
            standby,
            past,
            snapshotting: None,
            recaller,
            reader,
        }
    }
}

/// What a snapshot's size follows: accounts and the transfers in memory.
fn state_size(ledger: &Ledger) -> u64 {
    (ledger.accounts().len() + ledger.transfers_in_memory()) as u64
}

pub(crate) fn run_writer(mut w: Writer, requests: Receiver<Request>) {
    if w.seq == 0 && !w.standby {
        // A new ledger starts on today's accounting date, by a command like any other.
        let date = today(w.utc_offset_s);
        let first = Batch {
            commands: vec![stamped(Command::Cutover { date })],
            waiters: Vec::new(),
        };
        if w.commit(first).is_err() {
            return;
        }
    }
    let mut carry: Option<Request> = None;
    let mut stopping = false;
    let mut failed = false;
    while !failed {
        let mut carried = carry.is_some();
        let first = match carry.take() {
            Some(request) => Some(request),
            None if stopping => match requests.try_recv() {
                Ok(request) => Some(request),
                Err(_) => break,
            },
            None => match requests.recv_timeout(w.idle_wait()) {
                Ok(request) => Some(request),
                Err(RecvTimeoutError::Timeout) if w.standby => None,
                Err(RecvTimeoutError::Timeout) => {
                    // Idle: what gathered goes now, alone, so the table catches up.
                    if let Some(accounts) = w.take_accounts() {
                        if w.to_committer
                            .send(ToCommitter::Accounts(accounts))
                            .is_err()
                        {
                            break;
                        }
                    }
                    None
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        let mut batch = Batch {
            commands: Vec::new(),
            waiters: Vec::new(),
        };
        if !w.standby {
            w.add_cutover(&mut batch);
            w.add_expiries(&mut batch);
        }
        let mut next = first;
        while let Some(request) = next.take() {
            if matches!(request, Request::Commands { .. } | Request::Read(_)) && !carried {
                w.shared.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
            }
            carried = false;
            match request {
                Request::Stop => stopping = true,
                Request::Commands { reply, .. } if w.standby => {
                    reply.send(Err(crate::EngineError::Standby));
                }
                // Replicated batches and the takeover go in order with the reads around
                // them: what was gathered before goes first.
                request @ (Request::Replicate(_) | Request::Promote { .. })
                    if !batch.waiters.is_empty() || !batch.commands.is_empty() =>
                {
                    carry = Some(request);
                    break;
                }
                Request::Replicate(batches) => {
                    if w.replicate(batches).is_err() {
                        failed = true;
                        break;
                    }
                }
                Request::Promote { epoch } => {
                    if w.promote(epoch).is_err() {
                        failed = true;
                        break;
                    }
                }
                Request::Commands { commands, reply } => {
                    if !batch.commands.is_empty()
                        && batch.commands.len() + commands.len() > w.batch_commands_max
                    {
                        carry = Some(Request::Commands { commands, reply });
                        break;
                    }
                    let start = batch.commands.len();
                    batch.commands.extend(commands.into_iter().map(stamped));
                    batch.waiters.push(Waiter::Commands {
                        reply,
                        start,
                        len: batch.commands.len() - start,
                    });
                }
                Request::Read(read) => {
                    batch.waiters.push(Waiter::Read {
                        read: Some(read),
                        answer: None,
                    });
                }
            }
            if batch.commands.len() >= w.batch_commands_max {
                break;
            }
            next = requests
                .try_recv()
                .map_err(|e| e == TryRecvError::Disconnected)
                .ok();
        }
        if batch.commands.is_empty() && batch.waiters.is_empty() {
            continue;
        }
        if batch.commands.is_empty() {
            if w.read_only(batch).is_err() {
                break;
            }
            continue;
        }
        if w.commit(batch).is_err() {
            break;
        }
        if !w.standby && w.snapshot_due() && w.snapshot().is_err() {
            break;
        }
    }
    w.finish_snapshot();
    // Leave the accounts table current (a standby has nothing to write). Whatever is still
    // queued is answered as stopped when its replier drops with the queue.
    if !w.standby {
        let accounts = w.drain_accounts();
        let _ = w.to_committer.send(ToCommitter::Accounts(accounts));
    }
    if let Some(why) = w
        .shared
        .failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        eprintln!("suanpan engine stopped: {why}");
    }
}

fn stamped(command: Command) -> Stamped {
    Stamped {
        timestamp: 0,
        command,
    }
}

pub(crate) struct Batch {
    commands: Vec<Stamped>,
    waiters: Vec<Waiter>,
}

impl Writer {
    /// A standby applies batches the leader committed, checking that its ledger gives the
    /// results the leader recorded.
    fn replicate(&mut self, batches: Vec<StoredBatch>) -> Result<(), ()> {
        let mut committed = Vec::with_capacity(batches.len());
        for b in batches {
            if b.seq != self.seq + 1 {
                self.shared.fail(format!(
                    "the standby is at batch {} but was given batch {}",
                    self.seq, b.seq
                ));
                return Err(());
            }
            let mut results = Vec::with_capacity(b.commands.len());
            let mut history = History {
                index: &mut self.past,
                source: &self.reader,
                recaller: &mut self.recaller,
            };
            if let Err(e) = apply_batch(
                &mut self.ledger,
                &b.segments,
                &b.commands,
                &mut results,
                Some(&mut history),
            ) {
                self.shared.fail(format!(
                    "replaying batch {} on the standby failed: {e}",
                    b.seq
                ));
                return Err(());
            }
            if results != b.results {
                self.shared.fail(format!(
                    "replaying batch {} on the standby gave other results than the leader recorded",
                    b.seq
                ));
                return Err(());
            }
            self.seq = b.seq;
            self.hash = b.hash;
            if self.seq == 1 {
                // A standby that followed from the start names the journal as a leader does.
                self.past.bind(self.hash);
            }
            self.commands_since_snapshot += b.commands.len() as u64;
            committed.push(Arc::new(CommittedBatch {
                seq: b.seq,
                accounting_date: b.accounting_date,
                commands: b.commands,
                results,
            }));
        }
        record_sizes(&self.shared.metrics, &self.ledger);
        record_past(&self.shared.metrics, &self.past, &self.recaller);
        self.to_committer
            .send(ToCommitter::Replicated(committed))
            .map_err(|_| ())
    }

    /// The standby holds the lease and has replayed the whole journal: it leads from here.
    fn promote(&mut self, epoch: u64) -> Result<(), ()> {
        self.standby = false;
        self.clock = Clock::after(self.ledger.last_timestamp());
        self.to_committer
            .send(ToCommitter::Promote {
                epoch,
                seq: self.seq,
                hash: self.hash,
            })
            .map_err(|_| ())?;
        // The leader before may have stopped with the accounts table behind: rewrite it whole.
        self.ledger.drain_touched(|_, _| {});
        let all = AccountChanges::all(&self.ledger);
        self.accounts_in_table = self.ledger.accounts().len();
        self.accounts_written_at = Instant::now();
        self.size_at_snapshot = state_size(&self.ledger);
        self.to_committer
            .send(ToCommitter::Accounts(all))
            .map_err(|_| ())?;
        let now_s = (crate::clock::wall_ns() / 1_000_000_000).max(1);
        self.shared.promoted_at_s.store(now_s, Ordering::Release);
        self.shared.epoch.store(epoch, Ordering::Release);
        self.shared.leading.store(true, Ordering::Release);
        eprintln!(
            "suanpan: took over the writer's lease at epoch {epoch}, after batch {}",
            self.seq
        );
        Ok(())
    }

    fn idle_wait(&self) -> Duration {
        match self.ledger.next_expiry() {
            Some((at, _)) => {
                Duration::from_nanos(at.saturating_sub(self.clock.now())).min(IDLE_WAIT_MAX)
            }
            None => IDLE_WAIT_MAX,
        }
    }

    /// Puts a cutover first when the calendar date of the books' zone has passed the
    /// accounting date: the day cutover is a command in the sequence like any other.
    ///
    /// One day at a time, so that every date gets closed; and never more than
    /// [`AUTO_CUTOVER_DAYS_MAX`] ahead of the books: a cutover cannot be undone, so a wall clock
    /// that jumps years ahead must not drag the books with it. Beyond that, an operator cuts
    /// over by command.
    fn add_cutover(&mut self, batch: &mut Batch) {
        let (calendar, books) = (today(self.utc_offset_s), self.ledger.accounting_date());
        if !self.auto_cutover || calendar <= books {
            return;
        }
        if calendar.0 - books.0 > AUTO_CUTOVER_DAYS_MAX {
            if !self.cutover_refused {
                eprintln!("suanpan: the calendar ({calendar}) is more than {AUTO_CUTOVER_DAYS_MAX} days past the books ({books}); not cutting over by itself");
                self.cutover_refused = true;
            }
            return;
        }
        batch
            .commands
            .push(stamped(Command::Cutover { date: books.next() }));
    }

    /// Puts an expiry command first for every pending transfer whose deadline has passed.
    fn add_expiries(&self, batch: &mut Batch) {
        let room = self.batch_commands_max / 2;
        for pending_id in self.ledger.expired_by(self.clock.now(), room) {
            batch
                .commands
                .push(stamped(Command::ExpirePending { pending_id }));
        }
    }

    /// Runs reads that came without commands and hands their answers to the committer, which
    /// sends them once the batches before are durable. No journal batch, no fsync.
    fn read_only(&mut self, mut batch: Batch) -> Result<(), ()> {
        for waiter in &mut batch.waiters {
            if let Waiter::Read { read, answer } = waiter {
                if let Some(read) = read.take() {
                    let mut past = PastReader {
                        index: &self.past,
                        recaller: &mut self.recaller,
                        source: &self.reader,
                    };
                    *answer = Some(read(&self.ledger, &mut past));
                }
            }
        }
        self.to_committer
            .send(ToCommitter::Reads(batch.waiters))
            .map_err(|_| ())
    }

    /// Stamps and applies a batch, then hands it to the committer (which answers the waiters).
    fn commit(&mut self, mut batch: Batch) -> Result<(), ()> {
        let count = batch.commands.len() as u64;
        let first = self.clock.stamp(count.max(1));
        for (i, stamped) in batch.commands.iter_mut().enumerate() {
            stamped.timestamp = first + i as u64;
        }
        let accounting_date = self.ledger.accounting_date();
        let mut results = Vec::with_capacity(batch.commands.len());
        // Each request is applied on its own, so a linked chain never runs from one request
        // into the next; a lookup sees the state after the requests queued before it.
        let engine_commands = batch.waiters.iter().find_map(|w| match w {
            Waiter::Commands { start, .. } => Some(*start),
            Waiter::Read { .. } => None,
        });
        let engine_commands = engine_commands.unwrap_or(batch.commands.len());
        // Segments are journaled so that replay applies exactly these slices.
        let mut segments = Vec::with_capacity(batch.waiters.len() + 1);
        let batch_start = first;
        if engine_commands > 0 {
            self.apply(
                &batch.commands[..engine_commands],
                batch_start,
                &mut results,
            )?;
            segments.push(engine_commands as u32);
        }
        for waiter in &mut batch.waiters {
            match waiter {
                Waiter::Commands { start, len, .. } => {
                    debug_assert_eq!(*start, results.len());
                    if *len > 0 {
                        self.apply(
                            &batch.commands[*start..*start + *len],
                            batch_start,
                            &mut results,
                        )?;
                        segments.push(*len as u32);
                    }
                }
                Waiter::Read { read, answer } => {
                    if let Some(read) = read.take() {
                        let mut past = PastReader {
                            index: &self.past,
                            recaller: &mut self.recaller,
                            source: &self.reader,
                        };
                        *answer = Some(read(&self.ledger, &mut past));
                    }
                }
            }
        }
        assert_eq!(results.len(), batch.commands.len());
        let resolved = resolutions(&self.ledger, &batch.commands, &results);
        let accounts = self.take_accounts();
        self.seq += 1;
        self.commands_since_snapshot += count;
        let metrics = &self.shared.metrics;
        metrics.batches.fetch_add(1, Ordering::Relaxed);
        metrics.commands.fetch_add(count, Ordering::Relaxed);
        record_sizes(metrics, &self.ledger);
        metrics.batch_size.record(count);
        let applied = AppliedBatch {
            seq: self.seq,
            segments,
            accounting_date,
            commands: batch.commands,
            results,
            accounts,
            resolved,
        };
        let commit = CommitBatch::seal(applied, &self.hash);
        self.hash = commit.hash();
        if self.seq == 1 {
            // The index of past transfers belongs to this journal from its first batch on.
            self.past.bind(self.hash);
        }
        record_past(metrics, &self.past, &self.recaller);
        self.to_committer
            .send(ToCommitter::Batch(Box::new(commit), batch.waiters))
            .map_err(|_| ())
    }

    /// Applies one segment, reading back first the transfers it names that left memory.
    /// Failing to read them stops the engine: going on would answer a retry as a new transfer.
    fn apply(
        &mut self,
        commands: &[Stamped],
        batch_start: u64,
        results: &mut Vec<ResultCode>,
    ) -> Result<(), ()> {
        let mut history = History {
            index: &mut self.past,
            source: &self.reader,
            recaller: &mut self.recaller,
        };
        apply_segment(
            &mut self.ledger,
            commands,
            batch_start,
            results,
            Some(&mut history),
        )
        .map_err(|e| {
            self.shared
                .fail(format!("the ledger could not read past transfers: {e}"));
        })
    }

    /// The accounts changed since they last went to the journal, if it is time they went.
    fn take_accounts(&mut self) -> Option<AccountChanges> {
        let took = Duration::from_micros(
            self.shared
                .metrics
                .accounts_write_us
                .load(Ordering::Relaxed),
        );
        let interval = ACCOUNTS_WRITE_INTERVAL.max(took * ACCOUNTS_WRITE_SPACING);
        if self.ledger.touched_count() == 0 || self.accounts_written_at.elapsed() < interval {
            return None;
        }
        self.accounts_written_at = Instant::now();
        Some(self.drain_accounts())
    }

    /// Every account changed since the last drain: whole if opened since, else its balances.
    fn drain_accounts(&mut self) -> AccountChanges {
        let mut changes = AccountChanges::default();
        let in_table = self.accounts_in_table;
        self.ledger.drain_touched(|index, account| {
            if (index as usize) < in_table {
                changes.changed.push(AccountBalances::of(index, account));
            } else {
                changes.opened.push((index, *account));
            }
        });
        // In table order: sequential B-tree writes.
        changes.changed.sort_unstable_by_key(|b| b.index);
        changes.opened.sort_unstable_by_key(|(index, _)| *index);
        self.accounts_in_table = self.ledger.accounts().len();
        changes
    }

    /// Due once the commands since the last snapshot outnumber `snapshot_growth_factor` times
    /// the state it held (and `snapshot_commands_min`): snapshot bytes stay proportional to
    /// journal bytes, and recovery replays at most that many commands.
    fn snapshot_due(&self) -> bool {
        let due_after = self.snapshot_commands_min.max(
            self.snapshot_growth_factor
                .saturating_mul(self.size_at_snapshot),
        );
        self.commands_since_snapshot >= due_after
    }

    /// Takes a snapshot of the state after batch `seq`: frozen here (the window's blocks
    /// shared, the rest copied: see `Ledger::freeze`), then encoded and streamed to the
    /// committer in chunks by a thread of its own while the writer goes on. One at a time: a
    /// snapshot due while the last is still being written waits for the next batch.
    fn snapshot(&mut self) -> Result<(), ()> {
        if self.snapshotting.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        if let Some(done) = self.snapshotting.take() {
            let _ = done.join();
        }
        // The snapshot holds exactly the window; what left memory before it must be in the
        // index of past transfers for good first.
        self.ledger.trim_window();
        let left = self.ledger.take_left();
        if let Err(e) = self.past.add(&left).and_then(|()| self.past.sync()) {
            self.shared.fail(format!(
                "the index of past transfers could not be written: {e}"
            ));
            return Err(());
        }
        let frozen = self.ledger.freeze();
        let mut chunks = ChunkWriter {
            seq: self.seq,
            chunk: 0,
            bytes: 0,
            buf: Vec::with_capacity(self.snapshot_chunk_bytes),
            chunk_bytes: self.snapshot_chunk_bytes,
            hasher: Sha256::new(),
            to_committer: self.to_committer.clone(),
            started: Instant::now(),
            bytes_per_sec: self.snapshot_bytes_per_sec,
        };
        let last_timestamp = self.ledger.last_timestamp();
        let thread = std::thread::Builder::new()
            .name("suanpan-snapshot".into())
            .spawn(move || {
                // A send fails only once the committer has stopped: the engine is stopping
                // or failed, and an unfinished snapshot is never used.
                let written = frozen
                    .encode(&mut chunks)
                    .and_then(|()| chunks.send_chunk());
                if written.is_err() {
                    return;
                }
                let info = SnapshotInfo {
                    seq: chunks.seq,
                    last_timestamp,
                    state_hash: chunks.hasher.finalize().into(),
                    bytes: chunks.bytes,
                    chunks: chunks.chunk,
                };
                let _ = chunks.to_committer.send(ToCommitter::SnapshotDone(info));
            });
        match thread {
            Ok(handle) => self.snapshotting = Some(handle),
            Err(e) => {
                self.shared
                    .fail(format!("the snapshot thread could not start: {e}"));
                return Err(());
            }
        }
        self.commands_since_snapshot = 0;
        self.size_at_snapshot = state_size(&self.ledger);
        Ok(())
    }

    /// Waits for the snapshot being written, if any (at stop: it is finished, or abandoned
    /// if the committer stopped).
    fn finish_snapshot(&mut self) {
        if let Some(thread) = self.snapshotting.take() {
            let _ = thread.join();
        }
    }
}

struct ChunkWriter {
    seq: u64,
    chunk: u32,
    bytes: u64,
    buf: Vec<u8>,
    chunk_bytes: usize,
    hasher: Sha256,
    to_committer: SyncSender<ToCommitter>,
    started: Instant,
    /// The pace (see `EngineConfig::snapshot_bytes_per_sec`); zero: none.
    bytes_per_sec: u64,
}

impl ChunkWriter {
    fn send_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.hasher.update(&self.buf);
        self.bytes += self.buf.len() as u64;
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk_bytes));
        self.to_committer
            .send(ToCommitter::SnapshotChunk {
                seq: self.seq,
                chunk: self.chunk,
                data,
            })
            .map_err(|_| io::Error::other("the committer has stopped"))?;
        self.chunk += 1;
        if self.bytes_per_sec > 0 {
            let due = Duration::from_nanos(
                (u128::from(self.bytes) * 1_000_000_000 / u128::from(self.bytes_per_sec))
                    .min(u128::from(u64::MAX)) as u64,
            );
            std::thread::sleep(due.saturating_sub(self.started.elapsed()));
        }
        Ok(())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= self.chunk_bytes {
            self.send_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
