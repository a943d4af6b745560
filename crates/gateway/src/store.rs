//! `gateway.db`: the gateway's own durable store (SQLite, WAL, `synchronous=FULL`), beside the
//! journal in the data directory. Orders, refunds, every state change as an ordered event,
//! merchants' notification settings, and the notification outbox with every attempt.
//!
//! One writer thread owns the writing connection and commits in groups: it takes the jobs
//! waiting, runs them in one transaction (a job refuses before it writes; one that fails
//! after writing rolls the group back), commits (one fsync) and only then answers each. So a caller is never told of a
//! change that could still be lost, and thousands of orders a second share a few fsyncs.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::GatewayError;
use crate::order::{Order, OrderState, Refund, RefundState};

pub const DB_FILE: &str = "gateway.db";
/// 2: orders keep the merchant's `return_url`. 3: a refund still processing is asked again
/// on a backoff (`attempts`, `next_at_ms`).
const SCHEMA_VERSION: i64 = 3;

/// What each version after the first adds, in order (run once, in one transaction with the
/// version's change).
const MIGRATIONS: &[(i64, &str)] = &[
    (2, "ALTER TABLE orders ADD COLUMN return_url TEXT;"),
    (
        3,
        "ALTER TABLE refunds ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE refunds ADD COLUMN next_at_ms INTEGER NOT NULL DEFAULT 0;",
    ),
];
/// Jobs that may wait for the writer; one more is refused as overload (bounded memory).
const QUEUE_JOBS_MAX: usize = 65_536;
/// Reading connections (point reads run where they are asked; a few, so they never queue
/// behind one connection's lock).
const READERS: usize = 4;
/// Jobs committed in one transaction at most.
const GROUP_JOBS_MAX: usize = 4_096;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merchants (
    participant TEXT PRIMARY KEY,
    owner INTEGER NOT NULL,
    notify_url TEXT NOT NULL,
    notify_secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    merchant TEXT NOT NULL,
    owner INTEGER NOT NULL,
    merchant_order_no TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    subject TEXT NOT NULL,
    channel TEXT NOT NULL,
    body_digest TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expire_at_ms INTEGER NOT NULL,
    channel_trade_no TEXT,
    pay_url TEXT,
    refunded INTEGER NOT NULL DEFAULT 0,
    flagged_for_refund INTEGER NOT NULL DEFAULT 0,
    queries INTEGER NOT NULL DEFAULT 0,
    next_query_ms INTEGER,
    return_url TEXT,
    UNIQUE (merchant, merchant_order_no)
);
CREATE INDEX IF NOT EXISTS orders_open ON orders (next_query_ms) WHERE state IN ('created', 'paying');
CREATE INDEX IF NOT EXISTS orders_state_time ON orders (state, created_ms);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    refund_no TEXT NOT NULL,
    amount INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL DEFAULT 0,
    UNIQUE (order_id, refund_no)
);
CREATE INDEX IF NOT EXISTS refunds_processing ON refunds (id) WHERE state = 'processing';
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    refund_id INTEGER,
    from_state TEXT,
    to_state TEXT NOT NULL,
    cause TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_order ON events (order_id, seq);
CREATE INDEX IF NOT EXISTS events_success_time ON events (at_ms) WHERE to_state = 'succeeded';
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    merchant TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    round INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at_ms) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS notify_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_outbox ON notify_attempts (outbox_id, id);
";

/// A merchant: a participant with where and how its notifications go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub participant: String,
    pub owner: u64,
    pub notify_url: String,
    pub notify_secret: String,
}

/// A notification owed or delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: u64,
    pub order_id: u64,
    /// The participant to tell.
    pub merchant: String,
    pub body: String,
    /// `pending`, `delivered` or `given_up`.
    pub state: String,
    pub round: u32,
    pub next_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub outbox_id: u64,
    pub at_ms: u64,
    /// The HTTP status the merchant answered; 0 when it did not answer.
    pub status: u16,
    pub outcome: String,
}

/// A recorded state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub order_id: u64,
    pub refund_id: Option<u64>,
    pub from_state: Option<String>,
    pub to_state: String,
    pub cause: String,
    pub at_ms: u64,
}

type Answer = Box<dyn FnOnce(Result<(), GatewayError>) + Send>;
/// A job runs in the group's transaction and gives back its answer, and whether it failed
/// after writing something (which spoils the whole group).
type Job = Box<dyn FnOnce(&Connection) -> (Answer, bool) + Send>;

pub struct Store {
    jobs: SyncSender<Job>,
    /// Reading connections: a read takes one that is free, so reads never queue behind each
    /// other on one connection.
    readers: Arc<Vec<Mutex<Connection>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn open_connection(path: &Path) -> Result<Connection, GatewayError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, GatewayError> {
        let path = dir.join(DB_FILE);
        let conn = open_connection(&path)?;
        conn.execute_batch(SCHEMA)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(Ok(SCHEMA_VERSION)) => {}
            Some(Ok(from)) if (1..SCHEMA_VERSION).contains(&from) => {
                // An older file: what the later versions add, and the version, together.
                let mut sql = String::from("BEGIN IMMEDIATE;");
                for (_, step) in MIGRATIONS.iter().filter(|(v, _)| *v > from) {
                    sql.push_str(step);
                }
                sql.push_str(&format!(
                    "UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'; COMMIT;"
                ));
                conn.execute_batch(&sql)?;
            }
            Some(_) => {
                return Err(GatewayError::Store(format!(
                    "{} has a schema this version does not know",
                    path.display()
                )))
            }
        }
        let readers = (0..READERS)
            .map(|_| open_connection(&path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let (jobs, rx) = mpsc::sync_channel(QUEUE_JOBS_MAX);
        let writer = std::thread::Builder::new()
            .name("suanpan-gateway-store".into())
            .spawn(move || run_writer(conn, rx))
            .map_err(|e| GatewayError::Store(format!("cannot start the store thread: {e}")))?;
        Ok(Store {
            jobs,
            readers: Arc::new(readers),
            writer: Mutex::new(Some(writer)),
        })
    }

    fn enqueue<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, GatewayError> + Send + 'static,
        done: impl FnOnce(Result<R, GatewayError>) + Send + 'static,
    ) -> Result<(), GatewayError> {
        let job: Job = Box::new(move |conn: &Connection| {
            // Every job checks before it writes, so a refusal (a conflict, an amount too
            // large) leaves nothing behind and the group goes on. Only a failure after a
            // write (the disk, a bug) spoils the group. No savepoint per job: SQLite would
            // copy every page a job touches into a sub-journal, a fifth of this thread's work.
            let changes = conn.total_changes();
            let result = f(conn);
            let spoiled = result.is_err() && conn.total_changes() != changes;
            let answer: Answer = Box::new(move |committed: Result<(), GatewayError>| {
                done(committed.and(result));
            });
            (answer, spoiled)
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(GatewayError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                Err(GatewayError::Store("the store has stopped".into()))
            }
        }
    }

    /// Runs `f` in the next group transaction; answers once it is committed and fsynced.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, GatewayError> + Send + 'static,
    ) -> Result<R, GatewayError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await
            .map_err(|_| GatewayError::Store("the store stopped before answering".into()))?
    }

    /// [`Store::write`] for callers outside the async runtime.
    pub fn write_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, GatewayError> + Send + 'static,
    ) -> Result<R, GatewayError> {
        let (tx, rx) = mpsc::channel();
        self.enqueue(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv()
            .map_err(|_| GatewayError::Store("the store stopped before answering".into()))?
    }

    /// A point read (an order, a merchant) on a free reading connection (WAL: it sees every
    /// committed write, never a half-done one). Short enough (page-cache hits, microseconds)
    /// to run where it is asked; what scans goes through [`Store::read_async`].
    pub fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, GatewayError>,
    ) -> Result<R, GatewayError> {
        read_on(&self.readers, f)
    }

    /// A read that scans (a day's records, a page of orders, the scheduler's due work), on
    /// the runtime's blocking threads, so it never holds up an async worker.
    pub async fn read_async<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, GatewayError> + Send + 'static,
    ) -> Result<R, GatewayError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || read_on(&readers, f))
            .await
            .map_err(|e| GatewayError::Store(format!("a store read failed: {e}")))?
    }
}

/// Runs `f` on the first free reading connection; if none is free, waits for one (which
/// one by the thread, so waiters spread).
fn read_on<R>(
    readers: &[Mutex<Connection>],
    f: impl FnOnce(&Connection) -> Result<R, GatewayError>,
) -> Result<R, GatewayError> {
    for reader in readers {
        if let Ok(conn) = reader.try_lock() {
            return f(&conn);
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&std::thread::current().id(), &mut hasher);
    let at = (std::hash::Hasher::finish(&hasher) as usize) % readers.len().max(1);
    let conn = readers[at].lock().unwrap_or_else(|p| p.into_inner());
    f(&conn)
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing the queue ends the writer after it has committed what it holds.
        let (dead, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.jobs, dead));
        if let Some(writer) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

fn run_writer(conn: Connection, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_JOBS_MAX {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if conn.execute_batch("BEGIN IMMEDIATE").is_err() {
            // Nothing ran: dropping the jobs drops their answers, and every caller learns
            // that the store failed.
            continue;
        }
        let mut spoiled = false;
        let answers: Vec<Answer> = group
            .into_iter()
            .map(|job| {
                let (answer, failed) = job(&conn);
                spoiled |= failed;
                answer
            })
            .collect();
        let committed = if spoiled {
            Err(GatewayError::Store(
                "a write failed part-way; its group was rolled back".into(),
            ))
        } else {
            conn.execute_batch("COMMIT")
                .map_err(|e| GatewayError::Store(format!("commit failed: {e}")))
        };
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for answer in answers {
            answer(committed.clone());
        }
    }
}

// ---- rows ----------------------------------------------------------------------------------

pub const ORDER_COLUMNS: &str = "id, merchant, owner, merchant_order_no, amount, currency, subject, channel, state, created_ms, expire_at_ms, channel_trade_no, pay_url, refunded, flagged_for_refund, queries, next_query_ms, return_url";

fn order_row(r: &Row) -> rusqlite::Result<Order> {
    let state: String = r.get(8)?;
    Ok(Order {
        id: r.get::<_, i64>(0)? as u64,
        merchant: r.get(1)?,
        owner: r.get::<_, i64>(2)? as u64,
        merchant_order_no: r.get(3)?,
        amount_minor: r.get::<_, i64>(4)? as u64,
        currency: r.get(5)?,
        subject: r.get(6)?,
        channel: r.get(7)?,
        state: OrderState::parse(&state).unwrap_or(OrderState::Created),
        created_ms: r.get::<_, i64>(9)? as u64,
        expire_at_ms: r.get::<_, i64>(10)? as u64,
        channel_trade_no: r.get(11)?,
        pay_url: r.get(12)?,
        refunded_minor: r.get::<_, i64>(13)? as u64,
        flagged_for_refund: r.get::<_, i64>(14)? != 0,
        queries: r.get::<_, i64>(15)? as u32,
        next_query_ms: r.get::<_, Option<i64>>(16)?.map(|v| v as u64),
        return_url: r.get(17)?,
    })
}

fn refund_row(r: &Row) -> rusqlite::Result<Refund> {
    let state: String = r.get(4)?;
    Ok(Refund {
        id: r.get::<_, i64>(0)? as u64,
        order_id: r.get::<_, i64>(1)? as u64,
        refund_no: r.get(2)?,
        amount_minor: r.get::<_, i64>(3)? as u64,
        state: RefundState::parse(&state).unwrap_or(RefundState::Processing),
        created_ms: r.get::<_, i64>(5)? as u64,
        attempts: r.get::<_, i64>(6)? as u32,
    })
}

const REFUND_COLUMNS: &str = "id, order_id, refund_no, amount, state, created_ms, attempts";

pub fn order_by_id(conn: &Connection, id: u64) -> Result<Option<Order>, GatewayError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1"))?
        .query_row([id as i64], order_row)
        .optional()?)
}

pub fn order_by_merchant_no(
    conn: &Connection,
    merchant: &str,
    merchant_order_no: &str,
) -> Result<Option<Order>, GatewayError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE merchant = ?1 AND merchant_order_no = ?2"
        ))?
        .query_row(params![merchant, merchant_order_no], order_row)
        .optional()?)
}

/// The digest of what makes an order the same order (for a repeated create).
pub fn order_digest(
    amount_minor: u64,
    currency: &str,
    subject: &str,
    channel: &str,
    expire_s: Option<u64>,
    return_url: Option<&str>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        amount_minor.to_string(),
        currency.to_string(),
        subject.to_string(),
        channel.to_string(),
        expire_s.map(|s| s.to_string()).unwrap_or_default(),
    ] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    // Only when given, so orders taken before there was one keep their digest.
    if let Some(url) = return_url {
        h.update(b"return_url");
        h.update(url.len().to_le_bytes());
        h.update(url.as_bytes());
    }
    crate::hex(&h.finalize())
}

/// The key result-page tokens are made with: drawn once, kept in `meta`.
pub fn page_key(conn: &Connection) -> Result<Vec<u8>, GatewayError> {
    let found: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'page_key'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(hex) = found {
        return Ok(hex.into_bytes());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| GatewayError::Store(format!("no randomness from the system: {e}")))?;
    let hex = crate::hex(&bytes);
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('page_key', ?1)",
        [&hex],
    )?;
    Ok(hex.into_bytes())
}

/// Inserts a new order, or returns the one the merchant already made under this number
/// (`false`: not new). A different body under the same number is a conflict.
pub fn insert_order(
    conn: &Connection,
    order: &Order,
    digest: &str,
) -> Result<(Order, bool), GatewayError> {
    let existing: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, body_digest FROM orders WHERE merchant = ?1 AND merchant_order_no = ?2",
        )?
        .query_row(params![order.merchant, order.merchant_order_no], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((id, old)) = existing {
        if old != digest {
            return Err(GatewayError::OrderConflict(order.merchant_order_no.clone()));
        }
        let found = order_by_id(conn, id as u64)?
            .ok_or_else(|| GatewayError::Store("an order vanished".into()))?;
        return Ok((found, false));
    }
    // Numbered in order: appends go to the end of the table's B-tree, where random ids cost
    // a quarter more of the whole server's CPU per order in the gateway benchmark.
    let last: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM orders")?
        .query_row([], |r| r.get(0))?;
    let mut order = order.clone();
    order.id = last as u64 + 1;
    let order = &order;
    conn.prepare_cached(
        "INSERT INTO orders (id, merchant, owner, merchant_order_no, amount, currency, subject, channel, body_digest, state, created_ms, expire_at_ms, next_query_ms, return_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'created', ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        order.id as i64,
        order.merchant,
        order.owner as i64,
        order.merchant_order_no,
        order.amount_minor as i64,
        order.currency,
        order.subject,
        order.channel,
        digest,
        order.created_ms as i64,
        order.expire_at_ms as i64,
        order.next_query_ms.map(|v| v as i64),
        order.return_url,
    ])?;
    record_event(
        conn,
        order.id,
        None,
        None,
        "created",
        "merchant",
        order.created_ms,
    )?;
    Ok((order.clone(), true))
}

fn record_event(
    conn: &Connection,
    order_id: u64,
    refund_id: Option<u64>,
    from: Option<&str>,
    to: &str,
    cause: &str,
    at_ms: u64,
) -> Result<u64, GatewayError> {
    conn.prepare_cached(
        "INSERT INTO events (order_id, refund_id, from_state, to_state, cause, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        order_id as i64,
        refund_id.map(|v| v as i64),
        from,
        to,
        cause,
        at_ms as i64
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

/// What a transition changes besides the state.
#[derive(Default, Clone, Debug)]
pub struct Change {
    pub channel_trade_no: Option<String>,
    pub pay_url: Option<String>,
    pub flag_for_refund: bool,
    /// `Some(None)`: no more queries.
    pub next_query_ms: Option<Option<u64>>,
    /// The merchant notification owed by this change (its body), if any.
    pub notify: Option<String>,
}

/// Moves an order from one of `from` to `to` in one transaction with its event and, for a
/// final state, the merchant notification owed. `Ok(None)`: the order was not in one of
/// `from` (someone else moved it first); nothing changed. An illegal transition is refused.
pub fn transition(
    conn: &Connection,
    order_id: u64,
    to: OrderState,
    cause: &str,
    change: &Change,
    now_ms: u64,
) -> Result<Option<Order>, GatewayError> {
    let Some(order) = order_by_id(conn, order_id)? else {
        return Err(GatewayError::OrderNotFound(order_id));
    };
    if !order.state.can_move_to(to) {
        return Ok(None);
    }
    conn.prepare_cached(
        "UPDATE orders SET state = ?2,
            channel_trade_no = COALESCE(?3, channel_trade_no),
            pay_url = COALESCE(?4, pay_url),
            flagged_for_refund = flagged_for_refund OR ?5,
            next_query_ms = CASE WHEN ?6 THEN ?7 ELSE next_query_ms END
         WHERE id = ?1",
    )?
    .execute(params![
        order_id as i64,
        to.as_str(),
        change.channel_trade_no,
        change.pay_url,
        change.flag_for_refund,
        change.next_query_ms.is_some(),
        change.next_query_ms.flatten().map(|v| v as i64),
    ])?;
    let seq = record_event(
        conn,
        order_id,
        None,
        Some(order.state.as_str()),
        to.as_str(),
        cause,
        now_ms,
    )?;
    if let Some(body) = &change.notify {
        insert_notification(conn, order_id, &order.merchant, seq, body, now_ms)?;
    }
    // The order as it now stands, without reading it back.
    let mut order = order;
    order.state = to;
    if let Some(no) = &change.channel_trade_no {
        order.channel_trade_no = Some(no.clone());
    }
    if let Some(url) = &change.pay_url {
        order.pay_url = Some(url.clone());
    }
    order.flagged_for_refund |= change.flag_for_refund;
    if let Some(next) = change.next_query_ms {
        order.next_query_ms = next;
    }
    Ok(Some(order))
}

pub fn insert_notification(
    conn: &Connection,
    order_id: u64,
    merchant: &str,
    event_seq: u64,
    body: &str,
    now_ms: u64,
) -> Result<u64, GatewayError> {
    conn.prepare_cached(
        "INSERT INTO outbox (order_id, merchant, event_seq, body, state, next_at_ms) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
    )?
    .execute(params![order_id as i64, merchant, event_seq as i64, body, now_ms as i64])?;
    Ok(conn.last_insert_rowid() as u64)
}

/// Schedules the next query of an open order.
pub fn set_next_query(
    conn: &Connection,
    order_id: u64,
    queries: u32,
    next_query_ms: Option<u64>,
) -> Result<(), GatewayError> {
    conn.prepare_cached("UPDATE orders SET queries = ?2, next_query_ms = ?3 WHERE id = ?1")?
        .execute(params![
            order_id as i64,
            queries as i64,
            next_query_ms.map(|v| v as i64)
        ])?;
    Ok(())
}

/// Open orders whose query or expiry is due: `next_query_ms` is never later than the
/// expiry, so one range of the `orders_open` index finds both.
/// Orders in a state created in [from_ms, to_ms), newest first: the console's search (an
/// index on state and time, never a scan).
pub fn orders_by_state(
    conn: &Connection,
    state: &str,
    from_ms: u64,
    to_ms: u64,
    limit: u32,
) -> Result<Vec<Order>, GatewayError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE state = ?1 AND created_ms >= ?2 AND created_ms < ?3
         ORDER BY created_ms DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![
            state,
            from_ms as i64,
            to_ms.min(i64::MAX as u64) as i64,
            limit
        ],
        order_row,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn due_orders(conn: &Connection, now_ms: u64, limit: u32) -> Result<Vec<Order>, GatewayError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE state IN ('created', 'paying')
           AND next_query_ms <= ?1 ORDER BY next_query_ms LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now_ms as i64, limit], order_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn events(conn: &Connection, order_id: u64) -> Result<Vec<Event>, GatewayError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, order_id, refund_id, from_state, to_state, cause, at_ms FROM events WHERE order_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([order_id as i64], |r| {
        Ok(Event {
            seq: r.get::<_, i64>(0)? as u64,
            order_id: r.get::<_, i64>(1)? as u64,
            refund_id: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
            from_state: r.get(3)?,
            to_state: r.get(4)?,
            cause: r.get(5)?,
            at_ms: r.get::<_, i64>(6)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// What reconciliation reads of one payment or refund: the gateway's side of a bill line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconRecord {
    /// The order's id for a payment, the refund's id for a refund.
    pub id: u64,
    pub refund: bool,
    pub order_id: u64,
    pub amount_minor: u64,
    /// Succeeded (paid, or refunded as asked).
    pub done: bool,
    /// A payment of which a refund has succeeded.
    pub refunded: bool,
    /// When it succeeded, else when it was created; Unix milliseconds.
    pub at_ms: u64,
}

/// A channel's business in [from_ms, to_ms): payments and refunds that succeeded in it (by
/// their success event's time, as a channel bills them), and orders created in it that have
/// not succeeded (the platform's record of a payment the channel may still bill).
pub fn recon_records(
    conn: &Connection,
    channel: &str,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<ReconRecord>, GatewayError> {
    let (from, to) = (
        from_ms.min(i64::MAX as u64) as i64,
        to_ms.min(i64::MAX as u64) as i64,
    );
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT e.refund_id, o.id, COALESCE(r.amount, o.amount), o.refunded, e.at_ms
           FROM events e JOIN orders o ON o.id = e.order_id
           LEFT JOIN refunds r ON r.id = e.refund_id
          WHERE e.to_state = 'succeeded' AND e.at_ms >= ?2 AND e.at_ms < ?3 AND o.channel = ?1",
    )?;
    let mut rows = stmt.query(params![channel, from, to])?;
    while let Some(r) = rows.next()? {
        let refund_id: Option<i64> = r.get(0)?;
        let order_id = r.get::<_, i64>(1)? as u64;
        out.push(ReconRecord {
            id: refund_id.map_or(order_id, |v| v as u64),
            refund: refund_id.is_some(),
            order_id,
            amount_minor: r.get::<_, i64>(2)? as u64,
            done: true,
            refunded: refund_id.is_none() && r.get::<_, i64>(3)? > 0,
            at_ms: r.get::<_, i64>(4)? as u64,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, amount, created_ms FROM orders
          WHERE state IN ('created', 'paying', 'failed', 'closed')
            AND created_ms >= ?2 AND created_ms < ?3 AND channel = ?1",
    )?;
    let mut rows = stmt.query(params![channel, from, to])?;
    while let Some(r) = rows.next()? {
        let id = r.get::<_, i64>(0)? as u64;
        out.push(ReconRecord {
            id,
            refund: false,
            order_id: id,
            amount_minor: r.get::<_, i64>(1)? as u64,
            done: false,
            refunded: false,
            at_ms: r.get::<_, i64>(2)? as u64,
        });
    }
    Ok(out)
}

/// The gauges `/metrics` shows: open orders (the partial index of open ones) and the outbox's
/// pending notifications with the age of the oldest (the partial index of pending ones).
pub fn gauges(conn: &Connection, now_ms: u64) -> Result<crate::metrics::Gauges, GatewayError> {
    let orders_open: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM orders INDEXED BY orders_open WHERE state IN ('created', 'paying')",
        )?
        .query_row([], |r| r.get(0))?;
    let (pending, oldest): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT COUNT(*), MIN(e.at_ms) FROM outbox o JOIN events e ON e.seq = o.event_seq
              WHERE o.state = 'pending'",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(crate::metrics::Gauges {
        orders_open: orders_open.max(0) as u64,
        outbox_pending: pending.max(0) as u64,
        outbox_oldest_ms: oldest.map_or(0, |at| now_ms.saturating_sub(at.max(0) as u64)),
    })
}

// ---- refunds -------------------------------------------------------------------------------

/// Inserts refund `refund_no` of an order, checked against what is left of what was paid
/// (refunds not failed count). A repeat with the same amount returns the first.
pub fn insert_refund(
    conn: &Connection,
    order_id: u64,
    refund_no: &str,
    amount_minor: u64,
    now_ms: u64,
) -> Result<(Refund, bool), GatewayError> {
    let order = order_by_id(conn, order_id)?.ok_or(GatewayError::OrderNotFound(order_id))?;
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = ?1 AND refund_no = ?2"
        ))?
        .query_row(params![order_id as i64, refund_no], refund_row)
        .optional()?;
    if let Some(refund) = existing {
        if refund.amount_minor != amount_minor {
            return Err(GatewayError::RefundConflict(refund_no.to_string()));
        }
        return Ok((refund, false));
    }
    if order.state != OrderState::Succeeded {
        return Err(GatewayError::OrderNotRefundable(format!(
            "order {order_id} is {}; only a succeeded order can be refunded",
            order.state.as_str()
        )));
    }
    let committed: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE order_id = ?1 AND state != 'failed'",
        )?
        .query_row([order_id as i64], |r| r.get(0))?;
    let left = order.amount_minor.saturating_sub(committed as u64);
    if amount_minor > left {
        return Err(GatewayError::RefundExceedsPaid {
            asked: amount_minor,
            left,
        });
    }
    conn.prepare_cached(
        "INSERT INTO refunds (order_id, refund_no, amount, state, created_ms) VALUES (?1, ?2, ?3, 'processing', ?4)",
    )?
    .execute(params![order_id as i64, refund_no, amount_minor as i64, now_ms as i64])?;
    let id = conn.last_insert_rowid() as u64;
    record_event(
        conn,
        order_id,
        Some(id),
        None,
        "processing",
        "merchant",
        now_ms,
    )?;
    let refund = Refund {
        id,
        order_id,
        refund_no: refund_no.to_string(),
        amount_minor,
        state: RefundState::Processing,
        created_ms: now_ms,
        attempts: 0,
    };
    Ok((refund, true))
}

pub fn refund_by_id(conn: &Connection, id: u64) -> Result<Option<Refund>, GatewayError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE id = ?1"
        ))?
        .query_row([id as i64], refund_row)
        .optional()?)
}

/// Refunds still processing whose next ask is due (a partial index holds only those
/// processing: few).
pub fn processing_refunds(
    conn: &Connection,
    now_ms: u64,
    limit: u32,
) -> Result<Vec<Refund>, GatewayError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE state = 'processing' AND next_at_ms <= ?1
         ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![now_ms.min(i64::MAX as u64) as i64, limit],
        refund_row,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A refund the channel has not finished: asked again at `next_at_ms`.
pub fn set_refund_retry(
    conn: &Connection,
    id: u64,
    attempts: u32,
    next_at_ms: u64,
) -> Result<(), GatewayError> {
    conn.prepare_cached(
        "UPDATE refunds SET attempts = ?2, next_at_ms = ?3 WHERE id = ?1 AND state = 'processing'",
    )?
    .execute(params![
        id as i64,
        attempts,
        next_at_ms.min(i64::MAX as u64) as i64
    ])?;
    Ok(())
}

/// Moves a refund to its final state, with its event and notification; a succeeded refund
/// adds to the order's refunded total.
pub fn finish_refund(
    conn: &Connection,
    refund_id: u64,
    to: RefundState,
    notify: &str,
    now_ms: u64,
) -> Result<Option<Refund>, GatewayError> {
    let refund = refund_by_id(conn, refund_id)?
        .ok_or_else(|| GatewayError::Store(format!("no refund {refund_id}")))?;
    if !refund.state.can_move_to(to) {
        return Ok(None);
    }
    conn.prepare_cached("UPDATE refunds SET state = ?2 WHERE id = ?1")?
        .execute(params![refund_id as i64, to.as_str()])?;
    if to == RefundState::Succeeded {
        conn.prepare_cached("UPDATE orders SET refunded = refunded + ?2 WHERE id = ?1")?
            .execute(params![refund.order_id as i64, refund.amount_minor as i64])?;
    }
    let seq = record_event(
        conn,
        refund.order_id,
        Some(refund_id),
        Some(refund.state.as_str()),
        to.as_str(),
        "channel",
        now_ms,
    )?;
    let merchant: String = conn
        .prepare_cached("SELECT merchant FROM orders WHERE id = ?1")?
        .query_row([refund.order_id as i64], |r| r.get(0))?;
    insert_notification(conn, refund.order_id, &merchant, seq, notify, now_ms)?;
    refund_by_id(conn, refund_id)
}

// ---- merchants and the outbox --------------------------------------------------------------

pub fn upsert_merchant(conn: &Connection, m: &Merchant) -> Result<(), GatewayError> {
    conn.execute(
        "INSERT INTO merchants (participant, owner, notify_url, notify_secret) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (participant) DO UPDATE SET owner = ?2, notify_url = ?3, notify_secret = ?4",
        params![m.participant, m.owner as i64, m.notify_url, m.notify_secret],
    )?;
    Ok(())
}

pub fn merchant(conn: &Connection, participant: &str) -> Result<Option<Merchant>, GatewayError> {
    Ok(conn
        .prepare_cached(
            "SELECT participant, owner, notify_url, notify_secret FROM merchants WHERE participant = ?1",
        )?
        .query_row([participant], |r| {
            Ok(Merchant {
                participant: r.get(0)?,
                owner: r.get::<_, i64>(1)? as u64,
                notify_url: r.get(2)?,
                notify_secret: r.get(3)?,
            })
        })
        .optional()?)
}

fn notification_row(r: &Row) -> rusqlite::Result<Notification> {
    Ok(Notification {
        id: r.get::<_, i64>(0)? as u64,
        order_id: r.get::<_, i64>(1)? as u64,
        body: r.get(2)?,
        state: r.get(3)?,
        round: r.get::<_, i64>(4)? as u32,
        next_at_ms: r.get::<_, i64>(5)? as u64,
        merchant: r.get(6)?,
    })
}

pub fn due_notifications(
    conn: &Connection,
    now_ms: u64,
    limit: u32,
) -> Result<Vec<Notification>, GatewayError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, body, state, round, next_at_ms, merchant FROM outbox
         WHERE state = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms as i64, limit], notification_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn notifications(conn: &Connection, order_id: u64) -> Result<Vec<Notification>, GatewayError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, order_id, body, state, round, next_at_ms, merchant FROM outbox WHERE order_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([order_id as i64], notification_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub fn attempts(conn: &Connection, outbox_id: u64) -> Result<Vec<Attempt>, GatewayError> {
    let mut stmt = conn.prepare_cached(
        "SELECT outbox_id, at_ms, status, outcome FROM notify_attempts WHERE outbox_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([outbox_id as i64], |r| {
        Ok(Attempt {
            outbox_id: r.get::<_, i64>(0)? as u64,
            at_ms: r.get::<_, i64>(1)? as u64,
            status: r.get::<_, i64>(2)? as u16,
            outcome: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Records one delivery attempt and what follows: delivered, retried at `next_at_ms`, or
/// given up (`None`).
pub fn record_attempt(
    conn: &Connection,
    outbox_id: u64,
    attempt: &Attempt,
    delivered: bool,
    next_at_ms: Option<u64>,
) -> Result<(), GatewayError> {
    conn.prepare_cached(
        "INSERT INTO notify_attempts (outbox_id, at_ms, status, outcome) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        outbox_id as i64,
        attempt.at_ms as i64,
        attempt.status as i64,
        attempt.outcome
    ])?;
    let (state, next) = match (delivered, next_at_ms) {
        (true, _) => ("delivered", attempt.at_ms),
        (false, Some(next)) => ("pending", next),
        (false, None) => ("given_up", attempt.at_ms),
    };
    conn.prepare_cached(
        "UPDATE outbox SET state = ?2, round = round + 1, next_at_ms = ?3 WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![outbox_id as i64, state, next as i64])?;
    Ok(())
}

/// An operator's re-send: the order's latest notification goes out again now, with a fresh
/// retry schedule. Returns its id, or `None` when the order owes none.
pub fn resend_latest(
    conn: &Connection,
    order_id: u64,
    now_ms: u64,
) -> Result<Option<u64>, GatewayError> {
    let latest: Option<i64> = conn
        .prepare_cached("SELECT MAX(id) FROM outbox WHERE order_id = ?1")?
        .query_row([order_id as i64], |r| r.get(0))?;
    let Some(id) = latest else {
        return Ok(None);
    };
    conn.prepare_cached(
        "UPDATE outbox SET state = 'pending', round = 0, next_at_ms = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now_ms as i64])?;
    Ok(Some(id as u64))
}
