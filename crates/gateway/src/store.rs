//! The gateway's durable state: orders, refunds, every state change as an ordered event,
//! merchants' notification settings, and the notification outbox with every attempt. On the
//! embedded default it is `gateway.db` beside the journal (WAL, `synchronous=FULL`); with the
//! journal on PostgreSQL it is the `gateway_*` tables of that database, so a node that takes
//! the writer's lease over continues the orders, queries and notifications of the old one.
//!
//! The storage home (`suanpan_store::room`) writes on one thread in groups: it takes the jobs
//! waiting, runs them in one transaction (a job refuses before it writes; one that fails after
//! writing rolls the group back), commits and only then answers each. So a caller is never
//! told of a change that could still be lost, and thousands of orders a second share a few
//! commits. On PostgreSQL each group is fenced by the writer's lease.

use suanpan_store::args;
use suanpan_store::room::{RoomSchema, RoomStore};
use suanpan_store::sql::{Dialect, Row, Sql};
use suanpan_store::Schema;

use crate::error::GatewayError;
use crate::order::{Order, OrderState, Refund, RefundState};

pub use suanpan_store::room::Home;

pub const DB_FILE: &str = "gateway.db";

/// The gateway's tables in both homes. SQLite: 2, orders keep the merchant's `return_url`;
/// 3, a refund still processing is asked again on a backoff (`attempts`, `next_at_ms`); 4,
/// the tables are named `gateway_*`, as on PostgreSQL, so one statement serves both.
pub const SCHEMA: RoomSchema = RoomSchema {
    room: "gateway",
    sqlite: Schema {
        file: DB_FILE,
        version: 4,
        ddl: SQLITE_DDL,
        migrations: &[
            (2, "ALTER TABLE orders ADD COLUMN return_url TEXT;"),
            (
                3,
                "ALTER TABLE refunds ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
                 ALTER TABLE refunds ADD COLUMN next_at_ms INTEGER NOT NULL DEFAULT 0;",
            ),
            (
                4,
                "ALTER TABLE merchants RENAME TO gateway_merchants;
                 ALTER TABLE orders RENAME TO gateway_orders;
                 ALTER TABLE refunds RENAME TO gateway_refunds;
                 ALTER TABLE events RENAME TO gateway_events;
                 ALTER TABLE outbox RENAME TO gateway_outbox;
                 ALTER TABLE notify_attempts RENAME TO gateway_notify_attempts;
                 CREATE TABLE gateway_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO gateway_meta SELECT key, value FROM meta WHERE key = 'page_key';
                 DELETE FROM meta WHERE key = 'page_key';",
            ),
        ],
        readers: 4,
    },
    postgres: POSTGRES_MIGRATIONS,
};

const SQLITE_DDL: &str = "
CREATE TABLE IF NOT EXISTS gateway_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gateway_merchants (
    participant TEXT PRIMARY KEY,
    owner INTEGER NOT NULL,
    notify_url TEXT NOT NULL,
    notify_secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gateway_orders (
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
CREATE INDEX IF NOT EXISTS orders_open ON gateway_orders (next_query_ms) WHERE state IN ('created', 'paying');
CREATE INDEX IF NOT EXISTS orders_state_time ON gateway_orders (state, created_ms);
CREATE TABLE IF NOT EXISTS gateway_refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES gateway_orders (id),
    refund_no TEXT NOT NULL,
    amount INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL DEFAULT 0,
    UNIQUE (order_id, refund_no)
);
CREATE INDEX IF NOT EXISTS refunds_processing ON gateway_refunds (id) WHERE state = 'processing';
CREATE TABLE IF NOT EXISTS gateway_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    refund_id INTEGER,
    from_state TEXT,
    to_state TEXT NOT NULL,
    cause TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_order ON gateway_events (order_id, seq);
CREATE INDEX IF NOT EXISTS events_success_time ON gateway_events (at_ms) WHERE to_state = 'succeeded';
CREATE TABLE IF NOT EXISTS gateway_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    merchant TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    round INTEGER NOT NULL DEFAULT 0,
    next_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON gateway_outbox (next_at_ms) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS gateway_notify_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_outbox ON gateway_notify_attempts (outbox_id, id);
";

/// The same tables on PostgreSQL (append only: a released migration never changes).
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "orders, refunds, events, merchants, the notification outbox",
    "
CREATE TABLE gateway_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE gateway_merchants (
    participant   text   PRIMARY KEY,
    owner         bigint NOT NULL,
    notify_url    text   NOT NULL,
    notify_secret text   NOT NULL
);
CREATE TABLE gateway_orders (
    id                 bigint  PRIMARY KEY,
    merchant           text    NOT NULL,
    owner              bigint  NOT NULL,
    merchant_order_no  text    NOT NULL,
    amount             bigint  NOT NULL CHECK (amount > 0),
    currency           text    NOT NULL,
    subject            text    NOT NULL,
    channel            text    NOT NULL,
    body_digest        text    NOT NULL,
    state              text    NOT NULL,
    created_ms         bigint  NOT NULL,
    expire_at_ms       bigint  NOT NULL,
    channel_trade_no   text,
    pay_url            text,
    refunded           bigint  NOT NULL DEFAULT 0,
    flagged_for_refund boolean NOT NULL DEFAULT false,
    queries            bigint  NOT NULL DEFAULT 0,
    next_query_ms      bigint,
    return_url         text,
    UNIQUE (merchant, merchant_order_no)
);
CREATE INDEX gateway_orders_open ON gateway_orders (next_query_ms) WHERE state IN ('created', 'paying');
CREATE INDEX gateway_orders_state_time ON gateway_orders (state, created_ms);
CREATE TABLE gateway_refunds (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   bigint NOT NULL REFERENCES gateway_orders (id),
    refund_no  text   NOT NULL,
    amount     bigint NOT NULL CHECK (amount > 0),
    state      text   NOT NULL,
    created_ms bigint NOT NULL,
    attempts   bigint NOT NULL DEFAULT 0,
    next_at_ms bigint NOT NULL DEFAULT 0,
    UNIQUE (order_id, refund_no)
);
CREATE INDEX gateway_refunds_processing ON gateway_refunds (id) WHERE state = 'processing';
CREATE TABLE gateway_events (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   bigint NOT NULL,
    refund_id  bigint,
    from_state text,
    to_state   text   NOT NULL,
    cause      text   NOT NULL,
    at_ms      bigint NOT NULL
);
CREATE INDEX gateway_events_order ON gateway_events (order_id, seq);
CREATE INDEX gateway_events_success_time ON gateway_events (at_ms) WHERE to_state = 'succeeded';
CREATE TABLE gateway_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   bigint NOT NULL,
    merchant   text   NOT NULL,
    event_seq  bigint NOT NULL,
    body       text   NOT NULL,
    state      text   NOT NULL,
    round      bigint NOT NULL DEFAULT 0,
    next_at_ms bigint NOT NULL
);
CREATE INDEX gateway_outbox_due ON gateway_outbox (next_at_ms) WHERE state = 'pending';
CREATE TABLE gateway_notify_attempts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id  bigint NOT NULL,
    at_ms      bigint NOT NULL,
    status     bigint NOT NULL,
    outcome    text   NOT NULL
);
CREATE INDEX gateway_notify_attempts_outbox ON gateway_notify_attempts (outbox_id, id);
",
)];

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

/// The gateway's store, in whichever home the node keeps its rooms.
pub type Store = RoomStore;

/// Opens the gateway's store in `home`.
pub fn open(home: &Home) -> Result<Store, GatewayError> {
    RoomStore::open(home, &SCHEMA).map_err(GatewayError::from)
}

// ---- rows ----------------------------------------------------------------------------------

pub const ORDER_COLUMNS: &str = "id, merchant, owner, merchant_order_no, amount, currency, subject, channel, state, created_ms, expire_at_ms, channel_trade_no, pay_url, refunded, flagged_for_refund, queries, next_query_ms, return_url";

fn order_row(r: &Row) -> Result<Order, GatewayError> {
    let state = r.str(8)?;
    Ok(Order {
        id: r.u64(0)?,
        merchant: r.str(1)?,
        owner: r.u64(2)?,
        merchant_order_no: r.str(3)?,
        amount_minor: r.u64(4)?,
        currency: r.str(5)?,
        subject: r.str(6)?,
        channel: r.str(7)?,
        state: OrderState::parse(&state).ok_or_else(|| {
            GatewayError::Store(format!("an order in an unknown state {state:?}"))
        })?,
        created_ms: r.u64(9)?,
        expire_at_ms: r.u64(10)?,
        channel_trade_no: r.opt_str(11)?,
        pay_url: r.opt_str(12)?,
        refunded_minor: r.u64(13)?,
        flagged_for_refund: r.bool(14)?,
        queries: u32::try_from(r.u64(15)?).unwrap_or(u32::MAX),
        next_query_ms: r.opt_u64(16)?,
        return_url: r.opt_str(17)?,
    })
}

fn refund_row(r: &Row) -> Result<Refund, GatewayError> {
    let state = r.str(4)?;
    Ok(Refund {
        id: r.u64(0)?,
        order_id: r.u64(1)?,
        refund_no: r.str(2)?,
        amount_minor: r.u64(3)?,
        state: RefundState::parse(&state).ok_or_else(|| {
            GatewayError::Store(format!("a refund in an unknown state {state:?}"))
        })?,
        created_ms: r.u64(5)?,
        attempts: u32::try_from(r.u64(6)?).unwrap_or(u32::MAX),
    })
}

const REFUND_COLUMNS: &str = "id, order_id, refund_no, amount, state, created_ms, attempts";

/// Milliseconds and counts as the database's signed integers (they are far below 2^63).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A number the database gave a new row (never negative).
fn numbered(id: i64) -> Result<u64, GatewayError> {
    u64::try_from(id).map_err(|_| GatewayError::Store(format!("the database numbered a row {id}")))
}

fn rows<T>(
    rows: Vec<Row>,
    f: impl Fn(&Row) -> Result<T, GatewayError>,
) -> Result<Vec<T>, GatewayError> {
    rows.iter().map(f).collect()
}

pub fn order_by_id(c: &dyn Sql, id: u64) -> Result<Option<Order>, GatewayError> {
    c.query_row(
        &format!("SELECT {ORDER_COLUMNS} FROM gateway_orders WHERE id = ?1"),
        args![int(id)],
    )?
    .map(|r| order_row(&r))
    .transpose()
}

pub fn order_by_merchant_no(
    c: &dyn Sql,
    merchant: &str,
    merchant_order_no: &str,
) -> Result<Option<Order>, GatewayError> {
    c.query_row(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM gateway_orders WHERE merchant = ?1 AND merchant_order_no = ?2"
        ),
        args![merchant, merchant_order_no],
    )?
    .map(|r| order_row(&r))
    .transpose()
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

/// The key result-page tokens are made with: drawn once, by whichever node first opens the
/// gateway, and kept in `gateway_meta`, so every node of a leader and its standbys signs and
/// checks the same tokens. Two nodes drawing at once keep the first one written.
pub fn page_key(c: &dyn Sql) -> Result<Vec<u8>, GatewayError> {
    let read = |c: &dyn Sql| -> Result<Option<Vec<u8>>, GatewayError> {
        c.query_row(
            "SELECT value FROM gateway_meta WHERE key = 'page_key'",
            args![],
        )?
        .map(|row| Ok(row.str(0)?.into_bytes()))
        .transpose()
    };
    if let Some(key) = read(c)? {
        return Ok(key);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| GatewayError::Store(format!("no randomness from the system: {e}")))?;
    c.execute(
        "INSERT INTO gateway_meta (key, value) VALUES ('page_key', ?1) ON CONFLICT (key) DO NOTHING",
        args![&crate::hex(&bytes)],
    )?;
    read(c)?.ok_or_else(|| GatewayError::Store("the page key was not kept".into()))
}

/// Inserts a new order, or returns the one the merchant already made under this number
/// (`false`: not new). A different body under the same number is a conflict.
pub fn insert_order(
    c: &dyn Sql,
    order: &Order,
    digest: &str,
) -> Result<(Order, bool), GatewayError> {
    let existing = c.query_row(
        "SELECT id, body_digest FROM gateway_orders WHERE merchant = ?1 AND merchant_order_no = ?2",
        args![&order.merchant, &order.merchant_order_no],
    )?;
    if let Some(row) = existing {
        if row.str(1)? != digest {
            return Err(GatewayError::OrderConflict(order.merchant_order_no.clone()));
        }
        let found = order_by_id(c, row.u64(0)?)?
            .ok_or_else(|| GatewayError::Store("an order vanished".into()))?;
        return Ok((found, false));
    }
    // Numbered in order: appends go to the end of the table's B-tree, where random ids cost
    // a quarter more of the whole server's CPU per order in the gateway benchmark.
    let last = c
        .query_one("SELECT COALESCE(MAX(id), 0) FROM gateway_orders", args![])?
        .u64(0)?;
    let mut order = order.clone();
    order.id = last + 1;
    let order = &order;
    c.execute(
        "INSERT INTO gateway_orders (id, merchant, owner, merchant_order_no, amount, currency, subject, channel, body_digest, state, created_ms, expire_at_ms, next_query_ms, return_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'created', ?10, ?11, ?12, ?13)",
        args![
            int(order.id),
            &order.merchant,
            int(order.owner),
            &order.merchant_order_no,
            int(order.amount_minor),
            &order.currency,
            &order.subject,
            &order.channel,
            digest,
            int(order.created_ms),
            int(order.expire_at_ms),
            order.next_query_ms.map(int),
            &order.return_url,
        ],
    )?;
    record_event(
        c,
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
    c: &dyn Sql,
    order_id: u64,
    refund_id: Option<u64>,
    from: Option<&str>,
    to: &str,
    cause: &str,
    at_ms: u64,
) -> Result<u64, GatewayError> {
    c.insert_numbered(
        "INSERT INTO gateway_events (order_id, refund_id, from_state, to_state, cause, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            int(order_id),
            refund_id.map(int),
            from,
            to,
            cause,
            int(at_ms)
        ],
        "seq",
    )
    .map_err(GatewayError::from)
    .and_then(numbered)
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
    c: &dyn Sql,
    order_id: u64,
    to: OrderState,
    cause: &str,
    change: &Change,
    now_ms: u64,
) -> Result<Option<Order>, GatewayError> {
    let Some(order) = order_by_id(c, order_id)? else {
        return Err(GatewayError::OrderNotFound(order_id));
    };
    if !order.state.can_move_to(to) {
        return Ok(None);
    }
    c.execute(
        "UPDATE gateway_orders SET state = ?2,
            channel_trade_no = COALESCE(?3, channel_trade_no),
            pay_url = COALESCE(?4, pay_url),
            flagged_for_refund = (flagged_for_refund OR ?5),
            next_query_ms = CASE WHEN ?6 THEN ?7 ELSE next_query_ms END
         WHERE id = ?1",
        args![
            int(order_id),
            to.as_str(),
            &change.channel_trade_no,
            &change.pay_url,
            change.flag_for_refund,
            change.next_query_ms.is_some(),
            change.next_query_ms.flatten().map(int),
        ],
    )?;
    let seq = record_event(
        c,
        order_id,
        None,
        Some(order.state.as_str()),
        to.as_str(),
        cause,
        now_ms,
    )?;
    if let Some(body) = &change.notify {
        insert_notification(c, order_id, &order.merchant, seq, body, now_ms)?;
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
    c: &dyn Sql,
    order_id: u64,
    merchant: &str,
    event_seq: u64,
    body: &str,
    now_ms: u64,
) -> Result<u64, GatewayError> {
    c.insert_numbered(
        "INSERT INTO gateway_outbox (order_id, merchant, event_seq, body, state, next_at_ms) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
        args![int(order_id), merchant, int(event_seq), body, int(now_ms)],
        "id",
    )
    .map_err(GatewayError::from)
    .and_then(numbered)
}

/// Schedules the next query of an open order.
pub fn set_next_query(
    c: &dyn Sql,
    order_id: u64,
    queries: u32,
    next_query_ms: Option<u64>,
) -> Result<(), GatewayError> {
    c.execute(
        "UPDATE gateway_orders SET queries = ?2, next_query_ms = ?3 WHERE id = ?1",
        args![int(order_id), queries, next_query_ms.map(int)],
    )?;
    Ok(())
}

/// Orders in a state created in [from_ms, to_ms), newest first: the console's search (an
/// index on state and time, never a scan).
pub fn orders_by_state(
    c: &dyn Sql,
    state: &str,
    from_ms: u64,
    to_ms: u64,
    limit: u32,
) -> Result<Vec<Order>, GatewayError> {
    rows(
        c.query(
            &format!(
                "SELECT {ORDER_COLUMNS} FROM gateway_orders WHERE state = ?1 AND created_ms >= ?2 AND created_ms < ?3
                 ORDER BY created_ms DESC LIMIT ?4"
            ),
            args![state, int(from_ms), int(to_ms), limit],
        )?,
        order_row,
    )
}

/// Open orders whose query or expiry is due: `next_query_ms` is never later than the
/// expiry, so one range of the `orders_open` index finds both.
pub fn due_orders(c: &dyn Sql, now_ms: u64, limit: u32) -> Result<Vec<Order>, GatewayError> {
    rows(
        c.query(
            &format!(
                "SELECT {ORDER_COLUMNS} FROM gateway_orders WHERE state IN ('created', 'paying')
                   AND next_query_ms <= ?1 ORDER BY next_query_ms LIMIT ?2"
            ),
            args![int(now_ms), limit],
        )?,
        order_row,
    )
}

pub fn events(c: &dyn Sql, order_id: u64) -> Result<Vec<Event>, GatewayError> {
    rows(
        c.query(
            "SELECT seq, order_id, refund_id, from_state, to_state, cause, at_ms FROM gateway_events WHERE order_id = ?1 ORDER BY seq",
            args![int(order_id)],
        )?,
        |r| {
            Ok(Event {
                seq: r.u64(0)?,
                order_id: r.u64(1)?,
                refund_id: r.opt_u64(2)?,
                from_state: r.opt_str(3)?,
                to_state: r.str(4)?,
                cause: r.str(5)?,
                at_ms: r.u64(6)?,
            })
        },
    )
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
    c: &dyn Sql,
    channel: &str,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<ReconRecord>, GatewayError> {
    let (from, to) = (int(from_ms), int(to_ms));
    let mut out = rows(
        c.query(
            "SELECT e.refund_id, o.id, COALESCE(r.amount, o.amount), o.refunded, e.at_ms
               FROM gateway_events e JOIN gateway_orders o ON o.id = e.order_id
               LEFT JOIN gateway_refunds r ON r.id = e.refund_id
              WHERE e.to_state = 'succeeded' AND e.at_ms >= ?2 AND e.at_ms < ?3 AND o.channel = ?1",
            args![channel, from, to],
        )?,
        |r| {
            let refund_id = r.opt_u64(0)?;
            let order_id = r.u64(1)?;
            Ok(ReconRecord {
                id: refund_id.unwrap_or(order_id),
                refund: refund_id.is_some(),
                order_id,
                amount_minor: r.u64(2)?,
                done: true,
                refunded: refund_id.is_none() && r.u64(3)? > 0,
                at_ms: r.u64(4)?,
            })
        },
    )?;
    out.extend(rows(
        c.query(
            "SELECT id, amount, created_ms FROM gateway_orders
              WHERE state IN ('created', 'paying', 'failed', 'closed')
                AND created_ms >= ?2 AND created_ms < ?3 AND channel = ?1",
            args![channel, from, to],
        )?,
        |r| {
            let id = r.u64(0)?;
            Ok(ReconRecord {
                id,
                refund: false,
                order_id: id,
                amount_minor: r.u64(1)?,
                done: false,
                refunded: false,
                at_ms: r.u64(2)?,
            })
        },
    )?);
    Ok(out)
}

/// The gauges `/metrics` shows: open orders (the partial index of open ones) and the outbox's
/// pending notifications with the age of the oldest (the partial index of pending ones).
pub fn gauges(c: &dyn Sql, now_ms: u64) -> Result<crate::metrics::Gauges, GatewayError> {
    // SQLite would otherwise count through the table; PostgreSQL's planner finds the partial
    // index itself.
    let open = match c.dialect() {
        Dialect::Sqlite => "SELECT COUNT(*) FROM gateway_orders INDEXED BY orders_open WHERE state IN ('created', 'paying')",
        Dialect::Postgres => "SELECT COUNT(*) FROM gateway_orders WHERE state IN ('created', 'paying')",
    };
    let orders_open = c.query_one(open, args![])?.u64(0)?;
    let row = c.query_one(
        "SELECT COUNT(*), MIN(e.at_ms) FROM gateway_outbox o JOIN gateway_events e ON e.seq = o.event_seq
          WHERE o.state = 'pending'",
        args![],
    )?;
    Ok(crate::metrics::Gauges {
        orders_open,
        outbox_pending: row.u64(0)?,
        outbox_oldest_ms: row.opt_u64(1)?.map_or(0, |at| now_ms.saturating_sub(at)),
    })
}

// ---- refunds -------------------------------------------------------------------------------

/// Inserts refund `refund_no` of an order, checked against what is left of what was paid
/// (refunds not failed count). A repeat with the same amount returns the first.
pub fn insert_refund(
    c: &dyn Sql,
    order_id: u64,
    refund_no: &str,
    amount_minor: u64,
    now_ms: u64,
    first_retry_ms: u64,
) -> Result<(Refund, bool), GatewayError> {
    let order = order_by_id(c, order_id)?.ok_or(GatewayError::OrderNotFound(order_id))?;
    let existing = c
        .query_row(
            &format!(
                "SELECT {REFUND_COLUMNS} FROM gateway_refunds WHERE order_id = ?1 AND refund_no = ?2"
            ),
            args![int(order_id), refund_no],
        )?
        .map(|r| refund_row(&r))
        .transpose()?;
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
    let committed = c
        .query_one(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM gateway_refunds WHERE order_id = ?1 AND state != 'failed'",
            args![int(order_id)],
        )?
        .u64(0)?;
    let left = order.amount_minor.saturating_sub(committed);
    if amount_minor > left {
        return Err(GatewayError::RefundExceedsPaid {
            asked: amount_minor,
            left,
        });
    }
    let id = c
        .insert_numbered(
            "INSERT INTO gateway_refunds (order_id, refund_no, amount, state, created_ms, next_at_ms) VALUES (?1, ?2, ?3, 'processing', ?4, ?5)",
            args![int(order_id), refund_no, int(amount_minor), int(now_ms), int(first_retry_ms)],
            "id",
        )
        .map_err(GatewayError::from)
        .and_then(numbered)?;
    record_event(
        c,
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

pub fn refund_by_id(c: &dyn Sql, id: u64) -> Result<Option<Refund>, GatewayError> {
    c.query_row(
        &format!("SELECT {REFUND_COLUMNS} FROM gateway_refunds WHERE id = ?1"),
        args![int(id)],
    )?
    .map(|r| refund_row(&r))
    .transpose()
}

/// Refunds still processing whose next ask is due (a partial index holds only those
/// processing: few).
pub fn processing_refunds(
    c: &dyn Sql,
    now_ms: u64,
    limit: u32,
) -> Result<Vec<Refund>, GatewayError> {
    rows(
        c.query(
            &format!(
                "SELECT {REFUND_COLUMNS} FROM gateway_refunds WHERE state = 'processing' AND next_at_ms <= ?1
                 ORDER BY id LIMIT ?2"
            ),
            args![int(now_ms), limit],
        )?,
        refund_row,
    )
}

/// A refund the channel has not finished: asked again at `next_at_ms`.
pub fn set_refund_retry(
    c: &dyn Sql,
    id: u64,
    attempts: u32,
    next_at_ms: u64,
) -> Result<(), GatewayError> {
    c.execute(
        "UPDATE gateway_refunds SET attempts = ?2, next_at_ms = ?3 WHERE id = ?1 AND state = 'processing'",
        args![int(id), attempts, int(next_at_ms)],
    )?;
    Ok(())
}

/// Moves a refund to its final state, with its event and notification; a succeeded refund
/// adds to the order's refunded total.
pub fn finish_refund(
    c: &dyn Sql,
    refund_id: u64,
    to: RefundState,
    notify: &str,
    now_ms: u64,
) -> Result<Option<Refund>, GatewayError> {
    let refund = refund_by_id(c, refund_id)?
        .ok_or_else(|| GatewayError::Store(format!("no refund {refund_id}")))?;
    if !refund.state.can_move_to(to) {
        return Ok(None);
    }
    c.execute(
        "UPDATE gateway_refunds SET state = ?2 WHERE id = ?1",
        args![int(refund_id), to.as_str()],
    )?;
    if to == RefundState::Succeeded {
        c.execute(
            "UPDATE gateway_orders SET refunded = refunded + ?2 WHERE id = ?1",
            args![int(refund.order_id), int(refund.amount_minor)],
        )?;
    }
    let seq = record_event(
        c,
        refund.order_id,
        Some(refund_id),
        Some(refund.state.as_str()),
        to.as_str(),
        "channel",
        now_ms,
    )?;
    let merchant = c
        .query_one(
            "SELECT merchant FROM gateway_orders WHERE id = ?1",
            args![int(refund.order_id)],
        )?
        .str(0)?;
    insert_notification(c, refund.order_id, &merchant, seq, notify, now_ms)?;
    refund_by_id(c, refund_id)
}

// ---- merchants and the outbox --------------------------------------------------------------

pub fn upsert_merchant(c: &dyn Sql, m: &Merchant) -> Result<(), GatewayError> {
    c.execute(
        "INSERT INTO gateway_merchants (participant, owner, notify_url, notify_secret) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (participant) DO UPDATE SET owner = excluded.owner,
             notify_url = excluded.notify_url, notify_secret = excluded.notify_secret",
        args![&m.participant, int(m.owner), &m.notify_url, &m.notify_secret],
    )?;
    Ok(())
}

pub fn merchant(c: &dyn Sql, participant: &str) -> Result<Option<Merchant>, GatewayError> {
    c.query_row(
        "SELECT participant, owner, notify_url, notify_secret FROM gateway_merchants WHERE participant = ?1",
        args![participant],
    )?
    .map(|r| {
        Ok(Merchant {
            participant: r.str(0)?,
            owner: r.u64(1)?,
            notify_url: r.str(2)?,
            notify_secret: r.str(3)?,
        })
    })
    .transpose()
}

fn notification_row(r: &Row) -> Result<Notification, GatewayError> {
    Ok(Notification {
        id: r.u64(0)?,
        order_id: r.u64(1)?,
        body: r.str(2)?,
        state: r.str(3)?,
        round: u32::try_from(r.u64(4)?).unwrap_or(u32::MAX),
        next_at_ms: r.u64(5)?,
        merchant: r.str(6)?,
    })
}

pub fn due_notifications(
    c: &dyn Sql,
    now_ms: u64,
    limit: u32,
) -> Result<Vec<Notification>, GatewayError> {
    rows(
        c.query(
            "SELECT id, order_id, body, state, round, next_at_ms, merchant FROM gateway_outbox
             WHERE state = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2",
            args![int(now_ms), limit],
        )?,
        notification_row,
    )
}

pub fn notifications(c: &dyn Sql, order_id: u64) -> Result<Vec<Notification>, GatewayError> {
    rows(
        c.query(
            "SELECT id, order_id, body, state, round, next_at_ms, merchant FROM gateway_outbox WHERE order_id = ?1 ORDER BY id",
            args![int(order_id)],
        )?,
        notification_row,
    )
}

pub fn attempts(c: &dyn Sql, outbox_id: u64) -> Result<Vec<Attempt>, GatewayError> {
    rows(
        c.query(
            "SELECT outbox_id, at_ms, status, outcome FROM gateway_notify_attempts WHERE outbox_id = ?1 ORDER BY id",
            args![int(outbox_id)],
        )?,
        |r| {
            Ok(Attempt {
                outbox_id: r.u64(0)?,
                at_ms: r.u64(1)?,
                status: u16::try_from(r.u64(2)?).unwrap_or(0),
                outcome: r.str(3)?,
            })
        },
    )
}

/// Records one delivery attempt and what follows: delivered, retried at `next_at_ms`, or
/// given up (`None`).
pub fn record_attempt(
    c: &dyn Sql,
    outbox_id: u64,
    attempt: &Attempt,
    delivered: bool,
    next_at_ms: Option<u64>,
) -> Result<(), GatewayError> {
    c.execute(
        "INSERT INTO gateway_notify_attempts (outbox_id, at_ms, status, outcome) VALUES (?1, ?2, ?3, ?4)",
        args![
            int(outbox_id),
            int(attempt.at_ms),
            attempt.status,
            &attempt.outcome
        ],
    )?;
    let (state, next) = match (delivered, next_at_ms) {
        (true, _) => ("delivered", attempt.at_ms),
        (false, Some(next)) => ("pending", next),
        (false, None) => ("given_up", attempt.at_ms),
    };
    c.execute(
        "UPDATE gateway_outbox SET state = ?2, round = round + 1, next_at_ms = ?3 WHERE id = ?1 AND state = 'pending'",
        args![int(outbox_id), state, int(next)],
    )?;
    Ok(())
}

/// An operator's re-send: the order's latest notification goes out again now, with a fresh
/// retry schedule. Returns its id, or `None` when the order owes none.
pub fn resend_latest(c: &dyn Sql, order_id: u64, now_ms: u64) -> Result<Option<u64>, GatewayError> {
    let latest = c
        .query_one(
            "SELECT MAX(id) FROM gateway_outbox WHERE order_id = ?1",
            args![int(order_id)],
        )?
        .opt_u64(0)?;
    let Some(id) = latest else {
        return Ok(None);
    };
    c.execute(
        "UPDATE gateway_outbox SET state = 'pending', round = 0, next_at_ms = ?2 WHERE id = ?1",
        args![int(id), int(now_ms)],
    )?;
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables as version 3 made them: today's, before they were named `gateway_*`.
    fn version_3_ddl() -> String {
        SQLITE_DDL
            .replace("gateway_meta", "meta")
            .replace("gateway_", "")
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("suanpan-gateway-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_version_3_file_keeps_its_orders_outbox_and_page_key() {
        let dir = temp_dir("v3");
        {
            let conn = suanpan_store::rusqlite::Connection::open(dir.join(DB_FILE)).expect("opens");
            conn.execute_batch(&version_3_ddl())
                .expect("the old tables");
            conn.execute_batch(
                "INSERT INTO meta (key, value) VALUES ('schema_version', '3'), ('page_key', 'abc');
                 INSERT INTO merchants VALUES ('shop-1', 7, 'https://shop.example/n', 'ns_x');
                 INSERT INTO orders (id, merchant, owner, merchant_order_no, amount, currency, subject, channel, body_digest, state, created_ms, expire_at_ms, next_query_ms)
                     VALUES (1, 'shop-1', 7, 'm1', 500, 'CNY', 's', 'alipay', 'd', 'succeeded', 10, 20, NULL);
                 INSERT INTO events (order_id, to_state, cause, at_ms) VALUES (1, 'created', 'merchant', 10);
                 INSERT INTO outbox (order_id, merchant, event_seq, body, state, next_at_ms) VALUES (1, 'shop-1', 1, '{}', 'pending', 30);",
            )
            .expect("old rows");
        }
        let store = open(&Home::sqlite(&dir)).expect("migrates");
        let order = store
            .read(|c| order_by_id(c, 1))
            .expect("reads")
            .expect("kept");
        assert_eq!(
            (order.amount_minor, order.state),
            (500, OrderState::Succeeded)
        );
        assert_eq!(store.read(page_key).expect("key"), b"abc".to_vec());
        let due = store
            .read(|c| due_notifications(c, 100, 10))
            .expect("reads");
        assert_eq!(due.len(), 1);
        let merchant = store.read(|c| merchant(c, "shop-1")).expect("reads");
        assert_eq!(merchant.map(|m| m.owner), Some(7));
        // New rows go on from the old ones.
        let seq = store
            .write_blocking(|c| record_event(c, 1, None, None, "succeeded", "query", 40))
            .expect("writes");
        assert_eq!(seq, 2);
        drop(store);
        // And a second open finds it at the new version.
        let again = open(&Home::sqlite(&dir)).expect("reopens");
        assert_eq!(again.read(|c| events(c, 1)).expect("reads").len(), 2);
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
