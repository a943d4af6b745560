//! The engine's handle: what the rest of Suanpan calls.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use suanpan_journal::{
    AccountChanges, Checkpointer, Journal, JournalError, JournalLocation, PastIndex, Recaller,
    Retention, StoredBatch,
};
use suanpan_ledger::{
    Account, AccountingDate, Command, Ledger, ResultCode, Stamped, TransferFlags,
};

use crate::committer::{run_committer, AnswerFn, ReadFn, Subscribers};
use crate::lease::LeaseThread;
use crate::reply::{self, Replier, Ticket};
use crate::writer::{run_writer, Writer};
use crate::{EngineConfig, Metrics};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The queue is full: try again shortly (HTTP 503 with Retry-After).
    Overloaded,
    /// A request carried more commands than one batch may hold.
    TooManyCommands { count: usize, max: usize },
    /// The engine has stopped (shut down, or a journal write failed); nothing more is accepted.
    /// Commands of a request answered with this may or may not have been committed: the
    /// caller learns which by resubmitting them (ids make that safe) after a restart.
    Stopped(String),
    /// This node is a standby: it serves reads and takes no commands until it takes over.
    Standby,
    /// A transfer that left memory could not be read back from the journal.
    Journal(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Overloaded => f.write_str("the engine's queue is full; retry shortly"),
            EngineError::TooManyCommands { count, max } => {
                write!(
                    f,
                    "a request may carry at most {max} commands, this one has {count}"
                )
            }
            EngineError::Stopped(why) => write!(f, "the engine has stopped: {why}"),
            EngineError::Journal(why) => {
                write!(f, "a past transfer could not be read from the journal: {why}")
            }
            EngineError::Standby => f.write_str(
                "this node is a standby: it takes commands only once it holds the writer's lease; send them to the leader",
            ),
        }
    }
}

impl std::error::Error for EngineError {}

/// A batch as committed: what subscribers receive, in order.
pub struct CommittedBatch {
    pub seq: u64,
    pub accounting_date: AccountingDate,
    pub commands: Vec<Stamped>,
    pub results: Vec<ResultCode>,
}

/// A committed transfer as the ledger keeps it: what moved, between which accounts. For a
/// post or void it is what was posted or released.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FoundTransfer {
    pub id: u128,
    pub debit_account_id: u128,
    pub credit_account_id: u128,
    pub amount: u64,
    pub code: u16,
    pub flags: TransferFlags,
}

/// Transfers looked up by id, each found or not; or why the journal could not say.
pub type FoundTransfers = Result<Vec<Option<FoundTransfer>>, JournalError>;

/// The transfers that left the ledger's memory, for a read on the writer thread.
pub(crate) struct PastReader<'a> {
    pub(crate) index: &'a PastIndex,
    pub(crate) recaller: &'a mut Recaller,
    pub(crate) source: &'a Journal,
}

impl PastReader<'_> {
    /// The transfer `id` if it left memory (everything committed so far counts).
    pub(crate) fn find(
        &mut self,
        ledger: &Ledger,
        id: u128,
    ) -> Result<Option<suanpan_ledger::PastTransfer>, JournalError> {
        if !ledger.may_have_left(id) {
            return Ok(None);
        }
        let found = self
            .recaller
            .recall(self.index, &[id], u64::MAX, self.source)?;
        Ok(found.into_iter().next())
    }
}

/// What recovery found at start.
#[derive(Clone, Debug)]
pub struct RecoveryInfo {
    pub seq: u64,
    pub snapshot_seq: u64,
    pub replayed_batches: u64,
    pub accounts: usize,
    pub transfers: u64,
}

pub(crate) enum Request {
    Commands {
        commands: Vec<Command>,
        reply: Replier<Result<Vec<ResultCode>, EngineError>>,
    },
    Read(ReadFn),
    /// A standby's next committed batches, read from the journal.
    // This and `Promote` come only from the lease thread, which needs PostgreSQL.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Replicate(Vec<StoredBatch>),
    /// The standby holds the lease at `epoch` and has replayed everything: lead.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Promote {
        epoch: u64,
    },
    Stop,
}

pub(crate) struct Shared {
    pub metrics: Metrics,
    pub failure: Mutex<Option<String>>,
    pub stopping: AtomicBool,
    /// Taking commands (not a standby).
    pub leading: AtomicBool,
    /// Stopped because another node took the writer's lease.
    pub deposed: AtomicBool,
    /// When this node, a standby, took the writer's lease over (Unix seconds; 0: never).
    pub promoted_at_s: AtomicU64,
    /// The epoch this node holds the writer's lease at (0: none; the embedded default has no
    /// lease). The rooms on PostgreSQL fence their writes by it.
    pub epoch: AtomicU64,
}

impl Shared {
    pub(crate) fn fail(&self, why: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert(why);
        // Refuse new requests at once rather than queue them behind a dead committer.
        self.stopping.store(true, Ordering::Release);
    }

    /// Stops the engine because this node may no longer write.
    pub(crate) fn depose(&self, why: String) {
        self.deposed.store(true, Ordering::Release);
        self.leading.store(false, Ordering::Release);
        self.fail(why);
    }

    /// A failure has stopped the engine (not a clean shutdown). Asked by the lease thread.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn failed(&self) -> bool {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    pub(crate) fn deposed(&self) -> bool {
        self.deposed.load(Ordering::Acquire)
    }

    pub(crate) fn stopped_error(&self) -> EngineError {
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        EngineError::Stopped(failure.clone().unwrap_or_else(|| "shut down".into()))
    }
}

pub struct Engine {
    queue: SyncSender<Request>,
    shared: Arc<Shared>,
    subscribers: Subscribers,
    threads: Mutex<Vec<JoinHandle<()>>>,
    checkpointer: Mutex<Option<Checkpointer>>,
    lease: Mutex<Option<LeaseThread>>,
    batch_commands_max: usize,
    subscriber_batches_max: usize,
    recovery: RecoveryInfo,
}

/// Compares the journal with its anchor (see the journal's `anchor.rs`): a journal whose last
/// batches were cut off is refused, unless the user accepts it. A node that writes then moves
/// the anchor to the journal's head, so that the anchor is current from the first request on.
fn check_anchor(journal: &Journal, writes: bool, accept: bool) -> Result<(), JournalError> {
    if let Some(anchor) = journal.anchor()? {
        match journal.check_anchor(&anchor) {
            Ok(()) => {}
            Err(JournalError::BehindAnchor(why)) if accept => {
                eprintln!("suanpan: accepted a journal behind its anchor: {why}");
            }
            Err(JournalError::BehindAnchor(why)) => {
                return Err(JournalError::BehindAnchor(format!(
                    "{why}; to go on from the journal as it is, start with --accept-journal-behind-anchor"
                )))
            }
            Err(e) => return Err(e),
        }
    }
    if writes {
        journal.write_anchor()?;
    }
    Ok(())
}

impl Engine {
    /// Opens (or creates) the journal in the data directory, recovers the ledger from it and
    /// starts the writer and committer threads.
    pub fn start(config: EngineConfig) -> Result<Engine, JournalError> {
        let (mut journal, epoch) = match &config.postgres {
            None => (Journal::open(&config.data_dir, config.tier_limits)?, None),
            Some(pg) => pg.open_journal(config.tier_limits)?,
        };
        let journal_id = match journal.seq() {
            0 => None,
            _ => Some(journal.hash_of(1)?),
        };
        let mut past = PastIndex::open(
            &config.data_dir,
            journal_id,
            (config.window / 8).clamp(4_096, 1 << 20),
        )?;
        let retention = Retention {
            window: config.window,
            filter_bytes: config.past_filter_bytes,
        };
        let recovered = journal.recover(retention, Some(&mut past))?;
        // Every transfer that left memory has an entry in the index; fewer entries than that
        // means it was deleted or belongs to another journal, and a retry of an old transfer
        // would be taken for a new one.
        let (_, left) = recovered.ledger.past_filter();
        let size = past.size();
        let entries = size.entries_on_disk + size.entries_in_memory;
        if entries < left {
            return Err(JournalError::Corrupt(format!(
                "the index of past transfers in {} holds {entries} entries, but {left} transfers have left the ledger's memory: restore it with the journal from the same backup",
                past.dir().display()
            )));
        }
        // The writer reads transfers that left memory back through a handle of its own.
        let reader = Journal::open_read_only(&match &config.postgres {
            None => JournalLocation::Sqlite(config.data_dir.clone()),
            Some(pg) => pg.location(),
        })?;
        if let Some(pg) = &config.postgres {
            // A write stuck half way on this node must not hold the lease row past the
            // lease's own time, or a standby could never take over.
            journal.limit_write_hold(pg.write_hold());
        }
        if let Some(epoch) = epoch {
            journal.fence(epoch, recovered.seq, recovered.hash);
            if journal.accounts_behind() {
                journal.write_accounts(&AccountChanges::all(&recovered.ledger))?;
            }
        }
        let writes = config.postgres.is_none() || epoch.is_some();
        check_anchor(&journal, writes, config.accept_journal_behind_anchor)?;
        let recovery = RecoveryInfo {
            seq: recovered.seq,
            snapshot_seq: recovered.snapshot_seq,
            replayed_batches: recovered.replayed_batches,
            accounts: recovered.ledger.accounts().len(),
            transfers: recovered.ledger.transfers_total(),
        };
        let standby = config.postgres.as_ref().is_some_and(|pg| pg.is_standby());
        let shared = Arc::new(Shared {
            metrics: Metrics::default(),
            failure: Mutex::new(None),
            stopping: AtomicBool::new(false),
            leading: AtomicBool::new(!standby),
            deposed: AtomicBool::new(false),
            promoted_at_s: AtomicU64::new(0),
            epoch: AtomicU64::new(epoch.unwrap_or(0)),
        });
        shared
            .metrics
            .committed_seq
            .store(recovery.seq, Ordering::Release);
        let subscribers = Subscribers::default();
        let (queue, requests) = mpsc::sync_channel(config.queue_requests_max);
        let (to_committer, committer_rx) = mpsc::sync_channel(config.pipeline_batches_max);
        let (seq, hash) = (recovered.seq, recovered.hash);
        let committer = {
            let (shared, subscribers, max) = (
                shared.clone(),
                subscribers.clone(),
                config.commit_batches_max,
            );
            std::thread::Builder::new()
                .name("suanpan-committer".into())
                .spawn(move || run_committer(journal, committer_rx, max, &shared, &subscribers))
                .map_err(|e| JournalError::Io(format!("cannot start the committer thread: {e}")))?
        };
        let checkpointer = match &config.postgres {
            None => Some(Checkpointer::start(&config.data_dir)?),
            Some(_) => None,
        };
        let writer = Writer::new(
            recovered,
            &config,
            to_committer,
            shared.clone(),
            standby,
            (past, reader),
        );
        let writer = std::thread::Builder::new()
            .name("suanpan-writer".into())
            .spawn(move || run_writer(writer, requests))
            .map_err(|e| JournalError::Io(format!("cannot start the writer thread: {e}")))?;
        let lease = match &config.postgres {
            None => None,
            Some(pg) => Some(pg.start_thread(
                epoch,
                (seq, hash),
                config.accept_journal_behind_anchor,
                &queue,
                &shared,
            )?),
        };
        Ok(Engine {
            queue,
            shared,
            subscribers,
            threads: Mutex::new(vec![writer, committer]),
            checkpointer: Mutex::new(checkpointer),
            lease: Mutex::new(lease),
            batch_commands_max: config.batch_commands_max,
            subscriber_batches_max: config.subscriber_batches_max,
            recovery,
        })
    }

    /// False on a standby (until it takes over) and on a node that lost the lease.
    pub fn is_leader(&self) -> bool {
        self.shared.leading.load(Ordering::Acquire)
    }

    /// The epoch this node holds the writer's lease at, while it leads on PostgreSQL: what
    /// the rooms there fence their writes by. `None` on a standby, on a node that lost the
    /// lease, and on the embedded default (no lease).
    pub fn epoch(&self) -> Option<u64> {
        Some(self.shared.epoch.load(Ordering::Acquire)).filter(|&e| e != 0 && self.is_leader())
    }

    /// When this node took the writer's lease over from another (Unix seconds), if it did:
    /// what the old leader was asked before then, this node never saw (its spent nonces).
    pub fn promoted_at_s(&self) -> Option<u64> {
        Some(self.shared.promoted_at_s.load(Ordering::Acquire)).filter(|&s| s != 0)
    }

    /// Why the node stopped, if it stopped because another node took the writer's lease.
    pub fn deposed(&self) -> Option<String> {
        if !self.shared.deposed() {
            return None;
        }
        Some(self.shared.stopped_error().to_string())
    }

    pub fn recovery(&self) -> &RecoveryInfo {
        &self.recovery
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Queues `commands` as one request; the ticket answers one result per command, in order,
    /// once they are durable.
    pub fn submit(
        &self,
        commands: Vec<Command>,
    ) -> Result<Ticket<Result<Vec<ResultCode>, EngineError>>, EngineError> {
        if commands.len() > self.batch_commands_max {
            return Err(EngineError::TooManyCommands {
                count: commands.len(),
                max: self.batch_commands_max,
            });
        }
        let (reply, ticket) = reply::channel();
        self.enqueue(Request::Commands { commands, reply })?;
        Ok(ticket)
    }

    /// Submits and waits.
    pub fn execute(&self, commands: Vec<Command>) -> Result<Vec<ResultCode>, EngineError> {
        let ticket = self.submit(commands)?;
        ticket
            .wait()
            .unwrap_or_else(|| Err(self.shared.stopped_error()))
    }

    /// Reads accounts as of the commands before this request, answered once those are durable.
    pub fn lookup_accounts(&self, ids: Vec<u128>) -> Result<Vec<Option<Account>>, EngineError> {
        if ids.len() > self.batch_commands_max {
            return Err(EngineError::TooManyCommands {
                count: ids.len(),
                max: self.batch_commands_max,
            });
        }
        let ticket = self.read(move |ledger| {
            ids.iter()
                .map(|&id| ledger.account_by_id(id).copied())
                .collect()
        })?;
        ticket.wait().ok_or_else(|| self.shared.stopped_error())
    }

    /// Reads transfers by id as of the commands before this request, answered once those are
    /// durable; `None` for an id never committed.
    pub fn lookup_transfers(
        &self,
        ids: Vec<u128>,
    ) -> Result<Vec<Option<FoundTransfer>>, EngineError> {
        if ids.len() > self.batch_commands_max {
            return Err(EngineError::TooManyCommands {
                count: ids.len(),
                max: self.batch_commands_max,
            });
        }
        self.find_transfers(ids)?
            .wait()
            .ok_or_else(|| self.shared.stopped_error())?
            .map_err(|e| EngineError::Journal(e.to_string()))
    }

    /// [`Engine::lookup_transfers`] without waiting: the ticket answers (or is awaited) once
    /// the requests before are durable. Transfers that left the ledger's memory are read back
    /// from the journal, so every committed transfer is found, however old.
    pub fn find_transfers(&self, ids: Vec<u128>) -> Result<Ticket<FoundTransfers>, EngineError> {
        if ids.len() > self.batch_commands_max {
            return Err(EngineError::TooManyCommands {
                count: ids.len(),
                max: self.batch_commands_max,
            });
        }
        self.read_with_past(move |ledger, past| {
            let accounts = ledger.accounts();
            ids.iter()
                .map(|&id| match ledger.transfer_by_id(id) {
                    Some(r) => Ok(Some(FoundTransfer {
                        id,
                        debit_account_id: accounts[r.debit_index as usize].id,
                        credit_account_id: accounts[r.credit_index as usize].id,
                        amount: r.amount,
                        code: r.code,
                        flags: TransferFlags(r.flags),
                    })),
                    None => past.find(ledger, id).map(|found| {
                        found.map(|p| FoundTransfer {
                            id,
                            debit_account_id: p.transfer.debit_account_id,
                            credit_account_id: p.transfer.credit_account_id,
                            amount: p.transfer.amount,
                            code: p.transfer.code,
                            flags: p.transfer.flags,
                        })
                    }),
                })
                .collect::<Result<Vec<_>, JournalError>>()
        })
    }

    /// As [`Engine::read`], with the transfers that left the ledger's memory within reach.
    pub(crate) fn read_with_past<T: Send + 'static>(
        &self,
        read: impl for<'a> FnOnce(&Ledger, &mut PastReader<'a>) -> T + Send + 'static,
    ) -> Result<Ticket<T>, EngineError> {
        let (reply, ticket) = reply::channel();
        let read: ReadFn = Box::new(move |ledger: &Ledger, past: &mut PastReader<'_>| {
            let value = read(ledger, past);
            let answer: AnswerFn = Box::new(move || reply.send(value));
            answer
        });
        self.enqueue(Request::Read(read))?;
        Ok(ticket)
    }

    /// Reads the ledger as of the requests queued before this one; the ticket answers once
    /// those are durable, so a reader never sees a state that could still be lost. `read` runs
    /// on the writer thread: keep it short (a few lookups), it holds up the books meanwhile.
    pub fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Ledger) -> T + Send + 'static,
    ) -> Result<Ticket<T>, EngineError> {
        self.read_with_past(move |ledger, _| read(ledger))
    }

    /// `Ok` while the engine takes requests; at once, without queueing anything.
    pub fn check_running(&self) -> Result<(), EngineError> {
        if self.shared.stopping.load(Ordering::Acquire) {
            return Err(self.shared.stopped_error());
        }
        Ok(())
    }

    /// Why the engine stopped, for a caller whose ticket answered nothing.
    pub fn stopped_error(&self) -> EngineError {
        self.shared.stopped_error()
    }

    /// Committed batches from now on, in order. A subscriber that falls more than
    /// `subscriber_batches_max` batches behind is dropped (its receiver disconnects) and must
    /// catch up from the journal: a slow reader never stalls the books.
    pub fn subscribe(&self) -> mpsc::Receiver<Arc<CommittedBatch>> {
        self.subscribers.add(self.subscriber_batches_max)
    }

    fn enqueue(&self, request: Request) -> Result<(), EngineError> {
        if self.shared.stopping.load(Ordering::Acquire) {
            return Err(self.shared.stopped_error());
        }
        // Counted before the send: the writer may take it off before `try_send` returns.
        let depth = &self.shared.metrics.queue_depth;
        depth.fetch_add(1, Ordering::Relaxed);
        let sent = self.queue.try_send(request);
        if sent.is_err() {
            depth.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.shared
                    .metrics
                    .overloaded
                    .fetch_add(1, Ordering::Relaxed);
                Err(EngineError::Overloaded)
            }
            Err(TrySendError::Disconnected(_)) => Err(self.shared.stopped_error()),
        }
    }

    /// Stops taking requests, commits and answers everything already queued, and waits for
    /// the threads. Returns the failure that stopped the engine early, if any.
    pub fn shutdown(&self) -> Result<(), EngineError> {
        self.shared.stopping.store(true, Ordering::Release);
        // A standby stops following first: the follower may be waiting on the queue.
        if !self.is_leader() {
            if let Some(mut lease) = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take() {
                lease.stop();
            }
        }
        // A blocking send: the writer may be busy, but it drains the queue, so this arrives.
        let _ = self.queue.send(Request::Stop);
        let threads: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for thread in threads {
            if thread.join().is_err() {
                self.shared.fail("an engine thread panicked".into());
            }
        }
        drop(
            self.checkpointer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        // Everything is committed: give the lease up (a leader) only now.
        if let Some(mut lease) = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take() {
            lease.stop();
        }
        match self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            Some(why) => Err(EngineError::Stopped(why)),
            None => Ok(()),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
