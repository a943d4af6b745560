//! One writer at a time on PostgreSQL: the lease thread.
//!
//! A leader takes the lease before it reads the journal, then renews it; if a renewal finds it
//! taken over, the engine stops at once (and the journal's fence has already refused any write
//! since the takeover). A standby follows the journal, replaying committed batches into its own
//! ledger through the writer, and watches the lease; once it expires, the standby takes it,
//! replays what it has not yet seen (nothing more can be written by then) and becomes the
//! leader. Every decision uses the database's clock, never the node's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use suanpan_journal::postgres::{acquire, read_lease, release, renew, write_anchor};
use suanpan_journal::{check_against_anchor, Head, Journal, JournalError, JournalLocation, PgDb};
use suanpan_ledger::TierLimits;

use crate::engine::{Request, Shared};

/// How a node runs on PostgreSQL.
#[derive(Clone)]
pub struct PostgresConfig {
    pub db: Arc<PgDb>,
    /// This node's name in the lease (made unique per process).
    pub node: String,
    /// Follow the leader instead of taking the lease at start.
    pub standby: bool,
    /// How long a lease lasts without renewal: a standby takes over at most this long (plus
    /// one poll) after the leader stopped renewing.
    pub lease_ttl: Duration,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("db", &self.db.shown())
            .field("node", &self.node)
            .field("standby", &self.standby)
            .field("lease_ttl", &self.lease_ttl)
            .finish()
    }
}

/// Default lease: a standby takes over within about 4.2 s of the leader's last renewal.
pub const LEASE_TTL_DEFAULT: Duration = Duration::from_secs(4);

/// Longest the standby waits between looks at the journal and the lease.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Batches the standby replays per step.
const FOLLOW_PAGE: u32 = 256;

impl PostgresConfig {
    pub(crate) fn is_standby(&self) -> bool {
        self.standby
    }

    /// Opens the journal on the database. A leader takes the lease first, so nobody else
    /// writes after it reads the journal, and gets the lease's epoch; a standby gets none.
    /// Where the journal is.
    pub(crate) fn location(&self) -> JournalLocation {
        JournalLocation::Postgres(self.db.clone())
    }

    pub(crate) fn open_journal(
        &self,
        limits: TierLimits,
    ) -> Result<(Journal, Option<u64>), JournalError> {
        let epoch = if self.standby {
            None
        } else {
            Some(acquire_at_start(self)?)
        };
        let journal = Journal::open_at(&JournalLocation::Postgres(self.db.clone()), limits)?;
        Ok((journal, epoch))
    }

    /// The longest a write transaction of this node may wait on the server: half the lease.
    pub fn write_hold(&self) -> Duration {
        (self.lease_ttl / 2).max(Duration::from_millis(100))
    }

    /// Starts the lease thread: a leader's keeps the lease at `epoch`; a standby's follows the
    /// journal after batch `seq` (whose hash is `hash`) until it can take over.
    pub(crate) fn start_thread(
        &self,
        epoch: Option<u64>,
        (seq, hash): (u64, [u8; 32]),
        accept_journal_behind_anchor: bool,
        queue: &SyncSender<Request>,
        shared: &Arc<Shared>,
    ) -> Result<LeaseThread, JournalError> {
        match epoch {
            Some(epoch) => LeaseThread::leader(self.clone(), epoch, shared.clone()),
            None => {
                let follower = Follower {
                    journal: Journal::open_read_only(&JournalLocation::Postgres(self.db.clone()))?,
                    seq,
                    hash,
                    queue: queue.clone(),
                    accept_journal_behind_anchor,
                };
                LeaseThread::standby(self.clone(), follower, shared.clone())
            }
        }
    }

    fn renew_every(&self) -> Duration {
        self.lease_ttl / 6
    }

    fn holder(&self) -> String {
        format!("{}/{}", self.node, std::process::id())
    }
}

/// Takes the lease for a leader starting up. A lease left by a node that died expires within
/// its time to live; one that keeps being renewed belongs to a live leader, and this node
/// must be started as a standby instead.
fn acquire_at_start(pg: &PostgresConfig) -> Result<u64, JournalError> {
    let give_up = Instant::now() + pg.lease_ttl * 2 + Duration::from_secs(1);
    loop {
        let lease = read_lease(&pg.db)?;
        if lease.expired() {
            if let Some(epoch) = acquire(&pg.db, &pg.holder(), pg.lease_ttl, lease.epoch)? {
                return Ok(epoch);
            }
            continue;
        }
        if Instant::now() > give_up {
            return Err(JournalError::Fenced(format!(
                "the writer's lease is held by {} (epoch {}) and is being renewed; start this node with --standby to follow it",
                lease.holder, lease.epoch
            )));
        }
        let wait = Duration::from_millis(lease.expires_in_ms.clamp(10, 200) as u64);
        std::thread::sleep(wait);
    }
}

/// The thread that keeps (or, on a standby, first waits for) the lease.
pub(crate) struct LeaseThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LeaseThread {
    fn leader(
        pg: PostgresConfig,
        epoch: u64,
        shared: Arc<Shared>,
    ) -> Result<LeaseThread, JournalError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("suanpan-lease".into())
            .spawn(move || keep(&pg, epoch, &shared, &flag))
            .map_err(|e| JournalError::Io(format!("cannot start the lease thread: {e}")))?;
        Ok(LeaseThread {
            stop,
            thread: Some(thread),
        })
    }

    fn standby(
        pg: PostgresConfig,
        follower: Follower,
        shared: Arc<Shared>,
    ) -> Result<LeaseThread, JournalError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("suanpan-standby".into())
            .spawn(move || {
                if let Some(epoch) = follow(&pg, follower, &shared, &flag) {
                    keep(&pg, epoch, &shared, &flag);
                }
            })
            .map_err(|e| JournalError::Io(format!("cannot start the standby thread: {e}")))?;
        Ok(LeaseThread {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread; a leader still holding the lease gives it up, so a standby takes
    /// over at once instead of after the lease expires.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LeaseThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Renews the lease until told to stop (then releases it) or until it is lost (then stops
/// the engine).
fn keep(pg: &PostgresConfig, epoch: u64, shared: &Shared, stop: &AtomicBool) {
    let mut renewed = Instant::now();
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(pg.renew_every());
        if shared.failed() && !shared.deposed() {
            // The engine stopped (a journal write failed): a writer that cannot write must
            // not keep the lease, or no standby could ever take over. Give it up now.
            let _ = release(&pg.db, epoch);
            shared.depose(format!(
                "this node's engine stopped; it gave up the writer's lease (epoch {epoch})"
            ));
            return;
        }
        match renew(&pg.db, epoch, pg.lease_ttl) {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => {
                shared.depose(format!(
                    "this node lost the writer's lease: another node took it over after epoch {epoch}"
                ));
                return;
            }
            // A database that cannot be reached cannot be written either: keep trying until
            // the lease would have run out, then stop taking requests (the fence guards the
            // journal regardless).
            Err(e) if renewed.elapsed() >= pg.lease_ttl => {
                shared.depose(format!(
                    "this node could not renew the writer's lease for {:?}: {e}",
                    pg.lease_ttl
                ));
                return;
            }
            Err(_) => {}
        }
    }
    if !shared.deposed() {
        let _ = release(&pg.db, epoch);
    }
}

/// What a standby needs to follow the journal.
struct Follower {
    pub journal: Journal,
    pub seq: u64,
    pub hash: [u8; 32],
    pub queue: SyncSender<Request>,
    pub accept_journal_behind_anchor: bool,
}

/// Replays the leader's batches until the lease is free, then takes it. Returns the epoch, or
/// `None` when stopped first.
fn follow(pg: &PostgresConfig, mut f: Follower, shared: &Shared, stop: &AtomicBool) -> Option<u64> {
    let mut failing_since: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        match step(pg, &mut f) {
            Ok(Step::Replayed) => {
                failing_since = None;
                continue;
            }
            Ok(Step::Waiting) => failing_since = None,
            Ok(Step::TookOver(epoch)) => return Some(epoch),
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                let fatal = matches!(e, JournalError::Corrupt(_) | JournalError::BehindAnchor(_));
                if fatal || since.elapsed() > pg.lease_ttl * 10 {
                    shared.fail(format!("the standby cannot follow the journal: {e}"));
                    return None;
                }
            }
        }
        std::thread::sleep(FOLLOW_POLL);
    }
    None
}

enum Step {
    Replayed,
    Waiting,
    TookOver(u64),
}

fn step(pg: &PostgresConfig, f: &mut Follower) -> Result<Step, JournalError> {
    if replay(f)? {
        return Ok(Step::Replayed);
    }
    let lease = read_lease(&pg.db)?;
    if !lease.expired() {
        return Ok(Step::Waiting);
    }
    let Some(epoch) = acquire(&pg.db, &pg.holder(), pg.lease_ttl, lease.epoch)? else {
        return Ok(Step::Waiting);
    };
    // The old leader is fenced from here on: what is in the journal now is all there is. A
    // long tail is read while the lease is kept renewed.
    let mut renewed = Instant::now();
    while replay(f)? {
        if renewed.elapsed() >= pg.renew_every() {
            if !renew(&pg.db, epoch, pg.lease_ttl)? {
                return Ok(Step::Waiting);
            }
            renewed = Instant::now();
        }
    }
    // The journal as it now stands is the one this node will write on: it must not have lost
    // batches its anchor records (see the journal's `anchor.rs`).
    if let Some(anchor) = f.journal.anchor()? {
        match check_against_anchor(&anchor, f.seq, |seq| f.journal.hash_of(seq)) {
            Ok(()) => {}
            Err(JournalError::BehindAnchor(why)) if f.accept_journal_behind_anchor => {
                eprintln!("suanpan: took over a journal behind its anchor: {why}");
            }
            Err(JournalError::BehindAnchor(why)) => {
                return Err(JournalError::BehindAnchor(format!(
                    "{why}; this node will not take over; start it with --accept-journal-behind-anchor to go on from the journal as it is"
                )))
            }
            Err(e) => return Err(e),
        }
    }
    write_anchor(
        &pg.db,
        epoch,
        &Head {
            seq: f.seq,
            hash: f.hash,
        },
    )?;
    f.queue
        .send(Request::Promote { epoch })
        .map_err(|_| JournalError::Io("the engine stopped during takeover".into()))?;
    Ok(Step::TookOver(epoch))
}

/// Hands the next committed batches to the writer; false when there were none.
fn replay(f: &mut Follower) -> Result<bool, JournalError> {
    let batches = f.journal.batches_after(f.seq, f.hash, FOLLOW_PAGE)?;
    let Some(last) = batches.last() else {
        return Ok(false);
    };
    (f.seq, f.hash) = (last.seq, last.hash);
    f.queue
        .send(Request::Replicate(batches))
        .map_err(|_| JournalError::Io("the engine stopped".into()))?;
    Ok(true)
}
