//! The committer thread: writes applied batches to the journal, then answers their callers
//! and tells subscribers. The only code that writes the journal.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use suanpan_journal::{AccountChanges, CommitBatch, Journal, JournalError, SnapshotInfo};
use suanpan_ledger::{Ledger, ResultCode};

use crate::engine::{CommittedBatch, Shared};
use crate::reply::Replier;
use crate::EngineError;

pub(crate) enum ToCommitter {
    Batch(Box<CommitBatch>, Vec<Waiter>),
    SnapshotChunk {
        seq: u64,
        chunk: u32,
        data: Vec<u8>,
    },
    SnapshotDone(SnapshotInfo),
    /// Reads that came with no commands: answered once everything before them is durable,
    /// without a journal batch of their own.
    Reads(Vec<Waiter>),
    /// Accounts changed since the last batch that carried them, sent when the writer stops.
    Accounts(AccountChanges),
    /// Batches a standby replayed: already in the journal; published, not written.
    Replicated(Vec<Arc<CommittedBatch>>),
    /// The standby took over: write from here on, fenced by `epoch`.
    Promote {
        epoch: u64,
        seq: u64,
        hash: [u8; 32],
    },
}

/// A caller waiting for a committed batch.
pub(crate) enum Waiter {
    /// Its results are `results[start..start + len]`.
    Commands {
        reply: Replier<Result<Vec<ResultCode>, EngineError>>,
        start: usize,
        len: usize,
    },
    /// A read of the ledger: `read` runs on the writer after the requests queued before it,
    /// leaving `answer`, which the committer runs once those are durable.
    Read {
        read: Option<ReadFn>,
        answer: Option<AnswerFn>,
    },
}

pub(crate) type ReadFn =
    Box<dyn for<'a> FnOnce(&Ledger, &mut crate::engine::PastReader<'a>) -> AnswerFn + Send>;
pub(crate) type AnswerFn = Box<dyn FnOnce() + Send>;

#[derive(Clone, Default)]
pub(crate) struct Subscribers(Arc<Mutex<Vec<SyncSender<Arc<CommittedBatch>>>>>);

impl Subscribers {
    pub(crate) fn add(&self, capacity: usize) -> Receiver<Arc<CommittedBatch>> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    fn publish(&self, batches: Vec<CommitBatch>) {
        if self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            return;
        }
        self.publish_committed(
            batches
                .into_iter()
                .map(CommitBatch::into_applied)
                .map(|b| {
                    Arc::new(CommittedBatch {
                        seq: b.seq,
                        accounting_date: b.accounting_date,
                        commands: b.commands,
                        results: b.results,
                    })
                })
                .collect(),
        );
    }

    fn publish_committed(&self, batches: Vec<Arc<CommittedBatch>>) {
        let mut subscribers = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for committed in batches {
            // A full subscriber is dropped rather than waited for.
            subscribers.retain(|s| {
                !matches!(
                    s.try_send(committed.clone()),
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
                )
            });
        }
    }
}

pub(crate) fn run_committer(
    mut journal: Journal,
    rx: Receiver<ToCommitter>,
    group_max: usize,
    shared: &Shared,
    subscribers: &Subscribers,
) {
    let mut next = None;
    loop {
        let message = match next.take() {
            Some(message) => message,
            None => match rx.recv() {
                Ok(message) => message,
                Err(_) => {
                    // A clean stop: everything is committed, so the head file moves to the
                    // last batch now, from the journal itself, rather than when the checkpoint
                    // thread next looks (PostgreSQL's anchor moves with its lease).
                    if !journal.is_postgres() {
                        if let Err(e) = journal.write_anchor() {
                            eprintln!(
                                "suanpan: the journal's head file was not moved at stop: {e}"
                            );
                        }
                    }
                    return;
                }
            },
        };
        let outcome = match message {
            ToCommitter::Batch(batch, waiters) => {
                let mut group = vec![(*batch, waiters)];
                while group.len() < group_max {
                    match rx.try_recv() {
                        Ok(ToCommitter::Batch(batch, waiters)) => group.push((*batch, waiters)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                commit_group(&mut journal, group, shared, subscribers)
            }
            ToCommitter::SnapshotChunk { seq, chunk, data } => journal
                .write_snapshot_chunk(seq, chunk, &data)
                .map_err(|e| failed(shared, e)),
            ToCommitter::SnapshotDone(info) => journal
                .finish_snapshot(&info)
                .map(|()| {
                    shared.metrics.snapshots.fetch_add(1, Ordering::Relaxed);
                })
                .map_err(|e| failed(shared, e)),
            ToCommitter::Accounts(accounts) => journal
                .write_accounts(&accounts)
                .map_err(|e| failed(shared, e)),
            ToCommitter::Replicated(batches) => {
                if let Some(last) = batches.last() {
                    shared
                        .metrics
                        .committed_seq
                        .store(last.seq, Ordering::Release);
                }
                subscribers.publish_committed(batches);
                Ok(())
            }
            ToCommitter::Promote { epoch, seq, hash } => {
                journal.fence(epoch, seq, hash);
                Ok(())
            }
            ToCommitter::Reads(waiters) => {
                // Every batch sent before these reads has been committed by now: the channel
                // is in order and a group is committed before the message that ended it.
                for waiter in waiters {
                    if let Waiter::Read {
                        answer: Some(answer),
                        ..
                    } = waiter
                    {
                        answer();
                    }
                }
                Ok(())
            }
        };
        if let Err(why) = outcome {
            // Memory is now ahead of the disk: stop, so that nothing more is acknowledged. The
            // writer sees the closed channel; a restart recovers from the journal.
            shared.fail(why);
            return;
        }
    }
}

fn commit_group(
    journal: &mut Journal,
    group: Vec<(CommitBatch, Vec<Waiter>)>,
    shared: &Shared,
    subscribers: &Subscribers,
) -> Result<(), String> {
    let (batches, waiters): (Vec<CommitBatch>, Vec<Vec<Waiter>>) = group.into_iter().unzip();
    let started = Instant::now();
    if let Err(e) = journal.commit(&batches) {
        // Record why first: the waiters' repliers then drop unanswered, and their callers
        // read this reason.
        let why = failed(shared, e);
        drop(waiters);
        return Err(why);
    }
    let metrics = &shared.metrics;
    metrics
        .commit_us
        .record(started.elapsed().as_micros() as u64);
    metrics.accounts_write_us.store(
        journal.accounts_write_took().as_micros() as u64,
        Ordering::Relaxed,
    );
    metrics.commits.fetch_add(1, Ordering::Relaxed);
    if let Some(last) = batches.last() {
        metrics.committed_seq.store(last.seq, Ordering::Release);
    }
    for (batch, waiters) in batches.iter().zip(waiters) {
        for waiter in waiters {
            match waiter {
                Waiter::Commands { reply, start, len } => {
                    reply.send(Ok(batch.results[start..start + len].to_vec()))
                }
                Waiter::Read { answer, .. } => {
                    if let Some(answer) = answer {
                        answer();
                    }
                }
            }
        }
    }
    subscribers.publish(batches);
    Ok(())
}

/// Records why a journal write failed and stops the engine; a fenced write means another
/// node holds the lease now, and this one steps down.
fn failed(shared: &Shared, e: JournalError) -> String {
    let why = format!("journal write failed: {e}");
    if matches!(e, JournalError::Fenced(_)) {
        shared.depose(why.clone());
    } else {
        shared.fail(why.clone());
    }
    why
}
